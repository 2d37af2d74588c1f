"""Choose the quantisation steps from real data: writes codec/tables/quant_levels.json.

    python -m facecodec.codec.fit_quant [--params .cache/prior_params.npz]

The distortion that matters is the keypoint error in pixels of a 256 crop. For every coded
field ``i`` this measures, on training frames only (training/splits.py), its sensitivity
``g_i``: the mean squared displacement of the face model's 32 keypoints (in pixels) per unit
change of the field. A uniform quantiser of step ``D_i`` then costs ``g_i D_i^2 / 12`` of
mean squared keypoint error, and spending bits where they buy the most error ("equal slope")
means equal costs: ``D_i = c / sqrt(g_i)``. Level ``L`` uses ``c = LEVEL_PIXELS[L]`` pixels. An
explicit keypoint coordinate moves one keypoint of 32 by itself: ``g = 128^2 / 32`` per crop
unit. ``intra_scale`` is the median training scale.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import numpy as np

from facecodec.sender.face_model import K_MAX, FaceModel, rotation_matrix
from facecodec.training.splits import is_validation

from .prior_data import DEFAULT_PARAMS, load_params

OUT = Path(__file__).resolve().parent / "tables" / "quant_levels.json"
LEVEL_PIXELS = (0.125, 0.25, 0.5, 1.0, 2.0, 4.0)
"""c per quantisation level: sqrt(12) x the RMS keypoint error each field may add, in pixels."""
CROP_PIXELS_PER_UNIT = 128.0
"""A 256-pixel crop spans [-1, 1]."""
SAMPLE_FRAMES = 20_000
ROTATION_EPS_RAD = 1e-4


def training_frames(params: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(frame indices, their clip indices) of valid frames of training identities."""
    clip_of = np.repeat(np.arange(params["clip_files"].size), params["clip_frames"])
    train_clip = np.array([not is_validation(str(i)) for i in params["clip_identity"]])
    keep = params["valid"] & train_clip[clip_of]
    frames = np.flatnonzero(keep)
    return frames, clip_of[frames]


def sensitivities(
    model: FaceModel, params: dict[str, np.ndarray], frames: np.ndarray, clips: np.ndarray
) -> np.ndarray:
    """(57,) mean squared keypoint displacement (px^2) per unit of rotation (3), translation
    (3), scale (1) and each expression dim (50)."""
    idx = model.keypoint_indices[:K_MAX]
    px2 = CROP_PIXELS_PER_UNIT**2
    g = np.zeros(7 + model.expression_dims)
    # Translation moves every keypoint by the same amount: g = 1 per crop unit.
    g[3:6] = px2
    # Rotation preserves lengths, so an expression dim moves keypoints by scale * basis.
    basis = model.expression_basis[:, idx].astype(np.float64)  # (50, 32, 3)
    g[7:] = px2 * np.mean(params["scale"][frames] ** 2) * (basis**2).sum(2).mean(1)
    rot, scl = np.zeros(3), 0.0
    for f, c in zip(frames, clips, strict=True):
        shape = model.keypoint_shape(
            params["clip_identity_code"][c], params["expression"][f], K_MAX
        ).astype(np.float64)
        angles = params["rotation"][f].astype(np.float64)
        R = rotation_matrix(angles)
        scl += ((shape @ R.T) ** 2).sum(1).mean()
        for j in range(3):
            moved = angles.copy()
            moved[j] += ROTATION_EPS_RAD
            d = params["scale"][f] * shape @ (rotation_matrix(moved) - R).T / ROTATION_EPS_RAD
            rot[j] += (d**2).sum(1).mean()
    g[:3] = px2 * rot / frames.size
    g[6] = px2 * scl / frames.size
    return g


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=Path, default=DEFAULT_PARAMS)
    args = parser.parse_args()
    params = load_params(args.params)
    model = FaceModel.load()
    if str(params["face_model_version"]) != model.version:
        raise SystemExit(f"{args.params} was fitted with another face model than {model.version}")
    frames, clips = training_frames(params)
    rng = np.random.default_rng(0)
    pick = np.sort(rng.choice(frames.size, min(SAMPLE_FRAMES, frames.size), replace=False))
    g = sensitivities(model, params, frames[pick], clips[pick])
    root = np.sqrt(g)
    keypoint_root = CROP_PIXELS_PER_UNIT / np.sqrt(K_MAX)
    levels = [
        {
            "pixels": c,
            "rotation": (c / root[:3]).tolist(),
            "translation": (c / root[3:6]).tolist(),
            "scale": float(c / root[6]),
            "expression": (c / root[7:]).tolist(),
            "keypoint": c / keypoint_root,
        }
        for c in LEVEL_PIXELS
    ]
    out = {
        "source": {
            "params": args.params.name,
            "params_sha1": hashlib.sha1(args.params.read_bytes()).hexdigest(),
            "face_model": model.version,
            "training_frames": int(pick.size),
            "sensitivity_px_per_unit": root.tolist(),
        },
        "intra_scale": float(np.median(params["scale"][frames])),
        "levels": levels,
    }
    OUT.write_text(json.dumps(out, indent=1) + "\n")
    print(f"sensitivity (px per unit): pose {np.round(root[:7], 2)}, expression dims 1-8 ")
    print(f"{np.round(root[7:15], 3)}; wrote {OUT}")


if __name__ == "__main__":
    main()
