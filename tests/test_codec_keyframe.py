"""Keyframe messages with a real frame: round trip, image fidelity, size limits, versions."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
from codec_inputs import demo_keyframe_image, real_clip_params

from facecodec.codec import (
    FORMAT_VERSION,
    BitstreamError,
    ErrorCode,
    ImageCodec,
    MessageType,
    decode_keyframe,
    encode_keyframe,
    parse_message,
)
from facecodec.codec.choose_image_quality import psnr
from facecodec.codec.image import MAX_IMAGE_SIDE, encode_image
from facecodec.codec.keyframe import carried
from facecodec.types import Keyframe, OperatingPoint

MIN_PSNR_DB = 36.0
"""Measured: about 40 dB over the face at the default WebP quality (docs/bitstream.md)."""


@pytest.fixture(scope="module")
def keyframe() -> Keyframe:
    params, identity = real_clip_params(frames=1)
    return Keyframe(demo_keyframe_image(), identity, params[0], "mp478-lin-v1", "net-7")


@pytest.mark.parametrize("codec", list(ImageCodec))
def test_keyframe_round_trip(keyframe, codec):
    op = OperatingPoint(16, 32, 3, 2)
    data = encode_keyframe(keyframe, op, codec=codec)
    assert parse_message(data) == MessageType.KEYFRAME
    out, out_op = decode_keyframe(data)
    assert out_op == op
    assert out.face_model == keyframe.face_model and out.network == keyframe.network
    # The identity and parameters as ``carried`` says (half floats: what the sender then
    # predicts from), close to the originals.
    sent = carried(keyframe)
    assert np.array_equal(out.identity, sent.identity)
    assert np.abs(out.identity - keyframe.identity).max() < 0.01
    p, q = sent.params, out.params
    assert q.seq == p.seq and q.face == p.face and q.scale == p.scale
    for name in ("rotation", "translation", "expression", "keypoints"):
        assert np.array_equal(getattr(q, name), getattr(p, name)), name
        assert np.abs(getattr(q, name) - getattr(keyframe.params, name)).max() < 0.01, name
    assert out.image.shape == keyframe.image.shape
    assert psnr(out.image, keyframe.image) > MIN_PSNR_DB


def test_keyframe_without_keypoints_or_face(keyframe):
    params = type(keyframe.params).no_face(42)
    data = encode_keyframe(
        Keyframe(keyframe.image, keyframe.identity, params, "m"), OperatingPoint()
    )
    out, _ = decode_keyframe(data)
    assert not out.params.face and out.params.keypoints is None and out.params.seq == 42


def _reseal(data: bytes) -> bytes:
    body = data[:-4]
    return body + zlib.crc32(body).to_bytes(4, "little")


def _image_field_offset(data: bytes, image_len: int) -> int:
    """Offset of the (codec, width, height, length) fields before the image bytes."""
    return len(data) - 4 - image_len - 9


def test_oversized_image_is_refused_before_decoding(keyframe):
    image = encode_image(keyframe.image, ImageCodec.JPEG, 80)
    data = encode_keyframe(keyframe, OperatingPoint(), codec=ImageCodec.JPEG, quality=80)
    at = _image_field_offset(data, len(image))
    assert data[at] == ImageCodec.JPEG
    # the keyframe claims a huge image
    huge = bytearray(data)
    huge[at + 1 : at + 3] = (MAX_IMAGE_SIDE + 1).to_bytes(2, "little")
    with pytest.raises(BitstreamError) as info:
        decode_keyframe(_reseal(bytes(huge)))
    assert info.value.code == ErrorCode.TOO_LARGE
    # the JPEG inside claims another (huge) size than the keyframe does
    sof = image.index(b"\xff\xc0")
    lying = bytearray(image)
    lying[sof + 5 : sof + 9] = (30000).to_bytes(2, "big") * 2
    swapped = data[: at + 9] + bytes(lying) + data[at + 9 + len(image) :]
    with pytest.raises(BitstreamError) as info:
        decode_keyframe(_reseal(swapped))
    assert info.value.code == ErrorCode.MALFORMED


def test_corruption_and_versions(keyframe):
    data = encode_keyframe(keyframe, OperatingPoint())
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0x10
    with pytest.raises(BitstreamError) as info:
        decode_keyframe(bytes(flipped))
    assert info.value.code == ErrorCode.MALFORMED
    with pytest.raises(BitstreamError) as info:
        decode_keyframe(data[:40])
    assert info.value.code in (ErrorCode.MALFORMED, ErrorCode.TRUNCATED)
    future = bytes([(FORMAT_VERSION + 1) << 4 | data[0] & 0x0F]) + data[1:]
    with pytest.raises(BitstreamError) as info:
        decode_keyframe(future)
    assert info.value.code == ErrorCode.VERSION
    assert f"version {FORMAT_VERSION + 1}" in str(info.value)


def test_unencodable_keyframes_raise_value_error(keyframe):
    with pytest.raises(ValueError):
        encode_keyframe(keyframe, OperatingPoint(quant_level=9))
    with pytest.raises(ValueError):
        encode_keyframe(
            Keyframe(keyframe.image, np.zeros(600), keyframe.params, ""), OperatingPoint()
        )
