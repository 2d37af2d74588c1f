"""Stream files: what ``facecodec encode`` writes and ``facecodec inspect`` reads.

Layout (docs/bitstream.md, "Stream file")::

    8 bytes   magic b"FCODEC\\r\\n"  (the CR LF catches text-mode mangling)
    u8        FORMAT_VERSION of the messages inside
    u16 LE    capture frame rate in 1/100 fps
    then records until the end of the file:
    u32 LE    message length (1 .. MAX_MESSAGE_BYTES)
    ...       one message, exactly as sent on a data channel

The first message is normally a keyframe; the file holds the messages a sender produced, so
reading them back replays a call.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

from .errors import BitstreamError, ErrorCode
from .messages import FORMAT_VERSION, MAX_MESSAGE_BYTES, version_error

MAGIC = b"FCODEC\r\n"
FILE_HEADER_BYTES = len(MAGIC) + 3
MAX_FPS = 655.35


class StreamWriter:
    """Appends messages to a binary file object (the caller opens and closes it)."""

    def __init__(self, file: BinaryIO, fps: float) -> None:
        if not 0 < fps <= MAX_FPS:
            raise ValueError(f"fps must be in (0, {MAX_FPS}]")
        self._file = file
        self.messages = 0
        self.bytes = 0
        file.write(MAGIC + bytes([FORMAT_VERSION]) + round(fps * 100).to_bytes(2, "little"))

    def write(self, message: bytes) -> None:
        if not 1 <= len(message) <= MAX_MESSAGE_BYTES:
            raise ValueError(f"message length {len(message)} outside 1..{MAX_MESSAGE_BYTES}")
        self._file.write(len(message).to_bytes(4, "little") + message)
        self.messages += 1
        self.bytes += len(message)


class StreamReader:
    """Reads a stream file from a binary file object; iterate to get the messages, or
    ``records()`` for each with the byte offset it starts at.

    The header is read on construction (``fps``, ``version``); BitstreamError for a file that
    is not a stream of this version, a record cut short, or a record longer than the limit
    (errors name the record's byte offset).
    """

    def __init__(self, file: BinaryIO) -> None:
        self._file = file
        header = file.read(FILE_HEADER_BYTES)
        if len(header) < FILE_HEADER_BYTES or header[: len(MAGIC)] != MAGIC:
            raise BitstreamError(ErrorCode.TYPE, "not a facecodec stream file (bad magic)")
        self.version = header[len(MAGIC)]
        if self.version != FORMAT_VERSION:
            raise BitstreamError(ErrorCode.VERSION, version_error("stream file", self.version))
        self.fps = int.from_bytes(header[len(MAGIC) + 1 :], "little") / 100
        if self.fps <= 0:
            raise BitstreamError(ErrorCode.RANGE, "stream file with a frame rate of 0")
        self.bytes_read = FILE_HEADER_BYTES
        """Bytes of the file read so far (header and whole records)."""

    def __iter__(self) -> Iterator[bytes]:
        for _, message in self.records():
            yield message

    def records(self) -> Iterator[tuple[int, bytes]]:
        """(byte offset of the record, message) for each record, in order."""
        index = 0
        while True:
            offset = self.bytes_read
            prefix = self._file.read(4)
            if not prefix:
                return
            where = f"record {index} at byte {offset}"
            if len(prefix) < 4:
                raise BitstreamError(ErrorCode.TRUNCATED, f"{where}: length cut short")
            length = int.from_bytes(prefix, "little")
            if not 1 <= length <= MAX_MESSAGE_BYTES:
                raise BitstreamError(
                    ErrorCode.TOO_LARGE, f"{where}: length {length} outside the limits"
                )
            message = self._file.read(length)
            if len(message) < length:
                raise BitstreamError(
                    ErrorCode.TRUNCATED, f"{where}: {len(message)} of {length} bytes"
                )
            self.bytes_read += 4 + length
            yield offset, message
            index += 1
