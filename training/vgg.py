"""ImageNet VGG16 blocks 1-4 for the perceptual loss (weights: ../shared/models/README.md).

The weights follow the Caffe convention: BGR input in 0-255 minus the per-channel mean.
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file
from torch import nn

CONV_INDICES = (0, 2, 5, 7, 10, 12, 14, 17, 19, 21)
"""torchvision ``vgg16().features`` indices of the convolutions kept (blocks 1-4)."""
POOL_AFTER = frozenset({2, 7, 14})
"""2x2 max-pool after these convolutions (the pool after 21 is past the last tap)."""
TAP_AFTER = (2, 7, 14, 21)
"""relu1_2, relu2_2, relu3_3, relu4_3: the features compared by the loss."""
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
FEATURE_SCALE = 1 / (255 * 0.226)
"""The features are returned at the scale of an ImageNet-normalised VGG (input in units of the
pixel standard deviation, 0.226 of [0, 1], rather than of 1/255): the scale at which
first-order-model's loss weights (perceptual 10, adversarial 1, feature matching 10) balance.
At the Caffe scale the perceptual term weighed 57 times what those weights intend against
the adversarial and feature-matching terms."""


class VGG16Features(nn.Module):
    """(B, 3, H, W) RGB in [0, 1] -> [relu1_2, relu2_2, relu3_3, relu4_3] features."""

    def __init__(self, weights: Path) -> None:
        super().__init__()
        state = load_file(str(weights))
        convs = []
        for i in CONV_INDICES:
            w = state[f"features.{i}.weight"].float()
            conv = nn.Conv2d(w.shape[1], w.shape[0], 3, padding=1)
            conv.weight.data.copy_(w)
            conv.bias.data.copy_(state[f"features.{i}.bias"].float())
            convs.append(conv)
        self.convs = nn.ModuleList(convs)
        self.register_buffer("mean", torch.tensor(CAFFE_MEAN_BGR).view(1, 3, 1, 1))
        self.requires_grad_(False)

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        x = image.flip(1) * 255.0 - self.mean  # RGB [0, 1] -> Caffe BGR
        taps = []
        for i, conv in zip(CONV_INDICES, self.convs, strict=True):
            x = torch.relu(conv(x))
            if i in TAP_AFTER:
                taps.append(x * FEATURE_SCALE)
            if i in POOL_AFTER:
                x = torch.nn.functional.max_pool2d(x, 2)
        return taps
