"""The face-vid2vid baseline as a benchmark method: ``BaselineCodec``'s keypoint detector at
the sender, its head rotation and 16 posed keypoints per frame through the real frame codec,
the keyframe as the codec's keyframe message, and ``BaselineCodec.render`` at the receiver.

Bytes are the codec's own. The baseline's keypoints have no face-model prediction to be coded
against, so ``FrameEncoder`` codes them directly (keypoint mode 0: each from the previous
sent frame's, the first after a keyframe from zero, since keyframe references carry no
keypoints); translation and scale stay at their defaults (the detector's translation is inside
the keypoints) and cost almost nothing; there are no expression dims. The keyframe message
carries the image (the codec's WebP, as facecodec's), the detector's rotation of it and the
network's version, but no identity or expression code: the baseline has neither, so its
keyframes are 677 B smaller than facecodec's. Frames travel in bundles of the bitrate
bundler's latency, as facecodec's do.

Points are the run's target payload rates. For each, the sender codes the clip at every
quantisation level and parameter interval of the format and keeps the point with the smallest
keypoint error (after the receiver's interpolation of skipped frames) whose payload fits the
target, or the cheapest where none fits: a two-pass choice with hindsight over the whole clip,
which favours the baseline over facecodec's causal controller. Targets whose budgets admit the
same best point send identical bytes, which the receiver then redraws only once.

Reconstruction refreshes the keyframe as ``--keyframe-interval`` asks; reenactment poses the
driver's keypoints from the source frame's canonical keypoints (face-vid2vid's cross-identity
transfer) and never refreshes it. The detector needs no face: every frame is a face frame.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import product

import numpy as np

from facecodec.bitrate.bundler import BundlingConfig
from facecodec.codec import (
    FrameEncoder,
    encode_keyframe,
    is_sent,
)
from facecodec.codec.image import (
    DEFAULT_IMAGE_CODEC,
    DEFAULT_IMAGE_QUALITY,
    decode_image,
    encode_image,
)
from facecodec.codec.operating_point import MAX_FRAME_INTERVAL
from facecodec.codec.quantize import num_quant_levels
from facecodec.receiver.baseline import DETECTOR_WEIGHTS, BaselineCodec
from facecodec.receiver.weights import BASELINE_WEIGHTS, load_weights
from facecodec.types import FrameParams, Keyframe, OperatingPoint

from .baseline_render import BaselineRenderer, shown_params
from .methods import (
    Bitstream,
    MethodInput,
    MethodResult,
    Mode,
    Point,
    run_neural,
    target_label,
)

FRAME_INTERVALS = tuple(range(1, MAX_FRAME_INTERVAL + 1))
DETECT_BATCH = 16
CROP_HALF_PX = 128
"""Keypoints are in crop units; one unit is this many pixels of a 256 crop."""


@dataclass
class _Segment:
    """Frames drawn from one keyframe, as the sender measured them."""

    keyframe: Keyframe
    """As sent: the frame's image and the detector's rotation of its decoded image."""
    own: FrameParams
    """The keyframe frame's parameters: the detector on the decoded keyframe, which both ends
    run (the receiver needs the keyframe's canonical keypoints anyway), so never sent."""
    params: list[FrameParams]
    """The detector's parameters of the frames after the keyframe, up to the next one."""
    end: int
    """Sequence number after the segment's last frame."""


@dataclass
class _Coded:
    """The frame messages of a clip at one operating point, as the sender weighs them."""

    op: OperatingPoint
    frames: list[list[bytes]]
    """Per segment, its frame messages in order."""
    payload_bytes: int
    keypoint_error_px: float
    """Mean keypoint distance between what the receiver draws and what the detector measured,
    over the frames after the keyframes, in pixels of a 256 crop."""


@dataclass
class BaselineMethod:
    device: str = "cpu"
    name: str = "baseline"
    modes: frozenset[Mode] = frozenset(Mode)

    def __post_init__(self) -> None:
        self.renderer = BaselineRenderer(self.device)

    def unavailable(self) -> str | None:
        try:
            load_weights(BASELINE_WEIGHTS)
            load_weights(DETECTOR_WEIGHTS)
        except (FileNotFoundError, ValueError) as exc:
            return str(exc)
        return None

    def points(self, targets_bps: Sequence[int]) -> list[Point]:
        return [Point(target_label(t), t) for t in targets_bps]

    def run(self, job: MethodInput) -> MethodResult:
        return run_neural(self, job)

    def codec(self) -> BaselineCodec:
        """The model, loaded once and shared with the receiver: detector (sender side) and
        synthesizer (receiver side)."""
        return self.renderer.codec()

    # -- sender ---------------------------------------------------------------------------

    def encode(self, job: MethodInput) -> Bitstream:
        """``send`` as a bitstream for the receiver (which draws whole frames: no crops)."""
        start = time.perf_counter()
        sent, _ = self.send(job)
        sender_ms = 1000 * (time.perf_counter() - start)
        size = job.source.shape[0]
        return Bitstream(sent, len(job.driving), size, job.fps, sender_ms, {})

    def send(self, job: MethodInput) -> tuple[list[bytes], OperatingPoint]:
        """Every message the sender sends for ``job`` (source as frame 0, driving frames
        1..N), and the operating point it chose for the job's target."""
        if job.point.target_bps is None:
            raise ValueError(f"baseline points are target rates, not {job.point.label!r}")
        segments = self._measure(job)
        bundle = max(1, round(BundlingConfig().max_latency_ms * job.fps / 1000))
        seconds = len(job.driving) / job.fps
        coded = [_code(segments, op, bundle) for op in _candidates(self.codec().num_keypoints)]
        budget = job.point.target_bps * seconds / 8
        fitting = [c for c in coded if c.payload_bytes <= budget]
        if fitting:
            chosen = min(fitting, key=lambda c: (c.keypoint_error_px, c.payload_bytes))
        else:
            chosen = min(coded, key=lambda c: (c.payload_bytes, c.keypoint_error_px))
        sent: list[bytes] = []
        for segment, frames in zip(segments, chosen.frames, strict=True):
            sent += [encode_keyframe(segment.keyframe, chosen.op), *frames]
        return sent, chosen.op

    def _measure(self, job: MethodInput) -> list[_Segment]:
        """The detector's parameters of every frame, segment by segment."""
        codec = self.codec()
        clip = np.concatenate([job.source[None], job.driving])
        interval = job.keyframe_interval if job.mode == Mode.RECONSTRUCTION else None
        starts = list(range(0, len(clip), interval or len(clip)))
        segments = []
        for start, end in zip(starts, [*starts[1:], len(clip)], strict=True):
            image = clip[start]
            h, w = image.shape[:2]
            coded = encode_image(image, DEFAULT_IMAGE_CODEC, DEFAULT_IMAGE_QUALITY)
            decoded = decode_image(coded, DEFAULT_IMAGE_CODEC, w, h)
            # The sender poses the driving keypoints from the canonical keypoints of the
            # keyframe the receiver will have, not of the frame before coding.
            codec.set_keyframe(decoded)
            own = codec.encode(decoded[None], start)[0]
            params = [
                p
                for first in range(start + 1, end, DETECT_BATCH)
                for p in codec.encode(clip[first : min(first + DETECT_BATCH, end)], first)
            ]
            keyframe = Keyframe(
                image=image,
                identity=np.zeros(0, np.float32),
                params=FrameParams(seq=start, rotation=own.rotation),
                face_model="",
                network=codec.info.network,
            )
            segments.append(_Segment(keyframe, own, params, end))
        return segments


def _candidates(keypoints: int) -> list[OperatingPoint]:
    """Every quantisation level and parameter interval the format carries, at the model's
    keypoint count and no expression code."""
    return [
        OperatingPoint(keypoints=keypoints, expression_dims=0, quant_level=q, frame_interval=f)
        for q, f in product(range(num_quant_levels()), FRAME_INTERVALS)
    ]


def _code(segments: list[_Segment], op: OperatingPoint, bundle: int) -> _Coded:
    """The frame messages of every segment at ``op``, ``bundle`` sent frames to a message,
    each predicted from the last frame sent before it (the keyframe after a keyframe)."""
    frames: list[list[bytes]] = []
    errors: list[np.ndarray] = []
    for segment in segments:
        encoder = FrameEncoder(op)  # no keypoint predictor: direct keypoint coding
        encoder.set_keyframe(segment.keyframe, op)
        sent = [p for p in segment.params if is_sent(p.seq, op)]
        reference = segment.keyframe.params.seq
        messages = []
        for i in range(0, len(sent), bundle):
            messages.append(encoder.encode(sent[i : i + bundle], reference))
            reference = sent[i : i + bundle][-1].seq
        frames.append(messages)
        decoded = [encoder.reconstruction(p.seq) for p in sent]
        shown = shown_params(segment.own, decoded, segment.end, op)[1:]
        errors += [
            np.linalg.norm(s.keypoints - p.keypoints, axis=1)
            for s, p in zip(shown, segment.params, strict=True)
        ]
    payload = sum(len(m) for messages in frames for m in messages)
    error = float(np.mean(errors)) * CROP_HALF_PX if errors else 0.0
    return _Coded(op, frames, payload, error)
