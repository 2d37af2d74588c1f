"""Shapes and behaviour of the receiver networks, with the tiny configuration on CPU."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from facecodec.receiver.config import TINY
from facecodec.receiver.dense_motion import DenseMotion
from facecodec.receiver.geometry import identity_grid, rotation_matrix
from facecodec.receiver.keypoint_detector import KeypointDetector
from facecodec.receiver.semantic_keypoints import SemanticKeypoints
from facecodec.receiver.synthesizer import Synthesizer
from facecodec.sender.face_model import FaceModel
from facecodec.sender.face_model import rotation_matrix as rotation_matrix_np
from facecodec.types import FrameParams

torch.manual_seed(0)
B, K = 2, TINY.num_keypoints


@pytest.fixture(scope="module")
def synthesizer() -> Synthesizer:
    return Synthesizer(TINY).eval()


def keypoints(scale: float = 0.5) -> torch.Tensor:
    return (torch.rand(B, K, 3) - 0.5) * scale


def test_shapes(synthesizer: Synthesizer) -> None:
    image = torch.rand(B, 3, TINY.image_size, TINY.image_size)
    volume = synthesizer.extract(image)
    side = TINY.image_size // 4
    assert volume.shape == (B, TINY.feature_channels, TINY.feature_depth, side, side)
    rot = rotation_matrix(torch.zeros(B, 3))
    out = synthesizer(volume, keypoints(), keypoints(), rot, rot, torch.randn(B, 50))
    assert out.shape == image.shape
    assert out.min() >= 0 and out.max() <= 1


def test_rotation_matches_numpy_convention() -> None:
    angles = np.array([0.3, -0.5, 0.2])
    expected = rotation_matrix_np(angles)
    got = rotation_matrix(torch.tensor(angles, dtype=torch.float32)).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-6)


def test_identity_motion_is_identity() -> None:
    """Same keypoints and rotations on both sides: every flow is the identity, so is the sum."""
    motion = DenseMotion(TINY).eval()
    volume = torch.randn(B, TINY.feature_channels, TINY.feature_depth, 16, 16)
    kp = keypoints()
    rot = rotation_matrix(torch.randn(B, 3) * 0.2)
    with torch.no_grad():
        out = motion(volume, kp, kp, rot, rot)
    grid = identity_grid(TINY.feature_depth, 16, 16, torch.device("cpu"))
    torch.testing.assert_close(out.deformation, grid.expand_as(out.deformation), atol=1e-4, rtol=0)
    assert out.occlusion.shape == (B, 1, 16, 16)


def test_dropped_keypoints_have_no_influence(synthesizer: Synthesizer) -> None:
    volume = synthesizer.extract(torch.rand(B, 3, TINY.image_size, TINY.image_size))
    rot = rotation_matrix(torch.zeros(B, 3))
    kp_s, kp_d = keypoints(), keypoints()
    mask = torch.arange(K)[None].expand(B, K) < K // 2
    moved = kp_d.clone()
    moved[:, K // 2 :] += 0.3
    code = torch.randn(B, 50)
    with torch.no_grad():
        a = synthesizer(volume, kp_s, kp_d, rot, rot, code, mask)
        b = synthesizer(volume, kp_s, moved, rot, rot, code, mask)
        c = synthesizer(volume, kp_s, moved, rot, rot, code)
    torch.testing.assert_close(a, b)
    assert (a - c).abs().max() > 1e-4


def test_expression_code_reaches_the_output(synthesizer: Synthesizer) -> None:
    volume = synthesizer.extract(torch.rand(B, 3, TINY.image_size, TINY.image_size))
    rot = rotation_matrix(torch.zeros(B, 3))
    kp = keypoints()
    with torch.no_grad():
        a = synthesizer(volume, kp, kp, rot, rot, torch.zeros(B, 50))
        b = synthesizer(volume, kp, kp, rot, rot, torch.randn(B, 50) * 3)
    assert (a - b).abs().max() > 1e-4


def test_baseline_has_no_expression_input() -> None:
    baseline = Synthesizer(TINY, expression=False).eval()
    volume = baseline.extract(torch.rand(B, 3, TINY.image_size, TINY.image_size))
    rot = rotation_matrix(torch.zeros(B, 3))
    out = baseline(volume, keypoints(), keypoints(), rot, rot, torch.zeros(B, 0))
    assert out.shape == (B, 3, TINY.image_size, TINY.image_size)


def test_keypoint_detector_outputs() -> None:
    detected = KeypointDetector(TINY)(torch.rand(B, 3, TINY.image_size, TINY.image_size))
    assert detected.canonical.shape == (B, K, 3)
    assert detected.canonical.abs().max() <= 1
    assert detected.keypoints().shape == (B, K, 3)
    assert detected.angles.abs().max() <= np.pi / 2


def test_semantic_keypoints_match_the_sender_face_model() -> None:
    """The receiver's torch keypoints are the sender's numpy keypoints, to float precision."""
    model = FaceModel.load()
    rng = np.random.default_rng(1)
    identity = rng.normal(size=model.identity_dims).astype(np.float32)
    params = FrameParams(
        seq=0,
        rotation=[0.1, -0.3, 0.05],
        translation=[0.02, -0.05, 0.1],
        scale=0.95,
        expression=rng.normal(size=16),
    )
    expected = model.keypoints(identity, params, count=16)
    module = SemanticKeypoints.from_face_model(model, 16)
    t = lambda a: torch.tensor(np.asarray(a, np.float32))[None]  # noqa: E731
    got, _ = module(
        t(identity),
        t(params.full_expression()),
        t(params.rotation),
        t(params.translation),
        torch.tensor([params.scale]),
    )
    np.testing.assert_allclose(got[0].numpy(), expected, atol=1e-4)
