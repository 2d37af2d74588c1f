"""Benchmark inputs: video files decoded with PyAV and cropped to square face frames."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from .face_crop import ClipCropper

DEFAULT_FPS = 25.0


@dataclass
class BenchClip:
    """One input video, as the methods and metrics see it."""

    name: str
    """Unique name in the run (the file's stem)."""
    identity: str
    """Person in the clip (the file's stem unless a data listing says otherwise)."""
    frames: np.ndarray
    """(N, S, S, 3) uint8 RGB face crops."""
    fps: float


def read_video(path: Path, max_frames: int | None = None) -> tuple[np.ndarray, float]:
    """((N, H, W, 3) uint8 RGB frames, frames per second) of a video file."""
    frames = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate or DEFAULT_FPS)
        for frame in container.decode(stream):
            frames.append(frame.to_ndarray(format="rgb24"))
            if max_frames is not None and len(frames) >= max_frames:
                break
    if not frames:
        raise ValueError(f"{path}: no video frames")
    return np.stack(frames), fps


def load_clip(
    path: Path,
    cropper: ClipCropper,
    identity: str | None = None,
    max_frames: int | None = None,
) -> BenchClip:
    """Decode ``path`` (at most ``max_frames``) and crop its face."""
    frames, fps = read_video(path, max_frames)
    return BenchClip(path.stem, identity or path.stem, cropper(frames), fps)
