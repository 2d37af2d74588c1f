"""Training throughput on the GPU: samples/s eager and compiled, and the top CUDA kernels.

    python -m facecodec.benchmark.training_speed --data-dir .gpu --params .gpu/prior_params.npz \
        --vgg .gpu/vgg16.safetensors --mode prior
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

from facecodec.training.train import Run, parse_args

TIMED_STEPS = 40
PROFILED_STEPS = 8
TOP_KERNELS = 25


def steps_per_second(run: Run, steps: int) -> float:
    run.train_step()
    torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(steps):
        run.train_step()
    torch.cuda.synchronize()
    return steps / (time.perf_counter() - t)


def main() -> None:
    cfg = parse_args([*sys.argv[1:], "--run-dir", "/tmp/facecodec-speed"])
    report = {}
    run = Run(replace(cfg, compile=False))
    report["eager_samples_per_s"] = steps_per_second(run, TIMED_STEPS) * cfg.batch_size
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(PROFILED_STEPS):
            run.train_step()
        torch.cuda.synchronize()
    print(prof.key_averages().table(sort_by="cuda_time_total", row_limit=TOP_KERNELS), flush=True)
    run.gen_ddp = torch.compile(run.gen_ddp)
    t = time.perf_counter()
    run.train_step()
    torch.cuda.synchronize()
    report["compile_s"] = time.perf_counter() - t
    report["compiled_samples_per_s"] = steps_per_second(run, TIMED_STEPS) * cfg.batch_size
    print(json.dumps(report), flush=True)
    Path("/tmp/facecodec-speed").mkdir(exist_ok=True)


if __name__ == "__main__":
    main()
