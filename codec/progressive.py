"""Progressive keyframes: a first version small enough to cross a narrow link at once, and the
full image in parts that follow within the rate (docs/bitstream.md, "Keyframe part message").

The first version is the same keyframe (identity, parameters, versions) with its image at half
resolution (a third or a quarter if need be), WebP at the highest quality whose whole message
fits ``FIRST_VERSION_MAX_BYTES``: the receiver upsamples it and redraws from it as from the full
image. The full image, coded as a keyframe's always is, then goes in
keyframe part messages and replaces it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import cv2
import numpy as np

from facecodec.types import Keyframe, OperatingPoint

from .image import (
    DEFAULT_IMAGE_CODEC,
    DEFAULT_IMAGE_QUALITY,
    MIN_IMAGE_SIDE,
    CodedImage,
    ImageCodec,
)
from .keyframe import Refinement, encode_keyframe
from .keyframe_part import encode_keyframe_parts

FIRST_VERSION_MAX_BYTES = 1000
"""The whole first-version message (fields, image, refinement, CRC): it crosses an 8 kbps link
in about a second."""
FIRST_VERSION_SCALES = (2, 3, 4)
"""The first version's sides are the full image's divided by one of these, the first that fits."""
FIRST_VERSION_QUALITIES = (40, 30, 20, 10, 5, 1)
"""Tried in this order at each scale; the first message that fits is used."""


@dataclass(frozen=True)
class ProgressiveKeyframe:
    first: bytes
    """The keyframe message with the first version of the image."""
    parts: list[bytes]
    """Keyframe part messages carrying the full image, in order."""
    full: CodedImage
    """The full image the parts carry."""


def encode_progressive_keyframe(
    keyframe: Keyframe,
    op: OperatingPoint,
    part_bytes: int,
    codec: ImageCodec = DEFAULT_IMAGE_CODEC,
    quality: int = DEFAULT_IMAGE_QUALITY,
) -> ProgressiveKeyframe:
    """``keyframe`` as a first version of at most ``FIRST_VERSION_MAX_BYTES`` and parts of at
    most ``part_bytes`` of its full image (coded with ``codec`` at ``quality``, as
    ``encode_keyframe`` codes it); ValueError if not even the smallest first version fits."""
    h, w = keyframe.image.shape[:2]
    full = CodedImage.encode(keyframe.image, codec, quality)
    refinement = Refinement.of(full.data, codec, w, h)
    for scale in FIRST_VERSION_SCALES:
        side = (max(MIN_IMAGE_SIDE, w // scale), max(MIN_IMAGE_SIDE, h // scale))
        small = dataclasses.replace(
            keyframe, image=cv2.resize(keyframe.image, side, interpolation=cv2.INTER_AREA)
        )
        for q in FIRST_VERSION_QUALITIES:
            first = encode_keyframe(small, op, ImageCodec.WEBP, q, refinement)
            if len(first) <= FIRST_VERSION_MAX_BYTES:
                parts = encode_keyframe_parts(keyframe.params.seq, full.data, part_bytes)
                return ProgressiveKeyframe(first, parts, full)
    raise ValueError(f"no first version of this keyframe fits {FIRST_VERSION_MAX_BYTES} bytes")


def upsampled(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """A first version's (h, w, 3) image at the full (height, width, 3), as the receiver
    redraws from it (bicubic, as measured)."""
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_CUBIC)
