"""Measure the alternatives behind the bitstream's choices, on validation identities.

    python -m facecodec.codec.measure_alternatives [--params .cache/prior_params.npz]

Prints, and writes to runs/codec/alternatives.json (docs/bitstream.md quotes the numbers):

1. entropy coding of frame messages: the shipped coder (trained initial probabilities, adapted
   within each message) against no adaptation, other adaptation rates, untrained probabilities,
   and the bare binarisation (exp-Golomb-like bits, no modelling);
2. the encoder's hysteresis: bytes against keypoint error;
3. explicit keypoints coded directly or as residuals against the face model;
4. what msgpack and zstd cost or save on frame, control and keyframe messages.

Validation identities only: the tables were trained on the others.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import msgpack
import numpy as np
import zstandard

from facecodec.sender.face_model import FaceModel
from facecodec.types import OperatingPoint

from .control import (
    KeyframeReason,
    KeyframeRequest,
    OperatingPointChange,
    ReceiverReport,
    encode_control,
)
from .entropy import ADAPT_SHIFT, context_tables, uniform_tables
from .evaluate import IdentityKeypoints, encode_clip, keypoint_errors
from .frames import DEFAULT_HYSTERESIS, HEADER_BYTES
from .keyframe import encode_keyframe
from .prior_data import DEFAULT_PARAMS, ClipParams, load_clips
from .quantize import KeypointMode, field_layout, num_quant_levels
from .rangecoder import ArithmeticEncoder

ENTROPY_OPS = (
    OperatingPoint(0, 8, 3, 1),
    OperatingPoint(0, 16, 2, 1),
    OperatingPoint(8, 16, 2, 1),
    OperatingPoint(16, 50, 1, 1),
)
HYSTERESIS = (0.0, 0.1, 0.2, 0.3, 0.5)
HYSTERESIS_OPS = (OperatingPoint(0, 16, 2, 1), OperatingPoint(0, 16, 4, 1))
KEYPOINT_OPS = (
    OperatingPoint(8, 16, 2, 1),
    OperatingPoint(16, 8, 2, 1),
    OperatingPoint(32, 50, 1, 1),
)
BUNDLES = (1, 5)
REPO = Path(__file__).resolve().parents[1]


def _coder(shift: int):
    return lambda probs: ArithmeticEncoder(probs, shift)


def _bytes_per_frame(clips, op, model, bundle, **kwargs) -> tuple[float, float]:
    """(payload bytes per sent frame, mean keypoint error px) over ``clips``."""
    total = frames = 0
    errors = []
    for clip in clips:
        keypoints = IdentityKeypoints(model, clip.identity)
        sizes, decoded = encode_clip(clip, op, bundle, keypoints, **kwargs)
        total += sum(sizes)
        frames += len(decoded)
        errors.append(keypoint_errors(clip, op, decoded, keypoints).mean(1))
    return total / frames, float(np.concatenate(errors).mean())


def entropy_alternatives(clips, model) -> list[dict]:
    trained = context_tables()
    uniform = uniform_tables(num_quant_levels())
    variants = {
        f"trained, adapt 1/{2**ADAPT_SHIFT} (shipped)": {"coder": _coder(ADAPT_SHIFT)},
        "trained, no adaptation": {"coder": _coder(0)},
        "trained, adapt 1/4": {"coder": _coder(2)},
        "trained, adapt 1/16": {"coder": _coder(4)},
        "trained, adapt 1/32": {"coder": _coder(5)},
        "untrained (p=1/2), adapt 1/8": {"coder": _coder(ADAPT_SHIFT), "tables": uniform},
        "bare binarisation (1 bit per decision)": {"coder": _coder(0), "tables": uniform},
    }
    rows = []
    for op in ENTROPY_OPS:
        for bundle in BUNDLES:
            row = {"op": _op(op), "bundle": bundle}
            for name, kwargs in variants.items():
                kwargs.setdefault("tables", trained)
                row[name] = _bytes_per_frame(clips, op, model, bundle, **kwargs)[0]
            rows.append(row)
    return rows


def hysteresis_tradeoff(clips, model) -> list[dict]:
    rows = []
    for op in HYSTERESIS_OPS:
        for h in HYSTERESIS:
            rate, error = _bytes_per_frame(clips, op, model, 1, hysteresis=h)
            rows.append({"op": _op(op), "hysteresis": h, "bytes": rate, "error_px": error})
    return rows


def keypoint_modes(clips, model) -> list[dict]:
    rows = []
    for op in KEYPOINT_OPS:
        for residual in (False, True):
            rate, error = _bytes_per_frame(clips, op, model, 1, model_residual=residual)
            rows.append(
                {
                    "op": _op(op),
                    "mode": "model residual" if residual else "direct",
                    "bytes": rate,
                    "error_px": error,
                }
            )
    return rows


def _residuals(clip: ClipParams, op: OperatingPoint, model: FaceModel) -> list[list[int]]:
    """Quantisation-index differences of consecutive frames, as the frame coder sees them."""
    layout = field_layout(op.quant_level, op.expression_dims, op.keypoints, KeypointMode.DIRECT)
    _, decoded = encode_clip(
        clip, op, 1, IdentityKeypoints(model, clip.identity), model_residual=False
    )
    out, previous = [], None
    for seq in sorted(decoded):
        p = decoded[seq]
        if not p.face:
            continue
        values = np.concatenate([p.rotation, p.translation, [p.scale], p.expression])
        if op.keypoints:
            values = np.concatenate([values, p.keypoints.reshape(-1)])
        index = np.rint(values / layout.steps).astype(np.int64)
        if previous is not None:
            out.append((index - previous).tolist())
        previous = index
    return out


def container_overhead(clips, model, data_dir: Path) -> dict:
    """msgpack and zstd against the hand-laid layouts."""
    zstd = zstandard.ZstdCompressor(level=19)
    magicless = zstandard.ZstdCompressor(
        compression_params=zstandard.ZstdCompressionParameters.from_level(
            19,
            format=zstandard.FORMAT_ZSTD1_MAGICLESS,
            write_checksum=0,
            write_content_size=0,
            write_dict_id=0,
        )
    )
    out: dict = {
        "zstd_frame_of_empty_input": len(zstd.compress(b"")),
        "zstd_magicless_frame_of_empty_input": len(magicless.compress(b"")),
    }
    op = OperatingPoint(0, 16, 2, 1)
    ours, packed, zstd_ours, zstd_magicless_ours, zstd_packed = [], [], [], [], []
    for clip in clips:
        keypoints = IdentityKeypoints(model, clip.identity)
        sizes, _ = encode_clip(clip, op, 1, keypoints)
        ours += sizes
        for i, residual in enumerate(_residuals(clip, op, model)):
            # msgpack of what a frame message says: seq, reference, the residual indices
            p = msgpack.packb([i + 2, i + 1, residual])
            packed.append(len(p))
            zstd_packed.append(len(zstd.compress(p)))
            raw = np.asarray(residual, np.int8).tobytes()
            zstd_ours.append(HEADER_BYTES + len(zstd.compress(raw)))
            zstd_magicless_ours.append(HEADER_BYTES + len(magicless.compress(raw)))
    out["frame_message_bytes"] = {
        "op": _op(op),
        "range coder (shipped)": float(np.mean(ours)),
        "msgpack [seq, ref, residuals]": float(np.mean(packed)),
        "zstd(msgpack)": float(np.mean(zstd_packed)),
        "header + zstd(int8 residuals)": float(np.mean(zstd_ours)),
        "header + magicless zstd(int8 residuals)": float(np.mean(zstd_magicless_ours)),
    }
    controls = [
        KeyframeRequest(KeyframeReason.MISSING_REFERENCE, 1234),
        OperatingPointChange(1250, OperatingPoint(8, 16, 2, 1)),
        ReceiverReport(1249, 17, 85, 2400),
    ]
    rows = []
    for message in controls:
        data = encode_control(message)
        fields = {
            k: (int(v) if not isinstance(v, OperatingPoint) else list(vars(v).values()))
            for k, v in vars(message).items()
        }
        as_map = msgpack.packb({"type": type(message).__name__, **fields})
        as_array = msgpack.packb([data[1], *fields.values()])
        rows.append(
            {
                "message": type(message).__name__,
                "hand-laid (shipped)": len(data),
                "msgpack map": len(as_map),
                "msgpack array": len(as_array) + 1,
                "zstd(hand-laid)": len(zstd.compress(data)),
                "magicless zstd(hand-laid)": len(magicless.compress(data)),
            }
        )
    out["control_message_bytes"] = rows
    sizes = {
        "hand-laid (shipped)": [],
        "msgpack map": [],
        "zstd(whole message)": [],
        "metadata hand-laid": [],
        "metadata msgpack": [],
        "metadata zstd": [],
    }
    for clip in clips:
        keyframe = clip.keyframe(data_dir, model.version)
        if keyframe is None:
            continue
        data = encode_keyframe(keyframe, op)
        p = clip.frames[0]
        meta = {
            "seq": p.seq,
            "op": [op.keypoints, op.expression_dims, op.quant_level, op.frame_interval],
            "face_model": model.version,
            "network": "",
            "identity": np.asarray(clip.identity, "<f4").tobytes(),
            "face": p.face,
            "pose": np.concatenate([p.rotation, p.translation, [p.scale]]).astype("<f4").tobytes(),
            "expression": p.expression.astype("<f4").tobytes(),
            "keypoints": p.keypoints.astype("<f4").tobytes(),
        }
        image_len = _image_length(data)
        meta_ours = len(data) - image_len
        sizes["hand-laid (shipped)"].append(len(data))
        sizes["msgpack map"].append(
            len(
                msgpack.packb(
                    {
                        **meta,
                        "codec": 2,
                        "width": 256,
                        "height": 256,
                        "image": data[-4 - image_len : -4],
                    }
                )
            )
            + 4
        )
        sizes["zstd(whole message)"].append(len(zstd.compress(data)))
        sizes["metadata hand-laid"].append(meta_ours)
        sizes["metadata msgpack"].append(len(msgpack.packb(meta)) + 4 + 9)
        sizes["metadata zstd"].append(len(zstd.compress(data[: len(data) - 4 - image_len])) + 4)
    out["keyframe_message_bytes"] = {k: float(np.mean(v)) for k, v in sizes.items()}
    return out


def _image_length(data: bytes) -> int:
    """Length of the coded image inside a keyframe message (the u32 before it)."""
    for start in range(len(data) - 8, 0, -1):
        length = int.from_bytes(data[start : start + 4], "little")
        if start + 4 + length == len(data) - 4:
            return length
    raise ValueError("no image in keyframe message")


def _op(op: OperatingPoint) -> str:
    return f"k={op.keypoints} d={op.expression_dims} q={op.quant_level} n={op.frame_interval}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=Path, default=DEFAULT_PARAMS)
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=Path("runs/codec/alternatives.json"))
    args = parser.parse_args()
    model = FaceModel.load()
    clips = [c for c in load_clips(model, args.params) if c.validation]
    results = {
        "clips": len(clips),
        "frames": sum(len(c.frames) for c in clips),
        "default_hysteresis": DEFAULT_HYSTERESIS,
        "entropy": entropy_alternatives(clips, model),
        "hysteresis": hysteresis_tradeoff(clips, model),
        "keypoint_modes": keypoint_modes(clips, model),
        "containers": container_overhead(clips, model, args.data),
    }
    print(json.dumps(results, indent=1))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
