"""Training throughput: pairs per second per GPU, FLOPs per pair and the share of the GPU's
bf16 peak, eager and compiled, at several batch sizes.

    python -m facecodec.benchmark.training_speed --data-dir .gpu --params .gpu/prior_params.npz \\
        --vgg .gpu/vgg16.safetensors --mode prior --batches 16,64,128 --compile-modes ,default \\
        --out runs/training_speed.json

FLOPs are counted with torch.utils.flop_counter over one eager step (forward and backward of
the generator, the perceptual loss and both discriminator passes), per network. Runs on the
CPU too (slowly), which is how the FLOP counts in docs/training.md were taken.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from dataclasses import replace
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from facecodec.training.train import Run, parse_args

H200_BF16_PEAK = 989e12
"""Dense bf16 tensor-core peak of one H200 (the data sheet's figure without sparsity)."""
H200_MATMUL = 790e12
"""An 8192^3 bf16 matmul measured on the lent H200s (/work/.library/device/KINDS.md)."""
WARMUP_STEPS = 3
NO_STATE = "/tmp/facecodec-speed/fresh"
"""A state folder that stays empty: the benchmark trains fresh networks and saves nothing."""
PARTS = ("PriorGenerator", "BaselineGenerator", "VGG16Features", "MultiScaleDiscriminator")


def synchronize(run: Run) -> None:
    if run.device.type == "cuda":
        torch.cuda.synchronize(run.device)


def pairs_per_second(run: Run, steps: int) -> float:
    for _ in range(WARMUP_STEPS):
        run.train_step()
    synchronize(run)
    start = time.perf_counter()
    for _ in range(steps):
        run.train_step()
    synchronize(run)
    return steps * run.cfg.batch_size / (time.perf_counter() - start)


def flops_per_pair(run: Run) -> dict[str, float]:
    """FLOPs of one training step divided by the batch: in all and per network."""
    counter = FlopCounterMode(display=False)
    with counter:
        run.train_step()
    counts = counter.get_flop_counts()
    per_pair = {"total": counter.get_total_flops() / run.cfg.batch_size}
    for part in PARTS:
        if part in counts:
            per_pair[part] = sum(counts[part].values()) / run.cfg.batch_size
    return per_pair


def measure(run: Run, batch: int, mode: str, steps: int) -> dict:
    run.cfg = replace(run.cfg, batch_size=batch)
    run.compile_losses(mode)
    start = time.perf_counter()
    run.train_step()
    synchronize(run)
    first_step_s = time.perf_counter() - start
    rate = pairs_per_second(run, steps)
    run.compile_losses("")  # the FLOP counter sees eager operators only
    flops = flops_per_pair(run)
    achieved = rate * flops["total"]
    row = {"batch": batch, "compile": mode or "eager", "first_step_s": round(first_step_s, 2)}
    row |= {"pairs_per_s": round(rate, 2), "tflop_per_pair": round(flops["total"] / 1e12, 4)}
    row |= {"tflop_per_s": round(achieved / 1e12, 2)}
    row |= {"share_of_peak": round(achieved / H200_BF16_PEAK, 4)}
    row |= {"share_of_matmul": round(achieved / H200_MATMUL, 4)}
    row["gflop_per_pair_by_network"] = {k: round(v / 1e9, 2) for k, v in flops.items()}
    if run.device.type == "cuda":
        row["peak_memory_gib"] = round(torch.cuda.max_memory_allocated(run.device) / 2**30, 1)
        torch.cuda.reset_peak_memory_stats(run.device)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, add_help=False)
    parser.add_argument("--batches", default="16,64,128")
    parser.add_argument("--compile-modes", default=",default")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--out", type=Path, default=Path("runs/training_speed.json"))
    own, rest = parser.parse_known_args()
    cfg = parse_args([*rest, "--run-dir", "/tmp/facecodec-speed", "--state-dir", NO_STATE])
    run = Run(cfg)
    device = torch.cuda.get_device_name() if run.device.type == "cuda" else platform.processor()
    rows = []
    for mode in own.compile_modes.split(","):
        for batch in (int(b) for b in own.batches.split(",")):
            rows.append(measure(run, batch, mode, own.steps))
            print(json.dumps(rows[-1]), flush=True)
    own.out.parent.mkdir(parents=True, exist_ok=True)
    report = {"device": device, "mode": cfg.mode, "model": cfg.model, "rows": rows}
    own.out.write_text(json.dumps(report, indent=1) + "\n")
    print("| batch | compile | pairs/s | TFLOP/pair | TFLOP/s | share of bf16 peak |")
    for r in rows:
        print(
            f"| {r['batch']} | {r['compile']} | {r['pairs_per_s']} | {r['tflop_per_pair']} "
            f"| {r['tflop_per_s']} | {r['share_of_peak']:.1%} |"
        )


if __name__ == "__main__":
    main()
