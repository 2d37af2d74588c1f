"""Validation that the sender does not grade, split as on the machines: a held-out clip's
first frames through the real sender and codec (CPU), rendered in a process that cannot import
MediaPipe, PyAV, aiortc or dlib (as on the GPU machine, here on the CPU), and scored with the
benchmark's dlib and pixel metrics against the real frames."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import pytest
from training_inputs import DATA_DIR, VGG

from facecodec.training import validation_encode, validation_render, validation_score
from facecodec.training.data import decode_clip
from facecodec.training.splits import split_clips

FRAMES = 11
"""The keyframe's source and ten driving frames: seqs 5 and 10 are scored."""
GPU_MACHINE = """
import sys
for name in ("mediapipe", "av", "aiortc", "dlib"):
    sys.modules[name] = None  # what the GPU machine lacks
from facecodec.training.validation_render import main
sys.argv = ["validation_render", *sys.argv[1:]]
main()
"""


def test_a_held_out_clip_is_encoded_rendered_without_the_sender_and_scored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, validation = split_clips(DATA_DIR)
    frames = decode_clip(validation[0].path)[:FRAMES]
    (tmp_path / "data" / "train").mkdir(parents=True)
    video = cv2.VideoWriter(
        str(tmp_path / "data" / "train" / "clip.mkv"),
        cv2.VideoWriter_fourcc(*"FFV1"),
        25,
        (256, 256),
    )
    for frame in frames:
        video.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    video.release()
    streams = tmp_path / "validation"
    streams.mkdir()
    entry = validation_encode.encode_clip(tmp_path / "data" / "train" / "clip.mkv", "clip", streams)
    labels = ["1kbps", "2kbps", "4kbps"]
    manifest = {"clips": [entry], "labels": labels, "stride": validation_encode.SCORE_STRIDE}
    (streams / validation_render.MANIFEST).write_text(json.dumps(manifest))

    renders = tmp_path / "renders"
    env = {**os.environ, "OMP_NUM_THREADS": "2"}
    command = [sys.executable, "-c", GPU_MACHINE, str(streams), "--out", str(renders)]
    subprocess.run([*command, "--device", "cpu"], check=True, env=env)

    monkeypatch.setenv("FACECODEC_VGG16", os.environ.get("FACECODEC_VGG16", str(VGG)))
    table = validation_score.score(renders, streams, tmp_path / "data")
    assert list(table) == [*labels, validation_render.RAW]
    for label, row in table.items():
        # crops put back where the sender cut them: landmarks land near the real ones
        assert row["akd"] is not None and row["akd"] < 8.0, (label, row)
        assert row["psnr"] > 15.0, (label, row)
        assert (row["payload_kbps"] is None) == (label == validation_render.RAW)
