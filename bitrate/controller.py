"""The bitrate controller: picks the operating point for a payload target, in the style of
aiortc's rate.py (pure logic; time comes in as ``now_ms`` arguments).

Per captured frame it returns a ``Decision``: the operating point to code at and whether a
keyframe is due (at the start and on request). It aims below the target at

    budget = headroom * min(target, path ceiling, wire target - header cost)

choosing the lowest-distortion point of the rate-distortion table whose predicted rate fits,
where the prediction scales the table's bytes by how costly the current content is (measured
over the messages of the last second: a still face costs less than a talking one).

The hard bound: over any 1-second window the frames payload never exceeds the target by more
than 10% (keyframes excepted). ``room_bytes`` says how big the message sent now may be; the
sender drops frames from a bundle that would not fit (the receiver conceals them as lost).
With a wire target, everything the end sends counts too (``on_wire_total``: keyframes, control
messages, acknowledgements, all headers): a frames message must also fit the ``WireBudget``
(no 1-second window above the wire target, no backlog beyond the latency budget).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from facecodec.transport.feedback import LinkFeedback
from facecodec.types import OperatingPoint

from .bundler import FRAMES_MESSAGE_OVERHEAD_BYTES, BundlingConfig, frames_wire_bytes
from .ceiling import RateCeiling
from .log import DecisionLog, LogEvent
from .table import RatePoint, RateTable
from .window import WINDOW_MS, SlidingWindow
from .wire_budget import WireBudget

WINDOW_TOLERANCE = 0.10
"""The payload may exceed the target by this share over a 1-second window, never more."""
UPSWITCH_MARGIN = 0.9
"""A costlier point must fit within this share of the budget (hysteresis against flapping)."""
CONTENT_FACTOR_RANGE = (0.2, 5.0)
"""Bounds on measured content cost relative to the table (one odd message cannot swing it)."""
CONTENT_MIN_MESSAGES = 4
"""The content cost is measured over the last second of messages, or the last this many if they
span longer: at one message every 1-2.4 s (narrow links, a refinement in flight) a second held
one message, the factor swung 1.7-2.8 from one to the next, and the operating point changed at
nearly every message, each change a 105-B control message on a 4 kbps link."""
KEYFRAME_MIN_INTERVAL_MS = 1000.0
"""Keyframe requests closer together than this are merged."""


@dataclass(frozen=True)
class ControllerConfig:
    target_bps: float
    """Payload target, as the paper counts it: the bytes of the frames messages."""
    bundling: BundlingConfig = field(default_factory=BundlingConfig)
    capture_fps: float = 25.0
    headroom: float = 0.85
    """Share of the limit the controller aims at, so that the 1-second bound rarely bites."""

    def __post_init__(self) -> None:
        if self.target_bps <= 0 or self.capture_fps <= 0 or not 0 < self.headroom <= 1:
            raise ValueError(f"invalid controller configuration {self}")


@dataclass(frozen=True)
class Decision:
    point: OperatingPoint
    """Code the frame at this point (``codec.is_sent`` says whether the frame goes at all)."""
    keyframe: bool
    """Send a keyframe on the control channel before this frame."""
    budget_bps: float
    """Payload rate the controller aims at now."""


class Controller:
    """Turns a target, the rate-distortion table, receiver reports and the content into
    decisions."""

    def __init__(
        self, config: ControllerConfig, table: RateTable, log: DecisionLog | None = None
    ) -> None:
        self.config = config
        self.table = table
        bundling = config.bundling
        self.ceiling = RateCeiling(config.target_bps, bundling.max_latency_ms)
        self.wire = (
            None
            if bundling.wire_bitrate_bps is None
            else WireBudget(bundling.wire_bitrate_bps, bundling.max_latency_ms)
        )
        self._wire_total = 0
        """The end's wire bytes as last reported to ``on_wire_total``."""
        self._wire_counted_at_total = 0
        self.content_factor = 1.0
        self._log = log
        self._row = table.cheapest
        self._budget_bps = 0.0
        self._sent = SlidingWindow()
        self._content: deque[tuple[float, float, float]] = deque()
        """(t_ms, frame bytes sent, frame bytes the table predicts) over the last window."""
        self._keyframe_due = True
        self._last_keyframe_ms: float | None = None
        self._write(0.0, LogEvent.CONFIG, **self._config_fields())

    @property
    def cap_bytes(self) -> float:
        """Most payload bytes any 1-second window may hold."""
        return (1 + WINDOW_TOLERANCE) * self.config.target_bps * WINDOW_MS / 8000

    def on_frame(self, now_ms: float) -> Decision:
        """The decision for the frame captured at ``now_ms``."""
        budget_bps = self._budget()
        row = self._choose(budget_bps)
        keyframe = self._keyframe_due
        if keyframe:
            self._keyframe_due = False
            self._last_keyframe_ms = now_ms
        if row != self._row or budget_bps != self._budget_bps or keyframe:
            self._row, self._budget_bps = row, budget_bps
            self._write(
                now_ms,
                LogEvent.DECISION,
                point=row.point,
                budget_bps=round(budget_bps, 1),
                ceiling_bps=round(self.ceiling.bps, 1),
                content_factor=round(self.content_factor, 3),
                keyframe=keyframe,
            )
        return Decision(row.point, keyframe, budget_bps)

    @property
    def frames_wire_bps(self) -> float:
        """Wire rate the frames messages take at the budget now (its payload and one message's
        headers per latency bound): what other messages the end schedules must leave them."""
        return self._budget_bps + self.config.bundling.min_wire_bps

    def room_bytes(self, now_ms: float) -> int:
        """Largest frames message that may be sent at ``now_ms`` within the 1-second bound
        and, with a wire target, the wire budget."""
        room = self.cap_bytes - self._sent.total(now_ms)
        if self.wire is not None:
            room = min(room, self.wire.room_bytes(now_ms) - FRAMES_MESSAGE_OVERHEAD_BYTES)
        return max(0, int(room))

    def on_wire_total(self, wire_bytes_sent: int, now_ms: float) -> None:
        """Everything the end has put on the wire so far (``Call.stats.wire_bytes_sent``); what
        was not counted before it went (by ``on_message``, or by the sender's ``wire.add`` for
        keyframes and their parts: acknowledgements, control) enters the budget as unscheduled."""
        if self.wire is None:
            return
        frames_since = self.wire.counted_bytes - self._wire_counted_at_total
        other = wire_bytes_sent - self._wire_total - frames_since
        if other > 0:  # negative when the transport's impairment dropped a frames message
            self.wire.add_unscheduled(other, now_ms)
        self._wire_total = wire_bytes_sent
        self._wire_counted_at_total = self.wire.counted_bytes

    def on_message(self, payload_bytes: int, frames: int, now_ms: float) -> None:
        """A frames message of ``payload_bytes`` carrying ``frames`` frames went out."""
        self._sent.add(now_ms, payload_bytes)
        if self.wire is not None:
            self.wire.add(frames_wire_bytes(payload_bytes), now_ms)
        frame_bytes = max(0.0, payload_bytes - self.table.bytes_per_message)
        self._content.append((now_ms, frame_bytes, frames * self._row.bytes_per_frame))
        while (
            len(self._content) > CONTENT_MIN_MESSAGES and self._content[0][0] <= now_ms - WINDOW_MS
        ):
            self._content.popleft()
        predicted = sum(entry[2] for entry in self._content)
        if predicted > 0:
            low, high = CONTENT_FACTOR_RANGE
            measured = sum(entry[1] for entry in self._content) / predicted
            self.content_factor = min(high, max(low, measured))
        self._write(
            now_ms,
            LogEvent.MESSAGE,
            payload_bytes=payload_bytes,
            wire_bytes=frames_wire_bytes(payload_bytes),
            frames=frames,
        )

    def on_dropped(self, frames: int, now_ms: float) -> None:
        """Frames left out of a message because it would not have fit ``room_bytes``, or out of
        a full bundle spaced past the latency budget (bitrate.bundler)."""
        self._write(now_ms, LogEvent.DROPPED, frames=frames)

    def on_keyframe_sent(self, payload_bytes: int, now_ms: float) -> None:
        self._write(now_ms, LogEvent.KEYFRAME, payload_bytes=payload_bytes)

    def on_feedback(self, feedback: LinkFeedback, now_ms: float) -> None:
        ceiling_bps = self.ceiling.update(feedback)
        self._write(
            now_ms,
            LogEvent.FEEDBACK,
            loss=round(feedback.loss_fraction, 4),
            rtt_ms=None if feedback.rtt_ms is None else round(feedback.rtt_ms, 1),
            throughput_bps=feedback.throughput_bps,
            path=self.ceiling.state,
            trend=round(self.ceiling.delay.trend, 2),
            queue_delay_ms=round(self.ceiling.delay.queue_delay_ms, 1),
            ceiling_bps=round(ceiling_bps, 1),
        )

    def request_keyframe(self, now_ms: float) -> None:
        """The receiver asked for a keyframe; requests within a second of the last one merge."""
        last = self._last_keyframe_ms
        if last is None or now_ms - last >= KEYFRAME_MIN_INTERVAL_MS:
            self._keyframe_due = True

    def _budget(self) -> float:
        limit = min(self.config.target_bps, self.ceiling.bps)
        bundling = self.config.bundling
        if bundling.wire_bitrate_bps is not None:
            limit = min(limit, max(0.0, bundling.wire_bitrate_bps - bundling.min_wire_bps))
        return self.config.headroom * limit

    def _predicted_bps(self, row: RatePoint) -> float:
        messages_per_s = 1000 / self.config.bundling.max_latency_ms
        fixed_bps = 8 * self.table.bytes_per_message * messages_per_s
        return row.payload_bps(self.config.capture_fps, self.content_factor) + fixed_bps

    def _choose(self, budget_bps: float) -> RatePoint:
        """Lowest distortion that fits; a costlier point than the current one must fit with
        margin. The cheapest point when none fits (``room_bytes`` then does the rest)."""
        current_bps = self._predicted_bps(self._row)
        fitting = []
        for row in self.table.points:
            row_bps = self._predicted_bps(row)
            if row_bps <= budget_bps * (UPSWITCH_MARGIN if row_bps > current_bps else 1.0):
                fitting.append((row.distortion, row_bps, row))
        return min(fitting, key=lambda entry: entry[:2])[2] if fitting else self.table.cheapest

    def _config_fields(self) -> dict[str, object]:
        return {
            "target_bps": self.config.target_bps,
            "wire_target_bps": self.config.bundling.wire_bitrate_bps,
            "max_latency_ms": self.config.bundling.max_latency_ms,
            "capture_fps": self.config.capture_fps,
            "headroom": self.config.headroom,
        }

    def _write(self, now_ms: float, event: LogEvent, **fields: object) -> None:
        if self._log is not None:
            self._log.write(now_ms, event, **fields)
