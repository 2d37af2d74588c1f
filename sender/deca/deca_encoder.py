"""DECA's coarse encoder E_flame (Feng et al. 2021): ResNet-50 and a two-layer regressor from a
224x224 face crop to FLAME identity, albedo, expression, pose, orthographic camera and
spherical-harmonics light, named like ``deca_model.tar`` (``encoder.*``, ``layers.0``,
``layers.2``)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from facecodec.sender.deca.resnet import FEATURE_SIZE, ResNet50

IMAGE_SIZE = 224
"""Side of the square RGB crop the encoder takes, values in [0, 1]."""
HIDDEN_SIZE = 1024
CODE_LAYOUT = (("shape", 100), ("tex", 50), ("exp", 50), ("pose", 6), ("cam", 3), ("light", 27))
"""DECA's parameter vector, in order (decalib/utils/config.py ``param_list``)."""
CODE_SIZE = sum(n for _, n in CODE_LAYOUT)


@dataclass
class DecaCode:
    """One batch of DECA's predictions (the parts facecodec reads)."""

    shape: torch.Tensor
    """(B, 100) FLAME identity coefficients."""
    exp: torch.Tensor
    """(B, 50) FLAME expression coefficients (PCA order)."""
    pose: torch.Tensor
    """(B, 6) axis-angle global (head) rotation, then jaw rotation."""
    cam: torch.Tensor
    """(B, 3) orthographic camera: scale, then x, y translation in FLAME units."""


class DecaEncoder(nn.Module):
    """(B, 3, 224, 224) RGB in [0, 1] -> DECA code."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder = ResNet50()
        self.layers = nn.Sequential(
            nn.Linear(FEATURE_SIZE, HIDDEN_SIZE), nn.ReLU(), nn.Linear(HIDDEN_SIZE, CODE_SIZE)
        )

    def forward(self, images: torch.Tensor) -> DecaCode:
        code = self.layers(self.encoder(images))  # B x 236
        sizes = [n for _, n in CODE_LAYOUT]
        parts = dict(zip([name for name, _ in CODE_LAYOUT], code.split(sizes, dim=1), strict=True))
        return DecaCode(
            shape=parts["shape"], exp=parts["exp"], pose=parts["pose"], cam=parts["cam"]
        )
