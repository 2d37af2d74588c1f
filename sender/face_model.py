"""The linear 3D face model learned from MediaPipe face-mesh landmarks (docs/face_model.md).

A face shape in the canonical, pose-normalised frame is

    S = mean + identity @ identity_basis + expression @ expression_basis        (478, 3)

and it is placed in the crop by the head pose of facecodec/types.py:
``X = scale * S @ R.T + translation`` with ``R = Rz(roll) @ Ry(yaw) @ Rx(pitch)``.

Canonical axes match the crop's (x right, y down, z away from the camera); a frontal face has
zero rotation; one canonical unit is one crop unit (half the crop width) for a face of median
training size, so ``scale`` is about 1. Identity and expression codes are whitened: each
coefficient has unit variance over the training data, dimensions ordered by variance.

numpy only: a torch module copies ``mean``, the bases and ``keypoint_indices`` as buffers.
"""

from __future__ import annotations

import importlib.resources
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facecodec.types import MAX_EXPRESSION_DIMS, FrameParams

NUM_LANDMARKS = 478
K_MAX = 32
"""Semantic keypoints the model defines; a budget of k uses the first k."""
DEFAULT_KEYPOINTS = 16
ASSET_NAME = "face_model.npz"


def rotation_matrix(pyr: np.ndarray) -> np.ndarray:
    """(3,) pitch, yaw, roll in radians -> (3, 3) ``R = Rz(roll) @ Ry(yaw) @ Rx(pitch)``."""
    p, y, r = (float(v) for v in np.asarray(pyr, np.float64).reshape(3))
    cp, sp, cy, sy, cr, sr = np.cos(p), np.sin(p), np.cos(y), np.sin(y), np.cos(r), np.sin(r)
    return np.array(
        [
            [cr * cy, cr * sy * sp - sr * cp, cr * sy * cp + sr * sp],
            [sr * cy, sr * sy * sp + cr * cp, sr * sy * cp - cr * sp],
            [-sy, cy * sp, cy * cp],
        ]
    )


def rotation_angles(R: np.ndarray) -> np.ndarray:
    """Inverse of ``rotation_matrix``: (3, 3) rotation -> (3,) pitch, yaw, roll (yaw in
    [-pi/2, pi/2])."""
    R = np.asarray(R, np.float64)
    yaw = np.arcsin(np.clip(-R[2, 0], -1.0, 1.0))
    pitch = np.arctan2(R[2, 1], R[2, 2])
    roll = np.arctan2(R[1, 0], R[0, 0])
    return np.array([pitch, yaw, roll])


def pose_features(pyr: np.ndarray) -> np.ndarray:
    """(..., 3) pitch, yaw, roll -> (..., 9) features of the pose correctives: the angles, their
    squares and pairwise products."""
    pyr = np.asarray(pyr, np.float64)
    p, y, r = pyr[..., 0], pyr[..., 1], pyr[..., 2]
    return np.stack([p, y, r, p * p, y * y, r * r, p * y, y * r, p * r], -1)


@dataclass(frozen=True, eq=False)
class FaceModel:
    """Mean shape, bases, semantic keypoints and mirror data of the face prior."""

    version: str
    mean: np.ndarray
    """(478, 3) canonical mean shape (mirror-symmetric, x = 0 on the midline)."""
    identity_basis: np.ndarray
    """(n_id, 478, 3): one whitened identity coefficient's displacement."""
    expression_basis: np.ndarray
    """(50, 478, 3): one whitened expression coefficient's displacement, by variance."""
    identity_variance: np.ndarray
    """(n_id,) shape variance each identity dimension explains (canonical units^2)."""
    expression_variance: np.ndarray
    """(50,) shape variance each expression dimension explains (canonical units^2)."""
    keypoint_indices: np.ndarray
    """(32,) int64 mesh vertices of the semantic keypoints, most important first."""
    keypoint_names: np.ndarray
    """(32,) str names of the keypoints."""
    stable_indices: np.ndarray
    """int64 vertices that move least with expression (the rigid fit uses them)."""
    landmark_mirror: np.ndarray
    """(478,) int64: vertex i of a horizontally flipped face is vertex ``landmark_mirror[i]``."""
    keypoint_mirror: np.ndarray
    """(32,) int64: the same permutation within the keypoints."""
    identity_mirror: np.ndarray
    """(n_id, n_id): identity code of the flipped face = ``identity_mirror @ identity``."""
    expression_mirror: np.ndarray
    """(50, 50): expression code of the flipped face = ``expression_mirror @ expression``."""
    pose_basis: np.ndarray
    """(9, 478, 3) pose correctives: how the landmarker's mesh of one face changes with head
    pose, ``pose_features(rotation) @ pose_basis``. Used to estimate identity from
    frontal-equivalent shapes; not part of ``shape`` (expression codes absorb pose effects)."""
    crop_stats: dict[str, np.ndarray]
    """Framing of the training crops (docs/face_model.md): names -> arrays."""

    @property
    def identity_dims(self) -> int:
        return int(self.identity_basis.shape[0])

    @property
    def expression_dims(self) -> int:
        return int(self.expression_basis.shape[0])

    @classmethod
    def load(cls, path: str | Path | None = None) -> FaceModel:
        """Load a model file; ``None`` loads the one shipped in facecodec.sender.assets."""
        if path is None:
            ref = importlib.resources.files("facecodec.sender").joinpath("assets", ASSET_NAME)
            with importlib.resources.as_file(ref) as p:
                return cls.load(p)
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
        crop_stats = {k[len("crop_") :]: v for k, v in data.items() if k.startswith("crop_")}
        f32 = lambda k: data[k].astype(np.float32)  # noqa: E731
        i64 = lambda k: data[k].astype(np.int64)  # noqa: E731
        model = cls(
            version=str(data["version"]),
            mean=f32("mean"),
            identity_basis=f32("identity_basis"),
            expression_basis=f32("expression_basis"),
            identity_variance=f32("identity_variance"),
            expression_variance=f32("expression_variance"),
            keypoint_indices=i64("keypoint_indices"),
            keypoint_names=data["keypoint_names"].astype(str),
            stable_indices=i64("stable_indices"),
            landmark_mirror=i64("landmark_mirror"),
            keypoint_mirror=i64("keypoint_mirror"),
            identity_mirror=f32("identity_mirror"),
            expression_mirror=f32("expression_mirror"),
            pose_basis=f32("pose_basis"),
            crop_stats=crop_stats,
        )
        model._check()
        return model

    def _check(self) -> None:
        n = NUM_LANDMARKS
        if self.mean.shape != (n, 3) or self.identity_basis.shape[1:] != (n, 3):
            raise ValueError(f"face model {self.version}: bad mean/identity basis shape")
        if self.expression_basis.shape != (MAX_EXPRESSION_DIMS, n, 3):
            raise ValueError(f"face model {self.version}: bad expression basis shape")
        if self.keypoint_indices.shape != (K_MAX,) or self.keypoint_mirror.shape != (K_MAX,):
            raise ValueError(f"face model {self.version}: expected {K_MAX} keypoints")

    # -- shapes -------------------------------------------------------------------------------

    def shape(self, identity: np.ndarray, expression: np.ndarray | None = None) -> np.ndarray:
        """(478, 3) canonical shape; codes shorter than the bases are zero-padded."""
        return self._shape(
            self.mean, self.identity_basis, self.expression_basis, identity, expression
        )

    def keypoint_shape(
        self, identity: np.ndarray, expression: np.ndarray | None = None, count: int = K_MAX
    ) -> np.ndarray:
        """(count, 3) canonical keypoints (the first ``count`` of the model's order)."""
        idx = self.keypoint_indices[:count]
        return self._shape(
            self.mean[idx],
            self.identity_basis[:, idx],
            self.expression_basis[:, idx],
            identity,
            expression,
        )

    @staticmethod
    def _shape(mean, id_basis, ex_basis, identity, expression) -> np.ndarray:
        out = mean.astype(np.float32, copy=True)
        a = np.asarray(identity, np.float32).reshape(-1)
        if a.size:
            out += np.tensordot(a, id_basis[: a.size], axes=1)
        if expression is not None:
            e = np.asarray(expression, np.float32).reshape(-1)
            if e.size:
                out += np.tensordot(e, ex_basis[: e.size], axes=1)
        return out

    def pose(self, shape: np.ndarray, params: FrameParams) -> np.ndarray:
        """Place a canonical shape (n, 3) in crop coordinates with the frame's head pose."""
        R = rotation_matrix(params.rotation).astype(np.float32)
        return params.scale * shape @ R.T + params.translation

    def landmarks(self, identity: np.ndarray, params: FrameParams) -> np.ndarray:
        """(478, 3) all vertices in crop coordinates for this identity and frame."""
        return self.pose(self.shape(identity, params.full_expression()), params)

    def keypoints(
        self, identity: np.ndarray, params: FrameParams, count: int = DEFAULT_KEYPOINTS
    ) -> np.ndarray:
        """(count, 3) semantic keypoints in crop coordinates.

        Computed from ``identity`` (the *source's* code on the sender) with the frame's own
        pose and full expression, so no other identity reaches the receiver.
        """
        if not 0 <= count <= K_MAX:
            raise ValueError(f"keypoint count must be in [0, {K_MAX}], got {count}")
        return self.pose(self.keypoint_shape(identity, params.full_expression(), count), params)

    # -- mirroring (flip augmentation) ------------------------------------------------------

    def mirror_params(self, params: FrameParams) -> FrameParams:
        """The frame's parameters for the horizontally flipped crop (pitch kept, yaw and roll
        negated, x translation negated, expression mapped by ``expression_mirror``)."""
        p, y, r = params.rotation
        tx, ty, tz = params.translation
        e = self.expression_mirror @ params.full_expression()
        keypoints = None
        if params.keypoints is not None:
            count = params.keypoints.shape[0]
            perm = self.keypoint_mirror[:count]
            if perm.size and perm.max() >= count:
                raise ValueError(f"the first {count} keypoints are not mirror-closed")
            keypoints = _flip_points(params.keypoints, perm)
        return FrameParams(
            seq=params.seq,
            rotation=np.array([p, -y, -r], np.float32),
            translation=np.array([-tx, ty, tz], np.float32),
            scale=params.scale,
            expression=e[: params.expression.shape[0]],
            keypoints=keypoints,
            face=params.face,
        )

    def mirror_identity(self, identity: np.ndarray) -> np.ndarray:
        """Identity code of the horizontally flipped face."""
        a = np.asarray(identity, np.float32)
        return (self.identity_mirror[:, : a.size] @ a).astype(np.float32)


def _flip_points(points: np.ndarray, perm: np.ndarray) -> np.ndarray:
    out = np.asarray(points, np.float32)[perm].copy()
    out[:, 0] *= -1
    return out
