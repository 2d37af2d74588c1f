"""Calls between real aiortc peers over loopback (DTLS, SCTP, UDP; no mocks)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Coroutine
from typing import Any

from aiortc import RTCConfiguration, RTCDataChannel, RTCPeerConnection

from facecodec.transport import CallConfig, CallState, eventloop
from facecodec.transport.call import (
    CONTROL_CHANNEL_ID,
    FRAMES_CHANNEL_ID,
    Call,
    open_loopback_pair,
)
from facecodec.transport.channel import ControlTag, MessageChannel
from facecodec.transport.overhead import wire_bytes
from facecodec.transport.sequence import FRAME_HEADER_BYTES
from facecodec.transport.signaling import MessageType, SignalingServer, dial

TIMEOUT_S = 20.0
TOKEN = "test-token-0123456789"


def run(scenario: Coroutine[Any, Any, None]) -> None:
    asyncio.run(asyncio.wait_for(scenario, TIMEOUT_S))


async def take(channel: MessageChannel, count: int) -> list[bytes]:
    return [await channel.receive() for _ in range(count)]


def test_messages_cross_both_channels_both_ways() -> None:
    keyframe = random.Random(0).randbytes(5000)  # several SCTP fragments

    async def scenario() -> None:
        listener, dialer = await open_loopback_pair()
        async with listener, dialer:
            for message in (keyframe, b"", b"operating point"):
                dialer.control.send(message)
            for i in range(20):
                dialer.frames.send(bytes([i]) * (i + 1))
                listener.frames.send(b"back %d" % i)
            listener.control.send(b"keyframe please")

            assert await take(listener.control, 3) == [keyframe, b"", b"operating point"]
            received = await take(listener.frames, 20)
            assert sorted(received, key=len) == [bytes([i]) * (i + 1) for i in range(20)]
            assert await dialer.control.receive() == b"keyframe please"
            assert len(await take(dialer.frames, 20)) == 20

            sent = dialer.stats.frames
            assert (sent.messages_sent, sent.payload_bytes_sent) == (20, sum(range(1, 21)))
            assert sent.wire_bytes_sent == sum(
                wire_bytes(i + 1 + FRAME_HEADER_BYTES) for i in range(20)
            )
            got = listener.stats
            assert got.frames.payload_bytes_received == sent.payload_bytes_sent
            assert got.control.payload_bytes_received == len(keyframe) + len(b"operating point")
            assert (got.received_sequence.received, got.received_sequence.lost) == (20, 0)

    run(scenario())


def test_receiver_reports_give_loss_rtt_and_throughput() -> None:
    async def scenario() -> None:
        fast = CallConfig(report_interval_ms=100)
        listener, dialer = await open_loopback_pair(fast, fast)
        async with listener, dialer:
            for _ in range(30):
                dialer.frames.send(bytes(48))
                await asyncio.sleep(0.01)
            async for latest in dialer.feedback:  # reports keep coming until all 30 show
                if latest.report.received == 30 and latest.throughput_bps is not None:
                    break
            assert latest.loss_fraction == 0.0
            # How long the round trip takes depends on the machine's load: measured, not bounded.
            assert latest.rtt_ms is not None and latest.rtt_ms >= 0
            assert latest.throughput_bps > 0
            assert listener.stats.received_sequence.received == 30
            assert dialer.rtt_ms == latest.rtt_ms
            # Only an end that receives frames reports: the dialer has sent nothing back.
            assert dialer.stats.control.wire_bytes_sent == 0
            assert listener.stats.control.wire_bytes_sent > 0

    run(scenario())


async def raw_peer(port: int) -> tuple[RTCPeerConnection, RTCDataChannel, RTCDataChannel]:
    """A plain aiortc peer that knows the token but not our framing: a buggy sender."""
    session = await dial("127.0.0.1", port, TOKEN)
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    control = pc.createDataChannel("control", negotiated=True, id=CONTROL_CHANNEL_ID)
    frames = pc.createDataChannel(
        "frames", negotiated=True, id=FRAMES_CHANNEL_ID, ordered=False, maxRetransmits=0
    )
    opened = asyncio.Event()
    frames.on("open", opened.set)
    await pc.setLocalDescription(await pc.createOffer())
    await session.send_description(pc.localDescription)
    await pc.setRemoteDescription(await session.receive_description(MessageType.ANSWER))
    await session.close()
    await opened.wait()
    return pc, control, frames


def test_garbage_on_both_channels_leaves_the_receiver_running() -> None:
    rng = random.Random(5)
    garbage: list[bytes | str] = [rng.randbytes(rng.randrange(0, 300)) for _ in range(200)]
    garbage += [b"", b"\x07junk", bytes([ControlTag.REPORT]) + b"short", "text, not bytes"]
    # Garbage whose first byte is the message tag is an (opaque) application message: the
    # codec's decoder judges it. Everything else on the control channel is malformed.
    tagged = sum(1 for m in garbage if isinstance(m, bytes) and m[:1] == b"\x00")

    async def scenario() -> None:
        async with await SignalingServer.start("127.0.0.1", 0, TOKEN) as server:
            accepting = asyncio.ensure_future(Call.accept(server))
            pc, control, frames = await raw_peer(server.address[1])
            call = await accepting
        async with call:
            for message in garbage:
                control.send(message)
                frames.send(message)
            control.send(bytes([ControlTag.MESSAGE]) + b"still here")
            # Three consecutive numbers: in order, or out of range then resynchronised.
            for seq in range(40000, 40003):
                frames.send(seq.to_bytes(2, "big") + b"ok")
            while await call.control.receive() != b"still here":
                pass
            while await call.frames.receive() != b"ok":
                pass
            stats = call.stats
            assert call.state == CallState.OPEN
            assert stats.control.messages_received == tagged + 1
            assert stats.control.malformed_received == len(garbage) - tagged
            short = sum(1 for m in garbage if isinstance(m, str) or len(m) < FRAME_HEADER_BYTES)
            assert stats.frames.malformed_received == short
            call.control.send(b"still answering")
            await pc.close()

    run(scenario())


def test_hanging_up_ends_the_other_side() -> None:
    async def scenario() -> None:
        listener, dialer = await open_loopback_pair()
        dialer.frames.send(b"\x00last")
        await dialer.close()
        received = [message async for message in listener.frames]
        await asyncio.wait_for(listener.wait_closed(), 5)
        assert listener.state == CallState.CLOSED
        assert len(received) <= 1

    run(scenario())


def test_a_call_runs_on_uvloop() -> None:
    async def scenario() -> tuple[str, bytes]:
        listener, dialer = await open_loopback_pair()
        async with listener, dialer:
            dialer.control.send(b"uv")
            message = await asyncio.wait_for(listener.control.receive(), TIMEOUT_S)
            return type(asyncio.get_running_loop()).__module__, message

    assert eventloop.run(scenario()) == ("uvloop", b"uv")
