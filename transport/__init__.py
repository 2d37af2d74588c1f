"""facecodec.transport: aiortc peers, our signaling, the two data channels and their bookkeeping.

What is inside a message is not the transport's business (docs/transport.md).
"""

from .auth import TOKEN_ENV, resolve_token
from .call import Call, CallConfig, CallState, CallStats
from .channel import ChannelStats
from .feedback import LinkFeedback
from .impairment import Impairment
from .inbox import ChannelClosedError
from .signaling import SignalingError, SignalingServer, TokenRefusedError

__all__ = [
    "TOKEN_ENV",
    "Call",
    "CallConfig",
    "CallState",
    "CallStats",
    "ChannelClosedError",
    "ChannelStats",
    "Impairment",
    "LinkFeedback",
    "SignalingError",
    "SignalingServer",
    "TokenRefusedError",
    "resolve_token",
]
