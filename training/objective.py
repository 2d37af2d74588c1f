"""The image losses of a training step, shared by every generator that renders a driving
frame (the prior model, the face-vid2vid baseline, a distilled student): multi-scale VGG
perceptual, LSGAN with feature matching, and the discriminator's own loss."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from facecodec.training import losses
from facecodec.training.discriminator import MultiScaleDiscriminator
from facecodec.training.vgg import VGG16Features


@dataclass(frozen=True)
class LossWeights:
    perceptual: float = 10.0
    perceptual_scales: int = 3
    """Pyramid levels of the perceptual loss (1, 1/2, 1/4, ...): the full-size level costs
    three quarters of the VGG work."""
    adversarial: float = 1.0
    feature_matching: float = 10.0


class Objective:
    """Generator-side loss terms and the discriminator loss for (B, 3, S, S) images in [0, 1].

    ``discriminator`` is the module whose parameters train; ``judge`` is what runs it (the
    same module, or its DistributedDataParallel wrapper)."""

    def __init__(
        self,
        weights: LossWeights,
        vgg: VGG16Features,
        discriminator: MultiScaleDiscriminator,
        judge: nn.Module,
    ) -> None:
        self.weights = weights
        self.vgg = vgg
        self.discriminator = discriminator
        self.judge = judge
        self.scales = losses.PYRAMID_SCALES[: weights.perceptual_scales]

    def generator_terms(
        self, prediction: torch.Tensor, target: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """Weighted perceptual, adversarial and feature-matching terms (0-dim tensors). The
        discriminator must be frozen (requires_grad False) around this call."""
        w = self.weights
        fake = self.discriminator(prediction)
        real = self.discriminator(target)
        gan, matching = losses.generator_adversarial(fake, real)
        return {
            "perceptual": w.perceptual
            * losses.perceptual_loss(self.vgg, prediction, target, self.scales),
            "adversarial": w.adversarial * gan,
            "feature_matching": w.feature_matching * matching,
        }

    def discriminator_loss(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """LSGAN loss of the discriminator on a detached prediction and the real frame."""
        return losses.discriminator_adversarial(self.judge(prediction.detach()), self.judge(target))
