"""Receiver speed on a GPU (or CPU): ms per frame, batched frames per second, keyframe setup,
and time to first frame including compilation.

    python -m facecodec.benchmark.receiver_speed --out runs/receiver_speed.json

Speed does not depend on the weights' values, so without shipped weights the networks are
timed with random ones (reported as such).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from facecodec.receiver import config as model_configs
from facecodec.receiver.renderer import FrameRenderer
from facecodec.receiver.semantic_keypoints import SemanticKeypoints
from facecodec.receiver.synthesizer import Synthesizer
from facecodec.receiver.weights import PRIOR_WEIGHTS, load_weights
from facecodec.sender.face_model import FaceModel

WARMUP_ITERS = 5
TIMED_ITERS = 30
BATCHES = (1, 8, 32, 128)


def build(cfg_name: str, device: torch.device, dtype: torch.dtype) -> tuple[FrameRenderer, str]:
    face_model = FaceModel.load()
    try:
        state, info = load_weights(PRIOR_WEIGHTS)
        cfg, source = info.config, f"shipped weights {info.network}"
    except FileNotFoundError:
        state, cfg, source = None, getattr(model_configs, cfg_name), "random weights"
    synthesizer = Synthesizer(cfg)
    if state is not None:
        synthesizer.load_state_dict(state)
    keypoints = SemanticKeypoints.from_face_model(face_model, cfg.num_keypoints)
    renderer = FrameRenderer(synthesizer, keypoints).to(device).eval()
    renderer.synthesizer.to(dtype)
    return renderer, source


def inputs(renderer: FrameRenderer, batch: int, device: torch.device, dtype: torch.dtype):
    cfg = renderer.synthesizer.cfg
    s = cfg.image_size // 4
    k = cfg.num_keypoints
    volume = torch.randn(batch, cfg.feature_channels, cfg.feature_depth, s, s, device=device)
    f32 = {"device": device, "dtype": torch.float32}
    return (
        volume.to(dtype),
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="DEFAULT")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float16", "float32"])
    parser.add_argument(
        "--compile",
        default="",
        help="comma-separated torch.compile modes to time too, e.g. reduce-overhead",
    )
    parser.add_argument("--batches", default=",".join(map(str, BATCHES)))
    parser.add_argument("--out", type=Path, default=Path("runs/receiver_speed.json"))
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    dtype = getattr(torch, args.dtype) if device.type == "cuda" else torch.float32
    batches = [int(b) for b in args.batches.split(",")]
    torch.backends.cudnn.benchmark = True
    renderer, source = build(args.model, device, dtype)
    report = {
        "device": torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else platform.processor(),
        "dtype": str(dtype),
        "weights": source,
        "parameters": sum(p.numel() for p in renderer.parameters()),
        "gflops_per_frame": flops_per_frame(renderer, device, dtype) / 1e9,
        "torch": torch.__version__,
    }
    print(json.dumps(report), flush=True)
    image = torch.rand(
        1,
        3,
        renderer.synthesizer.cfg.image_size,
        renderer.synthesizer.cfg.image_size,
        device=device,
        dtype=dtype,
    )
    with torch.no_grad():
        renderer.synthesizer.extract(image)
        report["keyframe_ms"] = timed(lambda: renderer.synthesizer.extract(image), device) * 1e3
    print(f"keyframe setup (F): {report['keyframe_ms']:.2f} ms", flush=True)
    print("eager:", flush=True)
    report["eager"] = measure(renderer, renderer, device, dtype, batches)
    for mode in filter(None, args.compile.split(",")):
        if True:
            print(f"compiled ({mode}):", flush=True)
            compiled = torch.compile(renderer, mode=mode, dynamic=False)
            report[f"compiled_{mode}"] = measure(compiled, renderer, device, dtype, batches)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
