"""What the sessions need of a transport, so that they run over WebRTC channels
(``facecodec.transport.Call``), a stream file or memory without importing aiortc."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol


class Outgoing(Protocol):
    @property
    def is_open(self) -> bool: ...

    def send(self, payload: bytes) -> None: ...


class Channel(Outgoing, Protocol):
    def __aiter__(self) -> AsyncIterator[bytes]: ...


class Link(Protocol):
    """The two channels of a call as one end sees them (``facecodec.transport.Call`` is one)."""

    @property
    def control(self) -> Channel: ...

    @property
    def frames(self) -> Channel: ...

    @property
    def rtt_ms(self) -> float | None: ...
