"""Binarisation of integers and the trained context tables (docs/bitstream.md, "Entropy coding").

Integers become binary decisions, each coded by ``rangecoder`` with a context of its own:

- unsigned ``m``: truncated unary ``m > 0``, ``m > 1`` (one context each), then for ``m >= 2``
  an order-0 exp-Golomb code of ``m - 2``: its exponent in unary (contexts per position, the
  last one shared) and its mantissa as plain bits;
- signed ``r``: ``r != 0``, then the sign, then ``|r| - 1`` as unsigned.

Every message starts from the same trained probabilities (``tables/contexts.npz``, written by
``python -m facecodec.codec.train_tables`` on training identities only) and adapts them while it
is decoded, so a message never depends on another for its statistics.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from importlib.resources import as_file, files

import numpy as np

from .errors import BitstreamError, ErrorCode
from .quantize import NUM_FIELD_CONTEXTS, num_quant_levels
from .rangecoder import (
    EXPONENT_BINS,
    MAX_EXPONENT,
    PROB_HALF,
    PROB_MIN,
    PROB_ONE,
    SIGNED_CONTEXTS,
    UNARY_BINS,
    ArithmeticDecoder,
    ArithmeticEncoder,
)

ADAPT_SHIFT = 3
"""Probability adaptation rate within a message (1/8 of the way per coded bit; measured)."""
UNSIGNED_CONTEXTS = UNARY_BINS + EXPONENT_BINS

# Header contexts: one table for every message, whatever its quantisation level.
CTX_OP_SAME = 0
CTX_COUNT = 1
CTX_GAP_IS_INTERVAL = CTX_COUNT + UNSIGNED_CONTEXTS
CTX_GAP = CTX_GAP_IS_INTERVAL + 1
CTX_FACE = CTX_GAP + UNSIGNED_CONTEXTS
"""No-face flag; + 1 when the previous frame (or the reference) had no face either."""
NUM_HEADER_CONTEXTS = CTX_FACE + 2

NUM_FRAME_CONTEXTS = NUM_FIELD_CONTEXTS * SIGNED_CONTEXTS
"""Contexts of one frame's values: ``SIGNED_CONTEXTS`` per field index."""

GAP_CLASS_LIMITS = (1, 2, 3, 5, 10)
"""Upper bounds of the prediction-distance classes 1..5; class 0 is intra, class 6 is > 10."""
NUM_GAP_CLASSES = len(GAP_CLASS_LIMITS) + 2


def gap_class(distance: int | None) -> int:
    """Context class of a frame predicted from ``distance`` frames back (None: intra)."""
    if distance is None:
        return 0
    for cls, limit in enumerate(GAP_CLASS_LIMITS, start=1):
        if distance <= limit:
            return cls
    return NUM_GAP_CLASSES - 1


@dataclass(frozen=True)
class ContextTables:
    """Initial probabilities (of a 0 bit, in units of 2**-15) for every message."""

    header: tuple[int, ...]
    """(NUM_HEADER_CONTEXTS,)"""
    frames: np.ndarray
    """(quant levels, NUM_GAP_CLASSES, NUM_FRAME_CONTEXTS) uint16."""
    _sets: tuple[tuple[tuple[int, ...], ...], ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # Python tuples copy into a fresh list much faster than an array converts.
        sets = tuple(tuple(tuple(s) for s in level.tolist()) for level in self.frames)
        object.__setattr__(self, "_sets", sets)

    def frame_probs(self, quant_level: int, gap_cls: int) -> list[int]:
        """A fresh, mutable copy of one frame context set."""
        return list(self._sets[quant_level][gap_cls])


@lru_cache(maxsize=1)
def context_tables() -> ContextTables:
    """The shipped tables (tables/contexts.npz)."""
    ref = files("facecodec.codec").joinpath("tables", "contexts.npz")
    with as_file(ref) as path, np.load(path, allow_pickle=False) as z:
        header = z["header"].astype(np.int64)
        frames = z["frames"].astype(np.uint16)
    if header.shape != (NUM_HEADER_CONTEXTS,) or frames.shape != (
        num_quant_levels(),
        NUM_GAP_CLASSES,
        NUM_FRAME_CONTEXTS,
    ):
        raise ValueError("contexts.npz does not match this format's context layout")
    return ContextTables(tuple(int(p) for p in header), frames)


def probabilities_from_counts(zeros: np.ndarray, ones: np.ndarray) -> np.ndarray:
    """Trained initial probabilities from bit counts (uniform where nothing was seen)."""
    zeros = np.asarray(zeros, np.float64)
    total = zeros + np.asarray(ones, np.float64)
    p = np.where(total > 0, (zeros + 0.4) / (total + 0.8), 0.5)
    return np.clip(np.rint(p * PROB_ONE), PROB_MIN, PROB_ONE - PROB_MIN).astype(np.uint16)


def encode_unsigned(enc: ArithmeticEncoder, ctx: int, value: int) -> None:
    """Code ``value`` >= 0 with contexts ``ctx .. ctx + UNSIGNED_CONTEXTS - 1``."""
    for j in range(UNARY_BINS):
        if value <= j:
            enc.encode(ctx + j, 0)
            return
        enc.encode(ctx + j, 1)
    rest = value - UNARY_BINS + 1
    exponent = rest.bit_length() - 1
    base = ctx + UNARY_BINS
    for i in range(exponent):
        enc.encode(base + min(i, EXPONENT_BINS - 1), 1)
    enc.encode(base + min(exponent, EXPONENT_BINS - 1), 0)
    if exponent:
        enc.encode_bits(rest, exponent)


def decode_unsigned(dec: ArithmeticDecoder, ctx: int) -> int:
    """Inverse of ``encode_unsigned``; raises BitstreamError past MAX_EXPONENT."""
    for j in range(UNARY_BINS):
        if not dec.decode(ctx + j):
            return j
    base = ctx + UNARY_BINS
    exponent = 0
    while dec.decode(base + min(exponent, EXPONENT_BINS - 1)):
        exponent += 1
        if exponent > MAX_EXPONENT:
            raise BitstreamError(ErrorCode.RANGE, "exp-Golomb code longer than the format allows")
    rest = (1 << exponent) | dec.decode_bits(exponent)
    return rest + UNARY_BINS - 1


def encode_signed(enc: ArithmeticEncoder, ctx: int, value: int) -> None:
    """Code ``value`` with contexts ``ctx .. ctx + SIGNED_CONTEXTS - 1``."""
    if value == 0:
        enc.encode(ctx, 0)
        return
    enc.encode(ctx, 1)
    enc.encode(ctx + 1, value < 0)
    encode_unsigned(enc, ctx + 2, abs(value) - 1)


def decode_signed(dec: ArithmeticDecoder, ctx: int) -> int:
    """Inverse of ``encode_signed``."""
    if not dec.decode(ctx):
        return 0
    negative = dec.decode(ctx + 1)
    magnitude = decode_unsigned(dec, ctx + 2) + 1
    return -magnitude if negative else magnitude


def uniform_tables(quant_levels: int) -> ContextTables:
    """Untrained tables (every probability 1/2), the starting point of training."""
    frames = np.full((quant_levels, NUM_GAP_CLASSES, NUM_FRAME_CONTEXTS), PROB_HALF, np.uint16)
    return ContextTables((PROB_HALF,) * NUM_HEADER_CONTEXTS, frames)
