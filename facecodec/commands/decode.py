"""``facecodec decode clip.fcs -o clip.mp4``: a stream file rendered into a video as a receiver
in a call shows it (call.receive_session's replay: frames the sender skipped interpolated,
keyframe changes followed), through the call's renderer.

Imports numpy, torch, safetensors, OpenCV and facecodec only (no MediaPipe, aiortc or dlib;
PyAV only to write the video where it is installed), so it runs on an inference server that has
torch and nothing else. A damaged or truncated file stops with an error naming the byte offset,
after every frame before the damage was written.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from facecodec.call.receive_session import ReceiveStats
from facecodec.call.render import RenderedFrame
from facecodec.call.replay import replaying
from facecodec.codec import BitstreamError, StreamReader
from facecodec.receiver.model_choice import add_model_arguments
from facecodec.receiver.output import OpenCvVideoOutput, VideoOutput, open_video
from facecodec.receiver.receiver import Receiver


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "decode", help="render a bitstream file into a video", description=__doc__
    )
    parser.add_argument("input", type=Path, help="stream file written by facecodec encode")
    parser.add_argument(
        "-o", "--output", type=Path, metavar="VIDEO",
        help="video to write (default: the input's name with .mp4); .mkv is lossless (FFV1)",
    )  # fmt: skip
    add_model_arguments(parser)
    parser.add_argument(
        "--size", type=int, metavar="N", help="output frames N x N (default: as rendered)"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(run=run)


@dataclass(frozen=True)
class DecodeResult:
    stats: ReceiveStats
    frames_written: int
    bytes_read: int
    seconds: float
    error: BitstreamError | None
    """What stopped the decoding early (a damaged or truncated file), if anything."""


def decode_file(
    path: Path, output: Path, receiver: Receiver, size: int | None = None, quiet: bool = True
) -> DecodeResult:
    """Render the stream file ``path`` into the video ``output`` (see the module docstring)."""
    start = time.perf_counter()
    with open(path, "rb") as file:
        reader = StreamReader(file)
        video = open_video(output, reader.fps)
        bar = tqdm(unit="frame", desc="decode", disable=quiet, file=sys.stderr)
        error = None
        try:
            with replaying(receiver, [_writer(video, size, bar)]) as session:
                try:
                    session.replay(reader.records(), reader.fps)
                except BitstreamError as exc:
                    error = exc
        finally:
            video.close()
            bar.close()
    seconds = time.perf_counter() - start
    return DecodeResult(session.stats, video.frames, reader.bytes_read, seconds, error)


def _writer(video: VideoOutput | OpenCvVideoOutput, size: int | None, bar: tqdm):
    def write(frame: RenderedFrame) -> None:
        video.write(_resized(frame.image, size), frame.due_ms)
        bar.update(1)

    return write


def _resized(image: np.ndarray, size: int | None) -> np.ndarray:
    if size is None or image.shape[0] == size:
        return image
    shrink = size < image.shape[0]
    interpolation = cv2.INTER_AREA if shrink else cv2.INTER_CUBIC
    return cv2.resize(image, (size, size), interpolation=interpolation)


def run(args: argparse.Namespace) -> int:
    if args.size is not None and args.size < 16:
        raise ValueError("--size must be at least 16")
    if not args.input.is_file():
        raise FileNotFoundError(f"{args.input}: no such file")
    output = args.output or args.input.with_suffix(".mp4")
    receiver = Receiver(device=args.device, model=args.model)
    result = decode_file(args.input, output, receiver, args.size, args.quiet)
    _print_summary(args.input, output, receiver, result)
    if result.error is not None:
        raise result.error
    return 0


def _print_summary(path: Path, output: Path, receiver: Receiver, result: DecodeResult) -> None:
    stats, seconds = result.stats, result.seconds
    shown = ", ".join(f"{count} {status}" for status, count in stats.output.items())
    print(
        f"{path}: {result.bytes_read} B read, {len(stats.keyframes)} keyframes, "
        f"{stats.messages} frame messages, {stats.frames_decoded} frames decoded"
    )
    print(f"output frames: {shown}")
    rate = result.frames_written / seconds if seconds > 0 else 0.0
    print(
        f"wrote {output} ({result.frames_written} frames) in {seconds:.1f} s, "
        f"{rate:.2f} frames per second on {receiver.device} ({receiver.model} model)"
    )
