"""The receiver's renderer in its own thread, fed by the playout, feeding files and windows.

Rendering takes about 1 ms a frame on a GPU and 0.5-1.5 s on a CPU, so the playout (on the
event loop, never blocked) hands frames over and the renderer takes them at its own pace:
``RenderPolicy.ALL`` renders every scheduled frame in order (a file gets them all, late on a
CPU), ``RenderPolicy.LATEST`` only the newest one whenever it is free (a live window stays
current). ``RenderConfig.every`` schedules every n-th output frame only (0: none, parameters
only). Keyframes are never skipped: they are queued in order with the frames.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

import numpy as np

from facecodec.receiver.concealment import FrameStatus, OutputFrame
from facecodec.receiver.receiver import Receiver
from facecodec.types import Keyframe

from .clock import now_ms

logger = logging.getLogger(__name__)


class RenderPolicy(Enum):
    ALL = "all"
    """Every scheduled frame, in order; falls behind real time on a slow device."""
    LATEST = "latest"
    """The newest scheduled frame whenever the renderer is free; older ones are skipped."""


@dataclass(frozen=True)
class RenderConfig:
    every: int = 1
    """Render every n-th output frame (by sequence number); 0 renders nothing."""
    policy: RenderPolicy = RenderPolicy.ALL
    close_stall_s: float = 30.0
    """At ``close``, the longest the renderer may take over one queued item (a CPU render takes
    a few seconds); past it the rest is left unrendered with a warning, so that a renderer stuck
    in its model or in an output cannot keep a call from ending."""

    def __post_init__(self) -> None:
        if self.every < 0:
            raise ValueError("render every n-th frame: n must be 0 or more")
        if self.close_stall_s <= 0:
            raise ValueError("the renderer's stall bound must be positive")


@dataclass(frozen=True)
class RenderedFrame:
    seq: int
    image: np.ndarray
    """(S, S, 3) uint8 RGB."""
    due_ms: float
    """When the playout scheduled it (``call.clock`` time; the video's timeline)."""
    rendered_ms: float
    status: FrameStatus
    lost: bool
    keyframe: Keyframe
    """The keyframe it was drawn from."""


RenderOutput = Callable[[RenderedFrame], None]
"""Takes rendered frames, in the render thread (a file writer, a window, a recorder)."""


@dataclass(frozen=True)
class _Scheduled:
    frame: OutputFrame
    due_ms: float


@dataclass
class RenderStats:
    scheduled: int = 0
    rendered: int = 0
    skipped: int = 0
    """Scheduled frames replaced by a newer one before the renderer got to them (LATEST)."""
    pending: int = 0
    render_s: float = 0.0
    """Time spent rendering, keyframes included."""
    error: str | None = None
    """Why the last keyframe could not be used (no frames are drawn until the next)."""
    model: str = ""
    """The receiver's network that renders, 'large' or 'small' on its device ('' without)."""


class RenderStage:
    """A ``FrameSink`` for ``ReceiveSession``: renders in a thread and hands frames to outputs.

    ``receiver`` may be None only with ``config.every == 0``. ``close`` waits for the frames
    scheduled so far (all of them with ALL) and stops the thread.
    """

    def __init__(
        self, config: RenderConfig, receiver: Receiver | None, outputs: list[RenderOutput]
    ) -> None:
        if receiver is None and config.every:
            raise ValueError("rendering needs a Receiver")
        self.config = config
        self.receiver = receiver
        self.outputs = outputs
        self.stats = RenderStats(
            model=f"{receiver.model} on {receiver.device.type}" if receiver else ""
        )
        self._items: deque[Keyframe | _Scheduled] = deque()
        self._wake = threading.Condition()
        self._closing = False
        self._closed = False
        self._taken = 0
        """Items the thread took from the queue: its progress while ``close`` waits."""
        self._keyframe: Keyframe | None = None
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="render", daemon=True)
        self._thread.start()

    def keyframe(self, keyframe: Keyframe, complete: bool = True) -> None:
        if self.config.every:
            self._put(keyframe)

    def frame(self, frame: OutputFrame, due_ms: float) -> None:
        every = self.config.every
        if not every or frame.params.seq % every:
            return
        self.stats.scheduled += 1
        self._put(_Scheduled(frame, due_ms))

    def close(self) -> None:
        """Render what is queued, stop; an output's exception is raised here (once). A thread
        stalled longer than ``config.close_stall_s`` on one item is left behind (a daemon)."""
        if self._closed:
            return
        with self._wake:
            self._closing = True
            self._wake.notify()
        self._join()
        self._closed = True
        if self._failure is not None:
            raise self._failure

    def _join(self) -> None:
        while True:
            taken = self._taken
            self._thread.join(self.config.close_stall_s)
            if not self._thread.is_alive():
                return
            if self._taken == taken:
                logger.warning(
                    "the renderer made no progress in %g s; %d items are left unrendered",
                    self.config.close_stall_s,
                    len(self._items) + 1,
                )
                return

    def _put(self, item: Keyframe | _Scheduled) -> None:
        with self._wake:
            replace = (
                self.config.policy == RenderPolicy.LATEST
                and isinstance(item, _Scheduled)
                and self._items
                and isinstance(self._items[-1], _Scheduled)
            )
            if replace:
                self._items.pop()
                self.stats.skipped += 1
            self._items.append(item)
            self.stats.pending = len(self._items)
            self._wake.notify()

    def _run(self) -> None:
        while (item := self._next()) is not None:
            try:
                if isinstance(item, _Scheduled):
                    self._render(item)
                else:
                    self._set_keyframe(item)
            except Exception as exc:  # an output failed (disk full...): stop, say why at close
                self._failure = exc
                return

    def _next(self) -> Keyframe | _Scheduled | None:
        with self._wake:
            while not self._items and not self._closing:
                self._wake.wait()
            item = self._items.popleft() if self._items else None
            self._taken += 1
            self.stats.pending = len(self._items)
            return item

    def _set_keyframe(self, keyframe: Keyframe) -> None:
        assert self.receiver is not None
        start = now_ms()
        try:
            self.receiver.set_keyframe(keyframe)
        except ValueError as exc:  # a keyframe of another size or face model
            self._keyframe, self.stats.error = None, str(exc)
            logger.warning("keyframe not used: %s", exc)
            return
        self._keyframe, self.stats.error = keyframe, None
        self.stats.render_s += (now_ms() - start) / 1000

    def _render(self, item: _Scheduled) -> None:
        # Without a usable keyframe, or a face seen yet, there is nothing to draw.
        if self._keyframe is None or not item.frame.params.face:
            return
        assert self.receiver is not None
        start = now_ms()
        image = self.receiver.render([item.frame.params])[0]
        done = now_ms()
        self.stats.rendered += 1
        self.stats.render_s += (done - start) / 1000
        rendered = RenderedFrame(
            item.frame.params.seq,
            image,
            item.due_ms,
            done,
            item.frame.status,
            item.frame.lost,
            self._keyframe,
        )
        for output in self.outputs:
            output(rendered)
