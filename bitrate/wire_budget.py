"""The wire budget: everything one end sends (frames messages, keyframes, control messages,
the acknowledgements it owes the other end, all with their headers) measured against the wire
target, as a link of that rate would carry it.

Two bounds, both in wire bytes: no 1-second window holds more than the wire target carries in a
second, and the backlog of a link draining at the wire target (a keyframe is seconds of it on
a narrow link) never holds more than the latency budget. A frames message goes only if it
keeps both; otherwise it waits or its frames are dropped, as they would be lost in a queue.

What the end schedules (frames messages, keyframes, keyframe parts) is counted before it goes;
what it does not (acknowledgements it owes, control and reports) only once it went. So that a
message sent now does not fill a window that acknowledgements due in the next second will
overfill, the window bound looks ahead: every 1-second window that contains now holds what was
sent in its past part plus the unscheduled bytes expected in its future part: their rate
measured over the last ``UNSCHEDULED_WINDOW_MS`` times that part's length, or, if more, what is
left of the most unscheduled bytes any window held in that time once its past part's are
counted (they come in bursts: the receiver's two reports a second, each acknowledged, may
fall in one window). Counting the largest burst on top of the rate instead reserved a second
acknowledgement in windows that already held theirs, a third of a 4 kbps link, and still let
two acknowledgements behind a frames message overfill one (tests/test_call_progressive.py at
4 kbps). On a link so narrow that such a window would leave no room for a frames message with
as much payload as headers (2 kbps: the pair is 186 B of 250), the reservation is cut to leave
it: the pair may then overfill the window it comes in, as nothing the end sends could prevent
(the receiver's reports follow its frames messages), but frames keep going. Each window the budget
holds is ``SEND_LAG_MS`` longer than a second, for the time the transport takes to put a
message on the wire.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

from .bundler import FRAMES_MESSAGE_OVERHEAD_BYTES
from .window import WINDOW_MS, SlidingWindow

SEND_LAG_MS = 100.0
"""A message reaches the wire some time after it is handed to the transport (aiortc's SCTP and
DTLS tasks on a busy event loop: up to about 80 ms measured at the emulated link on the loaded
2-core machine), so each counted message stays in the budget's window this much longer than a
second: otherwise a message sent as one leaves the window can share a second on the wire with
it."""
HELD_WINDOW_MS = WINDOW_MS + SEND_LAG_MS
UNSCHEDULED_WINDOW_MS = 5000.0
"""Unscheduled bytes come in bursts (the receiver's reports, each acknowledged) about once a
second, or a pair after each frames message when those go 2.4 s apart (a refinement on a
narrow link, call/keyframe_sender.py): five seconds hold two of those periods. With two, a
frames message went just after the last pair had left the measure, was sized as if none would
come, and the pair behind it overfilled its window (tests/test_call_progressive.py, 4 kbps)."""

BURSTS_PER_WINDOW = 2
"""Unscheduled bursts one window may hold, assumed until the measure spans
``UNSCHEDULED_WINDOW_MS``: the receiver's reports come about a second apart, and a pair of them
(each acknowledged) falls in one window often enough (every 4 s in a refinement at 4 kbps). In
the first seconds of a call the measure had seen them one at a time, a frames message took a
window's room but one acknowledgement, and the pair behind it overfilled the window
(tests/test_call_progressive.py, 4 kbps)."""


class WireBudget:
    """Wire bytes sent against ``rate_bps``; time comes in as ``now_ms`` arguments."""

    def __init__(self, rate_bps: float, max_queue_ms: float) -> None:
        self.rate_bps = rate_bps
        self.max_queue_ms = max_queue_ms
        self._window = SlidingWindow(HELD_WINDOW_MS)
        self._backlog_bytes = 0.0
        self._drained_ms: float | None = None
        self._started_ms: float | None = None
        self._unscheduled = SlidingWindow(UNSCHEDULED_WINDOW_MS)
        self._bursts: deque[tuple[float, float]] = deque()
        """(time, bytes) of each unscheduled addition within ``UNSCHEDULED_WINDOW_MS``."""
        self.counted_bytes = 0
        """Everything added so far."""

    @property
    def window_bytes(self) -> float:
        """What the wire target carries in a second: the bound on every window."""
        return self.rate_bps * WINDOW_MS / 8000

    @property
    def queue_bytes(self) -> float:
        """What the wire target drains in the latency budget: the bound on the backlog."""
        return self.rate_bps * self.max_queue_ms / 8000

    def add(self, wire_bytes: float, now_ms: float) -> None:
        """Bytes the end sends now: a message it schedules, counted before it goes."""
        self._queue(wire_bytes, now_ms)
        self._window.add(now_ms, wire_bytes)

    def add_first_version(self, wire_bytes: float, now_ms: float) -> None:
        """A progressive keyframe's first version, sent now: as ``add`` if a second of the
        wire target holds it; else in the backlog only. Alone it then fills more than a second
        of the link (1 kB on an 8 kbps one), so that counted in the window it would hold the
        frames back for a second after it went; counted in the backlog, they go right behind
        it once it has drained to within the latency budget."""
        if wire_bytes <= self.window_bytes:
            self.add(wire_bytes, now_ms)
        else:
            self._queue(wire_bytes, now_ms)

    def _queue(self, wire_bytes: float, now_ms: float) -> None:
        self._drain(now_ms)
        if self._started_ms is None:
            self._started_ms = now_ms
        self._backlog_bytes += wire_bytes
        self.counted_bytes += wire_bytes

    def add_unscheduled(self, wire_bytes: float, now_ms: float) -> None:
        """Bytes the end sent since the last count without scheduling them (acknowledgements,
        control): counted as sent now, and measured for the look ahead."""
        self.add(wire_bytes, now_ms)
        self._unscheduled.add(now_ms, wire_bytes)
        self._bursts.append((now_ms, wire_bytes))

    def room_bytes(self, now_ms: float, due: Sequence[tuple[float, float]] = ()) -> float:
        """Most wire bytes that may be sent at ``now_ms`` within both bounds, beside the
        messages ``due`` ((time ms, wire bytes), at now or later) the end will send."""
        self._drain(now_ms)
        window_room = self.window_bytes - self._fullest_window(now_ms, due)
        queue_room = self.queue_bytes - self._backlog_bytes
        return min(window_room, queue_room)

    def unscheduled_bps(self, now_ms: float) -> float:
        """The measured rate of what the end sends without scheduling it: over the time since
        the first count while that is shorter than the measuring window (averaged over the
        whole window, the first seconds of a call would look quiet), a second at least."""
        if self._started_ms is None:
            return 0.0
        elapsed_ms = min(UNSCHEDULED_WINDOW_MS, max(WINDOW_MS, now_ms - self._started_ms))
        return self._unscheduled.total(now_ms) * 8000 / elapsed_ms

    def _fullest_window(self, now_ms: float, due: Sequence[tuple[float, float]]) -> float:
        """Bytes of the fullest window (1 s and the send lag) that contains ``now_ms``, with the
        unscheduled bytes expected in its future part (module docstring) and the ``due``
        messages it holds. The window ending ``ahead`` ms from now holds what was sent since
        ``now - (HELD_WINDOW_MS - ahead)``; it is fullest just before an entry leaves it or
        just as a due message enters it, so only those ends (and the window starting now) are
        looked at."""
        while self._bursts and self._bursts[0][0] <= now_ms - UNSCHEDULED_WINDOW_MS:
            self._bursts.popleft()
        bytes_per_ms = self.unscheduled_bps(now_ms) / 8000
        bursts = list(self._bursts)
        peak = self._burst_peak(now_ms, bursts)
        entries = self._window.entries()

        def held(ahead_ms: float, past_bytes: float, past_unscheduled: float) -> float:
            future = sum(amount for t_ms, amount in due if t_ms - now_ms <= ahead_ms)
            expected = max(bytes_per_ms * ahead_ms, peak - past_unscheduled)
            return past_bytes + expected + future

        def since(start_ms: float, amounts: list[tuple[float, float]], at_start: bool) -> float:
            return sum(
                a for t_ms, a in amounts if t_ms > start_ms or (at_start and t_ms == start_ms)
            )

        remaining = self._window.total(now_ms)
        fullest = max(remaining, held(HELD_WINDOW_MS, 0.0, 0.0))
        for t_ms, amount in entries:
            # The window just before the entry at ``t_ms`` leaves it.
            ahead_ms = t_ms + HELD_WINDOW_MS - now_ms
            fullest = max(fullest, held(ahead_ms, remaining, since(t_ms, bursts, True)))
            remaining -= amount
        for t_ms, _ in due:
            ahead_ms = min(HELD_WINDOW_MS, max(0.0, t_ms - now_ms))
            start_ms = now_ms + ahead_ms - HELD_WINDOW_MS
            past = since(start_ms, entries, False), since(start_ms, bursts, False)
            fullest = max(fullest, held(ahead_ms, *past))
        return fullest

    def _burst_peak(self, now_ms: float, bursts: list[tuple[float, float]]) -> float:
        """The most unscheduled bytes a window held in the measured time; while that is
        shorter than ``UNSCHEDULED_WINDOW_MS``, at least ``BURSTS_PER_WINDOW`` of the largest
        burst. Capped to leave a frames message with as much payload as headers."""
        peak = max(
            (sum(b for u, b in bursts if t <= u < t + HELD_WINDOW_MS) for t, _ in bursts),
            default=0.0,
        )
        started_ms = now_ms if self._started_ms is None else self._started_ms
        if now_ms - started_ms < UNSCHEDULED_WINDOW_MS:
            peak = max(peak, BURSTS_PER_WINDOW * max((b for _, b in bursts), default=0.0))
        return min(peak, self.window_bytes - 2 * FRAMES_MESSAGE_OVERHEAD_BYTES)

    def queue_delay_ms(self, now_ms: float) -> float:
        """How long what was sent so far still takes to cross a link of the wire target."""
        self._drain(now_ms)
        return self._backlog_bytes * 8000 / self.rate_bps

    def _drain(self, now_ms: float) -> None:
        if self._drained_ms is not None:
            carried = max(0.0, now_ms - self._drained_ms) * self.rate_bps / 8000
            self._backlog_bytes = max(0.0, self._backlog_bytes - carried)
        self._drained_ms = now_ms
