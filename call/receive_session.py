"""The receiving end of one call: transport -> codec -> concealment -> playout -> a frame sink.

Keyframes (reliable channel) set the decoder's source; frames messages (unreliable,
unordered) decode on their own as long as their reference is held. Decoded frames go to the
``Concealer`` (receiver/concealment.py), and the ``PlayoutClock`` says when each output frame is
due; at that time the concealer gives the frame to draw, whatever arrived, and it goes to the
sink (the renderer). Playout stops ``max_hold_ms`` after the newest frame that arrived and goes
on when frames come again: a stalled sender leaves the last face on screen.

A message whose reference is not held waits (a keyframe may be on its way) and is dropped after
``missing_reference_ms``; the receiver then asks for a keyframe, as it does when frames come
before any keyframe, or a keyframe does not decode. Requests repeat at most every
``keyframe_retry_ms`` until a keyframe arrives. Every ``report_interval_ms`` the sender gets the
newest frame decoded since the keyframe (its reference for the next messages) and the frames
lost. Nothing a peer sends stops this loop: malformed messages are counted and dropped.
Pose and emotion edits (call.edits), if any, change the output frames before rendering.

A progressive keyframe (codec/progressive.py) is used at once with its first version upsampled
to the full size; its parts are put together as they come, and the full image, once whole and
matching the CRC-32 the keyframe named, replaces the first version in the sink. The decoder
keeps the keyframe it has: the parameters, and so the frames' reference, are the same.

With a keyframe cache (call/keyframe_cache.py) every keyframe received whole (a progressive one
once its full image is in) is kept, and a cached keyframe message (codec/cached_keyframe.py)
is answered on the control channel: "have it" when the cache holds an entry matching the key
(it is then the keyframe, as if it had been sent), "need it" otherwise; the sender then sends
the keyframe itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

from facecodec.codec import (
    BitstreamError,
    CacheAnswer,
    CachedKeyframe,
    ErrorCode,
    FrameDecoder,
    KeyframeMessage,
    KeyframeReason,
    KeyframeRequest,
    KeypointPredictor,
    MessageType,
    MissingReferenceError,
    OperatingPointChange,
    ReceiverReport,
    RefinementAssembler,
    decode_cached_keyframe,
    decode_control,
    decode_keyframe_message,
    decode_keyframe_part,
    encode_control,
    keyframe_entry,
    keyframe_from_entry,
    parse_message,
)
from facecodec.codec.frames import SEQ_MODULUS
from facecodec.codec.image import CodedImage
from facecodec.codec.progressive import upsampled
from facecodec.receiver.concealment import Concealer, FrameStatus, OutputFrame
from facecodec.sender.face_model import FaceModel
from facecodec.types import MAX_EXPRESSION_DIMS, FrameParams, Keyframe

from .clock import Clock, now_ms
from .edits import ParamsEditor
from .keyframe_cache import KeyframeCache
from .link import Link
from .meter import Meter
from .playout import NOMINAL_FPS, Playout, PlayoutClock
from .tasks import stop

MAX_PARKED_MESSAGES = 64
"""Messages kept while their reference is missing (2.5 s of 5 messages a second)."""
CHECK_INTERVAL_MS = 100.0
"""How often expired messages and pending keyframe requests are looked at."""

logger = logging.getLogger(__name__)


class FrameSink(Protocol):
    """Where output frames go (the renderer); called on the event loop, must not block."""

    def keyframe(self, keyframe: Keyframe, complete: bool = True) -> None:
        """The image to redraw from: a progressive keyframe's first version (upsampled, not
        ``complete``), then its full image for the same frames; or a whole keyframe."""

    def frame(self, frame: OutputFrame, due_ms: float) -> None: ...


@dataclass(frozen=True)
class ReceiveConfig:
    report_interval_ms: float = 1000.0
    """Shortest time between two codec receiver reports."""
    report_messages: int = 2
    """A report waits for this many frames messages since the last one (or for
    ``max_report_interval_ms``), as the transport's do (transport.CallConfig)."""
    max_report_interval_ms: float = 4000.0
    keyframe_retry_ms: float = 1000.0
    missing_reference_ms: float = 500.0
    max_hold_ms: float = 1000.0
    nominal_fps: float = NOMINAL_FPS


@dataclass
class ReceiveStats:
    """What the receiver saw so far; rates over the last second."""

    messages: int = 0
    """Frames messages that arrived."""
    frames_decoded: int = 0
    late: int = 0
    """Decoded after their output time (not used)."""
    unreferenced: int = 0
    """Messages dropped because their reference never came."""
    malformed: int = 0
    """Messages on either channel that did not decode (garbage, another version)."""
    keyframes: list[int] = field(default_factory=list)
    """Bytes of each keyframe message (a progressive one's first version)."""
    cached_keyframes: list[bool] = field(default_factory=list)
    """Per cached keyframe named: whether the cache had it (and it was used)."""
    refined: list[int] = field(default_factory=list)
    """Bytes of the full image of each progressive keyframe completed."""
    stale_parts: int = 0
    """Keyframe parts of a keyframe no longer in use (a newer one came)."""
    keyframe_requests: list[str] = field(default_factory=list)
    """Reason of each keyframe request sent."""
    version_mismatch: str | None = None
    output: dict[str, int] = field(default_factory=lambda: {s.value: 0 for s in FrameStatus})
    """Output frames by where their parameters came from."""
    lost: int = 0
    """Output frames the sender sent that did not arrive in time (concealed)."""
    payload_bps: float = 0.0
    fps: float = 0.0
    """Output frames per second."""


class ReceiveSession:
    """Runs the receiving end of one call over ``call`` (see the module docstring)."""

    def __init__(
        self,
        call: Link | None,
        sink: FrameSink,
        config: ReceiveConfig | None = None,
        face_model: FaceModel | None = None,
        editor: ParamsEditor | None = None,
        clock: Clock = now_ms,
        playout: Playout | None = None,
        cache: KeyframeCache | None = None,
    ) -> None:
        self.call = call
        self.cache = cache
        self.clock = clock
        self.sink = sink
        self.editor = editor
        self.config = config or ReceiveConfig()
        self.face_model = face_model or FaceModel.load()
        self.playout = playout or PlayoutClock(self.config.nominal_fps)
        """With a voice, the ``SyncedPlayout`` its audio plays on."""
        self._decoder: FrameDecoder | None = None
        self._keyframe_seq: int | None = None
        self._keyframe: Keyframe | None = None
        self._refining: RefinementAssembler | None = None
        self._concealer: Concealer | None = None
        self._parked: deque[tuple[float, bytes]] = deque(maxlen=MAX_PARKED_MESSAGES)
        self._newest_decoded: int | None = None
        self._need_keyframe: KeyframeReason | None = None
        self._last_request_ms = -float("inf")
        self._arrived = asyncio.Event()
        self._stats = ReceiveStats()
        self._windows = {name: Meter() for name in ("payload", "fps")}

    @property
    def stats(self) -> ReceiveStats:
        now = self.clock()
        return dataclasses.replace(
            self._stats,
            keyframes=list(self._stats.keyframes),
            cached_keyframes=list(self._stats.cached_keyframes),
            refined=list(self._stats.refined),
            keyframe_requests=list(self._stats.keyframe_requests),
            output=dict(self._stats.output),
            payload_bps=self._windows["payload"].rate_bps(now),
            fps=self._windows["fps"].total(now),
        )

    def request_keyframe(self, reason: KeyframeReason = KeyframeReason.DECODE_ERROR) -> None:
        """Ask the sender for a keyframe now, whenever the last request was (and again until
        one comes)."""
        self._need_keyframe = reason
        self._last_request_ms = -float("inf")
        self._send_request(self.clock())

    async def run(self) -> ReceiveStats:
        """Receive until the call ends, then play out what arrived."""
        tasks = [
            asyncio.ensure_future(self._receive_control()),
            asyncio.ensure_future(self._receive_frames()),
            asyncio.ensure_future(self._play()),
            asyncio.ensure_future(self._report()),
        ]
        try:
            # The receiving loops end with the call, the others only by failing.
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            await stop(tasks)
        self._drain(lambda seq: self._due_ms(seq, self.clock()))
        return self.stats

    def replay(self, records: Iterable[tuple[int, bytes]], fps: float) -> ReceiveStats:
        """Receive a recorded stream (``records``: (byte offset, message) in the order sent,
        as ``codec.StreamReader.records`` gives them) as a receiver on a clean link shows it:
        every message arrives, and each frame is output as soon as the frames it needs are here
        (for a frame the sender skipped, the next one sent), due at ``seq / fps`` on the
        stream's timeline. Nobody answers requests or reports.

        A message that does not decode, or a keyframe for another face model, is an error
        (BitstreamError naming its byte offset) once the frames before it are output.
        """
        frame_ms = 1000.0 / fps
        try:
            for offset, data in records:
                try:
                    self._replay_message(data)
                except BitstreamError as exc:
                    message = f"message at byte {offset}: {str(exc).split(': ', 1)[1]}"
                    raise BitstreamError(exc.code, message) from exc
                self._drain(lambda seq: seq * frame_ms)
        finally:
            self._drain(lambda seq: seq * frame_ms)
            self._stats.unreferenced += len(self._parked)
        return self.stats

    def _replay_message(self, data: bytes) -> None:
        kind = parse_message(data)
        if kind == MessageType.KEYFRAME:
            message = decode_keyframe_message(data)
            keyframe = message.keyframe
            if keyframe.face_model != self.face_model.version:
                raise BitstreamError(
                    ErrorCode.VERSION,
                    f"keyframe made for face model {keyframe.face_model}, "
                    f"this receiver has {self.face_model.version}",
                )
            self._stats.keyframes.append(len(data))
            self._use_keyframe(message)
        elif kind == MessageType.KEYFRAME_PART:
            self._on_keyframe_part(data)
        elif kind == MessageType.CONTROL:
            self._on_control(data)
        else:
            self._stats.messages += 1
            self._decode(data, self.clock())

    async def _receive_control(self) -> None:
        async for data in self.call.control:
            with self._guard():
                kind = parse_message(data)
                if kind == MessageType.KEYFRAME:
                    self._on_keyframe(data)
                elif kind == MessageType.KEYFRAME_PART:
                    self._on_keyframe_part(data)
                elif kind == MessageType.CACHED_KEYFRAME:
                    self._on_cached_keyframe(decode_cached_keyframe(data))
                elif kind == MessageType.CONTROL:
                    self._on_control(data)
                else:
                    self._stats.malformed += 1

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        """Whatever a peer sends, the receiving loops go on: a message that does not decode
        is counted and dropped. The codec raises only BitstreamError; anything else is a bug
        in it, logged, but still no reason to end the call."""
        try:
            yield
        except BitstreamError:
            self._stats.malformed += 1
        except Exception:
            self._stats.malformed += 1
            logger.exception("message not decoded")

    def _on_keyframe(self, data: bytes) -> None:
        try:
            message = decode_keyframe_message(data)
        except BitstreamError:
            self._stats.malformed += 1
            self._need_keyframe = KeyframeReason.DECODE_ERROR
            self._send_request(self.clock())
            return
        keyframe = message.keyframe
        if keyframe.face_model != self.face_model.version:
            # Asked once: the sender learns why, but another keyframe will not match either.
            if self._stats.version_mismatch is None:
                self._stats.keyframe_requests.append(KeyframeReason.VERSION.name.lower())
                self._send(KeyframeRequest(KeyframeReason.VERSION, self._newest_decoded))
            self._stats.version_mismatch = keyframe.face_model
            return
        self._stats.keyframes.append(len(data))
        self._use_keyframe(message)
        if message.refinement is None:
            self._keep(keyframe, message.image)

    def _on_cached_keyframe(self, named: CachedKeyframe) -> None:
        """Use the keyframe ``named`` if the cache has it, and say whether it did."""
        message = self._cached(named)
        self._stats.cached_keyframes.append(message is not None)
        self._send(CacheAnswer(named.seq, message is not None))
        if message is not None:
            self._use_keyframe(message)

    def _cached(self, named: CachedKeyframe) -> KeyframeMessage | None:
        """The keyframe ``named`` from the cache; None if it has no usable entry (a keyframe
        of another face model would not do either)."""
        entry = self.cache.get(named.key) if self.cache is not None else None
        if entry is None:
            return None
        try:
            message = keyframe_from_entry(entry, named)
        except BitstreamError:
            return None
        if message.keyframe.face_model != self.face_model.version:
            return None
        return message

    def _keep(self, keyframe: Keyframe, image: CodedImage) -> None:
        """Keep a keyframe whose full ``image`` came, for a later call that names it."""
        if self.cache is not None:
            self.cache.put(keyframe_entry(keyframe, image))

    def _use_keyframe(self, message: KeyframeMessage) -> None:
        keyframe, op, refinement = message.keyframe, message.op, message.refinement
        self._refining = None
        if refinement is not None:
            image = upsampled(keyframe.image, refinement.width, refinement.height)
            keyframe = dataclasses.replace(keyframe, image=image)
            self._refining = RefinementAssembler(keyframe.params.seq, refinement)
        self._keyframe = keyframe
        # One decoder per call: frames decoded before a new keyframe stay references (the
        # sender's identity is fixed for its stream, so the keypoint predictor is the same).
        self._decoder = self._decoder or FrameDecoder()
        self._decoder.keypoint_predictor = self._model_keypoints(keyframe)
        self._decoder.set_keyframe(keyframe, op)
        self._keyframe_seq = keyframe.params.seq
        self._need_keyframe = None
        if self._concealer is None:
            self._concealer = Concealer(op)
            if self.call is not None:
                self._start_output(keyframe.params)
        else:
            # Mid-call the keyframe's own frame is a frame like any other.
            self._concealer.set_operating_point(keyframe.params.seq, op)
            self._concealer.add(keyframe.params)
        if self.editor is not None:
            self.editor.new_keyframe(keyframe)
        self.sink.keyframe(keyframe, complete=refinement is None)
        parked, self._parked = list(self._parked), deque(maxlen=MAX_PARKED_MESSAGES)
        for arrived_ms, message in parked:
            with self._guard():
                self._decode(message, arrived_ms)

    def _start_output(self, params: FrameParams) -> None:
        """In a call, the first keyframe's own frame, a true frame of the call, starts the
        output: the first face is drawn as soon as the keyframe (a progressive one's first
        version) is here, not a frames message later (on a narrow link seconds later). Its
        arrival anchors the playout. A replayed stream (a file), where every message is there
        at once, shows the frames its frames messages carry."""
        assert self._concealer is not None
        self._concealer.add(params)
        self.playout.on_arrival(params.seq, self.clock())
        self._arrived.set()

    def _on_keyframe_part(self, data: bytes) -> None:
        """A part of the progressive keyframe in use; parts of an earlier one are dropped. A
        part that breaks the refinement (out of order, too long, a whole that does not match)
        ends it: the first version stays."""
        part = decode_keyframe_part(data)
        refining = self._refining
        if refining is None or part.seq != refining.seq:
            self._stats.stale_parts += 1
            return
        try:
            data = refining.add(part)
            if data is None:
                return
            promised = refining.refinement
            image = CodedImage(promised.codec, promised.width, promised.height, data)
            full = image.decode()
        except BitstreamError:
            self._refining = None
            raise
        self._refining = None
        assert self._keyframe is not None
        self._keyframe = dataclasses.replace(self._keyframe, image=full)
        self._stats.refined.append(len(data))
        self.sink.keyframe(self._keyframe, complete=True)
        self._keep(self._keyframe, image)

    def _on_control(self, data: bytes) -> None:
        message = decode_control(data)
        if isinstance(message, OperatingPointChange) and self._concealer is not None:
            self._concealer.set_operating_point(message.first_seq, message.op)
        elif not isinstance(message, OperatingPointChange):
            self._stats.malformed += 1  # requests and reports travel the other way

    def _model_keypoints(self, keyframe: Keyframe) -> KeypointPredictor:
        model, identity = self.face_model, keyframe.identity
        return lambda params, count: model.keypoints(identity, params, count)

    async def _receive_frames(self) -> None:
        async for data in self.call.frames:
            now = self.clock()
            self._stats.messages += 1
            self._windows["payload"].add(now, len(data))
            with self._guard():
                self._decode(data, now)

    def _decode(self, data: bytes, arrived_ms: float) -> None:
        if self._decoder is None:
            self._park(data, arrived_ms, KeyframeReason.START)
            return
        try:
            frames = self._decoder.decode(data)
        except MissingReferenceError as exc:
            if self._after_keyframe(exc.reference):
                self._park(data, arrived_ms, None)
            else:
                self._stats.unreferenced += 1  # predicted from before the keyframe
            return
        self._on_decoded(frames, self.clock())

    def _after_keyframe(self, reference: int) -> bool:
        """Whether ``reference`` (16 bits on the wire) is not older than the keyframe."""
        assert self._keyframe_seq is not None
        return (reference - self._keyframe_seq) % SEQ_MODULUS < SEQ_MODULUS // 2

    def _park(self, data: bytes, arrived_ms: float, reason: KeyframeReason | None) -> None:
        if len(self._parked) == self._parked.maxlen:
            self._stats.unreferenced += 1
        self._parked.append((arrived_ms, data))
        if reason is not None:
            self._need_keyframe = reason
            self._send_request(arrived_ms)

    def _on_decoded(self, frames: list[FrameParams], now: float) -> None:
        assert self._concealer is not None
        for params in frames:
            self._stats.frames_decoded += 1
            self._newest_decoded = max(params.seq, self._newest_decoded or params.seq)
            self.playout.on_arrival(params.seq, now)
            if not self._concealer.add(params):
                self._stats.late += 1
        self._arrived.set()

    async def _play(self) -> None:
        """Output each frame at its due time, up to ``max_hold_ms`` past the newest one."""
        while True:
            wait_s = self._play_due(self.clock())
            if wait_s is None:
                self._arrived.clear()
                await self._arrived.wait()
            else:
                await asyncio.sleep(wait_s)

    def _play_due(self, now: float) -> float | None:
        """Output the frames due by ``now``; seconds until the next is due, None to wait for
        arrivals."""
        while (seq := self._playable()) is not None:
            due = self._due_ms(seq, now)
            if due > now:
                return (due - now) / 1000
            self._output(due)
        return None

    def _due_ms(self, seq: int, now: float) -> float:
        assert self._concealer is not None
        due = self.playout.due_ms(seq, now, self._concealer.frame_interval - 1)
        # None: no frame arrived yet, only a keyframe's own frame (a second keyframe came first).
        return now if due is None else due

    def _playable(self) -> int | None:
        """The next output frame, unless playout has held long enough past the newest."""
        concealer = self._concealer
        if concealer is None or concealer.next_seq is None or concealer.latest_seq is None:
            return None
        hold_frames = self.config.max_hold_ms / self.playout.frame_ms
        if concealer.next_seq > concealer.latest_seq + hold_frames:
            return None
        return concealer.next_seq

    def _output(self, due_ms: float) -> None:
        assert self._concealer is not None
        frame = self._concealer.next()
        if self.editor is not None and frame.params.face:
            edited = self.editor(frame.params, MAX_EXPRESSION_DIMS)
            frame = dataclasses.replace(frame, params=edited)
        self._stats.output[frame.status.value] += 1
        self._stats.lost += frame.lost
        self._windows["fps"].add(self.clock(), 1)
        self.sink.frame(frame, due_ms)

    def _drain(self, due_ms: Callable[[int], float]) -> None:
        """Output what arrived, frame ``seq`` at ``due_ms(seq)`` (the call ended, or a
        replayed message arrived)."""
        concealer = self._concealer
        while concealer is not None and (seq := concealer.next_seq) is not None:
            if concealer.latest_seq is None or seq > concealer.latest_seq:
                return
            self._output(due_ms(seq))

    async def _report(self) -> None:
        """Keyframe requests while one is needed, and periodic codec receiver reports."""
        config, last_ms, reported_messages = self.config, self.clock(), 0
        while True:
            await asyncio.sleep(CHECK_INTERVAL_MS / 1000)
            now = self.clock()
            self._expire_parked(now)
            self._send_request(now)
            news = self._stats.messages - reported_messages >= config.report_messages
            waited_ms = now - last_ms
            due = news or waited_ms >= config.max_report_interval_ms
            if waited_ms >= config.report_interval_ms and due and self._decoder is not None:
                last_ms, reported_messages = now, self._stats.messages
                self._send(
                    ReceiverReport(
                        last_decoded_seq=self._newest_decoded,
                        frames_lost=self._stats.lost,
                        rtt_ms=round(self.call.rtt_ms or 0),
                        throughput_bps=round(self._windows["payload"].rate_bps(now)),
                    )
                )

    def _expire_parked(self, now: float) -> None:
        while self._parked and now - self._parked[0][0] > self.config.missing_reference_ms:
            self._parked.popleft()
            self._stats.unreferenced += 1
            self._need_keyframe = self._need_keyframe or KeyframeReason.MISSING_REFERENCE

    def _send_request(self, now: float) -> None:
        """Ask for a keyframe if one is needed and the last request is old enough."""
        waited_ms = now - self._last_request_ms
        if self._need_keyframe is None or waited_ms < self.config.keyframe_retry_ms:
            return
        self._last_request_ms = now
        self._stats.keyframe_requests.append(self._need_keyframe.name.lower())
        self._send(KeyframeRequest(self._need_keyframe, self._newest_decoded))

    def _send(self, message: KeyframeRequest | ReceiverReport | CacheAnswer) -> None:
        if self.call.control.is_open:
            self.call.control.send(encode_control(message))
