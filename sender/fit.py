"""Fit the face model to landmarks: head pose by a robust similarity fit, then the expression
code by regularised linear least squares (alternated), and the identity code from several
frames of one person (docs/face_model.md).

Inputs are landmarks in crop coordinates of facecodec/types.py: x, y in [-1, 1] across the
crop, z in the same unit (for a W-pixel crop: ``pixels / (W / 2) - 1`` for x and y,
``z_pixels / (W / 2)`` for z; ``crop_landmarks`` does it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from facecodec.sender.face_model import (
    FaceModel,
    pose_features,
    rotation_angles,
    rotation_matrix,
)
from facecodec.types import FrameParams

ROBUST_SCALE = 0.02
"""Huber threshold of the rigid fit, in canonical units (about 1.3 px of a 256 crop)."""
FIT_ITERATIONS = 3
"""Alternations of rigid fit and expression solve per frame."""
IDENTITY_ROUNDS = 3
"""Alternations of per-frame pose fits and the joint identity solve."""
IDENTITY_MAX_FRAMES = 150
"""Frames (evenly spaced) the identity estimate uses at most."""


def crop_landmarks(landmarks_px: np.ndarray, crop_size: float) -> np.ndarray:
    """(478, 3) landmarks in pixels of a square crop (z scaled like x) -> crop coordinates."""
    half = crop_size / 2.0
    out = np.asarray(landmarks_px, np.float32) / half
    out[..., :2] -= 1.0
    return out


@dataclass
class FrameFit:
    """One frame's fit."""

    params: FrameParams
    """Pose and the full 50-dim expression code."""
    error: float
    """Mean distance (x, y) between landmarks and the fitted model, in crop units
    (x 128 = pixels of a 256 crop)."""


@dataclass
class IdentityFit:
    """A person's identity code estimated from several frames."""

    identity: np.ndarray
    """(n_id,) float32 identity code."""
    frames: list[FrameFit]
    """The fit of every frame given (with the final identity)."""


class FaceFitter:
    """Fits ``FaceModel`` to landmarks; holds the solve matrices that depend only on the model.

    Per frame: ``fit_frame(landmarks, identity)``; per person: ``fit_identity(frames)``.
    """

    def __init__(
        self,
        model: FaceModel,
        noise_variance: float | None = None,
        iterations: int = FIT_ITERATIONS,
        identity_prior: float | None = None,
    ) -> None:
        self.model = model
        self.iterations = iterations
        stats = model.crop_stats
        # Ridge weights = noise variance per coordinate relative to the unit prior of the codes.
        self.noise_variance = float(
            noise_variance if noise_variance is not None else stats["noise_variance"]
        )
        self.identity_prior = float(
            identity_prior if identity_prior is not None else stats["identity_residual_variance"]
        )
        self.stable = model.stable_indices
        n = model.mean.shape[0] * 3
        self._mean = model.mean.reshape(-1).astype(np.float64)
        self._B_id = model.identity_basis.reshape(model.identity_dims, n).T.astype(np.float64)
        B_ex = model.expression_basis.reshape(model.expression_dims, n).T.astype(np.float64)
        self._B_ex = B_ex
        gram = B_ex.T @ B_ex + self.noise_variance * np.eye(B_ex.shape[1])
        self._ex_solve = np.linalg.solve(gram, B_ex.T)  # (50, n): y -> expression code
        n_ex = B_ex.shape[1]
        K = self._ex_solve.reshape(n_ex, -1, 3)
        # Per-frame products run in float32 (twice as fast here, errors ~1e-6 crop units).
        self._ex_solve_t = np.ascontiguousarray(
            K.transpose(0, 2, 1).reshape(n_ex * 3, -1), dtype=np.float32
        )
        self._B_ex32 = B_ex.astype(np.float32)
        self._ex_solve_sum = K.sum(1)  # (50, 3)
        self._B_ex_stable = np.ascontiguousarray(
            B_ex.reshape(-1, 3, n_ex)[self.stable].reshape(-1, n_ex), dtype=np.float32
        )
        # Identity given frames with expressions eliminated: residual maker of the ridge solve.
        self._id_proj = self._B_id - B_ex @ (self._ex_solve @ self._B_id)  # M @ B_id, (n, n_id)
        self._id_gram = self._B_id.T @ self._id_proj
        self._pose_basis = model.pose_basis.reshape(len(model.pose_basis), -1).astype(np.float64)
        self._cache_key: bytes | None = None
        self._cache_shape = np.zeros((0, 3))
        self._cache_ex = np.zeros(0)

    # -- one frame ------------------------------------------------------------------------

    def identity_shape(self, identity: np.ndarray) -> np.ndarray:
        """(478, 3) mean + identity part of the shape (cached for the last identity)."""
        return self._identity_terms(identity)[0]

    def fit_frame(self, landmarks: np.ndarray, identity: np.ndarray, seq: int = 0) -> FrameFit:
        """Pose and expression of one frame; ``landmarks`` (478, 3) in crop coordinates.

        Alternates a similarity fit on the stable vertices (Huber-reweighted from the previous
        round's residuals) with the ridge solve of the expression code on all vertices.
        """
        X32 = np.asarray(landmarks, np.float32)
        X = X32.astype(np.float64)
        base, base_ex = self._identity_terms(identity)
        # The expression solve is linear in X: contract it with the landmarks once.
        T = (
            (self._ex_solve_t @ X32).astype(np.float64).reshape(-1, 3, 3)
        )  # (50, i, j) = sum_p K[k, p, i] X[p, j]
        X_st = X[self.stable]
        shape_st = base[self.stable]
        w = None
        for it in range(self.iterations):
            s, R, t = _umeyama(shape_st, X_st, w)
            # e = K @ (((X - t) @ R) / s - base)
            A = T - self._ex_solve_sum[:, :, None] * t[None, None, :]
            e = np.einsum("kij,ji->k", A, R) * (1.0 / s) - base_ex
            if it + 1 < self.iterations:
                ex_st = self._B_ex_stable @ e.astype(np.float32)
                shape_st = base[self.stable] + ex_st.reshape(-1, 3)
                r = X_st - (s * (shape_st @ R.T) + t)
                r = np.sqrt(np.einsum("pi,pi->p", r, r)) * (1.0 / s)
                w = np.minimum(1.0, ROBUST_SCALE / np.maximum(r, 1e-12))
        shape = base + (self._B_ex32 @ e.astype(np.float32)).reshape(-1, 3)
        d = (s * (shape @ R[:2].T) + t[:2]) - X[:, :2]
        error = float(np.sqrt(np.einsum("pi,pi->p", d, d)).mean())
        params = FrameParams(
            seq=seq, rotation=rotation_angles(R), translation=t, scale=s, expression=e
        )
        return FrameFit(params, error)

    def _identity_terms(self, identity: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(mean + identity part (478, 3), its expression-solve projection (50,)), cached."""
        a = np.asarray(identity, np.float64).reshape(-1)
        key = a.tobytes()
        if key != self._cache_key:
            shape = (self._mean + self._B_id[:, : a.size] @ a).reshape(-1, 3)
            self._cache_shape = shape
            self._cache_ex = self._ex_solve @ shape.reshape(-1)
            self._cache_key = key
        return self._cache_shape, self._cache_ex

    def canonical(self, landmarks: np.ndarray, identity: np.ndarray) -> tuple[np.ndarray, FrameFit]:
        """Landmarks brought into the canonical frame by the fitted pose, and the fit."""
        fit = self.fit_frame(landmarks, identity)
        p = fit.params
        R = rotation_matrix(p.rotation)
        return ((np.asarray(landmarks, np.float64) - p.translation) @ R) / p.scale, fit

    # -- several frames of one person -----------------------------------------------------

    def fit_identity(
        self,
        frames: Sequence[np.ndarray],
        rounds: int = IDENTITY_ROUNDS,
        max_frames: int = IDENTITY_MAX_FRAMES,
    ) -> IdentityFit:
        """Identity code from frames of one person (each (478, 3) crop coordinates), jointly
        with one expression code per frame (expressions eliminated in closed form)."""
        if len(frames) == 0:
            raise ValueError("fit_identity needs at least one frame")
        pick = np.linspace(0, len(frames) - 1, min(max_frames, len(frames))).round().astype(int)
        used = [frames[i] for i in np.unique(pick)]
        a = np.zeros(self.model.identity_dims)
        for _ in range(rounds):
            total = np.zeros_like(self._mean)
            for X in used:
                Y, fit = self.canonical(X, a)
                pose = pose_features(fit.params.rotation) @ self._pose_basis
                total += Y.reshape(-1) - pose - self._mean
            mean_y = total / len(used)
            prior = self.identity_prior + self.noise_variance / len(used)
            lhs = self._id_gram + prior * np.eye(self._id_gram.shape[0])
            a = np.linalg.solve(lhs, self._id_proj.T @ mean_y)
        a = a.astype(np.float32)
        fits = [self.fit_frame(X, a, seq=i) for i, X in enumerate(frames)]
        return IdentityFit(a, fits)


def similarity_fit(
    src: np.ndarray, dst: np.ndarray, robust: float | None = None, iterations: int = 2
) -> tuple[float, np.ndarray, np.ndarray]:
    """Similarity ``dst ~ s * src @ R.T + t`` (Umeyama), optionally reweighted (Huber on the
    residuals, threshold ``robust`` in src units) for ``iterations`` rounds."""
    s, R, t = _umeyama(src, dst, None)
    if robust:
        for _ in range(iterations - 1):
            r = dst - (s * (src @ R.T) + t)
            r = np.sqrt((r * r).sum(1)) * (1.0 / s)
            w = np.minimum(1.0, robust / np.maximum(r, 1e-12))
            s, R, t = _umeyama(src, dst, w)
    return s, R, t


def _umeyama(
    src: np.ndarray, dst: np.ndarray, w: np.ndarray | None
) -> tuple[float, np.ndarray, np.ndarray]:
    """Weighted similarity fit, written with few numpy calls (it runs per frame)."""
    wn = np.full(len(src), 1.0 / len(src)) if w is None else w * (1.0 / w.sum())
    mu_s = wn @ src
    mu_d = wn @ dst
    ws = src * wn[:, None]
    cov = dst.T @ ws - np.outer(mu_d, mu_s)
    var_s = float(np.einsum("pi,pi->", ws, src)) - float(mu_s @ mu_s)
    U, D, Vt = np.linalg.svd(cov)
    if _det3(cov) < 0:  # = det(U) det(Vt) < 0: avoid a reflection
        U[:, 2] = -U[:, 2]
        D[2] = -D[2]
    R = U @ Vt
    s = float(D.sum()) / var_s
    t = mu_d - s * (R @ mu_s)
    return s, R, t


def _det3(m: np.ndarray) -> float:
    return float(
        m[0, 0] * (m[1, 1] * m[2, 2] - m[1, 2] * m[2, 1])
        - m[0, 1] * (m[1, 0] * m[2, 2] - m[1, 2] * m[2, 0])
        + m[0, 2] * (m[1, 0] * m[2, 1] - m[1, 1] * m[2, 0])
    )
