"""The receiver's audio as one continuous stream: frames placed at their due times, silence
where nothing came.

A frame placed where audio already is (the schedule shrank a delay, or a packet came twice),
or partly in the past (it came late), keeps only its samples past those; a gap between two
frames (a lost packet) is silence. Samples before the time ``take`` was last asked for are
final.
"""

from __future__ import annotations

import numpy as np

from facecodec.transport.audio import SAMPLE_RATE

SAMPLES_PER_MS = SAMPLE_RATE / 1000


class AudioTimeline:
    """48 kHz mono int16 audio placed at times (``call.clock`` milliseconds) in, a gapless
    stream out."""

    def __init__(self) -> None:
        self._start_ms: float | None = None
        self._taken = 0
        """Samples already handed out, from ``_start_ms``."""
        self._pending = np.zeros(0, np.int16)
        """Samples from ``_taken`` on; zeros where nothing was placed."""
        self._placed_end = 0
        """End of the audio placed so far (samples from ``_start_ms``)."""

    def place(self, samples: np.ndarray, due_ms: float) -> int:
        """Put (N,) int16 ``samples`` to play from ``due_ms``; how many of their first samples
        were left out because audio was already there."""
        if self._start_ms is None:
            self._start_ms = due_ms
        position = round((due_ms - self._start_ms) * SAMPLES_PER_MS)
        skipped = min(len(samples), max(0, max(self._placed_end, self._taken) - position))
        if skipped == len(samples):
            return skipped
        kept = samples[skipped:]
        offset = position + skipped - self._taken
        end = offset + len(kept)
        if end > len(self._pending):
            self._pending = np.concatenate(
                [self._pending, np.zeros(end - len(self._pending), np.int16)]
            )
        self._pending[offset:end] = kept
        self._placed_end = max(self._placed_end, position + len(samples))
        return skipped

    def take(self, until_ms: float | None = None) -> tuple[float, np.ndarray] | None:
        """The stream from where the last ``take`` ended up to ``until_ms`` (None: all placed),
        with the time its first sample plays; None when there is nothing new."""
        if self._start_ms is None:
            return None
        end = (
            self._placed_end
            if until_ms is None
            else round((until_ms - self._start_ms) * SAMPLES_PER_MS)
        )
        count = end - self._taken
        if count <= 0:
            return None
        if count > len(self._pending):
            self._pending = np.concatenate(
                [self._pending, np.zeros(count - len(self._pending), np.int16)]
            )
        chunk, self._pending = self._pending[:count], self._pending[count:]
        start_ms = self._start_ms + self._taken / SAMPLES_PER_MS
        self._taken = end
        return start_ms, chunk
