"""The wire budget: everything one end sends (frames messages, keyframes, control messages,
the acknowledgements it owes the other end, all with their headers) measured against the wire
target, as a link of that rate would carry it.

Two bounds, both in wire bytes: no 1-second window holds more than the wire target carries in a
second, and the backlog of a link draining at the wire target (a keyframe is seconds of it on
a narrow link) never holds more than the latency budget. A frames message goes only if it
keeps both; otherwise it waits or its frames are dropped, as they would be lost in a queue.
"""

from __future__ import annotations

from .window import WINDOW_MS, SlidingWindow


class WireBudget:
    """Wire bytes sent against ``rate_bps``; time comes in as ``now_ms`` arguments."""

    def __init__(self, rate_bps: float, max_queue_ms: float) -> None:
        self.rate_bps = rate_bps
        self.max_queue_ms = max_queue_ms
        self._window = SlidingWindow()
        self._backlog_bytes = 0.0
        self._drained_ms: float | None = None
        self.counted_bytes = 0
        """Everything added so far."""

    def add(self, wire_bytes: int, now_ms: float) -> None:
        self._drain(now_ms)
        self._backlog_bytes += wire_bytes
        self._window.add(now_ms, wire_bytes)
        self.counted_bytes += wire_bytes

    def room_bytes(self, now_ms: float) -> float:
        """Most wire bytes that may be sent at ``now_ms`` within both bounds."""
        self._drain(now_ms)
        window_room = self.rate_bps * WINDOW_MS / 8000 - self._window.total(now_ms)
        queue_room = self.rate_bps * self.max_queue_ms / 8000 - self._backlog_bytes
        return min(window_room, queue_room)

    def queue_delay_ms(self, now_ms: float) -> float:
        """How long what was sent so far still takes to cross a link of the wire target."""
        self._drain(now_ms)
        return self._backlog_bytes * 8000 / self.rate_bps

    def _drain(self, now_ms: float) -> None:
        if self._drained_ms is not None:
            carried = max(0.0, now_ms - self._drained_ms) * self.rate_bps / 8000
            self._backlog_bytes = max(0.0, self._backlog_bytes - carried)
        self._drained_ms = now_ms
