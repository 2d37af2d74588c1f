"""Rates over the last second for the status lines, with memory that stays bounded."""

from __future__ import annotations

from facecodec.bitrate.window import SlidingWindow


class Meter(SlidingWindow):
    """A ``SlidingWindow`` that forgets what left the window as new amounts come, not only
    when it is read: a call that nobody watches (no status line) runs for hours."""

    def add(self, now_ms: float, amount: float) -> None:
        super().add(now_ms, amount)
        self.total(now_ms)
