"""Measure JPEG and WebP keyframe size and fidelity on training clips; pick the default quality.

    python -m facecodec.codec.choose_image_quality [--data ../shared/data] [--out runs/...]

Takes the middle frame of every training clip (training identities only), codes it with OpenCV's
JPEG and WebP at a range of qualities, and prints mean bytes and PSNR (RGB, whole 256x256 crop)
and PSNR of the face region (the centre half of the crop). The rule behind
``image.DEFAULT_IMAGE_CODEC`` / ``DEFAULT_IMAGE_QUALITY``: the smallest mean size whose face-region
PSNR reaches ``TARGET_FACE_PSNR_DB`` (the generator cannot redraw detail the keyframe lost).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np

from facecodec.training.splits import split_clips

from .image import ImageCodec, decode_image, encode_image

QUALITIES = (50, 60, 70, 75, 80, 85, 86, 87, 88, 89, 90, 95)
TARGET_FACE_PSNR_DB = 40.0


def middle_frame(path: Path) -> np.ndarray | None:
    """(H, W, 3) RGB middle frame of a video file."""
    cap = cv2.VideoCapture(str(path))
    count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    cap.set(cv2.CAP_PROP_POS_FRAMES, max(count // 2, 0))
    ok, bgr = cap.read()
    cap.release()
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB) if ok else None


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 10 * np.log10(255**2 / max(mse, 1e-10))


def measure(images: list[np.ndarray]) -> list[dict[str, float | str | int]]:
    """One row per (codec, quality): mean bytes, mean PSNR (whole crop, face region)."""
    rows = []
    for codec in ImageCodec:
        for quality in QUALITIES:
            sizes, whole, face = [], [], []
            for image in images:
                data = encode_image(image, codec, quality)
                h, w = image.shape[:2]
                out = decode_image(data, codec, w, h)
                sizes.append(len(data))
                whole.append(psnr(image, out))
                c = (slice(h // 4, 3 * h // 4), slice(w // 4, 3 * w // 4))
                face.append(psnr(image[c], out[c]))
            rows.append(
                {
                    "codec": codec.name,
                    "quality": quality,
                    "bytes": float(np.mean(sizes)),
                    "psnr_db": float(np.mean(whole)),
                    "face_psnr_db": float(np.mean(face)),
                }
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, default=Path("runs/codec/image_quality.json"))
    args = parser.parse_args()
    train, _ = split_clips(args.data)
    images = [im for im in (middle_frame(c.path) for c in train) if im is not None]
    rows = measure(images)
    print(f"{len(images)} keyframes (middle frame of each training clip)")
    print(f"{'codec':6} {'q':>3} {'bytes':>8} {'PSNR':>6} {'face':>6}")
    for r in rows:
        print(
            f"{r['codec']:6} {r['quality']:3d} {r['bytes']:8.0f} "
            f"{r['psnr_db']:6.2f} {r['face_psnr_db']:6.2f}"
        )
    good = [r for r in rows if r["face_psnr_db"] >= TARGET_FACE_PSNR_DB]
    best = min(good, key=lambda r: r["bytes"]) if good else None
    print(f"smallest reaching {TARGET_FACE_PSNR_DB} dB in the face region: {best}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"images": len(images), "rows": rows, "choice": best}, indent=1))


if __name__ == "__main__":
    main()
