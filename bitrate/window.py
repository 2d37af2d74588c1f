"""Bytes sent over a sliding window of time, the measure the bit-rate bound is stated in."""

from __future__ import annotations

from collections import deque

WINDOW_MS = 1000.0


class SlidingWindow:
    """Sum of the amounts added at times in ``(now - window_ms, now]``; times never decrease."""

    def __init__(self, window_ms: float = WINDOW_MS) -> None:
        self.window_ms = window_ms
        self._events: deque[tuple[float, float]] = deque()
        self._total = 0.0

    def add(self, now_ms: float, amount: float) -> None:
        self._events.append((now_ms, amount))
        self._total += amount
        self._forget(now_ms)  # bounded memory even when nobody asks for the total

    def total(self, now_ms: float) -> float:
        self._forget(now_ms)
        return self._total

    def entries(self) -> list[tuple[float, float]]:
        """(time, amount) of what is inside the window (as of the last add or query), oldest
        first."""
        return list(self._events)

    def __len__(self) -> int:
        """Events still inside the window (as of the last add or query)."""
        return len(self._events)

    def _forget(self, now_ms: float) -> None:
        while self._events and self._events[0][0] <= now_ms - self.window_ms:
            self._total -= self._events.popleft()[1]

    def rate_bps(self, now_ms: float) -> float:
        """Bits per second over the window, taking the amounts as bytes."""
        return self.total(now_ms) * 8000 / self.window_ms
