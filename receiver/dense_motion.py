"""Motion field estimator M (paper appendix B.1, after face-vid2vid).

Each keypoint k induces a flow w_k: p_d -> R_s R_d^-1 (p_d - x_d,k) + x_s,k (first-order
approximation with the head rotations). A 3D hourglass sees the source volume warped by every
w_k together with keypoint heatmaps and predicts K+1 soft masks (the extra one keeps the
background still) and a 2D occlusion map. The dense flow is the mask-weighted sum of the w_k.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as nnf
from torch import nn

from facecodec.receiver.blocks import Hourglass3d
from facecodec.receiver.config import ModelConfig
from facecodec.receiver.geometry import identity_grid


@dataclass
class Motion:
    """What M predicts for one driving frame."""

    deformation: torch.Tensor
    """(B, D, H, W, 3) where each output voxel samples the source volume (grid_sample layout)."""
    occlusion: torch.Tensor
    """(B, 1, H, W) in [0, 1]: how much of each output pixel the warped source explains."""


class DenseMotion(nn.Module):
    """Source volume, keypoints and rotations -> Motion at the volume's resolution."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.compress = nn.Conv3d(cfg.feature_channels, cfg.motion_channels, 1)
        self.downsample = cfg.motion_downsample
        self.variance = cfg.heatmap_variance
        k1 = cfg.num_keypoints + 1
        self.hourglass = Hourglass3d(
            k1 * (cfg.motion_channels + 1),
            cfg.hourglass_channels,
            cfg.hourglass_levels,
            max_channels=8 * cfg.hourglass_channels,
        )
        self.mask = nn.Conv3d(self.hourglass.out_channels, k1, 3, padding=1)
        self.occlusion = nn.Conv2d(self.hourglass.out_channels * cfg.feature_depth, 1, 3, padding=1)

    def forward(
        self,
        volume: torch.Tensor,
        kp_source: torch.Tensor,
        kp_driving: torch.Tensor,
        rot_source: torch.Tensor,
        rot_driving: torch.Tensor,
        kp_mask: torch.Tensor | None = None,
    ) -> Motion:
        """volume (B, C, D, H, W); keypoints (B, K, 3); rotations (B, 3, 3); kp_mask (B, K) bool
        marks the keypoints present (dropped ones neither warp nor appear in heatmaps)."""
        b, _, d, h, w = volume.shape
        small = self.compress(volume)  # B x c x D x H x W
        if self.downsample > 1:
            small = nnf.avg_pool3d(small, (1, self.downsample, self.downsample))
        grid = identity_grid(*small.shape[2:], device=volume.device)  # D' x H' x W' x 3
        flows = self._sparse_flows(grid, kp_source, kp_driving, rot_source, rot_driving)
        heat = self._heatmaps(grid, kp_source, kp_driving)  # B x K+1 x D' x H' x W'
        warped = self._warp_each(small, flows)  # B x K+1 x c x D' x H' x W'
        keep = self._keep(kp_mask, b, kp_source.shape[1], volume.device)  # B x K+1
        keep = keep.to(small.dtype)
        heat = heat.to(small.dtype) * keep[:, :, None, None, None]
        warped = warped * keep[:, :, None, None, None, None]
        x = torch.cat([heat.unsqueeze(2), warped], dim=2).flatten(1, 2)
        features = self.hourglass(x)  # B x F x D' x H' x W'
        logits = self.mask(features).masked_fill(keep[:, :, None, None, None] == 0, -1e4)
        masks = logits.float().softmax(dim=1)  # B x K+1 x D' x H' x W'
        deformation = (masks.unsqueeze(-1) * flows).sum(dim=1)  # B x D' x H' x W' x 3
        occlusion = torch.sigmoid(self.occlusion(features.flatten(1, 2)))  # B x 1 x H' x W'
        if self.downsample > 1:
            # Upsample the displacement, not the sampling positions: interpolating positions
            # would pull border voxels inwards by half a coarse voxel.
            displacement = (deformation - grid).permute(0, 4, 1, 2, 3)
            displacement = nnf.interpolate(displacement, size=(d, h, w), mode="trilinear")
            fine = identity_grid(d, h, w, device=volume.device)
            deformation = fine + displacement.permute(0, 2, 3, 4, 1)
            occlusion = nnf.interpolate(occlusion, size=(h, w), mode="bilinear")
        return Motion(deformation, occlusion)

    @staticmethod
    def _sparse_flows(
        grid: torch.Tensor,
        kp_source: torch.Tensor,
        kp_driving: torch.Tensor,
        rot_source: torch.Tensor,
        rot_driving: torch.Tensor,
    ) -> torch.Tensor:
        """(B, K+1, D, H, W, 3): the identity flow for the background, then one per keypoint."""
        # Geometry in float32 whatever the network's precision: keypoints move by fractions of
        # a voxel.
        jacobian = rot_source.float() @ rot_driving.float().transpose(-1, -2)  # R^-1 = R^T
        rel = (
            grid[None, None] - kp_driving.float()[:, :, None, None, None, :]
        )  # B x K x D x H x W x 3
        flows = torch.einsum("bij,bkdhwj->bkdhwi", jacobian, rel)
        flows = flows + kp_source.float()[:, :, None, None, None, :]
        background = grid[None, None].expand(flows.shape[0], 1, *grid.shape)
        return torch.cat([background, flows], dim=1)

    def _heatmaps(
        self, grid: torch.Tensor, kp_source: torch.Tensor, kp_driving: torch.Tensor
    ) -> torch.Tensor:
        """(B, K+1, D, H, W) Gaussian(driving) - Gaussian(source), zero for the background."""

        def gaussian(kp: torch.Tensor) -> torch.Tensor:
            diff = grid[None, None] - kp.float()[:, :, None, None, None, :]
            return torch.exp(-0.5 * diff.square().sum(-1) / self.variance)

        heat = gaussian(kp_driving) - gaussian(kp_source)
        return nnf.pad(heat, (0, 0, 0, 0, 0, 0, 1, 0))

    @staticmethod
    def _warp_each(volume: torch.Tensor, flows: torch.Tensor) -> torch.Tensor:
        """volume (B, c, D, H, W), flows (B, K+1, D, H, W, 3) -> (B, K+1, c, D, H, W)."""
        b, k1 = flows.shape[:2]
        repeated = volume.unsqueeze(1).expand(b, k1, *volume.shape[1:]).flatten(0, 1)
        warped = nnf.grid_sample(
            repeated, flows.flatten(0, 1).to(volume.dtype), align_corners=False
        )
        return warped.view(b, k1, *warped.shape[1:])

    @staticmethod
    def _keep(kp_mask: torch.Tensor | None, b: int, k: int, device: torch.device) -> torch.Tensor:
        """(B, K+1) float mask: background always kept, keypoints as kp_mask says."""
        if kp_mask is None:
            return torch.ones(b, k + 1, device=device)
        background = torch.ones(b, 1, device=device, dtype=torch.bool)
        return torch.cat([background, kp_mask], dim=1).float()
