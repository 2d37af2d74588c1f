"""The receiver report: what one end saw of the other's frames channel.

Sent on the control channel about once a second by an end that receives frames. Counters are
cumulative (a lost or late report loses nothing) and wrap at 2**32.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

REPORT_VERSION = 1
_FORMAT = struct.Struct(">BHHIIIIII")
REPORT_BYTES = _FORMAT.size
COUNTER_MODULO = 1 << 32
MAX_HOLD_MS = 0xFFFF


class MalformedMessageError(ValueError):
    """A message that does not parse; the receiving loop counts it and carries on."""


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

    def encode(self) -> bytes:
        counters = (
            self.received,
            self.lost,
            self.reordered,
            self.duplicates,
            self.bytes_received,
            self.clock_ms,
        )
        return _FORMAT.pack(
            REPORT_VERSION,
            self.highest_seq,
            min(self.hold_ms, MAX_HOLD_MS),
            *(value % COUNTER_MODULO for value in counters),
        )

    @classmethod
    def decode(cls, data: bytes) -> ReceiverReport:
        if len(data) != REPORT_BYTES:
            raise MalformedMessageError(f"receiver report of {len(data)} bytes, not {REPORT_BYTES}")
        version, *fields = _FORMAT.unpack(data)
        if version != REPORT_VERSION:
            raise MalformedMessageError(f"receiver report version {version}")
        return cls(*fields)
