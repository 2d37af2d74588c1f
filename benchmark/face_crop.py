"""Square face crops from videos of any size, cut the way the sender cuts them (sender/crop.py):
the sender's crop box at the clip's first face frame, held for the whole clip, so that every
method is scored on the frames a call would start from. Frames that already frame the face like
the training clips (such as the 256x256 clips of ../shared/data) pass unchanged."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from facecodec.sender.crop import CROP_SIZE_PX, CropBox, FaceCropper
from facecodec.sender.face_model import FaceModel
from facecodec.sender.face_tracker import FaceTracker


class ClipCropper(Protocol):
    def __call__(self, frames: np.ndarray) -> np.ndarray:
        """(N, H, W, 3) uint8 frames -> (N, CROP_SIZE_PX, CROP_SIZE_PX, 3) uint8 face crops."""
        ...


def centre_box(height: int, width: int) -> CropBox:
    """The largest centred square: where a clip without any face is cut."""
    side = min(height, width)
    return CropBox((width - side) // 2, (height - side) // 2, side)


class SenderFaceCrop:
    """The sender's first crop of a clip, applied to all of its frames."""

    def __init__(self, size: int = CROP_SIZE_PX) -> None:
        self.size = size
        self._model: FaceModel | None = None

    def first_box(self, frames: np.ndarray) -> CropBox:
        """The sender's crop box at the first frame with a face (centred square if none)."""
        self._model = self._model or FaceModel.load()
        tracker, cropper = FaceTracker(), FaceCropper(self._model)
        try:
            for frame in frames:
                landmarks = tracker(frame, None)
                if landmarks is not None:
                    return cropper.update(landmarks, frame.shape).view
        finally:
            tracker.close()
        return centre_box(*frames.shape[1:3])

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        box = self.first_box(frames)
        return np.stack([box.cut(frame, self.size) for frame in frames])
