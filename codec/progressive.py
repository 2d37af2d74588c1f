"""Progressive keyframes: a first version small enough to cross a narrow link at once, and the
full image in parts that follow within the rate (docs/bitstream.md, "Keyframe part message").

The first version is the same keyframe (identity, parameters, versions) with its image at half
resolution (a third or a quarter if need be), WebP at the highest quality whose whole message
fits ``FIRST_VERSION_MAX_BYTES``: the receiver upsamples it and redraws from it as from the full
image. The full image, coded as a keyframe's always is (or, given a byte limit, at a lower
quality: a sender on a narrow link chooses the limit so that the parts cross it in seconds),
then goes in keyframe part messages and replaces it.
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
FULL_QUALITIES = (80, 70, 60, 50, 40, 30, 20, 10, 5)
"""Full image qualities below the default, tried in this order for a byte limit: on 40
training keyframes (256x256 WebP) 87 takes 9.9 kB at 40.3 dB PSNR, 40 4.2 kB at 34.4 dB,
20 3.0 kB at 32.3 dB, 5 2.0 kB at 30.1 dB (docs/bitstream.md, "Progressive keyframes": a
smaller image upsampled was up to 0.7 dB better at the same bytes; the full size is kept)."""


@dataclass(frozen=True)
class ProgressiveKeyframe:
    first: bytes
    """The keyframe message with the first version of the image."""
    seq: int
    """The keyframe's seq, which its parts name."""
    full: CodedImage
    """The full image the parts carry."""

    def parts(self, part_bytes: int) -> list[bytes]:
        """Keyframe part messages carrying the full image in order, each with at most
        ``part_bytes`` of it (a sender on a link cuts them as it goes: ``PartCutter``)."""
        return encode_keyframe_parts(self.seq, self.full.data, part_bytes)


def encode_progressive_keyframe(
    keyframe: Keyframe,
    op: OperatingPoint,
    max_full_bytes: int | None = None,
    codec: ImageCodec = DEFAULT_IMAGE_CODEC,
    quality: int = DEFAULT_IMAGE_QUALITY,
) -> ProgressiveKeyframe:
    """``keyframe`` as a first version of at most ``FIRST_VERSION_MAX_BYTES`` and its full image
    coded with ``codec`` at ``quality`` (as ``encode_keyframe`` codes it), or at the highest of
    ``FULL_QUALITIES`` below it whose image fits ``max_full_bytes`` (the lowest if none does);
    ValueError if not even the smallest first version fits."""
    h, w = keyframe.image.shape[:2]
    full = full_image(keyframe.image, max_full_bytes, codec, quality)
    refinement = Refinement.of(full.data, codec, w, h)
    for scale in FIRST_VERSION_SCALES:
        side = (max(MIN_IMAGE_SIDE, w // scale), max(MIN_IMAGE_SIDE, h // scale))
        small = dataclasses.replace(
            keyframe, image=cv2.resize(keyframe.image, side, interpolation=cv2.INTER_AREA)
        )
        for q in FIRST_VERSION_QUALITIES:
            first = encode_keyframe(small, op, ImageCodec.WEBP, q, refinement)
            if len(first) <= FIRST_VERSION_MAX_BYTES:
                return ProgressiveKeyframe(first, keyframe.params.seq, full)
    raise ValueError(f"no first version of this keyframe fits {FIRST_VERSION_MAX_BYTES} bytes")


def full_image(
    image: np.ndarray, max_bytes: int | None, codec: ImageCodec, quality: int
) -> CodedImage:
    """(H, W, 3) ``image`` coded at ``quality``, or at the highest of ``FULL_QUALITIES`` below
    it that fits ``max_bytes`` (the lowest if none does); None: at ``quality``."""
    coded = CodedImage.encode(image, codec, quality)
    if max_bytes is None:
        return coded
    for lower in (q for q in FULL_QUALITIES if q < quality):
        if len(coded.data) <= max_bytes:
            break
        coded = CodedImage.encode(image, codec, lower)
    return coded


def upsampled(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """A first version's (h, w, 3) image at the full (height, width, 3), as the receiver
    redraws from it (bicubic, as measured)."""
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_CUBIC)
