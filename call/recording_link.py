"""A link that keeps what a sending session sends, in order, instead of carrying it: the
transport of ``facecodec encode`` (into a stream file) and of the benchmark (into memory).
Nothing comes back on it: no receiver reports, no keyframe requests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable


class _Channel:
    def __init__(self, keep: Callable[[bytes], None]) -> None:
        self._keep = keep

    @property
    def is_open(self) -> bool:
        return True

    def send(self, payload: bytes) -> None:
        self._keep(payload)

    async def _nothing(self) -> AsyncIterator[bytes]:
        for message in ():
            yield message

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._nothing()


class RecordingLink:
    """Both channels hand every message, in the order sent, to ``keep`` (a stream file's
    ``StreamWriter.write``, a list's ``append``)."""

    def __init__(self, keep: Callable[[bytes], None]) -> None:
        self.control = _Channel(keep)
        self.frames = _Channel(keep)
        self.rtt_ms: float | None = None
