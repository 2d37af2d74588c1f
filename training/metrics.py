"""Image quality metrics on (B, 3, H, W) tensors in [0, 1]."""

from __future__ import annotations

import torch
import torch.nn.functional as nnf

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_C1 = 0.01**2
SSIM_C2 = 0.03**2


def psnr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(B,) peak signal-to-noise ratio in dB."""
    mse = (a.float() - b.float()).square().mean(dim=(1, 2, 3)).clamp_min(1e-10)
    return -10 * torch.log10(mse)


def ssim(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(B,) structural similarity (Wang et al. 2004, Gaussian window, per channel, averaged)."""
    x = torch.arange(SSIM_WINDOW, device=a.device, dtype=torch.float32) - SSIM_WINDOW // 2
    g = torch.exp(-(x**2) / (2 * SSIM_SIGMA**2))
    g = g / g.sum()
    window = (g[:, None] * g[None, :]).expand(3, 1, SSIM_WINDOW, SSIM_WINDOW).contiguous()

    def blur(t: torch.Tensor) -> torch.Tensor:
        return nnf.conv2d(t, window, groups=3)

    a, b = a.float(), b.float()
    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a.square()
    var_b = blur(b * b) - mu_b.square()
    cov = blur(a * b) - mu_a * mu_b
    num = (2 * mu_a * mu_b + SSIM_C1) * (2 * cov + SSIM_C2)
    den = (mu_a.square() + mu_b.square() + SSIM_C1) * (var_a + var_b + SSIM_C2)
    return (num / den).mean(dim=(1, 2, 3))


def l1(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(B,) mean absolute difference."""
    return (a.float() - b.float()).abs().mean(dim=(1, 2, 3))
