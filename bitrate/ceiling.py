"""How much the path carries, from receiver reports: Google's congestion control (GCC,
draft-ietf-rmcat-gcc-02), its delay rule (section 5: a growing one-way delay, seen by
bitrate.delay_gradient, backs off to what got through) and its loss rule (section 6), plus a
hard bound: a queue that holds more than the call's latency budget backs off to half of what
got through, so it drains within a report or two.

On a narrow link the call itself fills the queue, and the delay rule sees it seconds before
the queue overflows into loss. The ceiling only ever lowers the user's target, never raises it.
"""

from __future__ import annotations

from enum import Enum

from facecodec.transport.feedback import LinkFeedback

from .delay_gradient import DelayGradient, Usage

LOSS_HIGH = 0.10
"""Above this loss fraction the ceiling drops by half the loss (GCC)."""
LOSS_LOW = 0.02
"""Below this loss fraction, with no queue, the ceiling grows (GCC)."""
INCREASE_FACTOR = 1.08
"""Growth per report (about a second) on a clear path (GCC's 8%)."""
OVERUSE_BACKOFF = 0.85
"""On a growing queue, drop to this share of what the receiver got (GCC's beta)."""
OVER_BOUND_BACKOFF = 0.5
"""On a queue longer than the latency budget, drop to this share of what the receiver got."""
MIN_CEILING_FRACTION = 0.25
"""The ceiling never drops below this share of the target."""


class PathState(Enum):
    CLEAR = 0
    """Little loss, no queue: probe upwards."""
    UNCERTAIN = 1
    """Some loss: hold."""
    LOSSY = 2
    """Heavy loss: back off in proportion."""
    OVERUSING = 3
    """One-way delay growing (a queue filling): back off to what got through."""
    UNDERUSING = 4
    """One-way delay falling (the queue draining): hold until it is empty."""
    OVER_BOUND = 5
    """A queue longer than the latency budget: back off hard."""


class RateCeiling:
    """The highest payload rate the path seems to carry, between a floor and the target."""

    def __init__(self, target_bps: float, max_queue_ms: float) -> None:
        self.target_bps = target_bps
        self.max_queue_ms = max_queue_ms
        """The latency budget a queue on the path must stay within."""
        self.bps = target_bps
        self.state = PathState.CLEAR
        self.delay = DelayGradient()

    def update(self, feedback: LinkFeedback) -> float:
        """The new ceiling after one receiver report."""
        self.state = self._classify(feedback)
        got_bps = self.bps if feedback.throughput_bps is None else feedback.throughput_bps
        if self.state == PathState.OVER_BOUND:
            self.bps = min(self.bps, OVER_BOUND_BACKOFF * got_bps)
        elif self.state == PathState.OVERUSING:
            self.bps = min(self.bps, OVERUSE_BACKOFF * got_bps)
        elif self.state == PathState.LOSSY:
            self.bps *= 1 - 0.5 * feedback.loss_fraction
        elif self.state == PathState.CLEAR:
            self.bps *= INCREASE_FACTOR
        self.bps = min(self.target_bps, max(MIN_CEILING_FRACTION * self.target_bps, self.bps))
        return self.bps

    def _classify(self, feedback: LinkFeedback) -> PathState:
        usages = {self.delay.update(sample) for sample in feedback.delays}
        if feedback.delays and self.delay.queue_delay_ms > self.max_queue_ms:
            return PathState.OVER_BOUND
        if Usage.OVERUSING in usages:
            return PathState.OVERUSING
        if feedback.loss_fraction > LOSS_HIGH:
            return PathState.LOSSY
        if Usage.UNDERUSING in usages:
            return PathState.UNDERUSING
        if feedback.loss_fraction < LOSS_LOW:
            return PathState.CLEAR
        return PathState.UNCERTAIN
