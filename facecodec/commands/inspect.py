"""``facecodec inspect FILE``: a stream file's header, messages and per-frame sizes."""

from __future__ import annotations

import argparse
from pathlib import Path

from facecodec.codec import (
    BitstreamError,
    FrameDecoder,
    MessageType,
    StreamReader,
    decode_cached_keyframe,
    decode_control,
    decode_keyframe,
    decode_keyframe_part,
    parse_message,
)
from facecodec.types import Keyframe, OperatingPoint


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "inspect",
        help="print a bitstream file's header and per-frame sizes",
        description=__doc__,
    )
    parser.add_argument("file", type=Path, help="stream file written by facecodec encode")
    parser.add_argument(
        "--messages",
        type=int,
        default=None,
        metavar="N",
        help="list only the first N messages (default: all)",
    )
    parser.set_defaults(run=run)


_NAMES = {
    MessageType.KEYFRAME: "keyframe",
    MessageType.FRAMES_INTER: "inter",
    MessageType.FRAMES_INTRA: "intra",
    MessageType.CONTROL: "control",
    MessageType.KEYFRAME_PART: "keyframe part",
    MessageType.CACHED_KEYFRAME: "cached keyframe",
}


def _op_text(op: OperatingPoint) -> str:
    return (
        f"keypoints={op.keypoints} expression_dims={op.expression_dims} "
        f"quant_level={op.quant_level} frame_interval={op.frame_interval}"
    )


def _keypoint_predictor(keyframe: Keyframe):
    """The face model's keypoints for this keyframe's identity, when the shipped model matches."""
    from facecodec.sender.face_model import FaceModel  # the sender's model, only when needed

    model = FaceModel.load()
    if model.version != keyframe.face_model:
        return None
    return lambda params, count: model.keypoints(keyframe.identity, params, count)


def run(args: argparse.Namespace) -> int:
    with open(args.file, "rb") as f:
        reader = StreamReader(f)
        print(f"{args.file}: facecodec stream, format version {reader.version}, {reader.fps:g} fps")
        decoder = FrameDecoder()
        counts = {kind: 0 for kind in MessageType}
        sizes = {kind: 0 for kind in MessageType}
        frames = faces = errors = 0
        first_seq = last_seq = None
        print(f"{'msg':>5} {'type':8} {'bytes':>6} {'frames':>6} {'seqs':>13} {'B/frame':>8}")
        for index, message in enumerate(reader):
            listed = args.messages is None or index < args.messages
            try:
                kind = parse_message(message)
            except BitstreamError as exc:
                errors += 1
                print(f"{index:5d} {'?':8} {len(message):6d} error: {exc}")
                continue
            counts[kind] += 1
            sizes[kind] += len(message)
            detail = ""
            try:
                if kind == MessageType.KEYFRAME:
                    keyframe, op = decode_keyframe(message)
                    decoder.set_keyframe(keyframe, op)
                    decoder.keypoint_predictor = _keypoint_predictor(keyframe)
                    h, w = keyframe.image.shape[:2]
                    detail = (
                        f"seq {keyframe.params.seq}, image {w}x{h}, identity "
                        f"{keyframe.identity.size} dims, face model {keyframe.face_model!r}, "
                        f"network {keyframe.network or 'any'!r}, {_op_text(op)}"
                    )
                elif kind == MessageType.CONTROL:
                    detail = repr(decode_control(message))
                elif kind == MessageType.KEYFRAME_PART:
                    part = decode_keyframe_part(message)
                    detail = f"seq {part.seq}, bytes {part.offset}-{part.offset + len(part.data)}"
                elif kind == MessageType.CACHED_KEYFRAME:
                    named = decode_cached_keyframe(message)
                    detail = f"seq {named.seq}, key {named.key.hex()}, {_op_text(named.op)}"
                else:
                    decoded = decoder.decode(message)
                    seqs = [p.seq for p in decoded]
                    frames += len(decoded)
                    faces += sum(p.face for p in decoded)
                    first_seq = seqs[0] if first_seq is None else first_seq
                    last_seq = seqs[-1]
                    if listed:
                        span = f"{seqs[0]}-{seqs[-1]}" if len(seqs) > 1 else str(seqs[0])
                        print(
                            f"{index:5d} {_NAMES[kind]:8} {len(message):6d} "
                            f"{len(seqs):6d} {span:>13} {len(message) / len(seqs):8.2f}"
                        )
                    continue
            except BitstreamError as exc:
                errors += 1
                detail = f"error: {exc}"
            if listed:
                print(
                    f"{index:5d} {_NAMES[kind]:8} {len(message):6d} {'':6} {'':13} {'':8} {detail}"
                )
    frame_bytes = sizes[MessageType.FRAMES_INTER] + sizes[MessageType.FRAMES_INTRA]
    frame_messages = counts[MessageType.FRAMES_INTER] + counts[MessageType.FRAMES_INTRA]
    print(
        f"keyframes: {counts[MessageType.KEYFRAME]} ({sizes[MessageType.KEYFRAME]} B); "
        f"control: {counts[MessageType.CONTROL]} ({sizes[MessageType.CONTROL]} B); "
        f"undecodable: {errors}"
    )
    if frames:
        span = last_seq - first_seq + 1
        per_frame = frame_bytes / frames
        print(
            f"frames: {frames} sent ({faces} with a face) in {frame_messages} messages, "
            f"{frame_bytes} B: {per_frame:.2f} B per sent frame, {frame_bytes / span:.2f} B per "
            f"captured frame, {8 * frame_bytes / span * reader.fps / 1000:.2f} kbps payload at "
            f"{reader.fps:g} fps"
        )
    return 1 if errors else 0
