"""The shipped face model: file layout, conventions, keypoints, identity swap, mirror data."""

from __future__ import annotations

import numpy as np
import pytest

from facecodec.sender.face_model import (
    DEFAULT_KEYPOINTS,
    K_MAX,
    NUM_LANDMARKS,
    FaceModel,
    rotation_angles,
    rotation_matrix,
)
from facecodec.types import MAX_EXPRESSION_DIMS, FrameParams


@pytest.fixture(scope="module")
def model() -> FaceModel:
    return FaceModel.load()


def _random_params(rng: np.random.Generator, dims: int = MAX_EXPRESSION_DIMS) -> FrameParams:
    return FrameParams(
        seq=0,
        rotation=rng.uniform(-0.4, 0.4, 3),
        translation=np.r_[rng.uniform(-0.2, 0.2, 2), 0.0],
        scale=rng.uniform(0.8, 1.2),
        expression=rng.normal(size=dims),
    )


def test_shipped_asset_shapes_and_version(model: FaceModel) -> None:
    assert model.version == "mp478-lin-v1"
    n_id = model.identity_dims
    assert 40 <= n_id <= 128
    assert model.mean.shape == (NUM_LANDMARKS, 3) and model.mean.dtype == np.float32
    assert model.identity_basis.shape == (n_id, NUM_LANDMARKS, 3)
    assert model.expression_basis.shape == (MAX_EXPRESSION_DIMS, NUM_LANDMARKS, 3)
    assert model.identity_variance.shape == (n_id,)
    assert model.expression_variance.shape == (MAX_EXPRESSION_DIMS,)
    assert model.keypoint_indices.shape == (K_MAX,) and model.keypoint_names.shape == (K_MAX,)
    assert len(set(model.keypoint_indices.tolist())) == K_MAX
    assert model.identity_mirror.shape == (n_id, n_id)
    assert model.expression_mirror.shape == (MAX_EXPRESSION_DIMS, MAX_EXPRESSION_DIMS)
    # Ordered by variance, so truncating drops the least important dimensions.
    assert np.all(np.diff(model.expression_variance) <= 0)
    assert np.all(np.diff(model.identity_variance) <= 0)
    for key in ("landmark_box_size", "landmark_box_center", "interocular", "noise_variance"):
        assert key in model.crop_stats


def test_canonical_frame(model: FaceModel) -> None:
    """Frontal, mirror-symmetric mean with the crop's axes; scale ~1 means a typical face."""
    mean = model.mean
    flipped = mean[model.landmark_mirror] * np.array([-1, 1, 1], np.float32)
    assert np.abs(flipped - mean).max() < 1e-5
    names = list(model.keypoint_names)
    kp = mean[model.keypoint_indices]
    assert kp[names.index("eye_outer_r"), 0] < 0 < kp[names.index("eye_outer_l"), 0]  # x right
    assert kp[names.index("brow_mid_r"), 1] < kp[names.index("chin"), 1]  # y down
    nose, cheek = kp[names.index("nose_tip")], kp[names.index("cheek_r")]
    assert nose[2] < cheek[2]  # z away from the camera: the nose is nearer
    width = mean[:, 0].max() - mean[:, 0].min()
    assert 0.6 < width < 1.6  # crop units at scale 1 (the crop is 2 wide)


def test_rotation_convention() -> None:
    p, y, r = 0.3, -0.2, 0.1
    Rx = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
    Ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    Rz = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    R = rotation_matrix([p, y, r])
    np.testing.assert_allclose(R, Rz @ Ry @ Rx, atol=1e-12)
    np.testing.assert_allclose(rotation_angles(R), [p, y, r], atol=1e-12)


def test_keypoints_are_posed_mesh_rows(model: FaceModel) -> None:
    rng = np.random.default_rng(0)
    identity = rng.normal(size=model.identity_dims)
    params = _random_params(rng, dims=16)
    full = model.landmarks(identity, params)
    for count in (0, 5, DEFAULT_KEYPOINTS, K_MAX):
        kp = model.keypoints(identity, params, count)
        assert kp.shape == (count, 3)
        np.testing.assert_allclose(kp, full[model.keypoint_indices[:count]], atol=1e-5)
    R = rotation_matrix(params.rotation)
    S = model.shape(identity, params.full_expression())
    np.testing.assert_allclose(full, params.scale * S @ R.T + params.translation, atol=1e-5)
    with pytest.raises(ValueError):
        model.keypoints(identity, params, K_MAX + 1)


def test_keypoint_order_and_mirror_closure(model: FaceModel) -> None:
    names = list(model.keypoint_names)
    # Mouth and eyes first (paper appendix B.3).
    assert names[:4] == ["mouth_corner_r", "mouth_corner_l", "upper_lip_inner", "lower_lip_inner"]
    assert all(("lid" in n or "eye" in n) for n in names[4:10])
    perm = model.keypoint_mirror
    np.testing.assert_array_equal(perm[perm], np.arange(K_MAX))
    np.testing.assert_array_equal(
        model.keypoint_indices[perm], model.landmark_mirror[model.keypoint_indices]
    )
    # The default budget and every even budget from 16 up is mirror-closed.
    for count in (2, 4, 6, 8, 10, 12, 14, DEFAULT_KEYPOINTS, 20, 24, 28, K_MAX):
        assert sorted(perm[:count].tolist()) == list(range(count)), count
    # Pairs are adjacent.
    for i, j in enumerate(perm):
        assert j == i or abs(int(j) - i) == 1


def test_swap_uses_source_identity_only(model: FaceModel) -> None:
    """Keypoints from A's identity with B's pose and expression differ from B's own keypoints
    by A's identity only, and B's identity never reaches them."""
    rng = np.random.default_rng(1)
    id_a, id_b, id_c = (rng.normal(size=model.identity_dims) for _ in range(3))
    params_b = _random_params(rng)
    swapped = model.keypoints(id_a, params_b, K_MAX)
    own = model.keypoints(id_b, params_b, K_MAX)
    R = rotation_matrix(params_b.rotation)
    delta = np.tensordot(id_a - id_b, model.identity_basis[:, model.keypoint_indices], axes=1)
    np.testing.assert_allclose(swapped - own, params_b.scale * delta @ R.T, atol=1e-4)
    # Same result whatever B's identity was: it is not an input at all.
    np.testing.assert_allclose(swapped, model.keypoints(id_a, params_b, K_MAX), atol=0)
    assert np.abs(model.keypoints(id_c, params_b, K_MAX) - swapped).max() > 1e-3


def test_mirror_maps_round_trip(model: FaceModel) -> None:
    perm = model.landmark_mirror
    np.testing.assert_array_equal(perm[perm], np.arange(NUM_LANDMARKS))
    J, K = model.identity_mirror, model.expression_mirror
    np.testing.assert_allclose(J @ J, np.eye(len(J)), atol=1e-3)
    np.testing.assert_allclose(K @ K, np.eye(len(K)), atol=1e-3)
    # Geometry: flipping the shape equals the shape of the mirrored codes.
    rng = np.random.default_rng(2)
    a = rng.normal(size=model.identity_dims)
    e = rng.normal(size=MAX_EXPRESSION_DIMS)
    S = model.shape(a, e)
    flipped = S[perm] * np.array([-1, 1, 1], np.float32)
    mirrored = model.shape(model.mirror_identity(a), K @ e)
    scale = np.abs(S - model.mean).mean()
    assert np.abs(flipped - mirrored).mean() < 1e-3 * scale + 1e-5


def test_mirror_params_flips_the_posed_face(model: FaceModel) -> None:
    rng = np.random.default_rng(3)
    a = rng.normal(size=model.identity_dims)
    params = _random_params(rng)
    X = model.landmarks(a, params)
    flipped = X[model.landmark_mirror] * np.array([-1, 1, 1], np.float32)
    mirrored = model.landmarks(model.mirror_identity(a), model.mirror_params(params))
    np.testing.assert_allclose(mirrored, flipped, atol=1e-3)
