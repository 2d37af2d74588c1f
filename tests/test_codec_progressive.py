"""Progressive keyframes with a real frame: the first version and its parts round trip, the full
image comes back bit-exact, and malformed refinements and parts are refused."""

from __future__ import annotations

import dataclasses
import zlib

import numpy as np
import pytest
from codec_inputs import demo_keyframe_image, real_clip_params

from facecodec.codec import (
    BitstreamError,
    ErrorCode,
    ImageCodec,
    KeyframePart,
    Refinement,
    RefinementAssembler,
    decode_keyframe_message,
    decode_keyframe_part,
    encode_keyframe,
    encode_keyframe_parts,
)
from facecodec.codec.choose_image_quality import psnr
from facecodec.codec.image import decode_image, encode_image
from facecodec.codec.keyframe import carried
from facecodec.codec.keyframe_part import PartCutter, encode_keyframe_part
from facecodec.codec.progressive import (
    FIRST_VERSION_MAX_BYTES,
    FULL_QUALITIES,
    encode_progressive_keyframe,
    upsampled,
)
from facecodec.types import Keyframe, OperatingPoint

OP = OperatingPoint(8, 16, 2, 1)
PART_BYTES = 500


@pytest.fixture(scope="module")
def keyframe() -> Keyframe:
    params, identity = real_clip_params(frames=1)
    # As the sender's prior makes a keyframe: no explicit keypoints.
    params = dataclasses.replace(params[0], keypoints=None)
    return Keyframe(demo_keyframe_image(), identity, params, "mp478-lin-v1", "net-7")


def _reseal(body: bytes) -> bytes:
    return body + zlib.crc32(body).to_bytes(4, "little")


def test_first_version_then_parts_give_the_full_keyframe(keyframe):
    progressive = encode_progressive_keyframe(keyframe, OP)
    message = decode_keyframe_message(progressive.first)
    first, refinement = message.keyframe, message.refinement
    assert message.op == OP and refinement is not None
    # The identity and parameters as carried (half floats), the versions; the image smaller
    # than the full one, the whole message within 1 kB.
    assert np.array_equal(first.identity, carried(keyframe).identity)
    assert np.abs(first.identity - keyframe.identity).max() < 0.01
    assert first.params.seq == keyframe.params.seq and first.face_model == keyframe.face_model
    assert first.image.shape[0] < 256 and first.image.shape[1] < 256
    assert len(progressive.first) <= FIRST_VERSION_MAX_BYTES
    assert (refinement.width, refinement.height) == (256, 256)
    # The first version, upsampled, is the face (the whole keyframe is far better).
    shown = upsampled(first.image, refinement.width, refinement.height)
    assert (
        20
        < psnr(shown, keyframe.image)
        < psnr(
            decode_keyframe_message(encode_keyframe(keyframe, OP)).keyframe.image, keyframe.image
        )
    )
    # The parts carry the full image as a whole keyframe codes it, bit-exact.
    assert len(progressive.parts(PART_BYTES)) > 1
    assembler = RefinementAssembler(keyframe.params.seq, refinement)
    outputs = [assembler.add(decode_keyframe_part(p)) for p in progressive.parts(PART_BYTES)]
    assert outputs[:-1] == [None] * (len(outputs) - 1)
    full = encode_image(keyframe.image, ImageCodec.WEBP, 87)
    assert outputs[-1] == full and refinement == Refinement.of(full, ImageCodec.WEBP, 256, 256)
    assert all(
        len(decode_keyframe_part(p).data) <= PART_BYTES for p in progressive.parts(PART_BYTES)
    )
    assert decode_image(outputs[-1], refinement.codec, 256, 256).shape == (256, 256, 3)


def test_a_byte_limit_lowers_the_full_image_quality_and_parts_cut_as_they_go_carry_it(keyframe):
    default = encode_image(keyframe.image, ImageCodec.WEBP, 87)
    progressive = encode_progressive_keyframe(keyframe, OP, max_full_bytes=len(default) // 2)
    limited = progressive.full.data
    assert len(limited) <= len(default) // 2
    # The highest quality that fits: the next one up does not.
    quality = next(
        q for q in FULL_QUALITIES if encode_image(keyframe.image, ImageCodec.WEBP, q) == limited
    )
    higher = [q for q in (87, *FULL_QUALITIES) if q > quality]
    assert len(encode_image(keyframe.image, ImageCodec.WEBP, min(higher))) > len(default) // 2
    refinement = decode_keyframe_message(progressive.first).refinement
    assert refinement == Refinement.of(limited, ImageCodec.WEBP, 256, 256)
    # Parts of whatever size the link holds at the time put it together bit-exact.
    cutter = PartCutter(keyframe.params.seq, limited)
    assembler = RefinementAssembler(keyframe.params.seq, refinement)
    sizes = iter([64, 1, 300, 17] * 100)
    outputs = []
    while cutter.remaining_bytes:
        outputs.append(assembler.add(decode_keyframe_part(cutter.next(next(sizes)))))
    assert outputs[-1] == limited and outputs[:-1] == [None] * (len(outputs) - 1)
    # A limit no quality meets gives the lowest.
    smallest = encode_progressive_keyframe(keyframe, OP, max_full_bytes=1).full.data
    assert smallest == encode_image(keyframe.image, ImageCodec.WEBP, FULL_QUALITIES[-1])


def test_malformed_refinement_fields_are_refused(keyframe):
    small = dataclasses.replace(keyframe, image=keyframe.image[::2, ::2].copy())
    full = encode_image(keyframe.image, ImageCodec.WEBP, 87)
    good = Refinement.of(full, ImageCodec.WEBP, 256, 256)
    data = encode_keyframe(small, OP, refinement=good)
    assert decode_keyframe_message(data).refinement == good
    tail = 13 + 4  # codec, width, height, length, CRC-32 of the image; the message's CRC-32
    body = data[:-4]
    cases = {
        ErrorCode.MALFORMED: body[: -tail + 4] + bytes([9]) + body[-tail + 5 :],  # codec 9
        ErrorCode.TOO_LARGE: body[: -tail + 5] + (4096).to_bytes(2, "little") + body[-tail + 7 :],
        ErrorCode.TRUNCATED: body[:-3],
    }
    for code, broken in cases.items():
        with pytest.raises(BitstreamError) as info:
            decode_keyframe_message(_reseal(broken))
        assert info.value.code == code, code
    # A refinement smaller than the first version, or empty, is refused.
    for bad in (
        dataclasses.replace(good, width=64),
        dataclasses.replace(good, length=0),
    ):
        forged = encode_keyframe(small, OP)[:-4]  # no refinement fields, flag bit 2 unset
        flags_at = _flags_offset(small)
        flagged = bytearray(forged)
        flagged[flags_at] |= 4
        fields = bytes([int(bad.codec)]) + bad.width.to_bytes(2, "little")
        fields += bad.height.to_bytes(2, "little") + bad.length.to_bytes(4, "little")
        with pytest.raises(BitstreamError) as info:
            decode_keyframe_message(
                _reseal(bytes(flagged) + fields + bad.crc.to_bytes(4, "little"))
            )
        assert info.value.code == ErrorCode.MALFORMED
    # Flag bit 2 without the fields.
    flagged = bytearray(encode_keyframe(small, OP)[:-4])
    flagged[_flags_offset(small)] |= 4
    with pytest.raises(BitstreamError) as info:
        decode_keyframe_message(_reseal(bytes(flagged)))
    assert info.value.code == ErrorCode.TRUNCATED


def _flags_offset(keyframe: Keyframe) -> int:
    """Byte offset of the flags in ``keyframe``'s message (seq < 128: a one-byte varint)."""
    assert keyframe.params.seq < 128
    texts = 1 + len(keyframe.face_model) + 1 + len(keyframe.network)
    return 1 + 1 + 4 + texts + 2 + 2 * keyframe.identity.size


def test_malformed_parts_are_refused(keyframe):
    full = encode_image(keyframe.image, ImageCodec.WEBP, 87)
    seq = keyframe.params.seq
    parts = encode_keyframe_parts(seq, full, PART_BYTES)
    refinement = Refinement.of(full, ImageCodec.WEBP, 256, 256)
    flipped = bytearray(parts[0])
    flipped[5] ^= 1
    header = bytes([parts[0][0]])
    cases = {
        ErrorCode.MALFORMED: bytes(flipped),  # checksum
        ErrorCode.TRUNCATED: parts[0][:3],
    }
    for code, broken in cases.items():
        with pytest.raises(BitstreamError) as info:
            decode_keyframe_part(broken)
        assert info.value.code == code, code
    # No image bytes, and bytes reaching past the largest image.
    with pytest.raises(BitstreamError) as info:
        decode_keyframe_part(_reseal(header + bytes([seq, 0])))
    assert info.value.code == ErrorCode.MALFORMED
    past = encode_keyframe_part(KeyframePart(seq, 3 * 1024 * 1024 - 2, b"abc"))
    with pytest.raises(BitstreamError) as info:
        decode_keyframe_part(past)
    assert info.value.code == ErrorCode.TOO_LARGE
    with pytest.raises(BitstreamError) as info:
        decode_keyframe_message(parts[0])  # a part is not a keyframe
    assert info.value.code == ErrorCode.TYPE

    # The assembler: parts out of order, for another keyframe, beyond the promised length, and
    # a whole that does not match the promised checksum.
    second = decode_keyframe_part(parts[1])
    with pytest.raises(BitstreamError):
        RefinementAssembler(seq, refinement).add(second)
    with pytest.raises(BitstreamError):
        RefinementAssembler(seq + 1, refinement).add(decode_keyframe_part(parts[0]))
    short = dataclasses.replace(refinement, length=10)
    with pytest.raises(BitstreamError) as info:
        RefinementAssembler(seq, short).add(decode_keyframe_part(parts[0]))
    assert info.value.code == ErrorCode.TOO_LARGE
    wrong_crc = dataclasses.replace(refinement, crc=refinement.crc ^ 1)
    assembler = RefinementAssembler(seq, wrong_crc)
    with pytest.raises(BitstreamError) as info:
        for part in parts:
            assembler.add(decode_keyframe_part(part))
    assert info.value.code == ErrorCode.MALFORMED
