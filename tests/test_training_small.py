"""Training the small CPU model: the training loop's 'small' mode with the CPU options (no
discriminator, perceptual loss at the coarse scales, pixel L1) on real frames, resumed and
exported to weights that the small model loads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from training_inputs import tiny_args, write_params_file

from facecodec.receiver.config import TINY_WARP
from facecodec.receiver.warp_generator import WarpSynthesizer
from facecodec.receiver.weights import SMALL_WEIGHTS, load_weights
from facecodec.training import state
from facecodec.training.export import export
from facecodec.training.train import Run, parse_args

FRAMES_PER_CLIP = 12
CPU_FLAGS = ["--model", "TINY_WARP", "--perceptual-skip", "1", "--perceptual-scales", "2"]
CPU_FLAGS += ["--l1-weight", "10"]
CPU_FLAGS += ["--adversarial-weight", "0", "--feature-matching-weight", "0"]


@pytest.fixture(scope="module")
def params_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_params_file(tmp_path_factory.mktemp("prior") / "prior_params.npz", FRAMES_PER_CLIP)


def small_run(params_file: Path, run_dir: Path, steps: int) -> Run:
    return Run(parse_args([*tiny_args(params_file, run_dir, "small", steps), *CPU_FLAGS]))


def test_small_model_trains_without_a_discriminator_and_exports(
    params_file: Path, tmp_path: Path
) -> None:
    run = small_run(params_file, tmp_path, steps=2)
    assert isinstance(run.generator.synthesizer, WarpSynthesizer)
    discriminator = {k: v.clone() for k, v in run.discriminator.state_dict().items()}
    before = {k: v.clone() for k, v in run.generator.state_dict().items()}
    losses = run.train_step()
    assert {"perceptual", "l1"} <= set(losses) and not {"adversarial", "discriminator"} & set(
        losses
    )
    assert all(np.isfinite(float(v)) for v in losses.values())
    after = run.generator.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)
    assert all(torch.equal(discriminator[k], v) for k, v in run.discriminator.state_dict().items())
    run.run()
    resumed = small_run(params_file, tmp_path, steps=1)
    assert resumed.step == 2
    resumed.run()
    assert state.load(tmp_path / "state").record["step"] == 3
    counts = export(tmp_path / "state", tmp_path / "weights")
    weights, info = load_weights(SMALL_WEIGHTS, tmp_path / "weights")
    assert info.config == TINY_WARP and info.mode == SMALL_WEIGHTS
    assert counts["synthesizer"] == sum(v.numel() for v in weights.values())
    WarpSynthesizer(info.config).load_state_dict(weights)
