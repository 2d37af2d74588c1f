"""The shipped receiver weights on CPU: loading, versions, and frames of the demo clip."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from receiver_inputs import demo_frames

from facecodec.receiver.baseline import BaselineCodec
from facecodec.receiver.receiver import Receiver
from facecodec.receiver.weights import BASELINE_WEIGHTS, PRIOR_WEIGHTS, load_weights
from facecodec.sender.face_model import FaceModel
from facecodec.training.metrics import psnr
from facecodec.types import FrameParams, Keyframe

FRAMES = (0, 20, 40)


def as_tensor(images: np.ndarray) -> torch.Tensor:
    """(B, H, W, 3) uint8 -> (B, 3, H, W) float in [0, 1]."""
    return torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255


@pytest.fixture(scope="module")
def demo() -> tuple[list[np.ndarray], list[FrameParams], np.ndarray]:
    """Three frames of the demo clip with their prior parameters and the speaker's identity."""
    return demo_frames(FRAMES)


@pytest.fixture(scope="module")
def receiver() -> Receiver:
    return Receiver(device="cpu", model="large")


def test_shipped_weights_name_their_versions() -> None:
    for name in (PRIOR_WEIGHTS, BASELINE_WEIGHTS):
        state, info = load_weights(name)
        assert info.face_model == FaceModel.load().version
        assert info.mode == name
        assert all(np.isfinite(v.numpy()).all() for v in state.values())


def test_renders_the_driver_from_the_keyframe(receiver: Receiver, demo) -> None:
    frames, params, identity = demo
    receiver.set_keyframe(Keyframe(frames[0], identity, params[0], FaceModel.load().version))
    out = receiver.render(params[1:])
    assert out.shape == (2, 256, 256, 3) and out.dtype == np.uint8

    quality = psnr(as_tensor(out), as_tensor(np.stack(frames[1:])))
    assert (quality > 20).all(), quality


def test_fewer_expression_dims_and_explicit_keypoints(receiver: Receiver, demo) -> None:
    frames, params, identity = demo
    receiver.set_keyframe(Keyframe(frames[0], identity, params[0], FaceModel.load().version))
    p = params[2]
    truncated = FrameParams(p.seq, p.rotation, p.translation, p.scale, p.expression[:4])
    keypoints = FaceModel.load().keypoints(identity, p, count=8)
    explicit = FrameParams(p.seq, p.rotation, p.translation, p.scale, p.expression[:4], keypoints)
    full, few, with_kp = receiver.render([p, truncated, explicit])
    assert np.abs(full.astype(int) - few.astype(int)).mean() > 0.1
    assert np.abs(few.astype(int) - with_kp.astype(int)).mean() > 0.1


def test_rejects_a_keyframe_of_another_face_model(receiver: Receiver, demo) -> None:
    frames, params, identity = demo
    with pytest.raises(ValueError, match="face model"):
        receiver.set_keyframe(Keyframe(frames[0], identity, params[0], "some-other-model"))


def test_baseline_codec_redraws_the_driver(demo) -> None:
    frames, _, _ = demo
    codec = BaselineCodec(device="cpu")
    codec.set_keyframe(frames[0])
    sent = codec.encode(np.stack(frames[1:]), first_seq=1)
    assert [p.seq for p in sent] == [1, 2]
    assert all(p.keypoints.shape == (codec.num_keypoints, 3) for p in sent)
    out = codec.render(sent)
    quality = psnr(as_tensor(out), as_tensor(np.stack(frames[1:])))
    assert (quality > 18).all(), quality
    with pytest.raises(ValueError, match="explicit keypoints"):
        codec.render([FrameParams(seq=3)])
