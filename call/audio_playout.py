"""The receiving end's voice: the far end's audio track -> the synced schedule -> outputs.

Each decoded frame (aiortc's jitter buffer and Opus decoder) is placed on an ``AudioTimeline``
at the time ``SyncedPlayout`` gives its RTP timestamp, and the timeline's final samples go to
the outputs (a file's audio track, a sound device) as time passes. A packet that never came
leaves silence of its length; the face goes on at its schedule.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError

from facecodec.transport.audio import SAMPLE_RATE, ReceivedAudio

from .audio_timeline import SAMPLES_PER_MS, AudioTimeline
from .clock import now_ms
from .synced_playout import SyncedPlayout

AudioOutput = Callable[[np.ndarray, float], None]
"""Takes (N,) int16 48 kHz mono samples and the ``call.clock`` time the first one plays."""


@dataclass
class AudioPlayoutStats:
    frames: int = 0
    """Decoded audio frames that arrived."""
    samples: int = 0
    skipped_samples: int = 0
    """Left out where audio was already placed (the schedule shrank a delay)."""
    played_samples: int = 0
    """Handed to the outputs, silence included."""


class AudioPlayout:
    """Plays ``audio``'s track on ``playout``'s schedule into ``outputs``."""

    def __init__(
        self,
        audio: ReceivedAudio,
        playout: SyncedPlayout,
        outputs: list[AudioOutput],
    ) -> None:
        self.audio = audio
        self.playout = playout
        self.outputs = outputs
        self.stats = AudioPlayoutStats()
        self._timeline = AudioTimeline()

    async def run(self) -> AudioPlayoutStats:
        """Until the track ends (the call ended); then what was placed is played out."""
        await self.audio.arrived.wait()
        assert self.audio.track is not None
        try:
            while True:
                self._on_frame(await self.audio.track.recv(), now_ms())
        except MediaStreamError:
            pass
        finally:
            self._play(self._timeline.take())
        return self.stats

    def _on_frame(self, frame: av.AudioFrame, now: float) -> None:
        assert frame.pts is not None
        samples = mono(frame)
        audio_ms = frame.pts * 1000 / SAMPLE_RATE
        self.playout.on_audio(audio_ms, now)
        due = self.playout.audio_due_ms(audio_ms, now)
        skipped = self._timeline.place(samples, due)
        kept_ms = skipped / SAMPLES_PER_MS
        self.playout.on_audio_placed(
            audio_ms + kept_ms, audio_ms + len(samples) / SAMPLES_PER_MS, due + kept_ms
        )
        self.stats.frames += 1
        self.stats.samples += len(samples)
        self.stats.skipped_samples += skipped
        self._play(self._timeline.take(now))

    def _play(self, taken: tuple[float, np.ndarray] | None) -> None:
        if taken is None:
            return
        start_ms, samples = taken
        self.stats.played_samples += len(samples)
        for output in self.outputs:
            output(samples, start_ms)


def mono(frame: av.AudioFrame) -> np.ndarray:
    """(N,) int16 samples of a packed s16 frame (aiortc decodes Opus to stereo)."""
    channels = len(frame.layout.channels)
    interleaved = frame.to_ndarray().reshape(-1, channels).astype(np.int32)
    return (interleaved.sum(axis=1) // channels).astype(np.int16)
