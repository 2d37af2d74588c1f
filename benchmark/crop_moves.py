"""How often the sender's view (the keyframe's crop) would move on the training clips, for a
few redraw ranges: the measurement behind ``sender.crop.REDRAW_WIDENING`` (docs/sender.md,
"Crop"). Each move of the view costs a keyframe; moves of the analysis crop cost nothing.

    python -m facecodec.benchmark.crop_moves [--landmarks .cache/landmarks.npz]
        [--out runs/crop_moves.json]

Replays each clip's MediaPipe landmarks (``python -m facecodec.training.extract_landmarks``)
through ``FaceCropper`` as a 256x256 input. The training clips are the receiver's own domain,
so a good range rarely moves on them. ``redraw_widening`` 0.5 (the analysis crop's range) is
the sender before the view was kept apart from the analysis crop: a keyframe at every move.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from facecodec.sender.crop import CropBox, CropConfig, FaceCropper
from facecodec.sender.face_model import FaceModel

REPO = Path(__file__).resolve().parents[1]
DEFAULT_LANDMARKS = REPO / ".cache" / "landmarks.npz"
DEFAULT_OUT = REPO / "runs" / "crop_moves.json"
WIDENINGS = (0.5, 1.0, 1.5, 2.0)
CLIP_SIDE_PX = 256
FPS = 25.0
MOST = 5
"""Clips listed with the most moves, per range."""


def replay(cropper: FaceCropper, landmarks: np.ndarray, found: np.ndarray) -> tuple[int, bool]:
    """(moves of the view after the first, whether the first is the whole frame) of one
    clip."""
    cropper.reset()
    moves, whole = 0, True
    shape = (CLIP_SIDE_PX, CLIP_SIDE_PX)
    for points, ok in zip(landmarks, found, strict=True):
        if not ok:
            cropper.lost()
            continue
        first = cropper.view is None
        update = cropper.update(points.astype(np.float32), shape)
        if first:
            whole = update.view == CropBox(0, 0, CLIP_SIDE_PX)
        else:
            moves += update.new_view
    return moves, whole


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--landmarks", type=Path, default=DEFAULT_LANDMARKS)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)

    with np.load(args.landmarks) as z:
        landmarks, found = z["landmarks"], z["found"]
        starts, counts, files = z["clip_start"], z["clip_frames"], z["clip_files"]
    model = FaceModel.load()
    minutes = counts.sum() / FPS / 60
    rows = []
    for widening in WIDENINGS:
        cropper = FaceCropper(model, CropConfig(redraw_widening=widening))
        clips = [
            replay(cropper, landmarks[s : s + n], found[s : s + n])
            for s, n in zip(starts, counts, strict=True)
        ]
        moves = np.array([m for m, _ in clips])
        row = {
            "redraw_widening": widening,
            "moves": int(moves.sum()),
            "moves_per_minute": float(moves.sum() / minutes),
            "clips_with_moves": float((moves > 0).mean()),
            "clips_not_taken_whole": float(np.mean([not whole for _, whole in clips])),
            "most_moves": {str(files[i]): int(moves[i]) for i in np.argsort(-moves)[:MOST]},
        }
        rows.append(row)
        print(
            f"widening {widening:4.2f}: {row['moves']:4d} moves, "
            f"{row['moves_per_minute']:.2f} a minute, in {row['clips_with_moves']:.1%} of the "
            f"clips; first crop not the whole frame in {row['clips_not_taken_whole']:.1%}"
        )
    report = {"clips": len(counts), "minutes": float(minutes), "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
