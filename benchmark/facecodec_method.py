"""facecodec as a benchmark method, through the public APIs a call uses: the sender's
``MediaPipePrior`` and ``SenderEncoder``, the codec's decoders, the receiver's ``Concealer`` and
``Receiver`` with the shipped ``prior`` weights.

Operating points: explicit ones (keypoints, expression dims, quantisation, parameter rate), and,
where the rate-distortion table exists (bitrate/rd_table.json), one per target bit rate chosen
frame by frame by ``bitrate.Controller`` as in a call. Frames are bundled to the controller's
default latency. Reconstruction runs the clip through the sender as a call would (keyframe at
the first face frame, again when the crop moves or the interval asks). Reenactment makes the
keyframe from the source frame alone and codes the driver's pose and expression against it,
with explicit keypoints recomputed from the source identity; its keyframe is never refreshed.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np
import torch

from facecodec.bitrate.bundler import BundlingConfig
from facecodec.bitrate.controller import Controller, ControllerConfig
from facecodec.bitrate.table import DEFAULT_TABLE_PATH, RateTable, load_table
from facecodec.codec import FrameDecoder, decode_keyframe
from facecodec.receiver.concealment import Concealer
from facecodec.receiver.receiver import Receiver
from facecodec.receiver.weights import PRIOR_WEIGHTS, load_weights
from facecodec.sender.crop import CropBox
from facecodec.sender.encoder import EncoderConfig, SenderEncoder
from facecodec.sender.encoder import Message as SenderMessage
from facecodec.sender.prior import MediaPipePrior, PriorConfig, PriorFrame
from facecodec.types import FrameParams, Keyframe, OperatingPoint

from .methods import Message, MessageKind, MethodInput, MethodResult, Mode, Point, target_label

FACECODEC_GRID = (
    OperatingPoint(keypoints=0, expression_dims=8),
    OperatingPoint(keypoints=0, expression_dims=16),
    OperatingPoint(keypoints=0, expression_dims=32),
    OperatingPoint(keypoints=8, expression_dims=16),
    OperatingPoint(keypoints=16, expression_dims=16),
)
"""Explicit points of a run: expression size and keypoint count, as the paper's Figure 7."""
_LABEL = re.compile(r"k(\d+)-e(\d+)-q(\d+)-f(\d+)")
RENDER_BATCH = 8
NO_KEYFRAME_GRAY = 128
"""What the receiver shows before any keyframe arrived (no face at the sender yet)."""


def point_label(op: OperatingPoint) -> str:
    return f"k{op.keypoints}-e{op.expression_dims}-q{op.quant_level}-f{op.frame_interval}"


def parse_point_label(text: str) -> OperatingPoint:
    """Inverse of ``point_label``: 'k8-e16-q2-f1' -> OperatingPoint; ValueError otherwise."""
    match = _LABEL.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"bad operating point {text!r}: write k<keypoints>-e<dims>-q<level>-f<n>")
    return OperatingPoint(*map(int, match.groups()))


@dataclass
class _Segment:
    """Frames drawn from one keyframe."""

    keyframe: Keyframe
    op: OperatingPoint
    params: list[FrameParams] = field(default_factory=list)


def shipped_table() -> RateTable | None:
    """The controller's rate-distortion table, if it has been built."""
    return load_table() if DEFAULT_TABLE_PATH.exists() else None


@dataclass
class FacecodecMethod:
    device: str = "cpu"
    grid: tuple[OperatingPoint, ...] = FACECODEC_GRID
    table: RateTable | None = field(default_factory=shipped_table)
    """Where the controller chooses points for the targets from; None: the grid only."""
    name: str = "facecodec"
    modes: frozenset[Mode] = frozenset(Mode)

    def __post_init__(self) -> None:
        self._receiver: Receiver | None = None

    def unavailable(self) -> str | None:
        try:
            load_weights(PRIOR_WEIGHTS)
        except (FileNotFoundError, ValueError) as exc:
            return str(exc)
        return None

    def points(self, targets_bps: Sequence[int]) -> list[Point]:
        """The grid, and one point per target where the rate table exists."""
        targets = [Point(target_label(t), t) for t in targets_bps] if self.table else []
        return [*targets, *(Point(point_label(op), None) for op in self.grid)]

    def run(self, job: MethodInput) -> MethodResult:
        start = time.perf_counter()
        if job.mode == Mode.RECONSTRUCTION:
            sent, boxes = self._send_clip(job)
        else:
            sent, boxes = self._send_reenactment(job), {}
        sender_ms = 1000 * (time.perf_counter() - start)
        start = time.perf_counter()
        frames = self._receive(sent, len(job.driving), job.source.shape[0], boxes)
        receiver_ms = 1000 * (time.perf_counter() - start)
        messages = [
            Message(MessageKind.KEYFRAME if m.keyframe else MessageKind.FRAMES, len(m.data))
            for m in sent
        ]
        return MethodResult(frames, messages, sender_ms, receiver_ms, self._device_name())

    # -- sender ---------------------------------------------------------------------------

    def _op(self, point: Point) -> OperatingPoint:
        for op in self.grid:
            if point_label(op) == point.label:
                return op
        assert self.table is not None
        return self.table.cheapest.point

    def _controller(self, job: MethodInput) -> Controller | None:
        if job.point.target_bps is None or self.table is None:
            return None
        return Controller(ControllerConfig(job.point.target_bps, capture_fps=job.fps), self.table)

    def _encoder(self, prior: MediaPipePrior, job: MethodInput) -> SenderEncoder:
        bundle = max(1, round(BundlingConfig().max_latency_ms * job.fps / 1000))
        return SenderEncoder(prior, EncoderConfig(op=self._op(job.point), bundle_frames=bundle))

    def _send_clip(self, job: MethodInput) -> tuple[list[SenderMessage], dict[int, CropBox]]:
        """Source then driving frames (seq 0, 1, ...) through prior, controller and encoder."""
        prior = MediaPipePrior()
        encoder = self._encoder(prior, job)
        controller = self._controller(job)
        sent: list[SenderMessage] = []
        boxes: dict[int, CropBox] = {}

        def emit(frames: list[PriorFrame]) -> None:
            for frame in frames:
                seq = frame.params.seq
                boxes[seq] = frame.box
                if job.keyframe_interval and seq and seq % job.keyframe_interval == 0:
                    encoder.request_keyframe()
                sent.extend(_controlled(encoder, controller, frame, 1000 * seq / job.fps))

        for seq, frame in enumerate([job.source, *job.driving]):
            emit(prior.process(frame, seq))
        emit(prior.flush())
        sent.extend(encoder.flush())
        prior.close()
        return sent, boxes

    def _send_reenactment(self, job: MethodInput) -> list[SenderMessage]:
        source_prior = MediaPipePrior(PriorConfig(identity_frames=1))
        source = [*source_prior.process(job.source, 0), *source_prior.flush()][0]
        source_prior.close()
        if not source.params.face:
            return []
        encoder = self._encoder(source_prior, job)
        controller = self._controller(job)
        sent = list(_controlled(encoder, controller, source, 0.0))
        driver_prior = MediaPipePrior()
        driven = [driver_prior.process(f, seq) for seq, f in enumerate(job.driving, start=1)]
        for frame in [*(f for frames in driven for f in frames), *driver_prior.flush()]:
            if frame.params.face:  # the driver's motion on the source's identity
                params = dataclasses.replace(frame.params)
                params.keypoints = source_prior.keypoints(
                    source.identity, params, source_prior.config.keypoints
                )
                frame = dataclasses.replace(frame, params=params, identity=source.identity)
            frame = dataclasses.replace(frame, new_crop=False)
            now_ms = 1000 * frame.params.seq / job.fps
            sent.extend(_controlled(encoder, controller, frame, now_ms))
        sent.extend(encoder.flush())
        driver_prior.close()
        return sent

    # -- receiver -------------------------------------------------------------------------

    def _receiver_for(self) -> Receiver:
        if self._receiver is None:
            self._receiver = Receiver(device=self.device)
        return self._receiver

    def _device_name(self) -> str:
        device = self._receiver_for().device
        if device.type == "cuda":
            return f"{device} ({torch.cuda.get_device_name(device)})"
        return str(device)

    def _receive(
        self, sent: list[SenderMessage], count: int, size: int, boxes: dict[int, CropBox]
    ) -> np.ndarray:
        """(count, size, size, 3) frames shown for seqs 1..count (the driving frames)."""
        receiver = self._receiver_for()
        model = receiver.face_model
        decoder = FrameDecoder()
        segments: list[_Segment] = []
        for message in sent:
            if message.keyframe:
                keyframe, op = decode_keyframe(message.data)
                decoder.set_keyframe(keyframe, op)
                identity = keyframe.identity
                decoder.keypoint_predictor = lambda p, k, identity=identity: model.keypoints(
                    identity, p, k
                )
                segments.append(_Segment(keyframe, op, [keyframe.params]))
            else:
                segments[-1].params.extend(decoder.decode(message.data))
        out = np.full((count, size, size, 3), NO_KEYFRAME_GRAY, np.uint8)
        ends = [s.keyframe.params.seq for s in segments[1:]] + [count + 1]
        for segment, end in zip(segments, ends, strict=True):
            concealer = Concealer(segment.op)
            for params in segment.params:
                concealer.add(params)
            first = max(segment.keyframe.params.seq, 1)
            shown = [concealer.next().params for _ in range(segment.keyframe.params.seq, end)]
            shown = shown[first - segment.keyframe.params.seq :]
            receiver.set_keyframe(segment.keyframe)
            for i in range(0, len(shown), RENDER_BATCH):
                batch = shown[i : i + RENDER_BATCH]
                for params, image in zip(batch, receiver.render(batch), strict=True):
                    out[params.seq - 1] = _place(image, boxes.get(params.seq), size)
        return out


def _controlled(
    encoder: SenderEncoder, controller: Controller | None, frame: PriorFrame, now_ms: float
) -> list[SenderMessage]:
    """Encode one frame, with the controller's operating point and keyframe decisions."""
    if controller is not None:
        decision = controller.on_frame(now_ms)
        encoder.op = decision.point
        if decision.keyframe:
            encoder.request_keyframe()
    messages = encoder.encode(frame)
    if controller is not None:
        for m in messages:
            if m.keyframe:
                controller.on_keyframe_sent(len(m.data), now_ms)
            else:
                controller.on_message(len(m.data), len(m.seqs), now_ms)
    return messages


def _place(image: np.ndarray, box: CropBox | None, size: int) -> np.ndarray:
    """The receiver's crop image put back where the sender cut it from the (size x size)
    benchmark frame, so that it is scored against the same pixels."""
    if box is None or (box.x, box.y, box.side) == (0, 0, size):
        if image.shape[0] == size:
            return image
        return cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
    scale = box.side / image.shape[0]
    affine = np.array([[scale, 0, box.x], [0, scale, box.y]], np.float64)
    return cv2.warpAffine(
        image, affine, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
