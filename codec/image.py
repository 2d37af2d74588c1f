"""The keyframe's source image: JPEG or WebP through OpenCV, with sizes checked before decoding.

``image_size`` reads the width and height from the coded image's own headers (JPEG SOF, simple
WebP VP8/VP8L), so a decoder rejects a huge or lying image before OpenCV allocates anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import cv2
import numpy as np

from .errors import BitstreamError, ErrorCode

MAX_IMAGE_SIDE = 1024
"""Largest keyframe width or height, in pixels."""
MIN_IMAGE_SIDE = 16


class ImageCodec(IntEnum):
    """Image codec of a keyframe (one byte in the keyframe message)."""

    JPEG = 1
    WEBP = 2


DEFAULT_IMAGE_CODEC = ImageCodec.WEBP
DEFAULT_IMAGE_QUALITY = 87
"""Chosen with ``python -m facecodec.codec.choose_image_quality`` (docs/bitstream.md)."""

_EXTENSION = {ImageCodec.JPEG: ".jpg", ImageCodec.WEBP: ".webp"}
_QUALITY_FLAG = {
    ImageCodec.JPEG: cv2.IMWRITE_JPEG_QUALITY,
    ImageCodec.WEBP: cv2.IMWRITE_WEBP_QUALITY,
}


def encode_image(image: np.ndarray, codec: ImageCodec, quality: int) -> bytes:
    """(H, W, 3) RGB uint8 -> coded bytes (quality 1..100; WebP 100 is still lossy here)."""
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) uint8 RGB image, got {image.shape} {image.dtype}")
    h, w = image.shape[:2]
    if not (MIN_IMAGE_SIDE <= h <= MAX_IMAGE_SIDE and MIN_IMAGE_SIDE <= w <= MAX_IMAGE_SIDE):
        raise ValueError(f"image sides must be {MIN_IMAGE_SIDE}..{MAX_IMAGE_SIDE}, got {w}x{h}")
    bgr = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(_EXTENSION[codec], bgr, [_QUALITY_FLAG[codec], int(quality)])
    if not ok:
        raise ValueError(f"OpenCV could not encode {codec.name}")
    return buf.tobytes()


@dataclass(frozen=True)
class CodedImage:
    """An image as a keyframe carries it: coded bytes and what the message says of them."""

    codec: ImageCodec
    width: int
    height: int
    data: bytes

    @classmethod
    def encode(cls, image: np.ndarray, codec: ImageCodec, quality: int) -> CodedImage:
        """(H, W, 3) RGB uint8 coded with ``codec`` at ``quality`` (``encode_image``)."""
        h, w = np.asarray(image).shape[:2]
        return cls(codec, w, h, encode_image(image, codec, quality))

    def decode(self) -> np.ndarray:
        """The (height, width, 3) RGB uint8 image, or BitstreamError (``decode_image``)."""
        return decode_image(self.data, self.codec, self.width, self.height)


def decode_image(data: bytes, codec: ImageCodec, width: int, height: int) -> np.ndarray:
    """Coded bytes -> (height, width, 3) RGB uint8, or BitstreamError.

    The image's own header must announce ``width`` x ``height`` (checked against the limits)
    before OpenCV decodes it.
    """
    if not (
        MIN_IMAGE_SIDE <= width <= MAX_IMAGE_SIDE and MIN_IMAGE_SIDE <= height <= MAX_IMAGE_SIDE
    ):
        raise BitstreamError(ErrorCode.TOO_LARGE, f"keyframe image of {width}x{height} pixels")
    found = image_size(data, codec)
    if found != (width, height):
        raise BitstreamError(
            ErrorCode.MALFORMED, f"image header says {found}, keyframe says {(width, height)}"
        )
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None or bgr.shape != (height, width, 3):
        raise BitstreamError(ErrorCode.MALFORMED, f"{codec.name} image does not decode")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def image_size(data: bytes, codec: ImageCodec) -> tuple[int, int]:
    """(width, height) from the coded image's header; BitstreamError if it has none."""
    size = _jpeg_size(data) if codec == ImageCodec.JPEG else _webp_size(data)
    if size is None:
        raise BitstreamError(ErrorCode.MALFORMED, f"no {codec.name} image header found")
    return size


# Start-of-frame markers: C0-CF except DHT (C4), JPG (C8) and DAC (CC).
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    if data[:2] != b"\xff\xd8":
        return None
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        if length < 2:
            return None
        if marker in _SOF_MARKERS:
            if pos + 9 > len(data):
                return None
            height = int.from_bytes(data[pos + 5 : pos + 7], "big")
            width = int.from_bytes(data[pos + 7 : pos + 9], "big")
            return width, height
        if marker == 0xDA:  # start of scan before any frame header
            return None
        pos += 2 + length
    return None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    if len(data) < 30 or data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        return None
    chunk, body = data[12:16], data[20:]
    if chunk == b"VP8 ":
        if body[3:6] != b"\x9d\x01\x2a":
            return None
        width = int.from_bytes(body[6:8], "little") & 0x3FFF
        height = int.from_bytes(body[8:10], "little") & 0x3FFF
        return width, height
    if chunk == b"VP8L":
        if body[0] != 0x2F:
            return None
        bits = int.from_bytes(body[1:5], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    # VP8X (extended: alpha, animation) is refused: its canvas size need not bound its frames.
    return None
