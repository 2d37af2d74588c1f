"""PSNR and SSIM of uint8 frames, with the training's definitions (training/metrics.py).

Identical frames give PSNR = PSNR_CAP_DB rather than infinity (the training code floors the
mean squared error at 1e-10 of the [0, 1] range), so per-frame values average to finite means.
"""

from __future__ import annotations

import numpy as np
import torch

from facecodec.training.metrics import psnr as _psnr
from facecodec.training.metrics import ssim as _ssim

PSNR_CAP_DB = 100.0
"""PSNR of identical frames."""


def _tensor(frames: np.ndarray) -> torch.Tensor:
    """(N, H, W, 3) uint8 -> (N, 3, H, W) float in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float() / 255.0


def psnr(reference: np.ndarray, output: np.ndarray) -> np.ndarray:
    """(N,) PSNR in dB of (N, H, W, 3) uint8 frames, capped at PSNR_CAP_DB."""
    return _psnr(_tensor(reference), _tensor(output)).clamp_max(PSNR_CAP_DB).numpy()


def ssim(reference: np.ndarray, output: np.ndarray) -> np.ndarray:
    """(N,) SSIM of (N, H, W, 3) uint8 frames (Gaussian 11x11 window, per channel)."""
    return _ssim(_tensor(reference), _tensor(output)).numpy()
