"""Keyframe part messages: the full image of a progressive keyframe, in pieces.

A progressive keyframe (codec/keyframe.py, flag bit 2) carries a small first version of its
image and promises the full one (codec, sides, length, CRC-32). The parts carry that image's
bytes in order over the reliable channel, each small enough to cross a narrow link before the
transport would resend it. Layout (little-endian; docs/bitstream.md, "Keyframe part message")::

    u8      FORMAT_VERSION << 4 | KEYFRAME_PART (5)
    varint  seq of the keyframe it refines
    varint  offset of these bytes in the full coded image
    bytes   1 or more bytes of the full coded image, to the CRC
    u32     CRC-32 of everything before it

The frames keep referencing the keyframe's seq: its parameters do not change, only the image
the receiver redraws from.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from .errors import BitstreamError, ErrorCode
from .keyframe import MAX_IMAGE_BYTES, MAX_SEQ, Refinement
from .messages import MessageType, expect_type, type_byte
from .reader import ByteReader, write_varint

_CRC_BYTES = 4


@dataclass(frozen=True)
class KeyframePart:
    seq: int
    """The refined keyframe's seq."""
    offset: int
    """Where ``data`` starts in the full coded image."""
    data: bytes


class PartCutter:
    """Cuts the full coded image of keyframe ``seq`` into part messages, in order, each as
    large as the caller says when it is cut (a sender cuts each to what the link holds then)."""

    def __init__(self, seq: int, image: bytes) -> None:
        if not 0 <= seq <= MAX_SEQ or not 0 < len(image) <= MAX_IMAGE_BYTES:
            raise ValueError("keyframe part: seq or image length out of range")
        self.seq = seq
        self._image = image
        self._offset = 0

    @property
    def remaining_bytes(self) -> int:
        """Image bytes not cut yet."""
        return len(self._image) - self._offset

    def next(self, max_bytes: int) -> bytes:
        """The next part message, with at most ``max_bytes`` (>= 1) of the image."""
        if max_bytes < 1 or self.remaining_bytes == 0:
            raise ValueError("keyframe part: no room or nothing left to cut")
        offset, self._offset = self._offset, min(len(self._image), self._offset + max_bytes)
        return encode_keyframe_part(
            KeyframePart(self.seq, offset, self._image[offset : self._offset])
        )


def encode_keyframe_parts(seq: int, image: bytes, part_bytes: int) -> list[bytes]:
    """The part messages that carry ``image`` (the full coded image of keyframe ``seq``),
    each with at most ``part_bytes`` of it."""
    cutter = PartCutter(seq, image)
    parts = []
    while cutter.remaining_bytes:
        parts.append(cutter.next(part_bytes))
    return parts


def encode_keyframe_part(part: KeyframePart) -> bytes:
    body = b"".join(
        [
            bytes([type_byte(MessageType.KEYFRAME_PART)]),
            write_varint(part.seq),
            write_varint(part.offset),
            part.data,
        ]
    )
    return body + zlib.crc32(body).to_bytes(_CRC_BYTES, "little")


def decode_keyframe_part(data: bytes) -> KeyframePart:
    """Inverse of ``encode_keyframe_part``; BitstreamError for anything else (a part that
    would reach past the largest image included)."""
    expect_type(data, MessageType.KEYFRAME_PART)
    if len(data) < 1 + _CRC_BYTES:
        raise BitstreamError(ErrorCode.TRUNCATED, "keyframe part shorter than its checksum")
    if zlib.crc32(data[:-_CRC_BYTES]) != int.from_bytes(data[-_CRC_BYTES:], "little"):
        raise BitstreamError(ErrorCode.MALFORMED, "keyframe part checksum mismatch")
    r = ByteReader(data[:-_CRC_BYTES], "keyframe part", start=1)
    seq = r.varint("seq", MAX_SEQ)
    offset = r.varint("offset", MAX_IMAGE_BYTES - 1)
    if r.remaining() == 0:
        raise BitstreamError(ErrorCode.MALFORMED, "keyframe part: no image bytes")
    if offset + r.remaining() > MAX_IMAGE_BYTES:
        raise BitstreamError(ErrorCode.TOO_LARGE, "keyframe part: past the largest image")
    return KeyframePart(seq, offset, r.take(r.remaining(), "image bytes"))


class RefinementAssembler:
    """Puts the parts of one progressive keyframe's full image together, trusting nothing:
    parts must come in order (the reliable channel keeps it), stay within the promised
    length, and the whole must match the promised CRC-32."""

    def __init__(self, seq: int, refinement: Refinement) -> None:
        self.seq = seq
        self.refinement = refinement
        self._received = bytearray()

    @property
    def received_bytes(self) -> int:
        return len(self._received)

    def add(self, part: KeyframePart) -> bytes | None:
        """Take a part of this keyframe; the full coded image once complete, else None.
        BitstreamError for a part out of order, too long, or a whole that does not match."""
        if part.seq != self.seq:
            raise BitstreamError(ErrorCode.MALFORMED, f"keyframe part for seq {part.seq}")
        if part.offset != len(self._received):
            raise BitstreamError(
                ErrorCode.MALFORMED,
                f"keyframe part at {part.offset}, expected {len(self._received)}",
            )
        if part.offset + len(part.data) > self.refinement.length:
            raise BitstreamError(ErrorCode.TOO_LARGE, "keyframe part beyond the promised image")
        self._received += part.data
        if len(self._received) < self.refinement.length:
            return None
        image = bytes(self._received)
        if zlib.crc32(image) != self.refinement.crc:
            raise BitstreamError(ErrorCode.MALFORMED, "refined keyframe image checksum mismatch")
        return image
