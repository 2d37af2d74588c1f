"""When each output frame is due at the receiver: a jitter buffer sized by what arrives.

Frames arrive in bundles: the first frame of a 200 ms bundle has waited 200 ms when it arrives,
the last one hardly at all. A frame can only be drawn once it is here, so the playout follows
the latest arrivals: the schedule is anchored on an arrival, frame ``seq`` is scheduled at
``anchor time + (seq - anchor seq) * frame period``, and any frame that arrives later than its
schedule moves the anchor to itself. A frame is due a margin after its schedule, or after the
schedule of the frame ``lookahead`` places later when drawing it needs that one (a frame the
operating point skips is interpolated towards the next frame sent). The anchor drifts earlier
at DECAY_MS_PER_S, so a delay that one slow bundle added shrinks again: playout then runs
slightly faster than real time until it is back at the bundles' pace.

The frame period is the sender's capture rate, measured from the arrivals over the last
RATE_WINDOW_MS (nothing on the wire states it); until that window spans MIN_RATE_SPAN_MS the
nominal rate is assumed. Time comes in as ``now_ms`` arguments (pure logic, tested without
sockets).
"""

from __future__ import annotations

from collections import deque
from typing import Protocol

from .schedule import DECAY_MS_PER_S as DECAY_MS_PER_S
from .schedule import MARGIN_MS as MARGIN_MS
from .schedule import AnchoredSchedule

NOMINAL_FPS = 25.0
"""Capture rate assumed before it is measured (that of the training clips and the demo)."""
RATE_WINDOW_MS = 10_000.0
MIN_RATE_SPAN_MS = 2_000.0
FPS_RANGE = (5.0, 60.0)
"""Measured capture rates are clamped to this range (a stalled or bursty sender misleads)."""


class Playout(Protocol):
    """What the receiving session asks of a playout clock (``PlayoutClock``, or
    ``call.synced_playout.SyncedPlayout`` with a voice)."""

    @property
    def frame_ms(self) -> float: ...

    def on_arrival(self, seq: int, now_ms: float) -> None: ...

    def due_ms(self, seq: int, now_ms: float, lookahead: int = 0) -> float | None: ...


class PlayoutClock:
    """Arrivals of decoded frames in, the time each output frame is due out."""

    def __init__(self, nominal_fps: float = NOMINAL_FPS) -> None:
        self._nominal_ms = 1000.0 / nominal_fps
        self._schedule = AnchoredSchedule(lambda: self.frame_ms)
        """Positions are sequence numbers."""
        self._arrivals: deque[tuple[float, int]] = deque()
        """(time, highest seq so far) per arrival over the last RATE_WINDOW_MS."""

    @property
    def frame_ms(self) -> float:
        """The sender's frame period as measured (nominal until enough has arrived)."""
        if len(self._arrivals) < 2:
            return self._nominal_ms
        (t0, s0), (t1, s1) = self._arrivals[0], self._arrivals[-1]
        if t1 - t0 < MIN_RATE_SPAN_MS or s1 <= s0:
            return self._nominal_ms
        low, high = FPS_RANGE
        return min(1000.0 / low, max(1000.0 / high, (t1 - t0) / (s1 - s0)))

    def on_arrival(self, seq: int, now_ms: float) -> None:
        """Frame ``seq`` arrived (decoded) at ``now_ms``."""
        highest = max(seq, self._arrivals[-1][1]) if self._arrivals else seq
        if self._arrivals and self._arrivals[-1][0] == now_ms:
            self._arrivals.pop()  # frames of one message: its newest counts
        self._arrivals.append((now_ms, highest))
        while self._arrivals[0][0] < now_ms - RATE_WINDOW_MS:
            self._arrivals.popleft()
        self._schedule.on_arrival(seq, now_ms)

    def due_ms(self, seq: int, now_ms: float, lookahead: int = 0) -> float | None:
        """When output frame ``seq`` is due, if drawing it needs the frame ``lookahead``
        places later; None before the first arrival."""
        return self._schedule.due_ms(seq + lookahead, now_ms)
