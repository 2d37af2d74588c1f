"""Frames from a camera or a file through the face prior, as a live sender sees them.

Reading and the prior run in one worker thread (MediaPipe's graphs stay on one thread and the
event loop stays free for the call). A file is paced at its frame rate, as a camera paces itself,
so that bit rates and latencies mean what they would live. Each frame keeps the time its image
was read: the prior holds the first frames back while it learns the identity, and the sender
skips frames that are too old to show by the time they come out. Frames the sender will not send
(``schedule``) skip the prior.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from facecodec.sender.capture import FrameSource
from facecodec.sender.prior import FacePrior, PriorFrame
from facecodec.sender.send_schedule import SendSchedule

from .clock import now_ms


@dataclass(frozen=True)
class CaptureConfig:
    pace: bool = True
    """Read at the source's frame rate (a file); False for a camera, which paces itself."""
    max_frames: int | None = None
    """Stop after this many frames (None: at the end of the source)."""
    loop: bool = False
    """Start a file again when it ends (soak runs); numbering goes on."""


@dataclass(frozen=True)
class CapturedFrame:
    """One frame out of the prior, with when its image was read."""

    frame: PriorFrame
    capture_ms: float
    """``call.clock.now_ms`` when the image was read from the source."""


class CaptureLoop:
    """A source (opened by ``open_source``, again for each loop) and a prior -> frames."""

    def __init__(
        self,
        open_source: Callable[[], FrameSource],
        prior: FacePrior,
        config: CaptureConfig | None = None,
    ) -> None:
        self._open_source = open_source
        self.prior = prior
        self.config = config or CaptureConfig()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="capture")
        self._source: FrameSource | None = None
        self._images: Iterator[np.ndarray] | None = None
        self._read_ms: dict[int, float] = {}
        self.fps = 0.0
        """The source's frame rate, known once ``open`` has returned."""
        self.schedule = SendSchedule()
        """Which frames the sender will send; the others skip the prior (the sending session
        keeps it current)."""
        self._ended = False

    async def open(self) -> None:
        """Open the source (``fps`` is known from then on); errors of the source come here."""
        await asyncio.get_running_loop().run_in_executor(self._pool, self._open)

    def end(self) -> None:
        """End the input before the next frame, as the end of the source would."""
        self._ended = True

    @property
    def ended(self) -> bool:
        """``end`` was called."""
        return self._ended

    async def frames(self) -> AsyncIterator[CapturedFrame]:
        """Frames as the prior releases them, until the source, the frame limit or ``end``
        ends them; the source is closed at the end. ``open`` first."""
        loop = asyncio.get_running_loop()
        try:
            start_ms, seq = now_ms(), 0
            while not self._ended and (
                self.config.max_frames is None or seq < self.config.max_frames
            ):
                if self.config.pace:
                    wait_ms = start_ms + seq * 1000 / self.fps - now_ms()
                    await asyncio.sleep(max(0.0, wait_ms) / 1000)
                ready = await loop.run_in_executor(self._pool, self._step, seq)
                if ready is None:
                    break
                for frame in ready:
                    yield frame
                seq += 1
            for frame in await loop.run_in_executor(self._pool, self._flush):
                yield frame
        finally:
            await loop.run_in_executor(self._pool, self._close)
            self._pool.shutdown(wait=False)

    def _open(self) -> None:
        self._source = self._open_source()
        self._images = iter(self._source)
        self.fps = self._source.info.fps

    def _step(self, seq: int) -> list[CapturedFrame] | None:
        """Read frame ``seq`` and run the prior on it; None at the end of the source."""
        assert self._images is not None
        image = next(self._images, None)
        if image is None and self.config.loop and seq > 0:
            self._close()
            self._open()
            image = next(self._images, None)
        if image is None:
            return None
        self._read_ms[seq] = now_ms()
        return self._stamped(self.prior.process(image, seq, self.schedule.wanted(seq)))

    def _flush(self) -> list[CapturedFrame]:
        return self._stamped(self.prior.flush())

    def _stamped(self, frames: list[PriorFrame]) -> list[CapturedFrame]:
        return [CapturedFrame(f, self._read_ms.pop(f.params.seq)) for f in frames]

    def _close(self) -> None:
        if self._source is not None:
            self._source.close()
            self._source = None
