"""The face model's semantic keypoints for one identity, fast enough to call per frame."""

from __future__ import annotations

import numpy as np

from facecodec.sender.face_model import K_MAX, FaceModel, rotation_matrix
from facecodec.types import FrameParams


class IdentityKeypoints:
    """``FaceModel.keypoints`` for one identity, with the identity part computed once."""

    def __init__(self, model: FaceModel, identity: np.ndarray) -> None:
        idx = model.keypoint_indices[:K_MAX]
        self.base = model.keypoint_shape(identity, None, K_MAX).astype(np.float64)
        self.basis = model.expression_basis[:, idx].astype(np.float64)  # (50, 32, 3)
        self._flat_basis = self.basis.reshape(self.basis.shape[0], -1)

    def __call__(self, params: FrameParams, count: int) -> np.ndarray:
        """(count, 3) keypoints of this identity with the frame's pose and expression."""
        e = params.expression.astype(np.float64)
        shape = self.base + (e @ self._flat_basis[: e.size]).reshape(-1, 3)
        R = rotation_matrix(params.rotation)
        return params.scale * shape[:count] @ R.T + params.translation

    def batch(self, values: np.ndarray) -> np.ndarray:
        """(T, 57) rotation, translation, scale, expression (50) -> (T, 32, 3) keypoints."""
        shape = self.base + np.einsum("te,ekc->tkc", values[:, 7:], self.basis)
        R = rotation_matrices(values[:, :3])
        return values[:, 6, None, None] * np.einsum("tkc,tdc->tkd", shape, R) + values[:, None, 3:6]


def rotation_matrices(angles: np.ndarray) -> np.ndarray:
    """(T, 3) pitch, yaw, roll -> (T, 3, 3) ``Rz(roll) @ Ry(yaw) @ Rx(pitch)``."""
    p, y, r = (angles[:, i] for i in range(3))
    cp, sp, cy, sy, cr, sr = np.cos(p), np.sin(p), np.cos(y), np.sin(y), np.cos(r), np.sin(r)
    return np.stack(
        [
            np.stack([cr * cy, cr * sy * sp - sr * cp, cr * sy * cp + sr * sp], -1),
            np.stack([sr * cy, sr * sy * sp + cr * cp, sr * sy * cp - cr * sp], -1),
            np.stack([-sy, cy * sp, cy * cp], -1),
        ],
        1,
    )
