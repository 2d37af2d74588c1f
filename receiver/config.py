"""Typed configurations of the receiver networks, one per model size."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelConfig:
    """Sizes of the appearance extractor F, the motion estimator M and the generator G."""

    num_keypoints: int = 16
    """Semantic keypoints K driving the warp (the face model's first K)."""
    expression_dims: int = 50
    """Length of the expression code fed to the SPADE generator."""
    image_size: int = 256
    """Side of the square input keyframe and of the output frame."""
    feature_channels: int = 32
    """Channels C of the 3D appearance volume (C x D x H/4 x W/4)."""
    feature_depth: int = 16
    """Depth D of the 3D appearance volume."""
    extractor_channels: int = 64
    """Channels of the first 2D layer of F (doubled at each of two downsamplings)."""
    extractor_blocks: int = 2
    """3D residual blocks at the end of F."""
    motion_channels: int = 4
    """Channels the appearance volume is compressed to before the motion hourglass."""
    motion_downsample: int = 2
    """The motion hourglass runs at (H/4)/this x (W/4)/this; its flow is upsampled."""
    hourglass_channels: int = 32
    """Channels of the first hourglass level (doubled per level, capped at 8x)."""
    hourglass_levels: int = 3
    """Downsamplings in the 3D hourglass (in H and W only; depth is kept)."""
    generator_channels: int = 128
    """Channels of the generator at H/4 x W/4 (halved at each upsampling)."""
    generator_blocks: int = 3
    """SPADE residual blocks at H/4 x W/4 before the two upsampling blocks."""
    spade_hidden: int = 32
    """Hidden channels of each SPADE modulation network."""
    heatmap_variance: float = 0.01
    """Variance of the Gaussian keypoint heatmaps, in normalised volume units."""


DEFAULT = ModelConfig()
"""The shipped model: sized for 3 ms per frame on one H100 (docs/model.md)."""

TINY = ModelConfig(
    num_keypoints=8,
    image_size=64,
    feature_channels=4,
    feature_depth=4,
    extractor_channels=8,
    extractor_blocks=1,
    motion_channels=2,
    hourglass_channels=8,
    hourglass_levels=2,
    generator_channels=16,
    generator_blocks=1,
    spade_hidden=8,
)
"""A model small enough for CPU tests of shapes, dropout and training steps."""


@dataclass(frozen=True)
class WarpConfig:
    """Sizes of the small CPU receiver (receiver/warp_generator.py): a 2D warp of the keyframe
    driven by the projected keypoints and a light generator that corrects it."""

    num_keypoints: int = 16
    """Semantic keypoints K driving the warp (the face model's first K)."""
    expression_dims: int = 50
    """Length of the expression code, added as a bias of the generator's first layer."""
    image_size: int = 256
    """Side of the square input keyframe and of the output frame."""
    feature_channels: int = 32
    """Channels of the keyframe's feature map at S/4 x S/4 (computed once per keyframe)."""
    motion_size: int = 32
    """Side of the grid the soft keypoint masks are predicted on (the flow is upsampled)."""
    motion_channels: int = 32
    """Channels of the mask network's dilated convolutions."""
    generator_channels: int = 48
    """Channels of the generator at S/4 x S/4."""
    generator_blocks: int = 2
    """Depthwise-separable residual blocks at S/4 x S/4."""
    upsample_channels: int = 16
    """Channels of the generator at S/2 x S/2, before its last 2x pixel shuffle to RGB."""
    heatmap_variance: float = 0.01
    """Variance of the Gaussian keypoint heatmaps, in normalised crop units."""


SMALL = WarpConfig()
"""The CPU model: sized for under 20 ms per 256x256 frame on 2 laptop cores (docs/model.md)."""

TINY_WARP = WarpConfig(
    num_keypoints=8,
    image_size=64,
    feature_channels=8,
    motion_size=8,
    motion_channels=8,
    generator_channels=8,
    generator_blocks=1,
    upsample_channels=4,
)
"""A small model small enough for CPU tests of shapes and training steps."""
