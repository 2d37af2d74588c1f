"""facecodec as a benchmark method, through the sessions a call runs: the sender's
``MediaPipePrior`` and the call's ``SendSession``, the call's ``ReceiveSession`` replaying what
was sent, and its ``RenderStage`` drawing with the shipped ``prior`` weights: what ``facecodec
encode`` followed by ``facecodec decode`` gives for the same clip and target.

Both sessions run on the clip's own timeline (frame n at n / fps) over a link that keeps the
messages in memory; as in a file, nothing is lost, so messages predict from the last frame
sent. Operating points: explicit ones (keypoints, expression dims, quantisation, parameter
rate), and, where the rate-distortion table exists (bitrate/rd_table.json), one per target bit
rate chosen frame by frame by ``bitrate.Controller`` as in a call; frames are bundled to the
call's default latency (200 ms). Reconstruction runs the clip through the sender as a call would
(keyframe at the first face frame, again when the crop moves or the interval asks). Reenactment
makes the keyframe from the source frame alone and codes the driver's pose and expression
against it, with explicit keypoints recomputed from the source identity; its keyframe is never
refreshed. Frames the receiver does not show (before its first frame after the keyframe) stay
gray.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np
import torch

from facecodec.bitrate.table import DEFAULT_TABLE_PATH, RateTable, load_table
from facecodec.call.capture_loop import CapturedFrame
from facecodec.call.clock import StreamClock
from facecodec.call.receive_session import ReceiveSession
from facecodec.call.recording_link import RecordingLink
from facecodec.call.render import RenderConfig, RenderedFrame, RenderStage
from facecodec.call.send_session import References, SendConfig, SendSession
from facecodec.receiver.model_choice import MODELS
from facecodec.receiver.receiver import Receiver
from facecodec.receiver.weights import load_weights
from facecodec.sender.crop import CropBox
from facecodec.sender.prior import FacePrior, MediaPipePrior, PriorConfig, PriorFrame
from facecodec.types import OperatingPoint

from .methods import MethodInput, MethodResult, Mode, Point, counted_messages, target_label

FACECODEC_GRID = (
    OperatingPoint(keypoints=0, expression_dims=8),
    OperatingPoint(keypoints=0, expression_dims=16),
    OperatingPoint(keypoints=0, expression_dims=32),
    OperatingPoint(keypoints=8, expression_dims=16),
    OperatingPoint(keypoints=16, expression_dims=16),
)
"""Explicit points of a run: expression size and keypoint count, as the paper's Figure 7."""
_LABEL = re.compile(r"k(\d+)-e(\d+)-q(\d+)-f(\d+)")
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
    model: str = "large"
    """The receiver's network: 'large' (the GPU model) or 'small' (the CPU model)."""

    def __post_init__(self) -> None:
        self._receiver: Receiver | None = None

    def unavailable(self) -> str | None:
        try:
            load_weights(MODELS[self.model])
        except (FileNotFoundError, ValueError) as exc:
            return str(exc)
        return None

    def points(self, targets_bps: Sequence[int]) -> list[Point]:
        """The grid, and one point per target where the rate table exists."""
        targets = [Point(target_label(t), t) for t in targets_bps] if self.table else []
        return [*targets, *(Point(point_label(op), None) for op in self.grid)]

    def run(self, job: MethodInput) -> MethodResult:
        start = time.perf_counter()
        sent, boxes = self.send(job)
        sender_ms = 1000 * (time.perf_counter() - start)
        start = time.perf_counter()
        frames = self.receive(sent, len(job.driving), job.source.shape[0], boxes, job.fps)
        receiver_ms = 1000 * (time.perf_counter() - start)
        return MethodResult(
            frames, counted_messages(sent), sender_ms, receiver_ms, self._device_name()
        )

    # -- sender ---------------------------------------------------------------------------

    def send(self, job: MethodInput) -> tuple[list[bytes], dict[int, CropBox]]:
        """Every message sent for ``job``, in order (a stream file's records), and where the
        sender cut each frame's crop from the benchmark frame (by seq)."""
        if job.mode == Mode.RECONSTRUCTION:
            return self._send_clip(job)
        return self._send_reenactment(job), {}

    def _config(self, point: Point) -> SendConfig:
        for op in self.grid:
            if point_label(op) == point.label:
                return SendConfig(None, point=op, references=References.PREVIOUS)
        return SendConfig(point.target_bps, references=References.PREVIOUS)

    def _session(
        self, prior: FacePrior, job: MethodInput, sent: list[bytes]
    ) -> tuple[SendSession, StreamClock]:
        clock = StreamClock(job.fps)
        config = self._config(job.point)
        link = RecordingLink(sent.append)
        return SendSession(link, prior, self.table, config, job.fps, clock=clock), clock

    def _send_clip(self, job: MethodInput) -> tuple[list[bytes], dict[int, CropBox]]:
        """Source then driving frames (seq 0, 1, ...) through the prior and the session."""
        prior = MediaPipePrior()
        sent: list[bytes] = []
        session, clock = self._session(prior, job, sent)
        boxes: dict[int, CropBox] = {}

        def emit(frames: list[PriorFrame]) -> None:
            for frame in frames:
                seq = frame.params.seq
                boxes[seq] = frame.box
                if job.keyframe_interval and seq and seq % job.keyframe_interval == 0:
                    session.request_keyframe()
                session.offer(CapturedFrame(frame, clock.at_frame(seq)))

        for seq, frame in enumerate([job.source, *job.driving]):
            emit(prior.process(frame, seq))
        emit(prior.flush())
        session.finish()
        prior.close()
        return sent, boxes

    def _send_reenactment(self, job: MethodInput) -> list[bytes]:
        source_prior = MediaPipePrior(PriorConfig(identity_frames=1))
        source = [*source_prior.process(job.source, 0), *source_prior.flush()][0]
        source_prior.close()
        if not source.params.face:
            return []
        sent: list[bytes] = []
        session, clock = self._session(source_prior, job, sent)
        session.offer(CapturedFrame(source, clock.at_frame(0)))
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
            session.offer(CapturedFrame(frame, clock.at_frame(frame.params.seq)))
        session.finish()
        driver_prior.close()
        return sent

    # -- receiver -------------------------------------------------------------------------

    def _receiver_for(self) -> Receiver:
        if self._receiver is None:
            self._receiver = Receiver(device=self.device, model=self.model)
        return self._receiver

    def _device_name(self) -> str:
        device = self._receiver_for().device
        if device.type == "cuda":
            return f"{device} ({torch.cuda.get_device_name(device)})"
        return str(device)

    def receive(
        self,
        sent: list[bytes],
        count: int,
        size: int,
        boxes: dict[int, CropBox],
        fps: float,
    ) -> np.ndarray:
        """(count, size, size, 3) frames shown for seqs 1..count (the driving frames): the
        messages replayed by the call's receiving session and drawn by its renderer, each put
        back where the sender cut it (``boxes``, by seq; the whole frame where missing)."""
        receiver = self._receiver_for()
        out = np.full((count, size, size, 3), NO_KEYFRAME_GRAY, np.uint8)

        def place(frame: RenderedFrame) -> None:
            if 1 <= frame.seq <= count:
                out[frame.seq - 1] = place_crop(frame.image, boxes.get(frame.seq), size)

        stage = RenderStage(RenderConfig(), receiver, [place])
        session = ReceiveSession(None, stage, face_model=receiver.face_model)
        try:
            session.replay(_records(sent), fps)
        finally:
            stage.close()
        return out


def _records(messages: list[bytes]) -> Iterator[tuple[int, bytes]]:
    """(byte offset, message) as a stream file of ``messages`` would hold them (after its
    header), for errors that say where."""
    offset = 0
    for message in messages:
        yield offset, message
        offset += 4 + len(message)


def place_crop(image: np.ndarray, box: CropBox | None, size: int) -> np.ndarray:
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
