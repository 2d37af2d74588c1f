"""The sending end of a call: prior frames -> controller -> codec -> bundler -> transport.

Per frame that the prior releases (call.capture_loop), in the order docs/transport.md sketches:
the controller decides the operating point and whether a keyframe is due; a keyframe goes at
the first face frame after the start, a request or a move of the view (the keyframe's crop,
sender/crop.py), sent by the keyframe sender (call/keyframe_sender.py: progressive keyframes
paced in the wire budget, kept keyframes named instead of sent); the frames the operating point
sends wait in the bundler; when a bundle is due it is coded as one frames message, shrunk
(oldest frames first) until it fits the controller's 1-second bound, and sent on the unreliable
channel.

The same session writes stream files (``facecodec encode``) and the benchmark's bitstreams:
the link and the clock are passed in (a ``Call`` and ``now_ms`` live; ``call.recording_link``
and the stream's timeline, ``seq / fps``, for a file, where ``offer`` and ``finish`` drive it
without an event loop), and the rate control is the ``Controller`` for a target or
``bitrate.FixedPoint`` for one explicit operating point.

References: in a call (``References.ACKNOWLEDGED``) each message predicts from the newest frame
the receiver reported decoded (its codec ``ReceiverReport``), else from the keyframe, never
from a message that may have been lost. A lost message then costs only its own frames, at about
20% more bytes per frame than predicting from the previous message (measured on the training
clips). A file loses nothing, so there (``References.PREVIOUS``) each message predicts from the
last frame sent.

Frames older than ``max_frame_age_ms`` when the prior releases them (its first second, held
back while it learns the identity; or a prior that falls behind) are not sent: a live call
shows now. Keyframes may still come from them. Frames the prior skipped because the point
then current would not send them (``schedule``, sender/send_schedule.py) are never sent.

Pose and emotion edits (call.edits) change each frame's parameters before coding; the keyframe
keeps the parameters measured on its own frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator
from dataclasses import dataclass
from enum import Enum

import numpy as np

from facecodec.bitrate import (
    Bundler,
    BundlingConfig,
    Controller,
    ControllerConfig,
    DecisionLog,
    RateTable,
)
from facecodec.bitrate.bundler import frames_wire_bytes
from facecodec.bitrate.fixed_point import FixedPoint
from facecodec.codec import (
    BitstreamError,
    CacheAnswer,
    FrameEncoder,
    KeyframeRequest,
    KeypointPredictor,
    OperatingPointChange,
    ReceiverReport,
    decode_control,
    encode_control,
    is_sent,
)
from facecodec.codec.frames import MAX_BUNDLE_FRAMES
from facecodec.codec.keyframe import carried
from facecodec.sender.crop import CropBox, CropMapping
from facecodec.sender.prior import FacePrior, PriorFrame
from facecodec.sender.send_schedule import SendSchedule
from facecodec.transport import Call, ChannelClosedError, LinkFeedback
from facecodec.types import FrameParams, Keyframe, OperatingPoint

from .capture_loop import CapturedFrame
from .clock import Clock, now_ms
from .edits import ParamsEditor
from .keyframe_sender import CACHE_ANSWER_MS, KeyframeSender, KeyframeStats
from .link import Link
from .meter import Meter
from .scheduled_send import send_scheduled
from .sent_keyframes import SentKeyframes
from .tasks import stop

MAX_FRAME_AGE_MS = 500.0
"""Frames older than this when the prior releases them are not sent."""


class EndReason(Enum):
    SOURCE_ENDED = "the input ended"
    HUNG_UP = "the receiver hung up"


class References(Enum):
    """What a frames message predicts from (see the module docstring)."""

    ACKNOWLEDGED = "acknowledged"
    """A call: the newest frame the receiver reported decoded, else the keyframe."""
    PREVIOUS = "previous"
    """A file, where every message arrives: the last frame sent."""


@dataclass(frozen=True)
class SendConfig:
    target_bps: float | None
    """Payload target (``--bitrate``); None with ``point``."""
    max_latency_ms: float = 200.0
    """Longest a frame waits in a bundle (``--max-latency``)."""
    wire_bitrate_bps: float | None = None
    """Wire target (``--wire-bitrate``): bundle until the wire rate fits."""
    max_frame_age_ms: float = MAX_FRAME_AGE_MS
    network: str = ""
    """Receiver network version the keyframes name ('' for any)."""
    point: OperatingPoint | None = None
    """Code every frame at this point instead of controlling a target."""
    references: References = References.ACKNOWLEDGED
    cache_answer_ms: float = CACHE_ANSWER_MS
    """Longest wait for the receiver's answer to a cached keyframe."""

    def __post_init__(self) -> None:
        if (self.target_bps is None) == (self.point is None):
            raise ValueError("give the sender either a target bit rate or an operating point")

    @property
    def bundling(self) -> BundlingConfig:
        return BundlingConfig(self.max_latency_ms, self.wire_bitrate_bps, MAX_BUNDLE_FRAMES)

    def rate_control(
        self, table: RateTable | None, capture_fps: float, log: DecisionLog | None = None
    ) -> Controller | FixedPoint:
        if self.point is not None:
            return FixedPoint(self.point)
        if table is None:
            raise ValueError("a target bit rate needs the rate-distortion table")
        assert self.target_bps is not None
        config = ControllerConfig(self.target_bps, self.bundling, capture_fps)
        return Controller(config, table, log)


@dataclass
class SendStats(KeyframeStats):
    """What the sender did so far (its keyframes': ``KeyframeStats``); rates over the last
    second."""

    frames: int = 0
    """Frames the prior released."""
    stale: int = 0
    """Released too late to send (see MAX_FRAME_AGE_MS)."""
    frames_sent: int = 0
    frames_dropped: int = 0
    """Taken out of bundles that would have broken the 1-second bound, or out of a full bundle
    while a refinement spaced the messages past the latency budget (bitrate.bundler)."""
    messages: int = 0
    payload_bytes: int = 0
    """Frames messages' payload, as the paper counts it."""
    first_message_ms: float | None = None
    last_message_ms: float | None = None
    frames_wire_bytes: int = 0
    """Frames messages on the wire (estimated: transport.overhead)."""
    keyframe_requests: int = 0
    malformed_control: int = 0
    point: OperatingPoint | None = None
    acknowledged_seq: int | None = None
    """Newest frame the receiver reported decoded."""
    concealed_at_receiver: int = 0
    """Frames the receiver reported lost (concealed), cumulative."""
    loss: float = 0.0
    rtt_ms: float | None = None
    fps: float = 0.0
    payload_bps: float = 0.0
    wire_bps: float = 0.0
    end: EndReason | None = None

    def mean_bps(self, total_bytes: int) -> float | None:
        """Bit rate of ``total_bytes`` spread over the time the frames messages span (each
        message stands for the interval before it); None before two messages."""
        first, last = self.first_message_ms, self.last_message_ms
        if first is None or last is None or self.messages < 2 or last <= first:
            return None
        seconds = (last - first) / 1000 * self.messages / (self.messages - 1)
        return 8 * total_bytes / seconds


class SendSession:
    """Runs the sending end of one stream over ``call`` (see the module docstring)."""

    def __init__(
        self,
        call: Link,
        prior: FacePrior,
        table: RateTable | None,
        config: SendConfig,
        capture_fps: float,
        log: DecisionLog | None = None,
        editor: ParamsEditor | None = None,
        clock: Clock = now_ms,
        schedule: SendSchedule | None = None,
        kept: SentKeyframes | None = None,
    ) -> None:
        self.call = call
        self.schedule = schedule or SendSchedule()
        """Tells the capture thread which frames to analyse (``CaptureLoop.schedule``)."""
        self.prior = prior
        self.config = config
        self.capture_fps = capture_fps
        self.clock = clock
        self.controller = config.rate_control(table, capture_fps, log)
        self._bundler: Bundler[FrameParams] = Bundler(config.bundling)
        first = config.point or (table.cheapest.point if table else OperatingPoint())
        self._encoder = FrameEncoder(first)
        self._editor = editor
        self._point = first
        self._keyframes = KeyframeSender(
            call, self.controller, self._bundler, clock, kept, config.cache_answer_ms
        )
        self._keyframe_seq: int | None = None
        self._view: CropBox | None = None
        self._last_sent_seq: int | None = None
        self._announced = self._point
        """The operating point the receiver was last told of."""
        self._stats = SendStats()
        self._windows = {name: Meter() for name in ("fps", "payload", "wire")}

    @property
    def view(self) -> CropBox | None:
        """Where the receiver's picture sits in the input frames: the crop of the keyframe it
        draws from (None before the first keyframe)."""
        return self._view

    @property
    def stats(self) -> SendStats:
        now = self.clock()
        return dataclasses.replace(
            self._stats,
            **dataclasses.asdict(self._keyframes.stats),
            fps=self._windows["fps"].total(now),
            payload_bps=self._windows["payload"].rate_bps(now),
            wire_bps=self._windows["wire"].rate_bps(now),
        )

    async def run(self, frames: AsyncIterator[CapturedFrame]) -> SendStats:
        """Send until ``frames`` ends or the receiver hangs up; the caller closes the call."""
        queue: asyncio.Queue[CapturedFrame | None] = asyncio.Queue()
        tasks = [
            asyncio.ensure_future(_pump(frames, queue)),
            asyncio.ensure_future(self._receive_control()),
            asyncio.ensure_future(self._receive_feedback()),
        ]
        try:
            self._stats.end = await self._send_loop(queue)
        except ChannelClosedError:
            self._stats.end = EndReason.HUNG_UP
        finally:
            await stop(tasks)
        return self.stats

    def offer(self, captured: CapturedFrame) -> None:
        """One frame of a stream sent without an event loop (a file): what is due by its
        time goes out, then the frame is taken; the clock must read its time."""
        self._flush(self.clock())
        self._on_frame(captured)
        self._flush(self.clock())

    def finish(self) -> SendStats:
        """The stream ended (``offer``): the pending bundle goes out."""
        self._flush(self.clock(), force=True)
        self._stats.end = EndReason.SOURCE_ENDED
        return self.stats

    def request_keyframe(self) -> None:
        """Send a keyframe at the next face frame (a file's periodic refresh)."""
        self._keyframes.request()

    async def _send_loop(self, queue: asyncio.Queue[CapturedFrame | None]) -> EndReason:
        while self.call.control.is_open:
            flush_ms = self._bundler.next_flush_ms
            timeout = None if flush_ms is None else max(0.0, flush_ms - self.clock()) / 1000
            try:
                item = await asyncio.wait_for(queue.get(), timeout)
            except TimeoutError:
                self._flush(self.clock())
                self._keyframes.send_parts(self.clock())
                continue
            if item is None:
                self._flush(self.clock(), force=True)
                return EndReason.SOURCE_ENDED
            self._on_frame(item)
            self._flush(self.clock())
            self._keyframes.send_parts(self.clock())
        return EndReason.HUNG_UP

    def _on_frame(self, captured: CapturedFrame) -> None:
        frame, now = captured.frame, self.clock()
        self._stats.frames += 1
        self._windows["fps"].add(now, 1)
        decision = self.controller.on_frame(now)
        self._point = self._stats.point = self.schedule.point = decision.point
        self._keyframes.on_frame(now, decision.keyframe, frame.new_crop)
        if self._keyframes.waiting:
            return
        if self._keyframes.due and frame.params.face:
            self._start_keyframe(frame, now)
            return
        if (
            self._keyframe_seq is None
            or not frame.analysed
            or not is_sent(frame.params.seq, self._point)
        ):
            return
        if now - captured.capture_ms > self.config.max_frame_age_ms:
            self._stats.stale += 1
            return
        self._announce_point(frame.params.seq)
        params = self._in_view(frame)
        if self._editor is not None:
            params = self._editor(params, self._point.expression_dims)
        self._dropped(self._bundler.add(params, now), now)

    def _flush(self, now: float, force: bool = False) -> None:
        """Send the pending bundle if it is due at ``now``, or at once with ``force``."""
        due_ms = self._bundler.next_flush_ms
        if due_ms is None:
            return
        bundle = self._bundler.due(max(now, due_ms) if force else now)
        if not bundle:
            return
        self._encoder.op = self._point
        if isinstance(self.call, Call):  # a wire target counts all the end sends
            self.controller.on_wire_total(self.call.stats.wire_bytes_sent, now)
        kept, message = self._fitting(bundle, self.controller.room_bytes(now))
        self._dropped(len(bundle) - len(kept), now)
        if not kept:
            return
        # Encoding a large bundle a few times takes a while on a loaded machine: the message
        # goes now, and the wire budget must count it now, not when its bundle was due.
        now = self.clock()
        self.call.frames.send(message)
        self._last_sent_seq = kept[-1].seq
        self.controller.on_message(len(message), len(kept), now)
        self._bundler.on_sent(len(message), now)
        self._count_message(message, len(kept), now)

    def _dropped(self, frames: int, now: float) -> None:
        """``frames`` left out: of a full bundle (the bundler) or of a message too big for the
        wire budget's room."""
        if frames:
            self.controller.on_dropped(frames, now)
            self._stats.frames_dropped += frames

    def _fitting(
        self, bundle: list[FrameParams], room_bytes: float
    ) -> tuple[list[FrameParams], bytes]:
        """The newest frames of ``bundle`` whose message fits ``room_bytes`` (the oldest are
        dropped first) and that message, found by halves: dropping one frame at a time
        re-encoded a 64-frame bundle up to 63 times, a second of the event loop on a loaded
        machine. Each try leaves its frames in the encoder's window (the state each frame's
        prediction starts from), so the frames kept are encoded last."""
        message = self._encode(bundle)
        if len(message) <= room_bytes:
            return bundle, message
        fits, fails, encoded = 0, len(bundle), len(bundle)
        while fails - fits > 1:
            encoded = (fits + fails) // 2
            message = self._encode(bundle[-encoded:])
            if len(message) <= room_bytes:
                fits = encoded
            else:
                fails = encoded
        kept = bundle[len(bundle) - fits :]
        if kept and encoded != fits:
            message = self._encode(kept)
        return kept, message

    def _encode(self, frames: list[FrameParams]) -> bytes:
        """One frames message predicted from the reference ``config.references`` names if the
        encoder still holds it, else from the keyframe, else from nothing (a reference
        ambiguous mod 2**16, once every 43 minutes at 25 fps)."""
        held = set(self._encoder.references())
        newest = self._stats.acknowledged_seq
        if self.config.references == References.PREVIOUS:
            newest = self._last_sent_seq
        candidates = [seq for seq in (newest, self._keyframe_seq) if seq in held]
        for reference in candidates:
            with contextlib.suppress(ValueError):
                return self._encoder.encode(frames, reference)
        return self._encoder.encode(frames, None)

    def _count_message(self, message: bytes, frames: int, now: float) -> None:
        wire = frames_wire_bytes(len(message))
        self._stats.messages += 1
        self._stats.first_message_ms = self._stats.first_message_ms or now
        self._stats.last_message_ms = now
        self._stats.frames_sent += frames
        self._stats.payload_bytes += len(message)
        self._stats.frames_wire_bytes += wire
        self._windows["payload"].add(now, len(message))
        self._windows["wire"].add(now, wire)

    def _in_view(self, frame: PriorFrame) -> FrameParams:
        """The frame's parameters in the crop of the keyframe the receiver draws from: the
        prior's view moves on while a crop move waits for a refinement in flight."""
        if self._view is None or frame.box is None or frame.box == self._view:
            return frame.params
        return CropMapping.between(frame.box, self._view).params(frame.params)

    def _start_keyframe(self, frame: PriorFrame, now: float) -> None:
        # Frames captured before the keyframe go out ahead of it, not a bundle later.
        self._flush(now, force=True)
        self._view = frame.box
        # As the message carries it: the receiver predicts keypoints from the identity it decodes.
        keyframe = carried(self.prior.keyframe(frame, self.config.network))
        source = self._keyframes.start(keyframe, self._point, now)
        if source is not None:
            self._set_keyframe(*source)

    def _set_keyframe(self, keyframe: Keyframe, op: OperatingPoint) -> None:
        """``keyframe``, as the receiver has it now or will, is the frames' source."""
        self._encoder.set_keyframe(keyframe, op)
        if self._editor is not None:
            self._editor.new_keyframe(keyframe)
        if self.prior.model_shipped:
            self._encoder.keypoint_predictor = _model_keypoints(self.prior, keyframe.identity)
        self._keyframe_seq = self._last_sent_seq = keyframe.params.seq
        self._announced = op

    def _announce_point(self, seq: int) -> None:
        """Tell the receiver when the operating point changes (it counts lost frames by it)."""
        if self._point != self._announced:
            message = encode_control(OperatingPointChange(seq, self._point))
            send_scheduled(self.call, self.controller, message, self.clock())
            self._announced = self._point

    async def _receive_control(self) -> None:
        async for data in self.call.control:
            try:
                message = decode_control(data)
            except BitstreamError:
                self._stats.malformed_control += 1
                continue
            if isinstance(message, KeyframeRequest):
                self._stats.keyframe_requests += 1
                self.controller.request_keyframe(self.clock())
            elif isinstance(message, ReceiverReport):
                self._acknowledge(message.last_decoded_seq)
                self._stats.concealed_at_receiver = message.frames_lost
            elif isinstance(message, CacheAnswer):
                source = self._keyframes.answer(message)
                if source is not None:
                    self._set_keyframe(*source)
            else:
                self._stats.malformed_control += 1

    def _acknowledge(self, seq: int | None) -> None:
        """The receiver holds frame ``seq`` (it keeps one decoder for the whole call, so frames
        before a new keyframe stay references)."""
        acked = self._stats.acknowledged_seq
        if seq is not None:
            self._stats.acknowledged_seq = seq if acked is None else max(seq, acked)

    async def _receive_feedback(self) -> None:
        feedback: LinkFeedback
        async for feedback in self.call.feedback:
            self.controller.on_feedback(feedback, self.clock())
            self._stats.loss = feedback.loss_fraction
            self._stats.rtt_ms = feedback.rtt_ms


def _model_keypoints(prior: FacePrior, identity: np.ndarray) -> KeypointPredictor:
    """The codec's keypoint predictor for a keyframe's identity (both ends compute it alike)."""
    return lambda params, count: prior.keypoints(identity, params, count)


async def _pump(frames: AsyncIterator[CapturedFrame], queue: asyncio.Queue) -> None:
    """Feed ``frames`` into ``queue``, then None."""
    try:
        async for frame in frames:
            await queue.put(frame)
    finally:
        await queue.put(None)
