"""Appearance feature extractor F (paper appendix B.1, after face-vid2vid).

Maps the keyframe to a 3D feature volume that the receiver computes once and keeps.
"""

from __future__ import annotations

import torch
from torch import nn

from facecodec.receiver.blocks import DownBlock, ResBlock3d
from facecodec.receiver.config import ModelConfig


class AppearanceFeatureExtractor(nn.Module):
    """(B, 3, S, S) image in [0, 1] -> (B, C, D, S/4, S/4) feature volume f_s."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        c = cfg.extractor_channels
        self.stem = nn.Sequential(
            nn.Conv2d(3, c, 7, padding=3), nn.BatchNorm2d(c), nn.ReLU(inplace=True)
        )
        self.down = nn.Sequential(DownBlock(c, 2 * c), DownBlock(2 * c, 4 * c))
        self.to_volume = nn.Conv2d(4 * c, cfg.feature_channels * cfg.feature_depth, 1)
        self.blocks = nn.Sequential(
            *(ResBlock3d(cfg.feature_channels) for _ in range(cfg.extractor_blocks))
        )
        self.channels = cfg.feature_channels
        self.depth = cfg.feature_depth

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = self.down(self.stem(image))  # B x 4c x S/4 x S/4
        x = self.to_volume(x)  # B x C*D x S/4 x S/4
        b, _, h, w = x.shape
        return self.blocks(x.view(b, self.channels, self.depth, h, w))  # B x C x D x S/4 x S/4
