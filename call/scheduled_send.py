"""What the sending end schedules on the control channel (keyframes, keyframe parts, cached
keyframes, operating point changes), counted in the wire budget before it goes, as a frames
message is: what the budget counts after the fact is then only what the end does not schedule
(the acknowledgements it owes, transport reports), which it measures."""

from __future__ import annotations

from facecodec.bitrate import Controller
from facecodec.bitrate.fixed_point import FixedPoint
from facecodec.transport import Call

from .link import Link


def send_scheduled(
    call: Link,
    controller: Controller | FixedPoint,
    message: bytes,
    now: float,
    first_version: bool = False,
) -> None:
    """Send ``message`` on ``call``'s control channel at ``now``, counted in the controller's
    wire budget first; a ``first_version`` is counted as ``WireBudget.add_first_version``
    says."""
    wire = controller.wire
    if wire is not None and isinstance(call, Call):
        controller.on_wire_total(call.stats.wire_bytes_sent, now)
        count = wire.add_first_version if first_version else wire.add
        count(call.control.message_wire_bytes(len(message)), now)
    call.control.send(message)
