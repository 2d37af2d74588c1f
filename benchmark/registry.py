"""The methods of a ``facecodec bench`` run: classical codecs, and the neural methods where they
can run here (otherwise listed with the reason, as the report shows)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from facecodec.types import OperatingPoint

from .classical import classical_methods
from .facecodec_method import FACECODEC_GRID, FacecodecMethod
from .methods import Method, MethodInput, MethodResult, Mode, Point
from .still import StillKeyframe

BASELINE_API_MISSING = (
    "the receiver has no inference API for the unsupervised-keypoint model yet (its keypoint "
    "detector on the sender side and a keypoint bitstream at matched byte budgets)"
)


@dataclass
class MissingMethod:
    """A method of the comparison that cannot run here; the run reports why."""

    name: str
    reason: str
    modes: frozenset[Mode] = frozenset(Mode)

    def unavailable(self) -> str:
        return self.reason

    def points(self, targets_bps: Sequence[int]) -> list[Point]:
        return []

    def run(self, job: MethodInput) -> MethodResult:
        raise RuntimeError(f"{self.name} is unavailable: {self.reason}")


def all_methods(
    device: str,
    classical_scales: Sequence[float] = (1.0,),
    facecodec_grid: Sequence[OperatingPoint] = FACECODEC_GRID,
) -> list[Method]:
    """Every method of the comparison, available or not; neural receivers run on ``device``."""
    return [
        FacecodecMethod(device, tuple(facecodec_grid)),
        MissingMethod("baseline", BASELINE_API_MISSING),
        StillKeyframe(),
        *classical_methods(classical_scales),
    ]
