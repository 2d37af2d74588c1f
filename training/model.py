"""What training optimises, in the two modes of the paper's comparison (section 4).

``PriorGenerator``: semantic keypoints from the face model with the source identity, and the
expression code in the SPADE generator. ``BaselineGenerator``: face-vid2vid's unsupervised
keypoint detector and the same generator without expression. ``Conditioner`` turns a batch
of prior parameters into the prior model's inputs, with the training-time dropout that lets
one model serve every operating point, and with mirroring for flipped pairs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from facecodec.receiver.config import ModelConfig, WarpConfig
from facecodec.receiver.geometry import rotation_matrix
from facecodec.receiver.keypoint_detector import DetectedKeypoints, KeypointDetector
from facecodec.receiver.semantic_keypoints import SemanticKeypoints
from facecodec.receiver.synthesizer import Synthesizer, make_synthesizer
from facecodec.training import losses
from facecodec.training.data import EXPRESSION_DIMS, PairBatch, PoseBatch

MIN_KEYPOINTS_KEPT = 4


@dataclass(frozen=True)
class Dropout:
    """Training-time dropout so that one model serves every operating point."""

    expression: bool = True
    """Drop the last k expression dims, k uniform in [0, 50] (paper section 3.4)."""
    truncated_keypoints_p: float = 0.5
    """Probability that the driving keypoints come from the truncated code, which is what the
    receiver computes when no explicit keypoints are sent, rather than the full one."""
    keypoints_p: float = 0.2
    """Probability of dropping trailing keypoints, keeping k uniform in [4, K]."""


@dataclass
class PriorInputs:
    """The prior model's per-pair inputs."""

    kp_source: torch.Tensor
    """(B, K, 3)."""
    kp_driving: torch.Tensor
    """(B, K, 3)."""
    rot_source: torch.Tensor
    """(B, 3, 3)."""
    rot_driving: torch.Tensor
    """(B, 3, 3)."""
    code: torch.Tensor
    """(B, 50), dropped dims zero."""
    kp_mask: torch.Tensor
    """(B, K) bool."""


def truncate(code: torch.Tensor, dims: torch.Tensor) -> torch.Tensor:
    """Zero all but the first ``dims[b]`` entries of each row of code (B, E)."""
    keep = torch.arange(code.shape[1], device=code.device)[None, :] < dims[:, None]
    return code * keep


class Conditioner(nn.Module):
    """Face-prior parameters -> semantic keypoints, rotations and expression code."""

    def __init__(self, face_model: object, num_keypoints: int) -> None:
        super().__init__()
        self.keypoints = SemanticKeypoints.from_face_model(face_model, num_keypoints)
        mirror = np.asarray(face_model.keypoint_mirror[:num_keypoints])
        if sorted(mirror.tolist()) != list(range(num_keypoints)):
            raise ValueError(f"the first {num_keypoints} keypoints are not mirror-closed")
        self.register_buffer("keypoint_mirror", torch.as_tensor(mirror))
        self.register_buffer(
            "expression_mirror", torch.as_tensor(face_model.expression_mirror).float()
        )
        self.register_buffer("flip_x", torch.diag(torch.tensor([-1.0, 1.0, 1.0])))

    def posed(
        self, identity: torch.Tensor, params: PoseBatch, dims: torch.Tensor, flip: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Keypoints (B, K, 3) and rotations (B, 3, 3) from the first ``dims`` (B,) expression
        dims, mirrored where ``flip`` (B,) is set."""
        kp, rot = self.keypoints(
            identity,
            truncate(params.expression, dims),
            params.rotation,
            params.translation,
            params.scale,
        )
        kp = torch.where(flip[:, None, None], (kp @ self.flip_x)[:, self.keypoint_mirror], kp)
        rot = torch.where(flip[:, None, None], self.flip_x @ rot @ self.flip_x, rot)
        return kp, rot

    def forward(self, batch: PairBatch, dropout: Dropout, rng: torch.Generator) -> PriorInputs:
        """Training inputs: expression dims, keypoint code and keypoint count dropped at random."""
        b, device = batch.source.shape[0], batch.source.device
        k = self.keypoints.count

        def uniform(low: int, high: int) -> torch.Tensor:
            return torch.randint(low, high + 1, (b,), generator=rng, device=device)

        def chance(p: float) -> torch.Tensor:
            return torch.rand(b, generator=rng, device=device) < p

        full = torch.full((b,), EXPRESSION_DIMS, device=device)
        dims = EXPRESSION_DIMS - uniform(0, EXPRESSION_DIMS) if dropout.expression else full
        kp_dims = torch.where(chance(dropout.truncated_keypoints_p), dims, full)
        kept = torch.where(chance(dropout.keypoints_p), uniform(MIN_KEYPOINTS_KEPT, k), k)
        return self._inputs(batch, dims, kp_dims, kept)

    def evaluation(self, batch: PairBatch, dims: int) -> PriorInputs:
        """What the receiver computes from ``dims`` expression dims and no explicit keypoints."""
        b, device = batch.source.shape[0], batch.source.device
        d = torch.full((b,), dims, device=device)
        return self._inputs(batch, d, d, torch.full((b,), self.keypoints.count, device=device))

    def _inputs(
        self, batch: PairBatch, dims: torch.Tensor, kp_dims: torch.Tensor, kept: torch.Tensor
    ) -> PriorInputs:
        full = torch.full_like(dims, EXPRESSION_DIMS)
        kp_s, rot_s = self.posed(batch.identity, batch.source_params, full, batch.flipped)
        kp_d, rot_d = self.posed(batch.identity, batch.driving_params, kp_dims, batch.flipped)
        code = truncate(batch.driving_params.expression, dims)
        code = torch.where(batch.flipped[:, None], code @ self.expression_mirror.T, code)
        kp_mask = torch.arange(self.keypoints.count, device=dims.device)[None, :] < kept[:, None]
        return PriorInputs(kp_s, kp_d, rot_s, rot_d, code, kp_mask)


class PriorGenerator(nn.Module):
    """Source image and PriorInputs -> (B, 3, S, S) prediction, with the large model
    (ModelConfig) or the small CPU one (WarpConfig)."""

    def __init__(self, cfg: ModelConfig | WarpConfig) -> None:
        super().__init__()
        self.synthesizer = make_synthesizer(cfg, expression=True)

    def forward(self, source: torch.Tensor, inputs: PriorInputs) -> torch.Tensor:
        volume = self.synthesizer.extract(source)
        return self.synthesizer(
            volume,
            inputs.kp_source,
            inputs.kp_driving,
            inputs.rot_source,
            inputs.rot_driving,
            inputs.code,
            inputs.kp_mask,
        )


class BaselineGenerator(nn.Module):
    """face-vid2vid: source, driving and an affinely warped driving image ->
    (prediction, detections of source, driving, warped driving)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.detector = KeypointDetector(cfg)
        self.synthesizer = Synthesizer(cfg, expression=False)

    def forward(
        self, source: torch.Tensor, driving: torch.Tensor, warped: torch.Tensor
    ) -> tuple[torch.Tensor, DetectedKeypoints, DetectedKeypoints, DetectedKeypoints]:
        b = source.shape[0]
        det = self.detector(torch.cat([source, driving, warped]))
        det_s, det_d, det_w = (
            DetectedKeypoints(*(t[i * b : (i + 1) * b] for t in vars(det).values()))
            for i in range(3)
        )
        volume = self.synthesizer.extract(source)
        prediction = self.synthesizer(
            volume,
            det_s.keypoints(),
            det_d.keypoints(det_s.canonical),
            rotation_matrix(det_s.angles),
            rotation_matrix(det_d.angles),
            source.new_zeros(b, 0),
        )
        return prediction, det_s, det_d, det_w


@dataclass(frozen=True)
class BaselineWeights:
    """Weights of face-vid2vid's regularisers of the unsupervised keypoint detector."""

    equivariance: float = 10.0
    keypoint_prior: float = 10.0
    head_pose: float = 10.0
    """The face prior's head rotation stands in for face-vid2vid's pretrained pose network."""
    deformation: float = 5.0


def baseline_losses(
    weights: BaselineWeights,
    driving: DetectedKeypoints,
    warped: DetectedKeypoints,
    theta: torch.Tensor,
    prior_rotation: torch.Tensor,
) -> dict[str, torch.Tensor]:
    """Weighted regularisers of the detector on the driving frame and its warped copy."""
    return {
        "equivariance": weights.equivariance
        * losses.equivariance_loss(driving.keypoints(), warped.keypoints(), theta),
        "keypoint_prior": weights.keypoint_prior * losses.keypoint_prior_loss(driving),
        "head_pose": weights.head_pose
        * (rotation_matrix(driving.angles) - prior_rotation).abs().mean(),
        "deformation": weights.deformation * driving.deltas.abs().mean(),
    }
