"""Identity embeddings for AED: dlib's 128-d face recognition ResNet (LFW 99.38%).

Faces are aligned by their 68 landmarks into dlib's 150 px chips, as dlib's own recognition
example does; two embeddings of one person are typically closer than 0.6.
"""

from __future__ import annotations

import numpy as np

from .dlib_models import FACE_RECOGNITION_FILE, import_dlib, model_path
from .landmarks import Face68

EMBEDDING_DIMS = 128
CHIP_PX = 150
CHIP_PADDING = 0.25
"""dlib's recommended chip size and padding for this network."""


class IdentityEmbedder:
    """Frames with their Face68 -> (N, 128) float32 identity embeddings."""

    def __init__(self) -> None:
        self._dlib = import_dlib()
        self._net = self._dlib.face_recognition_model_v1(str(model_path(FACE_RECOGNITION_FILE)))

    def _chip(self, frame: np.ndarray, face: Face68) -> np.ndarray:
        dlib, b = self._dlib, face.box
        parts = [dlib.point(round(float(x)), round(float(y))) for x, y in face.points]
        shape = dlib.full_object_detection(dlib.rectangle(b.left, b.top, b.right, b.bottom), parts)
        return dlib.get_face_chip(np.ascontiguousarray(frame), shape, CHIP_PX, CHIP_PADDING)

    def __call__(self, frames: list[np.ndarray], faces: list[Face68]) -> np.ndarray:
        if not frames:
            return np.zeros((0, EMBEDDING_DIMS), np.float32)
        chips = [self._chip(f, face) for f, face in zip(frames, faces, strict=True)]
        return np.asarray(self._net.compute_face_descriptor(chips), np.float32)
