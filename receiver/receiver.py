"""``Receiver``: shipped weights + one keyframe -> one rendered frame per frame message."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from facecodec.receiver.model_choice import MODELS, pick_model
from facecodec.receiver.renderer import FrameRenderer
from facecodec.receiver.semantic_keypoints import SemanticKeypoints
from facecodec.receiver.synthesizer import make_synthesizer
from facecodec.receiver.weights import BASELINE_WEIGHTS, load_weights
from facecodec.sender.face_model import FaceModel
from facecodec.types import MAX_EXPRESSION_DIMS, FrameParams, Keyframe


@dataclass
class _Source:
    """What the receiver keeps per keyframe (computed once)."""

    volume: torch.Tensor
    identity: torch.Tensor
    kp: torch.Tensor
    rot: torch.Tensor


def pick_device(device: str = "auto") -> torch.device:
    """'auto' takes the GPU when there is one."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


class Receiver:
    """Renders frames of the caller from a keyframe and per-frame parameters.

    On CUDA it runs in half precision (bf16 by default), on CPU in float32. ``model`` picks
    the network: 'auto', 'large' or 'small' (see ``pick_model``).
    """

    def __init__(
        self,
        weights_dir: Path | None = None,
        device: str = "auto",
        dtype: torch.dtype | None = None,
        face_model: FaceModel | None = None,
        model: str = "auto",
    ) -> None:
        self.device = pick_device(device)
        self.model = pick_model(model, self.device, weights_dir)
        state, self.info = load_weights(MODELS[self.model], weights_dir)
        self.face_model = face_model or FaceModel.load()
        if self.face_model.version != self.info.face_model:
            raise ValueError(
                f"weights were trained for face model {self.info.face_model}, "
                f"not {self.face_model.version}"
            )
        self.dtype = dtype or (torch.bfloat16 if self.device.type == "cuda" else torch.float32)
        expression = self.info.mode != BASELINE_WEIGHTS
        synthesizer = make_synthesizer(self.info.config, expression)
        synthesizer.load_state_dict(state)
        keypoints = SemanticKeypoints.from_face_model(
            self.face_model, self.info.config.num_keypoints
        )
        self.renderer = FrameRenderer(synthesizer, keypoints).to(self.device).eval()
        self.renderer.synthesizer.to(self.dtype)
        self._source: _Source | None = None

    @property
    def num_keypoints(self) -> int:
        return self.info.config.num_keypoints

    @torch.no_grad()
    def set_keyframe(self, keyframe: Keyframe) -> None:
        """Compute and keep the keyframe's appearance volume and source keypoints."""
        if keyframe.face_model != self.face_model.version:
            raise ValueError(
                f"keyframe made with face model {keyframe.face_model}, "
                f"receiver has {self.face_model.version}"
            )
        size = self.info.config.image_size
        if keyframe.image.shape != (size, size, 3):
            raise ValueError(f"keyframe image must be {size}x{size}x3, got {keyframe.image.shape}")
        image = torch.from_numpy(keyframe.image).to(self.device).permute(2, 0, 1)[None]
        volume = self.renderer.synthesizer.extract(image.to(self.dtype) / 255.0)
        identity = self._tensor(keyframe.identity[None])
        p = self._params([keyframe.params])
        kp, rot = self.renderer.keypoints(identity, p[3], p[0], p[1], p[2])
        self._source = _Source(volume, identity, kp.to(self.dtype), rot.to(self.dtype))

    @torch.no_grad()
    def render(self, frames: list[FrameParams]) -> np.ndarray:
        """(B,) frame parameters -> (B, S, S, 3) uint8 RGB frames of the current keyframe."""
        if self._source is None:
            raise RuntimeError("render() before set_keyframe()")
        s, b = self._source, len(frames)
        rotation, translation, scale, expression = self._params(frames)
        k = self.num_keypoints
        explicit = np.zeros((b, k, 3), np.float32)
        mask = np.zeros((b, k), bool)
        for i, f in enumerate(frames):
            if f.keypoints is not None:
                n = min(k, len(f.keypoints))
                explicit[i, :n], mask[i, :n] = f.keypoints[:n], True
        image = self.renderer(
            s.volume.expand(b, *s.volume.shape[1:]),
            s.identity.expand(b, -1),
            s.kp.expand(b, -1, -1),
            s.rot.expand(b, -1, -1),
            rotation,
            translation,
            scale,
            expression,
            self._tensor(explicit),
            torch.from_numpy(mask).to(self.device),
        )
        return (image.float().clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).cpu().numpy()

    def _tensor(self, array: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32)).to(self.device)

    def _params(self, frames: list[FrameParams]) -> tuple[torch.Tensor, ...]:
        """rotation (B, 3), translation (B, 3), scale (B,), expression (B, 50) zero-padded."""
        return (
            self._tensor(np.stack([f.rotation for f in frames])),
            self._tensor(np.stack([f.translation for f in frames])),
            self._tensor(np.array([f.scale for f in frames])),
            self._tensor(np.stack([f.full_expression(MAX_EXPRESSION_DIMS) for f in frames])),
        )
