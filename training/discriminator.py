"""Multi-scale patch discriminator with feature matching (pix2pixHD, as in first-order-model)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as nnf
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm


class PatchDiscriminator(nn.Module):
    """(B, 3, H, W) -> list of intermediate features, the last one (B, 1, H/8-ish, W/8-ish)
    being the per-patch realness score."""

    def __init__(self, channels: int = 32, layers: int = 4) -> None:
        super().__init__()
        widths = [3] + [min(256, channels * 2**i) for i in range(layers)]
        self.blocks = nn.ModuleList(
            spectral_norm(nn.Conv2d(widths[i], widths[i + 1], 4, 2 if i < 3 else 1, padding=1))
            for i in range(layers)
        )
        self.score = nn.Conv2d(widths[-1], 1, 4, padding=1)

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        features = []
        x = image * 2 - 1
        for block in self.blocks:
            x = nnf.leaky_relu(block(x), 0.2)
            features.append(x)
        features.append(self.score(x))
        return features


@dataclass(frozen=True)
class DiscriminatorConfig:
    scales: int = 2
    """Image scales 1, 1/2, ... each judged by a patch discriminator of its own."""
    channels: int = 32
    """Channels of each patch discriminator's first layer (doubled per layer, at most 256)."""


class MultiScaleDiscriminator(nn.Module):
    """One PatchDiscriminator per scale (1, 1/2, ...): image -> list (per scale) of features."""

    def __init__(self, cfg: DiscriminatorConfig = DiscriminatorConfig()) -> None:
        super().__init__()
        self.cfg = cfg
        self.discriminators = nn.ModuleList(
            PatchDiscriminator(cfg.channels) for _ in range(cfg.scales)
        )

    def forward(self, image: torch.Tensor) -> list[list[torch.Tensor]]:
        out = []
        for i, disc in enumerate(self.discriminators):
            scaled = image if i == 0 else nnf.interpolate(image, scale_factor=0.5**i, mode="area")
            out.append(disc(scaled))
        return out
