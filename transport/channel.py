"""The call's two data channels seen as streams of byte messages, with their counters.

``ControlChannel`` (reliable, ordered) puts one tag byte in front of each message so that the
transport's own receiver reports can share it with the application's messages.
``FramesChannel`` (unreliable, unordered) puts a sequence number in front of each message
(facecodec.transport.sequence) and keeps the bookkeeping that receiver reports carry.
What is inside the application's messages is not the transport's business.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from enum import IntEnum

from aiortc import RTCDataChannel

from .audio import MediaClock
from .feedback import FeedbackEstimator
from .impairment import ImpairedSender, Impairment
from .inbox import ChannelClosedError, Inbox
from .overhead import SACK_WIRE_BYTES, packets, wire_bytes
from .report import MAX_ARRIVALS, ArrivalTime, MalformedMessageError, ReceiverReport
from .sequence import (
    FRAME_HEADER_BYTES,
    SEQ_MODULO,
    Arrival,
    SequenceTracker,
)

Clock = Callable[[], float]
"""Milliseconds on a monotonic clock."""


@dataclass
class ChannelStats:
    """Counters of one end of one channel; wire bytes are estimates (transport.overhead)."""

    messages_sent: int = 0
    """Application messages handed to ``send``."""
    payload_bytes_sent: int = 0
    wire_bytes_sent: int = 0
    """Everything this end put on the channel: headers and receiver reports included."""
    ack_wire_bytes_sent: int = 0
    """SCTP acknowledgements this end sent for what it received on the channel."""
    messages_received: int = 0
    """Application messages delivered to the consumer."""
    payload_bytes_received: int = 0
    wire_bytes_received: int = 0
    malformed_received: int = 0
    """Messages dropped because they did not parse."""
    overflowed: int = 0
    """Messages dropped because the consumer fell behind."""


class MessageChannel(ABC):
    """Sends and receives application messages on one aiortc data channel."""

    def __init__(self, channel: RTCDataChannel, clock: Clock, queue_limit: int | None) -> None:
        self._channel = channel
        self._clock = clock
        self._inbox: Inbox[bytes] = Inbox(queue_limit)
        self._stats = ChannelStats()
        channel.on("message", self._on_message)
        channel.on("close", self.close)

    @property
    def label(self) -> str:
        return self._channel.label

    @property
    def is_open(self) -> bool:
        return self._channel.readyState == "open"

    @property
    def stats(self) -> ChannelStats:
        return dataclasses.replace(self._stats, overflowed=self._inbox.overflowed)

    def send(self, payload: bytes) -> None:
        """Queue one message for sending; raises ChannelClosedError once the call has ended."""
        if not self.is_open:
            raise ChannelClosedError(f"{self.label} channel is {self._channel.readyState}")
        self._stats.messages_sent += 1
        self._stats.payload_bytes_sent += len(payload)
        self._send_framed(payload)

    async def receive(self) -> bytes:
        """The next message; raises ChannelClosedError when the call has ended."""
        return await self._inbox.get()

    def __aiter__(self) -> AsyncIterator[bytes]:
        return aiter(self._inbox)

    def close(self) -> None:
        self._inbox.close()

    @abstractmethod
    def _send_framed(self, payload: bytes) -> None: ...

    @abstractmethod
    def _unframe(self, data: bytes) -> bytes | None:
        """The application payload in ``data``, or None when nothing is to be delivered."""

    def _put_on_wire(self, data: bytes) -> None:
        # A message released late (impairment, report timer) may find the call closed.
        if self.is_open:
            self._channel.send(data)
            self._stats.wire_bytes_sent += wire_bytes(len(data))

    def _on_message(self, data: bytes | str) -> None:
        # Called by aiortc for every message: it must never raise, whatever the peer sends.
        raw = data if isinstance(data, bytes) else data.encode("utf-8")
        self._stats.wire_bytes_received += wire_bytes(len(raw))
        self._stats.ack_wire_bytes_sent += SACK_WIRE_BYTES * packets(len(raw))
        try:
            if not isinstance(data, bytes):
                raise MalformedMessageError("text message on a binary channel")
            payload = self._unframe(data)
        except MalformedMessageError:
            self._stats.malformed_received += 1
            return
        if payload is not None:
            self._stats.messages_received += 1
            self._stats.payload_bytes_received += len(payload)
            self._inbox.put(payload)


class ControlTag(IntEnum):
    """First byte of every control-channel message."""

    MESSAGE = 0
    """An application message follows."""
    REPORT = 1
    """A transport receiver report follows."""
    MEDIA_CLOCK = 2
    """A ``MediaClock`` follows: where the face's frames sit on the audio's timeline."""


_TAG_BYTES = 1


class ControlChannel(MessageChannel):
    """Reliable and ordered: keyframes, control and receiver reports."""

    def __init__(
        self,
        channel: RTCDataChannel,
        clock: Clock,
        on_report: Callable[[ReceiverReport], None],
        on_media_clock: Callable[[MediaClock], None],
    ) -> None:
        super().__init__(channel, clock, queue_limit=None)
        self._on_report = on_report
        self._on_media_clock = on_media_clock

    @staticmethod
    def message_wire_bytes(payload_bytes: int) -> int:
        """Estimated wire bytes of an application message of ``payload_bytes`` (with its tag),
        as ``stats.wire_bytes_sent`` counts it once sent."""
        return wire_bytes(_TAG_BYTES + payload_bytes)

    def send_report(self, report: ReceiverReport) -> None:
        self._put_on_wire(bytes([ControlTag.REPORT]) + report.encode())

    def send_media_clock(self, clock: MediaClock) -> None:
        self._put_on_wire(bytes([ControlTag.MEDIA_CLOCK]) + clock.encode())

    def _send_framed(self, payload: bytes) -> None:
        self._put_on_wire(bytes([ControlTag.MESSAGE]) + payload)

    def _unframe(self, data: bytes) -> bytes | None:
        if not data:
            raise MalformedMessageError("control message without a tag")
        if data[0] == ControlTag.MESSAGE:
            return data[1:]
        if data[0] == ControlTag.REPORT:
            self._on_report(ReceiverReport.decode(data[1:]))
            return None
        if data[0] == ControlTag.MEDIA_CLOCK:
            self._on_media_clock(MediaClock.decode(data[1:]))
            return None
        raise MalformedMessageError(f"unknown control tag {data[0]}")


class FramesChannel(MessageChannel):
    """Unreliable and unordered (maxRetransmits=0): per-frame messages, sequence-numbered."""

    def __init__(
        self,
        channel: RTCDataChannel,
        clock: Clock,
        queue_limit: int,
        impairment: Impairment | None = None,
    ) -> None:
        super().__init__(channel, clock, queue_limit)
        self.tracker = SequenceTracker()
        self.feedback = FeedbackEstimator()
        self.impaired = ImpairedSender(impairment, self._put_on_wire) if impairment else None
        self._next_seq = 0
        self._message_bytes_received = 0
        self._highest_arrival_ms = 0.0
        self._arrivals: deque[tuple[int, float]] = deque(maxlen=MAX_ARRIVALS)
        """(seq, arrival ms) of the messages received since the last report."""

    @property
    def arrivals_pending(self) -> int:
        """Frames messages received since the last report (at most ``MAX_ARRIVALS``)."""
        return len(self._arrivals)

    def report(self) -> ReceiverReport | None:
        """What this end has received so far; None before the first message."""
        if self.tracker.highest is None:
            return None
        stats, now_ms = self.tracker.stats, self._clock()
        return ReceiverReport(
            highest_seq=self.tracker.highest,
            hold_ms=round(now_ms - self._highest_arrival_ms),
            received=stats.received,
            lost=stats.lost,
            reordered=stats.reordered,
            duplicates=stats.duplicates,
            bytes_received=self._message_bytes_received,
            clock_ms=round(now_ms),
            arrivals=self._take_arrivals(now_ms),
        )

    def _take_arrivals(self, now_ms: float) -> tuple[ArrivalTime, ...]:
        arrivals = tuple(ArrivalTime(seq, round(now_ms - t)) for seq, t in self._arrivals)
        self._arrivals.clear()
        return arrivals

    def close(self) -> None:
        if self.impaired is not None:
            self.impaired.close()
        super().close()

    def _send_framed(self, payload: bytes) -> None:
        seq, self._next_seq = self._next_seq, (self._next_seq + 1) % SEQ_MODULO
        self.feedback.on_sent(seq, self._clock())
        data = seq.to_bytes(FRAME_HEADER_BYTES, "big") + payload
        if self.impaired is not None:
            self.impaired.send(data)
        else:
            self._put_on_wire(data)

    def _unframe(self, data: bytes) -> bytes | None:
        if len(data) < FRAME_HEADER_BYTES:
            raise MalformedMessageError(f"frames message of {len(data)} B, no sequence number")
        self._message_bytes_received += len(data)
        seq = int.from_bytes(data[:FRAME_HEADER_BYTES], "big")
        arrival = self.tracker.observe(seq)
        if arrival == Arrival.IN_ORDER:
            self._highest_arrival_ms = self._clock()
        if arrival in (Arrival.IN_ORDER, Arrival.LATE):
            self._arrivals.append((seq, self._clock()))
        if arrival in (Arrival.DUPLICATE, Arrival.OUT_OF_RANGE):
            return None
        return data[FRAME_HEADER_BYTES:]
