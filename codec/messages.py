"""Message types and the first byte every message starts with (docs/bitstream.md, "Messages").

Byte 0 of every message is ``FORMAT_VERSION << 4 | MessageType``: a decoder tells a message of
another version (or no message of ours at all) from its first byte, before reading further.
"""

from __future__ import annotations

from enum import IntEnum

from .errors import BitstreamError, ErrorCode

FORMAT_VERSION = 2
"""Bitstream format version (1..15); any change to a layout or a table makes a new one."""
MAX_MESSAGE_BYTES = 4 << 20
"""Largest message of any type (a keyframe with a 1024x1024 image fits easily)."""


class MessageType(IntEnum):
    """Low nibble of byte 0."""

    KEYFRAME = 1
    """Source image, identity, versions, operating point (codec/keyframe.py)."""
    FRAMES_INTER = 2
    """One or more frames, predicted from a frame the decoder holds (codec/frames.py)."""
    FRAMES_INTRA = 3
    """One or more frames, the first predicted from nothing (codec/frames.py)."""
    CONTROL = 4
    """Keyframe request, operating point change, receiver report (codec/control.py)."""
    KEYFRAME_PART = 5
    """Part of a progressive keyframe's full image (codec/keyframe_part.py)."""
    CACHED_KEYFRAME = 6
    """A keyframe named by the key of a cache entry instead of sent (codec/cached_keyframe.py)."""


def type_byte(kind: MessageType) -> int:
    """Byte 0 of a message of this type in this format version."""
    return (FORMAT_VERSION << 4) | int(kind)


def parse_message(data: bytes) -> MessageType:
    """The type of a received message; BitstreamError if it is not one of this version's.

    Only byte 0 is read: the type's own decoder checks the rest.
    """
    if not data:
        raise BitstreamError(ErrorCode.TRUNCATED, "empty message")
    if len(data) > MAX_MESSAGE_BYTES:
        raise BitstreamError(
            ErrorCode.TOO_LARGE, f"message of {len(data)} bytes exceeds {MAX_MESSAGE_BYTES}"
        )
    version, kind = data[0] >> 4, data[0] & 0x0F
    if version != FORMAT_VERSION:
        raise BitstreamError(ErrorCode.VERSION, version_error("message", version))
    try:
        return MessageType(kind)
    except ValueError:
        raise BitstreamError(ErrorCode.TYPE, f"unknown message type {kind}") from None


def version_error(what: str, version: int) -> str:
    """Why a ``what`` of format ``version`` is refused: only this version is read (an older
    one is re-encoded from its source, a newer one needs a newer facecodec)."""
    if version > FORMAT_VERSION:
        why = "a newer facecodec wrote it"
    else:
        why = "an older facecodec wrote it (older versions are not read: re-encode the source)"
    return f"{what} of format version {version}: {why}; this decoder reads {FORMAT_VERSION}"


def expect_type(data: bytes, *kinds: MessageType) -> MessageType:
    """``parse_message``, and BitstreamError unless the type is one of ``kinds``."""
    kind = parse_message(data)
    if kind not in kinds:
        names = " or ".join(k.name.lower() for k in kinds)
        raise BitstreamError(ErrorCode.TYPE, f"expected a {names} message, got {kind.name.lower()}")
    return kind
