"""Progressive keyframes: a first version small enough to cross a narrow link at once, and the
full image in parts that follow within the rate (docs/bitstream.md, "Keyframe part message").

The first version is the same keyframe (identity, parameters, versions) with its image at half
resolution, WebP at the highest quality whose image fits ``FIRST_VERSION_MAX_IMAGE_BYTES``: the
receiver upsamples it and redraws from it as from the full image (measured in docs/bitstream.md:
the redrawn frames lose 0.1 dB). The full image, coded as a keyframe's always is, then goes in
keyframe part messages and replaces it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import cv2
import numpy as np

from facecodec.types import Keyframe, OperatingPoint

from .image import DEFAULT_IMAGE_CODEC, DEFAULT_IMAGE_QUALITY, ImageCodec, encode_image
from .keyframe import Refinement, encode_keyframe
from .keyframe_part import encode_keyframe_parts

FIRST_VERSION_SCALE = 2
"""The first version's sides are the full image's divided by this."""
FIRST_VERSION_MAX_IMAGE_BYTES = 1000
FIRST_VERSION_QUALITIES = (40, 30, 20, 10, 5, 1)
"""Tried in this order; the first whose image fits is used (the last one otherwise)."""


@dataclass(frozen=True)
class ProgressiveKeyframe:
    first: bytes
    """The keyframe message with the first version of the image."""
    parts: list[bytes]
    """Keyframe part messages carrying the full image, in order."""


def encode_progressive_keyframe(
    keyframe: Keyframe,
    op: OperatingPoint,
    part_bytes: int,
    codec: ImageCodec = DEFAULT_IMAGE_CODEC,
    quality: int = DEFAULT_IMAGE_QUALITY,
) -> ProgressiveKeyframe:
    """``keyframe`` as a first version and parts of at most ``part_bytes`` of its full image
    (coded with ``codec`` at ``quality``, as ``encode_keyframe`` codes it)."""
    h, w = keyframe.image.shape[:2]
    full = encode_image(keyframe.image, codec, quality)
    refinement = Refinement.of(full, codec, w, h)
    side = (w // FIRST_VERSION_SCALE, h // FIRST_VERSION_SCALE)
    small = cv2.resize(keyframe.image, side, interpolation=cv2.INTER_AREA)
    first_quality = FIRST_VERSION_QUALITIES[-1]
    for q in FIRST_VERSION_QUALITIES:
        if len(encode_image(small, ImageCodec.WEBP, q)) <= FIRST_VERSION_MAX_IMAGE_BYTES:
            first_quality = q
            break
    first = encode_keyframe(
        dataclasses.replace(keyframe, image=small), op, ImageCodec.WEBP, first_quality, refinement
    )
    return ProgressiveKeyframe(first, encode_keyframe_parts(keyframe.params.seq, full, part_bytes))


def upsampled(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """A first version's (h, w, 3) image at the full (height, width, 3), as the receiver
    redraws from it (bicubic, as measured)."""
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_CUBIC)
