"""One sending and one receiving path: ``facecodec encode`` then ``facecodec decode`` on a clip,
and the benchmark's facecodec method on the same frames and target, send the same bytes and
show the same frames (the CPU renders about a frame a second: six frames)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import av
import numpy as np
import torch

from facecodec import cli, demo_clip
from facecodec.benchmark.clips import read_video
from facecodec.benchmark.facecodec_method import FacecodecMethod
from facecodec.benchmark.facecodec_render import NO_KEYFRAME_GRAY
from facecodec.benchmark.methods import MethodInput, Point
from facecodec.codec import StreamReader

FRAMES = 7
TARGET_BPS = 2000


def test_encode_decode_and_the_bench_send_and_show_the_same(tmp_path: Path) -> None:
    torch.set_num_threads(2)  # the machine is shared
    stream, video = tmp_path / "demo.fcs", tmp_path / "demo.mkv"
    encode = ["encode", str(demo_clip()), "-o", str(stream), "--frames", str(FRAMES)]
    assert cli.main([*encode, "--bitrate", f"{TARGET_BPS}bps", "--quiet"]) == 0
    decode = ["decode", str(stream), "-o", str(video), "--device", "cpu", "--model", "large"]
    assert cli.main([*decode, "--quiet"]) == 0
    with open(stream, "rb") as file:
        reader = StreamReader(file)
        fps, encoded = reader.fps, list(reader)
    with av.open(str(video)) as container:
        decoded = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]

    frames, clip_fps = read_video(demo_clip(), max_frames=FRAMES)
    assert clip_fps == fps and frames.shape[1:] == (256, 256, 3)
    method = FacecodecMethod("cpu", grid=())
    job = MethodInput(frames[0], frames[1:], fps, Point("2kbps", TARGET_BPS), None)
    bitstream = method.encode(job)
    assert bitstream.messages == encoded
    # Placed on the whole frame (no crop boxes): the receiver's own images, frames 1..6.
    shown = method.renderer.render(dataclasses.replace(bitstream, boxes={})).frames
    gray = [i for i, image in enumerate(shown) if np.all(image == NO_KEYFRAME_GRAY)]
    assert len(decoded) == FRAMES - 1 - len(gray) > 0
    np.testing.assert_array_equal(np.stack(decoded), shown[len(gray) :])
