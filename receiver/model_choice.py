"""Which receiver network renders: the large (GPU) model or the small CPU one, by device and by
the ``--model`` flag of ``receive``, ``call`` and ``decode`` (docs/model.md).

Kept apart from ``Receiver`` and the call's arguments so that ``decode`` offers the flag without
importing what a call needs (aiortc, MediaPipe).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from facecodec.receiver.weights import PRIOR_WEIGHTS, SMALL_WEIGHTS, shipped_directory

if TYPE_CHECKING:
    import torch

MODELS = {"large": PRIOR_WEIGHTS, "small": SMALL_WEIGHTS}
"""``--model`` choices -> weights names: the GPU model and the small CPU one (docs/model.md)."""


def pick_model(model: str, device: torch.device, weights_dir: Path | None = None) -> str:
    """'large' or 'small' as asked; 'auto' is the large model on a GPU, and on a CPU the small
    one when its weights are there (the large one otherwise)."""
    if model != "auto":
        if model not in MODELS:
            raise ValueError(f"model must be auto, {' or '.join(MODELS)}; got {model!r}")
        return model
    directory = weights_dir or shipped_directory()
    if device.type == "cpu" and any(directory.glob(f"{SMALL_WEIGHTS}-*.safetensors")):
        return "small"
    return "large"


def add_model_arguments(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """``--device`` and ``--model``: where the receiver renders and with which network."""
    parser.add_argument(
        "--device",
        choices=("auto", "cpu", "cuda"),
        default="auto",
        help="where the receiver renders (auto: the GPU if there is one)",
    )
    parser.add_argument(
        "--model",
        choices=("auto", *MODELS),
        default="auto",
        help="the receiver's network: large (the GPU model), small (the CPU model); auto: "
        "large on a GPU, small on a CPU when its weights ship",
    )
