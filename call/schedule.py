"""A playout schedule that follows the latest arrivals (the jitter buffer of call.playout and
call.synced_playout).

Positions (frame numbers, or milliseconds of the audio's timeline) are scheduled at
``anchor time + (position - anchor position) * unit``; anything that arrives later than its
schedule moves the anchor to itself, so it is due a margin after it arrived. The anchor drifts
earlier at DECAY_MS_PER_S, so a delay that one slow arrival added shrinks again: playout then
runs slightly faster than real time until it is back at the arrivals' pace. Time comes in as
``now_ms`` arguments (pure logic).
"""

from __future__ import annotations

from collections.abc import Callable

MARGIN_MS = 60.0
"""Slack after the latest arrival's schedule, for scheduling jitter at both ends (timers,
the prior and the event loop of a busy machine: tens of milliseconds)."""
DECAY_MS_PER_S = 50.0
"""How fast the delay added by a late arrival shrinks again (playout 5% faster meanwhile).
Slow enough that between two bundles (200 ms) the schedule moves by less than the margin."""


class AnchoredSchedule:
    """Arrivals of positions in, the time each position is due out."""

    def __init__(self, unit_ms: Callable[[], float]) -> None:
        self._unit_ms = unit_ms
        """Milliseconds between consecutive positions (may change as it is measured)."""
        self._anchor: tuple[float, float] | None = None
        """(time, position) of the arrival the schedule hangs on, decayed to ``_updated_ms``."""
        self._updated_ms = 0.0

    @property
    def started(self) -> bool:
        return self._anchor is not None

    def on_arrival(self, position: float, now_ms: float) -> None:
        """What is needed from ``position`` on arrived at ``now_ms``."""
        self._decay(now_ms)
        if self._anchor is None or now_ms > self._scheduled(position):
            self._anchor = (now_ms, position)

    def due_ms(self, position: float, now_ms: float) -> float | None:
        """When ``position`` is due; None before the first arrival."""
        if self._anchor is None:
            return None
        self._decay(now_ms)
        return self._scheduled(position) + MARGIN_MS

    def _scheduled(self, position: float) -> float:
        assert self._anchor is not None
        anchor_ms, anchor_position = self._anchor
        return anchor_ms + (position - anchor_position) * self._unit_ms()

    def _decay(self, now_ms: float) -> None:
        if self._anchor is not None and now_ms > self._updated_ms:
            anchor_ms, anchor_position = self._anchor
            shift = DECAY_MS_PER_S * (now_ms - self._updated_ms) / 1000.0
            self._anchor = (anchor_ms - shift, anchor_position)
        self._updated_ms = max(self._updated_ms, now_ms)
