"""The sending end of a call: prior frames -> controller -> codec -> bundler -> transport.

Per frame that the prior releases (call.capture_loop), in the order docs/transport.md sketches:
the controller decides the operating point and whether a keyframe is due; a keyframe goes on
the reliable channel at the first face frame after the start, a request or a move of the view
(the keyframe's crop, sender/crop.py); the frames the operating point sends wait in the
bundler; when a bundle is due it is coded as one frames message, shrunk (oldest frames first)
until it fits the controller's 1-second bound, and sent on the unreliable channel.

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

With a wire target the keyframes are progressive (codec/progressive.py): a first version of
at most 1 kB goes at once, and the full image follows in keyframe parts, each sent only when the
wire budget holds it (with the acknowledgements it expects), so the parts neither sit in the
link's queue long enough for the transport to resend them nor push the link past its rate; the
frames keep their share of the wire target through the controller's reservation. A new
keyframe drops the parts of the last one still waiting.

With kept keyframes (call.sent_keyframes) the call's first keyframe may cost no image: if this
sender kept a keyframe of the same face, it names it by its key (a cached keyframe message,
codec/cached_keyframe.py) and sends no frames until the receiver answers (one round trip).
"Have it": the kept keyframe is the call's keyframe. "Need it", or no answer within
``cache_answer_ms`` (an older receiver, a loss): the keyframe goes as it would have, from the
current frame. Every keyframe sent is kept.

Pose and emotion edits (call.edits) change each frame's parameters before coding; the keyframe
keeps the parameters measured on its own frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
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
from facecodec.bitrate.window import WINDOW_MS
from facecodec.bitrate.wire_budget import HELD_WINDOW_MS
from facecodec.codec import (
    BitstreamError,
    CacheAnswer,
    CachedKeyframe,
    FrameEncoder,
    KeyframeRequest,
    KeypointPredictor,
    OperatingPointChange,
    ReceiverReport,
    decode_control,
    encode_cached_keyframe,
    encode_control,
    is_sent,
)
from facecodec.codec.frames import MAX_BUNDLE_FRAMES
from facecodec.codec.image import DEFAULT_IMAGE_CODEC, DEFAULT_IMAGE_QUALITY, CodedImage
from facecodec.codec.keyframe import carried, encode_coded_keyframe
from facecodec.codec.keyframe_part import PartCutter
from facecodec.codec.progressive import ProgressiveKeyframe, encode_progressive_keyframe
from facecodec.sender.crop import CropBox, CropMapping
from facecodec.sender.prior import FacePrior, PriorFrame
from facecodec.sender.send_schedule import SendSchedule
from facecodec.transport import Call, ChannelClosedError, LinkFeedback
from facecodec.transport.overhead import SACK_WIRE_BYTES
from facecodec.transport.overhead import SCTP_CHUNK_ALIGNMENT_BYTES as SCTP_ALIGNMENT_BYTES
from facecodec.types import FrameParams, Keyframe, OperatingPoint

from .capture_loop import CapturedFrame
from .clock import Clock, now_ms
from .edits import ParamsEditor
from .link import Link
from .meter import Meter
from .sent_keyframes import SentKeyframes
from .tasks import stop

MAX_FRAME_AGE_MS = 500.0
"""Frames older than this when the prior releases them are not sent."""
PART_SHARE_OF_QUEUE = 0.6
"""A keyframe part takes at most this share of the wire budget's queue bound, and waits for room
for half as much: small enough to fit beside a frames message and the acknowledgements in one
window of the wire budget, and to cross the link below SCTP's retransmission timer (1 s at
least); large enough that its headers (about 116 B) are not most of it."""
MIN_PART_BYTES = 64
"""Smallest keyframe part payload, whatever the budget (a part's headers are about 100 B)."""
PART_HEADER_BYTES = 17
"""A keyframe part message's own fields at most: type, seq and offset varints, CRC-32."""
REFINEMENT_S = 10.0
"""A refinement's full image is coded at the quality whose parts cross the link in about this
long beside the frames (codec/progressive.py's ``full_image``)."""
ACKNOWLEDGEMENT_BPS = 2 * SACK_WIRE_BYTES * 8
"""What the sender expects to owe the receiver before it has measured it: an SCTP
acknowledgement for each of its two reports a second (the codec's, the transport's)."""
SPACING_SLACK_MS = 10.0
"""Frames messages during a refinement go this much further apart than the wire budget's
window is long, so that no window holds two of them whatever the rounding."""
PART_TURN_SHARE_OF_QUEUE = 0.8
"""A part's share of the queue bound when frames messages and parts take turns: its window is
the part's alone but for the acknowledgements (``PART_SHARE_OF_QUEUE`` of a 4 kbps link leaves
a part 184 B of image beside 116 B of headers). It still crosses the link within SCTP's
shortest retransmission timer (1 s)."""
PART_TURNS = 2
"""When taking turns, the windows of the wire budget the parts get for each one a frames message
gets. Each part's window keeps room for the pair of acknowledgements the receiver's reports
cost (186 B, a third of a 4 kbps link's second), so a part carries about 200 B of image; with
one turn each a 2.7-kB image did not cross a 4 kbps link within a 30-s call on two clips of
three, with two on one (benchmark/link_calls.py --seconds 30)."""
PART_TURN_MS = 200.0
"""When taking turns, each part's turn is this much longer than the wire budget's window: the
time in which a part's window holds neither a frames message nor the part before (parts are
tried at every frame the prior releases, 40-80 ms apart)."""
CACHE_ANSWER_MS = 2000.0
"""How long the sender waits for the answer to a cached keyframe. It came 0.2 s after the
question over a 2 kbps link with 100 ms each way (benchmark/link_calls.py --repeat-caller); a
lost message is resent by SCTP only after 1-3 s, when the keyframe had better go anyway."""


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
class SendStats:
    """What the sender did so far; rates over the last second."""

    frames: int = 0
    """Frames the prior released."""
    stale: int = 0
    """Released too late to send (see MAX_FRAME_AGE_MS)."""
    frames_sent: int = 0
    frames_dropped: int = 0
    """Taken out of bundles that would have broken the 1-second bound."""
    messages: int = 0
    payload_bytes: int = 0
    """Frames messages' payload, as the paper counts it."""
    first_message_ms: float | None = None
    last_message_ms: float | None = None
    frames_wire_bytes: int = 0
    """Frames messages on the wire (estimated: transport.overhead)."""
    keyframes: list[int] = field(default_factory=list)
    """Bytes of each keyframe sent (a progressive one's first version)."""
    keyframe_parts: int = 0
    """Keyframe part messages sent."""
    cached_keyframes: list[bool] = field(default_factory=list)
    """Per cached keyframe named: whether the receiver had it (False: it needed it, or did not
    answer in time)."""
    refinements: int = 0
    """Progressive keyframes whose every part was sent."""
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
        self._keyframe_due = True
        self._crop_moved = False
        self._keyframe_seq: int | None = None
        self._view: CropBox | None = None
        self._last_sent_seq: int | None = None
        self._cutter: PartCutter | None = None
        """The refinement in flight: its full image, cut into parts as the wire budget holds
        them."""
        self._kept = kept
        self._refining: tuple[Keyframe, CodedImage] | None = None
        """The progressive keyframe whose parts are on their way, and its full image."""
        self._offer: _Offer | None = None
        """The cached keyframe named, until the receiver answers."""
        self._offered = False
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
            keyframes=list(self._stats.keyframes),
            cached_keyframes=list(self._stats.cached_keyframes),
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
        self._keyframe_due = True

    async def _send_loop(self, queue: asyncio.Queue[CapturedFrame | None]) -> EndReason:
        while self.call.control.is_open:
            flush_ms = self._bundler.next_flush_ms
            timeout = None if flush_ms is None else max(0.0, flush_ms - self.clock()) / 1000
            try:
                item = await asyncio.wait_for(queue.get(), timeout)
            except TimeoutError:
                self._flush(self.clock())
                self._send_parts(self.clock())
                continue
            if item is None:
                self._flush(self.clock(), force=True)
                return EndReason.SOURCE_ENDED
            self._on_frame(item)
            self._flush(self.clock())
            self._send_parts(self.clock())
        return EndReason.HUNG_UP

    def _on_frame(self, captured: CapturedFrame) -> None:
        frame, now = captured.frame, self.clock()
        self._stats.frames += 1
        self._windows["fps"].add(now, 1)
        decision = self.controller.on_frame(now)
        # A crop move waits for the refinement in flight: a new keyframe would drop its parts,
        # and on a narrow link the next would be dropped as well.
        self._crop_moved |= frame.new_crop
        self._keyframe_due |= decision.keyframe or (self._crop_moved and self._cutter is None)
        self._point = self._stats.point = self.schedule.point = decision.point
        if self._offer is not None and now >= self._offer.deadline_ms:
            self._answered(False)
        if self._offer is not None:
            return  # its frames would predict from a keyframe the receiver may not have
        if self._keyframe_due and frame.params.face:
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
        self._bundler.add(params, now)

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
        message = self._encode(bundle)
        while len(message) > self.controller.room_bytes(now):
            bundle = bundle[1:]
            self.controller.on_dropped(1, now)
            self._stats.frames_dropped += 1
            if not bundle:
                return
            message = self._encode(bundle)
        self.call.frames.send(message)
        self._last_sent_seq = bundle[-1].seq
        self.controller.on_message(len(message), len(bundle), now)
        self._bundler.on_sent(len(message), now)
        self._count_message(message, len(bundle), now)

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
        if not self._offer_kept(keyframe, now):
            self._send_keyframe(keyframe, now)

    def _offer_kept(self, live: Keyframe, now: float) -> bool:
        """Name a kept keyframe instead of sending ``live``, once, at the call's first keyframe
        (module docstring); whether one was named."""
        if self._kept is None or self._offered or not isinstance(self.call, Call):
            return False
        self._offered = True
        found = self._kept.find(live)
        if found is None:
            return False
        key, kept = found
        seq = live.params.seq
        keyframe = dataclasses.replace(kept, params=dataclasses.replace(kept.params, seq=seq))
        data = encode_cached_keyframe(CachedKeyframe(seq, self._point, key))
        self._send_scheduled(data, now)
        self.controller.on_keyframe_sent(len(data), now)
        self._offer = _Offer(keyframe, self._point, now + self.config.cache_answer_ms)
        self._keyframe_due = self._crop_moved = False
        return True

    def _answered(self, have: bool) -> None:
        """The receiver has the cached keyframe named, or needs it (or did not answer)."""
        assert self._offer is not None
        offer, self._offer = self._offer, None
        self._stats.cached_keyframes.append(have)
        if have:
            self._set_keyframe(offer.keyframe, offer.op)
        else:
            self._keyframe_due = True

    def _send_keyframe(self, keyframe: Keyframe, now: float) -> None:
        progressive = self._progressive(keyframe)
        if progressive is None:
            full = CodedImage.encode(keyframe.image, DEFAULT_IMAGE_CODEC, DEFAULT_IMAGE_QUALITY)
            data = encode_coded_keyframe(keyframe, self._point, full)
            self._cutter = None
            self._remember(keyframe, full)
        else:
            data, full = progressive.first, progressive.full
            self._cutter = PartCutter(progressive.seq, full.data)
            self._refining = keyframe, full
            self._bundler.min_interval_ms = self._refinement_interval_ms()
        # Counted in the wire budget when it goes, after coding the images (tens of ms): counted
        # at the frame's time, it left the budget's window before it left the link's.
        now = self.clock()
        self._send_scheduled(data, now, first_version=progressive is not None)
        self.controller.on_keyframe_sent(len(data), now)
        self._set_keyframe(keyframe, self._point)
        self._keyframe_due = self._crop_moved = False
        self._stats.keyframes.append(len(data))

    def _remember(self, keyframe: Keyframe, full: CodedImage) -> None:
        """Keep a keyframe whose full image is all on its way (the reliable channel delivers it
        unless the call ends): one dropped for a newer is not worth naming."""
        if self._kept is not None:
            self._kept.remember(keyframe, full)

    def _set_keyframe(self, keyframe: Keyframe, op: OperatingPoint) -> None:
        """``keyframe``, as the receiver has it now or will, is the frames' source."""
        self._encoder.set_keyframe(keyframe, op)
        if self._editor is not None:
            self._editor.new_keyframe(keyframe)
        if self.prior.model_shipped:
            self._encoder.keypoint_predictor = _model_keypoints(self.prior, keyframe.identity)
        self._keyframe_seq = self._last_sent_seq = keyframe.params.seq
        self._announced = op

    def _progressive(self, keyframe: Keyframe) -> ProgressiveKeyframe | None:
        """The keyframe as a first version and a full image for the parts in a call with a wire
        target; None otherwise (it then goes whole: nothing paces parts, and a file loses no
        time waiting) or when no first version fits (more identity dims than the 1 kB leaves
        room for)."""
        wire = self.controller.wire
        if wire is None or not isinstance(self.call, Call):
            return None
        try:
            return encode_progressive_keyframe(keyframe, self._point, self._refinement_bytes())
        except ValueError:
            return None

    def _refinement_bytes(self) -> int:
        """The full image's bytes that cross the wire in ``REFINEMENT_S`` in parts of the
        largest size, in what the frames (at the controller's budget) and the
        acknowledgements leave of the wire budget. A part goes when every window of the budget
        (a second and the send lag) that holds it also holds the frames messages in it or due
        in it (``_send_parts``) and the acknowledgements at their rate plus their largest burst
        (bitrate/wire_budget.py). Reckoned as if two frames messages shared a window, which they
        no longer do during a refinement: on narrow links the image comes out at the lowest
        quality, and crosses in about as long as ``REFINEMENT_S`` at 8 kbps."""
        wire = self.controller.wire
        assert wire is not None and isinstance(self.call, Call)
        owed_bps = max(wire.unscheduled_bps(self.clock()), ACKNOWLEDGEMENT_BPS)
        frames_bps = self.controller.frames_wire_bps
        parts_bps = max(0.0, wire.rate_bps - 3 * frames_bps - 2 * owed_bps)
        largest = self._largest_part_bytes()
        share = largest / self.call.control.message_wire_bytes(largest + PART_HEADER_BYTES)
        return int(parts_bps * REFINEMENT_S / 8 * share)

    def _largest_part_bytes(self) -> int:
        """A part's image bytes at most: its share of the wire budget's queue bound."""
        wire = self.controller.wire
        assert wire is not None and isinstance(self.call, Call)
        share = PART_TURN_SHARE_OF_QUEUE if self._taking_turns() else PART_SHARE_OF_QUEUE
        part_wire = wire.queue_bytes * share
        header = self.call.control.message_wire_bytes(PART_HEADER_BYTES)
        return max(MIN_PART_BYTES, int(part_wire) - header)

    def _taking_turns(self) -> bool:
        """Whether frames messages and parts take turns (a window of the wire budget for a frames
        message, then ``PART_TURNS`` for parts) while a refinement is in flight: when a frames
        message at the controller's budget fills more than half a window (the payload target
        is near the link's rate, at 2-4 kbps; beside it a part would be mostly headers, if it
        went at all), unless a part's turn would carry less image than headers even so (at
        2 kbps: there the turns only thinned the frames, and the image still did not come)."""
        wire = self.controller.wire
        assert wire is not None and isinstance(self.call, Call)
        frames_bytes = self.controller.frames_wire_bps * HELD_WINDOW_MS / 8000
        header = self.call.control.message_wire_bytes(PART_HEADER_BYTES)
        turn_bytes = wire.queue_bytes * PART_TURN_SHARE_OF_QUEUE
        return frames_bytes > wire.window_bytes / 2 and turn_bytes >= 2 * header

    def _refinement_interval_ms(self) -> float:
        """How far apart frames messages go while a refinement is in flight: the latency bound,
        stretched as the wire budget's window is (a second and the send lag), so that the
        window holds as many frames messages as a second would (one at a bound of a second,
        not two) and the rest of it goes to the parts; the wire more messages' headers would
        take goes to them too. Taking turns, the frames message's window and the parts' turns
        at least."""
        interval = self.config.max_latency_ms * HELD_WINDOW_MS / WINDOW_MS + SPACING_SLACK_MS
        if self._taking_turns():
            return max(interval, HELD_WINDOW_MS + PART_TURNS * (HELD_WINDOW_MS + PART_TURN_MS))
        return interval

    def _frames_due(self, now: float) -> list[tuple[float, float]]:
        """The frames messages the bundler will send within the wire budget's window from
        ``now`` (time ms, wire bytes), each at the controller's budget for its interval, a
        window's worth at most (the budget holds it to that)."""
        interval = self._bundler.interval_ms(now)
        wire = self.controller.wire
        assert wire is not None
        size = min(self.controller.frames_wire_bps * interval / 8000, wire.window_bytes)
        first = self._bundler.next_message_ms(now)
        count = 1 + int(max(0.0, now + HELD_WINDOW_MS - first) // interval)
        return [(first + k * interval, size) for k in range(count)]

    def _send_parts(self, now: float) -> None:
        """Send the keyframe parts the wire budget holds now beside the frames messages due at
        the controller's budget: the frames go first, a part takes what they leave."""
        wire, cutter = self.controller.wire, self._cutter
        if cutter is None or wire is None or not isinstance(self.call, Call):
            return
        self.controller.on_wire_total(self.call.stats.wire_bytes_sent, now)
        # The image bytes' padding to the SCTP chunk alignment comes on top of the header's.
        header = self.call.control.message_wire_bytes(PART_HEADER_BYTES) + SCTP_ALIGNMENT_BYTES
        largest = self._largest_part_bytes()
        while cutter.remaining_bytes:
            fits = int(wire.room_bytes(now, self._frames_due(now))) - header
            size = min(largest, cutter.remaining_bytes, fits)
            # A smaller part would spend most of its wire on headers; the room comes back
            # within the budget's window.
            if size < min(max(MIN_PART_BYTES, largest // 2), cutter.remaining_bytes):
                return
            self._send_scheduled(cutter.next(size), now)
            self._stats.keyframe_parts += 1
        self._stats.refinements += 1
        self._cutter = None
        self._bundler.min_interval_ms = 0.0
        assert self._refining is not None
        self._remember(*self._refining)

    def _send_scheduled(self, message: bytes, now: float, first_version: bool = False) -> None:
        """A keyframe, keyframe part or operating point change on the control channel, counted
        in the wire budget before it goes (as a frames message is): what the budget counts
        after the fact is then only what the end does not schedule (the acknowledgements it
        owes, transport reports), which it measures. A ``first_version`` is counted as
        ``WireBudget.add_first_version`` says."""
        wire = self.controller.wire
        if wire is not None and isinstance(self.call, Call):
            self.controller.on_wire_total(self.call.stats.wire_bytes_sent, now)
            count = wire.add_first_version if first_version else wire.add
            count(self.call.control.message_wire_bytes(len(message)), now)
        self.call.control.send(message)

    def _announce_point(self, seq: int) -> None:
        """Tell the receiver when the operating point changes (it counts lost frames by it)."""
        if self._point != self._announced:
            self._send_scheduled(
                encode_control(OperatingPointChange(seq, self._point)), self.clock()
            )
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
                # An answer to no offer, or after the wait, is no longer needed.
                offer = self._offer
                if offer is not None and message.seq == offer.keyframe.params.seq:
                    self._answered(message.have)
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


@dataclass(frozen=True)
class _Offer:
    keyframe: Keyframe
    """The kept keyframe named, as this call's keyframe (its seq)."""
    op: OperatingPoint
    """The operating point the cached keyframe message carried."""
    deadline_ms: float
    """When the sender stops waiting for the answer."""


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
