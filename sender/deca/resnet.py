"""ResNet-50 (He et al. 2016) without its classifier, with the module names of DECA's encoder
backbone so that ``deca_model.tar`` loads by name: ``conv1``, ``bn1``, ``layer1``..``layer4`` of
bottleneck blocks (``conv1..3``, ``bn1..3``, ``downsample.0/1``)."""

from __future__ import annotations

import torch
from torch import nn

STAGE_BLOCKS = (3, 4, 6, 3)
STAGE_WIDTHS = (64, 128, 256, 512)
EXPANSION = 4
FEATURE_SIZE = STAGE_WIDTHS[-1] * EXPANSION
"""Length of the pooled feature: 2048."""


class Bottleneck(nn.Module):
    """1x1 -> 3x3 (strided) -> 1x1 convolutions with a residual connection."""

    def __init__(self, in_channels: int, width: int, stride: int = 1) -> None:
        super().__init__()
        out_channels = width * EXPANSION
        self.conv1 = nn.Conv2d(in_channels, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        reshaped = stride != 1 or in_channels != out_channels
        self.downsample = (
            nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )
            if reshaped
            else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.relu(self.bn3(self.conv3(out)) + residual)


class ResNet50(nn.Module):
    """(B, 3, 224, 224) image -> (B, 2048) globally pooled feature."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        channels = 64
        stages = zip(STAGE_BLOCKS, STAGE_WIDTHS, strict=True)
        for stage, (blocks, width) in enumerate(stages, start=1):
            stride = 1 if stage == 1 else 2
            layers = [Bottleneck(channels, width, stride)]
            channels = width * EXPANSION
            layers += [Bottleneck(channels, width) for _ in range(blocks - 1)]
            self.add_module(f"layer{stage}", nn.Sequential(*layers))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """He-normal convolutions and unit batch norms, as DECA initialises before loading."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))  # B x 64 x 56 x 56
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))  # B x 2048 x 7 x 7
        return x.mean(dim=(2, 3))
