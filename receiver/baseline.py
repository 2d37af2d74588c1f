"""The face-vid2vid baseline as a codec: unsupervised keypoints instead of the face prior.

The sender runs the keypoint detector on every frame and sends the head rotation and the K
posed keypoints (as ``FrameParams`` with explicit keypoints, so the codec carries and counts
them like any other stream); the receiver warps the keyframe with them and renders without an
expression code. Paper section 4's comparison, with the weights trained beside the prior model.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from facecodec.receiver.geometry import rotation_matrix
from facecodec.receiver.keypoint_detector import DetectedKeypoints, KeypointDetector
from facecodec.receiver.receiver import pick_device
from facecodec.receiver.synthesizer import Synthesizer
from facecodec.receiver.weights import BASELINE_WEIGHTS, load_weights
from facecodec.types import FrameParams

DETECTOR_WEIGHTS = f"{BASELINE_WEIGHTS}_detector"


class BaselineCodec:
    """Detector (sender side) and synthesizer (receiver side) of the baseline model."""

    def __init__(
        self,
        weights_dir: Path | None = None,
        device: str = "auto",
        dtype: torch.dtype | None = None,
    ) -> None:
        state, self.info = load_weights(BASELINE_WEIGHTS, weights_dir)
        detector_state, _ = load_weights(DETECTOR_WEIGHTS, weights_dir)
        self.device = pick_device(device)
        self.dtype = dtype or (torch.bfloat16 if self.device.type == "cuda" else torch.float32)
        self.synthesizer = Synthesizer(self.info.config, expression=False)
        self.synthesizer.load_state_dict(state)
        self.synthesizer.to(self.device, self.dtype).eval()
        self.detector = KeypointDetector(self.info.config)
        self.detector.load_state_dict(detector_state)
        self.detector.to(self.device).eval()
        self._volume: torch.Tensor | None = None
        self._source: DetectedKeypoints | None = None

    @property
    def num_keypoints(self) -> int:
        return self.info.config.num_keypoints

    @torch.no_grad()
    def _detect(self, frames: np.ndarray) -> DetectedKeypoints:
        image = torch.from_numpy(np.ascontiguousarray(frames)).to(self.device)
        return self.detector(image.permute(0, 3, 1, 2).float() / 255.0)

    @torch.no_grad()
    def set_keyframe(self, image: np.ndarray) -> None:
        """(S, S, 3) RGB uint8 keyframe: its volume and canonical keypoints, on both ends."""
        self._source = self._detect(image[None])
        x = torch.from_numpy(image).to(self.device).permute(2, 0, 1)[None]
        self._volume = self.synthesizer.extract(x.to(self.dtype) / 255.0)

    def encode(self, frames: np.ndarray, first_seq: int = 0) -> list[FrameParams]:
        """(B, S, S, 3) RGB uint8 driving frames -> what the sender transmits for each: the
        rotation and the K keypoints posed from the keyframe's canonical keypoints."""
        if self._source is None:
            raise RuntimeError("encode() before set_keyframe()")
        detected = self._detect(frames)
        canonical = self._source.canonical.expand_as(detected.canonical)
        keypoints = detected.keypoints(canonical).float().cpu().numpy()
        angles = detected.angles.float().cpu().numpy()
        return [
            FrameParams(seq=first_seq + i, rotation=angles[i], keypoints=keypoints[i])
            for i in range(len(frames))
        ]

    @torch.no_grad()
    def render(self, frames: list[FrameParams]) -> np.ndarray:
        """Decoded parameters (rotation + K explicit keypoints each) -> (B, S, S, 3) uint8."""
        if self._volume is None or self._source is None:
            raise RuntimeError("render() before set_keyframe()")
        if any(f.keypoints is None or len(f.keypoints) != self.num_keypoints for f in frames):
            raise ValueError(f"baseline frames need {self.num_keypoints} explicit keypoints")
        b = len(frames)
        kp = torch.from_numpy(np.stack([f.keypoints for f in frames])).to(self.device)
        angles = torch.from_numpy(np.stack([f.rotation for f in frames])).to(self.device)
        s = self._source
        image = self.synthesizer(
            self._volume.expand(b, *self._volume.shape[1:]),
            s.keypoints().to(self.dtype).expand(b, -1, -1),
            kp.to(self.dtype),
            rotation_matrix(s.angles).to(self.dtype).expand(b, -1, -1),
            rotation_matrix(angles).to(self.dtype),
            torch.zeros(b, 0, device=self.device, dtype=self.dtype),
        )
        return (image.float().clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).cpu().numpy()
