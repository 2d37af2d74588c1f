"""The training state on CPU with the tiny model: a chunk saved, resumed in a fresh process
and trained on; a state made for other networks or another schedule is refused."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from training_inputs import tiny_args, write_params_file

from facecodec.training import state
from facecodec.training.train import Run, parse_args

FRAMES_PER_CLIP = 12
FIRST_CHUNK_STEPS = 3
SECOND_CHUNK_STEPS = 2
SCHEDULE = ["--warmup-steps", "10"]
"""A warm-up longer than both chunks, so a schedule that restarted would show in the lr."""
FP16_STEP = 2.0**-10
"""Relative spacing of fp16 values (10 mantissa bits; rounding is within half of it)."""
FP16_SUBNORMAL = 2.0**-24

RESUME_IN_A_FRESH_PROCESS = """
import sys
import torch
from safetensors.torch import save_file
from facecodec.training.train import Run, parse_args

run = Run(parse_args(sys.argv[2:]))
resumed = {f"generator.{k}": v for k, v in run.generator.state_dict().items()}
moments = {f"opt_g.{i}": run.opt_g.state[p]["exp_avg_sq"] for i, p in
           enumerate(run.generator.parameters())}
peek = torch.Generator().set_state(run.rng.get_state())
source, driving = run.train.sample_indices(run.cfg.batch_size, peek)
dump = {**resumed, **moments, "source": source, "driving": driving, "step": torch.tensor(run.step)}
save_file({k: v.contiguous() for k, v in dump.items()}, sys.argv[1])
run.run()
print("lr after the chunk", run.opt_g.param_groups[0]["lr"])
"""


@dataclass
class FirstChunk:
    args: list[str]
    state_dir: Path
    generator: dict[str, torch.Tensor]
    """Float32 weights at the end of the chunk, before saving."""
    second_moments: dict[str, torch.Tensor]
    next_source: torch.Tensor
    next_driving: torch.Tensor


@pytest.fixture(scope="module")
def first_chunk(tmp_path_factory: pytest.TempPathFactory) -> FirstChunk:
    folder = tmp_path_factory.mktemp("state")
    params = write_params_file(folder / "prior_params.npz", FRAMES_PER_CLIP)
    args = [*tiny_args(params, folder / "run", "prior", FIRST_CHUNK_STEPS), *SCHEDULE]
    args += ["--state-dir", str(folder / "state")]
    run = Run(parse_args(args))
    run.run()
    moments = {
        f"opt_g.{i}": run.opt_g.state[p]["exp_avg_sq"].clone()
        for i, p in enumerate(run.generator.parameters())
    }
    source, driving = run.train.sample_indices(run.cfg.batch_size, run.rng)
    generator = {f"generator.{k}": v.clone() for k, v in run.generator.state_dict().items()}
    return FirstChunk(args, folder / "state", generator, moments, source, driving)


def close_to_fp16(resumed: torch.Tensor, saved: torch.Tensor, scale: torch.Tensor) -> bool:
    """Equal up to fp16 rounding of values of magnitude ``scale`` (a tensor or a scalar)."""
    return bool(((resumed - saved).abs() <= FP16_STEP * scale + FP16_SUBNORMAL).all())


def test_a_fresh_process_resumes_the_exact_state_and_trains_on(
    first_chunk: FirstChunk, tmp_path: Path
) -> None:
    assert sorted(p.name for p in first_chunk.state_dir.iterdir()) == [
        "state-00.safetensors",
        "state.json",
    ]
    dump = tmp_path / "resumed.safetensors"
    args = [a if a != str(FIRST_CHUNK_STEPS) else str(SECOND_CHUNK_STEPS) for a in first_chunk.args]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run(
        [sys.executable, "-c", RESUME_IN_A_FRESH_PROCESS, str(dump), *args],
        check=True,
        env=env,
        capture_output=True,
        text=True,
    ).stdout
    resumed = load_file(str(dump))
    assert int(resumed["step"]) == FIRST_CHUNK_STEPS
    for name, weights in first_chunk.generator.items():
        if weights.is_floating_point():
            assert close_to_fp16(resumed[name], weights, weights.abs()), name
    for name, moment in first_chunk.second_moments.items():
        # the second moment travels as the fp16 square root of its share of the tensor's peak
        peak = moment.max()
        assert close_to_fp16(resumed[name].sqrt(), moment.sqrt(), peak.sqrt()), name
    assert torch.equal(resumed["source"], first_chunk.next_source)
    assert torch.equal(resumed["driving"], first_chunk.next_driving)

    record = json.loads((first_chunk.state_dir / state.RECORD_FILE).read_text())
    assert record["step"] == FIRST_CHUNK_STEPS + SECOND_CHUNK_STEPS
    assert [c["steps"] for c in record["chunks"]] == [
        [0, FIRST_CHUNK_STEPS],
        [FIRST_CHUNK_STEPS, FIRST_CHUNK_STEPS + SECOND_CHUNK_STEPS],
    ]
    assert record["pairs"] == 2 * (FIRST_CHUNK_STEPS + SECOND_CHUNK_STEPS)
    assert record["origin"].startswith("fresh")
    last_step = FIRST_CHUNK_STEPS + SECOND_CHUNK_STEPS - 1
    lr = float(out.split("lr after the chunk")[-1])
    assert lr == Run(parse_args(first_chunk.args)).schedule.at(last_step) < 2e-4


def test_a_state_of_other_networks_or_schedule_is_refused(first_chunk: FirstChunk) -> None:
    other_mode = [a if a != "prior" else "baseline" for a in first_chunk.args]
    with pytest.raises(state.IncompatibleStateError, match=r"network.*mode: state 'prior'"):
        Run(parse_args(other_mode))
    other_schedule = [*first_chunk.args, "--lr", "1e-4"]
    with pytest.raises(state.IncompatibleStateError, match=r"schedule.*lr: state 0\.0002"):
        Run(parse_args(other_schedule))
    assert Run(parse_args([*other_schedule, "--reschedule"])).schedule.lr == 1e-4


def test_fp16_moments_keep_tiny_second_moments() -> None:
    """Squared gradients of 1e-12 underflow plain fp16 (smallest value 6e-8)."""
    param = torch.nn.Parameter(torch.zeros(1000))
    optimizer = torch.optim.Adam([param])
    param.grad = torch.logspace(-9, -3, 1000)
    optimizer.step()
    tensors, meta = state.optimizer_tensors("opt", optimizer)
    assert all(t.dtype == torch.float16 for n, t in tensors.items() if "scale" not in n)
    restored = torch.optim.Adam([param])
    state.restore_optimizer("opt", restored, tensors, meta)
    before, after = optimizer.state[param]["exp_avg_sq"], restored.state[param]["exp_avg_sq"]
    assert (after > 0).all()
    assert ((after.sqrt() - before.sqrt()).abs() <= FP16_STEP * before.sqrt().max()).all()
