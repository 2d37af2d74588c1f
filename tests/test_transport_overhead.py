"""The wire-cost estimate against the bytes aiortc's DTLS transport really sends."""

from __future__ import annotations

import asyncio

from facecodec.transport.call import Call, open_loopback_pair
from facecodec.transport.channel import MessageChannel
from facecodec.transport.overhead import UDP_IPV4_HEADER_BYTES, wire_bytes

SIZES = [1, 2, 3, 4, 10, 57, 1000, 1158, 1159, 1160, 1161, 3000]


def sent_on_the_wire(call: Call) -> int:
    """UDP payload bytes the DTLS transport sent, plus UDP/IPv4 headers per datagram."""
    # aiortc keeps these counters private; they count every DTLS record it writes.
    stats = next(iter(call.peer_connection.sctp.transport._get_stats().values()))
    return stats.bytesSent + UDP_IPV4_HEADER_BYTES * stats.packetsSent


async def measure(call: Call, channel: MessageChannel, size: int) -> tuple[int, int]:
    """(measured, estimated) wire bytes of one message of ``size`` payload bytes."""
    before, estimated = sent_on_the_wire(call), channel.stats.wire_bytes_sent
    channel.send(bytes(size))
    await asyncio.sleep(0.02)
    return sent_on_the_wire(call) - before, channel.stats.wire_bytes_sent - estimated


def test_estimated_wire_bytes_match_what_dtls_sends() -> None:
    async def scenario() -> list[tuple[int, int]]:
        listener, dialer = await open_loopback_pair()
        async with listener, dialer:
            results = []
            for channel in (dialer.frames, dialer.control):
                for size in SIZES:
                    results.append(await measure(dialer, channel, size))
            return results

    results = asyncio.run(asyncio.wait_for(scenario(), 20))
    assert all(measured == estimated for measured, estimated in results), results
    # The figure: about 67 B of DTLS+SCTP and 28 B of UDP/IP per small message.
    assert wire_bytes(10) - 10 == 67 + 28
