"""A frame's motion (head pose and expression code) and the one way editors replace it, so that
explicit keypoints a frame carries move with it (exact for the linear face model)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from facecodec.sender.face_model import FaceModel, rotation_matrix
from facecodec.types import FrameParams


@dataclass(frozen=True)
class HeadPose:
    """Head pose in the convention of facecodec/types.py."""

    rotation: np.ndarray
    """(3,) pitch, yaw, roll in radians."""
    translation: np.ndarray
    """(3,) canonical origin in normalised crop coordinates."""
    scale: float

    @classmethod
    def of(cls, params: FrameParams) -> HeadPose:
        return cls(params.rotation.copy(), params.translation.copy(), params.scale)


def replace_motion(
    model: FaceModel, params: FrameParams, pose: HeadPose, expression: np.ndarray
) -> FrameParams:
    """``params`` with a new pose and expression code (d,) d <= 50.

    Explicit keypoints, if the frame has them, are brought back to the canonical frame with the
    old pose, moved by the expression change (``expression`` minus the old code) and placed with
    the new pose, so that they stay what the face model would compute for the edited frame plus
    the detail the sender measured beyond it.
    """
    keypoints = params.keypoints
    if keypoints is not None and len(keypoints):
        k = len(keypoints)
        old = rotation_matrix(params.rotation)
        canonical = (keypoints - params.translation) @ old / params.scale
        change = expression - params.full_expression(len(expression))
        vertices = model.keypoint_indices[:k]
        canonical += np.tensordot(change, model.expression_basis[: len(change), vertices], 1)
        new = rotation_matrix(pose.rotation)
        keypoints = pose.scale * canonical @ new.T + pose.translation
    return dataclasses.replace(
        params,
        rotation=pose.rotation,
        translation=pose.translation,
        scale=pose.scale,
        expression=expression,
        keypoints=keypoints,
    )
