"""Fréchet distance on ImageNet VGG16 features: the "FVD-VGG16 stand-in, not comparable with
published FID".

No Inception weights can be had here, so frames are embedded with the VGG16 of
../shared/models (blocks 1-4, Caffe convention; training/vgg.py): relu4_3 averaged over space,
512 dims, at 128x128 input. The distance between two sets of frames is FID's formula on those
features. Its scale differs from FID's: compare methods within one run, never with papers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as nnf

from facecodec.training.vgg import VGG16Features

FRECHET_LABEL = "FVD-VGG16 stand-in, not comparable with published FID"
VGG_WEIGHTS_ENV = "FACECODEC_VGG16"
"""Environment variable naming the VGG16 safetensors, when not in the default place."""
DEFAULT_VGG_WEIGHTS = (
    Path(__file__).resolve().parents[2].parent
    / "shared/models/vgg16_imagenet_blocks1-4.fp16.safetensors"
)
"""../shared/models beside the repository checkout."""
VGG_INPUT_PX = 128
"""Frames are area-resized to this side first: relu4_3 of a 256 px frame costs 0.7 s on a CPU
core, at 128 px 0.14 s."""
FEATURE_DIMS = 512


def vgg_weights_path() -> Path:
    """The VGG16 weights: $FACECODEC_VGG16 or ../shared/models; FileNotFoundError if absent."""
    path = Path(os.environ.get(VGG_WEIGHTS_ENV, DEFAULT_VGG_WEIGHTS))
    if not path.is_file():
        raise FileNotFoundError(
            f"VGG16 weights not found at {path}: set {VGG_WEIGHTS_ENV} to the safetensors file"
        )
    return path


class VggEmbedder:
    """(N, H, W, 3) uint8 frames -> (N, 512) float64 pooled relu4_3 features."""

    def __init__(self, device: str = "cpu", weights: Path | None = None) -> None:
        self.device = torch.device(device)
        self.net = VGG16Features(weights or vgg_weights_path()).to(self.device).eval()

    @torch.no_grad()
    def __call__(self, frames: np.ndarray) -> np.ndarray:
        if len(frames) == 0:
            return np.zeros((0, FEATURE_DIMS))
        x = torch.from_numpy(np.ascontiguousarray(frames)).to(self.device)
        x = x.permute(0, 3, 1, 2).float() / 255.0
        x = nnf.interpolate(x, size=(VGG_INPUT_PX, VGG_INPUT_PX), mode="area")
        return self.net(x)[-1].mean(dim=(2, 3)).double().cpu().numpy()


@dataclass
class FeatureMoments:
    """Running first and second moments of a set of feature vectors (mergeable)."""

    count: int
    total: np.ndarray
    """(D,) sum of the vectors."""
    outer: np.ndarray
    """(D, D) sum of their outer products."""

    @classmethod
    def empty(cls, dims: int = FEATURE_DIMS) -> FeatureMoments:
        return cls(0, np.zeros(dims), np.zeros((dims, dims)))

    @classmethod
    def of(cls, features: np.ndarray) -> FeatureMoments:
        """Moments of (N, D) features."""
        f = np.asarray(features, np.float64)
        return cls(len(f), f.sum(0), f.T @ f)

    def __add__(self, other: FeatureMoments) -> FeatureMoments:
        return FeatureMoments(
            self.count + other.count, self.total + other.total, self.outer + other.outer
        )

    def mean_cov(self) -> tuple[np.ndarray, np.ndarray]:
        """(D,) mean and (D, D) unbiased covariance; ValueError below two vectors."""
        if self.count < 2:
            raise ValueError("a covariance needs at least two feature vectors")
        mean = self.total / self.count
        cov = (self.outer - self.count * np.outer(mean, mean)) / (self.count - 1)
        return mean, cov


def _sqrt_psd(matrix: np.ndarray) -> np.ndarray:
    """Square root of a symmetric positive semi-definite matrix (negative round-off clipped)."""
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def frechet_distance(a: FeatureMoments, b: FeatureMoments) -> float:
    """|mu_a - mu_b|^2 + tr(C_a + C_b - 2 (C_a C_b)^1/2), the Fréchet distance of two Gaussians.

    tr((C_a C_b)^1/2) is computed as tr((S C_b S)^1/2) with S = C_a^1/2, which is symmetric, so
    no general matrix square root (scipy) is needed.
    """
    mu_a, cov_a = a.mean_cov()
    mu_b, cov_b = b.mean_cov()
    root_a = _sqrt_psd(cov_a)
    cross = np.trace(_sqrt_psd(root_a @ cov_b @ root_a))
    value = float(np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a) + np.trace(cov_b) - 2 * cross)
    return max(value, 0.0)
