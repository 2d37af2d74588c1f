"""What operating points this format can carry, checked on both sides."""

from __future__ import annotations

from facecodec.types import MAX_EXPRESSION_DIMS, OperatingPoint

from .errors import BitstreamError, ErrorCode
from .quantize import MAX_KEYPOINTS, num_quant_levels

MAX_FRAME_INTERVAL = 16


def _problem(keypoints: int, dims: int, level: int, interval: int) -> str | None:
    if not 0 <= keypoints <= MAX_KEYPOINTS:
        return f"{keypoints} keypoints (at most {MAX_KEYPOINTS})"
    if not 0 <= dims <= MAX_EXPRESSION_DIMS:
        return f"{dims} expression dims (at most {MAX_EXPRESSION_DIMS})"
    if not 0 <= level < num_quant_levels():
        return f"quantisation level {level} (0 to {num_quant_levels() - 1})"
    if not 1 <= interval <= MAX_FRAME_INTERVAL:
        return f"frame interval {interval} (1 to {MAX_FRAME_INTERVAL})"
    return None


def check_encodable(op: OperatingPoint) -> None:
    """ValueError unless the format can carry ``op``."""
    problem = _problem(op.keypoints, op.expression_dims, op.quant_level, op.frame_interval)
    if problem is not None:
        raise ValueError(f"operating point not supported by the bitstream: {problem}")


def decoded_operating_point(keypoints: int, dims: int, level: int, interval: int) -> OperatingPoint:
    """The operating point a message announced; BitstreamError if the format cannot have it."""
    problem = _problem(keypoints, dims, level, interval)
    if problem is not None:
        raise BitstreamError(ErrorCode.RANGE, f"operating point: {problem}")
    return OperatingPoint(keypoints, dims, level, interval)
