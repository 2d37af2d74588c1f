"""When to close a bundle of frames into one message.

Every message costs about 98 B of headers on the wire (transport.overhead), far more than a
frame's parameters, so frames wait and travel together: at most ``max_latency_ms`` from the first
frame of a bundle to its sending. Without a wire target a bundle always waits that long (fewest
messages); with one, messages go out as often as the wire target leaves room for their headers
next to the payload measured over the last second.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Generic, TypeVar

from facecodec.transport.overhead import (
    PACKET_OVERHEAD_BYTES,
    SCTP_CHUNK_ALIGNMENT_BYTES,
    wire_bytes,
)
from facecodec.transport.sequence import FRAME_HEADER_BYTES

from .window import SlidingWindow

T = TypeVar("T")

FRAMES_MESSAGE_OVERHEAD_BYTES = (
    PACKET_OVERHEAD_BYTES + FRAME_HEADER_BYTES + SCTP_CHUNK_ALIGNMENT_BYTES - 1
)
"""Wire bytes of a frames message beyond its payload, at worst (98 B)."""
WIRE_HEADROOM = 0.85
"""Share of the wire target the bundling aims at: the controller's wire budget is a hard bound
(bitrate.wire_budget) and drops frames that would break it."""


def header_bps(interval_ms: float) -> float:
    """Wire bit rate that message headers alone cost at one message per ``interval_ms``."""
    return FRAMES_MESSAGE_OVERHEAD_BYTES * 8000 / interval_ms


def frames_wire_bytes(payload_bytes: int) -> int:
    """Estimated wire bytes of one frames message carrying ``payload_bytes``."""
    return wire_bytes(payload_bytes + FRAME_HEADER_BYTES)


@dataclass(frozen=True)
class BundlingConfig:
    max_latency_ms: float = 200.0
    """Longest a frame waits for its message to be sent."""
    wire_bitrate_bps: float | None = None
    """Wire bit rate (payload and headers) to stay under; None: always bundle to the latency."""
    max_items: int = 64
    """Most items one bundle holds (the codec's limit on frames per message); a bundle that
    fills is due at once, and what comes beyond it waits for the next."""

    def __post_init__(self) -> None:
        if self.max_latency_ms <= 0:
            raise ValueError("max latency must be positive")
        if self.max_items < 1:
            raise ValueError("a bundle holds at least one item")
        if self.wire_bitrate_bps is not None and self.wire_bitrate_bps <= self.min_wire_bps:
            raise ValueError(
                f"a wire target of {self.wire_bitrate_bps:.0f} bit/s leaves no room for payload: "
                f"message headers alone cost {self.min_wire_bps:.0f} bit/s at one message per "
                f"{self.max_latency_ms:.0f} ms; raise the wire target or the max latency"
            )

    @property
    def min_wire_bps(self) -> float:
        """What headers cost when every bundle waits the full latency."""
        return header_bps(self.max_latency_ms)


class Bundler(Generic[T]):
    """Collects items (a frame's parameters) and says when to send them as one message.

    Call ``due`` when a frame arrives and at ``next_flush_ms``; report the sent message's
    payload with ``on_sent``. Time comes in as ``now_ms`` arguments.
    """

    def __init__(self, config: BundlingConfig) -> None:
        self.config = config
        self._pending: list[T] = []
        self._flush_at_ms: float | None = None
        self._last_flush_ms = -math.inf
        self._payload = SlidingWindow()
        self.min_interval_ms = 0.0
        """While set, messages go at least this far apart, longer than the latency budget if
        need be (a keyframe refinement: bundled to the wire budget's window, no window holds
        two frames messages, and the wire fewer messages' headers would take goes to the
        parts)."""

    @property
    def next_flush_ms(self) -> float | None:
        """When the pending bundle is to be sent; None while nothing is pending."""
        return self._flush_at_ms

    def next_message_ms(self, now_ms: float) -> float:
        """When the next message goes at the earliest: the pending bundle's time, else one
        interval after the last message (or now)."""
        if self._flush_at_ms is not None:
            return self._flush_at_ms
        return max(now_ms, self._last_flush_ms + self.interval_ms(now_ms))

    def interval_ms(self, now_ms: float) -> float:
        """Time between messages: the latency budget, or less while the wire target allows;
        ``min_interval_ms`` at least."""
        return max(self.min_interval_ms, self._wire_interval_ms(now_ms))

    def _wire_interval_ms(self, now_ms: float) -> float:
        wire_bps = self.config.wire_bitrate_bps
        if wire_bps is None:
            return self.config.max_latency_ms
        room_bps = WIRE_HEADROOM * wire_bps - self._payload.rate_bps(now_ms)
        if room_bps <= 0:
            return self.config.max_latency_ms
        return min(self.config.max_latency_ms, FRAMES_MESSAGE_OVERHEAD_BYTES * 8000 / room_bps)

    def add(self, item: T, now_ms: float) -> int:
        """Add ``item`` to the pending bundle; returns how many of the oldest pending items
        were dropped for it (0, or 1 when a bundle spaced past the latency budget is full)."""
        if not self._pending:
            # One message per interval; a frame after a quiet spell goes out at once.
            self._flush_at_ms = max(now_ms, self._last_flush_ms + self.interval_ms(now_ms))
        # Messages spaced past the latency budget (a refinement taking turns with the parts,
        # 3.5 s apart at 4 kbps): sent at once, a full bundle would land in the parts' turn,
        # where the wire budget has no room for a single frame, and all of it would be dropped.
        # It keeps its time and its newest frames (its message is shrunk oldest frames first at
        # its time anyway).
        spaced = self.min_interval_ms > self.config.max_latency_ms
        full = len(self._pending) >= self.config.max_items
        if spaced and full:
            del self._pending[0]
        self._pending.append(item)
        if not spaced and len(self._pending) >= self.config.max_items:
            self._flush_at_ms = now_ms
        return int(spaced and full)

    def due(self, now_ms: float) -> list[T]:
        """The bundle to send now, oldest first and at most ``max_items``; empty while its time
        has not come. Items beyond a full bundle are due at once as the next one."""
        if self._flush_at_ms is None or now_ms < self._flush_at_ms:
            return []
        limit = self.config.max_items
        bundle, self._pending = self._pending[:limit], self._pending[limit:]
        self._flush_at_ms = now_ms if self._pending else None
        self._last_flush_ms = now_ms
        return bundle

    def on_sent(self, payload_bytes: int, now_ms: float) -> None:
        self._payload.add(now_ms, payload_bytes)
