"""Clips with a voice track made at run time (tests, benchmark/call_voice.py): a
../shared/data clip's video copied as it is, with 1 kHz bursts at chosen frames as its audio;
and the bursts found again in a file that a call wrote. The training clips have no audio, and
no footage is committed."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

RATE = 48_000
BURST_MS = 80
BURST_HZ = 1000.0
MERGE_S = 0.5
"""Marks are further apart than this."""
TRAILS_S = 0.125
"""ITU-R BT.1359: a voice trailing the face by more is detectable."""


def clip_with_marks(source: Path, out: Path, frames: int, marks: list[int]) -> Path:
    """The first ``frames`` frames of ``source`` with silence as audio, but a 1 kHz burst
    starting at each frame of ``marks`` (AAC, 48 kHz mono)."""
    with av.open(str(source)) as src, av.open(str(out), "w") as dst:
        video_in = src.streams.video[0]
        fps = float(video_in.average_rate)
        video = dst.add_stream_from_template(video_in)
        audio = dst.add_stream("aac", rate=RATE, layout="mono")
        for packet in src.demux(video_in):
            if packet.dts is None:
                continue
            if packet.pts is not None and packet.pts * packet.time_base * fps >= frames:
                break
            packet.stream = video
            dst.mux(packet)
        samples = _bursts(round(frames / fps * RATE), [m / fps for m in marks])
        frame = av.AudioFrame.from_ndarray(samples[None, :], format="fltp", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = RATE, 0, Fraction(1, RATE)
        resampler = av.AudioResampler("fltp", "mono", RATE, frame_size=1024)
        for chunk in [*resampler.resample(frame), *resampler.resample(None)]:
            dst.mux(audio.encode(chunk))
        dst.mux(audio.encode(None))
    return out


def _bursts(length: int, starts_s: list[float]) -> np.ndarray:
    samples = np.zeros(length, np.float32)
    burst = np.arange(round(BURST_MS * RATE / 1000))
    tone = 0.5 * np.sin(2 * np.pi * BURST_HZ * burst / RATE).astype(np.float32)
    for start in starts_s:
        at = round(start * RATE)
        samples[at : at + len(tone)] = tone[: max(0, length - at)]
    return samples


def burst_onsets_s(path: Path) -> list[float]:
    """Times (s, file timeline) where bursts start in ``path``'s audio track."""
    with av.open(str(path)) as container:
        frames = list(container.decode(audio=0))
    samples = np.concatenate([f.to_ndarray()[0] for f in frames])
    return burst_onsets(samples, float(frames[0].pts * frames[0].time_base))


def burst_onsets(samples: np.ndarray, start_s: float) -> list[float]:
    """Times (s) where bursts start in (N,) 48 kHz ``samples`` (floats in [-1, 1]) that
    start at ``start_s``."""
    # 5 ms windows: loud ones after a quiet one start a burst, unless a burst started less
    # than half a second before (a lost or late packet leaves a gap inside a burst).
    window = RATE // 200
    windows = samples[: len(samples) // window * window].reshape(-1, window)
    loud = np.sqrt(np.mean(windows**2, axis=1)) > 0.1
    onsets: list[float] = []
    for start in np.flatnonzero(loud[1:] & ~loud[:-1]) + 1:
        t_s = start_s + start * window / RATE
        if not onsets or t_s - onsets[-1] > MERGE_S:
            onsets.append(t_s)
    return onsets


def mark_offsets_ms(path: Path, rendered: list[int], marks: list[int]) -> list[float]:
    """Voice minus face (ms) for each burst heard in ``path``: its onset against the time the
    file shows its mark's frame. ``rendered``: the sequence numbers of the file's video frames,
    in order (marks must be among them). A burst later than the file's last frame by more than
    a voice may trail it is left out: the output stopped before its frame (under loss, frames
    that need a lost one wait for a keyframe that never comes once the input has ended), while
    the voice went on."""
    with av.open(str(path)) as container:
        shown = [float(f.pts * f.time_base) for f in container.decode(video=0)]
    shown_at = dict(zip(rendered, shown, strict=False))
    mark_s = [shown_at[mark] for mark in marks if mark in shown_at]
    offsets = []
    for onset in burst_onsets_s(path):
        if onset > shown[-1] + TRAILS_S:
            continue
        nearest = min(mark_s, key=lambda t: abs(t - onset))
        offsets.append(1000 * (onset - nearest))
    return offsets
