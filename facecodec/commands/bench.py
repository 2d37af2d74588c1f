"""``facecodec bench VIDEOS... --bitrates 1kbps,2kbps --out DIR``: bit rate versus quality of
facecodec, the unsupervised-keypoint baseline and H.264/H.265/AV1 on the same face crops
(docs/benchmarks.md). Resumable: finished entries in DIR are skipped on a rerun.

``--stage encode`` (CPU), ``--stage render`` (GPU: only ``--out`` and ``--device`` matter, and
it needs only what ``facecodec decode`` needs), ``--stage score`` (CPU) split the run over
machines through DIR; no ``--stage`` runs all three."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from facecodec.bitrate.target import bitrate_argument

STAGES = ("encode", "render", "score")
"""benchmark.stage_files.Stage's values (that module is not imported to parse arguments)."""


def _bitrates(text: str) -> tuple[int, ...]:
    return tuple(bitrate_argument(part) for part in text.split(",") if part.strip())


def _scales(text: str) -> tuple[float, ...]:
    try:
        scales = tuple(float(part) for part in text.split(","))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"bad scales {text!r}: e.g. 1,0.5") from exc
    if not all(0 < s <= 1 for s in scales):
        raise argparse.ArgumentTypeError("scales must be in (0, 1]")
    return scales


def _points(text: str) -> tuple:
    from facecodec.benchmark.facecodec_method import parse_point_label

    try:
        return tuple(parse_point_label(part) for part in text.split(",") if part.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "bench", help="bit rate versus AKD and other metrics", description=__doc__
    )
    parser.add_argument("videos", type=Path, nargs="*", help="input videos (any size)")
    parser.add_argument(
        "--validation",
        type=Path,
        metavar="DATA_DIR",
        help="add the held-out validation clips of a data folder with train.tsv "
        "(training/splits.py), with their identities",
    )
    parser.add_argument("--max-clips", type=int, help="use at most this many clips")
    parser.add_argument(
        "--bitrates", type=_bitrates, default=_bitrates("1kbps,2kbps,4kbps,8kbps"),
        help="payload targets, comma-separated (default 1kbps,2kbps,4kbps,8kbps)",
    )  # fmt: skip
    parser.add_argument("--out", type=Path, required=True, help="results folder (resumable)")
    parser.add_argument(
        "--stage", choices=STAGES,
        help="run one stage: encode (CPU), render (GPU), score (CPU); default: all three",
    )  # fmt: skip
    parser.add_argument(
        "--mode", choices=("reconstruction", "reenactment", "both"), default="reconstruction"
    )
    parser.add_argument("--device", default="cpu", help="cuda or cpu, for the networks")
    parser.add_argument(
        "--keyframe-interval", type=int, metavar="N",
        help="refresh the keyframe every N frames (JVET AHG16 uses 32); default: the call's "
        "own mode, one keyframe at the start",
    )  # fmt: skip
    parser.add_argument("--max-frames", type=int, help="use at most this many frames per clip")
    parser.add_argument(
        "--feature-stride", type=int, default=5,
        help="AED and the Fréchet features on every n-th frame (default 5)",
    )  # fmt: skip
    parser.add_argument(
        "--frame-stride", type=int, default=1, metavar="N",
        help="score every n-th driving frame (a staged run brings only those back from the "
        "GPU; default 1: all)",
    )  # fmt: skip
    parser.add_argument(
        "--methods", type=lambda text: tuple(m.strip() for m in text.split(",") if m.strip()),
        help="run only these methods, comma-separated (default: all; e.g. facecodec,h264)",
    )  # fmt: skip
    parser.add_argument(
        "--facecodec-points", type=_points,
        help="facecodec's operating points, e.g. k0-e16-q2-f1,k16-e16-q2-f1 (keypoints, "
        "expression dims, quantisation level, parameter interval; default: a grid of five)",
    )  # fmt: skip
    parser.add_argument(
        "--classical-scales", type=_scales, default=(1.0,),
        help="also code classical codecs at these shares of the frame size, e.g. 1,0.5",
    )  # fmt: skip
    parser.set_defaults(run=run)


def _inputs(args: argparse.Namespace) -> tuple[list[Path], tuple[tuple[str, str], ...]]:
    videos = list(args.videos)
    identities: tuple[tuple[str, str], ...] = ()
    if args.validation is not None:
        from facecodec.training.splits import split_clips

        _, validation = split_clips(args.validation)
        videos += [c.path for c in validation]
        identities = tuple((c.path.stem, c.identity) for c in validation)
    if args.max_clips is not None:
        videos = videos[: args.max_clips]
    missing = [str(v) for v in videos if not v.is_file()]
    if missing:
        raise FileNotFoundError(f"no such video: {', '.join(missing)}")
    if not videos:
        raise ValueError("no input videos: give VIDEOS or --validation DATA_DIR")
    return videos, identities


def _command(args: argparse.Namespace) -> str:
    """The command line that reproduces this run, for the report."""
    from facecodec.benchmark.facecodec_method import point_label
    from facecodec.benchmark.methods import target_label

    options = {
        "--validation": args.validation,
        "--max-clips": args.max_clips,
        "--bitrates": ",".join(map(target_label, args.bitrates)),
        "--out": args.out,
        "--mode": args.mode,
        "--device": args.device,
        "--keyframe-interval": args.keyframe_interval,
        "--max-frames": args.max_frames,
        "--feature-stride": args.feature_stride,
        "--frame-stride": args.frame_stride,
        "--methods": ",".join(args.methods) if args.methods else None,
        "--facecodec-points": ",".join(map(point_label, args.facecodec_points or ())) or None,
        "--classical-scales": ",".join(f"{s:g}" for s in args.classical_scales),
    }
    words = ["facecodec", "bench", *map(str, args.videos)]
    words += [f"{flag} {value}" for flag, value in options.items() if value is not None]
    return " ".join(words)


def run(args: argparse.Namespace) -> int:
    if args.stage == "render":
        from facecodec.benchmark.render_stage import render_run

        render_run(args.out, args.device)
        return 0
    return _run_here(args)


def _run_here(args: argparse.Namespace) -> int:
    """All stages, or the encode or score stage."""
    from facecodec.benchmark.bench import Bench, BenchConfig
    from facecodec.benchmark.face_crop import SenderFaceCrop
    from facecodec.benchmark.facecodec_method import FACECODEC_GRID
    from facecodec.benchmark.methods import Mode
    from facecodec.benchmark.registry import all_methods
    from facecodec.benchmark.report import write_report
    from facecodec.benchmark.stage_files import Stage

    if args.keyframe_interval is not None and args.keyframe_interval < 1:
        raise ValueError("--keyframe-interval must be at least 1")
    if args.frame_stride < 1:
        raise ValueError("--frame-stride must be at least 1")
    videos, identities = _inputs(args)
    modes = tuple(Mode) if args.mode == "both" else (Mode(args.mode),)
    config = BenchConfig(
        videos=tuple(videos),
        targets_bps=args.bitrates,
        out=args.out,
        modes=modes,
        device=args.device,
        keyframe_interval=args.keyframe_interval,
        max_frames=args.max_frames,
        feature_stride=args.feature_stride,
        frame_stride=args.frame_stride,
        identities=identities,
        stage=None if args.stage is None else Stage(args.stage),
    )
    grid = args.facecodec_points or FACECODEC_GRID
    methods = all_methods(args.device, args.classical_scales, grid)
    if args.methods is not None:
        names = [m.name for m in methods]
        unknown = sorted(set(args.methods) - set(names))
        if unknown:
            raise ValueError(f"unknown methods {', '.join(unknown)}; known: {', '.join(names)}")
        methods = [m for m in methods if m.name in args.methods]
    bench = Bench(config, methods, SenderFaceCrop())
    records = bench.run()
    if args.stage == "encode":
        print(f"encoded into {args.out}; next: --stage render (GPU), then --stage score")
        return 0
    settings = {
        **config.settings(),
        "targets_bps": list(config.targets_bps),
        "modes": [str(m) for m in modes],
        "device": args.device,
        "command": _command(args),
    }
    write_report(args.out, records, bench.unavailable, settings)
    print((args.out / "summary.md").read_text())
    print(f"results in {args.out}", file=sys.stderr)
    return 0
