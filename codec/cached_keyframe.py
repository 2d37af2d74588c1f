"""Cached keyframes: a keyframe named by a key instead of sent (docs/bitstream.md, "Cached
keyframe message").

A receiver keeps the keyframes it received (call/keyframe_cache.py); a sender that sends one
of them again names it by its key and the receiver answers whether it has it (control kind 4,
codec/control.py). What is kept and hashed is the keyframe's *entry*: the keyframe message of
the keyframe with its full image, seq 0 and the default operating point, so that both ends
build the same bytes (the seq and the operating point are the call's, and travel in the cached
keyframe message). Layout of that message (little-endian)::

    u8      FORMAT_VERSION << 4 | CACHED_KEYFRAME (6)
    varint  seq of the keyframe's own frame in this call
    u8 x4   operating point: keypoints, expression_dims, quant_level, frame_interval
    16 B    key: the first 16 bytes of the SHA-256 of the entry
    u32     CRC-32 of everything before it

128 bits of SHA-256 keep a wrong match out of reach (a second preimage costs about 2^128
hashes) at half the bytes of the whole digest.
"""

from __future__ import annotations

import dataclasses
import hashlib
import zlib
from dataclasses import dataclass

from facecodec.types import Keyframe, OperatingPoint

from .errors import BitstreamError, ErrorCode
from .image import CodedImage
from .keyframe import MAX_SEQ, KeyframeMessage, decode_keyframe_message, encode_coded_keyframe
from .messages import MessageType, expect_type, type_byte
from .operating_point import check_encodable, decoded_operating_point
from .reader import ByteReader, write_varint

KEY_BYTES = 16
ENTRY_OPERATING_POINT = OperatingPoint()
"""The operating point every entry carries (the call's own comes in the message)."""
_CRC_BYTES = 4


@dataclass(frozen=True)
class CachedKeyframe:
    """Sender -> receiver: use the keyframe whose entry has ``key`` as keyframe ``seq``."""

    seq: int
    op: OperatingPoint
    key: bytes
    """``KEY_BYTES`` bytes: ``keyframe_key`` of the entry."""


def keyframe_entry(keyframe: Keyframe, image: CodedImage) -> bytes:
    """The bytes a cache keeps of ``keyframe`` with its full ``image`` as coded (its
    ``keyframe.image`` is not read), the same at both ends; ValueError as ``encode_keyframe``."""
    params = dataclasses.replace(keyframe.params, seq=0)
    return encode_coded_keyframe(
        dataclasses.replace(keyframe, params=params), ENTRY_OPERATING_POINT, image
    )


def keyframe_key(entry: bytes) -> bytes:
    """The key a sender names ``entry`` by."""
    return hashlib.sha256(entry).digest()[:KEY_BYTES]


def keyframe_from_entry(entry: bytes, named: CachedKeyframe) -> KeyframeMessage:
    """The keyframe ``named`` stands for, from its ``entry``; BitstreamError if the entry does
    not match the key or is not an entry (a progressive keyframe, another seq or point)."""
    if keyframe_key(entry) != named.key:
        raise BitstreamError(ErrorCode.MALFORMED, "cached keyframe does not match its key")
    message = decode_keyframe_message(entry)
    stored = message.keyframe
    if (
        message.refinement is not None
        or stored.params.seq != 0
        or message.op != ENTRY_OPERATING_POINT
    ):
        raise BitstreamError(ErrorCode.MALFORMED, "cached keyframe: not a cache entry")
    params = dataclasses.replace(stored.params, seq=named.seq)
    keyframe = dataclasses.replace(stored, params=params)
    return KeyframeMessage(keyframe, named.op, message.image)


def encode_cached_keyframe(message: CachedKeyframe) -> bytes:
    """One cached keyframe message; ValueError for values the format cannot carry."""
    op = message.op
    check_encodable(op)
    if not 0 <= message.seq <= MAX_SEQ:
        raise ValueError(f"keyframe seq out of range: {message.seq}")
    if len(message.key) != KEY_BYTES:
        raise ValueError(f"a keyframe key has {KEY_BYTES} bytes")
    body = b"".join(
        [
            bytes([type_byte(MessageType.CACHED_KEYFRAME)]),
            write_varint(message.seq),
            bytes([op.keypoints, op.expression_dims, op.quant_level, op.frame_interval]),
            message.key,
        ]
    )
    return body + zlib.crc32(body).to_bytes(_CRC_BYTES, "little")


def decode_cached_keyframe(data: bytes) -> CachedKeyframe:
    """Inverse of ``encode_cached_keyframe``; BitstreamError for anything else."""
    expect_type(data, MessageType.CACHED_KEYFRAME)
    if len(data) < 1 + _CRC_BYTES:
        raise BitstreamError(ErrorCode.TRUNCATED, "cached keyframe shorter than its checksum")
    if zlib.crc32(data[:-_CRC_BYTES]) != int.from_bytes(data[-_CRC_BYTES:], "little"):
        raise BitstreamError(ErrorCode.MALFORMED, "cached keyframe checksum mismatch")
    r = ByteReader(data[:-_CRC_BYTES], "cached keyframe", start=1)
    seq = r.varint("seq", MAX_SEQ)
    op = decoded_operating_point(*r.take(4, "operating point"))
    key = r.take(KEY_BYTES, "key")
    r.end()
    return CachedKeyframe(seq, op, key)
