"""Sequence numbers on the unreliable channel and the receiver's bookkeeping of them.

Every message on the frames channel starts with a 16-bit sequence number that the transport adds
and strips; the receiver classifies each arrival the way RTP receivers do (RFC 3550, appendix
A.1): in order (possibly after a gap, which counts as loss until the missing ones turn up), late
(reordered), duplicate, or too far from the stream to place (garbage, or a sender that
restarted: two consecutive such numbers resynchronise).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

FRAME_HEADER_BYTES = 2
"""Big-endian sequence number in front of every frames-channel message."""
SEQ_MODULO = 1 << 16
MAX_DROPOUT = 3000
"""A jump forward by less than this is a gap (loss); RFC 3550's value."""
MAX_MISORDER = 100
"""An arrival this far behind the highest is late or a duplicate; RFC 3550's value."""


class Arrival(Enum):
    IN_ORDER = 0
    LATE = 1
    DUPLICATE = 2
    OUT_OF_RANGE = 3


@dataclass
class SequenceStats:
    """Cumulative counts since the stream started."""

    received: int = 0
    """Distinct messages placed in the stream, late ones included."""
    expected: int = 0
    """Span of sequence numbers from the first to the highest seen."""
    reordered: int = 0
    """Arrived after a message with a higher number."""
    duplicates: int = 0
    out_of_range: int = 0
    """Numbers too far from the stream to place."""

    @property
    def lost(self) -> int:
        """Missing below the highest number seen (late arrivals reduce it)."""
        return max(0, self.expected - self.received)


class SequenceTracker:
    """Classifies arrivals by sequence number and keeps ``SequenceStats``."""

    def __init__(self) -> None:
        self.stats = SequenceStats()
        self.highest: int | None = None
        """Highest sequence number seen (16-bit)."""
        self._seen = 0
        """Bit i set: ``highest - i`` has arrived; MAX_MISORDER + 1 bits."""
        self._probation: int | None = None
        """Number that would confirm a resynchronisation."""

    def observe(self, seq: int) -> Arrival:
        seq %= SEQ_MODULO
        if self.highest is None or seq == self._probation:
            return self._restart(seq)
        ahead = (seq - self.highest) % SEQ_MODULO
        behind = SEQ_MODULO - ahead
        if ahead == 0:
            self.stats.duplicates += 1
            return Arrival.DUPLICATE
        if ahead < MAX_DROPOUT:
            self._advance(seq, ahead)
            return Arrival.IN_ORDER
        if behind <= MAX_MISORDER:
            return self._late(behind)
        self._probation = (seq + 1) % SEQ_MODULO
        self.stats.out_of_range += 1
        return Arrival.OUT_OF_RANGE

    def _restart(self, seq: int) -> Arrival:
        self.highest = seq
        self._seen = 1
        self._probation = None
        self.stats.expected += 1
        self.stats.received += 1
        return Arrival.IN_ORDER

    def _advance(self, seq: int, ahead: int) -> None:
        self.highest = seq
        self._seen = ((self._seen << ahead) | 1) & ((1 << (MAX_MISORDER + 1)) - 1)
        self._probation = None
        self.stats.expected += ahead
        self.stats.received += 1

    def _late(self, behind: int) -> Arrival:
        bit = 1 << behind
        if self._seen & bit:
            self.stats.duplicates += 1
            return Arrival.DUPLICATE
        self._seen |= bit
        self.stats.received += 1
        self.stats.reordered += 1
        return Arrival.LATE
