"""The face-model fit on real clips (decoded and landmarked at test time, never committed):
landmark reconstruction error, identity stability while people talk, the identity swap, speed.

Clips: the first clip of each of the first eight validation identities of ../shared/data
(people the face model never saw), first 150 frames. FACECODEC_DATA overrides the folder.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pytest
from shared_data import DATA_DIR

from facecodec.sender.face_model import K_MAX, FaceModel, rotation_matrix
from facecodec.sender.fit import FaceFitter, crop_landmarks
from facecodec.types import FrameParams

PEOPLE = 8
FRAMES = 150
WINDOW = 50
PX = 128.0  # crop units -> pixels of a 256 crop

pytestmark = pytest.mark.skipif(
    not (DATA_DIR / "train.tsv").exists(), reason=f"no training clips in {DATA_DIR}"
)


@lru_cache(maxsize=1)
def model() -> FaceModel:
    return FaceModel.load()


@lru_cache(maxsize=1)
def clips() -> tuple[tuple[str, np.ndarray], ...]:
    """(identity, (F, 478, 3) landmarks in crop coordinates) of each test person."""
    import av

    from facecodec.sender.landmarks import FaceLandmarker
    from facecodec.training.splits import split_clips

    _, validation = split_clips(DATA_DIR)
    chosen, seen = [], set()
    for clip in validation:
        if clip.identity not in seen and clip.frames >= FRAMES:
            chosen.append(clip)
            seen.add(clip.identity)
        if len(chosen) == PEOPLE:
            break
    out = []
    for clip in chosen:
        with av.open(str(clip.path)) as container, FaceLandmarker(video=True) as landmarker:
            found = []
            for i, frame in enumerate(container.decode(video=0)):
                if i == FRAMES:
                    break
                image = frame.to_ndarray(format="rgb24")
                pts = landmarker(image)
                if pts is not None:
                    found.append(crop_landmarks(pts, image.shape[1]))
        out.append((clip.identity, np.stack(found)))
    return tuple(out)


@lru_cache(maxsize=1)
def fits() -> tuple:
    fitter = FaceFitter(model())
    return tuple(fitter.fit_identity(list(X)) for _, X in clips())


def test_landmarker_finds_faces() -> None:
    for identity, X in clips():
        assert len(X) >= 0.95 * FRAMES, identity
        assert X.shape[1:] == (478, 3)
        assert np.abs(np.median(X[..., :2], axis=(0, 1))).max() < 0.5  # face near the centre


def test_reconstruction_error() -> None:
    """Mean landmark distance (x, y; pixels of the 256 crop) with the leading d expression
    dims of the full fit."""
    m = model()
    errors = {d: [] for d in (0, 8, 16, 32, 50)}
    for (_, X), fit in zip(clips(), fits(), strict=True):
        for x, frame in zip(X, fit.frames, strict=True):
            p = frame.params
            for d in errors:
                q = FrameParams(0, p.rotation, p.translation, p.scale, p.expression[:d])
                L = m.landmarks(fit.identity, q)
                errors[d].append(np.linalg.norm(L[:, :2] - x[:, :2], axis=1).mean() * PX)
    mean = {d: float(np.mean(v)) for d, v in errors.items()}
    print("landmark fit error px by expression dims:", {d: round(v, 3) for d, v in mean.items()})
    assert mean[50] < 0.4
    assert mean[32] < 0.6
    assert mean[16] < 1.0
    assert mean[0] > mean[8] > mean[16] > mean[32] > mean[50]
    # FrameFit.error is the same quantity at 50 dims.
    reported = np.mean([f.error for fit in fits() for f in fit.frames]) * PX
    assert abs(reported - mean[50]) < 1e-3


def test_fit_recovers_synthetic_parameters() -> None:
    m = model()
    fitter = FaceFitter(m)
    rng = np.random.default_rng(0)
    identity = fits()[0].identity
    for _ in range(5):
        truth = FrameParams(
            seq=7,
            rotation=rng.uniform(-0.35, 0.35, 3),
            translation=np.r_[rng.uniform(-0.2, 0.2, 2), 0.01],
            scale=rng.uniform(0.8, 1.25),
            expression=rng.normal(size=50),
        )
        X = m.landmarks(identity, truth)
        got = fitter.fit_frame(X, identity, seq=7).params
        assert got.seq == 7 and got.expression.shape == (50,)
        np.testing.assert_allclose(got.rotation, truth.rotation, atol=2e-3)
        np.testing.assert_allclose(got.translation, truth.translation, atol=2e-3)
        assert abs(got.scale - truth.scale) < 2e-3
        # Ridge shrinkage only: leading dims recovered closely.
        np.testing.assert_allclose(got.expression[:16], truth.expression[:16], atol=0.05)


def test_jaw_opening_is_a_leading_dimension() -> None:
    """Mouth opening (inner lip gap) is explained by the first few expression dims."""
    gaps, codes = [], []
    for (_, X), fit in zip(clips(), fits(), strict=True):
        gap = np.array(
            [
                np.linalg.norm(x[13] - x[14]) / f.params.scale
                for x, f in zip(X, fit.frames, strict=True)
            ]
        )
        code = np.array([f.params.expression for f in fit.frames])
        gaps.append(gap - gap.mean())  # within clip: what changes while the person talks
        codes.append(code - code.mean(0))
    gaps, codes = np.concatenate(gaps), np.concatenate(codes)
    A = codes[:, :4]
    resid = gaps - A @ np.linalg.lstsq(A, gaps, rcond=None)[0]
    r2 = 1 - resid.var() / gaps.var()
    print(f"mouth opening R^2 from the first 4 expression dims: {r2:.3f}")
    assert r2 > 0.6


def test_identity_is_stable_while_talking() -> None:
    """Identity from 2-s windows of one clip varies much less than between people."""
    m = model()
    fitter = FaceFitter(m)
    B = m.identity_basis.reshape(m.identity_dims, -1)

    def rms_px(offsets: np.ndarray) -> np.ndarray:
        return np.sqrt((offsets.reshape(len(offsets), -1, 3) ** 2).sum(-1).mean(-1)) * PX

    within, centres = [], []
    for _, X in clips():
        windows = [X[i : i + WINDOW] for i in range(0, len(X) - WINDOW + 1, WINDOW)]
        shapes = np.array([fitter.fit_identity(list(w)).identity for w in windows]) @ B
        within.append(rms_px(shapes - shapes.mean(0)).mean())
        centres.append(shapes.mean(0))
    centres = np.array(centres)
    between = rms_px(centres - centres.mean(0)).mean()
    print(
        f"identity shape spread px: within clip {np.mean(within):.3f}, between people {between:.3f}"
    )
    assert np.mean(within) < 0.5 * between


def test_swap_keypoints_on_real_people() -> None:
    """A's identity with B's fitted pose and expression: B's keypoints moved by A's identity
    only, and exactly what A's identity predicts."""
    m = model()
    _, X_b = clips()[1]
    fit_a, fit_b = fits()[:2]
    for frame in fit_b.frames[::10]:
        p = frame.params
        swapped = m.keypoints(fit_a.identity, p, K_MAX)
        own = m.keypoints(fit_b.identity, p, K_MAX)
        R = rotation_matrix(p.rotation)
        rows = m.keypoint_indices
        delta = np.tensordot(fit_a.identity - fit_b.identity, m.identity_basis[:, rows], axes=1)
        np.testing.assert_allclose(swapped - own, p.scale * delta @ R.T, atol=1e-4)
        expected = p.scale * m.keypoint_shape(fit_a.identity, p.expression) @ R.T + p.translation
        np.testing.assert_allclose(swapped, expected, atol=1e-5)
    # B's own keypoints follow B's landmarks closely (so the swap changes identity, not motion).
    own_err = (
        np.mean(
            [
                np.linalg.norm(
                    m.keypoints(fit_b.identity, f.params, K_MAX) - x[m.keypoint_indices], axis=1
                ).mean()
                for x, f in zip(X_b, fit_b.frames, strict=True)
            ]
        )
        * PX
    )
    assert own_err < 1.0
