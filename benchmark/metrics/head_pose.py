"""Head pose from dlib's 68 landmarks, for choosing the hard subset (largest pose variance).

The paper takes DECA's head poses; here a perspective-n-point fit of six landmarks to a generic
3D face (a mean-face model widely used with dlib, millimetre-like units), which keeps the
subset independent of the sender's prior. Only the variance within a clip matters, so the
model's absolute accuracy is secondary.
"""

from __future__ import annotations

import cv2
import numpy as np

POSE_LANDMARKS = np.array([30, 8, 36, 45, 48, 54])
"""Nose tip, chin, outer eye corners, mouth corners in the 68-point layout."""
GENERIC_FACE_3D = np.array(
    [
        (0.0, 0.0, 0.0),
        (0.0, 330.0, 65.0),
        (-225.0, -170.0, 135.0),
        (225.0, -170.0, 135.0),
        (-150.0, 150.0, 125.0),
        (150.0, 150.0, 125.0),
    ]
)
"""The six points with the image's axes (x right, y down, z away from the camera), so that a
frontal face has zero angles."""


def head_pose_deg(points: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
    """(68, 2) landmarks of an (H, W) image -> (3,) pitch, yaw, roll in degrees."""
    h, w = image_size
    camera = np.array([[w, 0, w / 2], [0, w, h / 2], [0, 0, 1]], np.float64)
    image_points = np.asarray(points, np.float64)[POSE_LANDMARKS]
    ok, rvec, _ = cv2.solvePnP(
        GENERIC_FACE_3D, image_points, camera, None, flags=cv2.SOLVEPNP_ITERATIVE
    )
    if not ok:
        return np.full(3, np.nan)
    angles, *_ = cv2.RQDecomp3x3(cv2.Rodrigues(rvec)[0])
    return np.asarray(angles, np.float64)


def pose_variance(poses_deg: np.ndarray) -> float:
    """Sum over pitch, yaw and roll of their variance within a clip (deg^2); (N, 3) input,
    NaN rows (no face) ignored."""
    poses = np.asarray(poses_deg, np.float64)
    poses = poses[~np.isnan(poses).any(axis=1)]
    if len(poses) < 2:
        return 0.0
    return float(poses.var(axis=0).sum())
