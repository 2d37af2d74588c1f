"""Train/validation split of ../shared/data, by identity, never by frame."""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from pathlib import Path

VALIDATION_BUCKETS = 10
"""One identity in this many (by hash) is held out for validation."""

KEEP_IN_TRAINING = frozenset({"mead_M030", "mead_W009", "mead_W011"})
"""The only people with all eight acted emotions: emotion editing learns from them."""


@dataclass(frozen=True)
class Clip:
    """One row of train.tsv."""

    path: Path
    identity: str
    frames: int
    notes: str


def is_validation(identity: str) -> bool:
    """Whether an identity belongs to the held-out validation split (about 10%)."""
    if identity in KEEP_IN_TRAINING:
        return False
    digest = hashlib.sha1(identity.encode()).digest()
    return digest[0] % VALIDATION_BUCKETS == 0


def read_clips(data_dir: Path) -> list[Clip]:
    """All clips listed in ``data_dir/train.tsv``, in file order."""
    with open(data_dir / "train.tsv", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    return [
        Clip(data_dir / "train" / r["file"], r["identity"], int(r["frames"]), r["notes"] or "")
        for r in rows
    ]


def split_clips(data_dir: Path) -> tuple[list[Clip], list[Clip]]:
    """(training clips, validation clips)."""
    clips = read_clips(data_dir)
    train = [c for c in clips if not is_validation(c.identity)]
    val = [c for c in clips if is_validation(c.identity)]
    return train, val
