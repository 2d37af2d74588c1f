"""Unsupervised keypoint detector of the face-vid2vid baseline (paper section 4, [35]).

Predicts canonical keypoints x_c (identity-specific, from a 3D heatmap soft-argmax), head
rotation, translation and expression deformations, so that x = R (x_c + delta) + t. Trained
with the equivariance and keypoint-prior losses in training/losses.py; its head pose is
supervised by the face prior's pose in place of face-vid2vid's pretrained pose estimator.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as nnf
from torch import nn

from facecodec.receiver.blocks import DownBlock
from facecodec.receiver.config import ModelConfig
from facecodec.receiver.geometry import identity_grid, rotation_matrix

DETECTOR_INPUT_PX = 128
"""The detector sees the frame at this size, as face-vid2vid's does (scale factor 0.25 of 512)."""


@dataclass
class DetectedKeypoints:
    """The detector's outputs for a batch of frames."""

    canonical: torch.Tensor
    """(B, K, 3) canonical keypoints x_c in [-1, 1]."""
    angles: torch.Tensor
    """(B, 3) pitch, yaw, roll in radians."""
    translation: torch.Tensor
    """(B, 3)."""
    deltas: torch.Tensor
    """(B, K, 3) expression deformations."""

    def keypoints(self, canonical: torch.Tensor | None = None) -> torch.Tensor:
        """(B, K, 3) posed keypoints, optionally from another frame's canonical keypoints
        (the source's, as face-vid2vid does for the driving frame)."""
        base = self.canonical if canonical is None else canonical
        rot = rotation_matrix(self.angles)
        return (base + self.deltas) @ rot.transpose(1, 2) + self.translation[:, None, :]


class KeypointDetector(nn.Module):
    """(B, 3, S, S) image in [0, 1] -> DetectedKeypoints with K = cfg.num_keypoints."""

    def __init__(self, cfg: ModelConfig, channels: int = 32, depth: int = 16) -> None:
        super().__init__()
        k = cfg.num_keypoints
        widths = [3, channels, 2 * channels, 4 * channels, 8 * channels]
        self.encoder = nn.Sequential(
            *(DownBlock(widths[i], widths[i + 1]) for i in range(len(widths) - 1))
        )  # -> B x 8c x S'/16 x S'/16
        self.heatmap = nn.Conv2d(widths[-1], k * depth, 3, padding=1)
        self.head = nn.Linear(widths[-1], 6 + 3 * k)
        self.num_keypoints = k
        self.depth = depth

    def forward(self, image: torch.Tensor) -> DetectedKeypoints:
        x = nnf.interpolate(image, size=(DETECTOR_INPUT_PX, DETECTOR_INPUT_PX), mode="bilinear")
        features = self.encoder(x)  # B x 8c x 8 x 8
        b, _, h, w = features.shape
        heat = self.heatmap(features).reshape(b, self.num_keypoints, -1).float().softmax(-1)
        grid = identity_grid(self.depth, h, w, image.device).view(-1, 3)  # D*h*w x 3
        canonical = heat @ grid  # B x K x 3
        pose = self.head(features.mean(dim=(2, 3))).float()
        angles = torch.tanh(pose[:, :3]) * torch.pi / 2
        deltas = pose[:, 6:].view(b, self.num_keypoints, 3)
        return DetectedKeypoints(canonical, angles, pose[:, 3:6], deltas)
