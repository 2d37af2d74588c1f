"""facecodec as a benchmark method: the sender, codec and receiver of a call with the shipped
weights, on a few real frames on the CPU (its receiver takes about 2 s per frame there)."""

from __future__ import annotations

import numpy as np
import pytest
from shared_data import DATA_DIR

from facecodec.benchmark.clips import read_video
from facecodec.benchmark.facecodec_method import FacecodecMethod
from facecodec.benchmark.methods import MessageKind, MethodInput, Mode, Point
from facecodec.benchmark.metrics.identity import IdentityEmbedder
from facecodec.benchmark.metrics.landmarks import Landmarks68, keypoint_distance
from facecodec.benchmark.metrics.pixels import psnr
from facecodec.bitrate.table import RatePoint, RateTable
from facecodec.types import OperatingPoint

DATA = DATA_DIR / "train"
POINT = Point("k8-e16-q2-f1", None)
pytestmark = pytest.mark.slow  # about a minute


@pytest.fixture(scope="module")
def method() -> FacecodecMethod:
    method = FacecodecMethod("cpu")
    if method.unavailable():
        pytest.fail(f"shipped prior weights should load: {method.unavailable()}")
    return method


@pytest.fixture(scope="module")
def clip() -> tuple[np.ndarray, float]:
    return read_video(DATA / "obama__000.mp4", max_frames=5)


def test_reconstruction_redraws_the_driving_frames(method, clip):
    frames, fps = clip
    result = method.run(MethodInput(frames[0], frames[1:], fps, POINT, None, Mode.RECONSTRUCTION))
    assert result.frames.shape == frames[1:].shape
    kinds = [m.kind for m in result.messages]
    assert kinds[0] == MessageKind.KEYFRAME and kinds.count(MessageKind.KEYFRAME) == 1
    payload = sum(m.payload_bytes for m in result.messages if m.kind == MessageKind.FRAMES)
    assert 0 < payload < 40 * len(frames)  # a few bytes per frame, not an image
    assert psnr(frames[1:], result.frames).mean() > 24
    landmarks = Landmarks68()
    akd = [keypoint_distance(landmarks(a).points, landmarks(b).points)[0]
           for a, b in zip(frames[1:], result.frames, strict=True)]  # fmt: skip
    assert np.mean(akd) < 6


def test_keyframe_interval_refreshes_the_keyframe(method, clip):
    frames, fps = clip
    job = MethodInput(frames[0], frames[1:], fps, POINT, 2, Mode.RECONSTRUCTION)
    keyframes = [m for m in method.run(job).messages if m.kind == MessageKind.KEYFRAME]
    assert len(keyframes) == 3  # frames 0, 2, 4


def test_targets_run_the_controller_over_the_rate_table(clip):
    frames, fps = clip
    table = RateTable(
        (
            RatePoint(OperatingPoint(keypoints=0, expression_dims=8), 5.0, 2.0),
            RatePoint(OperatingPoint(keypoints=16, expression_dims=32), 40.0, 1.0),
        ),
        bytes_per_message=4.0,
    )
    method = FacecodecMethod("cpu", grid=(), table=table)
    assert [p.label for p in method.points([1000, 64_000])] == ["1kbps", "64kbps"]
    payload = {}
    for point in method.points([1000, 64_000]):
        result = method.run(MethodInput(frames[0], frames[1:], fps, point, None))
        payload[point.label] = sum(
            m.payload_bytes for m in result.messages if m.kind == MessageKind.FRAMES
        )
    assert 0 < payload["1kbps"] < payload["64kbps"]  # the costlier point where it fits


def test_reenactment_keeps_the_source_identity(method, clip):
    frames, fps = clip
    source = read_video(DATA / "lp_d14__103.mp4", max_frames=1)[0][0]
    result = method.run(MethodInput(source, frames[1:], fps, POINT, 2, Mode.REENACTMENT))
    assert sum(m.kind == MessageKind.KEYFRAME for m in result.messages) == 1  # never refreshed
    landmarks, embed = Landmarks68(), IdentityEmbedder()
    images = [source, frames[1], result.frames[-1]]
    src, driver, out = embed(images, [landmarks(f) for f in images])
    assert np.linalg.norm(out - src) < np.linalg.norm(out - driver)
