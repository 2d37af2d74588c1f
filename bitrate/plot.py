"""Plot a decision log: target against achieved payload and wire bit rate over time.

``python -m facecodec.bitrate.plot run.jsonl run.png``
"""

from __future__ import annotations

import sys
from pathlib import Path

from matplotlib.figure import Figure

from .log import RateTrace, read_log
from .window import WINDOW_MS, SlidingWindow

STEP_MS = 100.0
"""Spacing of the points at which the 1-second rates are drawn."""


def windowed_bps(trace: RateTrace, column: int) -> tuple[list[float], list[float]]:
    """(times in s, bit/s over the second before each) of the messages' ``column``."""
    if not trace.messages:
        return [], []
    window, times, rates = SlidingWindow(WINDOW_MS), [], []
    pending = iter(trace.messages)
    message = next(pending, None)
    t_ms, end_ms = 0.0, trace.messages[-1][0]
    while t_ms <= end_ms:
        while message is not None and message[0] <= t_ms:
            window.add(message[0], message[column])
            message = next(pending, None)
        times.append(t_ms / 1000)
        rates.append(window.rate_bps(t_ms))
        t_ms += STEP_MS
    return times, rates


def plot_log(log_path: Path, out_path: Path) -> Path:
    """Draw ``log_path`` into ``out_path`` (PNG) and return it."""
    trace = read_log(log_path)
    # A bare Figure needs no GUI backend: plots render the same on a headless server.
    fig = Figure(figsize=(10, 4.5))
    ax = fig.subplots()
    ax.plot(*windowed_bps(trace, 2), color="tab:orange", label="frames on the wire (1 s window)")
    ax.plot(*windowed_bps(trace, 1), color="tab:blue", label="payload (1 s window)")
    if trace.budget:
        end_ms = max(trace.budget[-1][0], trace.messages[-1][0] if trace.messages else 0.0)
        times, budgets = zip(*trace.budget, (end_ms, trace.budget[-1][1]), strict=True)
        ax.step(
            [t / 1000 for t in times],
            budgets,
            where="post",
            color="tab:green",
            linestyle=":",
            label="controller budget",
        )
    ax.axhline(trace.target_bps, color="black", label="payload target")
    ax.axhline(
        trace.target_bps * 1.1,
        color="black",
        linestyle="--",
        linewidth=0.8,
        label="payload bound (+10%)",
    )
    if trace.wire_target_bps is not None:
        ax.axhline(trace.wire_target_bps, color="tab:red", label="wire target")
    for t_ms, _ in trace.keyframes:
        ax.axvline(t_ms / 1000, color="grey", linewidth=0.6)
    ax.set_xlabel("time (s); grey lines: keyframes (not counted)")
    ax.set_ylabel("bit/s")
    ax.set_ylim(bottom=0)
    ax.legend(loc="upper right", fontsize="small")
    ax.set_title(Path(log_path).name)
    fig.tight_layout()
    fig.savefig(out_path, dpi=100)
    return Path(out_path)


if __name__ == "__main__":
    plot_log(Path(sys.argv[1]), Path(sys.argv[2]))
