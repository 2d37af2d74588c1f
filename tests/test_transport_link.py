"""The emulated link: its logic with time passed in (no sockets), then real aiortc peers
through it, and the ``--link`` flag as people write it."""

from __future__ import annotations

import asyncio
import itertools
import random

import numpy as np
import pytest

from facecodec.call.arguments import parse_link
from facecodec.transport.call import CallConfig, open_loopback_pair
from facecodec.transport.link_emulator import BurstLoss, Drop, LinkConfig, LinkModel
from facecodec.transport.overhead import UDP_IPV4_HEADER_BYTES

RATE_BPS = 8000
BYTES_PER_MS = RATE_BPS / 8000
TIMEOUT_S = 30.0


def offered(model: LinkModel, sizes: list[int], times_ms: list[float]) -> list[float | Drop]:
    return [model.send(size, t) for size, t in zip(sizes, times_ms, strict=True)]


def test_the_rate_holds_in_every_window_and_a_full_queue_drops_the_tail() -> None:
    config = LinkConfig(rate_bps=RATE_BPS, delay_ms=100, queue_bytes=4000)
    model = LinkModel(config)
    rng = random.Random(1)
    times = sorted(rng.uniform(0, 20_000) for _ in range(400))
    sizes = [rng.choice([60, 120, 1200]) for _ in times]
    arrivals = offered(model, sizes, times)
    sent = [
        (a - config.delay_ms, s + UDP_IPV4_HEADER_BYTES)
        for a, s in zip(arrivals, sizes, strict=True)
        if not isinstance(a, Drop)
    ]
    # Token bucket: what leaves in any window of T ms is at most the bucket plus T at the rate
    # (a datagram larger than the bucket may leave once it is full).
    for (t0, _), (t1, _) in itertools.combinations(sent, 2):
        window = sum(s for t, s in sent if t0 <= t <= t1)
        assert window <= config.bucket_bytes + 1200 + (t1 - t0) * BYTES_PER_MS + 1e-6
    stats = model.stats
    assert stats.dropped[Drop.QUEUE.value] > 0  # offered 2-3x the rate
    assert stats.accepted + stats.dropped[Drop.QUEUE.value] == len(times)
    # Nothing waits longer than a full queue takes to drain.
    assert max(stats.queue_delays_ms) <= (config.queue_bytes + 1200) / BYTES_PER_MS
    assert stats.queue_delay_ms(50) <= stats.queue_delay_ms(95)
    # The most offered in any 1-s window (what the sender put on the wire, drops included).
    offered_sizes = [s + UDP_IPV4_HEADER_BYTES for s in sizes]
    most = max(
        sum(s for u, s in zip(times, offered_sizes, strict=True) if t - 1000 < u <= t)
        for t in times
    )
    assert stats.max_offered_1s_bytes == most


def test_delay_and_jitter_keep_the_order() -> None:
    model = LinkModel(LinkConfig(delay_ms=100, jitter_ms=30, seed=3))
    times = [float(t) for t in range(0, 2000, 5)]
    arrivals = offered(model, [100] * len(times), times)
    assert all(not isinstance(a, Drop) for a in arrivals)
    waited = np.array(arrivals) - np.array(times)
    assert waited.min() >= 70 and waited.max() <= 130 + 5  # held behind an earlier one
    assert waited.std() > 5  # it does vary
    assert arrivals == sorted(arrivals)


def test_random_and_burst_loss_are_seeded_and_counted_by_cause() -> None:
    burst = BurstLoss(enter=0.02, leave=0.25)
    config = LinkConfig(loss=0.01, burst=burst, seed=5)
    runs = [offered(LinkModel(config), [50] * 20_000, [0.0] * 20_000) for _ in range(2)]
    assert runs[0] == runs[1]
    lost = [isinstance(a, Drop) for a in runs[0]]
    causes = [a for a in runs[0] if isinstance(a, Drop)]
    assert {Drop.BURST, Drop.RANDOM} == set(causes)
    # Bursts: the chain stays bad for 1/leave = 4 datagrams on average, 2% of the time enters.
    bursts = [len(list(g)) for bad, g in itertools.groupby(a == Drop.BURST for a in runs[0]) if bad]
    assert 3.0 < np.mean(bursts) < 5.0
    share_bad = burst.enter / (burst.enter + burst.leave)
    assert abs(causes.count(Drop.BURST) / len(lost) - share_bad) < 0.02
    assert abs(causes.count(Drop.RANDOM) / len(lost) - 0.01 * (1 - share_bad)) < 0.005


def test_link_flag_as_people_write_it() -> None:
    link = parse_link("8kbps,100ms,1%")
    assert (link.rate_bps, link.delay_ms, link.loss) == (8000, 100.0, 0.01)
    assert parse_link("2kbps").delay_ms == 0.0
    assert parse_link("-,50ms,0.005,jitter=10ms,queue=4000").queue_bytes == 4000
    for text, says in (
        ("8kbs,100ms,1%", "bad bit-rate unit 'kbs'"),
        ("8kbps,100x,1%", "bad duration '100x'"),
        ("8kbps,100ms,150%", "more than all"),
        ("8kbps,1ms,1%,2", "write RATE,DELAY,LOSS"),
        ("8kbps,colour=red", "write RATE,DELAY,LOSS"),
    ):
        with pytest.raises(ValueError, match=says):
            parse_link(text)


def test_real_peers_through_a_narrow_lossy_link() -> None:
    """8 kbps, 100 ms each way, 5% loss (seed 9 drops the 2nd datagram forward): the reliable
    channel still gets everything through, in order; a round trip takes the two delays."""
    link = LinkConfig(rate_bps=RATE_BPS, delay_ms=100, loss=0.05, seed=9)

    async def scenario() -> None:
        listener, dialer = await open_loopback_pair(
            CallConfig(report_interval_ms=200, link=link), CallConfig(link=link)
        )
        async with listener, dialer:
            keyframe = random.Random(0).randbytes(1500)  # two datagrams
            dialer.control.send(keyframe)
            for i in range(15):  # 4.6 kbps on the wire
                dialer.frames.send(bytes([i]) * 20)
                await asyncio.sleep(0.2)
            dialer.control.send(b"last")
            assert [await listener.control.receive() for _ in range(2)] == [keyframe, b"last"]
            forward = dialer.stats.link
            assert forward is not None and forward.dropped[Drop.RANDOM.value] > 0
            assert 0 < listener.stats.frames.messages_received <= 15
            # Whatever the machine's speed, a round trip takes at least the two delays.
            async for feedback in dialer.feedback:
                if feedback.rtt_ms is not None:
                    break
            assert feedback.rtt_ms >= 2 * link.delay_ms
            assert listener.stats.link is not None and listener.stats.link.delivered > 0

    asyncio.run(asyncio.wait_for(scenario(), TIMEOUT_S))
