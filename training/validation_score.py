"""Validation that the sender does not grade, CPU side: the renders of
training/validation_render.py scored against the real frames with the benchmark's metrics
(dlib AKD and AKD-M, AED, PSNR, SSIM; benchmark/scoring.py), one row per condition.

    python -m facecodec.training.validation_score RENDERS --validation .gpu-validation \\
        [--data ../shared/data] [--out RENDERS/validation.json]

Each rendered crop is put back where the sender's view (the keyframe's crop, in whose
coordinates the parameters are sent) sits in the frame, as the benchmark does, and compared with
that frame; scores are means over clips of the per-clip means; the payload
counts the frame messages of the stream file (as the issue's table: keyframes apart).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np

from facecodec.benchmark.clips import read_video
from facecodec.benchmark.facecodec_render import place_crop
from facecodec.benchmark.scoring import QualityScores, Scorer
from facecodec.codec import MessageType, StreamReader, parse_message
from facecodec.sender.crop import CropBox
from facecodec.training.validation_render import MANIFEST, RAW

REPO = Path(__file__).resolve().parents[1]
METRICS = ("akd", "akd_mouth", "aed", "psnr", "ssim")
FRAME_MESSAGES = frozenset({MessageType.FRAMES_INTER, MessageType.FRAMES_INTRA})


def read_renders(path: Path) -> dict[str, dict[int, np.ndarray]]:
    """val_{label}.npz -> {clip stem: {seq: (S, S, 3) RGB}}."""
    out: dict[str, dict[int, np.ndarray]] = {}
    with np.load(path) as z:
        data, offsets = z["jpeg_bytes"], z["jpeg_offsets"]
        for i, (stem, seq) in enumerate(zip(z["clip"].astype(str), z["seq"], strict=True)):
            jpeg = data[offsets[i] : offsets[i + 1]]
            image = cv2.cvtColor(cv2.imdecode(jpeg, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
            out.setdefault(stem, {})[int(seq)] = image
    return out


def placed(
    images: dict[int, np.ndarray], boxes: np.ndarray, seqs: list[int], size: int
) -> np.ndarray:
    """(len(seqs), size, size, 3) renders put back into the frame; mid-grey where the receiver
    drew nothing for a seq (a frame before the first keyframe, or without a face)."""
    out = np.full((len(seqs), size, size, 3), 128, np.uint8)
    for i, seq in enumerate(seqs):
        if seq in images:
            x, y, side = boxes[seq]
            box = CropBox(int(x), int(y), int(side)) if side > 0 else None
            out[i] = place_crop(images[seq], box, size)
    return out


def payload_kbps(validation: Path, stem: str, label: str, seconds: float) -> float | None:
    """Bytes of a stream's frame messages (not keyframes, not control) over the clip."""
    path = validation / f"{stem}.{label}.fcs"
    if not path.exists():
        return None
    with open(path, "rb") as file:
        sizes = [len(m) for m in StreamReader(file) if parse_message(m) in FRAME_MESSAGES]
    return sum(sizes) * 8 / 1000 / seconds


def score(renders: Path, validation: Path, data: Path) -> dict[str, dict[str, float | None]]:
    """{label: {metric: mean over clips, 'payload_kbps': median, 'clips'}} per condition."""
    manifest = json.loads((validation / MANIFEST).read_text())
    labels = [*manifest["labels"], RAW]
    stride, scorer = manifest["stride"], Scorer(feature_stride=1)
    per_label: dict[str, list[tuple[QualityScores, float | None]]] = {k: [] for k in labels}
    rendered = {label: read_renders(renders / f"val_{label}.npz") for label in labels}
    for clip in manifest["clips"]:
        frames, fps = read_video(data / "train" / clip["file"])
        seqs = list(range(stride, len(frames), stride))
        reference = frames[seqs]
        analysis = scorer.analyse(reference)
        with np.load(validation / f"{clip['stem']}.npz") as z:
            boxes = {k: z[f"box_{k}"] for k in manifest["labels"]} | {RAW: z["raw_box"]}
        for label in labels:
            images = rendered[label].get(clip["stem"], {})
            output = placed(images, boxes[label], seqs, frames.shape[1])
            scores, _ = scorer.reconstruction(analysis, reference, output)
            rate = payload_kbps(validation, clip["stem"], label, len(frames) / fps)
            per_label[label].append((scores, rate))
    return {label: summary(rows) for label, rows in per_label.items()}


def summary(rows: list[tuple[QualityScores, float | None]]) -> dict[str, float | None]:
    table: dict[str, float | None] = {}
    for metric in METRICS:
        values = [getattr(s, metric) for s, _ in rows if getattr(s, metric) is not None]
        table[metric] = float(np.mean(values)) if values else None
    rates = [r for _, r in rows if r is not None]
    table["payload_kbps"] = float(np.median(rates)) if rates else None
    table["clips"] = len(rows)
    return table


def markdown(table: dict[str, dict[str, float | None]]) -> str:
    lines = [
        "| condition | payload kbps (median) | AKD px | AKD-M px | AED | PSNR dB | SSIM |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, row in table.items():
        cells = [row["payload_kbps"], *(row[m] for m in METRICS)]
        text = ["" if v is None else f"{v:.3f}" if abs(v) < 1 else f"{v:.2f}" for v in cells]
        lines.append(f"| {label} | " + " | ".join(text) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("renders", type=Path)
    parser.add_argument("--validation", type=Path, default=REPO / ".gpu-validation")
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    table = score(args.renders, args.validation, args.data)
    (args.out or args.renders / "validation.json").write_text(json.dumps(table, indent=1) + "\n")
    print(markdown(table))


if __name__ == "__main__":
    main()
