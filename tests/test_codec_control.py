"""Control messages: round trips, limits, and what the decoder refuses."""

from __future__ import annotations

import pytest

from facecodec.codec import (
    BitstreamError,
    ErrorCode,
    KeyframeReason,
    KeyframeRequest,
    MessageType,
    OperatingPointChange,
    ReceiverReport,
    decode_control,
    encode_control,
    parse_message,
)
from facecodec.types import OperatingPoint

MESSAGES = [
    KeyframeRequest(KeyframeReason.START),
    KeyframeRequest(KeyframeReason.MISSING_REFERENCE, 0),
    KeyframeRequest(KeyframeReason.VERSION, 123_456_789),
    OperatingPointChange(0, OperatingPoint()),
    OperatingPointChange(99_999, OperatingPoint(32, 50, 5, 16)),
    ReceiverReport(None, 0, 0, 0),
    ReceiverReport(1_000_000, 17, 85, 2_400),
]


@pytest.mark.parametrize("message", MESSAGES, ids=repr)
def test_control_round_trip(message):
    data = encode_control(message)
    assert parse_message(data) == MessageType.CONTROL
    assert decode_control(data) == message
    assert len(data) <= 16


@pytest.mark.parametrize(
    "message",
    [
        ReceiverReport(-1, 0, 0, 0),
        ReceiverReport(1, -5, 0, 0),
        ReceiverReport(1, 0, 10**9, 0),
        OperatingPointChange(1, OperatingPoint(keypoints=65)),
    ],
    ids=repr,
)
def test_values_the_format_cannot_carry(message):
    with pytest.raises(ValueError):
        encode_control(message)


def test_decoder_refuses_bad_control_messages():
    report = encode_control(ReceiverReport(5, 1, 40, 1000))
    cases = {
        ErrorCode.TRUNCATED: report[:-1],
        ErrorCode.MALFORMED: report + b"\x00",
        ErrorCode.TYPE: report[:1] + b"\x09" + report[2:],
        ErrorCode.VERSION: bytes([0x04]) + report[1:],
    }
    for code, data in cases.items():
        with pytest.raises(BitstreamError) as info:
            decode_control(data)
        assert info.value.code == code, code
    # a varint that never ends
    with pytest.raises(BitstreamError):
        decode_control(report[:2] + b"\xff" * 20)
    # an operating point the format does not have
    change = bytearray(encode_control(OperatingPointChange(3, OperatingPoint())))
    change[-2] = 12  # quant level
    with pytest.raises(BitstreamError) as info:
        decode_control(bytes(change))
    assert info.value.code == ErrorCode.RANGE
