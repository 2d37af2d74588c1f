"""The per-frame path of the receiver as one module, so it can be compiled and batched."""

from __future__ import annotations

import torch
from torch import nn

from facecodec.receiver.semantic_keypoints import SemanticKeypoints
from facecodec.receiver.synthesizer import Synthesizer


class FrameRenderer(nn.Module):
    """Face-prior parameters of driving frames + kept keyframe state -> frames.

    Driving keypoints are computed from the source identity and the frame's (truncated)
    expression and pose; explicit keypoints, where the bitstream carries them, replace the
    computed ones.
    """

    def __init__(self, synthesizer: Synthesizer, keypoints: SemanticKeypoints) -> None:
        super().__init__()
        self.synthesizer = synthesizer
        self.keypoints = keypoints

    def forward(
        self,
        volume: torch.Tensor,
        identity: torch.Tensor,
        kp_source: torch.Tensor,
        rot_source: torch.Tensor,
        rotation: torch.Tensor,
        translation: torch.Tensor,
        scale: torch.Tensor,
        expression: torch.Tensor,
        explicit: torch.Tensor,
        explicit_mask: torch.Tensor,
    ) -> torch.Tensor:
        """volume (B, C, D, H, W); identity (B, I); kp_source (B, K, 3); rot_source (B, 3, 3);
        rotation, translation (B, 3); scale (B,); expression (B, 50) zero-padded; explicit
        (B, K, 3) keypoints used where explicit_mask (B, K) is set -> (B, 3, S, S) in [0, 1]."""
        kp, rot = self.keypoints(identity, expression, rotation, translation, scale)
        kp = torch.where(explicit_mask[..., None], explicit, kp)
        code = (expression if self.synthesizer.expression else expression[:, :0]).to(volume.dtype)
        dtype = volume.dtype
        return self.synthesizer(volume, kp_source, kp.to(dtype), rot_source, rot.to(dtype), code)
