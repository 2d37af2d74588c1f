"""Quantisation of FrameParams fields (docs/bitstream.md, "Quantisation").

Every coded value is ``index * step`` with a step per field, taken from the quantisation level
``OperatingPoint.quant_level`` selects. The steps live in ``tables/quant_levels.json``, written
by ``python -m facecodec.codec.fit_quant`` from measurements on real data: each level spends the
same keypoint error (in pixels of a 256 crop) on every field, so that no field is quantised
finer than the others deserve.

A frame's coded values form one vector, in this order (the "field layout"):

    rotation (3) | translation (3) | scale (1) | expression (d) | keypoints (k x 3, row-major)

where d = OperatingPoint.expression_dims and k = OperatingPoint.keypoints.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import IntEnum
from functools import lru_cache
from importlib.resources import files

import numpy as np

from facecodec.types import MAX_EXPRESSION_DIMS

MAX_KEYPOINTS = 64
"""Explicit keypoints a frame message can carry (the face model defines 32)."""
KEYPOINT_CONTEXT_ROWS = 32
"""Keypoints from this index on share the entropy coder's contexts of the last row."""

POSE_FIELDS = 7
"""rotation (3), translation (3), scale (1)."""
ROTATION_LIMIT_RAD = float(np.pi)
TRANSLATION_LIMIT = 4.0
"""Crop units (half the crop width): the face origin stays within two crop widths."""
SCALE_MAX = 8.0
EXPRESSION_LIMIT = 32.0
"""Whitened expression coefficients (unit variance over the training data)."""
KEYPOINT_LIMIT = 4.0
"""Crop units, for absolute keypoints and for residuals against the model alike."""


class KeypointMode(IntEnum):
    """How explicit keypoints are coded."""

    DIRECT = 0
    """Absolute positions in crop coordinates."""
    MODEL_RESIDUAL = 1
    """Differences from what the face model predicts from the decoded pose and expression."""


@dataclass(frozen=True)
class QuantLevel:
    """Step sizes of one quantisation level."""

    rotation: tuple[float, float, float]
    """Radians for pitch, yaw, roll."""
    translation: tuple[float, float, float]
    """Crop units for x, y, z."""
    scale: float
    expression: tuple[float, ...]
    """(MAX_EXPRESSION_DIMS,) whitened units per dimension."""
    keypoint: float
    """Crop units, every keypoint and axis."""


@dataclass(frozen=True)
class QuantTables:
    """The quantisation levels and intra predictors of this format version."""

    levels: tuple[QuantLevel, ...]
    intra_scale: float
    """Scale that an intra-coded frame predicts (the median of the training data)."""


@dataclass(frozen=True)
class FieldLayout:
    """Per-value arrays of one frame's coded vector (length ``7 + d + 3k``)."""

    steps: np.ndarray
    """(n,) float64 step sizes."""
    limits_low: np.ndarray
    """(n,) float64 smallest valid value."""
    limits_high: np.ndarray
    """(n,) float64 largest valid value."""
    contexts: tuple[int, ...]
    """(n,) entropy-coder field index of each value (see ``entropy.FIELD_CONTEXTS``)."""
    intra: np.ndarray
    """(n,) float64 value an intra-coded frame predicts."""


@lru_cache(maxsize=1)
def quant_tables() -> QuantTables:
    """The shipped tables (tables/quant_levels.json)."""
    text = files("facecodec.codec").joinpath("tables", "quant_levels.json").read_text()
    raw = json.loads(text)
    levels = tuple(
        QuantLevel(
            rotation=tuple(level["rotation"]),
            translation=tuple(level["translation"]),
            scale=float(level["scale"]),
            expression=tuple(level["expression"]),
            keypoint=float(level["keypoint"]),
        )
        for level in raw["levels"]
    )
    if any(len(level.expression) != MAX_EXPRESSION_DIMS for level in levels):
        raise ValueError("quant_levels.json: every level needs one step per expression dim")
    return QuantTables(levels=levels, intra_scale=float(raw["intra_scale"]))


def num_quant_levels() -> int:
    return len(quant_tables().levels)


def field_context(position: int, expression_dims: int, mode: KeypointMode) -> int:
    """Entropy-coder field index of ``position`` in the layout of ``expression_dims`` dims."""
    if position < POSE_FIELDS:
        return position
    if position < POSE_FIELDS + expression_dims:
        return position
    k = position - POSE_FIELDS - expression_dims
    row = min(k // 3, KEYPOINT_CONTEXT_ROWS - 1)
    base = POSE_FIELDS + MAX_EXPRESSION_DIMS + int(mode) * 3 * KEYPOINT_CONTEXT_ROWS
    return base + 3 * row + k % 3


NUM_FIELD_CONTEXTS = POSE_FIELDS + MAX_EXPRESSION_DIMS + 2 * 3 * KEYPOINT_CONTEXT_ROWS


@lru_cache(maxsize=256)
def field_layout(
    quant_level: int, expression_dims: int, keypoints: int, mode: KeypointMode
) -> FieldLayout:
    """Steps, limits, contexts and intra predictors for one operating point."""
    tables = quant_tables()
    level = tables.levels[quant_level]
    d, k = expression_dims, keypoints
    steps = np.concatenate(
        [
            level.rotation,
            level.translation,
            [level.scale],
            level.expression[:d],
            np.full(3 * k, level.keypoint),
        ]
    ).astype(np.float64)
    low = np.concatenate(
        [
            np.full(3, -ROTATION_LIMIT_RAD),
            np.full(3, -TRANSLATION_LIMIT),
            [0.0],
            np.full(d, -EXPRESSION_LIMIT),
            np.full(3 * k, -KEYPOINT_LIMIT),
        ]
    )
    high = -low
    high[6] = SCALE_MAX
    intra = np.zeros_like(steps)
    intra[6] = tables.intra_scale
    contexts = tuple(field_context(i, d, mode) for i in range(steps.size))
    for array in (steps, low, high, intra):
        array.setflags(write=False)
    return FieldLayout(steps, low, high, contexts, intra)


def in_steps(
    values: np.ndarray, steps: np.ndarray, low: np.ndarray, high: np.ndarray
) -> np.ndarray:
    """(n,) values, clipped to [low, high], in units of their steps (round to get the indices);
    ValueError for NaN."""
    values = np.asarray(values, np.float64)
    if np.isnan(values).any():
        raise ValueError("cannot quantise NaN")
    return np.minimum(np.maximum(values, low), high) / steps


def index_limits(layout: FieldLayout) -> tuple[np.ndarray, np.ndarray]:
    """(n,) int64 smallest and largest index a valid stream can carry."""
    low = np.rint(layout.limits_low / layout.steps).astype(np.int64)
    high = np.rint(layout.limits_high / layout.steps).astype(np.int64)
    return low, high
