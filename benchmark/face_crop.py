"""Square face crops from videos of any size: the seam to the sender's cropping.

The sender's own crop (sender/crop.py, in progress) replaces ``FixedFaceCrop`` here once it
lands, so the benchmark crops faces exactly as a call does. Until then this reproduces how the
training clips were made (../shared/data/README.md): dlib's frontal face detector on every 5th
frame, one square crop centred on the median face box, moved up by 8% of the box width, with
side 2.1x the box width, edge-replicated outside the frame. Frames whose face already fills
them (such as the training clips) are only resized.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np

from .metrics.landmarks import Landmarks68

CROP_PX = 256
"""Side of the benchmark's frames, the receiver's output size."""
DETECT_EVERY = 5
CROP_SIDE_PER_BOX = 2.1
CROP_SHIFT_UP_PER_BOX = 0.08
ALREADY_CROPPED_SHARE = 0.8
"""A frame is taken as a face crop already when the crop the recipe wants is at least this
share of the frame's shorter side."""


class ClipCropper(Protocol):
    def __call__(self, frames: np.ndarray) -> np.ndarray:
        """(N, H, W, 3) uint8 frames -> (N, CROP_PX, CROP_PX, 3) uint8 face crops."""
        ...


@dataclass(frozen=True)
class CropWindow:
    """A square window in source pixels."""

    cx: float
    cy: float
    side: float


def crop_window(boxes: list[tuple[int, int, int, int]]) -> CropWindow:
    """The recipe's window from face boxes (left, top, right, bottom) of one clip."""
    b = np.median(np.asarray(boxes, np.float64), axis=0)
    width = b[2] - b[0]
    cx, cy = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2 - CROP_SHIFT_UP_PER_BOX * width
    return CropWindow(cx, cy, CROP_SIDE_PER_BOX * width)


def apply_window(frame: np.ndarray, window: CropWindow, size: int = CROP_PX) -> np.ndarray:
    """(H, W, 3) -> (size, size, 3): the window cut out (edges replicated) and area-resized."""
    h, w = frame.shape[:2]
    side = max(1, round(window.side))
    x0, y0 = round(window.cx - side / 2), round(window.cy - side / 2)
    x1, y1 = x0 + side, y0 + side
    inside = frame[max(y0, 0) : min(y1, h), max(x0, 0) : min(x1, w)]
    square = cv2.copyMakeBorder(
        inside, max(-y0, 0), max(y1 - h, 0), max(-x0, 0), max(x1 - w, 0), cv2.BORDER_REPLICATE
    )
    if side == size:
        return square
    interpolation = cv2.INTER_AREA if side > size else cv2.INTER_CUBIC
    return cv2.resize(square, (size, size), interpolation=interpolation)


class FixedFaceCrop:
    """One fixed crop per clip, by the training clips' recipe (see the module docstring)."""

    def __init__(self, size: int = CROP_PX) -> None:
        self.size = size
        self._landmarks: Landmarks68 | None = None

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        if self._landmarks is None:
            self._landmarks = Landmarks68()
        boxes = [self._landmarks.detect(f) for f in frames[::DETECT_EVERY]]
        found = [(b.left, b.top, b.right, b.bottom) for b in boxes if b is not None]
        h, w = frames.shape[1:3]
        if found:
            window = crop_window(found)
        if not found or window.side >= ALREADY_CROPPED_SHARE * min(h, w):
            window = CropWindow(w / 2, h / 2, min(h, w))
        if window.side == self.size and frames.shape[1:3] == (self.size, self.size):
            return frames
        return np.stack([apply_window(f, window, self.size) for f in frames])
