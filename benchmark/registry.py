"""The methods of a ``facecodec bench`` run: classical codecs, and the neural methods where they
can run here (otherwise listed with the reason, as the report shows)."""

from __future__ import annotations

from collections.abc import Sequence

from facecodec.types import OperatingPoint

from .baseline_method import BaselineMethod
from .classical import classical_methods
from .facecodec_method import FACECODEC_GRID, FacecodecMethod
from .methods import Method
from .still import StillKeyframe


def all_methods(
    device: str,
    classical_scales: Sequence[float] = (1.0,),
    facecodec_grid: Sequence[OperatingPoint] = FACECODEC_GRID,
) -> list[Method]:
    """Every method of the comparison, available or not; neural receivers run on ``device``."""
    return [
        FacecodecMethod(device, tuple(facecodec_grid)),
        FacecodecMethod(device, tuple(facecodec_grid), name="facecodec-small", model="small"),
        BaselineMethod(device),
        StillKeyframe(),
        *classical_methods(classical_scales),
    ]
