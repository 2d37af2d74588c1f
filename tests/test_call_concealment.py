"""Loss concealment (receiver/concealment.py) and the playout schedule (call/playout.py): pure
logic, driven with frames of a real clip's fit and synthetic arrival times."""

from __future__ import annotations

import numpy as np
import pytest

from facecodec.call.playout import DECAY_MS_PER_S, MARGIN_MS, PlayoutClock
from facecodec.receiver.concealment import RESYNC_FRAMES, Concealer, FrameStatus
from facecodec.types import FrameParams, OperatingPoint

FRAME_MS = 40.0


def frame(seq: int, yaw: float = 0.0, dims: int = 8) -> FrameParams:
    return FrameParams(
        seq=seq,
        rotation=[0.0, yaw, 0.0],
        translation=[0.01 * seq, 0.0, 0.0],
        expression=np.full(dims, 0.1 * seq, np.float32),
    )


def play(concealer: Concealer, count: int) -> list:
    return [concealer.next() for _ in range(count)]


def test_received_frames_come_out_as_they_arrived() -> None:
    concealer = Concealer(OperatingPoint(frame_interval=1))
    for seq in (10, 11, 12):
        assert concealer.add(frame(seq))
    out = play(concealer, 3)
    assert [f.params.seq for f in out] == [10, 11, 12]
    assert all(f.status == FrameStatus.RECEIVED and not f.lost for f in out)
    assert out[2].params.translation[0] == pytest.approx(0.12)


def test_a_lost_frame_is_interpolated_when_a_later_one_is_here() -> None:
    concealer = Concealer(OperatingPoint(frame_interval=1))
    for seq in (0, 1, 4):
        concealer.add(frame(seq, yaw=0.1 * seq))
    out = play(concealer, 5)
    assert [f.status for f in out] == [
        FrameStatus.RECEIVED,
        FrameStatus.RECEIVED,
        FrameStatus.INTERPOLATED,
        FrameStatus.INTERPOLATED,
        FrameStatus.RECEIVED,
    ]
    assert [f.lost for f in out] == [False, False, True, True, False]
    assert out[2].params.rotation[1] == pytest.approx(0.2)
    assert out[3].params.expression[0] == pytest.approx(0.3)


def test_nothing_later_holds_the_last_frame_and_the_next_arrival_blends_in() -> None:
    concealer = Concealer(OperatingPoint(frame_interval=1))
    concealer.add(frame(0, yaw=0.0))
    out = play(concealer, 3)
    assert [f.status for f in out[1:]] == [FrameStatus.HELD, FrameStatus.HELD]
    assert out[2].params.seq == 2 and out[2].params.rotation[1] == 0.0
    concealer.add(frame(4, yaw=0.4))
    blended = concealer.next()
    assert blended.status == FrameStatus.INTERPOLATED
    assert blended.params.rotation[1] == pytest.approx(0.2)  # halfway from the held frame 2


def test_frames_the_operating_point_skips_are_not_lost() -> None:
    concealer = Concealer(OperatingPoint(frame_interval=3))
    for seq in (0, 3, 9):
        concealer.add(frame(seq))
    out = play(concealer, 10)
    lost = [f.params.seq for f in out if f.lost]
    assert lost == [6]  # sent (6 % 3 == 0) and missing; 1, 2, 4, 5, 7, 8 are skipped
    assert out[7].status == FrameStatus.INTERPOLATED


def test_operating_point_changes_decide_what_was_sent() -> None:
    concealer = Concealer(OperatingPoint(frame_interval=1))
    concealer.set_operating_point(4, OperatingPoint(frame_interval=2))
    for seq in (0, 1, 2, 3, 10):
        concealer.add(frame(seq))
    out = play(concealer, 11)
    assert [f.params.seq for f in out if f.lost] == [4, 6, 8]
    assert concealer.frame_interval == 2


def test_late_frames_are_refused_and_no_face_holds() -> None:
    concealer = Concealer(OperatingPoint(frame_interval=1))
    concealer.add(frame(0))
    concealer.next()
    assert not concealer.add(frame(0))
    concealer.add(FrameParams.no_face(1))
    held = concealer.next()
    assert held.status == FrameStatus.HELD and held.params.face and not held.lost


def test_a_jump_in_numbering_restarts_the_output() -> None:
    concealer = Concealer(OperatingPoint(frame_interval=1))
    concealer.add(frame(0))
    concealer.next()
    concealer.add(frame(5 + RESYNC_FRAMES))
    assert concealer.next().params.seq == 5 + RESYNC_FRAMES


def bundles(first: int, count: int, size: int, start_ms: float) -> list[tuple[float, list[int]]]:
    """Bundles of ``size`` frames at 25 fps, each sent when its last frame is captured."""
    out = []
    for b in range(count):
        seqs = list(range(first + b * size, first + (b + 1) * size))
        out.append((start_ms + seqs[-1] * FRAME_MS, seqs))
    return out


def test_playout_waits_for_the_bundles_and_keeps_the_capture_pace() -> None:
    clock = PlayoutClock()
    assert clock.due_ms(0, 0.0) is None
    schedule = bundles(0, 20, 5, start_ms=1000.0)
    for arrival_ms, seqs in schedule:
        for seq in seqs:
            clock.on_arrival(seq, arrival_ms)
        # Every frame that has arrived is due after it arrived, and not much later.
        for seq in seqs:
            due = clock.due_ms(seq, arrival_ms)
            assert due is not None and due >= arrival_ms - (seqs[-1] - seq) * FRAME_MS
    last_arrival, seqs = schedule[-1]
    # The first frame of each bundle waited 4 frame periods; playout runs that far behind.
    delay = clock.due_ms(seqs[0], last_arrival) - (1000.0 + seqs[0] * FRAME_MS)
    assert 4 * FRAME_MS <= delay <= 4 * FRAME_MS + MARGIN_MS
    assert clock.frame_ms == pytest.approx(FRAME_MS, rel=0.02)


def test_playout_delay_shrinks_after_one_late_bundle() -> None:
    clock = PlayoutClock()
    clock.on_arrival(0, 1000.0)
    clock.on_arrival(1, 1000.0 + FRAME_MS + 500.0)  # held up half a second
    before = clock.due_ms(2, 1600.0)
    after = clock.due_ms(2, 3600.0)
    assert before - after == pytest.approx(2 * DECAY_MS_PER_S)


def test_playout_measures_a_30_fps_sender() -> None:
    clock = PlayoutClock()
    for seq in range(100):
        clock.on_arrival(seq, 1000.0 + seq * 1000 / 30)
    assert clock.frame_ms == pytest.approx(1000 / 30, rel=0.01)
