"""Losses of the training objective (paper section 3.4 and face-vid2vid's regularisers)."""

from __future__ import annotations

import torch
import torch.nn.functional as nnf

from facecodec.receiver.keypoint_detector import DetectedKeypoints
from facecodec.training.vgg import VGG16Features

PYRAMID_SCALES = (1.0, 0.5, 0.25)
"""Image scales at which the perceptual loss compares VGG features (first-order-model)."""
KEYPOINT_SEPARATION = 0.1
"""face-vid2vid's keypoint prior: squared distance below which two keypoints repel."""
KEYPOINT_DEPTH = 0.33
"""face-vid2vid's keypoint prior: target mean depth of the keypoints."""


def perceptual_distances(
    vgg: VGG16Features,
    output: torch.Tensor,
    target: torch.Tensor,
    scales: tuple[float, ...] = PYRAMID_SCALES,
) -> list[torch.Tensor]:
    """Multi-scale VGG16 feature distances: per scale and layer, the channel-mean L1 distance
    map (B, 1, h, w) in float32."""
    maps = []
    for s in scales:
        out_s, tgt_s = output, target
        if s != 1.0:
            out_s = nnf.interpolate(output, scale_factor=s, mode="area")
            tgt_s = nnf.interpolate(target, scale_factor=s, mode="area")
        with torch.no_grad():
            tgt_features = vgg(tgt_s)
        for fo, ft in zip(vgg(out_s), tgt_features, strict=True):
            maps.append((fo.float() - ft.float()).abs().mean(1, keepdim=True))
    return maps


def masked_means(distances: list[torch.Tensor], masks: torch.Tensor) -> torch.Tensor:
    """(R,) the distance maps' means inside each of R soft masks (B, R, S, S), summed over the
    maps (scales and layers), each sample's region weighing alike."""
    total = masks.new_zeros(masks.shape[1])
    for d in distances:
        m = nnf.adaptive_avg_pool2d(masks, d.shape[-2:])
        inside = (d * m).sum((2, 3)) / m.sum((2, 3)).clamp_min(1e-6)
        total = total + inside.mean(0)
    return total


def generator_adversarial(
    fake: list[list[torch.Tensor]], real: list[list[torch.Tensor]]
) -> tuple[torch.Tensor, torch.Tensor]:
    """LSGAN generator loss and L1 feature matching, summed over discriminator scales."""
    gan = fake[0][-1].new_zeros((), dtype=torch.float32)
    matching = gan.clone()
    for f_scale, r_scale in zip(fake, real, strict=True):
        gan = gan + (1 - f_scale[-1].float()).square().mean()
        for f, r in zip(f_scale[:-1], r_scale[:-1], strict=True):
            matching = matching + (f.float() - r.detach().float()).abs().mean()
    return gan, matching


def discriminator_adversarial(
    fake: list[list[torch.Tensor]], real: list[list[torch.Tensor]]
) -> torch.Tensor:
    """LSGAN discriminator loss summed over scales."""
    loss = fake[0][-1].new_zeros((), dtype=torch.float32)
    for f_scale, r_scale in zip(fake, real, strict=True):
        loss = (
            loss + (1 - r_scale[-1].float()).square().mean() + f_scale[-1].float().square().mean()
        )
    return loss


def random_affine(batch: int, generator: torch.Generator) -> torch.Tensor:
    """(B, 2, 3) small random similarity transforms for the equivariance loss, on the
    generator's device."""
    r = torch.rand(batch, 4, generator=generator, device=generator.device) * 2 - 1
    angle, scale = r[:, 0] * 0.2, 1 + r[:, 1] * 0.1
    cos, sin = angle.cos() * scale, angle.sin() * scale
    return torch.stack(
        [torch.stack([cos, -sin, r[:, 2] * 0.1], 1), torch.stack([sin, cos, r[:, 3] * 0.1], 1)], 1
    )


def warp_image(image: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """out(p) = image(A p + b) for theta = [A | b] (B, 2, 3) in normalised coordinates."""
    grid = nnf.affine_grid(theta, list(image.shape), align_corners=False)
    return nnf.grid_sample(
        image, grid.to(image.dtype), padding_mode="reflection", align_corners=False
    )


def equivariance_loss(
    keypoints: torch.Tensor, warped_keypoints: torch.Tensor, theta: torch.Tensor
) -> torch.Tensor:
    """Keypoints of the warped image, mapped back by theta, must match the original ones (x, y)."""
    xy = warped_keypoints[..., :2] @ theta[:, :, :2].transpose(1, 2) + theta[:, None, :, 2]
    return (xy - keypoints[..., :2]).abs().mean()


def keypoint_prior_loss(detected: DetectedKeypoints) -> torch.Tensor:
    """face-vid2vid's keypoint prior: canonical keypoints spread apart, at a mean depth."""
    kp = detected.canonical
    dist = torch.cdist(kp, kp).square()
    off_diagonal = 1 - torch.eye(kp.shape[1], device=kp.device)
    spread = (nnf.relu(KEYPOINT_SEPARATION - dist) * off_diagonal).sum((1, 2)).mean()
    depth = (kp[..., 2].mean(1) - KEYPOINT_DEPTH).abs().mean()
    return spread + depth
