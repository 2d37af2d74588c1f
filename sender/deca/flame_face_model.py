"""FLAME as facecodec's face model: its canonical frame, expression code and semantic keypoints
in the conventions of facecodec/types.py (the DECA backend's counterpart of
facecodec.sender.face_model.FaceModel, with the same ``landmarks`` and ``keypoints`` calls).

Canonical shape: the FLAME mesh with the frame's expression and jaw but no head rotation, with
its origin at FLAME's root joint (the pivot of the head rotation), axes flipped to the crop's
(x right, y down, z away from the camera) and scaled by ``CANONICAL_UNITS_PER_METRE``.

Expression code (50 values): ``[jaw rotation (3, axis-angle), FLAME expression 0..46]``. The
jaw comes first because it carries most of the motion of speech; FLAME's expression space is a
PCA ordered by variance, so a code truncated to its first d values drops the least important
dimensions (and FLAME expression 47..49, the least of all, are never sent).

Identity: DECA's 100 FLAME shape coefficients.
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch

from facecodec.sender.deca.flame import NUM_EXPRESSION, NUM_IDENTITY, Flame
from facecodec.sender.deca.flame_files import FlameModelData, LandmarkEmbedding
from facecodec.sender.face_model import rotation_matrix
from facecodec.types import MAX_EXPRESSION_DIMS, FrameParams

JAW_DIMS = 3
EXPRESSION_DIMS_SENT = MAX_EXPRESSION_DIMS - JAW_DIMS
"""FLAME expression coefficients in the code: 47 of 50."""
FLIP = np.diag([1.0, -1.0, -1.0])
"""FLAME axes (y up, z towards the viewer) to crop axes (y down, z away)."""
CANONICAL_UNITS_PER_METRE = 7.0
"""FLAME metres to canonical units, so that ``scale`` is about 1 for a median face of the
256x256 training clips, as with the default face model: there the face measures 0.93 crop units
from ear to ear (median of MediaPipe vertices 234-454 over ../shared/data), an adult FLAME face
about 0.13-0.14 m."""
KEYPOINT_ORDER = np.array(
    [62, 66, 37, 44, 30, 48, 54, 41, 46, 36, 45, 51, 57, 19, 24, 8]  # noqa: RUF005 (first 16)
    + [39, 42, 50, 52, 56, 58, 38, 43, 40, 47, 21, 22, 31, 35, 4, 12]
)
"""Indices into the 68 iBUG landmarks, most important first (paper appendix B.3 and Table 4):
the first 5 are 2 mouth (inner lip centres: mouth opening), 2 eyes (upper lids), 1 nose (tip);
up to 16 add the mouth corners, lower lids (blinks), outer eye corners, outer lip centres, brow
middles and chin; 17-32 sample each part evenly: inner eye corners, lip arcs, the other lid
points, inner brow ends (frowns), nostrils and the jaw line."""
K_MAX = len(KEYPOINT_ORDER)
DEFAULT_KEYPOINTS = 16


def expression_code(jaw_pose: np.ndarray, expression: np.ndarray) -> np.ndarray:
    """(3,) jaw axis-angle and (50,) FLAME expression -> (50,) float32 expression code."""
    jaw = np.asarray(jaw_pose, np.float32).reshape(JAW_DIMS)
    exp = np.asarray(expression, np.float32).reshape(-1)[:EXPRESSION_DIMS_SENT]
    return np.concatenate([jaw, exp])


def split_expression(code: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, d <= 50) expression codes -> (B, 3) jaw pose and (B, 50) FLAME expression, the
    dimensions not sent set to 0."""
    full = torch.zeros(code.shape[0], JAW_DIMS + NUM_EXPRESSION, dtype=code.dtype)
    full[:, : code.shape[1]] = code
    return full[:, :JAW_DIMS], full[:, JAW_DIMS:]


class FlameFaceModel:
    """FLAME landmarks and keypoints for an identity and a frame's parameters."""

    def __init__(self, model: FlameModelData, embedding: LandmarkEmbedding) -> None:
        self.flame = Flame(model, embedding, landmarks_only=True)
        self.version = _version(self.flame)
        """``deca-flame-`` and a digest of the model arrays and keypoint choice: a receiver
        computes the same keypoints from the same identity only when it matches."""

    @property
    def identity_dims(self) -> int:
        return NUM_IDENTITY

    @torch.no_grad()
    def canonical_landmarks(self, identity: torch.Tensor, expression: torch.Tensor) -> torch.Tensor:
        """identity (B, 100), expression codes (B, d <= 50) -> (B, 68, 3) canonical landmarks."""
        jaw, exp = split_expression(expression)
        rest = torch.zeros_like(jaw)
        mesh = self.flame(identity, exp, global_pose=rest, jaw_pose=jaw)
        flame_points = self.flame.landmarks(mesh.vertices) - mesh.root[:, None]
        flip = torch.as_tensor(FLIP * CANONICAL_UNITS_PER_METRE, dtype=flame_points.dtype)
        return flame_points @ flip

    def canonical(
        self, identity: torch.Tensor, expression: torch.Tensor, count: int = K_MAX
    ) -> torch.Tensor:
        """identity (B, 100), expression codes (B, d <= 50) -> (B, count, 3) canonical keypoints
        (the first ``count`` of ``KEYPOINT_ORDER``)."""
        _check_count(count)
        return self.canonical_landmarks(identity, expression)[:, KEYPOINT_ORDER[:count]]

    def landmarks(self, identity: np.ndarray, params: FrameParams) -> np.ndarray:
        """(68, 3) landmarks in crop coordinates for this identity and frame."""
        ident = torch.as_tensor(np.asarray(identity, np.float32).reshape(1, NUM_IDENTITY))
        code = torch.as_tensor(params.full_expression()[None])
        shape = self.canonical_landmarks(ident, code)[0].numpy()
        rotation = rotation_matrix(params.rotation).astype(np.float32)
        return params.scale * shape @ rotation.T + params.translation

    def keypoints(
        self, identity: np.ndarray, params: FrameParams, count: int = DEFAULT_KEYPOINTS
    ) -> np.ndarray:
        """(count, 3) semantic keypoints in crop coordinates.

        Computed from ``identity`` (the *source's* code on the sender) with the frame's own
        pose and full expression, so no other identity reaches the receiver.
        """
        _check_count(count)
        return self.landmarks(identity, params)[KEYPOINT_ORDER[:count]]


def _check_count(count: int) -> None:
    if not 0 <= count <= K_MAX:
        raise ValueError(f"keypoint count must be in [0, {K_MAX}], got {count}")


def _version(flame: Flame) -> str:
    digest = hashlib.sha256()
    for name, buffer in sorted(flame.named_buffers()):
        digest.update(name.encode())
        digest.update(buffer.contiguous().numpy().tobytes())
    digest.update(KEYPOINT_ORDER.tobytes())
    digest.update(np.float64(CANONICAL_UNITS_PER_METRE).tobytes())
    return f"deca-flame-{digest.hexdigest()[:12]}"
