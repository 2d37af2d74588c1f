"""``facecodec encode INPUT -o OUT.fcs``: a video through the sender into a stream file.

Every frame goes through the face prior (landmarks, crop, fit, keypoints) and the bitstream
encoder; the messages are written as ``facecodec inspect`` and a receiver read them. The summary
gives the frames, the faces found, the keyframes' bytes and the per-frame payload.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from facecodec.codec import StreamWriter
from facecodec.sender.capture import FrameSource, SourceInfo, open_source
from facecodec.sender.encoder import EncoderConfig, Message, SenderEncoder
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
    group.add_argument("--bundle", type=int, default=1, metavar="N", help="frames per message")


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
    frame_messages: list[tuple[int, int]] = field(default_factory=list)
    """(bytes, frames carried) of each frame message."""

    def add_frame(self, frame: PriorFrame) -> None:
        self.frames += 1
        self.faces += frame.params.face

    def add_message(self, message: Message) -> None:
        if message.keyframe:
            self.keyframes.append(len(message.data))
        else:
            self.frame_messages.append((len(message.data), len(message.seqs)))


def run(args: argparse.Namespace) -> int:
    output = args.output or Path(Path(args.input).stem + ".fcs")
    source = open_source(args.input)
    prior = None
    try:
        op = _operating_point(args, source.info)
        prior = _build_prior(args, op)
        encoder = SenderEncoder(prior, EncoderConfig(op=op, bundle_frames=args.bundle))
        with open(output, "wb") as file:
            tally = _encode(source, prior, encoder, StreamWriter(file, source.info.fps), args)
    finally:
        source.close()
        if prior is not None:
            prior.close()
    _print_summary(args.input, output, source.info, op, args.bundle, tally)
    return 0


def _build_prior(args: argparse.Namespace, op: OperatingPoint) -> FacePrior:
    """The face prior the flags ask for, computing the keypoints ``op`` sends and no more."""
    if args.identity_frames < 1:
        raise ValueError("--identity-frames must be at least 1")
    if op.keypoints > K_MAX:
        raise ValueError(f"--keypoints {op.keypoints}: the face priors give at most {K_MAX}")
    config = PriorConfig(identity_frames=args.identity_frames, keypoints=op.keypoints)
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


def _operating_point(args: argparse.Namespace, info: SourceInfo) -> OperatingPoint:
    given = {name: getattr(args, name) for name in _OP_FIELDS if getattr(args, name) is not None}
    if args.bitrate is None:
        return OperatingPoint(**given)
    if given:
        flags = ", ".join("--" + name.replace("_", "-") for name in given)
        raise ValueError(f"give either --bitrate or {flags}, not both")
    return _point_for_bitrate(args.bitrate, info.fps, args.bundle)


def _point_for_bitrate(bps: int, fps: float, bundle: int) -> OperatingPoint:
    """The least distorted point of the rate table whose frame payload fits ``bps``."""
    from facecodec.bitrate import DEFAULT_TABLE_PATH, RatePoint, load_table

    if not DEFAULT_TABLE_PATH.exists():
        raise FileNotFoundError(
            f"--bitrate needs the rate-distortion table {DEFAULT_TABLE_PATH}, which is not built "
            "(python -m facecodec.bitrate.rd_table); give the operating point instead"
        )
    table = load_table()

    def cost_bps(row: RatePoint) -> float:
        per_frame = row.bytes_per_frame + table.bytes_per_message / bundle
        return 8 * per_frame * fps / row.point.frame_interval

    fitting = [row for row in table.points if cost_bps(row) <= bps]
    if not fitting:
        cheapest = min(table.points, key=cost_bps)
        raise ValueError(
            f"no operating point fits {bps} bps at {fps:g} fps; the cheapest, "
            f"{cheapest.point}, needs {cost_bps(cheapest):.0f} bps"
        )
    return min(fitting, key=lambda row: (row.distortion, cost_bps(row))).point


def _encode(
    source: FrameSource,
    prior: FacePrior,
    encoder: SenderEncoder,
    writer: StreamWriter,
    args: argparse.Namespace,
) -> Tally:
    tally = Tally()
    total = source.info.frames
    if args.frames is not None:
        total = args.frames if total is None else min(total, args.frames)

    def emit(frames: list[PriorFrame]) -> None:
        for frame in frames:
            tally.add_frame(frame)
            for message in encoder.encode(frame):
                writer.write(message.data)
                tally.add_message(message)

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
    for message in encoder.flush():
        writer.write(message.data)
        tally.add_message(message)
    return tally


def _print_summary(
    name: str,
    output: Path,
    info: SourceInfo,
    op: OperatingPoint,
    bundle: int,
    tally: Tally,
) -> None:
    print(
        f"{name}: {info.width}x{info.height} at {info.fps:g} fps, {tally.frames} frames, "
        f"{tally.faces} with a face"
    )
    print(
        f"operating point: {op.keypoints} keypoints, {op.expression_dims} expression dims, "
        f"quant level {op.quant_level}, frame interval {op.frame_interval}, bundles of {bundle}"
    )
    print(f"keyframes: {len(tally.keyframes)}, {sum(tally.keyframes)} B")
    if not tally.frame_messages:
        print("no frame messages" + ("" if tally.faces else ": no face found"))
    else:
        payload = sum(size for size, _ in tally.frame_messages)
        sent = sum(count for _, count in tally.frame_messages)
        largest = max(size / count for size, count in tally.frame_messages)
        kbps = 8 * payload / tally.frames * info.fps / 1000
        print(
            f"frame messages: {len(tally.frame_messages)} carrying {sent} frames, "
            f"{payload / sent:.2f} B per sent frame (max {largest:.2f} B); "
            f"{kbps:.2f} kbps at {info.fps:g} fps, keyframes not included"
        )
    print(f"wrote {output} ({output.stat().st_size} B)")
