"""Inputs for the sender tests: real frames made at test time from clips of ../shared/data
(never committed), frames of validation-identity clips and those frames placed on larger
synthetic canvases (720p input, several faces); and a fixture for the DECA backend's speed."""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from shared_data import DATA_DIR

from facecodec.sender.capture import VideoFile

CANVAS_SHAPE = (720, 1280)


@lru_cache(maxsize=1)
def validation_clip_paths() -> tuple[Path, ...]:
    """Clips of the held-out identities (training/splits.py), in train.tsv order."""
    if not (DATA_DIR / "train.tsv").exists():
        pytest.skip(f"no training clips in {DATA_DIR}")
    from facecodec.training.splits import split_clips

    _, validation = split_clips(DATA_DIR)
    return tuple(clip.path for clip in validation)


@lru_cache(maxsize=8)
def clip_frames(path: Path, count: int) -> tuple[np.ndarray, ...]:
    """The first ``count`` frames of a clip, (256, 256, 3) RGB uint8 each."""
    with VideoFile(path) as source:
        return tuple(frame for _, frame in zip(range(count), source, strict=False))


def background(shape: tuple[int, int] = CANVAS_SHAPE) -> np.ndarray:
    """(H, W, 3) a smooth colour gradient: no face, some texture for the detector to reject."""
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float32)
    rgb = np.stack([40 + 0.1 * xx, 60 + 0.15 * yy, 120 - 0.05 * xx], axis=-1)
    return np.clip(rgb, 0, 255).astype(np.uint8)


def place(canvas: np.ndarray, frame: np.ndarray, side: int, x: int, y: int) -> np.ndarray:
    """``canvas`` with ``frame`` resized to ``side`` pixels pasted at (x, y), clipped to it."""
    out = canvas.copy()
    image = cv2.resize(frame, (side, side), interpolation=cv2.INTER_CUBIC)
    h, w = out.shape[:2]
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + side, w), min(y + side, h)
    out[y0:y1, x0:x1] = image[y0 - y : y1 - y, x0 - x : x1 - x]
    return out


@pytest.fixture
def flush_denormals() -> Iterator[None]:
    """Random synthetic DECA weights drive the activations into denormal floats, which CPUs
    compute several times slower; flushing them keeps the DECA tests short."""
    torch.set_flush_denormal(True)
    yield
    torch.set_flush_denormal(False)
