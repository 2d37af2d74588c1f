"""Emotion edits of the expression code: move the driver's code towards a target emotion with a
strength in [0, 1] while the mouth opens and closes exactly as the driver's (docs/editing.md).

An emotion is a direction in the 50-dim whitened expression space, learned from acted clips
(``learn_emotions``) and shipped in ``assets/emotion_directions.json`` with the version of the
face model it belongs to. The edit adds ``strength * P d``: d the emotion's direction, P the
projection (``mouth.keep_opening``) that removes what would change the lip gaps or the jaw.
"""

from __future__ import annotations

import importlib.resources
import json
import math
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import numpy as np

from facecodec.editing.motion import HeadPose, replace_motion
from facecodec.editing.mouth import keep_opening
from facecodec.sender.face_model import FaceModel
from facecodec.types import MAX_EXPRESSION_DIMS, FrameParams

FORMAT = "facecodec-emotion-directions/1"
ASSET_NAME = "emotion_directions.json"
NEUTRAL = "neutral"
"""The label every direction is measured from."""
DEFAULT_STRENGTH = 0.6
"""Strength when none is given (the command line's default): clearly visible, short of the
full acted emotion."""


class Emotion(Enum):
    """The acted emotions of the labeled clips (MEAD's eight, less the neutral reference)."""

    ANGRY = "angry"
    CONTEMPT = "contempt"
    DISGUSTED = "disgusted"
    FEAR = "fear"
    HAPPY = "happy"
    SAD = "sad"
    SURPRISED = "surprised"


@dataclass(frozen=True)
class EmotionDirections:
    """Per-emotion directions in the expression space of one face model version."""

    face_model: str
    """Version of the face model whose expression codes the directions live in."""
    directions: dict[Emotion, np.ndarray]
    """(50,) mean code of the emotion minus the same person's neutral mean, averaged over
    people, whitened units (pose part removed)."""
    people: tuple[str, ...] = ()
    """Identities learned from."""

    @classmethod
    def load(cls, path: str | Path | None = None) -> EmotionDirections:
        """Read a directions file; ``None`` reads the one shipped with facecodec.editing."""
        if path is None:
            ref = importlib.resources.files("facecodec.editing").joinpath("assets", ASSET_NAME)
            return cls.from_json(ref.read_text())
        return cls.from_json(Path(path).read_text())

    @classmethod
    def from_json(cls, text: str) -> EmotionDirections:
        data = json.loads(text)
        if data.get("format") != FORMAT:
            raise ValueError(f"not an emotion directions file of format {FORMAT}")
        directions = {
            Emotion(name): np.asarray(values, np.float32)
            for name, values in data["directions"].items()
        }
        return cls(data["face_model"], directions, tuple(data["people"]))

    def to_json(self, **extra: object) -> str:
        """The file's text, one line per direction; ``extra`` adds informational keys (how it
        was learned)."""
        head = {
            "format": FORMAT,
            "face_model": self.face_model,
            "reference": NEUTRAL,
            "people": list(self.people),
            **extra,
        }
        rows = ",\n".join(
            f"  {json.dumps(e.value)}: {json.dumps([round(float(v), 5) for v in d])}"
            for e, d in self.directions.items()
        )
        return json.dumps(head, indent=1)[:-2] + f',\n "directions": {{\n{rows}\n }}\n}}\n'

    def check(self, model: FaceModel) -> None:
        """Refuse a face model the directions were not learned for."""
        if model.version != self.face_model:
            raise ValueError(
                f"emotion directions were learned for face model {self.face_model}, not "
                f"{model.version}: relearn them (python -m facecodec.editing.learn_emotions)"
            )
        for emotion, d in self.directions.items():
            if d.shape != (model.expression_dims,):
                raise ValueError(f"direction {emotion.value} has shape {d.shape}")


@dataclass(frozen=True)
class EmotionEdit:
    """Which emotion to move towards, and how far."""

    emotion: Emotion
    strength: float = DEFAULT_STRENGTH
    """In [0, 1]: 0 leaves the code alone, 1 adds the whole (mouth-projected) direction, the
    average acted emotion of the training clips."""

    def __post_init__(self) -> None:
        if not (math.isfinite(self.strength) and 0.0 <= self.strength <= 1.0):
            raise ValueError(f"emotion strength must be in [0, 1], got {self.strength}")


class EmotionEditor:
    """Applies an ``EmotionEdit`` to frames (stateless; the projections are cached per code
    length)."""

    def __init__(
        self, edit: EmotionEdit, model: FaceModel, directions: EmotionDirections | None = None
    ) -> None:
        directions = directions or EmotionDirections.load()
        directions.check(model)
        if edit.emotion not in directions.directions:
            raise ValueError(f"no direction for {edit.emotion.value} in the directions file")
        self.edit = edit
        self.model = model
        self.direction = directions.directions[edit.emotion]
        self._offsets: dict[int, np.ndarray] = {}

    def offset(self, dims: int = MAX_EXPRESSION_DIMS) -> np.ndarray:
        """(50,) code change of the edit confined to the leading ``dims`` dims (zero beyond),
        so that the mouth opening stays exact for a receiver that sees only those dims."""
        if dims not in self._offsets:
            out = np.zeros(MAX_EXPRESSION_DIMS, np.float32)
            d = self.direction[:dims].astype(np.float64)
            out[:dims] = self.edit.strength * keep_opening(self.model, dims) @ d
            self._offsets[dims] = out
        return self._offsets[dims]

    def __call__(
        self, params: FrameParams, expression_dims: int = MAX_EXPRESSION_DIMS
    ) -> FrameParams:
        """The frame with the edit added to its full code (frames without a face and strength 0
        pass unchanged). On the sender pass the operating point's ``expression_dims``: the
        encoder truncates the code to them, and an edit beyond them would be cut off there."""
        if not params.face or self.edit.strength == 0.0:
            return params
        expression = params.full_expression() + self.offset(expression_dims)
        return replace_motion(self.model, params, HeadPose.of(params), expression)
