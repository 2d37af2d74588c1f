"""Fit the face model to every frame of every clip (training and validation) and save the
per-frame parameters the receiver trains on (docs/face_model.md).

    python -m facecodec.training.precompute_params [--landmarks .cache/landmarks.npz]
        [--out .cache/prior_params.npz]

One identity code per clip, estimated from that clip's frames. Arrays written: ``clip_files``,
``clip_identity``, ``clip_start``, ``clip_frames``, ``clip_identity_code``; per frame
``rotation`` (N, 3), ``translation`` (N, 3), ``scale`` (N,), ``expression`` (N, 50), ``valid``,
``fit_error`` (pixels of the 256 crop); ``face_model_version``. Frames without a valid fit carry
the parameters of the nearest valid frame of their clip (``valid`` False).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from tqdm import tqdm

from facecodec.sender.face_model import FaceModel
from facecodec.sender.fit import FaceFitter, crop_landmarks
from facecodec.types import MAX_EXPRESSION_DIMS

REPO = Path(__file__).resolve().parents[1]
DEFAULT_LANDMARKS = REPO / ".cache" / "landmarks.npz"
DEFAULT_OUT = REPO / ".cache" / "prior_params.npz"
CROP_PX = 256
MAX_FIT_ERROR_PX = 2.0
"""A frame whose mean landmark error exceeds this (pixels of the 256 crop) is not valid."""
MAX_ANGLE_RAD = np.deg2rad(75.0)
SCALE_RANGE = (0.4, 2.5)


def fit_clips(
    model: FaceModel,
    landmarks: np.ndarray,
    found: np.ndarray,
    starts: np.ndarray,
    counts: np.ndarray,
    progress: bool = True,
) -> dict[str, np.ndarray]:
    """Per-clip identity and per-frame parameters for landmarks in pixels of 256 crops."""
    fitter = FaceFitter(model)
    n = len(found)
    rotation = np.zeros((n, 3), np.float32)
    translation = np.zeros((n, 3), np.float32)
    scale = np.ones(n, np.float32)
    expression = np.zeros((n, MAX_EXPRESSION_DIMS), np.float32)
    fit_error = np.full(n, np.inf, np.float32)
    ident = np.zeros((len(starts), model.identity_dims), np.float32)
    bar = tqdm(total=n, unit="frame", desc="fit", disable=not progress)
    for c, (s0, cnt) in enumerate(zip(starts, counts, strict=True)):
        sl = slice(int(s0), int(s0 + cnt))
        ok = np.flatnonzero(found[sl])
        if len(ok) == 0:
            bar.update(int(cnt))
            continue
        X = crop_landmarks(landmarks[sl][ok].astype(np.float32), CROP_PX)
        fit = fitter.fit_identity(list(X))
        ident[c] = fit.identity
        for j, fr in zip(ok, fit.frames, strict=True):
            i = s0 + j
            p = fr.params
            rotation[i], translation[i], scale[i] = p.rotation, p.translation, p.scale
            expression[i] = p.full_expression()
            fit_error[i] = fr.error * (CROP_PX / 2)
        bar.update(int(cnt))
    bar.close()
    valid = (
        found
        & (fit_error < MAX_FIT_ERROR_PX)
        & (np.abs(rotation[:, :2]) < MAX_ANGLE_RAD).all(1)
        & (scale > SCALE_RANGE[0])
        & (scale < SCALE_RANGE[1])
    )
    # Fill frames without a valid fit from the nearest valid frame of the same clip.
    for s0, cnt in zip(starts, counts, strict=True):
        sl = np.arange(s0, s0 + cnt)
        good = sl[valid[sl]]
        bad = sl[~valid[sl]]
        if len(good) and len(bad):
            near = good[np.abs(bad[:, None] - good[None]).argmin(1)]
            for arr in (rotation, translation, scale, expression):
                arr[bad] = arr[near]
    fit_error[~np.isfinite(fit_error)] = -1.0
    return {
        "clip_identity_code": ident,
        "rotation": rotation,
        "translation": translation,
        "scale": scale,
        "expression": expression,
        "valid": valid,
        "fit_error": fit_error,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--landmarks", type=Path, default=DEFAULT_LANDMARKS)
    parser.add_argument("--model", type=Path, default=None, help="face model (default: shipped)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)

    model = FaceModel.load(args.model)
    z = np.load(args.landmarks)
    starts = z["clip_start"].astype(np.int64)
    counts = z["clip_frames"].astype(np.int64)
    out = fit_clips(model, z["landmarks"], z["found"], starts, counts)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        args.out,
        clip_files=z["clip_files"].astype(str),
        clip_identity=z["clip_identity"].astype(str),
        clip_start=starts,
        clip_frames=counts,
        face_model_version=np.array(model.version),
        **out,
    )
    valid, err = out["valid"], out["fit_error"]
    ok = err >= 0
    print(
        f"{len(counts)} clips, {len(valid)} frames, valid {valid.mean():.2%}; fit error px: "
        f"mean {err[ok].mean():.3f} median {np.median(err[ok]):.3f} "
        f"p99 {np.percentile(err[ok], 99):.3f} max {err[ok].max():.3f}"
    )
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
