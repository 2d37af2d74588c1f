"""dlib's 68 facial landmarks (iBUG 300-W layout) for AKD and AKD-M, independent of the
sender's MediaPipe prior.

Each frame is detected on its own (HOG frontal face detector, largest face). When an output
frame has no detectable face, the reference frame's box is used instead, so a broken output
still gets (large) landmark errors rather than dropping out of the average; such frames are
counted as ``missed``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .dlib_models import LANDMARKS_68_FILE, import_dlib, model_path

NUM_LANDMARKS = 68
MOUTH = np.arange(48, 68)
"""The 20 mouth landmarks of the 68-point layout (outer lip 48-59, inner lip 60-67): AKD-M."""
DETECTOR_UPSAMPLE = 0
"""The HOG detector finds faces from 80 px up; benchmark crops hold faces of ~120 px."""


@dataclass(frozen=True)
class FaceBox:
    left: int
    top: int
    right: int
    bottom: int


@dataclass(frozen=True)
class Face68:
    """One frame's face: its box and 68 landmarks."""

    box: FaceBox
    points: np.ndarray
    """(68, 2) float32 x, y in pixels of the frame."""
    detected: bool
    """False when the box was borrowed from a reference frame."""


class Landmarks68:
    """RGB uint8 (H, W, 3) frames -> Face68 with dlib's detector and 68-point predictor."""

    def __init__(self) -> None:
        dlib = import_dlib()
        self._dlib = dlib
        self._detector = dlib.get_frontal_face_detector()
        self._predictor = dlib.shape_predictor(str(model_path(LANDMARKS_68_FILE)))

    def detect(self, frame: np.ndarray) -> FaceBox | None:
        """The largest face's box, or None."""
        rects = self._detector(np.ascontiguousarray(frame), DETECTOR_UPSAMPLE)
        if len(rects) == 0:
            return None
        r = max(rects, key=lambda r: r.width() * r.height())
        return FaceBox(r.left(), r.top(), r.right(), r.bottom())

    def landmarks(self, frame: np.ndarray, box: FaceBox) -> np.ndarray:
        """(68, 2) float32 landmarks of the face in ``box``."""
        rect = self._dlib.rectangle(box.left, box.top, box.right, box.bottom)
        shape = self._predictor(np.ascontiguousarray(frame), rect)
        return np.array([(p.x, p.y) for p in shape.parts()], np.float32)

    def __call__(self, frame: np.ndarray, fallback: FaceBox | None = None) -> Face68 | None:
        """The frame's face; with no face detected, the face in ``fallback`` if given."""
        box = self.detect(frame)
        if box is None and fallback is None:
            return None
        detected = box is not None
        box = box if detected else fallback
        return Face68(box, self.landmarks(frame, box), detected)


def keypoint_distance(reference: np.ndarray, output: np.ndarray) -> tuple[float, float]:
    """(AKD, AKD-M) of one frame: mean Euclidean distance over all 68 and over the 20 mouth
    landmarks, in pixels; inputs (68, 2)."""
    d = np.linalg.norm(np.asarray(reference) - np.asarray(output), axis=1)
    return float(d.mean()), float(d[MOUTH].mean())
