"""``facecodec bench``: every method at every operating point on every clip, scored, resumable.

Reconstruction drives each clip's first frame with the rest of it. Reenactment drives the first
frame of the next clip of another identity (in input order, wrapping around) with each clip's
frames. Each finished (mode, clip, method, point) is written at once (store.py), so a rerun
skips it; the report (report.py) is made from whatever the folder holds.

In stages (``BenchConfig.stage``), the encode stage runs the senders and the classical codecs and
writes bitstreams and decoded frames into the folder (stage_files.py), the render stage
(render_stage.py, on a GPU) draws the bitstreams, and the score stage scores what was drawn; no
stage runs all three here, entry by entry.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .clips import BenchClip, load_clip
from .face_crop import ClipCropper
from .methods import (
    Method,
    MethodInput,
    MethodResult,
    Mode,
    NeuralMethod,
    Point,
    Rendering,
    counted_messages,
)
from .metrics.head_pose import pose_variance
from .rates import count_bytes
from .scoring import DEFAULT_FEATURE_STRIDE, FrameAnalysis, Scorer
from .stage_files import SentRecord, Stage, StageFiles
from .store import EntryResult, RunStore, entry_key


@dataclass(frozen=True)
class BenchConfig:
    videos: tuple[Path, ...]
    targets_bps: tuple[int, ...]
    out: Path
    modes: tuple[Mode, ...] = (Mode.RECONSTRUCTION,)
    device: str = "cpu"
    """Where the metric networks (and neural receivers) run."""
    keyframe_interval: int | None = None
    """Refresh the keyframe every N frames; None: the call's own mode."""
    max_frames: int | None = None
    """Use at most this many frames of each video."""
    feature_stride: int = DEFAULT_FEATURE_STRIDE
    frame_stride: int = 1
    """Score every n-th driving frame (a staged run brings only those back from the GPU)."""
    identities: tuple[tuple[str, str], ...] = ()
    """(clip name, identity) pairs known from a data listing; others are their own identity."""
    stage: Stage | None = None
    """Run only this stage (ENCODE or SCORE; RENDER is render_stage.py); None: all of them."""

    def settings(self) -> dict:
        """What a resumed run must share with the run that made the folder."""
        return {
            "keyframe_interval": self.keyframe_interval,
            "max_frames": self.max_frames,
            "feature_stride": self.feature_stride,
            "frame_stride": self.frame_stride,
        }


@dataclass
class ClipRecord:
    """A clip as the report needs it."""

    name: str
    identity: str
    frames: int
    fps: float
    pose_variance: float
    """Head-pose variance (deg^2) of its driving frames: the hard subset's key."""


@dataclass
class _Prepared:
    record: ClipRecord
    path: Path
    source: np.ndarray
    """(S, S, 3) the clip's first frame."""
    analysis: FrameAnalysis | None
    """Of the scored driving frames (every ``frame_stride``-th after the first); None in the
    encode stage."""


def reenactment_sources(records: Sequence[ClipRecord]) -> dict[str, str]:
    """Clip -> clip of another identity whose first frame it drives (next in order)."""
    out = {}
    for i, r in enumerate(records):
        for j in range(1, len(records)):
            other = records[(i + j) % len(records)]
            if other.identity != r.identity:
                out[r.name] = other.name
                break
    return out


class Bench:
    def __init__(
        self,
        config: BenchConfig,
        methods: Sequence[Method],
        cropper: ClipCropper,
        log: Callable[[str], None] = lambda text: print(text, file=sys.stderr),
    ) -> None:
        self.config = config
        self.methods = [m for m in methods if m.unavailable() is None]
        self.unavailable = {m.name: m.unavailable() for m in methods if m.unavailable()}
        self.cropper = cropper
        self.store = RunStore(config.out)
        self.scorer = Scorer(config.feature_stride, config.device)
        self.log = log
        self.missing = 0
        """Entries the score stage found not rendered yet."""

    def run(self) -> list[ClipRecord]:
        """Run every entry not yet in the folder; returns the clips' records."""
        self.store.check_settings(self.config.settings())
        for name, reason in self.unavailable.items():
            self.log(f"bench: {name} unavailable: {reason}")
        prepared = [
            self._prepare(p) for p in tqdm(self.config.videos, desc="reference", unit="clip")
        ]
        records = [p.record for p in prepared]
        by_name = {p.record.name: p for p in prepared}
        sources = reenactment_sources(records)
        if Mode.REENACTMENT in self.config.modes and not sources:
            self.log("bench: reenactment needs clips of at least two identities; skipped")
        jobs = [
            (mode, p, method, point)
            for p in prepared
            for mode in self.config.modes
            if mode == Mode.RECONSTRUCTION or p.record.name in sources
            for method in self.methods
            if mode in method.modes
            for point in method.points(self.config.targets_bps)
        ]
        with tqdm(total=len(jobs), desc="bench", unit="run") as bar:
            current: tuple[str, BenchClip] | None = None
            for mode, p, method, point in jobs:
                bar.set_postfix_str(f"{mode} {p.record.name} {method.name} {point.label}")
                if not self._done(entry_key(mode, p.record.name, method.name, point.label)):
                    if current is None or current[0] != p.record.name:
                        current = (p.record.name, self._load(p.path, p.record.identity))
                    source = p if mode == Mode.RECONSTRUCTION else by_name[sources[p.record.name]]
                    self._run_one(mode, current[1], p, source, method, point)
                bar.update()
        if self.missing:
            self.log(f"bench: {self.missing} entries not rendered yet (--stage render)")
        return records

    def _done(self, key: str) -> bool:
        if self.config.stage == Stage.ENCODE:
            return StageFiles(self.config.out, key).sent.exists()
        return self.store.has(key)

    def _identity(self, path: Path) -> str:
        return dict(self.config.identities).get(path.stem, path.stem)

    def _load(self, path: Path, identity: str) -> BenchClip:
        clip = load_clip(path, self.cropper, identity, self.config.max_frames)
        if len(clip.frames) < 2:
            raise ValueError(f"{path}: a clip needs at least two frames")
        return clip

    def _prepare(self, path: Path) -> _Prepared:
        """The clip's record and first frame, and its reference analysis unless the stage
        does not score."""
        clip = self._load(path, self._identity(path))
        if self.config.stage == Stage.ENCODE:
            record = ClipRecord(clip.name, clip.identity, len(clip.frames), clip.fps, math.nan)
            return _Prepared(record, path, clip.frames[0], None)
        analysis = self.store.load_analysis(clip.name)
        if analysis is None:
            analysis = self.scorer.analyse(clip.frames[1 :: self.config.frame_stride])
            self.store.save_analysis(clip.name, analysis)
        record = ClipRecord(
            clip.name, clip.identity, len(clip.frames), clip.fps, pose_variance(analysis.pose_deg)
        )
        return _Prepared(record, path, clip.frames[0], analysis)

    def _run_one(
        self,
        mode: Mode,
        clip: BenchClip,
        driver: _Prepared,
        source: _Prepared,
        method: Method,
        point: Point,
    ) -> None:
        driving = clip.frames[1:]
        scored = driving[:: self.config.frame_stride]
        job = MethodInput(
            source.source, driving, clip.fps, point, self.config.keyframe_interval, mode
        )
        start = time.perf_counter()
        key = entry_key(mode, clip.name, method.name, point.label)
        if self.config.stage == Stage.ENCODE:
            self._encode(job, method, StageFiles(self.config.out, key))
            return
        result = self._result(job, method, key)
        if result is None:
            self.missing += 1
            return
        if result.frames.shape != scored.shape:
            raise RuntimeError(f"{method.name} showed {result.frames.shape}, not {scored.shape}")
        assert driver.analysis is not None and source.analysis is not None
        if mode == Mode.RECONSTRUCTION:
            scores, moments = self.scorer.reconstruction(driver.analysis, scored, result.frames)
        else:
            scores, moments = self.scorer.reenactment(
                source.analysis, driver.analysis, result.frames
            )
        counts = count_bytes(result.messages, len(driving), clip.fps)
        n = len(driving)
        entry = EntryResult(
            mode=str(mode),
            clip=clip.name,
            method=method.name,
            point=point.label,
            target_bps=point.target_bps,
            source_clip=source.record.name,
            frames=n,
            seconds=counts.seconds,
            keyframe_bytes=counts.keyframe_bytes,
            keyframes=counts.keyframes,
            payload_bytes=counts.payload_bytes,
            frame_messages=counts.frame_messages,
            wire_bytes=counts.wire_bytes,
            total_kbps=counts.total_kbps,
            payload_kbps=counts.payload_kbps,
            wire_kbps=counts.wire_kbps,
            sender_ms_per_frame=result.sender_ms / n,
            receiver_ms_per_frame=result.receiver_ms / n,
            receiver_device=result.receiver_device,
            scores=scores,
        )
        self.store.save_entry(entry, moments)
        self.log_entry(entry, time.perf_counter() - start)

    def _encode(self, job: MethodInput, method: Method, files: StageFiles) -> None:
        """The encode stage of one entry: a neural method's bitstream (its receiver runs in
        the render stage), or a classical method's messages and decoded frames."""
        n, size, stride = len(job.driving), job.source.shape[0], self.config.frame_stride
        if isinstance(method, NeuralMethod):
            bitstream = method.encode(job)
            messages = counted_messages(bitstream.messages)
            record = SentRecord(method.name, n, size, job.fps, bitstream.sender_ms, messages,
                                bitstream.boxes, stride)  # fmt: skip
            files.save_sent(record, bitstream.messages)
            return
        result = method.run(job)
        shown = Rendering(result.frames, result.receiver_ms, result.receiver_device)
        files.save_shown(shown, job.fps, stride)
        files.save_sent(SentRecord(method.name, n, size, job.fps, result.sender_ms,
                                   result.messages, {}, stride))  # fmt: skip

    def _result(self, job: MethodInput, method: Method, key: str) -> MethodResult | None:
        """What the receiver showed of the scored frames: run here, or (score stage) read from
        the stage files; None where the render stage has not drawn it yet."""
        if self.config.stage is None:
            result = method.run(job)
            return dataclasses.replace(result, frames=result.frames[:: self.config.frame_stride])
        files = StageFiles(self.config.out, key)
        if not files.shown.exists():
            return None
        sent, shown = files.load_sent(), files.load_shown()
        return MethodResult(shown.frames, sent.messages, sent.sender_ms, shown.receiver_ms,
                            shown.receiver_device)  # fmt: skip

    def log_entry(self, entry: EntryResult, seconds: float) -> None:
        akd = "-" if entry.scores.akd is None else f"{entry.scores.akd:.2f}"
        tqdm.write(
            f"{entry.mode} {entry.clip} {entry.method} {entry.point}: "
            f"{entry.total_kbps:.2f} kbps total, AKD {akd} ({seconds:.1f} s)",
            file=sys.stderr,
        )
