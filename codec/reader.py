"""Bounds-checked reading of message bytes: every read past the end is a BitstreamError."""

from __future__ import annotations

import numpy as np

from .errors import BitstreamError, ErrorCode

MAX_VARINT_BYTES = 9
"""Unsigned LEB128 varints carry at most 63 bits."""


def write_varint(value: int) -> bytes:
    """Unsigned LEB128 (7 bits a byte, low first; high bit set on all but the last byte)."""
    if not 0 <= value < 1 << (7 * MAX_VARINT_BYTES):
        raise ValueError(f"varint out of range: {value}")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


class ByteReader:
    """Reads fields of one message in order; ``what`` names the message in errors."""

    def __init__(self, data: bytes, what: str, start: int = 0) -> None:
        self.data = data
        self.pos = start
        self.what = what

    def remaining(self) -> int:
        return len(self.data) - self.pos

    def take(self, count: int, field: str) -> bytes:
        if count < 0 or self.pos + count > len(self.data):
            raise BitstreamError(
                ErrorCode.TRUNCATED,
                f"{self.what}: {field} needs {count} bytes, {self.remaining()} left",
            )
        out = self.data[self.pos : self.pos + count]
        self.pos += count
        return out

    def u8(self, field: str) -> int:
        return self.take(1, field)[0]

    def u16(self, field: str) -> int:
        return int.from_bytes(self.take(2, field), "little")

    def u32(self, field: str) -> int:
        return int.from_bytes(self.take(4, field), "little")

    def f16(self, count: int, field: str) -> np.ndarray:
        """(count,) IEEE half floats widened to float32, which must all be finite."""
        values = np.frombuffer(self.take(2 * count, field), "<f2").astype(np.float32)
        if not np.isfinite(values).all():
            raise BitstreamError(ErrorCode.RANGE, f"{self.what}: {field} is not finite")
        return values

    def varint(self, field: str, limit: int) -> int:
        """Unsigned LEB128 at most ``limit``."""
        value = 0
        for i in range(MAX_VARINT_BYTES):
            byte = self.u8(field)
            value |= (byte & 0x7F) << (7 * i)
            if not byte & 0x80:
                if value > limit:
                    raise BitstreamError(
                        ErrorCode.RANGE, f"{self.what}: {field} = {value} exceeds {limit}"
                    )
                return value
        raise BitstreamError(ErrorCode.MALFORMED, f"{self.what}: {field} varint too long")

    def text(self, field: str) -> str:
        """A string: u8 byte length, then UTF-8."""
        raw = self.take(self.u8(field), field)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise BitstreamError(
                ErrorCode.MALFORMED, f"{self.what}: {field} is not UTF-8"
            ) from None

    def end(self) -> None:
        if self.remaining():
            raise BitstreamError(
                ErrorCode.MALFORMED, f"{self.what}: {self.remaining()} unexpected trailing bytes"
            )


def pack_f16(values: np.ndarray) -> bytes:
    """IEEE half floats, rounded to nearest (``half_float`` gives the values they carry)."""
    return np.asarray(values, "<f2").tobytes()


def half_float(values: np.ndarray) -> np.ndarray:
    """``values`` as ``pack_f16`` carries them, as float32."""
    return np.asarray(values, np.float16).astype(np.float32)


def pack_text(value: str) -> bytes:
    raw = value.encode("utf-8")
    if len(raw) > 255:
        raise ValueError(f"string longer than 255 bytes: {value[:40]!r}...")
    return bytes([len(raw)]) + raw
