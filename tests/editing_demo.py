"""Real frames for the editing tests: every third frame of the bundled demo clip (8 s),
landmarked and fitted at test time (facecodec/samples; no other footage needed), cached for the
whole test session."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from facecodec.editing.clip_fit import FittedPerson, fit_person
from facecodec.sender.face_model import FaceModel

DEMO = Path(__file__).resolve().parents[1] / "facecodec" / "samples" / "menendez_8s_256.mp4"
STEP = 3
PX = 128.0
"""Crop units -> pixels of a 256 crop."""


@lru_cache(maxsize=1)
def model() -> FaceModel:
    return FaceModel.load()


@lru_cache(maxsize=1)
def demo() -> FittedPerson:
    """The demo clip's identity and its 67 fitted frames."""
    return fit_person(model(), [DEMO], step=STEP)
