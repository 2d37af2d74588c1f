"""How far the voice is from the face in what the receiver plays.

For each output face frame: the time the playout scheduled it, against the time the audio
captured with it (its place on the audio's timeline, from the sender's media clock) was put
to play. Positive: the voice comes after the face (trails); negative: it leads. ITU-R BT.1359
finds a voice leading by more than 45 ms or trailing by more than 125 ms detectable.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from .synced_playout import SyncedPlayout

MAX_KEPT = 20_000
"""Face frames remembered (13 minutes at 25 fps)."""


@dataclass(frozen=True)
class SyncOffset:
    """Voice minus face, milliseconds, over the output frames whose audio played."""

    median_ms: float | None
    p95_abs_ms: float | None
    """95th percentile of the offset's size."""
    min_ms: float | None
    max_ms: float | None
    frames: int


class SyncMeter:
    """Notes where face frames were scheduled, against where their audio played."""

    def __init__(self, playout: SyncedPlayout) -> None:
        self._playout = playout
        self._faces: deque[tuple[float, float]] = deque(maxlen=MAX_KEPT)
        """(audio ms of the frame, time it was scheduled)."""

    def on_face(self, seq: int, due_ms: float) -> None:
        position = self._playout.face_audio_ms(seq)
        if position is not None:
            self._faces.append((position, due_ms))

    def offset(self) -> SyncOffset:
        """Over the frames whose audio played (not lost, not past the end of the voice)."""
        found = ((self._playout.played_at(p), due) for p, due in self._faces)
        offsets = np.array([voice - face for voice, face in found if voice is not None])
        if not len(offsets):
            return SyncOffset(None, None, None, None, 0)
        return SyncOffset(
            round(float(np.median(offsets)), 1),
            round(float(np.percentile(np.abs(offsets), 95)), 1),
            round(float(offsets.min()), 1),
            round(float(offsets.max()), 1),
            len(offsets),
        )
