"""The zero-motion floor: send the keyframe (coded as the codec's keyframes are) and show it for
every frame. Any method worth its bytes must beat it on AKD; it also makes the reenactment
scores of a run interpretable (identity perfect, expression never transferred)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from facecodec.codec.image import (
    DEFAULT_IMAGE_CODEC,
    DEFAULT_IMAGE_QUALITY,
    decode_image,
    encode_image,
)

from .methods import Message, MessageKind, MethodInput, MethodResult, Mode, Point

KEYFRAME_ONLY = "keyframe-only"


@dataclass
class StillKeyframe:
    name: str = "still"
    modes: frozenset[Mode] = frozenset(Mode)

    def unavailable(self) -> str | None:
        return None

    def points(self, targets_bps: Sequence[int]) -> list[Point]:
        return [Point(KEYFRAME_ONLY, None)]

    def run(self, job: MethodInput) -> MethodResult:
        """One keyframe at the start; with a refresh interval N, again at every N-th frame
        counting the source as frame 0 (driving frame i is frame i + 1), as the classical
        codecs' intra period counts."""
        n = len(job.driving)
        interval = job.keyframe_interval or n + 1
        start = time.perf_counter()
        coded = [encode_image(job.source, DEFAULT_IMAGE_CODEC, DEFAULT_IMAGE_QUALITY)]
        coded += [
            encode_image(job.driving[i], DEFAULT_IMAGE_CODEC, DEFAULT_IMAGE_QUALITY)
            for i in range(interval - 1, n, interval)
        ]
        sender_ms = 1000 * (time.perf_counter() - start)
        start = time.perf_counter()
        h, w = job.source.shape[:2]
        shown = [decode_image(data, DEFAULT_IMAGE_CODEC, w, h) for data in coded]
        frames = np.stack([shown[(i + 1) // interval] for i in range(n)])
        receiver_ms = 1000 * (time.perf_counter() - start)
        messages = [Message(MessageKind.KEYFRAME, len(data)) for data in coded]
        return MethodResult(frames, messages, sender_ms, receiver_ms, "cpu")
