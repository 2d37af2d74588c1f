"""Loading DECA's published checkpoint (``deca_model.tar``): only the coarse encoder.

The file is a ``torch.save`` dict with the state dicts ``E_flame`` (read here), ``E_detail`` and
``D_detail`` (ignored: facecodec needs no displacement detail). It is read with torch's
weights-only unpickler, so a crafted file cannot run code.
"""

from __future__ import annotations

from pathlib import Path

import torch

from facecodec.sender.deca.deca_encoder import DecaEncoder

ENCODER_KEY = "E_flame"
OPTIONAL_SUFFIX = "num_batches_tracked"
"""Batch-norm counters: absent from checkpoints of old torch versions, unused in eval."""
MAX_LISTED = 6
"""Keys named in an error message before the rest are counted."""


def load_deca_encoder(path: str | Path) -> DecaEncoder:
    """The E_flame encoder of a DECA checkpoint, in eval mode.

    Raises FileNotFoundError for a missing file and ValueError naming the missing, unexpected
    or mis-shaped keys (with the shapes expected) for a file of another layout.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"DECA checkpoint not found: {path}")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for foreign files
        raise ValueError(f"{path}: not a readable torch checkpoint ({exc})") from None
    if not isinstance(checkpoint, dict) or ENCODER_KEY not in checkpoint:
        found = sorted(map(str, checkpoint)) if isinstance(checkpoint, dict) else []
        raise ValueError(
            f"{path}: no {ENCODER_KEY!r} state dict; a DECA checkpoint holds "
            f"'E_flame', 'E_detail', 'D_detail' (found: {', '.join(found) or 'no dict'})"
        )
    with torch.device("meta"):
        encoder = DecaEncoder()  # shapes only: every tensor comes from the file
    encoder.load_state_dict(_matching_state(path, checkpoint[ENCODER_KEY], encoder), assign=True)
    return encoder.eval()


def _matching_state(
    path: Path, state: dict[str, torch.Tensor], encoder: DecaEncoder
) -> dict[str, torch.Tensor]:
    """``state`` checked key by key and shape by shape against ``encoder``'s own, with the
    optional counters it lacks added."""
    if not isinstance(state, dict):
        raise ValueError(f"{path}: {ENCODER_KEY!r} is a {type(state).__name__}, not a state dict")
    expected = encoder.state_dict()
    missing = [k for k in expected if k not in state and not k.endswith(OPTIONAL_SUFFIX)]
    unexpected = [k for k in state if k not in expected]
    wrong = [
        f"{k} {_shape(state[k])} (expected {tuple(v.shape)})"
        for k, v in expected.items()
        if k in state and _shape(state[k]) != tuple(v.shape)
    ]
    problems = [
        f"{label}: {_listing(keys)}"
        for label, keys in (
            ("missing", [f"{k} {tuple(expected[k].shape)}" for k in missing]),
            ("unexpected", unexpected),
            ("wrong shape", wrong),
        )
        if keys
    ]
    if problems:
        raise ValueError(f"{path}: {ENCODER_KEY!r} is not DECA's encoder; " + "; ".join(problems))
    counters = {
        k: torch.zeros((), dtype=torch.long) for k in expected if k.endswith(OPTIONAL_SUFFIX)
    }
    return counters | state


def _shape(value: object) -> tuple[int, ...] | str:
    return tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__


def _listing(items: list[str]) -> str:
    shown = ", ".join(items[:MAX_LISTED])
    return shown if len(items) <= MAX_LISTED else f"{shown} and {len(items) - MAX_LISTED} more"
