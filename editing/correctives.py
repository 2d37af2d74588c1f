"""The part of an expression code that is head pose: the landmarker's mesh of one face changes
with the head's rotation (``FaceModel.pose_basis``), and the face model, which has no pose term,
absorbs that change into the expression code (docs/face_model.md). A pose edit moves that part to
the new pose, except for the mouth opening, which stays the driver's speech; the emotion
directions are learned without it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facecodec.editing.mouth import keep_opening
from facecodec.sender.face_model import FaceModel, pose_features


@dataclass(frozen=True)
class PoseCorrectives:
    """Least-squares map from the pose features to the expression code they produce."""

    matrix: np.ndarray
    """(50, 9): expression code = ``matrix @ pose_features(rotation)``."""
    keep_opening: np.ndarray
    """(50, 50) ``mouth.keep_opening`` of the model: what a pose change may not alter."""

    @classmethod
    def from_model(cls, model: FaceModel) -> PoseCorrectives:
        basis = model.expression_basis.reshape(model.expression_dims, -1).T.astype(np.float64)
        pose = model.pose_basis.reshape(len(model.pose_basis), -1).T.astype(np.float64)
        matrix, *_ = np.linalg.lstsq(basis, pose, rcond=None)
        keep = keep_opening(model, model.expression_dims)
        return cls(matrix.astype(np.float32), keep.astype(np.float32))

    def code(self, rotation: np.ndarray) -> np.ndarray:
        """(..., 3) pitch, yaw, roll -> (..., 50) expression code the pose alone accounts for."""
        return (pose_features(rotation) @ self.matrix.T.astype(np.float64)).astype(np.float32)

    def change(self, old: np.ndarray, new: np.ndarray) -> np.ndarray:
        """(50,) code change that takes the pose part from rotation ``old`` (3,) to ``new`` (3,)
        and leaves the mouth opening alone (the pose part of the lip gaps and the jaw, 1-2 px
        for 10 degrees of pitch, is not told apart from speech reliably enough to move it)."""
        codes = self.code(np.stack([old, new]))
        return self.keep_opening @ (codes[1] - codes[0])
