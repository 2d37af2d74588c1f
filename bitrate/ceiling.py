"""How much the path carries, from receiver reports: the loss rule of Google's congestion
control (GCC, draft-ietf-rmcat-gcc-02 section 6) plus a queueing check on the round-trip time.

At a few kbps the call is rarely what fills a queue, but a congested or lossy path still is
better served by sending less: the ceiling only ever lowers the user's target, never raises it.
"""

from __future__ import annotations

from collections import deque
from enum import Enum

from facecodec.transport.feedback import LinkFeedback

LOSS_HIGH = 0.10
"""Above this loss fraction the ceiling drops by half the loss (GCC)."""
LOSS_LOW = 0.02
"""Below this loss fraction, with no queue, the ceiling grows (GCC)."""
INCREASE_FACTOR = 1.08
"""Growth per report (about a second) on a clear path (GCC's 8%)."""
QUEUE_DELAY_LIMIT_MS = 100.0
"""Round-trip time this far above the path's recent minimum means a queue is building."""
QUEUE_BACKOFF = 0.85
"""On a queue, drop to this share of what the receiver got (GCC's beta)."""
MIN_RTT_REPORTS = 30
"""Reports over which the path's minimum round-trip time is taken."""
MIN_CEILING_FRACTION = 0.25
"""The ceiling never drops below this share of the target."""


class PathState(Enum):
    CLEAR = 0
    """Little loss, no queue: probe upwards."""
    UNCERTAIN = 1
    """Some loss: hold."""
    LOSSY = 2
    """Heavy loss: back off in proportion."""
    QUEUEING = 3
    """Round-trip time well above its minimum: back off to what got through."""


class RateCeiling:
    """The highest payload rate the path seems to carry, between a floor and the target."""

    def __init__(self, target_bps: float) -> None:
        self.target_bps = target_bps
        self.bps = target_bps
        self.state = PathState.CLEAR
        self._rtts_ms: deque[float] = deque(maxlen=MIN_RTT_REPORTS)

    def update(self, feedback: LinkFeedback) -> float:
        """The new ceiling after one receiver report."""
        self.state = self._classify(feedback)
        if self.state == PathState.QUEUEING:
            got_bps = feedback.throughput_bps
            self.bps = QUEUE_BACKOFF * (got_bps if got_bps is not None else self.bps)
        elif self.state == PathState.LOSSY:
            self.bps *= 1 - 0.5 * feedback.loss_fraction
        elif self.state == PathState.CLEAR:
            self.bps *= INCREASE_FACTOR
        self.bps = min(self.target_bps, max(MIN_CEILING_FRACTION * self.target_bps, self.bps))
        return self.bps

    def _classify(self, feedback: LinkFeedback) -> PathState:
        if feedback.rtt_ms is not None:
            self._rtts_ms.append(feedback.rtt_ms)
            if feedback.rtt_ms - min(self._rtts_ms) > QUEUE_DELAY_LIMIT_MS:
                return PathState.QUEUEING
        if feedback.loss_fraction > LOSS_HIGH:
            return PathState.LOSSY
        if feedback.loss_fraction < LOSS_LOW:
            return PathState.CLEAR
        return PathState.UNCERTAIN
