"""The prior's frames -> bitstream messages (docs/sender.md, "Encoder").

A keyframe message opens the stream at the first face frame and is sent again whenever the
prior's crop moves or a keyframe is requested (at the next face frame). Frame messages carry
every ``frame_interval``-th frame, ``bundle_frames`` to a message, each message predicted from
the last frame sent before it (the keyframe's own frame after a keyframe). The keyframe's frame
itself travels only in the keyframe. Nothing is sent before the first keyframe: a receiver
cannot draw without one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from facecodec.codec import FrameEncoder, ImageCodec, encode_keyframe, is_sent
from facecodec.codec.frames import DEFAULT_HYSTERESIS
from facecodec.codec.image import DEFAULT_IMAGE_CODEC, DEFAULT_IMAGE_QUALITY
from facecodec.sender.prior import FacePrior, PriorFrame
from facecodec.types import FrameParams, Keyframe, OperatingPoint


@dataclass(frozen=True)
class EncoderConfig:
    op: OperatingPoint = field(default_factory=OperatingPoint)
    """Operating point at the start (``SenderEncoder.op`` may change it later)."""
    bundle_frames: int = 1
    """Frames per frame message (1: lowest latency)."""
    image_codec: ImageCodec = DEFAULT_IMAGE_CODEC
    image_quality: int = DEFAULT_IMAGE_QUALITY
    hysteresis: float = DEFAULT_HYSTERESIS
    """Quantiser hysteresis in steps (see codec.FrameEncoder)."""
    network: str = ""
    """Receiver network version the keyframes name ('' for any)."""

    def __post_init__(self) -> None:
        if self.bundle_frames < 1:
            raise ValueError("bundle_frames must be at least 1")


@dataclass(frozen=True)
class Message:
    """One message as sent, and what it carries."""

    data: bytes
    seqs: tuple[int, ...]
    """The frames it carries (a keyframe: its own frame)."""
    keyframe: bool


class SenderEncoder:
    """PriorFrames of one stream, in order -> messages, as the codec defines them.

    Explicit keypoints are coded against the face model's prediction when the receiver has the
    model (``prior.model_shipped``), directly otherwise.
    """

    def __init__(self, prior: FacePrior, config: EncoderConfig | None = None) -> None:
        self.prior = prior
        self.config = config or EncoderConfig()
        self.frames = FrameEncoder(self.config.op, hysteresis=self.config.hysteresis)
        self.keyframe: Keyframe | None = None
        self._keyframe_due = False
        self._reference: int | None = None
        self._pending: list[FrameParams] = []

    @property
    def op(self) -> OperatingPoint:
        return self.frames.op

    @op.setter
    def op(self, op: OperatingPoint) -> None:
        """Takes effect from the next frame message."""
        self.frames.op = op

    def request_keyframe(self) -> None:
        """Send a keyframe at the next face frame."""
        self._keyframe_due = True

    def encode(self, frame: PriorFrame) -> list[Message]:
        """The messages ready after this frame (zero, one, or a bundle and a keyframe)."""
        self._keyframe_due |= frame.new_crop
        if frame.params.face and (self._keyframe_due or self.keyframe is None):
            return [*self.flush(), self._send_keyframe(frame)]
        if self.keyframe is None or not is_sent(frame.params.seq, self.op):
            return []
        self._pending.append(frame.params)
        return self.flush() if len(self._pending) >= self.config.bundle_frames else []

    def flush(self) -> list[Message]:
        """The frames waiting for a full bundle, as one message (end of stream)."""
        if not self._pending:
            return []
        data = self.frames.encode(self._pending, self._reference)
        seqs = tuple(p.seq for p in self._pending)
        self._reference = seqs[-1]
        self._pending = []
        return [Message(data, seqs, keyframe=False)]

    def _send_keyframe(self, frame: PriorFrame) -> Message:
        keyframe = self.prior.keyframe(frame, self.config.network)
        data = encode_keyframe(
            keyframe, self.op, self.config.image_codec, self.config.image_quality
        )
        self.frames.set_keyframe(keyframe, self.op)
        if self.prior.model_shipped:
            identity, keypoints = keyframe.identity, self.prior.keypoints
            self.frames.keypoint_predictor = lambda params, count: keypoints(
                identity, params, count
            )
        self.keyframe = keyframe
        self._reference = keyframe.params.seq
        self._keyframe_due = False
        return Message(data, (keyframe.params.seq,), keyframe=True)
