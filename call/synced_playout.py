"""One playout schedule for the voice and the face: the audio's timeline is the clock.

Positions are milliseconds of the sender's audio timeline (its RTP timestamps). Audio frames
arrive with their own; a face frame's comes from the sender's ``MediaClock`` (where frame
``seq`` sits on that timeline, from the sender's capture clock). Both kinds of arrival anchor
the same ``AnchoredSchedule``, so the playout waits for whichever comes later (a bundle of
face frames, a late audio packet) and a frame is due exactly when the audio captured with it
plays. Audio is the master: once audio is placed (``on_audio_placed``) a face frame is due
when the audio at its place actually plays, whatever the schedule did since.
``SyncedPlayout`` speaks ``PlayoutClock``'s interface to the receiving session; until
a media clock has come (none is sent without audio) it is the face-only ``PlayoutClock``.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections import deque
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the receiving session runs without aiortc (stream files)
    from facecodec.transport.audio import ReceivedAudio

from .playout import NOMINAL_FPS, PlayoutClock
from .schedule import AnchoredSchedule

PIN_SPAN_MS = 60.0
"""Audio this close to a face frame scheduled ahead of its audio (one packet) plays where that
frame put it; further off, a frame scheduled before the schedule moved would misplace it."""
MAX_PINS = 64
"""Face frames scheduled ahead of their audio that are remembered (2.5 s at 25 fps)."""
MAX_PLACEMENTS = 20_000
"""Audio frames remembered (20 minutes of 60 ms packets)."""


class SyncedPlayout:
    """Due times of face frames and of audio on the audio's timeline (see the module)."""

    def __init__(self, audio: ReceivedAudio, nominal_fps: float = NOMINAL_FPS) -> None:
        self._audio = audio
        self._faces = PlayoutClock(nominal_fps)
        """Measures the frame period; the schedule until a media clock comes."""
        self._schedule = AnchoredSchedule(lambda: 1.0)
        self._lookahead = 0
        self._face_pins: dict[float, float] = {}
        """Position -> due time of the latest face frames scheduled before their audio came."""
        self._placed: list[tuple[float, float, float]] = []
        """(first audio ms played, end audio ms, time the first plays), sorted."""
        self._placed_order: deque[tuple[float, float, float]] = deque()

    @property
    def frame_ms(self) -> float:
        return self._faces.frame_ms

    def face_audio_ms(self, seq: int) -> float | None:
        """Where frame ``seq`` sits on the audio's timeline; None before a media clock."""
        clock = self._audio.clock
        return None if clock is None else clock.audio_ms(seq)

    def on_arrival(self, seq: int, now_ms: float) -> None:
        """Face frame ``seq`` arrived (decoded) at ``now_ms``: the frames ``lookahead`` places
        before it (interpolated towards it) can be due no earlier than now."""
        self._faces.on_arrival(seq, now_ms)
        position = self.face_audio_ms(seq - self._lookahead)
        if position is not None:
            self._schedule.on_arrival(position, now_ms)

    def due_ms(self, seq: int, now_ms: float, lookahead: int = 0) -> float | None:
        """When face frame ``seq`` is due: when its audio plays."""
        self._lookahead = lookahead
        position = self.face_audio_ms(seq)
        if position is None or not self._schedule.started:
            return self._faces.due_ms(seq, now_ms, lookahead)
        played = self.played_at(position)
        if played is not None:
            return played
        due = self._schedule.due_ms(position, now_ms)
        assert due is not None
        self._face_pins[position] = due
        while len(self._face_pins) > MAX_PINS:
            del self._face_pins[next(iter(self._face_pins))]
        return due

    def on_audio(self, audio_ms: float, now_ms: float) -> None:
        """Audio from ``audio_ms`` on arrived at ``now_ms``."""
        self._schedule.on_arrival(audio_ms, now_ms)

    def audio_due_ms(self, audio_ms: float, now_ms: float) -> float:
        """When audio at ``audio_ms`` plays (after at least one ``on_audio``); in the past
        when it came after a face frame that was due with it."""
        due = self._schedule.due_ms(audio_ms, now_ms)
        assert due is not None
        pin = self._pin_near(audio_ms)
        if pin is not None:
            # A face frame went out before its audio came: the audio plays where that frame
            # put it, even if the schedule has moved since; if that time has passed, what is
            # late is not played at all (a voice late by a second would be worse than a gap).
            position, face_due = pin
            due = face_due + audio_ms - position
        return due

    def _pin_near(self, audio_ms: float) -> tuple[float, float] | None:
        """The face frame scheduled ahead of its audio that sits at or just after
        ``audio_ms`` (else just before), within PIN_SPAN_MS."""
        positions = sorted(self._face_pins)
        index = bisect_left(positions, audio_ms)
        for candidate in (index, index - 1):
            if 0 <= candidate < len(positions):
                position = positions[candidate]
                if abs(position - audio_ms) < PIN_SPAN_MS:
                    return position, self._face_pins[position]
        return None

    def on_audio_placed(self, first_ms: float, end_ms: float, at_ms: float) -> None:
        """Audio from ``first_ms`` to ``end_ms`` of the timeline plays from ``at_ms``."""
        if end_ms <= first_ms:
            return
        entry = (first_ms, end_ms, at_ms)
        insort(self._placed, entry)
        self._placed_order.append(entry)
        if len(self._placed_order) > MAX_PLACEMENTS:
            self._placed.remove(self._placed_order.popleft())

    def played_at(self, audio_ms: float) -> float | None:
        """When the audio at ``audio_ms`` plays; None if it has not come yet. Where later audio
        has come but this did not play (lost, or cut when it came late), the audio just before
        it is followed on for up to PIN_SPAN_MS."""
        index = bisect_right(self._placed, (audio_ms, float("inf"), float("inf"))) - 1
        if index < 0:
            return None
        first_ms, end_ms, at_ms = self._placed[index]
        later_came = audio_ms < self._placed[-1][1]
        if audio_ms >= end_ms and not (later_came and audio_ms < end_ms + PIN_SPAN_MS):
            return None
        return at_ms + audio_ms - first_ms
