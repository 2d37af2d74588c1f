"""Train the entropy coder's initial probabilities: writes codec/tables/contexts.npz.

    python -m facecodec.codec.train_tables [--params .cache/prior_params.npz] [--jobs 2]

Encodes training-identity clips (training/splits.py; validation identities never reach the
tables) at every quantisation level, with every prediction distance class (intra, and frame
intervals 1, 2, 3, 5, 8, 15) and both keypoint modes, at the widest layout (50 expression dims,
32 keypoints: a field's contexts do not depend on how many fields follow it). It counts the
coded bits of every context and turns the counts into probabilities, backing off to the level's
pooled counts where a context was rarely seen. Needs the quantisation table of the same data
(codec/fit_quant.py) in place first.
"""

from __future__ import annotations

import argparse
import hashlib
from collections.abc import Sequence
from multiprocessing import Pool
from pathlib import Path

import numpy as np

from facecodec.sender.face_model import FaceModel
from facecodec.types import OperatingPoint

from .entropy import (
    ADAPT_SHIFT,
    NUM_FRAME_CONTEXTS,
    NUM_GAP_CLASSES,
    NUM_HEADER_CONTEXTS,
    ContextTables,
    encode_signed,
    probabilities_from_counts,
    uniform_tables,
)
from .frames import DEFAULT_HYSTERESIS, FrameEncoder
from .model_keypoints import IdentityKeypoints
from .prior_data import DEFAULT_PARAMS, ClipParams, load_clips
from .quantize import num_quant_levels
from .rangecoder import ArithmeticEncoder

OUT = Path(__file__).resolve().parent / "tables" / "contexts.npz"
INTERVALS = (1, 2, 3, 5, 8, 15)
"""One frame interval per inter prediction-distance class 1..6."""
FRAMES_PER_CLIP = 15
"""Sent frames taken from each clip per run (a random segment)."""
BUNDLE_SIZES = (1, 2, 3, 4, 5)
BACKOFF_WEIGHT = 4.0
"""Pseudo-counts a context borrows from its level's pooled statistics."""


class _TaggedProbs(list):
    """A context set that knows which (level, class) it belongs to."""

    key: tuple[int, int] | None = None


class _TaggingTables(ContextTables):
    def frame_probs(self, quant_level: int, gap_cls: int) -> list[int]:
        probs = _TaggedProbs(super().frame_probs(quant_level, gap_cls))
        probs.key = (quant_level, gap_cls)
        return probs


class _CountingEncoder(ArithmeticEncoder):
    """A range coder that also counts each context's bits."""

    def __init__(self, probs: list[int], header: np.ndarray, frames: np.ndarray) -> None:
        super().__init__(probs, ADAPT_SHIFT)
        self.header_counts = header
        self.frame_counts = frames

    def encode(self, ctx: int, bit: int) -> None:
        key = getattr(self.probs, "key", None)
        if key is None:
            self.header_counts[int(bit), ctx] += 1
        else:
            self.frame_counts[key[1], int(bit), ctx] += 1
        super().encode(ctx, bit)

    def encode_signed_values(self, bases: Sequence[int], values: Sequence[int]) -> None:
        # the single-value path codes the same decisions through ``encode``, which counts them
        for base, value in zip(bases, values, strict=True):
            encode_signed(self, base, value)


def count_level(
    level: int, clips: list[ClipParams], model: FaceModel, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """(header counts (2, H), frame counts (classes, 2, F)) of one quantisation level."""
    rng = np.random.default_rng(seed)
    header = np.zeros((2, NUM_HEADER_CONTEXTS), np.int64)
    frames = np.zeros((NUM_GAP_CLASSES, 2, NUM_FRAME_CONTEXTS), np.int64)
    base = uniform_tables(num_quant_levels())
    tables = _TaggingTables(base.header, base.frames)

    def coder(probs: list[int]) -> ArithmeticEncoder:
        return _CountingEncoder(probs, header, frames)

    for clip in clips:
        for use_model in (False, True):
            predictor = IdentityKeypoints(model, clip.identity) if use_model else None
            # intra: single frames from anywhere in the clip
            op = OperatingPoint(32, 50, level, 1)
            enc = FrameEncoder(op, predictor, DEFAULT_HYSTERESIS, tables=tables, coder=coder)
            for i in rng.choice(len(clip.frames), FRAMES_PER_CLIP):
                enc.encode([clip.frames[i]], None)
            for interval in INTERVALS:
                span = FRAMES_PER_CLIP * interval
                start = int(rng.integers(0, max(len(clip.frames) - span, 0) + 1))
                sent = clip.frames[start : start + span : interval]
                enc = FrameEncoder(
                    OperatingPoint(32, 50, level, interval),
                    predictor,
                    DEFAULT_HYSTERESIS,
                    tables=tables,
                    coder=coder,
                )
                enc.encode(sent[:1], None)
                pos, reference = 1, sent[0].seq
                while pos < len(sent):
                    size = int(rng.choice(BUNDLE_SIZES))
                    bundle = sent[pos : pos + size]
                    enc.encode(bundle, reference)
                    pos, reference = pos + size, bundle[-1].seq
    return header, frames


def _count_level_job(args: tuple[int, Path]) -> tuple[np.ndarray, np.ndarray]:
    level, params_path = args
    model = FaceModel.load()
    clips = [c for c in load_clips(model, params_path) if not c.validation]
    return count_level(level, clips, model, seed=level)


def _probabilities(counts: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """(2, n) counts -> (n,) probabilities, ``BACKOFF_WEIGHT`` pseudo-counts from ``prior``
    (probabilities of a 0 in [0, 1])."""
    zeros = counts[0] + BACKOFF_WEIGHT * prior
    ones = counts[1] + BACKOFF_WEIGHT * (1 - prior)
    return probabilities_from_counts(zeros, ones)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=Path, default=DEFAULT_PARAMS)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    levels = num_quant_levels()
    with Pool(args.jobs) as pool:
        results = pool.map(_count_level_job, [(level, args.params) for level in range(levels)])
    header_counts = sum(h for h, _ in results)
    coded = sum(c.sum() for _, c in results) + header_counts.sum()
    if not coded:
        raise SystemExit("no coded decisions were counted")
    header = _probabilities(header_counts, np.full(NUM_HEADER_CONTEXTS, 0.5))
    frames = np.zeros((levels, NUM_GAP_CLASSES, NUM_FRAME_CONTEXTS), np.uint16)
    for level, (_, counts) in enumerate(results):
        pooled = counts.sum(0)
        prior = (pooled[0] + 0.5) / (pooled.sum(0) + 1.0)
        for cls in range(NUM_GAP_CLASSES):
            frames[level, cls] = _probabilities(counts[cls], prior)
    np.savez_compressed(
        OUT,
        header=header,
        frames=frames,
        params_sha1=np.array(hashlib.sha1(args.params.read_bytes()).hexdigest()),
    )
    print(f"trained on {coded} coded decisions of training identities; wrote {OUT}")


if __name__ == "__main__":
    main()
