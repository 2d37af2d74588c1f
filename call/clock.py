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
