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
(keyframe at the first face frame, again when the view moves or the interval asks). Reenactment
makes the keyframe from the source frame alone and codes the driver's pose and expression
against it, with explicit keypoints recomputed from the source identity; its keyframe is never
refreshed. The receiver is ``FacecodecRenderer`` (facecodec_render.py), which a staged run
runs on its own.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from facecodec.bitrate.table import DEFAULT_TABLE_PATH, RateTable, load_table
from facecodec.call.capture_loop import CapturedFrame
from facecodec.call.clock import StreamClock
from facecodec.call.recording_link import RecordingLink
from facecodec.call.send_session import References, SendConfig, SendSession
from facecodec.receiver.model_choice import MODELS
from facecodec.receiver.weights import load_weights
from facecodec.sender.crop import CropBox
from facecodec.sender.prior import FacePrior, MediaPipePrior, PriorConfig, PriorFrame
from facecodec.types import OperatingPoint

from .facecodec_render import FacecodecRenderer
from .methods import (
    Bitstream,
    MethodInput,
    MethodResult,
    Mode,
    Point,
    run_neural,
    target_label,
)

FACECODEC_GRID = (
    OperatingPoint(keypoints=0, expression_dims=8),
    OperatingPoint(keypoints=0, expression_dims=16),
    OperatingPoint(keypoints=0, expression_dims=32),
    OperatingPoint(keypoints=8, expression_dims=16),
    OperatingPoint(keypoints=16, expression_dims=16),
)
"""Explicit points of a run: expression size and keypoint count, as the paper's Figure 7."""
_LABEL = re.compile(r"k(\d+)-e(\d+)-q(\d+)-f(\d+)")


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
    prior: PriorConfig = field(default_factory=PriorConfig)
    """The sender's prior in reconstruction (benchmark/view_range.py varies its crop)."""

    def __post_init__(self) -> None:
        self.renderer = FacecodecRenderer(self.device, self.model)

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
        return run_neural(self, job)

    # -- sender ---------------------------------------------------------------------------

    def encode(self, job: MethodInput) -> Bitstream:
        """``send`` as the bitstream for ``renderer``."""
        start = time.perf_counter()
        sent, boxes = self.send(job)
        sender_ms = 1000 * (time.perf_counter() - start)
        cuts = {seq: (box.x, box.y, box.side) for seq, box in boxes.items() if box is not None}
        size = job.source.shape[0]
        return Bitstream(sent, len(job.driving), size, job.fps, sender_ms, cuts)

    def send(self, job: MethodInput) -> tuple[list[bytes], dict[int, CropBox | None]]:
        """Every message sent for ``job`` (a stream file's records), and where each frame's
        view (the keyframe's crop the receiver draws) sits in the benchmark frame, by seq (None:
        no face, no crop)."""
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

    def _send_clip(self, job: MethodInput) -> tuple[list[bytes], dict[int, CropBox | None]]:
        """Source then driving frames (seq 0, 1, ...) through the prior and the session."""
        prior = MediaPipePrior(self.prior)
        sent: list[bytes] = []
        session, clock = self._session(prior, job, sent)
        boxes: dict[int, CropBox | None] = {}

        def emit(frames: list[PriorFrame]) -> None:
            for frame in frames:
                seq = frame.params.seq
                if job.keyframe_interval and seq and seq % job.keyframe_interval == 0:
                    session.request_keyframe()
                session.offer(CapturedFrame(frame, clock.at_frame(seq)))
                boxes[seq] = session.view

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
