"""The controller's decisions and what was sent, as JSON lines, so that a run can be plotted.

One object per line, each with ``t_ms`` and ``event``::

    {"t_ms": 0, "event": "config", "target_bps": 2000, "wire_target_bps": null, ...}
    {"t_ms": 0, "event": "decision", "point": {...}, "budget_bps": 1700, ...}
    {"t_ms": 40, "event": "keyframe", "payload_bytes": 9012}
    {"t_ms": 200, "event": "message", "payload_bytes": 41, "wire_bytes": 140, "frames": 5}
    {"t_ms": 1000, "event": "feedback", "loss": 0.0, "rtt_ms": 3.1, "ceiling_bps": 2000, ...}
    {"t_ms": 1240, "event": "dropped", "frames": 2}
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, TextIO


class LogEvent(StrEnum):
    CONFIG = "config"
    DECISION = "decision"
    KEYFRAME = "keyframe"
    MESSAGE = "message"
    FEEDBACK = "feedback"
    DROPPED = "dropped"


class DecisionLog:
    """Writes log records to a text stream, one JSON object per line."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, now_ms: float, event: LogEvent, **fields: Any) -> None:
        record = {"t_ms": round(now_ms, 1), "event": event.value, **fields}
        self._stream.write(json.dumps(record, default=_plain) + "\n")


def _plain(value: object) -> object:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if hasattr(value, "value"):  # Enum
        return value.value
    raise TypeError(f"cannot log {type(value).__name__}")


@dataclass
class RateTrace:
    """A log read back: the series the plot needs, times in milliseconds."""

    target_bps: float = 0.0
    wire_target_bps: float | None = None
    budget: list[tuple[float, float]] = field(default_factory=list)
    """(t_ms, budget_bps) at each decision."""
    messages: list[tuple[float, int, int]] = field(default_factory=list)
    """(t_ms, payload_bytes, wire_bytes) of each frames message."""
    keyframes: list[tuple[float, int]] = field(default_factory=list)
    """(t_ms, payload_bytes) of each keyframe."""


def read_log(path: Path) -> RateTrace:
    """The log at ``path``, its times counted from its first decision.

    A live call logs the clock's milliseconds (since boot), a simulation those since its start;
    both plot from zero.
    """
    trace = RateTrace()
    records = [json.loads(line) for line in Path(path).read_text().splitlines()]
    start_ms = min((r["t_ms"] for r in records if r["event"] != LogEvent.CONFIG.value), default=0.0)
    for record in records:
        event, t_ms = LogEvent(record["event"]), record["t_ms"] - start_ms
        if event == LogEvent.CONFIG:
            trace.target_bps = record["target_bps"]
            trace.wire_target_bps = record["wire_target_bps"]
        elif event == LogEvent.DECISION:
            trace.budget.append((t_ms, record["budget_bps"]))
        elif event == LogEvent.MESSAGE:
            trace.messages.append((t_ms, record["payload_bytes"], record["wire_bytes"]))
        elif event == LogEvent.KEYFRAME:
            trace.keyframes.append((t_ms, record["payload_bytes"]))
    return trace
