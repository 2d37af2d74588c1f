"""The one error the decoders raise: ``BitstreamError`` (docs/bitstream.md, "Errors").

Every way a received message can be wrong (cut short, too large, another version, a value out of
range, a reference the decoder does not hold) surfaces as a ``BitstreamError`` with a ``code``
that says which, so a receiver can catch one type and still react per cause: drop the message,
conceal the frame, or ask for a keyframe.
"""

from __future__ import annotations

from enum import Enum


class ErrorCode(Enum):
    """Why a message was rejected."""

    TRUNCATED = "truncated"
    """The message ends before a field it announces."""
    TOO_LARGE = "too_large"
    """A size, count or dimension exceeds the format's limits."""
    VERSION = "version"
    """The message was written by another format version."""
    TYPE = "type"
    """Unknown or unexpected message type (e.g. a control message given to the frame decoder)."""
    RANGE = "range"
    """A decoded value lies outside its field's valid range."""
    MALFORMED = "malformed"
    """Inconsistent content: trailing bytes, bad checksum, an image that does not decode."""
    UNSUPPORTED = "unsupported"
    """The message needs something this decoder was not given (the face model's keypoints)."""
    MISSING_REFERENCE = "missing_reference"
    """An inter-coded frame message names a reference frame the decoder does not hold."""


class BitstreamError(ValueError):
    """A message (or stream file) that the decoder cannot accept; ``code`` says why."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(f"{code.value}: {message}")
        self.code = code


class MissingReferenceError(BitstreamError):
    """The message predicts from frame ``reference`` (full sequence number when the decoder
    could unwrap it, else the 16 bits on the wire), which the decoder does not hold: conceal the
    frames and ask the sender for an intra message or a keyframe."""

    def __init__(self, reference: int, message: str) -> None:
        super().__init__(ErrorCode.MISSING_REFERENCE, message)
        self.reference = reference
