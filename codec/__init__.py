"""facecodec.codec: the bitstream (docs/bitstream.md).

Pure functions and classes over bytes and arrays; no I/O beyond the file objects handed to the
stream reader and writer. Decoders raise only ``BitstreamError``.
"""

from .control import (
    ControlMessage,
    KeyframeReason,
    KeyframeRequest,
    OperatingPointChange,
    ReceiverReport,
    decode_control,
    encode_control,
)
from .errors import BitstreamError, ErrorCode, MissingReferenceError
from .frames import FrameDecoder, FrameEncoder, KeypointPredictor, is_sent
from .image import ImageCodec
from .keyframe import decode_keyframe, encode_keyframe
from .messages import FORMAT_VERSION, MessageType, parse_message
from .stream import StreamReader, StreamWriter

__all__ = [
    "FORMAT_VERSION",
    "BitstreamError",
    "ControlMessage",
    "ErrorCode",
    "FrameDecoder",
    "FrameEncoder",
    "ImageCodec",
    "KeyframeReason",
    "KeyframeRequest",
    "KeypointPredictor",
    "MessageType",
    "MissingReferenceError",
    "OperatingPointChange",
    "ReceiverReport",
    "StreamReader",
    "StreamWriter",
    "decode_control",
    "decode_keyframe",
    "encode_control",
    "encode_keyframe",
    "is_sent",
    "parse_message",
]
