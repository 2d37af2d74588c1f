"""The receiver's networks together: F once per keyframe, then M and G per frame."""

from __future__ import annotations

import torch
import torch.nn.functional as nnf
from torch import nn

from facecodec.receiver.appearance_feature_extractor import AppearanceFeatureExtractor
from facecodec.receiver.config import ModelConfig, WarpConfig
from facecodec.receiver.dense_motion import DenseMotion
from facecodec.receiver.spade_generator import SPADEGenerator
from facecodec.receiver.warp_generator import WarpSynthesizer


class Synthesizer(nn.Module):
    """Keyframe volume + source/driving keypoints and rotations (+ expression) -> frame.

    With ``expression=False`` the generator ignores the code: the face-vid2vid baseline.
    """

    def __init__(self, cfg: ModelConfig, expression: bool = True) -> None:
        super().__init__()
        self.cfg = cfg
        self.expression = expression
        self.extractor = AppearanceFeatureExtractor(cfg)
        self.motion = DenseMotion(cfg)
        self.generator = SPADEGenerator(cfg, cfg.expression_dims if expression else 0)

    def extract(self, image: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) keyframe in [0, 1] -> (B, C, D, S/4, S/4) appearance volume."""
        return self.extractor(image)

    def forward(
        self,
        volume: torch.Tensor,
        kp_source: torch.Tensor,
        kp_driving: torch.Tensor,
        rot_source: torch.Tensor,
        rot_driving: torch.Tensor,
        code: torch.Tensor,
        kp_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """volume (B, C, D, H, W); keypoints (B, K, 3); rotations (B, 3, 3); code (B, E) with
        dropped trailing dims set to 0; kp_mask (B, K) bool -> (B, 3, 4H, 4W) in [0, 1]."""
        motion = self.motion(volume, kp_source, kp_driving, rot_source, rot_driving, kp_mask)
        warped = nnf.grid_sample(volume, motion.deformation.to(volume.dtype), align_corners=False)
        return self.generator(warped, motion.occlusion.to(warped.dtype), code)


def make_synthesizer(
    cfg: ModelConfig | WarpConfig, expression: bool = True
) -> Synthesizer | WarpSynthesizer:
    """The network a configuration describes: the large model (ModelConfig) or the small CPU
    one (WarpConfig); both take the same inputs."""
    if isinstance(cfg, WarpConfig):
        return WarpSynthesizer(cfg, expression)
    return Synthesizer(cfg, expression)
