"""Inputs of the training tests: real frames of ../shared/data and prior parameters fitted to
them at test time (FACECODEC_DATA overrides the data folder)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from shared_data import DATA_DIR, MODELS_DIR

from facecodec.sender.face_model import FaceModel
from facecodec.sender.fit import FaceFitter, crop_landmarks
from facecodec.sender.landmarks import FaceLandmarker
from facecodec.training.data import decode_clip
from facecodec.training.splits import is_validation, read_clips

VGG = MODELS_DIR / "vgg16_imagenet_blocks1-4.fp16.safetensors"


def fitted_clip(clip_path: Path, frames: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The identity code and per-frame prior parameters of a clip's first ``frames`` frames."""
    images = decode_clip(clip_path)[:frames]
    with FaceLandmarker(video=True) as landmarker:
        points = [crop_landmarks(landmarker(f), f.shape[0]) for f in images]
    fit = FaceFitter(FaceModel.load()).fit_identity(points)
    params = [f.params for f in fit.frames]
    return fit.identity, {
        "rotation": np.stack([p.rotation for p in params]),
        "translation": np.stack([p.translation for p in params]),
        "scale": np.array([p.scale for p in params], np.float32),
        "expression": np.stack([p.full_expression() for p in params]),
    }


def write_params_file(path: Path, frames: int) -> Path:
    """A prior-params file in the training format (training/precompute_params.py) for the
    first ``frames`` frames of the first training clip and of the first validation clip."""
    clips = read_clips(DATA_DIR)
    chosen = [
        next(c for c in clips if not is_validation(c.identity)),
        next(c for c in clips if is_validation(c.identity)),
    ]
    codes, per_frame = zip(*(fitted_clip(c.path, frames) for c in chosen), strict=True)
    np.savez(
        path,
        clip_files=np.array([c.path.name for c in chosen]),
        clip_identity=np.array([c.identity for c in chosen]),
        clip_start=np.array([0, frames]),
        clip_frames=np.array([frames, frames]),
        clip_identity_code=np.stack(codes),
        valid=np.ones(2 * frames, bool),
        fit_error=np.zeros(2 * frames, np.float32),
        face_model_version=np.array(FaceModel.load().version),
        **{k: np.concatenate([p[k] for p in per_frame]) for k in per_frame[0]},
    )
    return path


def tiny_args(params_file: Path, run_dir: Path, mode: str, steps: int) -> list[str]:
    """Command-line arguments of a few training steps of the TINY model at batch 2."""
    args = ["--mode", mode, "--model", "TINY", "--data-dir", str(DATA_DIR), "--params"]
    args += [str(params_file), "--vgg", str(VGG), "--run-dir", str(run_dir)]
    return [*args, "--batch-size", "2", "--max-steps", str(steps)]
