"""A whole call in one process: a video through the sender, real aiortc peers on loopback, the
receiver rendering, a side-by-side video (input | received) and the numbers of the run.

``facecodec call`` (the demo), the call tests and the soak benchmark run this. Both ends read
the same clock, so latencies from capture to playout and to the rendered frame are measured
directly.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from facecodec.bitrate import DecisionLog, RateTable
from facecodec.receiver.output import VideoOutput, side_by_side
from facecodec.receiver.receiver import Receiver
from facecodec.sender.capture import open_source
from facecodec.sender.prior import FacePrior, MediaPipePrior
from facecodec.transport import Call, CallConfig, Impairment
from facecodec.transport.call import open_loopback_pair

from .capture_loop import CaptureConfig, CaptureLoop
from .clock import now_ms
from .edits import ParamsEditor
from .receive_session import ReceiveConfig, ReceiveSession, ReceiveStats
from .recorder import CallRecorder, Latency
from .render import RenderConfig, RenderedFrame, RenderOutput, RenderStage, RenderStats
from .send_session import SendConfig, SendSession, SendStats

DELIVERY_TIMEOUT_MS = 5000.0
"""After the last frame is sent, the sender hangs up once the receiver has every message the
path did not drop, or after this long (a real path may lose messages that nothing counts)."""
POLL_MS = 5.0


@dataclass(frozen=True)
class LoopbackConfig:
    input: Path
    send: SendConfig
    render: RenderConfig = field(default_factory=RenderConfig)
    receive: ReceiveConfig = field(default_factory=ReceiveConfig)
    max_frames: int | None = None
    loop: bool = False
    """Play the input again at its end (soak runs); ``max_frames`` then ends the call."""
    impairment: Impairment | None = None
    """Loss and reordering of the sender's frames messages (tests, demos)."""
    video: Path | None = None
    """Where to write the side-by-side video (input | received)."""
    log: Path | None = None
    """Where to write the controller's decision log (JSON lines)."""


@dataclass(frozen=True)
class CallResult:
    """What a loopback call did, seen from both ends."""

    send: SendStats
    receive: ReceiveStats
    render: RenderStats
    to_playout: Latency
    to_render: Latency
    forward_wire_bytes: int
    """Sender to receiver, everything (transport estimate): frames, keyframes, control, acks."""
    reverse_wire_bytes: int
    rtt_ms: float | None
    seconds: float
    """From the first frame captured to the hang-up."""
    capture_fps: float


class LoopbackCall:
    """One call over loopback; ``send``, ``receive`` and ``render`` are there while it runs.
    The prior (MediaPipe's by default) is closed at the end."""

    def __init__(
        self,
        config: LoopbackConfig,
        table: RateTable,
        receiver: Receiver | None,
        prior: FacePrior | None = None,
        editor: ParamsEditor | None = None,
    ) -> None:
        self.config = config
        self.table = table
        self.prior = prior or MediaPipePrior()
        self.editor = editor
        self.recorder = CallRecorder(config.render.every if config.video else 0)
        self.render = RenderStage(config.render, receiver, self._outputs())
        self.send: SendSession | None = None
        self.receive: ReceiveSession | None = None
        self._video: VideoOutput | None = None

    async def run(self) -> CallResult:
        """Run the call to the end of the input and the last rendered frame."""
        with self._log() as log:
            try:
                result = await self._call(log)
            finally:
                await asyncio.to_thread(self.render.close)
                if self._video is not None:
                    self._video.close()
                self.prior.close()
        return result

    async def _call(self, log: DecisionLog | None) -> CallResult:
        config = self.config
        listener, dialer = await open_loopback_pair(
            CallConfig(), CallConfig(impairment=config.impairment)
        )
        async with listener, dialer:
            capture = CaptureLoop(
                lambda: open_source(config.input),
                self.prior,
                CaptureConfig(pace=True, max_frames=config.max_frames, loop=config.loop),
            )
            await capture.open()
            start_ms = now_ms()
            self.receive = ReceiveSession(listener, self.recorder.sink(self.render), config.receive)
            self.send = SendSession(
                dialer, self.prior, self.table, config.send, capture.fps, log, self.editor
            )
            receiving = asyncio.ensure_future(self.receive.run())
            sent = await self.send.run(self.recorder.tap(capture.frames()))
            await self._delivered(sent, dialer)
            forward, reverse = dialer.stats.wire_bytes_sent, listener.stats.wire_bytes_sent
            rtt_ms = dialer.rtt_ms
            await dialer.close()
            received = await receiving
            seconds = (now_ms() - start_ms) / 1000
        await asyncio.to_thread(self.render.close)
        return CallResult(
            send=sent,
            receive=received,
            render=self.render.stats,
            to_playout=self.recorder.to_playout,
            to_render=self.recorder.to_render,
            forward_wire_bytes=forward,
            reverse_wire_bytes=reverse,
            rtt_ms=rtt_ms,
            seconds=seconds,
            capture_fps=capture.fps,
        )

    async def _delivered(self, sent: SendStats, dialer: Call) -> None:
        """Wait until the receiver has the keyframes and the frames messages that were sent
        and not dropped on purpose: waiting a fixed time instead loses the last ones on a
        loaded machine, and the receiver shows the last frame (concealed) meanwhile."""
        assert self.receive is not None
        impaired = dialer.stats.impairment
        expected = sent.messages - (impaired.dropped if impaired is not None else 0)
        deadline = now_ms() + DELIVERY_TIMEOUT_MS
        while now_ms() < deadline:
            got = self.receive.stats
            if got.messages >= expected and len(got.keyframes) >= len(sent.keyframes):
                return
            await asyncio.sleep(POLL_MS / 1000)

    def _outputs(self) -> list[RenderOutput]:
        outputs: list[RenderOutput] = [self.recorder.on_rendered]
        if self.config.video is not None:
            outputs.append(self._write_video)
        return outputs

    def _write_video(self, frame: RenderedFrame) -> None:
        if self._video is None:
            assert self.config.video is not None and self.send is not None
            fps = self.send.capture_fps / max(self.config.render.every, 1)
            self._video = VideoOutput(self.config.video, fps)
        left = self.recorder.input_image(frame.seq)
        if left is None:  # the sender saw no face: its keyframe stands in
            left = frame.keyframe.image
        self._video.write(side_by_side(left, frame.image), frame.due_ms)

    @contextlib.contextmanager
    def _log(self) -> Iterator[DecisionLog | None]:
        if self.config.log is None:
            yield None
            return
        self.config.log.parent.mkdir(parents=True, exist_ok=True)
        stream: TextIO
        with self.config.log.open("w") as stream:
            yield DecisionLog(stream)
