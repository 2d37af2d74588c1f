"""Rate control without a target: every frame at one operating point (``facecodec encode``
with an explicit point, the benchmark's grid). It stands where ``Controller`` stands in the
sending session and answers the same calls; keyframes come at the start and when asked."""

from __future__ import annotations

from facecodec.codec.messages import MAX_MESSAGE_BYTES
from facecodec.transport.feedback import LinkFeedback
from facecodec.types import OperatingPoint

from .controller import Decision
from .wire_budget import WireBudget


class FixedPoint:
    def __init__(self, point: OperatingPoint) -> None:
        self.point = point
        self._keyframe_due = True
        self.wire: WireBudget | None = None
        """No wire budget: nothing bounds what is sent."""

    def on_frame(self, now_ms: float) -> Decision:
        keyframe, self._keyframe_due = self._keyframe_due, False
        return Decision(self.point, keyframe, budget_bps=0.0)

    def room_bytes(self, now_ms: float) -> int:
        """No bound but the format's."""
        return MAX_MESSAGE_BYTES

    def request_keyframe(self, now_ms: float) -> None:
        self._keyframe_due = True

    def on_message(self, payload_bytes: int, frames: int, now_ms: float) -> None:
        pass

    def on_dropped(self, frames: int, now_ms: float) -> None:
        pass

    def on_keyframe_sent(self, payload_bytes: int, now_ms: float) -> None:
        pass

    def on_feedback(self, feedback: LinkFeedback, now_ms: float) -> None:
        pass

    def on_wire_total(self, wire_bytes_sent: int, now_ms: float) -> None:
        pass
