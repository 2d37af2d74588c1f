"""Bytes and bit rates of a method's messages, with wire bytes estimated from the transport's
measured framing (transport/overhead.py): frames messages as the bitrate bundler counts them
(sequence header + DTLS/SCTP/UDP), keyframes as one reliable data-channel message each."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from facecodec.bitrate.bundler import frames_wire_bytes
from facecodec.transport.overhead import wire_bytes

from .methods import Message, MessageKind


@dataclass(frozen=True)
class ByteCounts:
    keyframe_bytes: int
    """All keyframe messages' bytes."""
    keyframes: int
    payload_bytes: int
    """All frames messages' bytes (the paper's per-frame payload)."""
    frame_messages: int
    wire_bytes: int
    """Estimated bytes on the wire (UDP/IPv4) of every message."""
    seconds: float
    """Duration of the driving frames."""

    @property
    def payload_kbps(self) -> float:
        return 8 * self.payload_bytes / self.seconds / 1000

    @property
    def total_kbps(self) -> float:
        """Payload and keyframes together: the figure comparable with JVET AHG16 reports."""
        return 8 * (self.payload_bytes + self.keyframe_bytes) / self.seconds / 1000

    @property
    def wire_kbps(self) -> float:
        return 8 * self.wire_bytes / self.seconds / 1000


def count_bytes(messages: Sequence[Message], frames: int, fps: float) -> ByteCounts:
    """Byte counts of ``messages`` that carried ``frames`` frames at ``fps``."""
    keys = [m.payload_bytes for m in messages if m.kind == MessageKind.KEYFRAME]
    payload = [m.payload_bytes for m in messages if m.kind == MessageKind.FRAMES]
    wire = sum(wire_bytes(b) for b in keys) + sum(frames_wire_bytes(b) for b in payload)
    return ByteCounts(sum(keys), len(keys), sum(payload), len(payload), wire, frames / fps)
