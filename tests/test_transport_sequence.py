"""Receiver bookkeeping, receiver reports and what the sender makes of them (no sockets)."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from facecodec.transport.feedback import SEND_LOG_MESSAGES, FeedbackEstimator
from facecodec.transport.impairment import ImpairedSender, Impairment
from facecodec.transport.inbox import ChannelClosedError, Inbox
from facecodec.transport.report import MalformedMessageError, ReceiverReport
from facecodec.transport.sequence import MAX_DROPOUT, Arrival, SequenceTracker


def observe_all(seqs: list[int]) -> tuple[SequenceTracker, list[Arrival]]:
    tracker = SequenceTracker()
    return tracker, [tracker.observe(seq) for seq in seqs]


def test_gaps_are_loss_until_the_late_ones_arrive() -> None:
    tracker, arrivals = observe_all([0, 1, 4, 5, 2, 5, 2, 9])
    assert arrivals == [Arrival.IN_ORDER] * 4 + [
        Arrival.LATE,
        Arrival.DUPLICATE,
        Arrival.DUPLICATE,
        Arrival.IN_ORDER,
    ]
    stats = tracker.stats
    assert (stats.expected, stats.received, stats.lost) == (10, 6, 4)  # 3, 6, 7, 8 missing
    assert (stats.reordered, stats.duplicates) == (1, 2)


def test_sequence_numbers_wrap_at_16_bits() -> None:
    tracker, arrivals = observe_all([65534, 65535, 1, 0, 2])
    assert arrivals == [Arrival.IN_ORDER] * 3 + [Arrival.LATE, Arrival.IN_ORDER]
    assert (tracker.stats.expected, tracker.stats.lost, tracker.highest) == (5, 0, 2)


def test_a_wild_number_is_ignored_and_two_in_a_row_resynchronise() -> None:
    wild = 10 + MAX_DROPOUT + 500
    tracker, arrivals = observe_all([10, 11, wild, 12, wild + 7, wild + 8, wild + 9])
    assert arrivals == [
        Arrival.IN_ORDER,
        Arrival.IN_ORDER,
        Arrival.OUT_OF_RANGE,
        Arrival.IN_ORDER,
        Arrival.OUT_OF_RANGE,
        Arrival.IN_ORDER,  # a restarted sender: follow it
        Arrival.IN_ORDER,
    ]
    assert tracker.stats.out_of_range == 2
    assert tracker.stats.lost == 0


def test_report_round_trips_and_rejects_malformed_bytes() -> None:
    report = ReceiverReport(65535, 70_000, 5, 1, 2, 3, 2**32 + 7, 123_456)
    decoded = ReceiverReport.decode(report.encode())
    assert decoded.hold_ms == 65535  # capped
    assert decoded.bytes_received == 7  # wraps
    assert (decoded.highest_seq, decoded.received, decoded.clock_ms) == (65535, 5, 123_456)
    for bad in (b"", report.encode()[:-1], b"\x09" + report.encode()[1:]):
        with pytest.raises(MalformedMessageError):
            ReceiverReport.decode(bad)


def report(
    seq: int, hold: int, received: int, lost: int, nbytes: int, clock: int
) -> ReceiverReport:
    return ReceiverReport(seq, hold, received, lost, 0, 0, nbytes, clock)


def test_feedback_measures_rtt_loss_and_throughput() -> None:
    estimator = FeedbackEstimator()
    for seq in range(100):
        estimator.on_sent(seq, now_ms=1000 + 40 * seq)
    # Message 20 was sent at 1800, held 30 ms by the receiver, report back at 1900: RTT 70.
    first = estimator.on_report(report(20, 30, 21, 0, 2100, 50_000), now_ms=1900)
    assert first.rtt_ms == pytest.approx(70)
    assert (first.loss_fraction, first.throughput_bps) == (0.0, None)
    # 9 of the next 12 messages arrived, 1200 bytes over 500 ms of the receiver's clock.
    second = estimator.on_report(report(32, 10, 30, 3, 3300, 50_500), now_ms=2400)
    assert second.loss_fraction == pytest.approx(3 / 12)
    assert second.throughput_bps == pytest.approx(1200 * 8 / 0.5)
    assert second.rtt_ms == pytest.approx(70 + (2400 - 2280 - 10 - 70) / 8)
    # Late arrivals shrink the cumulative loss: no negative loss fraction.
    third = estimator.on_report(report(33, 0, 34, 0, 3400, 51_000), now_ms=2500)
    assert third.loss_fraction == 0.0


def test_feedback_ignores_reports_on_forgotten_messages() -> None:
    estimator = FeedbackEstimator()
    for seq in range(SEND_LOG_MESSAGES + 5):
        estimator.on_sent(seq, now_ms=seq)
    assert estimator.on_report(report(2, 0, 1, 0, 0, 0), now_ms=5000).rtt_ms is None


def test_inbox_drops_the_oldest_when_full_and_ends_when_closed() -> None:
    async def scenario() -> list[int]:
        inbox: Inbox[int] = Inbox(limit=3)
        for item in range(5):
            inbox.put(item)
        inbox.close()
        items = [item async for item in inbox]
        assert inbox.overflowed == 2
        with pytest.raises(ChannelClosedError):
            await inbox.get()
        return items

    assert asyncio.run(scenario()) == [2, 3, 4]


def impaired_run(impairment: Impairment, count: int) -> tuple[list[int], ImpairedSender]:
    async def scenario() -> tuple[list[int], ImpairedSender]:
        out: list[int] = []
        sender = ImpairedSender(impairment, lambda data: out.append(data[0]))
        for i in range(count):
            sender.send(bytes([i]))
        await asyncio.sleep(impairment.max_hold_ms / 1000 * 2)
        return out, sender

    return asyncio.run(scenario())


def test_impairment_is_reproducible_and_counts_what_it_did() -> None:
    impairment = Impairment(loss=0.3, reorder=0.2, duplicate=0.1, seed=7, max_hold_ms=10)
    out, sender = impaired_run(impairment, 200)
    assert out == impaired_run(impairment, 200)[0]
    assert out != impaired_run(Impairment(0.3, 0.2, 0.1, seed=8, max_hold_ms=10), 200)[0]
    stats = sender.stats
    assert len(set(out)) == 200 - stats.dropped
    assert len(out) == 200 - stats.dropped + stats.duplicated
    assert 40 < stats.dropped < 80 and stats.reordered > 10 and stats.duplicated > 5
    behind = sum(1 for before, after in itertools.pairwise(out) if after < before)
    assert behind == stats.reordered
