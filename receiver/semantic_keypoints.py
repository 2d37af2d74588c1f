"""Semantic 3D keypoints from the face model, on the GPU (paper section 3.2).

The keypoints of both the source and the driving frame are computed with the SOURCE identity,
so nothing of the driver's identity reaches the generator.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from facecodec.receiver.geometry import rotation_matrix


class SemanticKeypoints(nn.Module):
    """(identity, expression, pose) -> (B, K, 3) keypoints in normalised crop coordinates.

    Holds only the K rows of the face model that the keypoints sit on:
    kp = scale * (mean + identity @ A + expression @ B) @ R^T + translation.
    """

    def __init__(
        self, mean: np.ndarray, identity_basis: np.ndarray, expression_basis: np.ndarray
    ) -> None:
        """mean (K, 3); identity_basis (I, K, 3); expression_basis (E, K, 3)."""
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("identity_basis", torch.as_tensor(identity_basis).float().flatten(1))
        self.register_buffer(
            "expression_basis", torch.as_tensor(expression_basis).float().flatten(1)
        )

    @classmethod
    def from_face_model(cls, face_model: object, count: int) -> SemanticKeypoints:
        """The first ``count`` keypoints of a facecodec.sender.face_model.FaceModel."""
        rows = np.asarray(face_model.keypoint_indices[:count])
        return cls(
            face_model.mean[rows],
            face_model.identity_basis[:, rows],
            face_model.expression_basis[:, rows],
        )

    @property
    def count(self) -> int:
        return self.mean.shape[0]

    def canonical(self, identity: torch.Tensor, expression: torch.Tensor) -> torch.Tensor:
        """identity (B, I), expression (B, e <= E) -> (B, K, 3) pose-free keypoints."""
        e = expression.shape[1]
        offset = identity @ self.identity_basis + expression @ self.expression_basis[:e]
        return self.mean + offset.view(-1, self.count, 3)

    def forward(
        self,
        identity: torch.Tensor,
        expression: torch.Tensor,
        rotation: torch.Tensor,
        translation: torch.Tensor,
        scale: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """rotation (B, 3) angles, translation (B, 3), scale (B,) -> keypoints (B, K, 3) and
        rotation matrices (B, 3, 3)."""
        rot = rotation_matrix(rotation)
        kp = scale[:, None, None] * self.canonical(identity, expression) @ rot.transpose(1, 2)
        return kp + translation[:, None, :], rot
