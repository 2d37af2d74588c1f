"""Expression-aware generator G (paper section 3.2, Fig. 2b).

The warped 3D volume is flattened to 2D, multiplied by the occlusion map and decoded by SPADE
residual blocks whose modulation sees both that map and the expression code broadcast over
space, so expression detail the keypoints miss still reaches the output.
"""

from __future__ import annotations

import torch
import torch.nn.functional as nnf
from torch import nn

from facecodec.receiver.blocks import SPADEResBlock
from facecodec.receiver.config import ModelConfig


class SPADEGenerator(nn.Module):
    """Warped volume (B, C, D, H, W), occlusion (B, 1, H, W), code (B, E) -> (B, 3, 4H, 4W)."""

    def __init__(self, cfg: ModelConfig, code_dims: int) -> None:
        super().__init__()
        c = cfg.generator_channels
        self.project = nn.Conv2d(cfg.feature_channels * cfg.feature_depth, c, 1)
        self.label = nn.Sequential(nn.Conv2d(c, c, 3, padding=1), nn.LeakyReLU(0.2))

        def block(cin: int, cout: int) -> SPADEResBlock:
            return SPADEResBlock(cin, cout, c, code_dims, cfg.spade_hidden)

        self.middle = nn.ModuleList(block(c, c) for _ in range(cfg.generator_blocks))
        self.up1 = block(c, c // 2)
        self.up2 = block(c // 2, c // 4)
        self.to_rgb = nn.Conv2d(c // 4, 3, 3, padding=1)

    def forward(
        self, warped: torch.Tensor, occlusion: torch.Tensor, code: torch.Tensor
    ) -> torch.Tensor:
        x = self.project(warped.flatten(1, 2)) * occlusion  # B x c x H x W
        label = self.label(x)  # the SPADE condition map, B x c x H x W
        for block in self.middle:
            x = block(x, label, code)
        x = self.up1(nnf.interpolate(x, scale_factor=2.0), label, code)  # B x c/2 x 2H x 2W
        x = self.up2(nnf.interpolate(x, scale_factor=2.0), label, code)  # B x c/4 x 4H x 4W
        return torch.sigmoid(self.to_rgb(nnf.leaky_relu(x, 0.2)))
