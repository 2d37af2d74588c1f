"""Run the MediaPipe face mesh over every clip of ../shared/data (video mode, one tracker per
clip) and save all landmarks in one file.

    python -m facecodec.training.extract_landmarks [--data ../shared/data]
        [--out .cache/landmarks.npz] [--workers 2]

Output arrays: ``landmarks`` (N, 478, 3) float16 in pixels of the 256x256 clip (z scaled like x),
``found`` (N,) bool, ``clip_files`` (C,) str, ``clip_identity`` (C,) str, ``clip_start`` (C,)
int64 and ``clip_frames`` (C,) int64 (frames decoded, the offsets into the per-frame arrays).
"""

from __future__ import annotations

import argparse
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from tqdm import tqdm

from facecodec.training.splits import read_clips

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data"
DEFAULT_OUT = REPO / ".cache" / "landmarks.npz"


def decode_clip(path: Path) -> list[np.ndarray]:
    """Every frame of a video file as RGB uint8 arrays."""
    import av

    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def _landmark_clip(path: str) -> tuple[str, np.ndarray, np.ndarray]:
    from facecodec.sender.landmarks import NUM_LANDMARKS, FaceLandmarker

    frames = decode_clip(Path(path))
    out = np.zeros((len(frames), NUM_LANDMARKS, 3), np.float32)
    found = np.zeros(len(frames), bool)
    with FaceLandmarker(video=True, max_faces=1) as landmarker:
        for i, frame in enumerate(frames):
            pts = landmarker(frame)
            if pts is not None:
                out[i] = pts
                found[i] = True
    return path, out, found


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--limit", type=int, default=0, help="first n clips only (testing)")
    args = parser.parse_args(argv)

    clips = read_clips(args.data)
    if args.limit:
        clips = clips[: args.limit]
    results: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    total = sum(c.frames for c in clips)
    os.environ.setdefault("GLOG_minloglevel", "2")
    with (
        ProcessPoolExecutor(args.workers) as pool,
        tqdm(total=total, unit="frame", desc="landmarks") as bar,
    ):
        # Longest clips first keeps both workers busy to the end.
        order = sorted(clips, key=lambda c: -c.frames)
        for path, pts, found in pool.map(_landmark_clip, [str(c.path) for c in order]):
            results[path] = (pts, found)
            bar.update(len(found))

    lengths = np.array([len(results[str(c.path)][1]) for c in clips], np.int64)
    for c, n in zip(clips, lengths, strict=True):
        if n != c.frames:
            print(f"note: {c.path.name} decodes to {n} frames, train.tsv says {c.frames}")
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    landmarks = np.concatenate([results[str(c.path)][0] for c in clips]).astype(np.float16)
    found = np.concatenate([results[str(c.path)][1] for c in clips])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        args.out,
        landmarks=landmarks,
        found=found,
        clip_files=np.array([c.path.name for c in clips]),
        clip_identity=np.array([c.identity for c in clips]),
        clip_start=starts,
        clip_frames=lengths,
    )
    print(
        f"{len(clips)} clips, {len(found)} frames, face found in {found.mean():.2%} -> {args.out}"
    )


if __name__ == "__main__":
    main()
