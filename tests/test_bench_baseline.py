"""The face-vid2vid baseline as a benchmark method, on a few frames of a real clip with the
shipped weights: the bytes it counts are codec messages that decode, without a face model, to
the detector's keypoints; targets buy rates; the receiver redraws the clip from those bytes, and
in reenactment draws what the model draws from uncoded keypoints."""

from __future__ import annotations

import numpy as np
import pytest
from shared_data import DATA_DIR

from facecodec.benchmark.baseline_method import BaselineMethod
from facecodec.benchmark.clips import read_video
from facecodec.benchmark.methods import MessageKind, MethodInput, Mode, Point
from facecodec.benchmark.metrics.pixels import psnr
from facecodec.codec import FrameDecoder, MessageType, decode_keyframe, parse_message
from facecodec.codec.frames import DEFAULT_HYSTERESIS
from facecodec.codec.image import DEFAULT_IMAGE_CODEC, DEFAULT_IMAGE_QUALITY, encode_image
from facecodec.codec.quantize import quant_tables

DATA = DATA_DIR / "train"
KEYFRAME_FIELDS_BYTES = 64
"""Keyframe message bytes beside the image: header, versions, pose, image header, CRC."""


@pytest.fixture(scope="module")
def method() -> BaselineMethod:
    return BaselineMethod("cpu")


@pytest.fixture(scope="module")
def clip() -> tuple[np.ndarray, float]:
    return read_video(DATA / "obama__000.mp4", max_frames=26)


def job(clip, target_bps: int, frames: int = 26, interval: int | None = None) -> MethodInput:
    images, fps = clip
    point = Point(f"{target_bps}bps", target_bps)
    return MethodInput(images[0], images[1:frames], fps, point, interval)


def test_shipped_weights_make_it_available(method):
    assert method.unavailable() is None
    assert [p.label for p in method.points([1000, 8000])] == ["1kbps", "8kbps"]


def test_counted_bytes_decode_to_the_detector_keypoints(method, clip):
    sent, op = method.send(job(clip, 8000))
    assert (op.keypoints, op.expression_dims) == (16, 0)
    kinds = [parse_message(m) for m in sent]
    assert kinds.count(MessageType.KEYFRAME) == 1 and kinds[0] == MessageType.KEYFRAME
    keyframe, keyframe_op = decode_keyframe(sent[0])
    assert keyframe_op == op and keyframe.identity.size == 0  # the baseline has no identity
    webp = encode_image(clip[0][0], DEFAULT_IMAGE_CODEC, DEFAULT_IMAGE_QUALITY)
    assert len(webp) < len(sent[0]) <= len(webp) + KEYFRAME_FIELDS_BYTES

    decoder = FrameDecoder()  # no face model: keypoints must be coded directly
    decoder.set_keyframe(keyframe, op)
    decoded = [p for m in sent[1:] for p in decoder.decode(m)]
    codec = method.codec()
    codec.set_keyframe(keyframe.image)
    measured = codec.encode(clip[0][1:], first_seq=1)
    sent_seqs = [p.seq for p in measured if p.seq % op.frame_interval == 0]
    assert [p.seq for p in decoded] == sent_seqs
    step = quant_tables().levels[op.quant_level].keypoint
    for p in decoded:
        error = np.abs(p.keypoints - measured[p.seq - 1].keypoints)
        assert error.max() <= (0.5 + DEFAULT_HYSTERESIS) * step + 1e-6


def test_targets_buy_rates(method, clip):
    seconds = 25 / clip[1]
    payload, ops = {}, {}
    for target in (1000, 8000):
        sent, ops[target] = method.send(job(clip, target))
        payload[target] = sum(len(m) for m in sent if parse_message(m) != MessageType.KEYFRAME)
    # A second of video: the finest points cost more than 1 kbps, the coarsest far less.
    assert 0 < payload[1000] <= 1000 * seconds / 8
    assert payload[1000] < payload[8000] <= 8000 * seconds / 8
    assert ops[8000].quant_level <= ops[1000].quant_level
    assert ops[8000].frame_interval <= ops[1000].frame_interval


@pytest.mark.slow  # about 20 s: the CPU receiver draws a frame in 1-3 s
def test_receiver_redraws_the_clip(method, clip):
    result = method.run(job(clip, 8000, frames=5))
    assert result.frames.shape == clip[0][1:5].shape
    kinds = [m.kind for m in result.messages]
    assert kinds[0] == MessageKind.KEYFRAME and kinds.count(MessageKind.KEYFRAME) == 1
    assert psnr(clip[0][1:5], result.frames).mean() > 18

    refreshed = method.run(job(clip, 8000, frames=5, interval=2))
    keyframes = [m for m in refreshed.messages if m.kind == MessageKind.KEYFRAME]
    assert len(keyframes) == 3  # frames 0, 2, 4


@pytest.mark.slow  # about 20 s
def test_reenactment_draws_what_the_model_draws_from_uncoded_keypoints(method, clip):
    images, fps = clip
    source = read_video(DATA / "lp_d14__103.mp4", max_frames=1)[0][0]
    reenact = MethodInput(source, images[1:5], fps, Point("8kbps", 8000), 2, Mode.REENACTMENT)
    result = method.run(reenact)
    assert [m.kind for m in result.messages].count(MessageKind.KEYFRAME) == 1  # no refresh
    keyframe, _ = decode_keyframe(method.send(reenact)[0][0])
    codec = method.codec()
    codec.set_keyframe(keyframe.image)
    uncoded = codec.render(codec.encode(images[1:5], first_seq=1))
    assert psnr(uncoded, result.frames).min() > 35  # the codec's quantisation costs little
    sources = np.stack([source] * 4)
    assert psnr(sources, result.frames).mean() > psnr(images[1:5], result.frames).mean()
