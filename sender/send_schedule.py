"""Which frames the sending end will send, known before the prior analyses them.

The rate controller picks a frame interval per frame; a frame it will not send needs no
landmarks, crop or fit. The sending loop writes the operating point it chose last, and the
capture thread asks ``wanted`` before running the prior on the next frame (a plain attribute:
reading one that is a frame old is harmless, the loop then just does not send that frame).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from facecodec.codec import is_sent
from facecodec.types import OperatingPoint


@dataclass
class SendSchedule:
    point: OperatingPoint = field(default_factory=OperatingPoint)
    """The operating point the controller chose last (its ``frame_interval`` counts here)."""

    def wanted(self, seq: int) -> bool:
        """Whether frame ``seq`` would be sent at the current point."""
        return is_sent(seq, self.point)
