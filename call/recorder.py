"""Both ends of a call in one process, seen from outside: when each frame was captured, when
the receiver's playout scheduled it and when it was rendered, and what the sender's input
looked like (for a side-by-side video). Everything is kept for a bounded number of recent
frames, so that a long call's memory stays flat.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from collections.abc import AsyncIterator
from dataclasses import dataclass

import numpy as np

from facecodec.receiver.concealment import OutputFrame
from facecodec.types import Keyframe

from .capture_loop import CapturedFrame
from .clock import now_ms
from .receive_session import FrameSink
from .render import RenderedFrame
from .sync_meter import SyncMeter

MAX_FRAMES_KEPT = 3000
"""Capture times kept (2 minutes at 25 fps): far more than any frame spends in flight."""
MAX_INPUTS_KEPT = 500
"""Input crops kept for the side-by-side video (about 100 MB of 256x256 crops)."""
MAX_SAMPLES = 10_000
"""Latency samples kept (the most recent)."""


@dataclass(frozen=True)
class Latency:
    """Milliseconds from capture, over the output frames (a concealed frame counts from the
    capture of the frame it stands for, so a frame held before the stalled sender captured it
    counts negative)."""

    median_ms: float | None
    p95_ms: float | None
    max_ms: float | None
    samples: int

    @classmethod
    def of(cls, samples: list[float]) -> Latency:
        if not samples:
            return cls(None, None, None, 0)
        values = np.asarray(samples)
        return cls(
            round(float(np.median(values)), 1),
            round(float(np.percentile(values, 95)), 1),
            round(float(values.max()), 1),
            len(samples),
        )


class _Bounded(OrderedDict):
    """A dict that forgets its oldest entries beyond ``limit``."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def __setitem__(self, key: object, value: object) -> None:
        super().__setitem__(key, value)
        if len(self) > self.limit:
            self.popitem(last=False)


@dataclass
class FirstTimes:
    """When a call's first pieces came, on ``call.clock``: the start of sending (the sender's
    first frame read), the first keyframe at the receiver (a progressive one's first version),
    the first whole keyframe, the first face its playout put
    out (a GPU draws it about a millisecond later) and the first frame rendered."""

    start_ms: float | None = None
    first_keyframe_ms: float | None = None
    """A keyframe to redraw from: a progressive one's first version, or a whole one."""
    keyframe_ms: float | None = None
    """The first whole keyframe (a progressive one's full image)."""
    face_ms: float | None = None
    rendered_ms: float | None = None

    def since_start(self) -> dict[str, float | None]:
        """Milliseconds from the start to each (None: it never came), JSON-ready."""
        start = self.start_ms

        def since(t_ms: float | None) -> float | None:
            return None if t_ms is None or start is None else round(t_ms - start, 1)

        return {
            "to_first_keyframe_ms": since(self.first_keyframe_ms),
            "to_full_keyframe_ms": since(self.keyframe_ms),
            "to_first_face_ms": since(self.face_ms),
            "to_first_rendered_ms": since(self.rendered_ms),
        }


class CallRecorder:
    """Taps the sender's frames, the receiver's playout and its renderer."""

    def __init__(self, keep_inputs_every: int = 0) -> None:
        self._keep_inputs_every = keep_inputs_every
        self.sync: SyncMeter | None = None
        """With a voice: where each output frame sits against it."""
        self.rendered: deque[tuple[int, float]] = deque(maxlen=MAX_SAMPLES)
        """(seq, scheduled time) of the frames rendered, in order."""
        self._capture_ms: _Bounded = _Bounded(MAX_FRAMES_KEPT)
        self._uncaptured: _Bounded = _Bounded(MAX_FRAMES_KEPT)
        """seq -> [(samples, time)] of frames put out before they were captured."""
        self._lock = threading.Lock()
        """Capture times come on the event loop, rendered frames on the render thread."""
        self._inputs: _Bounded = _Bounded(MAX_INPUTS_KEPT)
        self._to_playout: deque[float] = deque(maxlen=MAX_SAMPLES)
        self._to_render: deque[float] = deque(maxlen=MAX_SAMPLES)
        self.first = FirstTimes()

    async def tap(self, frames: AsyncIterator[CapturedFrame]) -> AsyncIterator[CapturedFrame]:
        """``frames`` unchanged, their capture times (and crops) noted on the way."""
        async for captured in frames:
            seq = captured.frame.params.seq
            self._captured(seq, captured.capture_ms)
            if self.first.start_ms is None:
                self.first.start_ms = captured.capture_ms
            every = self._keep_inputs_every
            if every and seq % every == 0 and captured.frame.crop is not None:
                self._inputs[seq] = captured.frame.crop
            yield captured

    def sink(self, inner: FrameSink) -> FrameSink:
        """``inner`` with the playout's schedule noted on the way."""
        return _RecordingSink(self, inner)

    def on_output(self, frame: OutputFrame, due_ms: float) -> None:
        """The playout scheduled ``frame`` at ``due_ms``."""
        self._note(self._to_playout, frame.params.seq, due_ms)
        if self.first.face_ms is None and frame.params.face:
            self.first.face_ms = now_ms()
        if self.sync is not None:
            self.sync.on_face(frame.params.seq, due_ms)

    def on_rendered(self, frame: RenderedFrame) -> None:
        """A ``RenderOutput``."""
        self._note(self._to_render, frame.seq, frame.rendered_ms)
        if self.first.rendered_ms is None:
            self.first.rendered_ms = frame.rendered_ms
        self.rendered.append((frame.seq, frame.due_ms))

    def input_image(self, seq: int) -> np.ndarray | None:
        """The sender's view of frame ``seq`` (the input cut as the receiver's picture frames
        it: the keyframe's crop), if it had a face and was kept."""
        return self._inputs.get(seq)

    @property
    def to_playout(self) -> Latency:
        """Capture to the time the playout scheduled the frame."""
        return Latency.of(list(self._to_playout))

    @property
    def to_render(self) -> Latency:
        """Capture to the end of rendering."""
        return Latency.of(list(self._to_render))

    def _captured(self, seq: int, capture_ms: float) -> None:
        with self._lock:
            self._capture_ms[seq] = capture_ms
            for samples, t_ms in self._uncaptured.pop(seq, []):
                samples.append(t_ms - capture_ms)

    def _note(self, samples: deque[float], seq: int, t_ms: float) -> None:
        with self._lock:
            captured = self._capture_ms.get(seq)
            if captured is not None:
                samples.append(t_ms - captured)
                return
            # The playout holds the last face up to a second past the newest arrival, so a
            # stalled sender's frame can be put out (and rendered) before it is captured; its
            # sample waits for the capture. Frames held past the input's end never get one.
            self._uncaptured[seq] = [*self._uncaptured.get(seq, []), (samples, t_ms)]


class _RecordingSink:
    def __init__(self, recorder: CallRecorder, inner: FrameSink) -> None:
        self._recorder = recorder
        self._inner = inner

    def keyframe(self, keyframe: Keyframe, complete: bool = True) -> None:
        first = self._recorder.first
        if first.first_keyframe_ms is None:
            first.first_keyframe_ms = now_ms()
        if complete and first.keyframe_ms is None:
            first.keyframe_ms = now_ms()
        self._inner.keyframe(keyframe, complete)

    def frame(self, frame: OutputFrame, due_ms: float) -> None:
        self._recorder.on_output(frame, due_ms)
        self._inner.frame(frame, due_ms)
