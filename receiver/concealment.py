"""One set of parameters per output frame, whatever arrived: loss concealment (docs/call.md).

Frames reach the receiver bundled, out of order or not at all, and at a parameter rate that
the operating point may set below the capture rate. ``Concealer`` keeps the frames that arrived
and, asked for the next output frame, gives its own parameters when they are here, interpolates
linearly between the last output frame and the next frame that arrived, or holds the last
output frame when nothing later is here yet. It never waits: the caller decides when a frame is
due (facecodec.call.playout) and the answer is always a frame to draw.

A frame counts as lost when the operating point in force says the sender sent it
(``codec.is_sent``) and it is not here when due; frames the operating point skips are
interpolated by design and are not lost.
"""

from __future__ import annotations

import bisect
import dataclasses
from dataclasses import dataclass
from enum import Enum

import numpy as np

from facecodec.codec import is_sent
from facecodec.types import FrameParams, OperatingPoint

RESYNC_FRAMES = 250
"""A frame this far ahead of the output (10 s at 25 fps) restarts the output at it."""


class FrameStatus(Enum):
    """Where an output frame's parameters came from."""

    RECEIVED = "received"
    """Its own parameters arrived in time."""
    INTERPOLATED = "interpolated"
    """Between the last output frame and a later frame that arrived."""
    HELD = "held"
    """The last output frame again: nothing later has arrived, or the sender saw no face."""


@dataclass(frozen=True)
class OutputFrame:
    """The parameters to draw for output frame ``params.seq``."""

    params: FrameParams
    status: FrameStatus
    lost: bool
    """The sender sent this frame (by its operating point) and it did not arrive in time."""


class Concealer:
    """Frames of one sender's stream in, one ``OutputFrame`` per sequence number out.

    Output starts at the first frame added (``next_seq`` is None until then) and goes on one
    sequence number at a time; frames that arrive for a sequence number already output are
    refused (late). Operating points come from the keyframe and the sender's operating-point
    messages (``set_operating_point``) and only decide what counts as lost.
    """

    def __init__(self, op: OperatingPoint) -> None:
        self._ops: list[tuple[int, OperatingPoint]] = [(0, op)]
        self._arrived: dict[int, FrameParams] = {}
        self._last: FrameParams | None = None
        self.next_seq: int | None = None
        self.latest_seq: int | None = None
        """Highest sequence number that arrived in time."""

    def set_operating_point(self, first_seq: int, op: OperatingPoint) -> None:
        """``op`` is in force from frame ``first_seq`` on."""
        bisect.insort(self._ops, (first_seq, op), key=lambda entry: entry[0])

    @property
    def frame_interval(self) -> int:
        """The operating point's frame interval at the output position: drawing a frame may
        need the frame that many places later, minus one."""
        return self._op_at(self.next_seq or 0).frame_interval

    def add(self, params: FrameParams) -> bool:
        """A frame arrived; False if its output time has passed (late, not used).

        A frame more than RESYNC_FRAMES ahead of the output restarts the output at it (the
        sender's numbering jumped): walking frame by frame through the gap would only draw
        the same held frame many times.
        """
        if self.next_seq is None or params.seq > self.next_seq + RESYNC_FRAMES:
            self.next_seq = params.seq
            self._arrived = {s: p for s, p in self._arrived.items() if s >= params.seq}
        elif params.seq < self.next_seq:
            return False
        self._arrived[params.seq] = params
        self.latest_seq = max(params.seq, self.latest_seq or params.seq)
        return True

    def next(self) -> OutputFrame:
        """The output frame ``next_seq``; it advances ``next_seq`` by one."""
        if self.next_seq is None:
            raise RuntimeError("no frame has arrived yet")
        seq = self.next_seq
        own = self._arrived.pop(seq, None)
        if own is not None and own.face:
            frame = OutputFrame(own, FrameStatus.RECEIVED, lost=False)
        elif own is not None or self._last is None:
            # No face at the sender (or nothing to draw yet): the last face frame stays.
            frame = OutputFrame(self._held(seq), FrameStatus.HELD, lost=False)
        else:
            frame = self._conceal(seq)
        if frame.params.face:
            self._last = frame.params
        self.next_seq = seq + 1
        # Operating points that ended before the output position will never be asked again.
        while len(self._ops) > 1 and self._ops[1][0] <= self.next_seq:
            self._ops.pop(0)
        return frame

    def _conceal(self, seq: int) -> OutputFrame:
        lost = is_sent(seq, self._op_at(seq))
        later = [s for s, p in self._arrived.items() if s > seq and p.face]
        if not later:
            return OutputFrame(self._held(seq), FrameStatus.HELD, lost)
        assert self._last is not None
        target = min(later)
        weight = (seq - self._last.seq) / (target - self._last.seq)
        params = interpolate(self._last, self._arrived[target], weight, seq)
        return OutputFrame(params, FrameStatus.INTERPOLATED, lost)

    def _held(self, seq: int) -> FrameParams:
        if self._last is None:
            return FrameParams.no_face(seq)
        return dataclasses.replace(self._last, seq=seq)

    def _op_at(self, seq: int) -> OperatingPoint:
        index = bisect.bisect_right(self._ops, seq, key=lambda entry: entry[0])
        return self._ops[max(index - 1, 0)][1]


def interpolate(a: FrameParams, b: FrameParams, weight: float, seq: int) -> FrameParams:
    """``a`` moved ``weight`` (0..1) of the way to ``b``, numbered ``seq``.

    Angles are interpolated component-wise: between frames a few tens of milliseconds apart a
    head turns by a few degrees, far from where Euler angles misbehave. Expression codes of
    different lengths are zero-padded; explicit keypoints are interpolated when both frames
    carry the same number, otherwise the nearer frame's are taken.
    """
    dims = max(a.expression.shape[0], b.expression.shape[0])
    same = a.keypoints is not None and b.keypoints is not None
    if same and a.keypoints.shape == b.keypoints.shape:
        keypoints = _lerp(a.keypoints, b.keypoints, weight)
    else:
        keypoints = a.keypoints if weight < 0.5 else b.keypoints
    return FrameParams(
        seq=seq,
        rotation=_lerp(a.rotation, b.rotation, weight),
        translation=_lerp(a.translation, b.translation, weight),
        scale=float(_lerp(np.float32(a.scale), np.float32(b.scale), weight)),
        expression=_lerp(a.full_expression(dims), b.full_expression(dims), weight),
        keypoints=keypoints,
    )


def _lerp(a: np.ndarray, b: np.ndarray, weight: float) -> np.ndarray:
    return (1.0 - weight) * a + weight * b
