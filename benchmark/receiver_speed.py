"""Receiver speed on a GPU (or CPU): ms per frame, batched frames per second, keyframe setup,
and time to first frame including compilation; on a CPU, ms per frame of each model on each
runtime and the small/large ratio.

    python -m facecodec.benchmark.receiver_speed --out runs/receiver_speed.json
    python -m facecodec.benchmark.receiver_speed --device cpu --threads 2 \
        [--models large,small] [--runtimes torch,torch-channels-last,torch-bf16,onnxruntime]

Speed does not depend on the weights' values, so without shipped weights the networks are
timed with random ones (reported as such). CPU runtimes: torch eager in float32 (the
receiver's), the same with channels-last 2D convolutions, bf16 autocast, and ONNX Runtime on
the model exported from torch (when onnxruntime and onnx are installed). Variants are timed
interleaved, round by round, so that load from other processes spreads over all of them.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import time
from collections.abc import Callable
from copy import deepcopy
from pathlib import Path

import numpy as np
import torch

from facecodec.receiver import config as model_configs
from facecodec.receiver.model_choice import MODELS
from facecodec.receiver.renderer import FrameRenderer
from facecodec.receiver.semantic_keypoints import SemanticKeypoints
from facecodec.receiver.synthesizer import make_synthesizer
from facecodec.receiver.warp_generator import WarpSynthesizer
from facecodec.receiver.weights import load_weights
from facecodec.sender.face_model import FaceModel

WARMUP_ITERS = 5
TIMED_ITERS = 30
BATCHES = (1, 8, 32, 128)
RANDOM_CONFIGS = {"large": "DEFAULT", "small": "SMALL"}
"""Configurations timed with random weights when a model's weights do not ship."""
CPU_ROUNDS = 5
"""Rounds over all CPU variants; each round times every variant ``CPU_ITERS`` times."""
CPU_ITERS = {"large": 2, "small": 10}
CPU_RUNTIMES = ("torch", "torch-channels-last", "torch-bf16", "onnxruntime")
TARGET_MS_2_CORES = 40.0
"""The small model's budget per 256x256 frame on 2 CPU cores (issue 13; 20 ms is the aim)."""


def build(
    model: str, device: torch.device, dtype: torch.dtype, cfg_name: str | None = None
) -> tuple[FrameRenderer, str]:
    """The renderer of ``model`` ('large' or 'small') with its shipped weights, or random
    weights of ``cfg_name`` (default: the model's) when none ship."""
    face_model = FaceModel.load()
    try:
        state, info = load_weights(MODELS[model])
        cfg, source = info.config, f"shipped weights {info.network}"
    except FileNotFoundError:
        name = cfg_name or RANDOM_CONFIGS[model]
        state, cfg, source = None, getattr(model_configs, name), f"random weights ({name})"
    synthesizer = make_synthesizer(cfg)
    if state is not None:
        synthesizer.load_state_dict(state)
    keypoints = SemanticKeypoints.from_face_model(face_model, cfg.num_keypoints)
    renderer = FrameRenderer(synthesizer, keypoints).to(device).eval()
    renderer.synthesizer.to(dtype)
    return renderer, source


def inputs(renderer: FrameRenderer, batch: int, device: torch.device, dtype: torch.dtype):
    """The per-frame inputs of ``renderer`` for a random keyframe, ``batch`` frames."""
    cfg = renderer.synthesizer.cfg
    k = cfg.num_keypoints
    image = torch.rand(1, 3, cfg.image_size, cfg.image_size, device=device, dtype=dtype)
    with torch.no_grad():
        state = renderer.synthesizer.extract(image)
    f32 = {"device": device, "dtype": torch.float32}
    return (
        state.expand(batch, *state.shape[1:]).contiguous(),
        torch.randn(batch, renderer.keypoints.identity_basis.shape[0], **f32) * 0.5,
        (torch.rand(batch, k, 3, device=device) - 0.5).to(dtype),
        torch.eye(3, device=device, dtype=dtype).expand(batch, 3, 3),
        torch.randn(batch, 3, **f32) * 0.1,
        torch.randn(batch, 3, **f32) * 0.05,
        torch.ones(batch, **f32),
        torch.randn(batch, 50, **f32),
        torch.zeros(batch, k, 3, **f32),
        torch.zeros(batch, k, dtype=torch.bool, device=device),
    )


def timed(fn: Callable[[], object], device: torch.device, iters: int = TIMED_ITERS) -> float:
    """Median seconds per call."""
    times = []
    for _ in range(iters):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def measure(renderer: torch.nn.Module, base: FrameRenderer, device, dtype, batches) -> dict:
    out = {}
    for b in batches:
        args = inputs(base, b, device, dtype)
        with torch.no_grad():
            t0 = time.perf_counter()
            renderer(*args)
            if device.type == "cuda":
                torch.cuda.synchronize()
            first = time.perf_counter() - t0
            for _ in range(WARMUP_ITERS):
                renderer(*args)
            sec = timed(lambda a=args: renderer(*a), device)
        out[b] = {"ms_per_call": sec * 1e3, "fps": b / sec, "first_call_s": first}
        print(f"  batch {b:4d}: {sec * 1e3:8.2f} ms/call  {b / sec:9.1f} frames/s", flush=True)
    return out


def flops_per_frame(renderer: FrameRenderer, device, dtype) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    args = inputs(renderer, 1, device, dtype)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        renderer(*args)
    return float(counter.get_total_flops())


def channels_last(renderer: FrameRenderer) -> FrameRenderer:
    """A copy with NHWC weights for the 2D convolutions (3D ones keep their layout)."""
    copy = deepcopy(renderer)
    for m in copy.modules():
        if isinstance(m, torch.nn.Conv2d):
            m.to(memory_format=torch.channels_last)
    return copy


def onnx_runner(renderer: FrameRenderer, args: tuple, threads: int) -> Callable[[], object]:
    """The renderer exported to ONNX (in memory) in an ONNX Runtime CPU session."""
    import onnxruntime

    names = [f"input{i}" for i in range(len(args))]
    buffer, log = io.BytesIO(), io.StringIO()
    with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        torch.onnx.export(renderer, args, buffer, input_names=names, dynamo=False, opset_version=20)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    session = onnxruntime.InferenceSession(buffer.getvalue(), options, ["CPUExecutionProvider"])
    feed = {n: a.numpy() for n, a in zip(names, args, strict=True)}
    return lambda: session.run(None, feed)


def cpu_runners(
    renderer: FrameRenderer, runtimes: list[str], threads: int
) -> dict[str, Callable[[], object]]:
    """runtime -> one rendered frame (batch 1); a runtime that cannot run is left out, said so."""
    args = inputs(renderer, 1, torch.device("cpu"), torch.float32)
    nhwc = [a.contiguous(memory_format=torch.channels_last) if a.dim() == 4 else a for a in args]
    wrapped = channels_last(renderer)

    def bf16() -> torch.Tensor:
        with torch.autocast("cpu", torch.bfloat16):
            return renderer(*args)

    makers = {
        "torch": lambda: lambda: renderer(*args),
        "torch-channels-last": lambda: lambda: wrapped(*nhwc),
        "torch-bf16": lambda: bf16,
        "onnxruntime": lambda: onnx_runner(renderer, args, threads),
    }
    if not isinstance(renderer.synthesizer, WarpSynthesizer):
        # The exporter cannot size the large model's SPADE instance norms.
        runtimes = [r for r in runtimes if r != "onnxruntime"]
    runners = {}
    for name in runtimes:
        try:
            runners[name] = makers[name]()
        except (ImportError, RuntimeError, torch.onnx.OnnxExporterError) as exc:
            print(f"  {name}: not run ({type(exc).__name__}: {str(exc).splitlines()[0]})")
    return runners


def cpu_table(models: list[str], runtimes: list[str], threads: int, rounds: int) -> dict:
    """ms per frame (median over rounds of interleaved timings) per model and runtime."""
    torch.set_num_threads(threads)
    device = torch.device("cpu")
    runners, report = {}, {}
    for model in models:
        renderer, source = build(model, device, torch.float32)
        report[model] = {
            "weights": source,
            "parameters": sum(p.numel() for p in renderer.parameters()),
            "gflops_per_frame": flops_per_frame(renderer, device, torch.float32) / 1e9,
        }
        with torch.no_grad():
            for runtime, run in cpu_runners(renderer, runtimes, threads).items():
                run()
                runners[model, runtime] = run
    times: dict[tuple[str, str], list[float]] = {key: [] for key in runners}
    with torch.no_grad():
        for _ in range(rounds):
            for (model, runtime), run in runners.items():
                times[model, runtime].append(timed(run, device, CPU_ITERS[model]))
    for (model, runtime), values in times.items():
        report[model][runtime] = float(np.median(values) * 1e3)
    print(f"{'ms per 256x256 frame':<22}" + "".join(f"{r:>21}" for r in runtimes))
    for model in models:
        cells = "".join(f"{report[model].get(r, float('nan')):>21.2f}" for r in runtimes)
        print(f"{model:<22}{cells}")
    if {"large", "small"} <= set(models):
        ratios = {
            r: report["small"][r] / report["large"][r]
            for r in runtimes
            if r in report["small"] and r in report["large"]
        }
        report["ratio_small_large"] = ratios
        print(
            f"{'small / large':<22}" + "".join(f"{ratios.get(r, np.nan):>21.3f}" for r in runtimes)
        )
    return report


def machine() -> dict[str, str]:
    with open("/proc/cpuinfo") as f:
        names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
    return {
        "cpu": names[0] if names else platform.processor(),
        "cores_online": str(os.cpu_count()),
        "load_average_1min": f"{os.getloadavg()[0]:.2f}",
        "torch": torch.__version__,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", default="large,small", help="of: large, small")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float16", "float32"])
    parser.add_argument(
        "--compile",
        default="",
        help="comma-separated torch.compile modes to time too, e.g. reduce-overhead",
    )
    parser.add_argument("--batches", default=",".join(map(str, BATCHES)))
    parser.add_argument("--threads", type=int, default=2, help="CPU: intra-op threads")
    parser.add_argument("--runtimes", default=",".join(CPU_RUNTIMES), help="CPU runtimes")
    parser.add_argument("--rounds", type=int, default=CPU_ROUNDS, help="CPU: timing rounds")
    parser.add_argument("--out", type=Path, default=Path("runs/receiver_speed.json"))
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    models = args.models.split(",")
    if device.type == "cpu":
        report = {"machine": machine(), "threads": args.threads}
        report |= cpu_table(models, args.runtimes.split(","), args.threads, args.rounds)
        small = report.get("small", {}).get("torch")
        if small is not None:
            print(f"small model, torch: {small:.2f} ms per frame (budget {TARGET_MS_2_CORES} ms)")
    else:
        batches = [int(b) for b in args.batches.split(",")]
        report = {
            m: gpu_report(m, device, getattr(torch, args.dtype), batches, args.compile)
            for m in models
        }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    print(f"wrote {args.out}")


def gpu_report(
    model: str, device: torch.device, dtype: torch.dtype, batches: list[int], compile_modes: str
) -> dict:
    """Keyframe setup, then batched ms per call eager and compiled, on a GPU."""
    torch.backends.cudnn.benchmark = True
    renderer, source = build(model, device, dtype)
    report = {
        "device": torch.cuda.get_device_name(device),
        "dtype": str(dtype),
        "weights": source,
        "parameters": sum(p.numel() for p in renderer.parameters()),
        "gflops_per_frame": flops_per_frame(renderer, device, dtype) / 1e9,
        "torch": torch.__version__,
    }
    print(model, json.dumps(report), flush=True)
    size = renderer.synthesizer.cfg.image_size
    image = torch.rand(1, 3, size, size, device=device, dtype=dtype)
    with torch.no_grad():
        renderer.synthesizer.extract(image)
        report["keyframe_ms"] = timed(lambda: renderer.synthesizer.extract(image), device) * 1e3
    print(f"keyframe setup: {report['keyframe_ms']:.2f} ms", flush=True)
    print("eager:", flush=True)
    report["eager"] = measure(renderer, renderer, device, dtype, batches)
    for mode in filter(None, compile_modes.split(",")):
        print(f"compiled ({mode}):", flush=True)
        compiled = torch.compile(renderer, mode=mode, dynamic=False)
        report[f"compiled_{mode}"] = measure(compiled, renderer, device, dtype, batches)
    return report


if __name__ == "__main__":
    main()
