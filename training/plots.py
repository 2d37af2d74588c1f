"""Loss curves of a training run, from its log.jsonl."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

SMOOTHING = 0.9
"""Exponential moving average factor of the plotted curves."""


def plot_losses(log_file: Path, out_file: Path) -> None:
    """One panel per logged loss term, smoothed, against the step."""
    if not log_file.exists():
        return
    entries = [json.loads(line) for line in log_file.read_text().splitlines() if line.strip()]
    if not entries:
        return
    keys = [k for k in entries[0] if k not in ("step", "samples_per_s")]
    cols = 3
    rows = (len(keys) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 2.6 * rows), squeeze=False)
    steps = [e["step"] for e in entries]
    for ax, key in zip(axes.flat, keys, strict=False):
        smooth, value = [], entries[0].get(key, 0.0)
        for e in entries:
            value = SMOOTHING * value + (1 - SMOOTHING) * e.get(key, value)
            smooth.append(value)
        ax.plot(steps, smooth)
        ax.set_title(key)
        ax.set_xlabel("step")
    for ax in list(axes.flat)[len(keys) :]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(out_file, dpi=80)
    plt.close(fig)
