"""Rotations and sampling grids in the normalised crop coordinates of facecodec.types."""

from __future__ import annotations

import torch


def rotation_matrix(angles: torch.Tensor) -> torch.Tensor:
    """(..., 3) pitch, yaw, roll in radians -> (..., 3, 3) R = Rz(roll) @ Ry(yaw) @ Rx(pitch)."""
    pitch, yaw, roll = angles.unbind(-1)
    one, zero = torch.ones_like(pitch), torch.zeros_like(pitch)

    def stack(rows: list[list[torch.Tensor]]) -> torch.Tensor:
        return torch.stack([torch.stack(r, -1) for r in rows], -2)

    cx, sx, cy, sy, cz, sz = (
        pitch.cos(),
        pitch.sin(),
        yaw.cos(),
        yaw.sin(),
        roll.cos(),
        roll.sin(),
    )
    rx = stack([[one, zero, zero], [zero, cx, -sx], [zero, sx, cx]])
    ry = stack([[cy, zero, sy], [zero, one, zero], [-sy, zero, cy]])
    rz = stack([[cz, -sz, zero], [sz, cz, zero], [zero, zero, one]])
    return rz @ ry @ rx


def identity_grid(depth: int, height: int, width: int, device: torch.device) -> torch.Tensor:
    """(D, H, W, 3) voxel centres as (x, y, z) in [-1, 1], the layout grid_sample expects."""
    axes = [
        (torch.arange(n, device=device, dtype=torch.float32) * 2 + 1) / n - 1
        for n in (depth, height, width)
    ]
    z, y, x = torch.meshgrid(*axes, indexing="ij")
    return torch.stack([x, y, z], dim=-1)
