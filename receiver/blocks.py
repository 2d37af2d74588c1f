"""Building blocks shared by the receiver networks (after face-vid2vid and LivePortrait)."""

from __future__ import annotations

import torch
import torch.nn.functional as nnf
from torch import nn

CONV = {2: nn.Conv2d, 3: nn.Conv3d}
NORM = {2: nn.BatchNorm2d, 3: nn.BatchNorm3d}
HALVE_HW = {2: (nn.AvgPool2d, (2, 2)), 3: (nn.AvgPool3d, (1, 2, 2))}
"""Pooling that halves height and width (and keeps the depth of a volume)."""


class ResBlock3d(nn.Module):
    """Pre-activation 3D residual block: (B, C, D, H, W) -> (B, C, D, H, W)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm1 = nn.BatchNorm3d(channels)
        self.conv1 = nn.Conv3d(channels, channels, 3, padding=1)
        self.norm2 = nn.BatchNorm3d(channels)
        self.conv2 = nn.Conv3d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(nnf.relu(self.norm1(x)))
        out = self.conv2(nnf.relu(self.norm2(out)))
        return x + out


class DownBlock(nn.Module):
    """Conv, norm, ReLU, then halve H and W: (B, Cin, [D,] H, W) -> (B, Cout, [D,] H/2, W/2)."""

    def __init__(self, in_channels: int, out_channels: int, dims: int = 2) -> None:
        super().__init__()
        self.conv = CONV[dims](in_channels, out_channels, 3, padding=1)
        self.norm = NORM[dims](out_channels)
        pool, kernel = HALVE_HW[dims]
        self.pool = pool(kernel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(nnf.relu(self.norm(self.conv(x))))


class UpBlock3d(nn.Module):
    """Upsample in H and W, conv, norm, ReLU: (B, Cin, D, H, W) -> (B, Cout, D, 2H, 2W)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv3d(in_channels, out_channels, 3, padding=1)
        self.norm = nn.BatchNorm3d(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = nnf.interpolate(x, scale_factor=(1, 2, 2), mode="nearest")
        return nnf.relu(self.norm(self.conv(x)))


class Hourglass3d(nn.Module):
    """3D U-Net over (B, Cin, D, H, W); returns (B, Cin + channels, D, H, W) like face-vid2vid.

    Levels downsample H and W only, so the depth resolution of the volume is kept.
    """

    def __init__(self, in_channels: int, channels: int, levels: int, max_channels: int) -> None:
        super().__init__()
        widths = [in_channels] + [min(max_channels, channels * 2**i) for i in range(levels)]
        self.down = nn.ModuleList(DownBlock(widths[i], widths[i + 1], 3) for i in range(levels))
        up = []
        for i in reversed(range(levels)):
            skip = 0 if i == levels - 1 else widths[i + 1]
            up.append(UpBlock3d(widths[i + 1] + skip, widths[max(i, 1)]))
        self.up = nn.ModuleList(up)
        self.out_channels = in_channels + widths[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = [x]
        for block in self.down:
            skips.append(block(skips[-1]))
        out = skips.pop()
        for block in self.up:
            out = torch.cat([block(out), skips.pop()], dim=1)
        return out


class SPADE(nn.Module):
    """Spatially-adaptive normalisation (Park et al.) conditioned on a map and a code.

    ``x`` (B, C, H, W) is instance-normalised, then modulated by gamma and beta predicted from
    the condition map (B, L, h, w) concatenated with the code (B, E) broadcast over space.
    The concatenation is computed as a convolution of the map plus a per-sample bias from the
    code, which equals convolving the concatenated tensor except at the zero-padded border.
    Gamma and beta are predicted at the map's resolution and upsampled to x's, which keeps
    the modulation cheap at 128 and 256 pixels.
    """

    def __init__(self, channels: int, label_channels: int, code_dims: int, hidden: int) -> None:
        super().__init__()
        self.norm = nn.InstanceNorm2d(channels, affine=False)
        self.shared = nn.Conv2d(label_channels, hidden, 3, padding=1)
        self.code = nn.Linear(code_dims, hidden) if code_dims else None
        self.gamma_beta = nn.Conv2d(hidden, 2 * channels, 3, padding=1)

    def forward(self, x: torch.Tensor, label: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        hidden = self.shared(label)
        if self.code is not None:
            hidden = hidden + self.code(code)[:, :, None, None]
        gamma, beta = self.gamma_beta(nnf.relu(hidden)).chunk(2, dim=1)
        if gamma.shape[-2:] != x.shape[-2:]:
            gamma = nnf.interpolate(gamma, size=x.shape[-2:], mode="bilinear")
            beta = nnf.interpolate(beta, size=x.shape[-2:], mode="bilinear")
        return self.norm(x) * (1 + gamma) + beta


class SPADEResBlock(nn.Module):
    """Residual block with two SPADE-modulated convolutions: (B, Cin, H, W) -> (B, Cout, H, W)."""

    def __init__(
        self, in_channels: int, out_channels: int, label_channels: int, code_dims: int, hidden: int
    ) -> None:
        super().__init__()
        middle = min(in_channels, out_channels)
        self.spade1 = SPADE(in_channels, label_channels, code_dims, hidden)
        self.conv1 = nn.Conv2d(in_channels, middle, 3, padding=1)
        self.spade2 = SPADE(middle, label_channels, code_dims, hidden)
        self.conv2 = nn.Conv2d(middle, out_channels, 3, padding=1)
        self.shortcut = (
            nn.Conv2d(in_channels, out_channels, 1, bias=False)
            if in_channels != out_channels
            else nn.Identity()
        )

    def forward(self, x: torch.Tensor, label: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        out = self.conv1(nnf.leaky_relu(self.spade1(x, label, code), 0.2))
        out = self.conv2(nnf.leaky_relu(self.spade2(out, label, code), 0.2))
        return self.shortcut(x) + out
