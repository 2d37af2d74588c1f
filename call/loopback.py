"""A whole call in one process: a video through the sender, real aiortc peers on loopback, the
receiver rendering, a side-by-side video (input | received) and the numbers of the run.

``facecodec call`` (the demo), the call tests and the soak benchmark run this. Both ends read
the same clock, so latencies from capture to playout and to the rendered frame are measured
directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from facecodec.bitrate import DecisionLog, RateTable
from facecodec.receiver.output import VideoOutput, side_by_side
from facecodec.receiver.receiver import Receiver
from facecodec.sender.capture import open_source
from facecodec.sender.prior import FacePrior, MediaPipePrior
from facecodec.transport import Call, CallConfig, Impairment
from facecodec.transport.audio import SAMPLE_RATE, AudioConfig, AudioStats, OpusSendTrack
from facecodec.transport.bounded_wait import finished
from facecodec.transport.call import open_loopback_pair
from facecodec.transport.link_emulator import LinkConfig, LinkStats

from .audio_playout import AudioPlayout, AudioPlayoutStats
from .audio_send import AudioSender
from .audio_source import FileAudio, NoAudioError
from .capture_loop import CaptureConfig, CapturedFrame, CaptureLoop
from .clock import now_ms
from .edits import ParamsEditor
from .keyframe_cache import RECEIVED, SENT, KeyframeCacheConfig
from .receive_session import ReceiveConfig, ReceiveSession, ReceiveStats
from .recorder import CallRecorder, FirstTimes, Latency
from .render import RenderConfig, RenderedFrame, RenderOutput, RenderStage, RenderStats
from .send_session import SendConfig, SendSession, SendStats
from .sent_keyframes import SentKeyframes
from .sync_meter import SyncMeter, SyncOffset
from .synced_playout import SyncedPlayout

DELIVERY_TIMEOUT_MS = 5000.0
"""After the last frame is sent, the sender hangs up once the receiver has every message the
path did not drop, or after this long (a real path may lose messages that nothing counts)."""
REPORT_TIMEOUT_MS = 6000.0
"""Longest wait for the first receiver report: reports come at most
``CallConfig.max_report_interval_ms`` (4 s) apart once a frames message arrived, plus the path."""
POLL_MS = 5.0
END_TIMEOUT_S = 10.0
"""Longest wait, after the hang-up, for each end of the call to wind down: the receiving end's
loop, the voice's sending and playout tasks; one still running then is named in a warning and
left behind, so that the call always ends and writes its files."""


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
    link: LinkConfig | None = None
    """An emulated path, the same both ways (each direction with its own seed)."""
    video: Path | None = None
    """Where to write the side-by-side video (input | received)."""
    log: Path | None = None
    """Where to write the controller's decision log (JSON lines)."""
    audio: AudioConfig | None = field(default_factory=AudioConfig)
    """The voice, when the input has an audio track (None: the face only)."""
    keyframe_cache: KeyframeCacheConfig | None = None
    """Keyframes kept between calls (the receiver's, and the sender's own), or none."""
    end_timeout_s: float = END_TIMEOUT_S
    """See END_TIMEOUT_S (the peer connections' own close is bounded by ``CallConfig``)."""


@dataclass(frozen=True)
class AudioResult:
    """What the voice did."""

    sent: AudioStats
    played: AudioPlayoutStats
    offset: SyncOffset
    """Voice minus face in what the receiver's playout scheduled."""


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
    link: tuple[LinkStats, LinkStats] | None
    """What the emulated path did, forward (sender to receiver) and reverse."""
    seconds: float
    """From the first frame captured to the hang-up."""
    capture_fps: float
    audio: AudioResult | None = None
    """None when no voice was sent."""
    first: FirstTimes = field(default_factory=FirstTimes)
    """When the first keyframe, face and rendered frame came."""


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
        self.audio: AudioPlayout | None = None
        self._video: VideoOutput | None = None
        self._voice_source: FileAudio | None = None
        self.capture: CaptureLoop | None = None
        """The input, once the call is set up (``capture.end()`` finishes the call early)."""

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
        voice = self._voice()
        track = OpusSendTrack(config.audio) if voice is not None and config.audio else None
        link = config.link
        listener, dialer = await open_loopback_pair(
            CallConfig(link=link and dataclasses.replace(link, seed=link.seed + 1)),
            CallConfig(impairment=config.impairment, link=link),
            track,
        )
        async with listener, dialer:
            capture = CaptureLoop(
                lambda: open_source(config.input),
                self.prior,
                CaptureConfig(pace=True, max_frames=config.max_frames, loop=config.loop),
            )
            await capture.open()
            self.capture = capture
            self._open_video(capture.fps, track is not None)
            start_ms = now_ms()
            playout = SyncedPlayout(listener.audio_in, config.receive.nominal_fps)
            cache = config.keyframe_cache
            self.receive = ReceiveSession(
                listener,
                self.recorder.sink(self.render),
                config.receive,
                playout=playout,
                cache=cache and cache.store(RECEIVED),
            )
            self.send = SendSession(
                dialer,
                self.prior,
                self.table,
                config.send,
                capture.fps,
                log,
                self.editor,
                schedule=capture.schedule,
                kept=cache and SentKeyframes(cache.store(SENT)),
            )
            receiving = asyncio.ensure_future(self.receive.run())
            frames = self.recorder.tap(capture.frames())
            audio_tasks: list[asyncio.Future] = []
            if track is not None and voice is not None:
                frames = self._start_voice(
                    (listener, dialer), voice, capture.fps, playout, audio_tasks, frames
                )
            sent = await self.send.run(frames)
            await self._delivered(sent, dialer)
            await self._reported(dialer)
            forward, reverse = dialer.stats.wire_bytes_sent, listener.stats.wire_bytes_sent
            rtt_ms = dialer.rtt_ms
            paths = (dialer.stats.link, listener.stats.link)
            if audio_tasks:
                audio_tasks[0].cancel()  # the input's audio may outlast its frames
            await dialer.close()
            received = await self._received(receiving, listener)
            seconds = (now_ms() - start_ms) / 1000
        audio = await self._voice_result(track, audio_tasks)
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
            link=None if None in paths else paths,
            seconds=seconds,
            capture_fps=capture.fps,
            audio=audio,
            first=self.recorder.first,
        )

    async def _delivered(self, sent: SendStats, dialer: Call) -> None:
        """Wait until the receiver has the keyframes (and the full images of progressive ones
        whose parts all went) and the frames messages that were sent
        and not dropped on purpose, or nothing is on its way any more over an emulated link
        (which loses what it loses): waiting a fixed time instead loses the last ones on a
        loaded machine, and the receiver shows the last frame (concealed) meanwhile."""
        assert self.receive is not None
        impaired = dialer.stats.impairment
        expected = sent.messages - (impaired.dropped if impaired is not None else 0)
        deadline = now_ms() + DELIVERY_TIMEOUT_MS
        while now_ms() < deadline:
            got = self.receive.stats
            keyframes_in = len(got.keyframes) >= len(sent.keyframes)
            if got.messages >= expected and keyframes_in and len(got.refined) >= sent.refinements:
                return
            if self.config.link is not None and not dialer.sending:
                await asyncio.sleep(POLL_MS / 1000)  # the last arrival reaches the session
                return  # and the emulated link lost the rest
            await asyncio.sleep(POLL_MS / 1000)

    async def _reported(self, dialer: Call) -> None:
        """Once frames arrived, wait for the receiver's first report to reach the sender (at
        most REPORT_TIMEOUT_MS), so that the report has a round-trip time: reports wait for two
        frames messages, and a short call on a loaded machine ended before the first."""
        assert self.receive is not None
        if not self.receive.stats.messages:
            return
        deadline = now_ms() + REPORT_TIMEOUT_MS
        while dialer.rtt_ms is None and now_ms() < deadline:
            await asyncio.sleep(POLL_MS / 1000)

    async def _received(self, receiving: asyncio.Future, listener: Call) -> ReceiveStats:
        """What the receiving session got; it ends when the hang-up reaches the listener, or
        when the listener hangs up too because the hang-up did not come in time."""
        what = "the receiving session (the hang-up did not reach it)"
        if not await finished(receiving, self.config.end_timeout_s, what):
            await listener.close()  # its channels end, and with them the session
        return await receiving

    def _voice(self) -> FileAudio | None:
        """The input's audio track, if it has one and the voice is on."""
        if self.config.audio is None:
            return None
        try:
            return FileAudio(self.config.input)
        except NoAudioError:
            return None

    def _start_voice(
        self,
        ends: tuple[Call, Call],
        voice: FileAudio,
        fps: float,
        playout: SyncedPlayout,
        tasks: list[asyncio.Future],
        frames: AsyncIterator[CapturedFrame],
    ) -> AsyncIterator[CapturedFrame]:
        """Send ``voice`` from the dialer, play what the listener gets into the video file;
        ``frames`` with the media clock sent on the way. The sending and playing tasks go into
        ``tasks``."""
        listener, dialer = ends
        sender = AudioSender(dialer, voice, fps)
        meter = SyncMeter(playout)
        self.recorder.sync = meter
        outputs = [self._video.write_audio] if self._video is not None else []
        self.audio = AudioPlayout(listener.audio_in, playout, outputs)
        tasks.append(asyncio.ensure_future(sender.run()))
        tasks.append(asyncio.ensure_future(self.audio.run()))
        self._voice_source = voice
        return sender.tap(frames)

    async def _voice_result(
        self, track: OpusSendTrack | None, tasks: list[asyncio.Future]
    ) -> AudioResult | None:
        if track is None or not tasks:
            return None
        sending, playing = tasks
        # The sending was cancelled at the hang-up: how it ended is no failure of the call.
        if await finished(sending, self.config.end_timeout_s, "the voice's sending"):
            await asyncio.gather(sending, return_exceptions=True)
        what = "the voice's playout (the far end's audio track did not end)"
        if not await finished(playing, self.config.end_timeout_s, what):
            playing.cancel()  # what was placed is played out all the same
            await asyncio.gather(playing, return_exceptions=True)
        assert self.audio is not None
        played = self.audio.stats if playing.cancelled() else playing.result()
        self._voice_source.close()
        assert self.recorder.sync is not None
        return AudioResult(track.stats, played, self.recorder.sync.offset())

    def _outputs(self) -> list[RenderOutput]:
        outputs: list[RenderOutput] = [self.recorder.on_rendered]
        if self.config.video is not None:
            outputs.append(self._write_video)
        return outputs

    def _open_video(self, capture_fps: float, voice: bool) -> None:
        if self.config.video is not None:
            fps = capture_fps / max(self.config.render.every, 1)
            self._video = VideoOutput(self.config.video, fps, SAMPLE_RATE if voice else None)

    def _write_video(self, frame: RenderedFrame) -> None:
        assert self._video is not None
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
