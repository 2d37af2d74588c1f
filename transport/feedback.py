"""What the sender learns from receiver reports: loss, round-trip time and throughput.

One-way delay samples need the report's arrival times (version 2): for each message the
receiver names, its send time (remembered here) and its arrival time on the receiver's clock.

Round-trip time needs no extra bytes on the forward path: the sender remembers when it sent each
recent sequence number, and the report names the highest one received and how long the receiver
held it (RTCP's LSR/DLSR scheme, RFC 3550 section 6.4.1, keyed by sequence number).
"""

from __future__ import annotations

from dataclasses import dataclass

from .report import COUNTER_MODULO, MAX_HOLD_MS, ReceiverReport
from .sequence import SEQ_MODULO

RTT_GAIN = 1 / 8
"""Smoothing of round-trip samples (RFC 6298's alpha)."""
SEND_LOG_MESSAGES = 1024
"""Send times kept; a report naming an older message gives no RTT sample."""


@dataclass(frozen=True)
class DelaySample:
    """One frames message as the receiver saw it."""

    send_ms: float
    """On the sender's clock."""
    arrival_ms: float
    """On the receiver's clock (its report clock wraps after 49 days)."""


@dataclass(frozen=True)
class LinkFeedback:
    """The path as the latest receiver report shows it."""

    now_ms: float
    loss_fraction: float
    """Share of the messages expected since the previous report that did not arrive."""
    rtt_ms: float | None
    """Smoothed round-trip time; None until the first sample."""
    throughput_bps: float | None
    """Frames-channel bits the receiver got per second since the previous report."""
    report: ReceiverReport
    delays: tuple[DelaySample, ...] = ()
    """The messages received since the previous report, in arrival order."""


class FeedbackEstimator:
    """Turns receiver reports into ``LinkFeedback``; time comes in as ``now_ms`` arguments."""

    def __init__(self) -> None:
        self._sent_ms: list[tuple[int, float] | None] = [None] * SEND_LOG_MESSAGES
        self._previous: ReceiverReport | None = None
        self.rtt_ms: float | None = None

    def on_sent(self, seq: int, now_ms: float) -> None:
        self._sent_ms[seq % SEND_LOG_MESSAGES] = (seq % SEQ_MODULO, now_ms)

    def on_report(self, report: ReceiverReport, now_ms: float) -> LinkFeedback:
        self._sample_rtt(report, now_ms)
        loss, throughput = 0.0, None
        if self._previous is not None:
            loss = _loss_fraction(self._previous, report)
            throughput = _throughput_bps(self._previous, report)
        self._previous = report
        return LinkFeedback(now_ms, loss, self.rtt_ms, throughput, report, self._delays(report))

    def _delays(self, report: ReceiverReport) -> tuple[DelaySample, ...]:
        samples = []
        for arrival in report.arrivals:
            entry = self._sent_ms[arrival.seq % SEND_LOG_MESSAGES]
            if entry is not None and entry[0] == arrival.seq:
                samples.append(DelaySample(entry[1], report.clock_ms - arrival.age_ms))
        return tuple(samples)

    def _sample_rtt(self, report: ReceiverReport, now_ms: float) -> None:
        entry = self._sent_ms[report.highest_seq % SEND_LOG_MESSAGES]
        if entry is None or entry[0] != report.highest_seq or report.hold_ms >= MAX_HOLD_MS:
            return
        sample = now_ms - entry[1] - report.hold_ms
        if sample < 0:
            return
        if self.rtt_ms is None:
            self.rtt_ms = sample
        else:
            self.rtt_ms += RTT_GAIN * (sample - self.rtt_ms)


def _delta(before: int, after: int) -> int:
    return (after - before) % COUNTER_MODULO


def _loss_fraction(before: ReceiverReport, after: ReceiverReport) -> float:
    received = _delta(before.received, after.received)
    # Late arrivals shrink the cumulative loss, so its delta can be "negative" (wrapped).
    lost = (after.lost - before.lost) if after.lost >= before.lost else 0
    expected = received + lost
    return lost / expected if expected else 0.0


def _throughput_bps(before: ReceiverReport, after: ReceiverReport) -> float | None:
    elapsed_ms = _delta(before.clock_ms, after.clock_ms)
    if elapsed_ms == 0:
        return None
    return _delta(before.bytes_received, after.bytes_received) * 8000 / elapsed_ms
