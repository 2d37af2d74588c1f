"""The commands as a person runs them: ``facecodec receive`` and ``facecodec send`` in two
processes (a wrong token, then a call; a receiver stopped by SIGTERM mid-call), and
``facecodec call``; few CPU-rendered frames each."""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import pytest
from call_inputs import clip

from facecodec.benchmark.clips import read_video

TOKEN = "cli-test-token-0123"
TIMEOUT_S = 120

# Three or four processes that each load torch and MediaPipe: 25-45 s apiece on 2 busy cores.
pytestmark = pytest.mark.slow


def facecodec(*args: str, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "FACECODEC_TOKEN": TOKEN, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "facecodec", *args]
    return subprocess.Popen(command, env=env, text=True, stdout=subprocess.PIPE, **kwargs)


def looped(source: Path, out: Path, times: int) -> Path:
    """``source`` played ``times`` over, as one H.264 file."""
    frames, fps = read_video(source)
    with av.open(str(out), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        for image in frames * times:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode())
    return out


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_receive_refuses_a_wrong_token_then_redraws_a_sender(tmp_path) -> None:
    address = f"127.0.0.1:{free_port()}"
    video = tmp_path / "received.mp4"
    receiver = facecodec(
        "receive", "--listen", address, "--calls", "1", "--device", "cpu", "--output",
        str(video), "--side-by-side", "--render", "all", "--render-every", "40", "--quiet",
    )  # fmt: skip
    try:
        send = ("send", "--to", address, "--input", str(clip()), "--frames", "60", "--quiet")
        wrong = facecodec(*send, "--token", "not-the-token", stderr=subprocess.PIPE)
        _, error = wrong.communicate(timeout=TIMEOUT_S)
        assert wrong.returncode == 2 and "wrong token" in error

        log = tmp_path / "send.jsonl"
        sender = facecodec(*send, "--log", str(log))
        summary, _ = sender.communicate(timeout=TIMEOUT_S)
        assert sender.returncode == 0, summary
        assert "the input ended: 60 frames" in summary
        assert log.with_suffix(".png").stat().st_size > 0
        output, _ = receiver.communicate(timeout=TIMEOUT_S)
    finally:
        receiver.kill()
    assert receiver.returncode == 0, output
    with av.open(str(video)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert frames and frames[0].shape == (256, 512, 3)  # keyframe | redrawn


def test_call_command_stopped_by_ctrl_c_still_writes_video_report_and_plot(tmp_path) -> None:
    """The first Ctrl-C ends the input as its end would: the call finishes and nothing of
    what was captured is lost."""
    call = facecodec(
        "call", "--input", str(clip()), "--render-every", "40", "--output", str(tmp_path),
        "--device", "cpu", stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        wait_for_line(call, lambda line: "decoded" in line and "decoded 0 " not in line)
        call.send_signal(signal.SIGINT)
        output, errors = call.communicate(timeout=TIMEOUT_S)
    finally:
        call.kill()
    assert call.returncode == 0, errors
    assert "ending the call" in errors and "# Loopback call" in output
    report = json.loads((tmp_path / "report.json").read_text())
    frames = report["frames"]
    with av.open(str(clip())) as container:
        clip_frames = container.streams.video[0].frames
    assert 0 < frames["decoded"] <= frames["sent"] <= frames["captured"] < clip_frames
    assert frames["rendered"] >= 1
    assert report["bitrate"]["max_1s_payload_kbps"] <= 2.2
    for name in ("report.md", "bitrate.png", "decisions.jsonl"):
        assert (tmp_path / name).stat().st_size > 0
    with av.open(str(tmp_path / "call.mp4")) as container:
        assert len([f for f in container.decode(video=0)]) == frames["rendered"]


def test_sigterm_stops_a_receiver_mid_call_as_ctrl_c_does(tmp_path) -> None:
    """``docker stop`` sends SIGTERM: the receiver finishes its video file and hangs up."""
    address = f"127.0.0.1:{free_port()}"
    video = tmp_path / "received.mp4"
    receiver = facecodec(
        "receive", "--listen", address, "--device", "cpu", "--output", str(video),
        "--no-window", stderr=subprocess.PIPE,
    )  # fmt: skip
    # The clip three times over (36 s): the receiver's first status line with decoded frames
    # can come 10 s into the call on a loaded machine, and the sender must still be sending
    # when the receiver stops, or it ends with its input instead of seeing the hang-up.
    long_input = looped(clip(), tmp_path / "long.mp4", times=3)
    sender = facecodec("send", "--to", address, "--input", str(long_input), "--quiet")
    try:
        # A status line every few seconds: once it shows decoded frames, the call is on.
        wait_for_line(receiver, lambda line: "decoded" in line and "decoded 0 " not in line)
        receiver.send_signal(signal.SIGTERM)
        output, _ = receiver.communicate(timeout=TIMEOUT_S)
        summary, _ = sender.communicate(timeout=TIMEOUT_S)
    finally:
        receiver.kill()
        sender.kill()
    assert receiver.returncode == 0, output
    assert f"wrote {video}" in output
    with av.open(str(video)) as container:
        assert len([f for f in container.decode(video=0)]) >= 1
    assert sender.returncode == 0 and "the receiver hung up" in summary


def wait_for_line(process: subprocess.Popen, wanted: Callable[[str], bool]) -> None:
    """Read ``process``'s stderr until a line is ``wanted`` (at most TIMEOUT_S)."""
    assert process.stderr is not None
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        ready, _, _ = select.select([process.stderr], [], [], 1.0)
        line = process.stderr.readline() if ready else ""
        if wanted(line):
            return
        assert process.poll() is None, f"exited with {process.returncode}"
    raise TimeoutError("no such line")
