"""Keyframe image codecs judged by what the receiver redraws from them, on validation clips.

    python -m facecodec.benchmark.keyframe_redraw [--data ../shared/data] [--clips 4] [--frames 4]

For the first clip of each of ``--clips`` validation identities (training/splits.py), the
sender's MediaPipe prior makes the keyframe from its first face frame, as a call does, and the
parameters of ``--frames`` later frames of the same crop (spread over the first 4 s). Each
variant codes the keyframe's image (benchmark.keyframe_codecs), the receiver (shipped weights,
CPU, one thread) redraws the frames from it, and the script prints mean keyframe bytes, the
keyframe's PSNR, the redrawn frames' PSNR (whole and face region) and SSIM against the real
crops, and AKD (dlib's 68 landmarks, pixels of the 256 crop; benchmark/metrics), mean and
median over the frames.
"uncoded" is the keyframe as captured: the floor every codec approaches. Results go to
``--out`` as JSON.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from facecodec.benchmark.keyframe_codecs import Framing, available_codecs, code_image
from facecodec.benchmark.metrics.landmarks import Landmarks68, keypoint_distance
from facecodec.benchmark.metrics.pixels import psnr, ssim
from facecodec.receiver.receiver import Receiver
from facecodec.sender.prior import MediaPipePrior, PriorFrame
from facecodec.training.splits import split_clips
from facecodec.types import Keyframe

VARIANTS = (
    ("WebP", Framing(), 87),
    ("AVIF", Framing(), 70),
    ("WebP", Framing(0.75), 87),
    ("WebP", Framing(scale=2), 30),
    ("WebP", Framing(0.75, 2), 60),
    ("AVIF", Framing(), 5),
)
"""(codec, framing, quality): today's default, AVIF at about its size, the face-only crop at
the default quality (4.7 kB), then three ways to about 1 kB (keyframe_codecs' table). JPEG XL is
left out: it loses to both at both sizes there."""
SPAN_FRAMES = 100
FACE = (slice(None), slice(64, 192), slice(64, 192))
"""The face region of (N, 256, 256, 3) frames: the centre half, as keyframe_codecs counts it."""


@dataclass(frozen=True)
class Clip:
    keyframe: Keyframe
    frames: list[PriorFrame]
    """Later face frames of the keyframe's crop."""


def read_clip(path: Path, count: int) -> Clip | None:
    """The keyframe and ``count`` later frames of the same crop from the clip's first
    ``SPAN_FRAMES`` frames; None without enough of them."""
    capture = cv2.VideoCapture(str(path))
    prior, out = MediaPipePrior(), []
    for seq in range(SPAN_FRAMES):
        ok, bgr = capture.read()
        if not ok:
            break
        out += prior.process(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), seq)
    out += prior.flush()
    capture.release()
    faces = [f for f in out if f.params.face and f.crop is not None]
    if not faces:
        return None
    keyframe = prior.keyframe(faces[0])
    prior.close()
    same_crop = []
    for frame in faces[1:]:
        if frame.new_crop:
            break
        same_crop.append(frame)
    if len(same_crop) < count:
        return None
    picks = np.linspace(0, len(same_crop) - 1, count + 1).round().astype(int)[1:]
    return Clip(keyframe, [same_crop[i] for i in picks])


def redraw(receiver: Receiver, clip: Clip, image: np.ndarray) -> np.ndarray:
    """(N, S, S, 3) frames redrawn from the keyframe carrying ``image``."""
    receiver.set_keyframe(dataclasses.replace(clip.keyframe, image=image))
    return receiver.render([f.params for f in clip.frames])


def akd(landmarks: Landmarks68, reference: np.ndarray, output: np.ndarray) -> list[float]:
    """Per frame AKD in pixels; frames where dlib finds no face in the reference are left out."""
    distances = []
    for ref, out in zip(reference, output, strict=True):
        face = landmarks(ref)
        if face is not None:
            distances.append(keypoint_distance(face.points, landmarks(out, face.box).points)[0])
    return distances


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--clips", type=int, default=4)
    parser.add_argument("--frames", type=int, default=4)
    parser.add_argument("--out", type=Path, default=Path("runs/codec/keyframe_redraw.json"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    _, validation = split_clips(args.data)
    firsts = list({c.identity: c for c in reversed(validation)}.values())
    clips = []
    for candidate in sorted(firsts, key=lambda c: c.identity):
        clip = read_clip(candidate.path, args.frames)
        if clip is not None:
            clips.append((candidate.identity, clip))
        if len(clips) == args.clips:
            break
    print("clips:", ", ".join(name for name, _ in clips))
    codecs, receiver, landmarks = available_codecs(), Receiver(device="cpu"), Landmarks68()
    rows = []
    for codec, framing, quality in (("uncoded", Framing(), 0), *VARIANTS):
        sizes, key_psnr, frame_psnr, face_psnr, frame_ssim, distances = [], [], [], [], [], []
        for _, clip in clips:
            image = clip.keyframe.image
            if codec != "uncoded":
                data, image = code_image(image, codec, codecs[codec], framing, quality)
                sizes.append(len(data))
            key_psnr.append(float(psnr(clip.keyframe.image[None], image[None])[0]))
            output = redraw(receiver, clip, image)
            truth = np.stack([f.crop for f in clip.frames])
            frame_psnr += psnr(truth, output).tolist()
            face_psnr += psnr(truth[FACE], output[FACE]).tolist()
            frame_ssim += ssim(truth, output).tolist()
            distances += akd(landmarks, truth, output)
        row = {
            "codec": codec,
            "framing": framing.label,
            "quality": quality,
            "bytes": float(np.mean(sizes)) if sizes else None,
            "keyframe_psnr_db": float(np.mean(key_psnr)),
            "redrawn_psnr_db": float(np.mean(frame_psnr)),
            "redrawn_face_psnr_db": float(np.mean(face_psnr)),
            "redrawn_ssim": float(np.mean(frame_ssim)),
            "akd_px": float(np.mean(distances)),
            "akd_median_px": float(np.median(distances)),
            "frames": len(frame_psnr),
        }
        rows.append(row)
        print(json.dumps(row))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rows, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
