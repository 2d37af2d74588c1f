"""The delay-gradient detector and the wire budget on synthetic timestamps, and the controller
in front of a bottleneck whose queue grows (pure logic with injected time), and a real call
through the emulated link."""

from __future__ import annotations

import pytest

from facecodec.bitrate.bundler import BundlingConfig
from facecodec.bitrate.controller import Controller, ControllerConfig
from facecodec.bitrate.delay_gradient import DelayGradient, Usage
from facecodec.bitrate.loopback import run_call
from facecodec.bitrate.simulation import Scenario, example_table, simulate
from facecodec.bitrate.wire_budget import WireBudget
from facecodec.transport import eventloop
from facecodec.transport.feedback import DelaySample
from facecodec.transport.link_emulator import LinkConfig
from facecodec.transport.overhead import SACK_WIRE_BYTES, wire_bytes
from facecodec.transport.report import MAX_ARRIVALS, ArrivalTime, ReceiverReport

TABLE = example_table()
CLOCK_OFFSET_MS = 123_456.0
"""The receiver's clock is not the sender's: only delay changes may matter."""


def feed(detector: DelayGradient, start_ms: float, count: int, growth_ms: float) -> list[Usage]:
    """Messages every 200 ms whose one-way delay changes by ``growth_ms`` each."""
    usages = []
    for i in range(count):
        send = start_ms + 200 * i
        delay = 50 + max(0.0, detector.queue_delay_ms + growth_ms) if i else 50
        usages.append(detector.update(DelaySample(send, send + delay + CLOCK_OFFSET_MS)))
    return usages


def test_a_steady_delay_with_jitter_is_normal() -> None:
    detector = DelayGradient()
    for i in range(100):
        send = 200.0 * i
        jitter = (7 * i) % 11  # up to 10 ms, no trend
        assert detector.update(DelaySample(send, send + 50 + jitter + CLOCK_OFFSET_MS)) is (
            Usage.NORMAL
        )
    assert detector.queue_delay_ms <= 10


def test_a_growing_queue_is_overuse_and_a_draining_one_underuse() -> None:
    detector = DelayGradient()
    feed(detector, 0, 30, 0.0)
    growing = feed(detector, 6000, 10, 20.0)  # the queue grows 100 ms a second
    assert Usage.OVERUSING in growing
    overuse_at = growing.index(Usage.OVERUSING)
    # Seen while the queue was still short: 20 ms per message since it started.
    assert 20 * (overuse_at + 1) <= 200
    draining = feed(detector, 8000, 10, -20.0)
    assert Usage.UNDERUSING in draining
    assert detector.queue_delay_ms < 20
    settled = feed(detector, 10_000, 30, 0.0)
    assert settled[-1] is Usage.NORMAL


def test_a_narrowing_link_makes_the_controller_back_off_before_loss_and_recover() -> None:
    def link_bps(t_s: float) -> float:
        return 6000.0 if 10 <= t_s < 16 else 20_000.0

    scenario = Scenario(content=lambda t_s: 1.0, link_bps=link_bps, link_queue_ms=2000)
    run = simulate(ControllerConfig(8000), TABLE, scenario)
    before, during, after = run.mean_bps(3, 10), run.mean_bps(12, 16), run.mean_bps(36, 40)
    assert run.link_drops_ms == []  # backed off before the bottleneck's queue overflowed
    assert during < 0.5 * before
    assert after > 0.8 * before
    # The scenario means something: on a clear path the sender puts far more than the narrowed
    # link carries on the wire, so without backing off its queue would grow.
    clear = simulate(ControllerConfig(8000), TABLE, Scenario(content=lambda t_s: 1.0))
    assert clear.mean_bps(12, 16, wire=True) > 6000 * 1.2


def test_a_keyframe_counts_in_the_wire_budget_and_holds_frames_until_the_link_carried_it() -> None:
    wire_bps, keyframe_wire_bytes = 8000, 6600
    controller = Controller(ControllerConfig(4000, BundlingConfig(200, wire_bps)), TABLE)
    controller.on_frame(0)
    controller.on_wire_total(keyframe_wire_bytes, 0)  # the keyframe went on the control channel
    assert controller.room_bytes(0) == 0
    drained_ms = keyframe_wire_bytes * 8000 / wire_bps  # 6.6 s at 8 kbps
    assert controller.room_bytes(drained_ms - 300) == 0
    room = controller.room_bytes(drained_ms)
    assert room > 0
    # A frames message that fits is counted once, even when the transport's total includes it.
    controller.on_message(room, 5, drained_ms)
    assert controller.wire is not None
    counted = controller.wire.counted_bytes
    controller.on_wire_total(counted, drained_ms)
    assert controller.wire.counted_bytes == counted


def test_report_carries_arrivals_and_refuses_a_lying_count() -> None:
    arrivals = tuple(ArrivalTime(seq, 5 * seq) for seq in range(MAX_ARRIVALS + 5))
    report = ReceiverReport(7, 3, 10, 1, 0, 0, 400, 9000, arrivals)
    decoded = ReceiverReport.decode(report.encode())
    assert decoded.arrivals == arrivals[-MAX_ARRIVALS:]  # the newest kept
    data = bytearray(report.encode())
    data[-4 * MAX_ARRIVALS - 1] += 1  # the count byte says one more than follows
    with pytest.raises(ValueError):
        ReceiverReport.decode(bytes(data))


def test_a_real_call_through_an_8_kbps_link_holds_the_wire_keyframe_included() -> None:
    """Real aiortc peers, the emulated link under the sender: a 2 kB keyframe on the control
    channel, then frames, all inside an 8 kbps wire target equal to the link's rate. (A 6 kB
    keyframe jams such a link: it takes longer than SCTP's 3-s retransmission timeout to
    cross, and aiortc's retransmissions fill the queue; docs/transport.md, Limits.)"""
    link_bps, latency_ms = 8000, 200
    config = ControllerConfig(4000, BundlingConfig(latency_ms, wire_bitrate_bps=link_bps))
    scenario = Scenario(duration_s=6, content=lambda t_s: 1.0, keyframe_bytes=2000)
    link = LinkConfig(rate_bps=link_bps, delay_ms=100)
    result = eventloop.run(run_call(config, TABLE, scenario, link=link))
    assert result.link is not None
    assert result.link.dropped["queue"] == 0
    assert result.max_wire_window_bps <= link_bps
    # Frames waited for the keyframe to cross the link: sent earlier they would have queued
    # behind it past the latency budget.
    keyframe_ms = wire_bytes(scenario.keyframe_bytes + 1) * 8000 / link_bps
    assert result.first_message_ms >= keyframe_ms - latency_ms
    assert result.delivered > 0.9


def test_the_wire_budget_leaves_room_for_the_acknowledgements_it_expects() -> None:
    """An acknowledgement the end owes every 500 ms (counted only once sent) and 300-B parts
    sent whenever the budget has room: no 1-second window holds more than the wire target,
    and the parts take what the acknowledgements leave."""
    budget = WireBudget(8000, 1000)
    sent: list[tuple[float, int]] = []
    parts = 0
    for t in range(0, 20_000, 20):
        if t % 500 == 0:
            budget.add_unscheduled(SACK_WIRE_BYTES, t)
            sent.append((t, SACK_WIRE_BYTES))
        while budget.room_bytes(t) >= 300:
            budget.add(300, t)
            sent.append((t, 300))
            parts += 1
    windows = [sum(b for s, b in sent if t - 1000 < s <= t) for t in range(0, 20_000, 20)]
    assert max(windows) <= 1000
    # 186 B/s of acknowledgements, one more kept as a burst, 300-B steps: 400 B/s of parts.
    assert budget.unscheduled_bps(19_980) == pytest.approx(8 * 2 * SACK_WIRE_BYTES, rel=0.01)
    assert parts * 300 / 20 >= 400


def test_parts_leave_room_for_the_frames_messages_due() -> None:
    """Frames messages of 300 B every 1.11 s (a refinement's spacing), acknowledgements every
    500 ms, and parts of 300 B whenever the budget holds them beside the frames messages due:
    every frames message still fits when it is due, no 1-second window holds more than the
    wire target, and the parts take what is left. The acknowledgements' rate is measured
    for 2 s first (the rate the look ahead expects settles then)."""
    budget = WireBudget(8000, 1000)
    sent: list[tuple[float, int]] = []
    parts = 0
    for t in range(-2000, 20_000, 10):
        if t % 500 == 0:
            budget.add_unscheduled(SACK_WIRE_BYTES, t)
            sent.append((t, SACK_WIRE_BYTES))
        if t < 0:
            continue
        if t % 1110 == 0:
            assert budget.room_bytes(t) >= 300
            budget.add(300, t)
            sent.append((t, 300))
        due = [(t - t % 1110 + 1110 * k, 300.0) for k in (1, 2)]
        while budget.room_bytes(t, due) >= 300:
            budget.add(300, t)
            sent.append((t, 300))
            parts += 1
    windows = [sum(b for s, b in sent if t - 1000 < s <= t) for t in range(0, 20_000, 10)]
    assert max(windows) <= 1000
    assert parts * 300 / 20 >= 200
