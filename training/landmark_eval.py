"""Landmark distance between validation outputs and their drivers (MediaPipe face mesh).

The GPU machine has no MediaPipe, so training brings its validation outputs back as JPEGs
(val_predictions.npz) and this script scores them on the CPU:

    python -m facecodec.training.landmark_eval runs/prior runs/baseline --data ../shared/data
"""

from __future__ import annotations

import argparse
import itertools
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from facecodec.sender.landmarks import FaceLandmarker
from facecodec.training.data import decode_clip
from facecodec.training.regions import MOUTH_LANDMARKS


@dataclass
class LandmarkScore:
    landmark_px: float
    """Mean 2D distance over all 478 landmarks, in pixels of the 256 crop."""
    mouth_px: float
    """The same over the 40 lip landmarks."""
    scored: int
    missed: int
    """Pairs where no face was found in the output or the driver."""


def read_predictions(path: Path) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """(RGB frames, clip file names, frame indices) of a val_predictions.npz."""
    with np.load(path, allow_pickle=False) as z:
        data, offsets = z["jpeg_bytes"], z["jpeg_offsets"]
        clips, frames = z["clip"].astype(str), z["frame"]
    images = [
        cv2.cvtColor(cv2.imdecode(data[a:b], cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        for a, b in itertools.pairwise(offsets)
    ]
    return images, clips, frames


def score(run_dir: Path, data_dir: Path) -> LandmarkScore:
    images, clips, frames = read_predictions(run_dir / "val_predictions.npz")
    decoded: dict[str, np.ndarray] = {}
    dists, mouth, missed = [], [], 0
    with FaceLandmarker(video=False) as landmarker:
        for image, clip, frame in tqdm(
            list(zip(images, clips, frames, strict=True)), desc=run_dir.name, unit="frame"
        ):
            if clip not in decoded:
                decoded[clip] = decode_clip(data_dir / "train" / clip)
            out, ref = landmarker(image), landmarker(decoded[clip][frame])
            if out is None or ref is None:
                missed += 1
                continue
            d = np.linalg.norm(out[:, :2] - ref[:, :2], axis=1)
            dists.append(d.mean())
            mouth.append(d[MOUTH_LANDMARKS].mean())
    return LandmarkScore(float(np.mean(dists)), float(np.mean(mouth)), len(dists), missed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("runs", type=Path, nargs="+")
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    args = parser.parse_args()
    for run in args.runs:
        print(json.dumps({"run": str(run), **asdict(score(run, args.data))}))


if __name__ == "__main__":
    main()
