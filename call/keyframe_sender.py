"""The sending end's keyframes: when one is due, and how it crosses the link.

A keyframe is due at the start, at a request (the receiver's or the controller's, or a file's
periodic refresh) and when the view moves (the keyframe's crop, sender/crop.py); the sending
session (call/send_session.py) makes it at the next face frame and hands it here. It goes on
the reliable channel. A move of the view waits for the refinement in flight: a new keyframe
would drop its parts, and on a narrow link the next would be dropped as well.

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
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from facecodec.bitrate import Bundler, Controller
from facecodec.bitrate.fixed_point import FixedPoint
from facecodec.bitrate.window import WINDOW_MS
from facecodec.bitrate.wire_budget import HELD_WINDOW_MS
from facecodec.codec import CacheAnswer, CachedKeyframe, encode_cached_keyframe
from facecodec.codec.image import DEFAULT_IMAGE_CODEC, DEFAULT_IMAGE_QUALITY, CodedImage
from facecodec.codec.keyframe import encode_coded_keyframe
from facecodec.codec.keyframe_part import PartCutter
from facecodec.codec.progressive import ProgressiveKeyframe, encode_progressive_keyframe
from facecodec.transport import Call
from facecodec.transport.overhead import SACK_WIRE_BYTES
from facecodec.transport.overhead import SCTP_CHUNK_ALIGNMENT_BYTES as SCTP_ALIGNMENT_BYTES
from facecodec.types import FrameParams, Keyframe, OperatingPoint

from .clock import Clock
from .link import Link
from .scheduled_send import send_scheduled
from .sent_keyframes import SentKeyframes

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

Source = tuple[Keyframe, OperatingPoint]
"""A keyframe the frames are to predict from, and the operating point it went with."""


@dataclass
class KeyframeStats:
    """What the keyframe sender did so far."""

    keyframes: list[int] = field(default_factory=list)
    """Bytes of each keyframe sent (a progressive one's first version)."""
    keyframe_parts: int = 0
    """Keyframe part messages sent."""
    cached_keyframes: list[bool] = field(default_factory=list)
    """Per cached keyframe named: whether the receiver had it (False: it needed it, or did not
    answer in time)."""
    refinements: int = 0
    """Progressive keyframes whose every part was sent."""


class KeyframeSender:
    """Sends the keyframes of one stream over ``call`` (see the module docstring).

    It shares the sending session's rate control (``controller``: the wire budget the parts are
    paced in) and ``bundler`` (whose frames messages go first, spaced apart while a refinement
    is in flight). ``kept``: the keyframes to name instead of sending, and to keep.
    """

    def __init__(
        self,
        call: Link,
        controller: Controller | FixedPoint,
        bundler: Bundler[FrameParams],
        clock: Clock,
        kept: SentKeyframes | None = None,
        cache_answer_ms: float = CACHE_ANSWER_MS,
    ) -> None:
        self.call = call
        self.controller = controller
        self.clock = clock
        self.stats = KeyframeStats()
        self._bundler = bundler
        self._kept = kept
        self._cache_answer_ms = cache_answer_ms
        self._due = True
        self._crop_moved = False
        self._cutter: PartCutter | None = None
        """The refinement in flight: its full image, cut into parts as the wire budget holds
        them."""
        self._refining: tuple[Keyframe, CodedImage] | None = None
        """The progressive keyframe whose parts are on their way, and its full image."""
        self._offer: _Offer | None = None
        """The cached keyframe named, until the receiver answers."""
        self._offered = False

    @property
    def due(self) -> bool:
        """Whether a keyframe is to go at the next face frame."""
        return self._due

    @property
    def waiting(self) -> bool:
        """Whether a cached keyframe named waits for the receiver's answer: frames sent now
        would predict from a keyframe the receiver may not have."""
        return self._offer is not None

    def request(self) -> None:
        """A keyframe is to go at the next face frame."""
        self._due = True

    def on_frame(self, now: float, requested: bool, new_crop: bool) -> None:
        """A frame came at ``now``: the rate control may have ``requested`` a keyframe, the view
        may have moved (``new_crop``), and the wait for an answer may be over."""
        self._crop_moved |= new_crop
        self._due |= requested or (self._crop_moved and self._cutter is None)
        if self._offer is not None and now >= self._offer.deadline_ms:
            self._answered(False)

    def start(self, keyframe: Keyframe, point: OperatingPoint, now: float) -> Source | None:
        """Name a kept keyframe instead of ``keyframe`` if there is one (the call's first
        keyframe only), else send ``keyframe`` at ``point``: the frames' new source, None while
        the receiver is asked whether it has the kept one."""
        if self._offer_kept(keyframe, point, now):
            return None
        self._send(keyframe, point)
        return keyframe, point

    def answer(self, message: CacheAnswer) -> Source | None:
        """The receiver's answer to a cached keyframe: the kept keyframe as the frames' source
        if it has it; None otherwise (a keyframe is due) or where the answer is to no offer, or
        after the wait, and no longer needed."""
        offer = self._offer
        if offer is None or message.seq != offer.keyframe.params.seq:
            return None
        return self._answered(message.have)

    def send_parts(self, now: float) -> None:
        """Send the keyframe parts the wire budget holds now beside the frames messages due at
        the controller's budget: the frames go first, a part takes what they leave."""
        wire, cutter = self.controller.wire, self._cutter
        if cutter is None or wire is None or not isinstance(self.call, Call):
            return
        self.controller.on_wire_total(self.call.stats.wire_bytes_sent, now)
        # The image bytes' padding to the SCTP chunk alignment comes on top of the header's.
        header = self._part_header_wire_bytes() + SCTP_ALIGNMENT_BYTES
        largest = self._largest_part_bytes()
        while cutter.remaining_bytes:
            fits = int(wire.room_bytes(now, self._frames_due(now))) - header
            size = min(largest, cutter.remaining_bytes, fits)
            # A smaller part would spend most of its wire on headers; the room comes back
            # within the budget's window.
            if size < min(max(MIN_PART_BYTES, largest // 2), cutter.remaining_bytes):
                return
            send_scheduled(self.call, self.controller, cutter.next(size), now)
            self.stats.keyframe_parts += 1
        self.stats.refinements += 1
        self._cutter = None
        self._bundler.min_interval_ms = 0.0
        assert self._refining is not None
        self._remember(*self._refining)

    def _offer_kept(self, live: Keyframe, point: OperatingPoint, now: float) -> bool:
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
        data = encode_cached_keyframe(CachedKeyframe(seq, point, key))
        send_scheduled(self.call, self.controller, data, now)
        self.controller.on_keyframe_sent(len(data), now)
        self._offer = _Offer(keyframe, point, now + self._cache_answer_ms)
        self._due = self._crop_moved = False
        return True

    def _answered(self, have: bool) -> Source | None:
        """The receiver has the cached keyframe named (its source returned), or needs it (or
        did not answer)."""
        assert self._offer is not None
        offer, self._offer = self._offer, None
        self.stats.cached_keyframes.append(have)
        if have:
            return offer.keyframe, offer.op
        self._due = True
        return None

    def _send(self, keyframe: Keyframe, point: OperatingPoint) -> None:
        progressive = self._progressive(keyframe, point)
        if progressive is None:
            full = CodedImage.encode(keyframe.image, DEFAULT_IMAGE_CODEC, DEFAULT_IMAGE_QUALITY)
            data = encode_coded_keyframe(keyframe, point, full)
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
        send_scheduled(self.call, self.controller, data, now, first_version=progressive is not None)
        self.controller.on_keyframe_sent(len(data), now)
        self._due = self._crop_moved = False
        self.stats.keyframes.append(len(data))

    def _remember(self, keyframe: Keyframe, full: CodedImage) -> None:
        """Keep a keyframe whose full image is all on its way (the reliable channel delivers it
        unless the call ends): one dropped for a newer is not worth naming."""
        if self._kept is not None:
            self._kept.remember(keyframe, full)

    def _progressive(self, keyframe: Keyframe, point: OperatingPoint) -> ProgressiveKeyframe | None:
        """The keyframe as a first version and a full image for the parts in a call with a wire
        target; None otherwise (it then goes whole: nothing paces parts, and a file loses no
        time waiting) or when no first version fits (more identity dims than the 1 kB leaves
        room for)."""
        wire = self.controller.wire
        if wire is None or not isinstance(self.call, Call):
            return None
        try:
            return encode_progressive_keyframe(keyframe, point, self._refinement_bytes())
        except ValueError:
            return None

    def _refinement_bytes(self) -> int:
        """The full image's bytes that cross the wire in ``REFINEMENT_S`` in parts of the
        largest size, in what the frames (at the controller's budget) and the
        acknowledgements leave of the wire budget. A part goes when every window of the budget
        (a second and the send lag) that holds it also holds the frames messages in it or due
        in it (``send_parts``) and the acknowledgements at their rate plus their largest burst
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
        assert wire is not None
        share = PART_TURN_SHARE_OF_QUEUE if self._taking_turns() else PART_SHARE_OF_QUEUE
        part_wire = wire.queue_bytes * share
        return max(MIN_PART_BYTES, int(part_wire) - self._part_header_wire_bytes())

    def _taking_turns(self) -> bool:
        """Whether frames messages and parts take turns (a window of the wire budget for a frames
        message, then ``PART_TURNS`` for parts) while a refinement is in flight: when a frames
        message at the controller's budget fills more than half a window (the payload target
        is near the link's rate, at 2-4 kbps; beside it a part would be mostly headers, if it
        went at all), unless a part's turn would carry less image than headers even so (at
        2 kbps: there the turns only thinned the frames, and the image still did not come)."""
        wire = self.controller.wire
        assert wire is not None
        frames_bytes = self.controller.frames_wire_bps * HELD_WINDOW_MS / 8000
        turn_bytes = wire.queue_bytes * PART_TURN_SHARE_OF_QUEUE
        header = self._part_header_wire_bytes()
        return frames_bytes > wire.window_bytes / 2 and turn_bytes >= 2 * header

    def _part_header_wire_bytes(self) -> int:
        """A keyframe part message's wire bytes beside its image: its own fields and the
        transport's headers."""
        assert isinstance(self.call, Call)
        return self.call.control.message_wire_bytes(PART_HEADER_BYTES)

    def _refinement_interval_ms(self) -> float:
        """How far apart frames messages go while a refinement is in flight: the latency bound,
        stretched as the wire budget's window is (a second and the send lag), so that the
        window holds as many frames messages as a second would (one at a bound of a second,
        not two) and the rest of it goes to the parts; the wire more messages' headers would
        take goes to them too. Taking turns, the frames message's window and the parts' turns
        at least."""
        max_latency_ms = self._bundler.config.max_latency_ms
        interval = max_latency_ms * HELD_WINDOW_MS / WINDOW_MS + SPACING_SLACK_MS
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


@dataclass(frozen=True)
class _Offer:
    keyframe: Keyframe
    """The kept keyframe named, as this call's keyframe (its seq)."""
    op: OperatingPoint
    """The operating point the cached keyframe message carried."""
    deadline_ms: float
    """When the sender stops waiting for the answer."""
