"""Loss, reordering and duplication on the unreliable channel between real aiortc peers."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import pytest

from facecodec.transport.call import Call, CallConfig, open_loopback_pair
from facecodec.transport.impairment import Impairment
from facecodec.transport.link_emulator import LinkConfig

TIMEOUT_S = 30.0
MESSAGES = 300
SEND_PERIOD_S = 0.005
POLL_S = 0.01


def run(scenario: Coroutine[Any, Any, None]) -> None:
    asyncio.run(asyncio.wait_for(scenario, TIMEOUT_S))


class Stream:
    """Numbered frames messages, in the order they arrived."""

    def __init__(self) -> None:
        self.arrived: list[int] = []

    def send(self, call: Call, index: int, size: int = 30) -> None:
        call.frames.send(index.to_bytes(2, "big") + bytes(size))

    async def collect(self, call: Call) -> None:
        async for message in call.frames:
            self.arrived.append(int.from_bytes(message[:2], "big"))

    async def wait_for(self, count: int) -> None:
        """Until ``count`` messages arrived (however long a loaded machine takes)."""
        while len(self.arrived) < count:
            await asyncio.sleep(POLL_S)


@pytest.mark.parametrize("loss", [0.1, 0.3])
def test_frames_keep_arriving_and_the_receiver_counts_the_damage(loss: float) -> None:
    impairment = Impairment(loss=loss, reorder=0.1, duplicate=0.03, seed=11, max_hold_ms=50)

    async def scenario() -> None:
        listener, dialer = await open_loopback_pair(
            CallConfig(report_interval_ms=100), CallConfig(impairment=impairment)
        )
        async with listener, dialer:
            stream = Stream()
            collecting = asyncio.ensure_future(stream.collect(listener))
            for i in range(MESSAGES):
                stream.send(dialer, i)
                await asyncio.sleep(SEND_PERIOD_S)
            done = dialer.stats.impairment
            assert done is not None and done.dropped > 0.6 * loss * MESSAGES
            # Every message not dropped arrives (a held one too); duplicates are not delivered.
            await stream.wait_for(MESSAGES - done.dropped)
            assert sorted(stream.arrived) == sorted(set(stream.arrived))
            got = listener.stats.received_sequence
            trailing = MESSAGES - 1 - listener.frames.tracker.highest
            assert got.lost == done.dropped - trailing
            assert got.reordered == done.reordered > 0
            assert got.duplicates == done.duplicated > 0
            # The sender hears about it: the last report carries the receiver's counts.
            feedback = None
            while feedback is None or feedback.report.received < got.received:
                feedback = await dialer.feedback.get()
            assert feedback.report.lost == got.lost
            collecting.cancel()

    run(scenario())


def test_real_packet_loss_both_ways_stalls_neither_channel() -> None:
    async def scenario() -> None:
        # 30% of all datagrams lost below DTLS both ways (both channels, SACKs, everything).
        listener, dialer = await open_loopback_pair(
            CallConfig(link=LinkConfig(loss=0.3, seed=3)),
            CallConfig(link=LinkConfig(loss=0.3, seed=4)),
        )
        async with listener, dialer:
            stream = Stream()
            collecting = asyncio.ensure_future(stream.collect(listener))
            frames, controls = 100, 10
            for i in range(frames):
                stream.send(dialer, i)
                if i % (frames // controls) == 0:
                    dialer.control.send(b"control %d" % i)
                await asyncio.sleep(0.02)
            # Every reliable message arrives, in order, despite 30% of all datagrams lost.
            received = [await listener.control.receive() for _ in range(controls)]
            assert received == [b"control %d" % i for i in range(0, frames, frames // controls)]
            # Frames messages that were lost are given up, never sent again: what arrives is
            # some of them, in the order they were sent.
            assert 0.5 * frames < len(stream.arrived) < 0.9 * frames
            assert stream.arrived == sorted(set(stream.arrived))
            collecting.cancel()

    run(scenario())
