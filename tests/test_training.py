"""The training loop on CPU with the tiny model: real frames, real prior parameters fitted at
test time, the real VGG16 loss weights; checkpoints resume and export to receiver weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from facecodec.receiver.weights import PRIOR_WEIGHTS, load_weights
from facecodec.sender.face_model import FaceModel
from facecodec.sender.fit import FaceFitter, crop_landmarks
from facecodec.sender.landmarks import FaceLandmarker
from facecodec.training import checkpoint
from facecodec.training.data import decode_clip
from facecodec.training.export import export
from facecodec.training.splits import is_validation, read_clips
from facecodec.training.train import Run, parse_args

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
VGG = DATA.parent / "models" / "vgg16_imagenet_blocks1-4.fp16.safetensors"
FRAMES_PER_CLIP = 12


def fitted_clip(clip_path: Path) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The identity code and per-frame prior parameters of a clip's first frames."""
    frames = decode_clip(clip_path)[:FRAMES_PER_CLIP]
    with FaceLandmarker(video=True) as landmarker:
        points = [crop_landmarks(landmarker(f), f.shape[0]) for f in frames]
    fit = FaceFitter(FaceModel.load()).fit_identity(points)
    params = [f.params for f in fit.frames]
    return fit.identity, {
        "rotation": np.stack([p.rotation for p in params]),
        "translation": np.stack([p.translation for p in params]),
        "scale": np.array([p.scale for p in params], np.float32),
        "expression": np.stack([p.full_expression() for p in params]),
    }


@pytest.fixture(scope="module")
def params_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A prior-params file in the training format for one training and one validation clip."""
    clips = read_clips(DATA)
    chosen = [
        next(c for c in clips if not is_validation(c.identity)),
        next(c for c in clips if is_validation(c.identity)),
    ]
    codes, per_frame = zip(*(fitted_clip(c.path) for c in chosen), strict=True)
    n = FRAMES_PER_CLIP
    path = tmp_path_factory.mktemp("prior") / "prior_params.npz"
    np.savez(
        path,
        clip_files=np.array([c.path.name for c in chosen]),
        clip_identity=np.array([c.identity for c in chosen]),
        clip_start=np.array([0, n]),
        clip_frames=np.array([n, n]),
        clip_identity_code=np.stack(codes),
        valid=np.ones(2 * n, bool),
        fit_error=np.zeros(2 * n, np.float32),
        face_model_version=np.array(FaceModel.load().version),
        **{k: np.concatenate([p[k] for p in per_frame]) for k in per_frame[0]},
    )
    return path


def tiny_run(params_file: Path, run_dir: Path, mode: str, steps: int) -> Run:
    args = ["--mode", mode, "--model", "TINY", "--data-dir", str(DATA), "--params"]
    args += [str(params_file), "--vgg", str(VGG), "--run-dir", str(run_dir)]
    args += ["--batch-size", "2", "--max-steps", str(steps)]
    return Run(parse_args(args))


@pytest.mark.parametrize("mode", ["prior", "baseline"])
def test_chunks_train_resume_validate_and_export(params_file: Path, tmp_path: Path, mode) -> None:
    run = tiny_run(params_file, tmp_path, mode, steps=2)
    before = {k: v.clone() for k, v in run.generator.state_dict().items()}
    losses = run.train_step()
    assert all(np.isfinite(v) for v in losses.values()), losses
    after = run.generator.state_dict()
    assert any(
        not torch.equal(before[k], after[k]) for k in before if before[k].is_floating_point()
    )
    run.run()
    assert (tmp_path / "samples.png").exists() and (tmp_path / "val_predictions.npz").exists()
    _, meta = checkpoint.load(tmp_path / "checkpoint")
    assert meta["step"] == 2  # train_step above is not counted: run() counts its own steps
    resumed = tiny_run(params_file, tmp_path, mode, steps=1)
    assert resumed.step == 2
    resumed.run()
    assert checkpoint.load(tmp_path / "checkpoint")[1]["step"] == 3
    counts = export(tmp_path, mode, tmp_path / "weights")
    assert counts["synthesizer"] > 0 and ("detector" in counts) == (mode == "baseline")
    if mode == PRIOR_WEIGHTS:
        state, info = load_weights(PRIOR_WEIGHTS, tmp_path / "weights")
        assert info.face_model == FaceModel.load().version
        assert set(state) == {k.removeprefix("synthesizer.") for k in after if "synthesizer." in k}
