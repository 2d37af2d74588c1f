"""``facecodec encode INPUT -o OUT.fcs``: a video through the sender into a stream file.

Every frame goes through the face prior (landmarks, crop, fit, keypoints) and the call's
sending session (call/send_session.py) on the video's own timeline, with a stream file as its
link: ``--bitrate`` runs the call's controller on the shipped rate table, an explicit point
codes every frame at it, ``--bundle`` frames sent to a message. Messages predict from the last
frame sent (a file loses nothing). The messages are written as ``facecodec decode``,
``facecodec inspect`` and a receiver read them. The summary gives the frames, the faces found,
the keyframes' bytes and the per-frame payload.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from facecodec.bitrate import DEFAULT_TABLE_PATH, RateTable, load_table
from facecodec.call.capture_loop import CapturedFrame
from facecodec.call.clock import StreamClock
from facecodec.call.recording_link import RecordingLink
from facecodec.call.send_session import References, SendConfig, SendSession
from facecodec.codec import MessageType, StreamWriter, parse_message
from facecodec.sender.capture import FrameSource, SourceInfo, open_source
from facecodec.sender.face_model import K_MAX
from facecodec.sender.prior import (
    DecaFacePrior,
    DecaFiles,
    FacePrior,
    MediaPipePrior,
    PriorConfig,
    PriorFrame,
)
from facecodec.types import MAX_EXPRESSION_DIMS, OperatingPoint

PRIORS = ("mediapipe", "deca")
_OP_FIELDS = ("keypoints", "expression_dims", "quant_level", "frame_interval")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "encode",
        help="encode a video file into a bitstream file",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("input", help="video file (or camera:N)")
    parser.add_argument(
        "-o", "--output", type=Path, default=None, help="stream file (default: INPUT name .fcs)"
    )
    parser.add_argument("--frames", type=int, default=None, metavar="N", help="first N frames")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_rate_arguments(parser)
    _add_prior_arguments(parser)
    parser.set_defaults(run=run)


def _add_rate_arguments(parser: argparse.ArgumentParser) -> None:
    from facecodec.bitrate import bitrate_argument

    op = OperatingPoint()
    group = parser.add_argument_group(
        "operating point",
        f"either --bitrate or any of the four values (defaults: --keypoints {op.keypoints} "
        f"--expression-dims {op.expression_dims} --quant-level {op.quant_level} "
        f"--frame-interval {op.frame_interval})",
    )
    group.add_argument(
        "--bitrate",
        type=bitrate_argument,
        default=None,
        metavar="RATE",
        help="target payload rate, e.g. 2kbps: the least distorted point of the rate table "
        "that fits",
    )
    group.add_argument("--keypoints", type=int, metavar="K", help="explicit keypoints per frame")
    group.add_argument(
        "--expression-dims",
        type=int,
        metavar="D",
        help=f"expression coefficients (0..{MAX_EXPRESSION_DIMS})",
    )
    group.add_argument(
        "--quant-level", type=int, metavar="Q", help="quantisation level (coarser as it grows)"
    )
    group.add_argument("--frame-interval", type=int, metavar="N", help="send every n-th frame")
    group.add_argument(
        "--bundle", type=int, metavar="N",
        help="sent frames per message at an explicit point (default 1); --bitrate bundles as "
        "a call does, to 200 ms",
    )  # fmt: skip


def _add_prior_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("face prior")
    group.add_argument("--prior", choices=PRIORS, default="mediapipe")
    group.add_argument(
        "--deca-weights", type=Path, metavar="PATH", help="DECA's deca_model.tar (--prior deca)"
    )
    group.add_argument(
        "--flame-model", type=Path, metavar="PATH", help="FLAME's generic_model.pkl (--prior deca)"
    )
    group.add_argument(
        "--landmark-embedding",
        type=Path,
        metavar="PATH",
        help="DECA's landmark_embedding.npy (default: beside --flame-model)",
    )
    group.add_argument(
        "--identity-frames",
        type=int,
        default=PriorConfig().identity_frames,
        metavar="N",
        help="face frames the identity is estimated from",
    )


@dataclass
class Tally:
    """What went into the stream file."""

    frames: int = 0
    faces: int = 0
    keyframes: list[int] = field(default_factory=list)
    """Bytes of each keyframe message."""
    frame_messages: list[int] = field(default_factory=list)
    """Bytes of each frame message."""
    frames_sent: int = 0

    def add_frame(self, frame: PriorFrame) -> None:
        self.frames += 1
        self.faces += frame.params.face

    def add_message(self, message: bytes) -> None:
        kind = parse_message(message)
        if kind == MessageType.KEYFRAME:
            self.keyframes.append(len(message))
        elif kind != MessageType.CONTROL:
            self.frame_messages.append(len(message))


def run(args: argparse.Namespace) -> int:
    output = args.output or Path(Path(args.input).stem + ".fcs")
    source = open_source(args.input)
    prior = None
    try:
        config, keypoints = _send_config(args, source.info)
        prior = _build_prior(args, keypoints)
        with open(output, "wb") as file:
            writer = StreamWriter(file, source.info.fps)
            tally = _encode(source, prior, config, writer, args)
    finally:
        source.close()
        if prior is not None:
            prior.close()
    _print_summary(args.input, output, source.info, config, tally)
    return 0


def _send_config(args: argparse.Namespace, info: SourceInfo) -> tuple[SendConfig, int]:
    """How the session sends, and how many keypoints the prior must compute for it."""
    given = {name: getattr(args, name) for name in _OP_FIELDS if getattr(args, name) is not None}
    if args.bitrate is not None:
        if given or args.bundle is not None:
            flags = ", ".join("--" + name.replace("_", "-") for name in [*given, "bundle"])
            raise ValueError(f"give either --bitrate or {flags}, not both")
        return SendConfig(args.bitrate, references=References.PREVIOUS), _table_keypoints()
    op = OperatingPoint(**given)
    bundle = 1 if args.bundle is None else args.bundle
    if bundle < 1:
        raise ValueError("--bundle must be at least 1")
    # A bundle closes when the frame after its last sent one comes (the stream's clock).
    latency_ms = 1000 * bundle * op.frame_interval / info.fps
    config = SendConfig(None, latency_ms, point=op, references=References.PREVIOUS)
    return config, op.keypoints


def _table_keypoints() -> int:
    """The most keypoints a point of the rate table sends."""
    if not DEFAULT_TABLE_PATH.exists():
        raise FileNotFoundError(
            f"--bitrate needs the rate-distortion table {DEFAULT_TABLE_PATH}, which is not built "
            "(python -m facecodec.bitrate.rd_table); give the operating point instead"
        )
    return max(row.point.keypoints for row in load_table().points)


def _build_prior(args: argparse.Namespace, keypoints: int) -> FacePrior:
    """The face prior the flags ask for, computing ``keypoints`` keypoints and no more."""
    if args.identity_frames < 1:
        raise ValueError("--identity-frames must be at least 1")
    if keypoints > K_MAX:
        raise ValueError(f"--keypoints {keypoints}: the face priors give at most {K_MAX}")
    config = PriorConfig(identity_frames=args.identity_frames, keypoints=keypoints)
    if args.prior == "mediapipe":
        if args.deca_weights or args.flame_model or args.landmark_embedding:
            raise ValueError("--deca-weights, --flame-model and co. need --prior deca")
        return MediaPipePrior(config)
    if args.deca_weights is None or args.flame_model is None:
        raise ValueError(
            "--prior deca needs --deca-weights PATH (DECA's deca_model.tar) and --flame-model "
            "PATH (FLAME's generic_model.pkl); neither ships with facecodec"
        )
    for flag, path in (
        ("--deca-weights", args.deca_weights),
        ("--flame-model", args.flame_model),
        ("--landmark-embedding", args.landmark_embedding),
    ):
        if path is not None and not path.is_file():
            raise FileNotFoundError(f"{flag} {path}: no such file")
    files = DecaFiles(args.deca_weights, args.flame_model, args.landmark_embedding)
    return DecaFacePrior(files, config)


def _encode(
    source: FrameSource,
    prior: FacePrior,
    config: SendConfig,
    writer: StreamWriter,
    args: argparse.Namespace,
) -> Tally:
    tally = Tally()
    clock = StreamClock(source.info.fps)

    def keep(message: bytes) -> None:
        writer.write(message)
        tally.add_message(message)

    session = SendSession(
        RecordingLink(keep), prior, _rate_table(config), config, source.info.fps, clock=clock
    )

    def emit(frames: list[PriorFrame]) -> None:
        for frame in frames:
            tally.add_frame(frame)
            session.offer(CapturedFrame(frame, clock.at_frame(frame.params.seq)))

    total = source.info.frames
    if args.frames is not None:
        total = args.frames if total is None else min(total, args.frames)
    bar = tqdm(total=total, unit="frame", desc="encode", disable=args.quiet, file=sys.stderr)
    with bar:
        try:
            for seq, image in enumerate(source):
                if args.frames is not None and seq >= args.frames:
                    break
                emit(prior.process(image, seq))
                bar.update(1)
        except KeyboardInterrupt:  # a camera runs until stopped: keep what was captured
            pass
        emit(prior.flush())
    tally.frames_sent = session.finish().frames_sent
    return tally


def _rate_table(config: SendConfig) -> RateTable | None:
    return None if config.point is not None else load_table()


def _print_summary(
    name: str, output: Path, info: SourceInfo, config: SendConfig, tally: Tally
) -> None:
    print(
        f"{name}: {info.width}x{info.height} at {info.fps:g} fps, {tally.frames} frames, "
        f"{tally.faces} with a face"
    )
    op = config.point
    if op is None:
        print(f"target: {config.target_bps:g} bps, the call's controller, bundles of 200 ms")
    else:
        print(
            f"operating point: {op.keypoints} keypoints, {op.expression_dims} expression dims, "
            f"quant level {op.quant_level}, frame interval {op.frame_interval}, "
            f"bundles of {round(config.max_latency_ms * info.fps / 1000 / op.frame_interval)}"
        )
    print(f"keyframes: {len(tally.keyframes)}, {sum(tally.keyframes)} B")
    if not tally.frame_messages:
        print("no frame messages" + ("" if tally.faces else ": no face found"))
    else:
        payload, sent = sum(tally.frame_messages), tally.frames_sent
        kbps = 8 * payload / tally.frames * info.fps / 1000
        print(
            f"frame messages: {len(tally.frame_messages)} carrying {sent} frames, "
            f"{payload / sent:.2f} B per sent frame; "
            f"{kbps:.2f} kbps at {info.fps:g} fps, keyframes not included"
        )
    print(f"wrote {output} ({output.stat().st_size} B)")
