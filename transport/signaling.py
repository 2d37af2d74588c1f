"""Signaling over TCP that a person can run: one side listens, the other dials.

JSON lines, one object per line. The listener speaks first; nothing about a call exists on either
side until both have proven the shared token (facecodec.transport.auth)::

    listener -> dialer   {"type": "hello", "version": 1, "nonce": L}
    dialer   -> listener {"type": "auth", "nonce": D, "proof": MAC(dialer, L, D)}
    listener -> dialer   {"type": "welcome", "proof": MAC(listener, L, D)}
                      or {"type": "refused", "reason": "wrong token"}, then it hangs up
    dialer   -> listener {"type": "offer", "sdp": ..., "mac": MAC(offer, L, D, sdp)}
    listener -> dialer   {"type": "answer", "sdp": ..., "mac": MAC(answer, L, D, sdp)}
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from enum import StrEnum

from aiortc import RTCSessionDescription

from .auth import Proof, new_nonce, sign, verify

logger = logging.getLogger(__name__)

SIGNALING_VERSION = 1
MAX_LINE_BYTES = 65536
"""Session descriptions are a few kilobytes; longer lines are refused, not buffered."""
HANDSHAKE_TIMEOUT_S = 10.0
"""A caller that stays silent this long is hung up on, so it cannot hold the listener."""


class SignalingError(ConnectionError):
    """The other side broke the signaling protocol or hung up."""


class TokenRefusedError(SignalingError):
    """One side does not know the token the other one holds."""


class MessageType(StrEnum):
    HELLO = "hello"
    AUTH = "auth"
    WELCOME = "welcome"
    REFUSED = "refused"
    OFFER = "offer"
    ANSWER = "answer"


class Refusal(StrEnum):
    """Reasons a listener gives before it hangs up."""

    MISSING_TOKEN = "missing token"
    WRONG_TOKEN = "wrong token"
    MALFORMED = "malformed handshake"


def parse_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6 address]:PORT`` for IPv6) as a person writes it on the command line."""
    host, sep, port = text.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"bad address {text!r}: write HOST:PORT, e.g. 192.168.1.20:7860")
    return host, int(port)


async def _write(writer: asyncio.StreamWriter, kind: MessageType, **fields: object) -> None:
    if writer.is_closing():
        # The other side reset the connection: asyncio's loop would raise ConnectionError on
        # drain, uvloop's a RuntimeError on write; callers handle ConnectionError.
        raise ConnectionResetError("the other side hung up")
    writer.write(json.dumps({"type": kind.value, **fields}).encode("utf-8") + b"\n")
    await writer.drain()


async def _read(reader: asyncio.StreamReader, expected: MessageType) -> dict[str, object]:
    """The next message, which must be of type ``expected`` (a refusal raises TokenRefusedError)."""
    try:
        line = await reader.readline()
        message = json.loads(line) if line else None
    except (ValueError, ConnectionError) as exc:  # over-long line, bad JSON, reset
        raise SignalingError(f"malformed signaling message: {exc}") from exc
    if not isinstance(message, dict):
        raise SignalingError("the other side hung up" if not line else "malformed message")
    if message.get("type") == MessageType.REFUSED and expected != MessageType.REFUSED:
        raise TokenRefusedError(f"the receiver refused the call: {message.get('reason', '?')}")
    if message.get("type") != expected:
        raise SignalingError(f"expected a {expected.value} message, got {message.get('type')!r}")
    return message


def _text(message: dict[str, object], name: str) -> str:
    value = message.get(name)
    if not isinstance(value, str):
        raise SignalingError(f"{message.get('type')} message without a {name}")
    return value


def _nonce(message: dict[str, object]) -> bytes:
    try:
        return bytes.fromhex(_text(message, "nonce"))
    except ValueError as exc:
        raise SignalingError("nonce is not hex") from exc


class Session:
    """An authenticated signaling connection; it carries one offer and one answer."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        token: str,
        nonces: tuple[bytes, bytes],
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._token = token
        self._nonces = nonces

    def _mac(self, kind: MessageType, sdp: str) -> str:
        proof = Proof.OFFER if kind == MessageType.OFFER else Proof.ANSWER
        return sign(self._token, proof, *self._nonces, sdp.encode("utf-8"))

    async def send_description(self, description: RTCSessionDescription) -> None:
        kind = MessageType(description.type)
        await _write(self._writer, kind, sdp=description.sdp, mac=self._mac(kind, description.sdp))

    async def receive_description(self, kind: MessageType) -> RTCSessionDescription:
        """The peer's offer or answer, once its MAC shows it comes from the token holder."""
        message = await asyncio.wait_for(_read(self._reader, kind), HANDSHAKE_TIMEOUT_S)
        sdp = _text(message, "sdp")
        if not verify(self._mac(kind, sdp), message.get("mac")):
            raise TokenRefusedError(f"the {kind.value} is not signed with the token")
        return RTCSessionDescription(sdp=sdp, type=kind.value)

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(ConnectionError):
            await self._writer.wait_closed()


async def dial(host: str, port: int, token: str) -> Session:
    """Connect to a listener and prove the token both ways.

    Raises TokenRefusedError when the tokens differ, SignalingError on a protocol error.
    """
    reader, writer = await asyncio.open_connection(host, port, limit=MAX_LINE_BYTES)
    try:
        return await asyncio.wait_for(_dial_handshake(reader, writer, token), HANDSHAKE_TIMEOUT_S)
    except BaseException:
        writer.close()
        raise


async def _dial_handshake(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, token: str
) -> Session:
    hello = await _read(reader, MessageType.HELLO)
    if hello.get("version") != SIGNALING_VERSION:
        raise SignalingError(f"the listener speaks signaling version {hello.get('version')!r}")
    nonces = (_nonce(hello), new_nonce())
    proof = sign(token, Proof.DIALER, *nonces)
    await _write(writer, MessageType.AUTH, nonce=nonces[1].hex(), proof=proof)
    welcome = await _read(reader, MessageType.WELCOME)
    if not verify(sign(token, Proof.LISTENER, *nonces), welcome.get("proof")):
        raise TokenRefusedError("the receiver does not know the token")
    return Session(reader, writer, token, nonces)


class SignalingServer:
    """Listens for callers; only those who prove the token come out of ``accept``."""

    def __init__(self, token: str) -> None:
        self._token = token
        self._server: asyncio.Server | None = None
        self._sessions: asyncio.Queue[Session] = asyncio.Queue()
        self.refused = 0
        """Callers hung up on so far."""

    @classmethod
    async def start(cls, host: str, port: int, token: str) -> SignalingServer:
        """Bind ``host:port`` (port 0 picks a free one, see ``address``)."""
        server = cls(token)
        server._server = await asyncio.start_server(
            server._on_connection, host, port, limit=MAX_LINE_BYTES
        )
        return server

    @property
    def address(self) -> tuple[str, int]:
        assert self._server is not None
        host, port = self._server.sockets[0].getsockname()[:2]
        return host, port

    async def accept(self) -> Session:
        """Wait for the next caller that knows the token."""
        return await self._sessions.get()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        while not self._sessions.empty():
            await self._sessions.get_nowait().close()

    async def __aenter__(self) -> SignalingServer:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def _on_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        peer = writer.get_extra_info("peername")
        try:
            nonces = await asyncio.wait_for(
                self._listen_handshake(reader, writer), HANDSHAKE_TIMEOUT_S
            )
        except (ConnectionError, TimeoutError) as exc:  # SignalingError included
            self.refused += 1
            logger.warning("refused caller %s: %s", peer, exc or "silent")
            writer.close()
            return
        await self._sessions.put(Session(reader, writer, self._token, nonces))

    async def _listen_handshake(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> tuple[bytes, bytes]:
        listener_nonce = new_nonce()
        await _write(
            writer, MessageType.HELLO, version=SIGNALING_VERSION, nonce=listener_nonce.hex()
        )
        try:
            auth = await _read(reader, MessageType.AUTH)
            nonces = (listener_nonce, _nonce(auth))
        except SignalingError:
            await self._refuse(writer, Refusal.MALFORMED)
            raise
        if not auth.get("proof"):
            await self._refuse(writer, Refusal.MISSING_TOKEN)
            raise TokenRefusedError(Refusal.MISSING_TOKEN.value)
        if not verify(sign(self._token, Proof.DIALER, *nonces), auth.get("proof")):
            await self._refuse(writer, Refusal.WRONG_TOKEN)
            raise TokenRefusedError(Refusal.WRONG_TOKEN.value)
        await _write(writer, MessageType.WELCOME, proof=sign(self._token, Proof.LISTENER, *nonces))
        return nonces

    @staticmethod
    async def _refuse(writer: asyncio.StreamWriter, reason: Refusal) -> None:
        with contextlib.suppress(ConnectionError):
            await _write(writer, MessageType.REFUSED, reason=reason.value)
