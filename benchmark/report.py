"""The report of a benchmark folder: results.json, one CSV per metric, summary.md, PNG plots.

Rows aggregate one (mode, subset, method, point) over clips: bit rates from the summed bytes and
durations; landmark, identity and emotion metrics weighted by the frames with a face; PSNR, SSIM
and times by frames; the Fréchet distance between all output frames and all reference frames
of the same clips. The hard subset is the HARD_SHARE of clips with the largest head-pose
variance (at least one clip).
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from matplotlib.figure import Figure

from .bench import ClipRecord
from .metrics.emotion import EMOTION_NETWORK_NAME
from .metrics.frechet import FRECHET_LABEL, FeatureMoments, frechet_distance
from .store import EntryResult, RunStore

HARD_SHARE = 0.10
FULL, HARD = "full", "hard"
METRIC_LABELS = {
    "akd": "AKD (px, dlib 68)",
    "akd_mouth": "AKD-M (px, dlib mouth 20)",
    "aed": "AED (dlib face recognition)",
    "aemod": f"AEMOD ({EMOTION_NETWORK_NAME})",
    "psnr": "PSNR (dB)",
    "ssim": "SSIM",
    "fvd_vgg16": FRECHET_LABEL,
}
COLUMN_NAMES = {
    "akd": "AKD px",
    "akd_mouth": "AKD-M px",
    "aed": "AED",
    "aemod": "AEMOD",
    "psnr": "PSNR dB",
    "ssim": "SSIM",
    "fvd_vgg16": "FVD-VGG16*",
}
DIGITS = {"aed": 3, "ssim": 3, "fvd_vgg16": 0}
FACE_WEIGHTED = ("akd", "akd_mouth", "aed", "aemod")
PLOTTED = ("akd", "akd_mouth", "aemod")
"""Bit rate versus these, as the paper's Figures 7 and 14."""


@dataclass
class Row:
    mode: str
    subset: str
    method: str
    point: str
    target_bps: int | None
    clips: int
    frames: int
    total_kbps: float
    payload_kbps: float
    wire_kbps: float
    keyframe_bytes: float
    """Mean keyframe bytes per clip."""
    sender_ms: float
    receiver_ms: float
    receiver_device: str
    missed_faces: float
    """Share of the scored frames whose output had no face dlib could detect (scored in the
    reference's box instead)."""
    metrics: dict[str, float | None]


def hard_subset(records: Sequence[ClipRecord], share: float = HARD_SHARE) -> list[str]:
    """Names of the clips with the largest head-pose variance."""
    count = max(1, math.ceil(share * len(records))) if records else 0
    ranked = sorted(records, key=lambda r: r.pose_variance, reverse=True)
    return [r.name for r in ranked[:count]]


def _weighted(entries: list[EntryResult], field: str, weight: str) -> float | None:
    pairs = [
        (getattr(e.scores, field), getattr(e.scores, weight))
        for e in entries
        if getattr(e.scores, field) is not None and getattr(e.scores, weight) > 0
    ]
    total = sum(w for _, w in pairs)
    return sum(v * w for v, w in pairs) / total if total else None


def _row(
    key: tuple[str, str, str, str],
    group: list[tuple[EntryResult, FeatureMoments]],
    real: dict[str, FeatureMoments],
) -> Row:
    entries = [e for e, _ in group]
    seconds = sum(e.seconds for e in entries)
    frames = sum(e.frames for e in entries)
    metrics = {f: _weighted(entries, f, "face_frames") for f in FACE_WEIGHTED}
    metrics |= {f: _weighted(entries, f, "frames") for f in ("psnr", "ssim")}
    outputs = sum((m for _, m in group), FeatureMoments.empty())
    reference = sum((real[e.clip] for e in entries), FeatureMoments.empty())
    enough = min(outputs.count, reference.count) >= 2
    metrics["fvd_vgg16"] = frechet_distance(outputs, reference) if enough else None
    mode, subset, method, point = key
    return Row(
        mode, subset, method, point,
        target_bps=entries[0].target_bps,
        clips=len(entries),
        frames=frames,
        total_kbps=8 * sum(e.payload_bytes + e.keyframe_bytes for e in entries) / seconds / 1000,
        payload_kbps=8 * sum(e.payload_bytes for e in entries) / seconds / 1000,
        wire_kbps=8 * sum(e.wire_bytes for e in entries) / seconds / 1000,
        keyframe_bytes=sum(e.keyframe_bytes for e in entries) / len(entries),
        sender_ms=sum(e.sender_ms_per_frame * e.frames for e in entries) / frames,
        receiver_ms=sum(e.receiver_ms_per_frame * e.frames for e in entries) / frames,
        receiver_device=entries[0].receiver_device,
        missed_faces=sum(e.scores.missed_faces for e in entries)
        / max(1, sum(e.scores.face_frames for e in entries)),
        metrics=metrics,
    )  # fmt: skip


def aggregate(
    entries: list[tuple[EntryResult, FeatureMoments]],
    records: Sequence[ClipRecord],
    real: dict[str, FeatureMoments],
) -> list[Row]:
    """Rows for the full set and the hard subset, sorted by mode, subset, method, rate."""
    hard = set(hard_subset(records))
    known = {r.name for r in records}
    groups: dict[tuple[str, str, str, str], list] = {}
    for entry, moments in entries:
        if entry.clip not in known:
            continue
        subsets = (FULL, HARD) if entry.clip in hard else (FULL,)
        for subset in subsets:
            key = (entry.mode, subset, entry.method, entry.point)
            groups.setdefault(key, []).append((entry, moments))
    rows = [_row(key, group, real) for key, group in groups.items()]
    return sorted(rows, key=lambda r: (r.mode, r.subset, r.method, r.total_kbps))


def metric_figure(rows: Sequence[Row], metric: str, title: str) -> Figure:
    """Total kbps (log) versus one metric, one line per method."""
    fig = Figure(figsize=(6, 4), dpi=100)
    ax = fig.subplots()
    for method in sorted({r.method for r in rows}):
        points = sorted(
            (r.total_kbps, r.metrics[metric])
            for r in rows
            if r.method == method and r.metrics[metric] is not None
        )
        if points:
            ax.plot(*zip(*points, strict=True), marker="o", label=method)
    ax.set_xscale("log")
    ax.set_xlabel("total kbps (payload + keyframes)")
    ax.set_ylabel(METRIC_LABELS[metric])
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


def _csv_value(value: float | None) -> str:
    return "" if value is None else f"{value:.6g}"


def _fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def summary_markdown(
    rows: Sequence[Row], hard: Sequence[str], unavailable: dict, settings: dict
) -> str:
    lines = ["# Benchmark summary", ""]
    if "command" in settings:
        lines += [f"- command: `{settings['command']}`"]
    lines += [f"- {name} unavailable: {why}" for name, why in unavailable.items()]
    lines += [f"- hard subset ({len(hard)} clips, largest head-pose variance): {', '.join(hard)}"]
    lines += [f"- *FVD-VGG16: {FRECHET_LABEL}", f"- AEMOD network: {EMOTION_NETWORK_NAME}", ""]
    columns = ["method", "point", "total kbps", "payload kbps", "wire kbps", "keyframe B"]
    columns += list(COLUMN_NAMES.values())
    columns += ["no face %", "sender ms/frame", "receiver ms/frame (device)"]
    for mode, subset in sorted({(r.mode, r.subset) for r in rows}):
        lines += [f"## {mode}, {subset} set", ""]
        lines += ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
        for r in rows:
            if (r.mode, r.subset) != (mode, subset):
                continue
            cells = [r.method, r.point, _fmt(r.total_kbps), _fmt(r.payload_kbps)]
            cells += [_fmt(r.wire_kbps), _fmt(r.keyframe_bytes, 0)]
            cells += [_fmt(r.metrics[m], DIGITS.get(m, 2)) for m in COLUMN_NAMES]
            cells += [_fmt(100 * r.missed_faces, 0), _fmt(r.sender_ms)]
            cells += [f"{_fmt(r.receiver_ms)} ({r.receiver_device})"]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def write_report(
    out: Path, records: Sequence[ClipRecord], unavailable: dict[str, str], settings: dict
) -> list[Row]:
    """Write results.json, metric_<name>.csv, summary.md and plot_<mode>_<subset>_<metric>.png."""
    store = RunStore(out)
    real = {}
    for r in records:
        analysis = store.load_analysis(r.name)
        real[r.name] = FeatureMoments.of(analysis.vgg) if analysis else FeatureMoments.empty()
    entries = store.entries()
    rows = aggregate(entries, records, real)
    hard = hard_subset(records)
    results = {
        "settings": settings,
        "metric_labels": METRIC_LABELS,
        "unavailable": unavailable,
        "clips": [asdict(r) for r in records],
        "hard_subset": hard,
        "rows": [asdict(r) for r in rows],
        "entries": [asdict(e) for e, _ in entries],
    }
    (out / "results.json").write_text(json.dumps(results, indent=1))
    for metric in METRIC_LABELS:
        with open(out / f"metric_{metric}.csv", "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["mode", "subset", "method", "point", "target_bps", "total_kbps",
                             "payload_kbps", "wire_kbps", metric])  # fmt: skip
            for r in rows:
                writer.writerow([r.mode, r.subset, r.method, r.point, r.target_bps,
                                 f"{r.total_kbps:.3f}", f"{r.payload_kbps:.3f}",
                                 f"{r.wire_kbps:.3f}", _csv_value(r.metrics[metric])])  # fmt: skip
    (out / "summary.md").write_text(summary_markdown(rows, hard, unavailable, settings))
    for mode, subset in sorted({(r.mode, r.subset) for r in rows}):
        group = [r for r in rows if (r.mode, r.subset) == (mode, subset)]
        for metric in PLOTTED:
            if all(r.metrics[metric] is None for r in group):
                continue
            fig = metric_figure(group, metric, f"{mode}, {subset} set")
            fig.savefig(out / f"plot_{mode}_{subset}_{metric}.png")
    return rows
