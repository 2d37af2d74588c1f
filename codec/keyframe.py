"""Keyframe messages: the source image, identity, versions and operating point.

The keyframe opens a stream and replaces the source whenever the sender sends a new one; it goes
over the reliable channel. Layout (little-endian; docs/bitstream.md, "Keyframe message")::

    u8      FORMAT_VERSION << 4 | KEYFRAME (1)
    varint  seq of the keyframe's own frame
    u8 x4   operating point: keypoints, expression_dims, quant_level, frame_interval
    str     face model version          (str = u8 byte length + UTF-8)
    str     network version ('' = any)
    u16     identity dims n, then n x f16 identity coefficients
    u8      flags: bit 0 face, bit 1 keypoints present, bit 2 progressive
    f16 x7  rotation (3, rad), translation (3, crop units), scale
    u8      expression dims d, then d x f16
    [u8     keypoints k, then 3k x f16]             if flag bit 1
    u8      image codec (1 JPEG, 2 WebP), u16 width, u16 height, u32 length, image bytes
    [u8     refinement image codec, u16 width, u16 height, u32 length, u32 CRC-32 of its bytes]
                                                    if flag bit 2 (a progressive keyframe)
    u32     CRC-32 of everything before it

A progressive keyframe's image is a small first version; the full image follows in keyframe
part messages (codec/keyframe_part.py) and replaces it, for the same keyframe seq.

The floats are IEEE half floats (format version 2; version 1 sent f32): they halve the fields
that a progressive keyframe's first version must fit into 1 kB with, and both ends use the
values as carried (``carried``), so the frames' prediction and the keypoint model agree exactly.

Plain fields instead of msgpack and no zstd: both cost bytes here (measured in
docs/bitstream.md); the CRC-32 guards the one message whose silent corruption would spoil a
whole call (the transport's checks end at the data channel).
"""

from __future__ import annotations

import dataclasses
import zlib
from dataclasses import dataclass

import numpy as np

from facecodec.types import MAX_EXPRESSION_DIMS, FrameParams, Keyframe, OperatingPoint

from .errors import BitstreamError, ErrorCode
from .image import (
    DEFAULT_IMAGE_CODEC,
    DEFAULT_IMAGE_QUALITY,
    MAX_IMAGE_SIDE,
    MIN_IMAGE_SIDE,
    CodedImage,
    ImageCodec,
)
from .messages import MessageType, expect_type, type_byte
from .operating_point import check_encodable, decoded_operating_point
from .quantize import (
    EXPRESSION_LIMIT,
    KEYPOINT_LIMIT,
    MAX_KEYPOINTS,
    ROTATION_LIMIT_RAD,
    SCALE_MAX,
    TRANSLATION_LIMIT,
)
from .reader import ByteReader, half_float, pack_f16, pack_text, write_varint

MAX_IDENTITY_DIMS = 512
IDENTITY_LIMIT = 64.0
"""Largest identity coefficient magnitude (whitened codes stay within a few units)."""
MAX_IMAGE_BYTES = 3 * MAX_IMAGE_SIDE * MAX_IMAGE_SIDE
MAX_SEQ = (1 << 48) - 1
_FLAG_FACE = 1
_FLAG_KEYPOINTS = 2
_FLAG_REFINED = 4


@dataclass(frozen=True)
class Refinement:
    """What a progressive keyframe promises: the full image that its parts will carry."""

    codec: ImageCodec
    width: int
    height: int
    length: int
    """Bytes of the coded full image (1..MAX_IMAGE_BYTES)."""
    crc: int
    """zlib CRC-32 of the coded full image: the receiver uses it only if this matches."""

    @classmethod
    def of(cls, image: bytes, codec: ImageCodec, width: int, height: int) -> Refinement:
        return cls(codec, width, height, len(image), zlib.crc32(image))


@dataclass(frozen=True)
class KeyframeMessage:
    """A decoded keyframe message."""

    keyframe: Keyframe
    """For a progressive keyframe, ``keyframe.image`` is the small first version as coded."""
    op: OperatingPoint
    image: CodedImage
    """``keyframe.image`` as the message carries it."""
    refinement: Refinement | None = None
    """Set for a progressive keyframe."""


def carried(keyframe: Keyframe) -> Keyframe:
    """``keyframe`` with its identity and parameters as its message carries them (half floats):
    what the receiver decodes, which the sender must predict and compute keypoints from."""
    return dataclasses.replace(
        keyframe,
        identity=half_float(keyframe.identity),
        params=carried_params(keyframe.params),
    )


def carried_params(p: FrameParams) -> FrameParams:
    """A keyframe's parameters as its message carries them (see ``carried``)."""
    return dataclasses.replace(
        p,
        rotation=half_float(p.rotation),
        translation=half_float(p.translation),
        scale=float(half_float(p.scale)),
        expression=half_float(p.expression),
        keypoints=None if p.keypoints is None else half_float(p.keypoints),
    )


def encode_keyframe(
    keyframe: Keyframe,
    op: OperatingPoint,
    codec: ImageCodec = DEFAULT_IMAGE_CODEC,
    quality: int = DEFAULT_IMAGE_QUALITY,
    refinement: Refinement | None = None,
) -> bytes:
    """One keyframe message; ValueError for a keyframe the format cannot carry.

    With ``refinement`` it is a progressive keyframe: ``keyframe.image`` is the first version
    (no larger than the refinement's sides) and the full image follows in keyframe parts.
    """
    return encode_coded_keyframe(
        keyframe, op, CodedImage.encode(keyframe.image, codec, quality), refinement
    )


def encode_coded_keyframe(
    keyframe: Keyframe,
    op: OperatingPoint,
    image: CodedImage,
    refinement: Refinement | None = None,
) -> bytes:
    """``encode_keyframe`` with the image already coded (``keyframe.image`` is not read)."""
    identity = np.asarray(keyframe.identity, np.float32).reshape(-1)
    if identity.size > MAX_IDENTITY_DIMS:
        raise ValueError(f"at most {MAX_IDENTITY_DIMS} identity coefficients")
    check_encodable(op)
    p = keyframe.params
    if not 0 <= p.seq <= MAX_SEQ:
        raise ValueError(f"keyframe seq out of range: {p.seq}")
    w, h = image.width, image.height
    flags = (_FLAG_FACE if p.face else 0) | (_FLAG_KEYPOINTS if p.keypoints is not None else 0)
    flags |= _FLAG_REFINED if refinement is not None else 0
    parts = [
        bytes([type_byte(MessageType.KEYFRAME)]),
        write_varint(p.seq),
        bytes([op.keypoints, op.expression_dims, op.quant_level, op.frame_interval]),
        pack_text(keyframe.face_model),
        pack_text(keyframe.network),
        identity.size.to_bytes(2, "little"),
        pack_f16(identity),
        bytes([flags]),
        pack_f16(np.concatenate([p.rotation, p.translation, [p.scale]])),
        bytes([p.expression.size]),
        pack_f16(p.expression),
    ]
    if p.keypoints is not None:
        if p.keypoints.shape[0] > MAX_KEYPOINTS:
            raise ValueError(f"at most {MAX_KEYPOINTS} keyframe keypoints")
        parts += [bytes([p.keypoints.shape[0]]), pack_f16(p.keypoints.reshape(-1))]
    parts += [
        bytes([int(image.codec)]),
        w.to_bytes(2, "little"),
        h.to_bytes(2, "little"),
        len(image.data).to_bytes(4, "little"),
        image.data,
    ]
    if refinement is not None:
        if refinement.width < w or refinement.height < h:
            raise ValueError("a keyframe's first version must not be larger than its refinement")
        parts += [
            bytes([int(refinement.codec)]),
            refinement.width.to_bytes(2, "little"),
            refinement.height.to_bytes(2, "little"),
            refinement.length.to_bytes(4, "little"),
            refinement.crc.to_bytes(4, "little"),
        ]
    body = b"".join(parts)
    return body + zlib.crc32(body).to_bytes(4, "little")


def decode_keyframe(data: bytes) -> tuple[Keyframe, OperatingPoint]:
    """Inverse of ``encode_keyframe``; BitstreamError for anything else (a progressive
    keyframe gives its first version's image: ``decode_keyframe_message`` for the rest)."""
    message = decode_keyframe_message(data)
    return message.keyframe, message.op


def decode_keyframe_message(data: bytes) -> KeyframeMessage:
    """A keyframe message, with the refinement a progressive keyframe promises;
    BitstreamError for anything else."""
    expect_type(data, MessageType.KEYFRAME)
    if len(data) < 5:
        raise BitstreamError(ErrorCode.TRUNCATED, "keyframe message shorter than its checksum")
    if zlib.crc32(data[:-4]) != int.from_bytes(data[-4:], "little"):
        raise BitstreamError(ErrorCode.MALFORMED, "keyframe checksum mismatch")
    r = ByteReader(data[:-4], "keyframe", start=1)
    seq = r.varint("seq", MAX_SEQ)
    op = decoded_operating_point(*r.take(4, "operating point"))
    face_model = r.text("face model version")
    network = r.text("network version")
    n_id = r.u16("identity dims")
    if n_id > MAX_IDENTITY_DIMS:
        raise BitstreamError(ErrorCode.TOO_LARGE, f"keyframe: {n_id} identity dims")
    identity = _bounded(r.f16(n_id, "identity"), IDENTITY_LIMIT, "identity")
    flags = r.u8("flags")
    if flags & ~(_FLAG_FACE | _FLAG_KEYPOINTS | _FLAG_REFINED):
        raise BitstreamError(ErrorCode.MALFORMED, f"keyframe: unknown flags {flags:#x}")
    pose = r.f16(7, "pose")
    _bounded(pose[:3], ROTATION_LIMIT_RAD, "rotation")
    _bounded(pose[3:6], TRANSLATION_LIMIT, "translation")
    if not 0 <= pose[6] <= SCALE_MAX:
        raise BitstreamError(ErrorCode.RANGE, f"keyframe: scale {pose[6]} out of range")
    dims = r.u8("expression dims")
    if dims > MAX_EXPRESSION_DIMS:
        raise BitstreamError(ErrorCode.TOO_LARGE, f"keyframe: {dims} expression dims")
    expression = _bounded(r.f16(dims, "expression"), EXPRESSION_LIMIT, "expression")
    keypoints = None
    if flags & _FLAG_KEYPOINTS:
        k = r.u8("keypoint count")
        if k > MAX_KEYPOINTS:
            raise BitstreamError(ErrorCode.TOO_LARGE, f"keyframe: {k} keypoints")
        keypoints = _bounded(r.f16(3 * k, "keypoints"), KEYPOINT_LIMIT, "keypoints").reshape(k, 3)
    codec = _image_codec(r)
    width, height = r.u16("image width"), r.u16("image height")
    coded = CodedImage(codec, width, height, r.take(_image_length(r), "image"))
    refinement = None
    if flags & _FLAG_REFINED:
        refinement = _refinement(r, width, height)
    r.end()
    image = coded.decode()
    params = FrameParams(
        seq=seq,
        rotation=pose[:3],
        translation=pose[3:6],
        scale=float(pose[6]),
        expression=expression,
        keypoints=keypoints,
        face=bool(flags & _FLAG_FACE),
    )
    keyframe = Keyframe(image, identity, params, face_model, network)
    return KeyframeMessage(keyframe, op, coded, refinement)


def _image_codec(r: ByteReader) -> ImageCodec:
    codec_id = r.u8("image codec")
    if codec_id not in ImageCodec._value2member_map_:
        raise BitstreamError(ErrorCode.MALFORMED, f"keyframe: unknown image codec {codec_id}")
    return ImageCodec(codec_id)


def _image_length(r: ByteReader) -> int:
    length = r.u32("image length")
    if length > MAX_IMAGE_BYTES:
        raise BitstreamError(ErrorCode.TOO_LARGE, f"keyframe: image of {length} bytes")
    return length


def _refinement(r: ByteReader, first_width: int, first_height: int) -> Refinement:
    """The refinement fields; its image must be within the limits and no smaller than the
    first version's."""
    codec = _image_codec(r)
    width, height = r.u16("refinement width"), r.u16("refinement height")
    if not (
        MIN_IMAGE_SIDE <= width <= MAX_IMAGE_SIDE and MIN_IMAGE_SIDE <= height <= MAX_IMAGE_SIDE
    ):
        raise BitstreamError(ErrorCode.TOO_LARGE, f"keyframe: refinement of {width}x{height}")
    if width < first_width or height < first_height:
        raise BitstreamError(ErrorCode.MALFORMED, "keyframe: refinement smaller than its image")
    length = _image_length(r)
    if length == 0:
        raise BitstreamError(ErrorCode.MALFORMED, "keyframe: empty refinement")
    return Refinement(codec, width, height, length, r.u32("refinement CRC-32"))


def _bounded(values: np.ndarray, limit: float, field: str) -> np.ndarray:
    if np.abs(values).max(initial=0.0) > limit:
        raise BitstreamError(ErrorCode.RANGE, f"keyframe: {field} beyond +-{limit}")
    return values
