"""The small CPU receiver (receiver/warp_generator.py): loading through ``Receiver``, the model
choice by device and weights, frames of the demo clip, and the same output on each CPU runtime
(torch, channels-last, ONNX Runtime on the exported model)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from receiver_inputs import demo_frames

from facecodec.receiver.config import SMALL, WarpConfig
from facecodec.receiver.model_choice import pick_model
from facecodec.receiver.receiver import Receiver
from facecodec.receiver.renderer import FrameRenderer
from facecodec.receiver.semantic_keypoints import SemanticKeypoints
from facecodec.receiver.warp_generator import WarpSynthesizer
from facecodec.receiver.weights import (
    SMALL_WEIGHTS,
    WeightsInfo,
    load_weights,
    save_weights,
    shipped_directory,
)
from facecodec.sender.face_model import FaceModel
from facecodec.training.metrics import psnr
from facecodec.types import FrameParams, Keyframe

FRAMES = (0, 30, 60)
PARITY_TOLERANCE = 1e-4
"""Largest difference between runtimes, in [0, 1] pixel units (float32 rounding)."""


def shipped_small() -> bool:
    return any(shipped_directory().glob(f"{SMALL_WEIGHTS}-*.safetensors"))


@pytest.fixture(scope="module")
def weights_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped small weights, or (where none ship) a freshly initialised small model saved
    the way training exports it."""
    if shipped_small():
        return shipped_directory()
    directory = tmp_path_factory.mktemp("weights")
    info = WeightsInfo("small-test", FaceModel.load().version, SMALL_WEIGHTS, SMALL)
    save_weights(WarpSynthesizer(SMALL).state_dict(), info, directory, SMALL_WEIGHTS)
    return directory


@pytest.fixture(scope="module")
def demo() -> tuple[list[np.ndarray], list[FrameParams], np.ndarray]:
    """Frames of the demo clip with their prior parameters and the speaker's identity."""
    return demo_frames(FRAMES)


def as_tensor(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255


def test_auto_picks_small_on_a_cpu_only_where_its_weights_are(weights_dir: Path, tmp_path) -> None:
    cpu, gpu = torch.device("cpu"), torch.device("cuda")
    assert pick_model("auto", cpu, weights_dir) == "small"
    assert pick_model("auto", gpu, weights_dir) == "large"
    assert pick_model("auto", cpu, tmp_path) == "large", "no small weights there"
    assert pick_model("small", gpu, tmp_path) == "small"
    with pytest.raises(ValueError, match="model must be"):
        pick_model("medium", cpu)


def test_small_model_loads_and_redraws_the_demo(weights_dir: Path, demo) -> None:
    frames, params, identity = demo
    state, info = load_weights(SMALL_WEIGHTS, weights_dir)
    assert isinstance(info.config, WarpConfig) and info.mode == SMALL_WEIGHTS
    assert info.face_model == FaceModel.load().version
    assert sum(v.numel() * 2 for v in state.values()) < 10 * 2**20, "fp16 weights under 10 MB"
    receiver = Receiver(weights_dir, device="cpu", model="small")
    assert receiver.model == "small"
    receiver.set_keyframe(Keyframe(frames[0], identity, params[0], FaceModel.load().version))
    out = receiver.render(params)
    assert out.shape == (len(FRAMES), 256, 256, 3) and out.dtype == np.uint8
    quality = psnr(as_tensor(out), as_tensor(np.stack(frames)))
    assert quality[0] > 28, f"the keyframe's own parameters redraw the keyframe: {quality}"
    assert (quality[1:] > 20).all(), quality
    assert np.abs(out[1].astype(int) - out[2].astype(int)).mean() > 1, "the face moves"


def exported_runtime_inputs(weights_dir: Path) -> tuple[FrameRenderer, tuple[torch.Tensor, ...]]:
    """The small renderer and one frame's inputs: a real-looking random keyframe state and
    pose, expression and keypoints near the face model's."""
    state, info = load_weights(SMALL_WEIGHTS, weights_dir)
    synthesizer = WarpSynthesizer(info.config)
    synthesizer.load_state_dict(state)
    keypoints = SemanticKeypoints.from_face_model(FaceModel.load(), info.config.num_keypoints)
    renderer = FrameRenderer(synthesizer, keypoints).eval()
    g = torch.Generator().manual_seed(0)
    k = info.config.num_keypoints
    with torch.no_grad():
        volume = synthesizer.extract(torch.rand(1, 3, 256, 256, generator=g))
    identity = torch.randn(1, keypoints.identity_basis.shape[0], generator=g) * 0.5
    kp_source, rot_source = keypoints(
        identity, torch.zeros(1, 50), torch.zeros(1, 3), torch.zeros(1, 3), torch.ones(1)
    )
    return renderer, (
        volume,
        identity,
        kp_source,
        rot_source,
        torch.randn(1, 3, generator=g) * 0.1,
        torch.randn(1, 3, generator=g) * 0.03,
        torch.ones(1),
        torch.randn(1, 50, generator=g),
        torch.zeros(1, k, 3),
        torch.zeros(1, k, dtype=torch.bool),
    )


def test_runtimes_agree(weights_dir: Path) -> None:
    """torch eager, channels-last and ONNX Runtime (the model exported from torch) render the
    same frame."""
    renderer, args = exported_runtime_inputs(weights_dir)
    with torch.no_grad():
        reference = renderer(*args)
        for m in renderer.modules():
            if isinstance(m, torch.nn.Conv2d):
                m.to(memory_format=torch.channels_last)
        nhwc = [
            a.contiguous(memory_format=torch.channels_last) if a.dim() == 4 else a for a in args
        ]
        assert (renderer(*nhwc) - reference).abs().max() < PARITY_TOLERANCE
    onnxruntime = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    names = [f"input{i}" for i in range(len(args))]
    buffer = io.BytesIO()
    torch.onnx.export(renderer, args, buffer, input_names=names, dynamo=False, opset_version=20)
    session = onnxruntime.InferenceSession(buffer.getvalue(), providers=["CPUExecutionProvider"])
    (out,) = session.run(None, {n: a.numpy() for n, a in zip(names, args, strict=True)})
    assert np.abs(out - reference.numpy()).max() < PARITY_TOLERANCE
