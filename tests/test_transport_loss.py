"""Loss, reordering and duplication on the unreliable channel between real aiortc peers."""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import pytest

from facecodec.transport.call import Call, CallConfig, open_loopback_pair
from facecodec.transport.impairment import Impairment

TIMEOUT_S = 30.0
MESSAGES = 300
SEND_PERIOD_S = 0.005


def run(scenario: Coroutine[Any, Any, None]) -> None:
    asyncio.run(asyncio.wait_for(scenario, TIMEOUT_S))


async def collect(call: Call, arrivals: list[float]) -> None:
    async for _ in call.frames:
        arrivals.append(time.monotonic())


@pytest.mark.parametrize("loss", [0.1, 0.3])
def test_frames_keep_arriving_and_the_receiver_counts_the_damage(loss: float) -> None:
    impairment = Impairment(loss=loss, reorder=0.1, duplicate=0.03, seed=11, max_hold_ms=50)

    async def scenario() -> None:
        listener, dialer = await open_loopback_pair(
            CallConfig(report_interval_ms=100), CallConfig(impairment=impairment)
        )
        async with listener, dialer:
            arrivals: list[float] = []
            collecting = asyncio.ensure_future(collect(listener, arrivals))
            start = time.monotonic()
            for i in range(MESSAGES):
                dialer.frames.send(i.to_bytes(2, "big") + bytes(30))
                await asyncio.sleep(SEND_PERIOD_S)
            duration = time.monotonic() - start
            await asyncio.sleep(0.3)  # held messages, last report

            done = dialer.stats.impairment
            got = listener.stats.received_sequence
            assert done is not None and done.dropped > 0.6 * loss * MESSAGES
            assert len(arrivals) == MESSAGES - done.dropped  # duplicates are not delivered
            trailing = MESSAGES - 1 - listener.frames.tracker.highest
            assert got.lost == done.dropped - trailing
            assert got.reordered == done.reordered > 0
            assert got.duplicates == done.duplicated > 0
            # Frames kept coming throughout: no silence longer than a tenth of the run.
            gaps = silences(start, start + duration, arrivals)
            assert max(gaps) < duration / 10
            # The sender hears about it: the last report carries the receiver's counts.
            feedback = None
            while feedback is None or feedback.report.received < got.received:
                feedback = await dialer.feedback.get()
            assert feedback.report.lost == got.lost
            collecting.cancel()

    run(scenario())


def silences(start: float, end: float, arrivals: list[float]) -> list[float]:
    """Times between consecutive arrivals, and from the start and to the end of sending."""
    return [b - a for a, b in itertools.pairwise(sorted([start, *arrivals, end]))]


def drop_datagrams(call: Call, loss: float, rng: random.Random) -> None:
    """Drop UDP datagrams below DTLS (both channels, SACKs, everything), like a lossy link."""
    ice = call.peer_connection.sctp.transport.transport
    send: Callable[[bytes], Awaitable[None]] = ice._send

    async def lossy_send(data: bytes) -> None:
        if rng.random() >= loss:
            await send(data)

    ice._send = lossy_send


def test_real_packet_loss_both_ways_stalls_neither_channel() -> None:
    async def scenario() -> None:
        listener, dialer = await open_loopback_pair()
        async with listener, dialer:
            rng = random.Random(3)
            for call in (listener, dialer):
                drop_datagrams(call, 0.3, rng)
            arrivals: list[float] = []
            collecting = asyncio.ensure_future(collect(listener, arrivals))
            frames, controls = 100, 10
            start = time.monotonic()
            for i in range(frames):
                dialer.frames.send(bytes(40))
                if i % (frames // controls) == 0:
                    dialer.control.send(b"control %d" % i)
                await asyncio.sleep(0.02)
            duration = time.monotonic() - start
            # Every reliable message arrives, in order, despite 30% of all datagrams lost.
            received = [await listener.control.receive() for _ in range(controls)]
            assert received == [b"control %d" % i for i in range(0, frames, frames // controls)]
            assert 0.5 * frames < len(arrivals) < 0.9 * frames
            gaps = silences(start, start + duration, arrivals)
            assert max(gaps) < duration / 4
            collecting.cancel()

    run(scenario())
