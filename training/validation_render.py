"""Validation that the sender does not grade, GPU side: the held-out streams of
training/validation_encode.py rendered with new weights as a receiver in a call shows them.

    python3 -m facecodec.training.validation_render .gpu/validation --weights DIR --out DIR

Each stream is replayed by the call's receiving session and renderer (keyframes, decoding,
concealment: what ``facecodec decode`` does); the raw-parameter ceiling renders the sender's
unquantised parameters from uncompressed keyframe crops. Every SCORE_STRIDE-th frame is kept,
as the receiver drew it (the crop, before it is put back into the frame), in one file per
condition, ``val_{label}.npz`` (JPEG, small enough to come back from the GPU
machine). Imports torch, numpy, OpenCV and facecodec only.
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

import cv2
import numpy as np

from facecodec.call.render import RenderConfig, RenderedFrame
from facecodec.call.replay import replaying
from facecodec.codec import StreamReader
from facecodec.receiver.receiver import Receiver
from facecodec.types import FrameParams, Keyframe

MANIFEST = "manifest.json"
"""In the validation folder: the clips (stem, file, frames, fps), the labels, the stride."""
RAW = "raw"
"""The label of the raw-parameter ceiling."""
RAW_BATCH = 32
JPEG_QUALITY = 90
"""About 12 KB a frame: the 780 scored frames of a condition stay under the 16 MiB a file
that comes back from the GPU machine; its error (about 40 dB PSNR) is far below the
renders' own."""


def render_stream(path: Path, receiver: Receiver, stride: int) -> dict[int, np.ndarray]:
    """Frames by seq (multiples of ``stride``) that the receiving session draws from a stream."""
    frames: dict[int, np.ndarray] = {}

    def keep(frame: RenderedFrame) -> None:
        frames[frame.seq] = frame.image

    with open(path, "rb") as file, replaying(receiver, [keep], RenderConfig(every=stride)) as s:
        reader = StreamReader(file)
        s.replay(reader.records(), reader.fps)
    return frames


def frame_params(raw: dict[str, np.ndarray], seq: int) -> FrameParams:
    return FrameParams(
        seq=seq,
        rotation=raw["raw_rotation"][seq],
        translation=raw["raw_translation"][seq],
        scale=float(raw["raw_scale"][seq]),
        expression=raw["raw_expression"][seq],
    )


def render_raw(raw: dict[str, np.ndarray], receiver: Receiver, stride: int) -> dict:
    """Frames by seq (multiples of ``stride``) from unquantised parameters, each drawn from the
    newest keyframe crop the sender took at or before it; frames without a face are skipped."""
    starts = [*raw["raw_keyframe_seq"].tolist(), len(raw["raw_face"])]
    frames: dict[int, np.ndarray] = {}
    for k, (first, end) in enumerate(itertools.pairwise(starts)):
        receiver.set_keyframe(
            Keyframe(
                raw["raw_keyframe_crop"][k],
                raw["raw_identity"][first],
                frame_params(raw, first),
                receiver.face_model.version,
            )
        )
        seqs = [s for s in range(first, end) if s % stride == 0 and s and raw["raw_face"][s]]
        for i in range(0, len(seqs), RAW_BATCH):
            batch = seqs[i : i + RAW_BATCH]
            images = receiver.render([frame_params(raw, s) for s in batch])
            frames.update(zip(batch, images, strict=True))
    return frames


def write_frames(path: Path, frames: list[tuple[str, int, np.ndarray]]) -> None:
    """(clip stem, seq, (S, S, 3) RGB) frames as JPEG bytes with their clip and seq."""
    quality = [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]
    jpegs = [
        cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), quality)[1]
        for _, _, image in frames
    ]
    np.savez(
        path,
        jpeg_bytes=np.concatenate(jpegs).reshape(-1) if jpegs else np.zeros(0, np.uint8),
        jpeg_offsets=np.cumsum([0] + [len(j) for j in jpegs]),
        clip=np.array([stem for stem, _, _ in frames]),
        seq=np.array([seq for _, seq, _ in frames], np.int32),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("validation", type=Path)
    parser.add_argument("--weights", type=Path, help="default: the shipped weights")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    manifest = json.loads((args.validation / MANIFEST).read_text())
    receiver = Receiver(args.weights, device=args.device)
    stride = manifest["stride"]
    args.out.mkdir(parents=True, exist_ok=True)
    for label in [*manifest["labels"], RAW]:
        frames = []
        for clip in manifest["clips"]:
            stem = clip["stem"]
            if label == RAW:
                with np.load(args.validation / f"{stem}.npz") as z:
                    drawn = render_raw({k: z[k] for k in z.files}, receiver, stride)
            else:
                drawn = render_stream(args.validation / f"{stem}.{label}.fcs", receiver, stride)
            frames += [(stem, seq, image) for seq, image in sorted(drawn.items())]
        write_frames(args.out / f"val_{label}.npz", frames)
        print(f"{label}: {len(frames)} frames", flush=True)


if __name__ == "__main__":
    main()
