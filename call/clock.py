"""The one clock both ends of a call in this process read, so that latencies can be subtracted.

Monotonic milliseconds from ``time.monotonic``, not the event loop's clock: uvloop's loop keeps
its own, and the render thread has no loop.
"""

from __future__ import annotations

import time
from collections.abc import Callable


def now_ms() -> float:
    return time.monotonic() * 1000.0


Clock = Callable[[], float]
"""Milliseconds now: ``now_ms`` in a live call, a stream's own timeline when replaying one."""


class StreamClock:
    """A recorded stream's own timeline: frame ``seq`` happens at ``seq / fps``; whoever reads
    the stream moves it (``at_frame``). A session reading a file runs on it instead of
    ``now_ms``."""

    def __init__(self, fps: float) -> None:
        self.frame_ms = 1000.0 / fps
        self.now = 0.0

    def at_frame(self, seq: int) -> float:
        self.now = seq * self.frame_ms
        return self.now

    def __call__(self) -> float:
        return self.now
