"""``facecodec decode``: a stream file that ``facecodec encode`` wrote from the demo clip,
rendered on the CPU into a lossless video, against the receiver's own rendering of the decoded
parameters; damaged, truncated and newer files; and a decode on a machine without MediaPipe,
PyAV, aiortc or dlib. Frame counts are tiny: the CPU renders about a frame a second."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from facecodec import cli, demo_clip
from facecodec.codec import (
    FORMAT_VERSION,
    FrameDecoder,
    MessageType,
    StreamReader,
    decode_keyframe,
    parse_message,
)
from facecodec.codec.stream import FILE_HEADER_BYTES
from facecodec.receiver.concealment import interpolate
from facecodec.receiver.receiver import Receiver
from facecodec.types import FrameParams, Keyframe

FRAMES = 8
"""Encoded; every 2nd is sent (frame interval 2): frames 2, 4 and 6, one to a message (the
bundler sends a frame after a quiet spell at once, and bundles of 2 sent frames close when
the next sent frame comes)."""
SHOWN = [2, 3, 4, 5, 6]
"""What a receiver shows: from the first frame sent after the keyframe (frame 0) to the last
one sent (frame 7 is skipped and nothing later comes to interpolate towards)."""
FORBIDDEN = ("mediapipe", "av", "aiortc", "dlib")


@pytest.fixture(scope="module")
def stream(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.set_num_threads(2)  # the machine is shared
    path = tmp_path_factory.mktemp("decode") / "demo.fcs"
    args = ["encode", str(demo_clip()), "-o", str(path), "--frames", str(FRAMES)]
    assert cli.main([*args, "--frame-interval", "2", "--bundle", "2", "--quiet"]) == 0
    return path


@pytest.fixture(scope="module")
def receiver() -> Receiver:
    return Receiver(device="cpu")


def read_video(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def records(path: Path) -> list[tuple[int, bytes]]:
    with open(path, "rb") as file:
        return list(StreamReader(file).records())


def decoded_stream(path: Path, receiver: Receiver) -> tuple[Keyframe, dict[int, FrameParams]]:
    """The keyframe and the frames the file carries, decoded by the codec alone."""
    model, decoder = receiver.face_model, FrameDecoder()
    keyframe, frames = None, {}
    for _, message in records(path):
        if parse_message(message) == MessageType.KEYFRAME:
            keyframe, op = decode_keyframe(message)
            decoder.set_keyframe(keyframe, op)
            identity = keyframe.identity
            decoder.keypoint_predictor = lambda p, k, a=identity: model.keypoints(a, p, k)
        else:
            frames.update((p.seq, p) for p in decoder.decode(message))
    assert keyframe is not None
    return keyframe, frames


def test_decode_shows_the_sent_frames_and_interpolates_the_skipped(
    stream: Path, receiver: Receiver, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "demo.mkv"
    assert cli.main(["decode", str(stream), "-o", str(out), "--device", "cpu", "--quiet"]) == 0
    summary = capsys.readouterr().out
    assert f"{stream.stat().st_size} B read" in summary
    assert "3 received, 2 interpolated, 0 held" in summary
    video = read_video(out)
    keyframe, sent = decoded_stream(stream, receiver)
    assert sorted(sent) == [2, 4, 6]
    receiver.set_keyframe(keyframe)
    expected = {seq: receiver.render([sent[seq]])[0] for seq in sent}
    for seq in (3, 5):
        between = interpolate(sent[seq - 1], sent[seq + 1], 0.5, seq)
        expected[seq] = receiver.render([between])[0]
    assert len(video) == len(SHOWN)
    for seq, image in zip(SHOWN, video, strict=True):
        np.testing.assert_array_equal(image, expected[seq], err_msg=f"frame {seq}")


def test_truncated_file_keeps_the_frames_before_the_cut(
    stream: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    last_offset = records(stream)[-1][0]
    cut = tmp_path / "cut.fcs"
    cut.write_bytes(stream.read_bytes()[: last_offset + 6])
    out = tmp_path / "cut.mkv"
    assert cli.main(["decode", str(cut), "-o", str(out), "--device", "cpu", "--quiet"]) == 2
    error = capsys.readouterr().err
    assert f"truncated: record 3 at byte {last_offset}: 2 of" in error
    # The messages of frames 2 and 4 arrived whole: 2, 3 and 4 are shown.
    assert len(read_video(out)) == 3


def test_damaged_message_names_its_offset(
    stream: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = bytearray(stream.read_bytes())
    offset = records(stream)[-1][0]
    data[offset + 4] &= 0xF0  # the message's type: 0 is none
    damaged = tmp_path / "damaged.fcs"
    damaged.write_bytes(bytes(data))
    out = tmp_path / "damaged.mkv"
    assert cli.main(["decode", str(damaged), "-o", str(out), "--device", "cpu", "--quiet"]) == 2
    assert f"type: message at byte {offset}: unknown message type 0" in capsys.readouterr().err
    assert len(read_video(out)) == 3


@pytest.mark.parametrize(
    ("version", "why"),
    [
        (FORMAT_VERSION + 1, "a newer facecodec wrote it"),
        (1, "an older facecodec wrote it (older versions are not read: re-encode the source)"),
    ],
)
def test_another_format_version_is_a_clear_error(
    stream: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], version: int, why: str
) -> None:
    data = bytearray(stream.read_bytes())
    data[FILE_HEADER_BYTES - 3] = version
    other = tmp_path / "other.fcs"
    other.write_bytes(bytes(data))
    assert cli.main(["decode", str(other), "-o", str(tmp_path / "x.mkv"), "--quiet"]) == 2
    error = capsys.readouterr().err
    other_version = f"stream file of format version {version}: {why}"
    assert f"facecodec decode: error: version: {other_version}" in error
    with pytest.raises(ValueError, match="bad magic"):
        StreamReader(io.BytesIO(b"not a stream"))


def test_decode_runs_without_mediapipe_pyav_aiortc_or_dlib(stream: Path, tmp_path: Path) -> None:
    """In a fresh process where those cannot be imported: nothing imports them when the command
    loads, and the video comes out through OpenCV, frame for frame as PyAV writes it."""
    out, reference = tmp_path / "opencv.mkv", tmp_path / "pyav.mkv"
    decode = ["decode", str(stream), "--device", "cpu", "--quiet"]
    assert cli.main([*decode, "-o", str(reference)]) == 0
    script = (
        "import sys\n"
        f"for name in {FORBIDDEN!r}: sys.modules[name] = None\n"
        "from facecodec import cli\n"
        "cli.build_parser('decode')\n"
        "import facecodec.commands.decode\n"
        f"print('loaded', sorted(n for n in {FORBIDDEN!r} if sys.modules.get(n)))\n"
        f"sys.exit(cli.main({[*decode, '-o', str(out)]!r}))\n"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "2"}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert "loaded []" in done.stdout
    video, expected = read_video(out), read_video(reference)
    assert len(video) == len(expected) == len(SHOWN)
    for image, same in zip(video, expected, strict=True):
        np.testing.assert_array_equal(image, same)
