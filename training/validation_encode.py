"""Validation that the sender does not grade, CPU side: whole held-out clips through the real
sender and codec, for the GPU to render (training/validation_render.py) and the CPU to score
with the benchmark's metrics (training/validation_score.py).

    python -m facecodec.training.validation_encode [--data ../shared/data] [--out .gpu-validation]

For each clip of a validation identity (training/splits.py) of at least 10 s, sent as the
benchmark's reconstruction job sends it (benchmark/facecodec_method.py: the first frame is the
keyframe's source, the others drive; the controller holds each target with the shipped rate
table): one stream file per target (``{stem}.{label}.fcs``), and in ``{stem}.npz`` where each
frame's view (the keyframe's crop the receiver draws) sits, plus the raw-parameter ceiling: the
sender's unquantised parameters of every frame (in its view's coordinates) and the crops of the
frames where it takes a new keyframe.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from facecodec.benchmark.clips import read_video
from facecodec.benchmark.facecodec_method import FacecodecMethod
from facecodec.benchmark.methods import MethodInput, Point, target_label
from facecodec.codec import StreamWriter
from facecodec.sender.crop import CropBox
from facecodec.sender.prior import MediaPipePrior, PriorFrame
from facecodec.training.splits import split_clips
from facecodec.training.validation_render import MANIFEST
from facecodec.types import MAX_EXPRESSION_DIMS

REPO = Path(__file__).resolve().parents[1]
TARGETS_BPS = (1000, 2000, 4000)
MIN_SECONDS = 10.0
SCORE_STRIDE = 5
"""Every 5th frame is rendered and scored (as the issue's measurement of the shipped weights)."""


def box_rows(boxes: dict[int, CropBox | None], count: int) -> np.ndarray:
    """(count, 3) int32 x, y, side by seq; -1 where the sender has no view."""
    rows = np.full((count, 3), -1, np.int32)
    for seq, box in boxes.items():
        if box is not None and seq < count:
            rows[seq] = (box.x, box.y, box.side)
    return rows


def raw_parameters(frames: np.ndarray) -> dict[str, np.ndarray]:
    """The sender's own output for every frame (seq = frame index), unquantised."""
    prior = MediaPipePrior()
    out: list[PriorFrame] = []
    for seq, frame in enumerate(frames):
        out.extend(prior.process(frame, seq))
    out.extend(prior.flush())
    prior.close()
    out.sort(key=lambda f: f.params.seq)
    keyframes = [f for f in out if f.new_crop and f.crop is not None and f.params.face]
    identity_dims = len(next(f.identity for f in out if f.identity is not None))
    return {
        "raw_rotation": np.stack([f.params.rotation for f in out]),
        "raw_translation": np.stack([f.params.translation for f in out]),
        "raw_scale": np.array([f.params.scale for f in out], np.float32),
        "raw_expression": np.stack([f.params.full_expression(MAX_EXPRESSION_DIMS) for f in out]),
        "raw_face": np.array([f.params.face for f in out]),
        "raw_identity": np.stack(
            [f.identity if f.identity is not None else np.zeros(identity_dims) for f in out]
        ).astype(np.float32),
        "raw_box": box_rows({f.params.seq: f.box for f in out}, len(frames)),
        "raw_keyframe_seq": np.array([f.params.seq for f in keyframes], np.int32),
        "raw_keyframe_crop": np.stack([f.crop for f in keyframes]),
    }


def encode_clip(path: Path, stem: str, out: Path) -> dict:
    """Stream files and ``{stem}.npz`` of one clip; returns its manifest entry."""
    frames, fps = read_video(path)
    method = FacecodecMethod()
    arrays = {}
    for bps in TARGETS_BPS:
        label = target_label(bps)
        job = MethodInput(frames[0], frames[1:], fps, Point(label, bps), None)
        messages, boxes = method.send(job)
        with open(out / f"{stem}.{label}.fcs", "wb") as file:
            writer = StreamWriter(file, fps)
            for message in messages:
                writer.write(message)
        arrays[f"box_{label}"] = box_rows(boxes, len(frames))
    arrays |= raw_parameters(frames)
    np.savez_compressed(out / f"{stem}.npz", **arrays)
    return {"stem": stem, "file": path.name, "frames": len(frames), "fps": fps}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=REPO / ".gpu-validation")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    _, validation = split_clips(args.data)
    clips = [c for c in validation if c.frames >= MIN_SECONDS * 25]
    entries = []
    for clip in clips:
        start = time.perf_counter()
        entries.append(
            encode_clip(clip.path, clip.path.stem, args.out) | {"identity": clip.identity}
        )
        seconds = time.perf_counter() - start
        print(f"{clip.path.name}: {clip.frames} frames in {seconds:.0f} s", flush=True)
    labels = [target_label(b) for b in TARGETS_BPS]
    manifest = {"clips": entries, "labels": labels, "stride": SCORE_STRIDE}
    (args.out / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")


if __name__ == "__main__":
    main()
