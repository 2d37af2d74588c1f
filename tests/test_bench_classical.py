"""Classical codecs through PyAV on a real clip: sizes from the encoded stream, frames back."""

from __future__ import annotations

import numpy as np
import pytest
from shared_data import DATA_DIR

from facecodec.benchmark.classical import AV1, FAMILIES, H264, LOWEST, ClassicalCodec
from facecodec.benchmark.clips import read_video
from facecodec.benchmark.methods import MessageKind, MethodInput, Point
from facecodec.benchmark.metrics.pixels import psnr
from facecodec.benchmark.rates import count_bytes
from facecodec.transport.overhead import PACKET_OVERHEAD_BYTES

CLIP = DATA_DIR / "train" / "obama__000.mp4"
FRAMES = 25


@pytest.fixture(scope="module")
def clip() -> tuple[np.ndarray, float]:
    return read_video(CLIP, max_frames=FRAMES)


def _run(codec: ClassicalCodec, clip, point: Point, keyframe_interval: int | None = None):
    frames, fps = clip
    return codec.run(MethodInput(frames[0], frames[1:], fps, point, keyframe_interval))


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.name)
def test_round_trip_at_the_lowest_rate(family, clip):
    codec = ClassicalCodec(family)
    if codec.unavailable():
        pytest.skip(codec.unavailable())
    frames, fps = clip
    result = _run(codec, clip, Point(LOWEST, None))
    assert result.frames.shape == frames[1:].shape and result.frames.dtype == np.uint8
    assert len(result.messages) == FRAMES  # one packet per coded frame, source included
    kinds = [m.kind for m in result.messages]
    assert kinds[0] == MessageKind.KEYFRAME and kinds.count(MessageKind.KEYFRAME) == 1
    assert all(m.payload_bytes > 0 for m in result.messages)
    assert psnr(frames[1:], result.frames).mean() > 24  # a recognisable face, not noise
    counts = count_bytes(result.messages, FRAMES - 1, fps)
    assert counts.keyframe_bytes == result.messages[0].payload_bytes
    assert counts.wire_bytes > counts.payload_bytes + counts.keyframe_bytes + (
        FRAMES * PACKET_OVERHEAD_BYTES
    )


def test_keyframe_interval_sets_the_intra_period(clip):
    result = _run(ClassicalCodec(H264), clip, Point(LOWEST, None), keyframe_interval=8)
    intra = [i for i, m in enumerate(result.messages) if m.kind == MessageKind.KEYFRAME]
    assert intra == [0, 8, 16, 24]


def test_higher_targets_spend_more_bytes_and_look_better(clip):
    codec = ClassicalCodec(H264)
    frames, fps = clip
    low = _run(codec, clip, Point("16kbps", 16_000))
    high = _run(codec, clip, Point("128kbps", 128_000))
    low_kbps = count_bytes(low.messages, FRAMES - 1, fps).total_kbps
    high_kbps = count_bytes(high.messages, FRAMES - 1, fps).total_kbps
    assert low_kbps < high_kbps < 1.5 * 128
    assert psnr(frames[1:], low.frames).mean() < psnr(frames[1:], high.frames).mean()


def test_downscaled_coding_returns_full_size_frames(clip):
    codec = ClassicalCodec(AV1, scale=0.5)
    if codec.unavailable():
        pytest.skip(codec.unavailable())
    assert codec.name == "av1@0.5x"
    frames, _ = clip
    assert _run(codec, clip, Point(LOWEST, None)).frames.shape == frames[1:].shape
