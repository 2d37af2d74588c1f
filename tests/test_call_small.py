"""The README's demo on a CPU with the shipped small model: ``facecodec call`` renders every
frame the receiver puts out (no --render-every) and the report names the model."""

from __future__ import annotations

import json
import subprocess
import sys

import av

from facecodec import demo_clip

FRAMES = 75
TIMEOUT_S = 300


def test_demo_call_renders_every_output_frame_with_the_small_model(tmp_path) -> None:
    command = [sys.executable, "-m", "facecodec", "call", "--input", str(demo_clip())]
    command += ["--frames", str(FRAMES), "--device", "cpu", "--output", str(tmp_path), "--quiet"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_S)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["latency_ms"]["render_model"] == "small on cpu"
    frames = report["frames"]
    # Every frame put out is rendered, and every frame decoded is put out (how many the sender
    # sent depends on how soon the prior released them: a stalled one's come too late to send).
    assert frames["rendered"] == sum(frames["output"].values()) >= frames["decoded"] > 0
    with av.open(str(tmp_path / "call.mp4")) as container:
        written = sum(1 for _ in container.decode(video=0))
    assert written == frames["rendered"]
    assert "(small on cpu)" in (tmp_path / "report.md").read_text()
