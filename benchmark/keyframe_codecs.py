"""Keyframe image codecs, bytes against fidelity, on the validation identities.

    python -m facecodec.benchmark.keyframe_codecs [--data ../shared/data] [--out runs/...]

Takes the middle frame of every validation clip (training/splits.py: people no table or network
learned from), codes it with WebP (OpenCV, what the keyframe carries today), AVIF (Pillow's
built-in libavif) and JPEG XL (pillow-jxl-plugin, if installed) over a range of qualities, at the
full 256x256 crop, at half resolution (128x128, upsampled back by the receiver) and as a
face-only crop (its centre 192x192, the receiver repeating the edge pixels outward), and prints
mean bytes, PSNR and SSIM of the decoded image against the source frame, whole crop and face
region (the centre half), and the mean time to code and decode one on this machine. The
summary interpolates each codec's face PSNR at the sizes that matter: 1 kB (a first keyframe)
and 6 kB (a full one).
Results go to ``--out`` as JSON.
"""

from __future__ import annotations

import argparse
import io
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image

from facecodec.benchmark.metrics.pixels import psnr, ssim
from facecodec.codec.choose_image_quality import middle_frame
from facecodec.codec.image import ImageCodec, decode_image, encode_image
from facecodec.training.splits import split_clips

QUALITIES = (5, 10, 20, 30, 40, 50, 60, 70, 80, 87, 90)


@dataclass(frozen=True)
class Framing:
    """What of the 256x256 crop is coded: its centre ``crop`` share of the side (the face;
    the receiver repeats the edge pixels outward), at 1/``scale`` of the resolution (the
    receiver upsamples)."""

    crop: float = 1.0
    scale: int = 1

    @property
    def label(self) -> str:
        return f"{self.crop:.2f}/{self.scale}"


FRAMINGS = (Framing(), Framing(scale=2), Framing(0.75), Framing(0.75, 2))
SUMMARY_BYTES = (1000, 6000)

Codec = Callable[[np.ndarray, int], bytes]
"""(H, W, 3) RGB uint8 image, quality -> coded bytes."""


@dataclass(frozen=True)
class Row:
    codec: str
    framing: str
    """Framing.label: centre share / downscale."""
    quality: int
    bytes: float
    psnr_db: float
    ssim: float
    face_psnr_db: float
    face_ssim: float
    code_ms: float


def _webp(image: np.ndarray, quality: int) -> bytes:
    return encode_image(image, ImageCodec.WEBP, quality)


def _pillow(format_name: str, **options: int) -> Codec:
    def encode(image: np.ndarray, quality: int) -> bytes:
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format_name, quality=quality, **options)
        return buffer.getvalue()

    return encode


def _decode(data: bytes, name: str, size: tuple[int, int]) -> np.ndarray:
    """Coded bytes -> (H, W, 3) RGB uint8, WebP through the keyframe's own decoder."""
    if name == "WebP":
        return decode_image(data, ImageCodec.WEBP, *size)
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def available_codecs() -> dict[str, Codec]:
    codecs: dict[str, Codec] = {"WebP": _webp, "AVIF": _pillow("AVIF", speed=6)}
    try:
        import pillow_jxl  # noqa: F401  (registers JXL with Pillow)

        codecs["JPEG XL"] = _pillow("JXL", effort=7)
    except ImportError:
        print("pillow-jxl-plugin not installed: JPEG XL left out")
    return codecs


def code_image(
    image: np.ndarray, name: str, encode: Codec, framing: Framing, quality: int
) -> tuple[bytes, np.ndarray]:
    """(H, W, 3) RGB uint8 -> (coded bytes of its ``framing``, the (H, W, 3) image the
    receiver makes of them)."""
    h, w = image.shape[:2]
    side = round(h * framing.crop) // 2 * 2
    top, left = (h - side) // 2, (w - side) // 2
    centre = image[top : top + side, left : left + side]
    coded_side = side // framing.scale
    small = cv2.resize(centre, (coded_side, coded_side), interpolation=cv2.INTER_AREA)
    data = encode(small, quality)
    out = cv2.resize(
        _decode(data, name, (coded_side, coded_side)), (side, side), interpolation=cv2.INTER_CUBIC
    )
    full = cv2.copyMakeBorder(out, top, h - side - top, left, w - side - left, cv2.BORDER_REPLICATE)
    return data, full


def measure_one(
    images: np.ndarray, name: str, encode: Codec, framing: Framing, quality: int
) -> Row:
    """Mean over ``images`` (N, H, W, 3) of one codec at one framing and quality."""
    h, w = images.shape[1:3]
    sizes, times, decoded = [], [], []
    for image in images:
        start = time.perf_counter()
        data, shown = code_image(image, name, encode, framing, quality)
        times.append(time.perf_counter() - start)
        sizes.append(len(data))
        decoded.append(shown)
    out = np.stack(decoded)
    face = (slice(None), slice(h // 4, 3 * h // 4), slice(w // 4, 3 * w // 4))
    return Row(
        name,
        framing.label,
        quality,
        float(np.mean(sizes)),
        float(psnr(images, out).mean()),
        float(ssim(images, out).mean()),
        float(psnr(images[face], out[face]).mean()),
        float(ssim(images[face], out[face]).mean()),
        1000 * float(np.mean(times)),
    )


def face_psnr_at(rows: list[Row], size: float) -> float | None:
    """Face PSNR interpolated at ``size`` bytes along one codec's rows; None out of range."""
    ordered = sorted(rows, key=lambda r: r.bytes)
    sizes = [r.bytes for r in ordered]
    if not sizes[0] <= size <= sizes[-1]:
        return None
    return float(np.interp(size, sizes, [r.face_psnr_db for r in ordered]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, default=Path("runs/codec/keyframe_codecs.json"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    _, validation = split_clips(args.data)
    images = np.stack([im for im in (middle_frame(c.path) for c in validation) if im is not None])
    print(f"{len(images)} keyframes: the middle frame of each validation clip")
    print(
        f"{'codec':8} {'frame':>8} {'q':>3} {'bytes':>7} {'PSNR':>6} {'SSIM':>6} "
        f"{'fPSNR':>6} {'fSSIM':>6} {'ms':>7}"
    )
    rows = []
    for name, encode in available_codecs().items():
        for framing in FRAMINGS:
            for quality in QUALITIES:
                r = measure_one(images, name, encode, framing, quality)
                rows.append(r)
                print(
                    f"{r.codec:8} {r.framing:>8} {r.quality:3d} {r.bytes:7.0f} "
                    f"{r.psnr_db:6.2f} {r.ssim:6.4f} {r.face_psnr_db:6.2f} {r.face_ssim:6.4f} "
                    f"{r.code_ms:7.1f}"
                )
    print("face PSNR (dB) interpolated at", ", ".join(f"{b} B" for b in SUMMARY_BYTES))
    for name in available_codecs():
        for framing in FRAMINGS:
            curve = [r for r in rows if r.codec == name and r.framing == framing.label]
            at = [face_psnr_at(curve, size) for size in SUMMARY_BYTES]
            print(
                f"{name:8} {framing.label}: "
                + "  ".join("-" if v is None else f"{v:.2f}" for v in at)
            )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps([asdict(r) for r in rows], indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
