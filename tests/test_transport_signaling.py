"""The shared token: checked before any peer connection exists, on both sides."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import struct
from collections.abc import Coroutine
from typing import Any

import pytest
from aiortc import RTCPeerConnection

from facecodec.transport import call as call_module
from facecodec.transport import eventloop
from facecodec.transport.auth import TOKEN_ENV, Proof, resolve_token, sign
from facecodec.transport.call import Call
from facecodec.transport.signaling import (
    SIGNALING_VERSION,
    Refusal,
    SignalingServer,
    TokenRefusedError,
    parse_address,
)

TIMEOUT_S = 20.0
TOKEN = "right-token-0123456789"


def run(scenario: Coroutine[Any, Any, None]) -> None:
    asyncio.run(asyncio.wait_for(scenario, TIMEOUT_S))


@pytest.fixture
def peer_connections(monkeypatch: pytest.MonkeyPatch) -> list[RTCPeerConnection]:
    """Every RTCPeerConnection the transport creates (a spy; the class itself is real)."""
    created: list[RTCPeerConnection] = []

    class Recorded(RTCPeerConnection):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            created.append(self)

    monkeypatch.setattr(call_module, "RTCPeerConnection", Recorded)
    return created


async def read_json(reader: asyncio.StreamReader) -> dict[str, Any]:
    return json.loads(await reader.readline())


def test_wrong_token_is_refused_before_any_peer_connection(
    peer_connections: list[RTCPeerConnection],
) -> None:
    async def scenario() -> None:
        async with await SignalingServer.start("127.0.0.1", 0, TOKEN) as server:
            port = server.address[1]
            accepting = asyncio.ensure_future(Call.accept(server))
            with pytest.raises(TokenRefusedError, match="refused the call: wrong token"):
                await Call.dial("127.0.0.1", port, "wrong-token-0123456789")
            assert peer_connections == []
            assert server.refused == 1
            # The listener keeps waiting, and the right caller gets through.
            async with await Call.dial("127.0.0.1", port, TOKEN) as caller, await accepting:
                caller.control.send(b"hi")
            assert len(peer_connections) == 2

    run(scenario())


def test_caller_without_token_gets_a_clear_refusal_and_is_hung_up_on(
    peer_connections: list[RTCPeerConnection],
) -> None:
    async def scenario() -> None:
        async with await SignalingServer.start("127.0.0.1", 0, TOKEN) as server:
            for auth, reason in (
                ({"type": "auth", "nonce": "00" * 16}, Refusal.MISSING_TOKEN),
                ({"type": "offer", "sdp": "v=0"}, Refusal.MALFORMED),
            ):
                reader, writer = await asyncio.open_connection(*server.address)
                hello = await read_json(reader)
                assert hello["version"] == SIGNALING_VERSION
                writer.write(json.dumps(auth).encode() + b"\n")
                refusal = await read_json(reader)
                assert refusal == {"type": "refused", "reason": reason.value}
                assert await reader.read() == b""  # hung up
                writer.close()
            assert server.refused == 2
        assert peer_connections == []

    run(scenario())


def test_listener_that_does_not_know_the_token_is_refused_by_the_caller(
    peer_connections: list[RTCPeerConnection],
) -> None:
    async def impostor(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonce = "11" * 16
        writer.write(json.dumps({"type": "hello", "version": 1, "nonce": nonce}).encode() + b"\n")
        auth = await read_json(reader)
        nonces = bytes.fromhex(nonce), bytes.fromhex(auth["nonce"])
        proof = sign("another-token-0123456", Proof.LISTENER, *nonces)
        writer.write(json.dumps({"type": "welcome", "proof": proof}).encode() + b"\n")
        await reader.read()

    async def scenario() -> None:
        server = await asyncio.start_server(impostor, "127.0.0.1", 0)
        async with server:
            port = server.sockets[0].getsockname()[1]
            with pytest.raises(TokenRefusedError, match="does not know the token"):
                await Call.dial("127.0.0.1", port, TOKEN)
        assert peer_connections == []

    run(scenario())


def test_offer_not_signed_with_the_token_is_refused(
    peer_connections: list[RTCPeerConnection],
) -> None:
    """A machine in the middle that swaps the offer (and its DTLS fingerprint) is caught."""

    async def scenario() -> None:
        async with await SignalingServer.start("127.0.0.1", 0, TOKEN) as server:
            accepting = asyncio.ensure_future(Call.accept(server))
            reader, writer = await asyncio.open_connection(*server.address)
            hello = await read_json(reader)
            nonces = bytes.fromhex(hello["nonce"]), bytes(16)
            proof = sign(TOKEN, Proof.DIALER, *nonces)
            writer.write(
                json.dumps({"type": "auth", "nonce": nonces[1].hex(), "proof": proof}).encode()
                + b"\n"
            )
            assert (await read_json(reader))["type"] == "welcome"
            forged = {"type": "offer", "sdp": "v=0\r\n", "mac": sign(TOKEN, Proof.OFFER, b"x")}
            writer.write(json.dumps(forged).encode() + b"\n")
            with pytest.raises(TokenRefusedError, match="not signed"):
                await accepting
            writer.close()
        assert peer_connections == []

    run(scenario())


async def reset_during_handshake(address: tuple[str, int], send_auth: bool) -> None:
    """A caller that resets its connection (TCP RST) after the hello, or after a wrong proof."""
    reader, writer = await asyncio.open_connection(*address)
    await read_json(reader)
    if send_auth:
        auth = {"type": "auth", "nonce": "00" * 16, "proof": "ab" * 32}
        writer.write(json.dumps(auth).encode() + b"\n")
        await writer.drain()
    linger_zero = struct.pack("ii", 1, 0)  # close() then resets instead of hanging up politely
    writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger_zero)
    writer.transport.abort()


def test_a_caller_resetting_mid_handshake_is_one_log_line(caplog) -> None:
    """The refusal meets a closed socket: uvloop (what ``facecodec receive`` runs on) raised
    from the connection callback and asyncio printed a traceback for it."""

    async def scenario() -> None:
        async with await SignalingServer.start("127.0.0.1", 0, TOKEN) as server:
            for send_auth in (False, True, False, True):
                await reset_during_handshake(server.address, send_auth)
            while server.refused < 4:
                await asyncio.sleep(0.01)
            # and it still answers the next caller
            accepting = asyncio.ensure_future(Call.accept(server))
            async with await Call.dial("127.0.0.1", server.address[1], TOKEN), await accepting:
                pass

    with caplog.at_level(logging.WARNING):
        eventloop.run(asyncio.wait_for(scenario(), TIMEOUT_S))
    refusals = [r for r in caplog.records if r.name == "facecodec.transport.signaling"]
    assert len(refusals) == 4 and all(r.levelno == logging.WARNING for r in refusals)
    assert all(r.exc_info is None for r in refusals)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_token_comes_from_the_flag_or_the_environment() -> None:
    assert resolve_token("from-the-flag", {TOKEN_ENV: "from-the-env"}) == "from-the-flag"
    assert resolve_token(None, {TOKEN_ENV: "from-the-env"}) == "from-the-env"
    with pytest.raises(ValueError, match=f"pass --token or set {TOKEN_ENV}"):
        resolve_token(None, {})
    with pytest.raises(ValueError, match="too short"):
        resolve_token("short", {})


def test_addresses_as_people_write_them() -> None:
    assert parse_address("192.168.1.20:7860") == ("192.168.1.20", 7860)
    assert parse_address("[::1]:7860") == ("::1", 7860)
    assert parse_address("laptop.local:80") == ("laptop.local", 80)
    for bad in ("7860", "host:", ":7860", "host:port", "host:70000", "host:0"):
        with pytest.raises(ValueError, match="write HOST:PORT"):
            parse_address(bad)
