"""The methods of a ``facecodec bench`` run: classical codecs, and the neural methods where they
can run here (otherwise listed with the reason, as the report shows)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from facecodec.receiver.weights import BASELINE_WEIGHTS, PRIOR_WEIGHTS, load_weights

from .classical import classical_methods
from .methods import Method, MethodInput, MethodResult, Mode, Point
from .still import StillKeyframe

NEURAL_ADAPTER_MISSING = (
    "its adapter to the public sender/codec/receiver APIs is not wired yet "
    "(docs/benchmarks.md, 'Plugging in a method')"
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


def _weights_problem(name: str) -> str | None:
    try:
        load_weights(name)
    except (FileNotFoundError, ValueError) as exc:
        return str(exc)
    return None


def neural_methods() -> list[Method]:
    """facecodec (semantic prior) and the unsupervised-keypoint baseline."""
    methods: list[Method] = []
    for method, weights in (("facecodec", PRIOR_WEIGHTS), ("baseline", BASELINE_WEIGHTS)):
        problem = _weights_problem(weights)
        reason = NEURAL_ADAPTER_MISSING + (f"; {problem}" if problem else "")
        methods.append(MissingMethod(method, reason))
    return methods


def all_methods(classical_scales: Sequence[float] = (1.0,)) -> list[Method]:
    """Every method of the comparison, available or not."""
    return [*neural_methods(), StillKeyframe(), *classical_methods(classical_scales)]
