"""facecodec.codec: the bitstream (docs/bitstream.md).

Pure functions and classes over bytes and arrays; no I/O beyond the file objects handed to the
stream reader and writer. Decoders raise only ``BitstreamError``.
"""

from .cached_keyframe import (
    CachedKeyframe,
    decode_cached_keyframe,
    encode_cached_keyframe,
    keyframe_entry,
    keyframe_from_entry,
    keyframe_key,
)
from .control import (
    CacheAnswer,
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
from .keyframe import (
    KeyframeMessage,
    Refinement,
    decode_keyframe,
    decode_keyframe_message,
    encode_keyframe,
)
from .keyframe_part import (
    KeyframePart,
    RefinementAssembler,
    decode_keyframe_part,
    encode_keyframe_parts,
)
from .messages import FORMAT_VERSION, MessageType, parse_message
from .stream import StreamReader, StreamWriter

__all__ = [
    "FORMAT_VERSION",
    "BitstreamError",
    "CacheAnswer",
    "CachedKeyframe",
    "ControlMessage",
    "ErrorCode",
    "FrameDecoder",
    "FrameEncoder",
    "ImageCodec",
    "KeyframeMessage",
    "KeyframePart",
    "KeyframeReason",
    "KeyframeRequest",
    "KeypointPredictor",
    "MessageType",
    "MissingReferenceError",
    "OperatingPointChange",
    "ReceiverReport",
    "Refinement",
    "RefinementAssembler",
    "StreamReader",
    "StreamWriter",
    "decode_cached_keyframe",
    "decode_control",
    "decode_keyframe",
    "decode_keyframe_message",
    "decode_keyframe_part",
    "encode_cached_keyframe",
    "encode_control",
    "encode_keyframe",
    "encode_keyframe_parts",
    "is_sent",
    "keyframe_entry",
    "keyframe_from_entry",
    "keyframe_key",
    "parse_message",
]
