"""Measure bytes per frame and keypoint error for a grid of operating points on real data.

    python -m facecodec.bitrate.rd_table [--params .cache/prior_params.npz]
        [--data ../shared/data] [--jobs 2] [--train-frames 75]

Every clip of ../shared/data, as fitted in ``.cache/prior_params.npz``
(training/precompute_params.py), goes through the frame encoder (codec/evaluate.py, byte-exact
with FrameEncoder) at every operating point of the grid: the first frame is the keyframe, every
``frame_interval``-th frame after it is sent in bundles of 1 and of ``BUNDLE`` frames, each
message predicting from the previous message's last frame (no loss). Validation clips are taken
whole, training clips for their first ``TRAIN_FRAMES`` frames (the grid is 720 points of
pure-Python coding: about an hour on two busy cores). Reported separately for training and
validation identities:

- payload bytes per captured frame at 25 fps, for both bundle sizes (keyframes excluded, their
  size is reported on its own), and the split of a message into fixed bytes and bytes per frame;
- distortion: the mean 3D distance, in pixels of a 256 crop, between the 32 keypoints the
  receiver gets (explicit ones as decoded, the others from the face model with the decoded pose
  and truncated expression; frames that are not sent interpolated linearly between sent ones)
  and the keypoints of the unquantised, full-expression parameters; and the same for the mouth
  keypoints alone.

Writes bitrate/rd_table.json (read by bitrate/table.py; the top-level ``bytes_per_frame`` and
``distortion`` of each point are the training split's) and docs/operating_points.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from dataclasses import dataclass, field
from multiprocessing import Pool
from pathlib import Path

import numpy as np

from facecodec.codec.evaluate import (
    IdentityKeypoints,
    encode_clip_fast,
    keypoint_errors,
    mouth_keypoints,
)
from facecodec.codec.frames import DEFAULT_HYSTERESIS
from facecodec.codec.keyframe import encode_keyframe
from facecodec.codec.messages import FORMAT_VERSION
from facecodec.codec.prior_data import DEFAULT_PARAMS, ClipParams, load_clips
from facecodec.codec.quantize import quant_tables
from facecodec.sender.face_model import FaceModel
from facecodec.types import OperatingPoint

REPO = Path(__file__).resolve().parents[1]
TABLE_PATH = Path(__file__).with_name("rd_table.json")
DOC_PATH = REPO / "docs" / "operating_points.md"
TABLE_VERSION = 1
FPS = 25.0
KEYPOINTS = (0, 4, 8, 16, 32)
EXPRESSION_DIMS = (0, 4, 8, 16, 32, 50)
FRAME_INTERVALS = (1, 2, 3, 5)
BUNDLE = 5
"""Frames per message of the bundled measurement (200 ms of frames at interval 1)."""
SPLITS = ("train", "validation")
MIN_BYTES_PER_FRAME = 0.125
TRAIN_FRAMES = 75
"""Frames from the start of each training clip (3 s: the grid is 720 points of pure-Python
coding); validation clips are taken whole."""

_CLIPS: list[ClipParams] = []
_MODEL: FaceModel | None = None


@dataclass
class Tally:
    """Sums over the clips of one split at one operating point."""

    captured: int = 0
    """Frames after each clip's keyframe: the frames the payload pays for."""
    sent: int = 0
    bytes: dict[int, int] = field(default_factory=lambda: {1: 0, BUNDLE: 0})
    messages: dict[int, int] = field(default_factory=lambda: {1: 0, BUNDLE: 0})
    error_sum: float = 0.0
    mouth_error_sum: float = 0.0
    error_frames: int = 0


def _init_worker(params_path: Path, train_frames: int) -> None:
    global _MODEL
    _MODEL = FaceModel.load()
    _CLIPS[:] = load_clips(_MODEL, params_path)
    if train_frames:
        for clip in _CLIPS:
            if not clip.validation:
                clip.frames = clip.frames[:train_frames]


def measure(op: OperatingPoint) -> dict[str, Tally]:
    """Tallies per split of one operating point over all clips (worker)."""
    assert _MODEL is not None
    mouth = mouth_keypoints(_MODEL)
    tallies = {split: Tally() for split in SPLITS}
    for clip in _CLIPS:
        tally = tallies["validation" if clip.validation else "train"]
        keypoints = IdentityKeypoints(_MODEL, clip.identity)
        sizes, decoded = encode_clip_fast(clip, op, (1, BUNDLE), keypoints)
        for bundle in (1, BUNDLE):
            tally.bytes[bundle] += sum(sizes[bundle])
            tally.messages[bundle] += len(sizes[bundle])
        tally.captured += len(clip.frames) - 1
        tally.sent += len(decoded)
        errors = keypoint_errors(clip, op, decoded, keypoints)
        tally.error_sum += float(errors.mean(1).sum())
        tally.mouth_error_sum += float(errors[:, mouth].mean(1).sum())
        tally.error_frames += errors.shape[0]
    return tallies


def _summary(tally: Tally) -> dict[str, float]:
    b1, bn = tally.bytes[1], tally.bytes[BUNDLE]
    m1, mn = tally.messages[1], tally.messages[BUNDLE]
    # bytes = fixed * messages + per_frame * sent frames, from the two bundle sizes
    fixed = (b1 - bn) / (m1 - mn) if m1 != mn else 0.0
    per_frame = (b1 - fixed * m1) / max(tally.sent, 1)
    return {
        "bytes_per_frame_bundle1": b1 / tally.captured,
        f"bytes_per_frame_bundle{BUNDLE}": bn / tally.captured,
        "kbps_bundle1": 8 * b1 / tally.captured * FPS / 1000,
        f"kbps_bundle{BUNDLE}": 8 * bn / tally.captured * FPS / 1000,
        "message_fixed_bytes": fixed,
        "bytes_per_sent_frame": per_frame,
        "error_px": tally.error_sum / max(tally.error_frames, 1),
        "mouth_error_px": tally.mouth_error_sum / max(tally.error_frames, 1),
        "captured_frames": tally.captured,
    }


def keyframe_bytes(clips: list[ClipParams], data_dir: Path, op: OperatingPoint) -> dict:
    """Mean keyframe message bytes per split (first frame of each clip, default image codec)."""
    sizes: dict[str, list[int]] = {split: [] for split in SPLITS}
    for clip in clips:
        keyframe = clip.keyframe(data_dir, "mp478")
        if keyframe is None:
            continue
        sizes["validation" if clip.validation else "train"].append(
            len(encode_keyframe(keyframe, op))
        )
    return {s: float(np.mean(v)) if v else None for s, v in sizes.items()}


def grid() -> list[OperatingPoint]:
    levels = range(len(quant_tables().levels))
    return [
        OperatingPoint(k, d, q, n)
        for k in KEYPOINTS
        for d in EXPRESSION_DIMS
        for q in levels
        for n in FRAME_INTERVALS
    ]


def _row_of(op: OperatingPoint, tallies: dict[str, Tally]) -> dict:
    row: dict = {
        "keypoints": op.keypoints,
        "expression_dims": op.expression_dims,
        "quant_level": op.quant_level,
        "frame_interval": op.frame_interval,
    }
    for split in SPLITS:
        row[split] = _summary(tallies[split])
    # The controller's model is fixed bytes per message + bytes per frame; a frame costs at
    # least a bit (its face flag) even where the two-bundle fit says less.
    row["bytes_per_frame"] = max(row["train"]["bytes_per_sent_frame"], MIN_BYTES_PER_FRAME)
    row["distortion"] = row["train"]["error_px"]
    return row


def _key(row: dict) -> tuple[int, int, int, int]:
    return (row["keypoints"], row["expression_dims"], row["quant_level"], row["frame_interval"])


def _measure_row(op: OperatingPoint) -> dict:
    return _row_of(op, measure(op))


def measure_points(params_path: Path, jobs: int, train_frames: int, log: Path) -> list[dict]:
    """One row per grid point, both splits (the slow part: every clip through the encoder).

    Rows are appended to ``log`` (JSON lines) as they finish; points already there are not
    measured again, so an interrupted run resumes.
    """
    done = {}
    if log.exists():
        for line in log.read_text().splitlines():
            row = json.loads(line)
            done[_key(row)] = row
    todo = [op for op in grid() if _key(vars(op)) not in done]
    start = time.perf_counter()
    log.parent.mkdir(parents=True, exist_ok=True)
    with (
        Pool(jobs, initializer=_init_worker, initargs=(params_path, train_frames)) as pool,
        open(log, "a") as out,
    ):
        for count, row in enumerate(pool.imap_unordered(_measure_row, todo), start=1):
            out.write(json.dumps(row) + "\n")
            out.flush()
            done[_key(row)] = row
            if count % 20 == 0 or count == len(todo):
                print(f"{len(done)}/{len(grid())} points, {time.perf_counter() - start:.0f} s")
    return [done[_key(vars(op))] for op in grid()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=Path, default=DEFAULT_PARAMS)
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument(
        "--train-frames",
        type=int,
        default=TRAIN_FRAMES,
        help="frames from the start of each training clip (0: whole clips)",
    )
    parser.add_argument(
        "--log",
        type=Path,
        default=REPO / "runs" / "rd_table" / "points.jsonl",
        help="measured rows so far (delete it after changing the codec); a run resumes from it",
    )
    args = parser.parse_args()
    points = measure_points(args.params, args.jobs, args.train_frames, args.log)
    model = FaceModel.load()
    clips = load_clips(model, args.params)
    table = {
        "version": TABLE_VERSION,
        "format_version": FORMAT_VERSION,
        "face_model": model.version,
        "params_sha1": hashlib.sha1(args.params.read_bytes()).hexdigest(),
        "fps": FPS,
        "bundle": BUNDLE,
        "train_frames_per_clip": args.train_frames,
        "hysteresis": DEFAULT_HYSTERESIS,
        "bytes_per_message": float(np.median([p["train"]["message_fixed_bytes"] for p in points])),
        "keyframe_bytes": keyframe_bytes(clips, args.data, OperatingPoint()),
        "command": "python -m facecodec.bitrate.rd_table",
        "points": points,
    }
    TABLE_PATH.write_text(json.dumps(table, indent=1) + "\n")
    DOC_PATH.write_text(operating_points_doc(table))
    print(f"wrote {TABLE_PATH} and {DOC_PATH}")


TARGETS_KBPS = (0.5, 1.0, 2.0, 4.0, 8.0)


def _best_under(points: list[dict], key: str, limit: float) -> dict | None:
    """Lowest training error among points whose training ``key`` is at most ``limit``."""
    fitting = [p for p in points if p["train"][key] <= limit]
    return min(fitting, key=lambda p: p["train"]["error_px"]) if fitting else None


def _frontier(points: list[dict], key: str) -> list[dict]:
    """Points no other point beats in both training rate and training error."""
    ordered = sorted(points, key=lambda p: (p["train"][key], p["train"]["error_px"]))
    out, best = [], float("inf")
    for p in ordered:
        if p["train"]["error_px"] < best:
            out.append(p)
            best = p["train"]["error_px"]
    return out


def _row(p: dict) -> str:
    t, v = p["train"], p["validation"]
    bn = f"bytes_per_frame_bundle{BUNDLE}"
    return (
        f"| {p['keypoints']} | {p['expression_dims']} | {p['quant_level']} | "
        f"{p['frame_interval']} | {t['bytes_per_frame_bundle1']:.2f} | {t[bn]:.2f} | "
        f"{t['kbps_bundle1']:.2f} | {t[f'kbps_bundle{BUNDLE}']:.2f} | {t['error_px']:.2f} | "
        f"{t['mouth_error_px']:.2f} | "
        f"{v['bytes_per_frame_bundle1']:.2f} | {v[bn]:.2f} | {v['error_px']:.2f} | "
        f"{v['mouth_error_px']:.2f} |"
    )


def operating_points_doc(table: dict) -> str:
    """docs/operating_points.md from a measured table."""
    points = table["points"]
    header = (
        f"| k | d | q | n | B/frame (1) | B/frame ({BUNDLE}) | kbps (1) | kbps ({BUNDLE}) "
        f"| error px | mouth px | val B/frame (1) | val B/frame ({BUNDLE}) | val error px "
        "| val mouth px |\n"
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    )
    first = points[0]
    kf = table["keyframe_bytes"]
    lines = [
        "# Operating points: measured bytes per frame and keypoint error",
        "",
        "Written by `python -m facecodec.bitrate.rd_table` (bitrate/rd_table.py); the same run",
        "writes `bitrate/rd_table.json`, which the bitrate controller reads. Do not edit by hand.",
        "",
        f"- Data: every clip of ../shared/data as fitted by face model `{table['face_model']}`",
        f"  (`.cache/prior_params.npz`, sha1 `{table['params_sha1'][:12]}`): "
        f"{first['train']['captured_frames']} frames of training identities (the first "
        f"{table['train_frames_per_clip']} frames of each clip; 0 = whole clips), "
        f"{first['validation']['captured_frames']} of validation identities (whole clips, never "
        "seen by the quantisation or entropy-coder tables).",
        f"- Bitstream format version {table['format_version']}, encoder hysteresis "
        f"{table['hysteresis']} steps; {table['fps']:g} fps capture.",
        "- k: explicit keypoints, d: expression dims, q: quantisation level, n: frame interval",
        "  (every n-th frame sent).",
        f"- B/frame (1), ({BUNDLE}): frame-message payload bytes per *captured* frame, with one",
        f"  frame per message or {BUNDLE} sent frames per message; every message predicts from",
        "  the previous one's last frame, the first from the keyframe. kbps = B/frame x 8 x 25.",
        "  Wire overhead (about 95 B per data-channel message, docs/transport.md) is not included.",
        "- error px: mean 3D distance between the 32 keypoints the receiver gets and those of",
        "  the unquantised full-expression parameters, in pixels of a 256 crop (frames that are",
        "  not sent are interpolated linearly between sent ones); mouth px: the 10 lip and",
        "  mouth-corner keypoints alone.",
        f"- Keyframe message (WebP image, identity, parameters): {kf['train']:.0f} B on training,",
        f"  {kf['validation']:.0f} B on validation clips (first frame of each clip), sent once",
        "  per call and on request, not included above.",
        f"- Fixed bytes per frame message (header, coder flush; median): "
        f"{table['bytes_per_message']:.2f}.",
        "",
        "## Least keypoint error within a payload target (picked on the training split)",
        "",
        "| target kbps | bundle | " + header[2:].replace("\n|", "\n|---:|---:|", 1),
    ]
    for bundle in (1, BUNDLE):
        for target in TARGETS_KBPS:
            p = _best_under(points, f"kbps_bundle{bundle}", target)
            if p is not None:
                lines.append(f"| {target:g} | {bundle} " + _row(p))
    lines += [
        "",
        "## At most 10 bytes per frame (2 kbps) with one frame per message",
        "",
        header,
    ]
    p = _best_under(points, "bytes_per_frame_bundle1", 10.0)
    if p is not None:
        lines.append(_row(p))
    lines += [
        "",
        "## Rate-distortion frontier (bundles of 1, training split)",
        "",
        header,
    ]
    lines += [_row(p) for p in _frontier(points, "bytes_per_frame_bundle1")]
    lines += [
        "",
        "## Every measured point",
        "",
        f"<details><summary>{len(points)} operating points</summary>",
        "",
        header,
    ]
    lines += [_row(p) for p in points]
    lines += ["", "</details>", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
