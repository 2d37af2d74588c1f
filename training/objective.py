"""The image losses of a training step, shared by every generator that renders a driving
frame (the prior model, the face-vid2vid baseline, a distilled student): multi-scale VGG
perceptual, the same distances again inside the eyes, the mouth and the background
(training/regions.py), LSGAN with feature matching, and the discriminator's own loss."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from facecodec.training import losses
from facecodec.training.discriminator import MultiScaleDiscriminator
from facecodec.training.regions import REGION_NAMES
from facecodec.training.vgg import VGG16Features


@dataclass(frozen=True)
class LossWeights:
    perceptual: float = 10.0
    perceptual_scales: int = 3
    """Pyramid levels of the perceptual loss (1, 1/2, 1/4, ...): the full-size level costs
    three quarters of the VGG work."""
    adversarial: float = 1.0
    feature_matching: float = 10.0
    eyes: float = 2.0
    """Weight of the perceptual distance averaged inside the eyes' masks (1.3 % of a frame):
    with the whole frame's 10 spread over all of it, an eye pixel weighs about 15 times a
    pixel elsewhere. A first choice, to be tuned by validation."""
    mouth: float = 2.0
    """The same inside the mouth's mask (1.7 % of a frame)."""
    background: float = 5.0
    """Weight of the perceptual distance averaged outside both frames' heads (about half of
    a frame), where the output must stay as still as the real background."""
    perceptual_skip: int = 0
    """Finest pyramid levels left out of the perceptual loss (a CPU run of the small model
    affords the coarse ones only)."""
    l1: float = 0.0
    """Weight of a pixel L1 distance (the small model's CPU run)."""


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
        self.scales = losses.PYRAMID_SCALES[weights.perceptual_skip : weights.perceptual_scales]
        self.region_weights = (weights.eyes, weights.mouth, weights.background)
        """In REGION_NAMES order."""

    def generator_terms(
        self, prediction: torch.Tensor, target: torch.Tensor, masks: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """Weighted loss terms (0-dim tensors) of predictions against targets (B, 3, S, S);
        with ``masks`` (B, 3, S, S) from FaceRegions also the eyes, mouth and background
        terms. The discriminator must be frozen (requires_grad False) around this call."""
        w = self.weights
        distances = losses.perceptual_distances(self.vgg, prediction, target, self.scales)
        terms = {"perceptual": w.perceptual * sum(d.mean() for d in distances)}
        if self.adversarial:
            fake = self.discriminator(prediction)
            real = self.discriminator(target)
            gan, matching = losses.generator_adversarial(fake, real)
            terms["adversarial"] = w.adversarial * gan
            terms["feature_matching"] = w.feature_matching * matching
        if w.l1:
            terms["l1"] = w.l1 * (prediction - target).abs().mean()
        if masks is not None:
            inside = losses.masked_means(distances, masks)
            for i, name in enumerate(REGION_NAMES):
                terms[name] = self.region_weights[i] * inside[i]
        return terms

    @property
    def adversarial(self) -> bool:
        """Whether the GAN terms count; without them the discriminator does not run at all."""
        return bool(self.weights.adversarial or self.weights.feature_matching)

    def discriminator_loss(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """LSGAN loss of the discriminator on a detached prediction and the real frame."""
        return losses.discriminator_adversarial(self.judge(prediction.detach()), self.judge(target))
