"""``facecodec bench`` in stages: encode and score here, render in a process that cannot import
MediaPipe, PyAV, aiortc or dlib (as on a GPU server with torch only), reproduces the numbers of
a one-process run on a short real clip, scoring every 2nd frame; each stage resumes. Four
frames: the CPU renders about a frame a second."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from shared_data import DATA_DIR

from facecodec.benchmark.render_stage import render_run
from facecodec.cli import main

CLIP = DATA_DIR / "train" / "obama__000.mp4"
ARGS = [str(CLIP), "--bitrates", "8kbps", "--max-frames", "4", "--frame-stride", "2"]
ARGS += [
    "--feature-stride",
    "1",
    "--methods",
    "facecodec,baseline,h264",
    "--facecodec-points",
    "k0-e16-q2-f1",
]
FORBIDDEN = ("mediapipe", "av", "aiortc", "dlib")
TIMES = ("sender_ms_per_frame", "receiver_ms_per_frame")
pytestmark = pytest.mark.slow  # about a minute on two busy cores


def entries(out: Path) -> dict[str, dict]:
    """The run's entries by key, without the times (which differ from run to run)."""
    found = json.loads((out / "results.json").read_text())["entries"]
    keyed = {(e["mode"], e["clip"], e["method"], e["point"]): e for e in found}
    return {key: {k: v for k, v in e.items() if k not in TIMES} for key, e in keyed.items()}


def render_elsewhere(out: Path) -> subprocess.CompletedProcess:
    script = (
        "import sys\n"
        f"for name in {FORBIDDEN!r}: sys.modules[name] = None\n"
        "from facecodec import cli\n"
        f"sys.exit(cli.main(['bench', '--stage', 'render', '--out', {str(out)!r}, "
        "'--device', 'cpu']))\n"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "2"}
    return subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=600
    )


def test_staged_run_reproduces_the_one_process_run(tmp_path: Path) -> None:
    whole, staged = tmp_path / "whole", tmp_path / "staged"
    assert main(["bench", *ARGS, "--out", str(whole)]) == 0
    assert main(["bench", *ARGS, "--out", str(staged), "--stage", "encode"]) == 0
    streams = sorted(p.name for p in (staged / "streams").iterdir())
    assert len(streams) == 5  # facecodec at 8kbps and one grid point, baseline, h264 twice
    assert not (staged / "entries").exists()  # nothing scored yet
    done = render_elsewhere(staged)
    assert done.returncode == 0, done.stderr
    assert "rendered 3 entries" in done.stderr  # facecodec twice and the baseline
    assert render_run(staged, "cpu") == 0  # resumed: nothing left to draw
    assert main(["bench", *ARGS, "--out", str(staged), "--stage", "score"]) == 0
    one_process, in_stages = entries(whole), entries(staged)
    assert set(one_process) == set(in_stages) and len(one_process) == 5
    for key, entry in one_process.items():
        assert in_stages[key] == entry, key
