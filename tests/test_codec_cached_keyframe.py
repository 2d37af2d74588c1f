"""Cached keyframes in the bitstream: the entry both ends build alike, the message that names it,
the answer, and the refusal of anything malformed or not matching its key."""

from __future__ import annotations

import dataclasses
import zlib

import numpy as np
import pytest
from codec_inputs import demo_keyframe_image, real_clip_params

from facecodec.codec import (
    BitstreamError,
    CacheAnswer,
    CachedKeyframe,
    decode_cached_keyframe,
    decode_control,
    decode_keyframe_message,
    encode_cached_keyframe,
    encode_control,
    encode_keyframe,
    keyframe_entry,
    keyframe_from_entry,
    keyframe_key,
)
from facecodec.codec.cached_keyframe import KEY_BYTES
from facecodec.codec.image import DEFAULT_IMAGE_CODEC, DEFAULT_IMAGE_QUALITY, CodedImage
from facecodec.codec.keyframe import carried
from facecodec.codec.keyframe_part import RefinementAssembler, decode_keyframe_part
from facecodec.codec.progressive import encode_progressive_keyframe
from facecodec.types import Keyframe, OperatingPoint

OP = OperatingPoint(8, 20, 3, 2)


@pytest.fixture(scope="module")
def keyframe() -> Keyframe:
    params, identity = real_clip_params(frames=1)
    params0 = dataclasses.replace(params[0], seq=417, keypoints=None)
    return Keyframe(demo_keyframe_image(), identity, params0, "mp478-lin-v1", "net-7")


def _full(keyframe: Keyframe) -> CodedImage:
    return CodedImage.encode(keyframe.image, DEFAULT_IMAGE_CODEC, DEFAULT_IMAGE_QUALITY)


def test_the_receiver_builds_the_entry_the_sender_names_from_a_whole_keyframe(keyframe):
    full = _full(keyframe)
    sent = keyframe_entry(keyframe, full)
    message = decode_keyframe_message(encode_keyframe(keyframe, OP))
    assert message.image == full
    assert keyframe_entry(message.keyframe, message.image) == sent


def test_the_receiver_builds_the_entry_the_sender_names_from_a_progressive_keyframe(keyframe):
    progressive = encode_progressive_keyframe(keyframe, OP)
    first = decode_keyframe_message(progressive.first)
    assert first.refinement is not None
    assembler = RefinementAssembler(keyframe.params.seq, first.refinement)
    data = None
    for part in progressive.parts(500):
        data = assembler.add(decode_keyframe_part(part))
    promised = first.refinement
    received = CodedImage(promised.codec, promised.width, promised.height, data)
    assert keyframe_entry(first.keyframe, received) == keyframe_entry(keyframe, progressive.full)


def test_an_entry_gives_the_keyframe_it_was_made_of_at_the_named_seq_and_point(keyframe):
    full = _full(keyframe)
    entry = keyframe_entry(keyframe, full)
    named = CachedKeyframe(90_000, OP, keyframe_key(entry))
    message = keyframe_from_entry(entry, named)
    assert message.op == OP and message.refinement is None and message.image == full
    got, sent = message.keyframe, carried(keyframe)
    assert got.params.seq == 90_000
    assert np.array_equal(got.image, full.decode())
    assert np.array_equal(got.identity, sent.identity)
    assert np.array_equal(got.params.rotation, sent.params.rotation)
    assert np.array_equal(got.params.expression, sent.params.expression)
    assert (got.face_model, got.network) == (keyframe.face_model, keyframe.network)
    # The call's seq and point are not part of the entry: another keyframe seq, the same key.
    other_seq = dataclasses.replace(keyframe, params=dataclasses.replace(keyframe.params, seq=3))
    assert keyframe_entry(other_seq, full) == entry


def test_an_entry_that_does_not_match_its_key_is_refused(keyframe):
    entry = bytearray(keyframe_entry(keyframe, _full(keyframe)))
    named = CachedKeyframe(5, OP, keyframe_key(bytes(entry)))
    entry[len(entry) // 2] ^= 0x01
    with pytest.raises(BitstreamError, match="does not match its key"):
        keyframe_from_entry(bytes(entry), named)


def test_a_keyframe_message_that_is_no_entry_is_refused_even_under_its_own_key(keyframe):
    for data in (
        encode_keyframe(keyframe, OperatingPoint()),  # seq 417, not 0
        encode_progressive_keyframe(
            dataclasses.replace(keyframe, params=dataclasses.replace(keyframe.params, seq=0)),
            OperatingPoint(),
        ).first,
    ):
        with pytest.raises(BitstreamError, match="not a cache entry"):
            keyframe_from_entry(data, CachedKeyframe(5, OP, keyframe_key(data)))


def test_cached_keyframe_message_round_trip():
    named = CachedKeyframe((1 << 48) - 1, OP, bytes(range(KEY_BYTES)))
    data = encode_cached_keyframe(named)
    assert data[0] == 0x26 and len(data) == 1 + 7 + 4 + KEY_BYTES + 4
    assert decode_cached_keyframe(data) == named


def _reseal(body: bytes) -> bytes:
    return body + zlib.crc32(body).to_bytes(4, "little")


def test_malformed_cached_keyframe_messages_are_refused():
    data = encode_cached_keyframe(CachedKeyframe(300, OP, bytes(KEY_BYTES)))
    body = data[:-4]
    bad = {
        "truncated": _reseal(body[:-1]),
        "trailing": _reseal(body + b"\x00"),
        "checksum": data[:-1] + bytes([data[-1] ^ 1]),
        "point": _reseal(body[:3] + bytes([99]) + body[4:]),
        "shorter than its checksum": data[:3],
        "seq": _reseal(bytes([0x26]) + b"\xff" * 7 + b"\x01" + body[3:]),
        "type": encode_control(CacheAnswer(1, True)),
    }
    for name, packet in bad.items():
        with pytest.raises(BitstreamError):
            decode_cached_keyframe(packet)
            pytest.fail(name)


def test_values_a_cached_keyframe_message_cannot_carry():
    with pytest.raises(ValueError):
        encode_cached_keyframe(CachedKeyframe(1, OP, bytes(KEY_BYTES - 1)))
    with pytest.raises(ValueError):
        encode_cached_keyframe(CachedKeyframe(1 << 48, OP, bytes(KEY_BYTES)))


@pytest.mark.parametrize("have", [True, False])
def test_cache_answer_round_trip(have):
    answer = CacheAnswer(123_456, have)
    assert decode_control(encode_control(answer)) == answer


def test_malformed_cache_answers_are_refused():
    data = encode_control(CacheAnswer(7, True))
    for packet in (data[:-1], data + b"\x00", data[:-1] + b"\x02"):
        with pytest.raises(BitstreamError):
            decode_control(packet)
