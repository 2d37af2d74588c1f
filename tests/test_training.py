"""The training loop on CPU with the tiny model: real frames, real prior parameters fitted at
test time, the real VGG16 loss weights; training states resume and export to receiver weights."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from training_inputs import tiny_args, write_params_file

from facecodec.receiver.weights import PRIOR_WEIGHTS, load_weights
from facecodec.sender.face_model import FaceModel
from facecodec.training import state
from facecodec.training.export import export
from facecodec.training.train import Run, parse_args

FRAMES_PER_CLIP = 12


@pytest.fixture(scope="module")
def params_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_params_file(tmp_path_factory.mktemp("prior") / "prior_params.npz", FRAMES_PER_CLIP)


def tiny_run(params_file: Path, run_dir: Path, mode: str, steps: int) -> Run:
    return Run(parse_args(tiny_args(params_file, run_dir, mode, steps)))


@pytest.mark.parametrize("mode", ["prior", "baseline"])
def test_chunks_train_resume_validate_and_export(params_file: Path, tmp_path: Path, mode) -> None:
    run = tiny_run(params_file, tmp_path, mode, steps=2)
    before = {k: v.clone() for k, v in run.generator.state_dict().items()}
    losses = run.train_step()
    assert all(torch.isfinite(v) for v in losses.values()), losses
    after = run.generator.state_dict()
    assert any(
        not torch.equal(before[k], after[k]) for k in before if before[k].is_floating_point()
    )
    run.run()
    assert (tmp_path / "samples.png").exists() and (tmp_path / "val_predictions.npz").exists()
    # train_step above is not counted: run() counts its own steps
    assert state.load(tmp_path / "state").record["step"] == 2
    resumed = tiny_run(params_file, tmp_path, mode, steps=1)
    assert resumed.step == 2
    resumed.run()
    assert state.load(tmp_path / "state").record["step"] == 3
    counts = export(tmp_path / "state", tmp_path / "weights")
    assert counts["synthesizer"] > 0 and ("detector" in counts) == (mode == "baseline")
    if mode == PRIOR_WEIGHTS:
        weights, info = load_weights(PRIOR_WEIGHTS, tmp_path / "weights")
        assert info.face_model == FaceModel.load().version
        shipped = {k.removeprefix("synthesizer.") for k in after if "synthesizer." in k}
        assert set(weights) == shipped
