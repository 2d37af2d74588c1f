"""The voice's playout as pure logic (no sockets, < 1 s): the gapless audio timeline and the
schedule that face frames and audio share, audio being the master."""

from __future__ import annotations

import numpy as np

from facecodec.call.audio_timeline import SAMPLES_PER_MS, AudioTimeline
from facecodec.call.schedule import MARGIN_MS
from facecodec.call.synced_playout import SyncedPlayout
from facecodec.transport.audio import MediaClock, ReceivedAudio

PACKET = round(60 * SAMPLES_PER_MS)
FRAME_MS = 40.0


def tone(value: int, samples: int = PACKET) -> np.ndarray:
    return np.full(samples, value, np.int16)


def test_the_timeline_is_gapless_silent_where_nothing_came_and_cuts_what_came_late() -> None:
    timeline = AudioTimeline()
    assert timeline.place(tone(1), 1000.0) == 0
    assert timeline.place(tone(2), 1120.0) == 0  # a lost packet before it: 60 ms of silence
    start_ms, samples = timeline.take(1180.0)
    assert start_ms == 1000.0 and len(samples) == 3 * PACKET
    assert (samples[:PACKET] == 1).all() and (samples[PACKET : 2 * PACKET] == 0).all()
    assert (samples[2 * PACKET :] == 2).all()
    # Half of this one is due before what was already played: only its second half plays.
    assert timeline.place(tone(3), 1150.0) == PACKET // 2
    start_ms, samples = timeline.take()
    assert start_ms == 1180.0 and (samples == 3).all() and len(samples) == PACKET // 2
    assert timeline.place(tone(4), 1000.0) == PACKET  # wholly in the past: not played
    assert timeline.take() is None


def playout() -> SyncedPlayout:
    """Frame n sits at n * 40 ms of the audio's timeline."""
    return SyncedPlayout(ReceivedAudio(clock=MediaClock(0, 0, round(FRAME_MS * 1000))))


def test_a_face_frame_is_due_when_its_audio_plays_once_the_audio_is_placed() -> None:
    clock = playout()
    clock.on_audio(0.0, 500.0)
    due = clock.audio_due_ms(0.0, 500.0)
    assert due == 500.0 + MARGIN_MS
    clock.on_audio_placed(0.0, 60.0, due)
    clock.on_arrival(1, 700.0)  # a late face frame moves the schedule by 200 ms...
    assert clock.due_ms(1, 700.0) == due + FRAME_MS  # ...but its audio already plays here
    assert clock.due_ms(2, 700.0) == 700.0 + FRAME_MS + MARGIN_MS  # no audio yet: the schedule


def test_audio_that_comes_after_its_frame_plays_where_the_frame_was_shown() -> None:
    clock = playout()
    clock.on_arrival(10, 1000.0)
    face_due = clock.due_ms(10, 1000.0)
    assert face_due == 1000.0 + MARGIN_MS
    clock.on_audio(380.0, 1300.0)  # the packet with frame 10 in it, 300 ms late
    due = clock.audio_due_ms(380.0, 1300.0)
    assert due == face_due - 20.0  # frame 10 sits 20 ms into the packet
    assert due < 1300.0  # in the past: the timeline cuts what is late instead of playing it
    # Later audio, far from any frame shown before its audio, follows the schedule again.
    assert clock.audio_due_ms(1000.0, 1300.0) == 1300.0 + 620.0 + MARGIN_MS
