"""The small receiver for CPUs: a 2D warp of the keyframe driven by the projected keypoints,
corrected by a light generator (docs/model.md, "The small model").

It reads the same inputs as ``Synthesizer`` (keypoints and rotations of source and driving
frame, expression code), so ``FrameRenderer`` and ``Receiver`` drive either. Per keyframe,
``extract`` keeps a feature map at S/4 and the keyframe image itself (pixel-unshuffled to the
same grid, so the state is one tensor). Per frame:

- each keypoint k moves a pixel p as a first-order motion, p -> R_s R_d^-1 (p - x_d,k) + x_s,k,
  with p at the keypoint's depth; the background stays still;
- a small dilated-conv network on a coarse grid predicts K+1 soft masks from the keypoint
  heatmaps and the keyframe features; the masks' logits start from the driving heatmaps (log
  Gaussians), so the untrained warp already follows the nearest keypoint;
- the mask-weighted flow warps the features (S/4) and the keyframe image (S); a generator at
  S/4 with the expression code as a bias of its first layer predicts a correction of the warped
  image through two pixel shuffles. Its last layer starts at zero: untrained, the output is the
  warped keyframe.
"""

from __future__ import annotations

import torch
import torch.nn.functional as nnf
from torch import nn

from facecodec.receiver.config import WarpConfig
from facecodec.receiver.geometry import identity_grid

IMAGE_SHUFFLE = 4
"""The keyframe image rides in the state pixel-unshuffled by this factor (S -> S/4)."""
BACKGROUND_LOGIT = -2.0
"""Prior logit of the still background: it wins farther than about 0.2 (normalised units, at
the default heatmap variance) from every keypoint, so the untrained warp moves the face only."""


def plane_grid(size: int, device: torch.device) -> torch.Tensor:
    """(size, size, 2) pixel centres as (x, y) in [-1, 1], the layout of 2D grid_sample."""
    return identity_grid(1, size, size, device)[0, :, :, :2]


class SeparableBlock(nn.Module):
    """Depthwise 3x3 then pointwise 1x1, residual: (B, C, H, W) -> (B, C, H, W)."""

    def __init__(self, channels: int, dilation: int = 1) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(
            channels, channels, 3, padding=dilation, dilation=dilation, groups=channels
        )
        self.pointwise = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.pointwise(nnf.relu(self.depthwise(x)))


class WarpMotion(nn.Module):
    """Keyframe features, keypoints and rotations -> flow (B, m, m, 2) and occlusion
    (B, 1, m, m) on the coarse motion grid (m = ``motion_size``)."""

    def __init__(self, cfg: WarpConfig) -> None:
        super().__init__()
        k, c = cfg.num_keypoints, cfg.motion_channels
        self.size = cfg.motion_size
        self.variance = cfg.heatmap_variance
        self.compress = nn.Conv2d(cfg.feature_channels, 4, 1)
        self.inp = nn.Conv2d(2 * k + 4, c, 3, padding=1)
        self.body = nn.Sequential(*(SeparableBlock(c, d) for d in (1, 2, 4, 8)))
        self.mask = nn.Conv2d(c, k + 1, 3, padding=1)
        self.occlusion = nn.Conv2d(c, 1, 3, padding=1)
        nn.init.zeros_(self.mask.weight)
        nn.init.zeros_(self.mask.bias)
        nn.init.zeros_(self.occlusion.weight)
        nn.init.constant_(self.occlusion.bias, 4.0)  # start fully trusting the warp

    def forward(
        self,
        features: torch.Tensor,
        kp_source: torch.Tensor,
        kp_driving: torch.Tensor,
        rot_source: torch.Tensor,
        rot_driving: torch.Tensor,
        kp_mask: torch.Tensor | None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """features (B, C, S/4, S/4); keypoints (B, K, 3); rotations (B, 3, 3); kp_mask (B, K)
        bool, dropped keypoints neither move pixels nor show in the heatmaps."""
        grid = plane_grid(self.size, features.device)
        flows = self._sparse_flows(grid, kp_source, kp_driving, rot_source, rot_driving)
        log_drive = self._log_heat(grid, kp_driving)  # B x K x m x m
        log_source = self._log_heat(grid, kp_source)
        keep = torch.ones_like(log_drive[:, :, :1, :1]) if kp_mask is None else kp_mask
        keep = keep.reshape(*log_drive.shape[:2], 1, 1).to(log_drive.dtype)
        heat = torch.cat([log_drive.exp() * keep, log_source.exp() * keep], 1)
        small = nnf.adaptive_avg_pool2d(self.compress(features), self.size)
        hidden = self.body(nnf.relu(self.inp(torch.cat([heat.to(small.dtype), small], 1))))
        prior = log_drive.masked_fill(keep == 0, -1e4)
        prior = nnf.pad(prior, (0, 0, 0, 0, 1, 0), value=BACKGROUND_LOGIT)
        masks = (self.mask(hidden).float() + prior).softmax(1)  # B x K+1 x m x m
        flow = (masks.unsqueeze(-1) * flows).sum(1)  # B x m x m x 2
        return flow, torch.sigmoid(self.occlusion(hidden))

    @staticmethod
    def _sparse_flows(
        grid: torch.Tensor,
        kp_source: torch.Tensor,
        kp_driving: torch.Tensor,
        rot_source: torch.Tensor,
        rot_driving: torch.Tensor,
    ) -> torch.Tensor:
        """(B, K+1, m, m, 2): the still background, then each keypoint's motion in 3D (a pixel
        taken at the keypoint's depth), projected back to the image plane."""
        kp_s, kp_d = kp_source.float(), kp_driving.float()
        jacobian = rot_source.float() @ rot_driving.float().transpose(-1, -2)
        b = kp_d.shape[0]
        plane = grid[None, None] - kp_d[:, :, None, None, :2]  # B x K x m x m x 2
        depth = torch.zeros_like(plane[..., :1])
        rel = torch.cat([plane, depth], -1)
        flows = torch.einsum("bij,bkhwj->bkhwi", jacobian, rel)[..., :2]
        flows = flows + kp_s[:, :, None, None, :2]
        background = grid[None, None].expand(b, 1, *grid.shape)
        return torch.cat([background, flows], 1)

    def _log_heat(self, grid: torch.Tensor, kp: torch.Tensor) -> torch.Tensor:
        """(B, K, m, m) log of the Gaussian heatmap of each keypoint's image position."""
        diff = grid[None, None] - kp.float()[:, :, None, None, :2]
        return -0.5 * diff.square().sum(-1) / self.variance


class WarpDecoder(nn.Module):
    """Warped features (B, C, S/4, S/4), occlusion, code (B, E) -> correction (B, 3, S, S)."""

    def __init__(self, cfg: WarpConfig) -> None:
        super().__init__()
        c, u = cfg.generator_channels, cfg.upsample_channels
        self.inp = nn.Conv2d(cfg.feature_channels + 1, c, 3, padding=1)
        self.code = nn.Linear(cfg.expression_dims, c)
        self.body = nn.Sequential(*(SeparableBlock(c) for _ in range(cfg.generator_blocks)))
        self.up = nn.Conv2d(c, 4 * u, 1)
        self.refine = nn.Conv2d(u, u, 3, padding=1)
        self.to_rgb = nn.Conv2d(u, 4 * 3, 3, padding=1)
        nn.init.zeros_(self.to_rgb.weight)
        nn.init.zeros_(self.to_rgb.bias)

    def forward(
        self, warped: torch.Tensor, occlusion: torch.Tensor, code: torch.Tensor
    ) -> torch.Tensor:
        x = self.inp(torch.cat([warped * occlusion, occlusion], 1))
        if code.shape[1]:
            x = x + self.code(nnf.pad(code, (0, self.code.in_features - code.shape[1])))[
                :, :, None, None
            ].to(x.dtype)
        x = self.body(nnf.relu(x))
        x = nnf.relu(nnf.pixel_shuffle(self.up(x), 2))  # B x u x S/2 x S/2
        x = nnf.relu(self.refine(x))
        return nnf.pixel_shuffle(self.to_rgb(x), 2)


class WarpSynthesizer(nn.Module):
    """The small model with ``Synthesizer``'s interface: ``extract`` once per keyframe, then
    ``forward`` per frame (see the module docstring)."""

    def __init__(self, cfg: WarpConfig, expression: bool = True) -> None:
        super().__init__()
        self.cfg = cfg
        self.expression = expression
        f = cfg.feature_channels
        self.encoder = nn.Sequential(
            nn.Conv2d(3, f // 2, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(f // 2, f, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(f, f, 3, padding=1),
        )
        self.motion = WarpMotion(cfg)
        self.decoder = WarpDecoder(cfg)

    def extract(self, image: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) keyframe in [0, 1] -> (B, C + 48, S/4, S/4): its features, then the
        image itself pixel-unshuffled."""
        return torch.cat([self.encoder(image), nnf.pixel_unshuffle(image, IMAGE_SHUFFLE)], 1)

    def forward(
        self,
        state: torch.Tensor,
        kp_source: torch.Tensor,
        kp_driving: torch.Tensor,
        rot_source: torch.Tensor,
        rot_driving: torch.Tensor,
        code: torch.Tensor,
        kp_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """state (B, C + 48, S/4, S/4) from ``extract``; keypoints (B, K, 3); rotations
        (B, 3, 3); code (B, E) with dropped trailing dims 0 -> (B, 3, S, S) in [0, 1]."""
        f = self.cfg.feature_channels
        features, image = state[:, :f], nnf.pixel_shuffle(state[:, f:], IMAGE_SHUFFLE)
        flow, occlusion = self.motion(
            features, kp_source, kp_driving, rot_source, rot_driving, kp_mask
        )
        quarter = features.shape[-1]
        warped = nnf.grid_sample(
            features, self._resize(flow, quarter).to(state.dtype), align_corners=False
        )
        occlusion = nnf.interpolate(occlusion, size=quarter, mode="bilinear")
        flow_full = self._resize(flow, image.shape[-1]).to(state.dtype)
        base = nnf.grid_sample(image, flow_full, padding_mode="border", align_corners=False)
        correction = self.decoder(warped, occlusion.to(warped.dtype), code.to(warped.dtype))
        return (base + correction).clamp(0, 1)

    @staticmethod
    def _resize(flow: torch.Tensor, size: int) -> torch.Tensor:
        """(B, m, m, 2) sampling positions -> (B, size, size, 2): the displacement is upsampled,
        not the positions, so border pixels are not pulled inwards."""
        coarse = plane_grid(flow.shape[1], flow.device)
        displacement = (flow - coarse).permute(0, 3, 1, 2)
        displacement = nnf.interpolate(displacement, size=size, mode="bilinear")
        return plane_grid(size, flow.device) + displacement.permute(0, 2, 3, 1)
