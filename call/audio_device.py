"""The receiver's loudspeaker: the played-out voice on a sound output device (sounddevice, an
optional dependency: ``pip install 'facecodec[audio]'``; PortAudio comes with its wheels on
macOS and Windows, from the system on Linux).

The playout hands over the stream as its samples become due; the device plays them in order
after its own output latency (tens of milliseconds), which is all the offset it adds. Where
there is no device, or no sounddevice, ``open_speaker`` says why and the call goes on without
sound.
"""

from __future__ import annotations

import contextlib
import threading
from collections import deque

import numpy as np

from facecodec.transport.audio import SAMPLE_RATE

MAX_QUEUED_S = 2.0
"""Audio the device may fall behind by before the oldest is dropped (a stalled device)."""


class Speaker:
    """An ``AudioOutput`` that plays on a sound device (see the module)."""

    def __init__(self, device: str | int | None = None) -> None:
        import sounddevice

        self._queue: deque[np.ndarray] = deque()
        self._queued = 0
        self._lock = threading.Lock()
        self._stream = sounddevice.OutputStream(
            samplerate=SAMPLE_RATE, channels=1, dtype="int16", device=device, callback=self._pull
        )
        self._stream.start()

    def __call__(self, samples: np.ndarray, start_ms: float) -> None:
        with self._lock:
            self._queue.append(samples)
            self._queued += len(samples)
            while self._queued > MAX_QUEUED_S * SAMPLE_RATE:
                self._queued -= len(self._queue.popleft())

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._stream.close()

    def _pull(self, out: np.ndarray, frames: int, time: object, status: object) -> None:
        # PortAudio's thread: fill ``out`` from the queue, silence where it runs dry.
        out.fill(0)
        filled = 0
        with self._lock:
            while filled < frames and self._queue:
                chunk = self._queue[0]
                take = min(frames - filled, len(chunk))
                out[filled : filled + take, 0] = chunk[:take]
                filled += take
                self._queued -= take
                if take == len(chunk):
                    self._queue.popleft()
                else:
                    self._queue[0] = chunk[take:]


def open_speaker(device: str | int | None = None) -> tuple[Speaker | None, str]:
    """A speaker, or None and why there is none (no sounddevice, no PortAudio, no device)."""
    try:
        return Speaker(device), "playing the voice on the default output device"
    except ImportError:
        return (
            None,
            "no sound output: sounddevice is not installed (pip install 'facecodec[audio]')",
        )
    except Exception as exc:  # OSError without PortAudio, PortAudioError without a device
        return None, f"no sound output: {exc}"
