"""The receiver report: what one end saw of the other's frames channel.

Sent on the control channel about once a second by an end that receives frames. Counters are
cumulative (a lost or late report loses nothing) and wrap at 2**32. Version 2 adds when each
frames message since the previous report arrived (at most ``MAX_ARRIVALS``, the newest), which
the sender's delay-gradient detector needs (bitrate.delay_gradient).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

REPORT_VERSION = 2
_FORMAT = struct.Struct(">BHHIIIIIIB")
_ARRIVAL = struct.Struct(">HH")
REPORT_BYTES = _FORMAT.size
"""A report without arrivals; each arrival adds ``ARRIVAL_BYTES``."""
ARRIVAL_BYTES = _ARRIVAL.size
MAX_ARRIVALS = 32
"""Arrivals one report carries at most (newest kept): 6 s of messages at the 200 ms default."""
COUNTER_MODULO = 1 << 32
MAX_HOLD_MS = 0xFFFF


class MalformedMessageError(ValueError):
    """A message that does not parse; the receiving loop counts it and carries on."""


@dataclass(frozen=True)
class ArrivalTime:
    seq: int
    """Frames-channel sequence number (mod 2**16)."""
    age_ms: int
    """Time from its arrival to the report (``clock_ms``), at most ``MAX_HOLD_MS``."""


@dataclass(frozen=True)
class ReceiverReport:
    highest_seq: int
    """Highest frames-channel sequence number received."""
    hold_ms: int
    """Time from that message's arrival to this report (lets the sender measure RTT)."""
    received: int
    lost: int
    reordered: int
    duplicates: int
    bytes_received: int
    """Frames-channel message bytes received, sequence headers included."""
    clock_ms: int
    """The receiver's clock when it wrote the report (lets the sender measure throughput)."""
    arrivals: tuple[ArrivalTime, ...] = ()
    """Frames messages received since the previous report, in arrival order."""

    def encode(self) -> bytes:
        counters = (
            self.received,
            self.lost,
            self.reordered,
            self.duplicates,
            self.bytes_received,
            self.clock_ms,
        )
        arrivals = self.arrivals[-MAX_ARRIVALS:]
        head = _FORMAT.pack(
            REPORT_VERSION,
            self.highest_seq,
            min(self.hold_ms, MAX_HOLD_MS),
            *(value % COUNTER_MODULO for value in counters),
            len(arrivals),
        )
        return head + b"".join(
            _ARRIVAL.pack(a.seq, min(max(a.age_ms, 0), MAX_HOLD_MS)) for a in arrivals
        )

    @classmethod
    def decode(cls, data: bytes) -> ReceiverReport:
        if len(data) < REPORT_BYTES:
            raise MalformedMessageError(f"receiver report of {len(data)} bytes")
        version, *fields, count = _FORMAT.unpack(data[:REPORT_BYTES])
        if version != REPORT_VERSION:
            raise MalformedMessageError(f"receiver report version {version}")
        if count > MAX_ARRIVALS or len(data) != REPORT_BYTES + count * ARRIVAL_BYTES:
            raise MalformedMessageError(f"receiver report of {len(data)} bytes, {count} arrivals")
        arrivals = tuple(
            ArrivalTime(*_ARRIVAL.unpack_from(data, REPORT_BYTES + i * ARRIVAL_BYTES))
            for i in range(count)
        )
        return cls(*fields, arrivals=arrivals)
