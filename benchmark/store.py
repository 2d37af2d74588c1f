"""A benchmark run's folder: finished entries and cached reference analyses, written atomically
so that an interrupted run resumes where it stopped.

    DIR/run.json                      settings that must not change between resumptions
    DIR/clips/<clip>.npz              reference analysis of a clip's driving frames
    DIR/entries/<key>.json, .npz      one finished (mode, clip, method, point): scores, bytes,
                                      times; the outputs' VGG feature moments
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .metrics.frechet import FeatureMoments
from .metrics.landmarks import Face68, FaceBox
from .scoring import FrameAnalysis, QualityScores


@dataclass
class EntryResult:
    """One method at one operating point on one clip."""

    mode: str
    clip: str
    method: str
    point: str
    target_bps: int | None
    source_clip: str
    """Clip whose first frame was the source (the clip itself in reconstruction)."""
    frames: int
    seconds: float
    keyframe_bytes: int
    keyframes: int
    payload_bytes: int
    frame_messages: int
    wire_bytes: int
    total_kbps: float
    payload_kbps: float
    wire_kbps: float
    sender_ms_per_frame: float
    receiver_ms_per_frame: float
    receiver_device: str
    scores: QualityScores

    @property
    def key(self) -> str:
        return entry_key(self.mode, self.clip, self.method, self.point)

    @classmethod
    def from_json(cls, data: dict) -> EntryResult:
        return cls(**{**data, "scores": QualityScores(**data["scores"])})


def entry_key(mode: str, clip: str, method: str, point: str) -> str:
    return "__".join((mode, clip, method, point))


def _atomic_write(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    os.replace(tmp, path)


def _write_npz(path: Path, **arrays: np.ndarray) -> None:
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)

    _atomic_write(path, write)


class RunStore:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def check_settings(self, settings: dict) -> None:
        """Record the run's settings, or refuse to resume a folder made with others."""
        path = self.directory / "run.json"
        if path.exists():
            before = json.loads(path.read_text())
            if before != settings:
                raise ValueError(
                    f"{self.directory} holds a run with other settings ({before}); "
                    f"use another --out or the same settings ({settings})"
                )
            return
        _atomic_write(path, lambda tmp: tmp.write_text(json.dumps(settings, indent=1)))

    def has(self, key: str) -> bool:
        return (self.directory / "entries" / f"{key}.json").exists()

    def save_entry(self, entry: EntryResult, moments: FeatureMoments) -> None:
        base = self.directory / "entries" / entry.key
        _write_npz(base.with_suffix(".npz"), count=np.array(moments.count),
                   total=moments.total, outer=moments.outer)  # fmt: skip
        text = json.dumps(asdict(entry), indent=1)
        _atomic_write(base.with_suffix(".json"), lambda tmp: tmp.write_text(text))

    def entries(self) -> list[tuple[EntryResult, FeatureMoments]]:
        out = []
        for path in sorted((self.directory / "entries").glob("*.json")):
            entry = EntryResult.from_json(json.loads(path.read_text()))
            with np.load(path.with_suffix(".npz")) as z:
                moments = FeatureMoments(int(z["count"]), z["total"], z["outer"])
            out.append((entry, moments))
        return out

    def save_analysis(self, clip: str, analysis: FrameAnalysis) -> None:
        found = [f is not None for f in analysis.faces]
        boxes = [
            (f.box.left, f.box.top, f.box.right, f.box.bottom) if f else (0, 0, 0, 0)
            for f in analysis.faces
        ]
        points = [f.points if f else np.zeros((68, 2), np.float32) for f in analysis.faces]
        _write_npz(
            self.directory / "clips" / f"{clip}.npz",
            found=np.array(found, bool),
            detected=np.array([bool(f and f.detected) for f in analysis.faces]),
            boxes=np.array(boxes, np.int64).reshape(-1, 4),
            points=np.array(points, np.float32).reshape(-1, 68, 2),
            emotion=analysis.emotion,
            identity=analysis.identity,
            vgg=analysis.vgg,
            pose_deg=analysis.pose_deg,
        )

    def load_analysis(self, clip: str) -> FrameAnalysis | None:
        path = self.directory / "clips" / f"{clip}.npz"
        if not path.exists():
            return None
        with np.load(path) as z:
            faces = [
                Face68(FaceBox(*map(int, box)), pts, bool(det)) if ok else None
                for ok, det, box, pts in zip(
                    z["found"], z["detected"], z["boxes"], z["points"], strict=True
                )
            ]
            return FrameAnalysis(faces, z["emotion"], z["identity"], z["vgg"], z["pose_deg"])
