"""What a data-channel message costs on the wire.

aiortc sends every message as its own SCTP packet (it does not bundle chunks), in one DTLS record,
in one UDP datagram. Measured on loopback with aiortc 1.16 by counting the DTLS transport's bytes
for messages of 1 to 3,000 bytes (tests/test_transport_overhead.py checks ``wire_bytes`` against
those counters): 65 B of DTLS+SCTP framing per packet, plus padding of the user data to 4 bytes.
With the 28 B of UDP/IPv4 headers a small message costs 93-96 B more than its payload.

The receiver answers every packet with a SACK (aiortc does not delay acknowledgements): 93 B
back per packet received, measured the same way, which the receiving end's uplink pays.
"""

from __future__ import annotations

import math

from aiortc.rtcsctptransport import USERDATA_MAX_LENGTH

DTLS_RECORD_OVERHEAD_BYTES = 37
"""DTLS 1.2 record header (13) + explicit nonce (8) + GCM tag (16): aiortc offers
ECDHE-ECDSA-AES128-GCM-SHA256 first and both ends pick it."""

SCTP_COMMON_HEADER_BYTES = 12
SCTP_DATA_CHUNK_HEADER_BYTES = 16
SCTP_SACK_CHUNK_BYTES = 16
"""A SACK chunk without gap reports or duplicate TSNs."""

UDP_IPV4_HEADER_BYTES = 28
"""IPv4 header (20) + UDP header (8); IPv6 paths pay 20 B more."""

PACKET_OVERHEAD_BYTES = (
    DTLS_RECORD_OVERHEAD_BYTES
    + SCTP_COMMON_HEADER_BYTES
    + SCTP_DATA_CHUNK_HEADER_BYTES
    + UDP_IPV4_HEADER_BYTES
)
"""93 B per packet before padding, measured on loopback."""

SCTP_CHUNK_ALIGNMENT_BYTES = 4
"""SCTP pads every chunk to a multiple of 4 bytes (RFC 9260, section 3.2)."""

SCTP_MAX_USER_DATA_BYTES = USERDATA_MAX_LENGTH
"""Longer messages are split into several DATA chunks, one packet each (1,160 B in aiortc)."""


SACK_WIRE_BYTES = (
    DTLS_RECORD_OVERHEAD_BYTES
    + SCTP_COMMON_HEADER_BYTES
    + SCTP_SACK_CHUNK_BYTES
    + UDP_IPV4_HEADER_BYTES
)
"""One SCTP acknowledgement, measured on loopback (93 B)."""


def packets(message_bytes: int) -> int:
    """SCTP packets (one per DATA chunk) that carry one message."""
    return math.ceil(max(1, message_bytes) / SCTP_MAX_USER_DATA_BYTES)


def wire_bytes(message_bytes: int) -> int:
    """Estimated bytes on the wire (UDP/IPv4) for one data-channel message of ``message_bytes``.

    An empty message still travels as one byte (WebRTC's empty-binary convention).
    """
    user_bytes = max(1, message_bytes)
    padding = -user_bytes % SCTP_CHUNK_ALIGNMENT_BYTES
    return user_bytes + padding + packets(user_bytes) * PACKET_OVERHEAD_BYTES
