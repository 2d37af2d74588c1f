"""The keyframes a sender sent, kept to be named again in a later call (docs/call.md, "Keyframe
cache").

A receiver keeps the keyframes it received; for one of them to be used again, the sender must
send that very keyframe (image, identity, source pose and expression), not a new one of the
same person. So the sender keeps its own, and at the start of a call offers the newest one made
for the same face model and network whose identity is close to the live one: the face shape of
the two identity codes (the face model's mean shape plus each identity) within
``SAME_FACE_MAX_DISTANCE``. That bound keeps the keyframe of a clearly different face from
being offered; it cannot tell two similar people apart (measured in docs/call.md), so a sender
shared by several people turns the cache off (``--no-keyframe-cache``).
"""

from __future__ import annotations

import itertools

import numpy as np

from facecodec.codec import BitstreamError, decode_keyframe_message, keyframe_entry
from facecodec.codec.image import CodedImage
from facecodec.sender.face_model import FaceModel
from facecodec.types import Keyframe

from .keyframe_cache import KeyframeCache

SAME_FACE_MAX_DISTANCE = 0.015
"""Mean distance of the 478 vertices of two identities' shapes, in the face model's canonical
units, up to which a kept keyframe is offered (``python -m facecodec.benchmark.same_face``: 88%
of pairs of clips of one person within it, 12% of pairs of two people)."""
MAX_CANDIDATES = 8
"""Kept keyframes looked at, the most recently used first (each one is decoded)."""


class SentKeyframes:
    """A sender's kept keyframes (see the module docstring)."""

    def __init__(self, cache: KeyframeCache, face_model: FaceModel | None = None) -> None:
        self.cache = cache
        self.face_model = face_model or FaceModel.load()

    def remember(self, keyframe: Keyframe, image: CodedImage) -> None:
        """Keep ``keyframe``, whose full image went as ``image``."""
        self.cache.put(keyframe_entry(keyframe, image))

    def find(self, live: Keyframe) -> tuple[bytes, Keyframe] | None:
        """(key, keyframe) of the kept keyframe to offer instead of ``live``, or None."""
        if live.face_model != self.face_model.version:
            return None  # another prior's identity codes: nothing to compare them with
        for key, entry in itertools.islice(self.cache.entries(), MAX_CANDIDATES):
            try:
                kept = decode_keyframe_message(entry).keyframe
            except BitstreamError:
                continue
            if self._same_face(kept, live):
                self.cache.get(key)  # now the most recently used
                return key, kept
        return None

    def _same_face(self, kept: Keyframe, live: Keyframe) -> bool:
        return (
            (kept.face_model, kept.network) == (live.face_model, live.network)
            and kept.identity.shape == live.identity.shape
            and self.distance(kept.identity, live.identity) <= SAME_FACE_MAX_DISTANCE
        )

    def distance(self, a: np.ndarray, b: np.ndarray) -> float:
        """Mean vertex distance of the neutral shapes of identity codes ``a`` and ``b``."""
        difference = self.face_model.shape(a) - self.face_model.shape(b)
        return float(np.linalg.norm(difference, axis=-1).mean())
