"""Control messages over the reliable channel (docs/bitstream.md, "Control messages").

Layout::

    u8      FORMAT_VERSION << 4 | CONTROL (4)
    u8      control kind (1 keyframe request, 2 operating point, 3 receiver report,
            4 cache answer)
    ...     the kind's fields, varints (unsigned LEB128) unless noted

    keyframe request     u8 reason, varint last decoded seq + 1 (0 = none yet)
    operating point      varint first seq it applies to, u8 x4 keypoints, expression_dims,
                         quant_level, frame_interval
    receiver report      varint last decoded seq + 1 (0 = none), varint frames lost (total),
                         varint RTT in ms, varint throughput in bit/s
    cache answer         varint seq of the cached keyframe named, u8 1 = have it, 0 = need it

Hand-laid fields: msgpack and zstd both make these 3-12 byte messages longer (measured in
docs/bitstream.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from facecodec.types import OperatingPoint

from .errors import BitstreamError, ErrorCode
from .messages import MessageType, expect_type, type_byte
from .operating_point import check_encodable, decoded_operating_point
from .reader import ByteReader, write_varint

MAX_SEQ = (1 << 48) - 1
MAX_LOST = (1 << 48) - 1
MAX_RTT_MS = 600_000
MAX_THROUGHPUT_BPS = 10**10


class ControlKind(IntEnum):
    KEYFRAME_REQUEST = 1
    OPERATING_POINT = 2
    RECEIVER_REPORT = 3
    CACHE_ANSWER = 4


class KeyframeReason(IntEnum):
    """Why a receiver asks for a keyframe."""

    START = 0
    """It has none yet (joined or restarted)."""
    MISSING_REFERENCE = 1
    """Frame messages keep naming references it does not hold."""
    DECODE_ERROR = 2
    """Messages fail to decode for another reason."""
    VERSION = 3
    """The keyframe's face model or network version does not match the receiver's."""


@dataclass(frozen=True)
class KeyframeRequest:
    """Receiver -> sender: send a keyframe (or at least an intra frame message)."""

    reason: KeyframeReason
    last_decoded_seq: int | None = None


@dataclass(frozen=True)
class OperatingPointChange:
    """Sender -> receiver: the operating point from frame ``first_seq`` on. Informational:
    frame messages carry their own coding parameters, so decoding never waits for it."""

    first_seq: int
    op: OperatingPoint


@dataclass(frozen=True)
class ReceiverReport:
    """Receiver -> sender, periodically: what arrived, for references and the bitrate controller."""

    last_decoded_seq: int | None
    """Newest frame decoded (a safe reference for the sender); None before any."""
    frames_lost: int
    """Frames not decoded so far (lost or undecodable), cumulative."""
    rtt_ms: int
    """Round-trip time the receiver measured, in milliseconds."""
    throughput_bps: int
    """Payload bit rate the receiver measured over its last report interval, bit/s."""


@dataclass(frozen=True)
class CacheAnswer:
    """Receiver -> sender: whether it has the keyframe a cached keyframe message named
    (codec/cached_keyframe.py); without it the sender sends the keyframe itself."""

    seq: int
    """The named keyframe's seq."""
    have: bool


ControlMessage = KeyframeRequest | OperatingPointChange | ReceiverReport | CacheAnswer


def _optional_seq(seq: int | None) -> bytes:
    if seq is not None and not 0 <= seq < MAX_SEQ:
        raise ValueError(f"seq out of range: {seq}")
    return write_varint(0 if seq is None else seq + 1)


def encode_control(message: ControlMessage) -> bytes:
    """One control message; ValueError for values the format cannot carry."""
    head = bytes([type_byte(MessageType.CONTROL)])
    if isinstance(message, KeyframeRequest):
        reason = KeyframeReason(message.reason)
        return (
            head
            + bytes([ControlKind.KEYFRAME_REQUEST, reason])
            + _optional_seq(message.last_decoded_seq)
        )
    if isinstance(message, OperatingPointChange):
        op = message.op
        check_encodable(op)
        if not 0 <= message.first_seq <= MAX_SEQ:
            raise ValueError(f"seq out of range: {message.first_seq}")
        return (
            head
            + bytes([ControlKind.OPERATING_POINT])
            + write_varint(message.first_seq)
            + bytes([op.keypoints, op.expression_dims, op.quant_level, op.frame_interval])
        )
    if isinstance(message, ReceiverReport):
        for value, limit, name in (
            (message.frames_lost, MAX_LOST, "frames_lost"),
            (message.rtt_ms, MAX_RTT_MS, "rtt_ms"),
            (message.throughput_bps, MAX_THROUGHPUT_BPS, "throughput_bps"),
        ):
            if not 0 <= value <= limit:
                raise ValueError(f"{name} out of range: {value}")
        return (
            head
            + bytes([ControlKind.RECEIVER_REPORT])
            + _optional_seq(message.last_decoded_seq)
            + write_varint(message.frames_lost)
            + write_varint(message.rtt_ms)
            + write_varint(message.throughput_bps)
        )
    if isinstance(message, CacheAnswer):
        if not 0 <= message.seq <= MAX_SEQ:
            raise ValueError(f"seq out of range: {message.seq}")
        return (
            head
            + bytes([ControlKind.CACHE_ANSWER])
            + write_varint(message.seq)
            + bytes([message.have])
        )
    raise TypeError(f"not a control message: {type(message).__name__}")


def decode_control(data: bytes) -> ControlMessage:
    """Inverse of ``encode_control``; BitstreamError for anything else."""
    expect_type(data, MessageType.CONTROL)
    r = ByteReader(data, "control message", start=1)
    kind = r.u8("kind")
    if kind == ControlKind.KEYFRAME_REQUEST:
        reason = r.u8("reason")
        if reason not in KeyframeReason._value2member_map_:
            raise BitstreamError(ErrorCode.RANGE, f"unknown keyframe request reason {reason}")
        last = r.varint("last decoded seq", MAX_SEQ)
        out: ControlMessage = KeyframeRequest(KeyframeReason(reason), last - 1 if last else None)
    elif kind == ControlKind.OPERATING_POINT:
        first_seq = r.varint("first seq", MAX_SEQ)
        out = OperatingPointChange(first_seq, decoded_operating_point(*r.take(4, "op")))
    elif kind == ControlKind.RECEIVER_REPORT:
        last = r.varint("last decoded seq", MAX_SEQ)
        out = ReceiverReport(
            last_decoded_seq=last - 1 if last else None,
            frames_lost=r.varint("frames lost", MAX_LOST),
            rtt_ms=r.varint("rtt", MAX_RTT_MS),
            throughput_bps=r.varint("throughput", MAX_THROUGHPUT_BPS),
        )
    elif kind == ControlKind.CACHE_ANSWER:
        seq = r.varint("seq", MAX_SEQ)
        have = r.u8("have")
        if have > 1:
            raise BitstreamError(ErrorCode.RANGE, f"cache answer {have} is neither 0 nor 1")
        out = CacheAnswer(seq, bool(have))
    else:
        raise BitstreamError(ErrorCode.TYPE, f"unknown control kind {kind}")
    r.end()
    return out
