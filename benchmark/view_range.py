"""How far a face may move in the sender's view (the keyframe's crop) before a new keyframe:
keyframes, their bytes and the redrawn frames' quality per range of the view, through
``facecodec bench``'s reconstruction job (docs/sender.md, "Crop").

    python -m facecodec.benchmark.view_range CLIPS... --out runs/view_range
        [--widenings 0.5,1,1.5,2] [--point k0-e16-q2-f1] [--frame-stride 5]

The small CPU receiver redraws each clip once per widening (``CropConfig.redraw_widening``;
0.5, the analysis crop's own range, is the sender before the view was kept apart: a keyframe
at every move of the analysis crop). Prints, per widening, the keyframes and their bytes summed
over the clips and AKD, AKD-M and PSNR averaged over them; the bench's entries stay in OUT
(resumable).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from facecodec.sender.crop import CropConfig
from facecodec.sender.prior import PriorConfig

from .bench import Bench, BenchConfig
from .face_crop import SenderFaceCrop
from .facecodec_method import FacecodecMethod, parse_point_label
from .store import EntryResult

WIDENINGS = (0.5, 1.0, 1.5, 2.0)


def method_name(widening: float) -> str:
    """No dot: the bench names its files by method."""
    return f"facecodec-small-view{round(100 * widening)}"


def method(widening: float, point: str) -> FacecodecMethod:
    crop = CropConfig(redraw_widening=widening)
    return FacecodecMethod(
        grid=(parse_point_label(point),),
        table=None,
        name=method_name(widening),
        model="small",
        prior=PriorConfig(crop=crop),
    )


def row(widening: float, entries: list[EntryResult]) -> str:
    def mean(metric: str) -> float:
        return float(np.mean([getattr(e.scores, metric) for e in entries]))

    keyframes = ", ".join(str(e.keyframes) for e in entries)
    kilobytes = sum(e.keyframe_bytes for e in entries) / 1000
    total_kbps = float(np.mean([e.total_kbps for e in entries]))
    return (
        f"| {widening:g} | {sum(e.keyframes for e in entries)} ({keyframes}) | {kilobytes:.1f} "
        f"| {total_kbps:.1f} | {mean('akd'):.2f} | {mean('akd_mouth'):.2f} | {mean('psnr'):.2f} |"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("videos", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--widenings", default=",".join(f"{w:g}" for w in WIDENINGS))
    parser.add_argument("--point", default="k0-e16-q2-f1")
    parser.add_argument("--frame-stride", type=int, default=5)
    args = parser.parse_args(argv)

    widenings = [float(w) for w in args.widenings.split(",")]
    methods = {method_name(w): w for w in widenings}
    config = BenchConfig(tuple(args.videos), (), args.out, frame_stride=args.frame_stride)
    bench = Bench(config, [method(w, args.point) for w in widenings], SenderFaceCrop())
    bench.run()
    by_method: dict[str, list[EntryResult]] = {name: [] for name in methods}
    for entry, _ in bench.store.entries():
        if entry.method in by_method:
            by_method[entry.method].append(entry)
    print("| view widening | keyframes | keyframe KB | total kbps | AKD px | AKD-M px | PSNR dB |")
    print("|---|---|---|---|---|---|---|")
    for name, widening in methods.items():
        print(row(widening, by_method[name]))


if __name__ == "__main__":
    main()
