"""The sender's voice: an input file's audio track (PyAV) or a microphone (sounddevice).

Both give 48 kHz mono int16 chunks (a microphone as it captures them; a file as fast as it
decodes, the sender paces it by its frames) and say where a face frame captured at a given
time sits on the audio's timeline (sample 0 = the first sample sent), which the sender's media
clock carries to the receiver.
"""

from __future__ import annotations

import asyncio
import contextlib
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import numpy as np

from facecodec.transport.audio import SAMPLE_RATE

from .clock import now_ms

CHUNK_MS = 20
"""How much audio a file hands over at a time."""


class NoAudioError(ValueError):
    """The input has no audio (a clip without a track, a machine without a microphone)."""


class AudioSource(ABC):
    follows_frames: bool
    """Whether the sender must pace it by the frames captured (a file), not by real time."""

    @abstractmethod
    def chunks(self) -> AsyncIterator[np.ndarray]:
        """(N,) int16 48 kHz mono chunks, until the source ends."""

    @abstractmethod
    def frame_pts(self, seq: int, fps: float, capture_ms: float) -> int:
        """The audio sample captured with face frame ``seq`` (read at ``capture_ms``)."""

    @abstractmethod
    def close(self) -> None:
        """Release the device or file."""


class FileAudio(AudioSource):
    """The first audio track of a video file; NoAudioError if it has none."""

    follows_frames = True

    def __init__(self, path: str | Path) -> None:
        import av

        self._container = av.open(str(path))
        if not self._container.streams.audio:
            self._container.close()
            raise NoAudioError(f"{path} has no audio track")
        self._stream = self._container.streams.audio[0]
        video = self._container.streams.video
        self._lead_s = _start_s(video[0]) - _start_s(self._stream) if video else 0.0
        """How far the audio starts before the video (the frames' times count from video)."""

    def frame_pts(self, seq: int, fps: float, capture_ms: float) -> int:
        # A file states its frames' times: the capture clock's jitter does not enter.
        return round((seq / fps + self._lead_s) * SAMPLE_RATE)

    async def chunks(self) -> AsyncIterator[np.ndarray]:
        for chunk in self._decoded():
            yield chunk

    def close(self) -> None:
        self._container.close()

    def _decoded(self) -> Iterator[np.ndarray]:
        import av

        resampler = av.AudioResampler(
            format="s16", layout="mono", rate=SAMPLE_RATE, frame_size=CHUNK_MS * SAMPLE_RATE // 1000
        )
        for frame in self._container.decode(self._stream):
            for out in resampler.resample(frame):
                yield out.to_ndarray().reshape(-1)
        for out in resampler.resample(None):
            yield out.to_ndarray().reshape(-1)


def _start_s(stream) -> float:  # av.stream.Stream
    if stream.start_time is None or stream.time_base is None:
        return 0.0
    return float(stream.start_time * stream.time_base)


class Microphone(AudioSource):
    """A sound input device (sounddevice's default, or a name or index it knows);
    NoAudioError where there is none (no PortAudio, no device)."""

    follows_frames = False

    def __init__(self, device: str | int | None = None) -> None:
        try:
            import sounddevice
        except (ImportError, OSError) as exc:  # not installed, or no PortAudio library
            raise NoAudioError(f"no audio device: {exc}") from None
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[np.ndarray] = asyncio.Queue()
        self._origin_ms: float | None = None
        try:
            self._stream = sounddevice.InputStream(
                samplerate=SAMPLE_RATE,
                channels=1,
                dtype="int16",
                device=device,
                callback=self._on_input,
            )
            self._stream.start()
        except sounddevice.PortAudioError as exc:
            raise NoAudioError(f"no audio device: {exc}") from None

    def frame_pts(self, seq: int, fps: float, capture_ms: float) -> int:
        origin = capture_ms if self._origin_ms is None else self._origin_ms
        return round((capture_ms - origin) * SAMPLE_RATE / 1000)

    async def chunks(self) -> AsyncIterator[np.ndarray]:
        while True:
            yield await self._queue.get()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._stream.close()

    def _on_input(self, data: np.ndarray, frames: int, time: object, status: object) -> None:
        # PortAudio's thread: the first sample was captured one buffer (and the input's
        # latency) ago.
        if self._origin_ms is None:
            self._origin_ms = now_ms() - (frames / SAMPLE_RATE + self._stream.latency) * 1000
        self._loop.call_soon_threadsafe(self._queue.put_nowait, data[:, 0].copy())


def open_audio(spec: str, device: str | None = None) -> AudioSource:
    """The audio that goes with ``open_source``'s ``spec``: for a camera (``camera:N``) the
    microphone ``device`` (a name or index sounddevice knows; None: the default input), for a
    file its audio track. NoAudioError if there is none. Needs a running event loop."""
    from facecodec.sender.capture import CAMERA_PREFIX

    if spec.startswith(CAMERA_PREFIX):
        return Microphone(int(device) if device and device.isdigit() else device)
    return FileAudio(spec)
