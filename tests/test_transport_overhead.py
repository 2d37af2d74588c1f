"""The wire-cost estimates against the bytes aiortc's DTLS transports really send."""

from __future__ import annotations

import asyncio

from facecodec.transport.call import Call, CallConfig, open_loopback_pair
from facecodec.transport.overhead import UDP_IPV4_HEADER_BYTES, wire_bytes

SIZES = [1, 2, 3, 4, 10, 57, 1000, 1158, 1159, 1160, 1161, 3000]
NO_REPORTS = CallConfig(report_interval_ms=600_000)


def measured(call: Call) -> int:
    """UDP payload bytes the DTLS transport sent, plus UDP/IPv4 headers per datagram."""
    # aiortc keeps these counters private; they count every DTLS record it writes.
    stats = next(iter(call.peer_connection.sctp.transport._get_stats().values()))
    return stats.bytesSent + UDP_IPV4_HEADER_BYTES * stats.packetsSent


def estimated(call: Call) -> int:
    return call.stats.wire_bytes_sent


async def acknowledged(sender: Call) -> None:
    """Until the receiver's acknowledgements of everything ``sender`` sent came back (the
    receiver sent them): a loaded machine may take longer than any fixed wait."""
    sctp = sender.peer_connection.sctp  # aiortc keeps its queues private too
    while sctp._sent_queue or sctp._outbound_queue:
        await asyncio.sleep(0.005)


async def one_message(sender: Call, receiver: Call, channel: str, size: int) -> list[int]:
    """Measured and estimated wire bytes of one message, forward and acknowledged."""
    before = [f(call) for call in (sender, receiver) for f in (measured, estimated)]
    getattr(sender, channel).send(bytes(size))
    await getattr(receiver, channel).receive()
    await acknowledged(sender)
    after = [f(call) for call in (sender, receiver) for f in (measured, estimated)]
    return [b - a for a, b in zip(before, after, strict=True)]


def test_estimated_wire_bytes_match_what_dtls_sends_both_ways() -> None:
    async def scenario() -> list[list[int]]:
        listener, dialer = await open_loopback_pair(NO_REPORTS, NO_REPORTS)
        async with listener, dialer:
            return [
                await one_message(dialer, listener, channel, size)
                for channel in ("frames", "control")
                for size in SIZES
            ]

    for forward_measured, forward_estimated, back_measured, back_estimated in asyncio.run(
        asyncio.wait_for(scenario(), 20)
    ):
        assert forward_measured == forward_estimated > 0
        assert back_measured == back_estimated > 0
    # The figure: about 67 B of DTLS+SCTP and 28 B of UDP/IP per small message.
    assert wire_bytes(10) - 10 == 67 + 28
