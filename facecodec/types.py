"""The few types every part of facecodec speaks (docs/architecture.md).

Conventions shared by the sender, the codec and the receiver:

- Images are RGB ``uint8`` arrays of shape (H, W, 3).
- Head pose maps the canonical, pose-normalised face shape ``S`` (N, 3) into the crop:
  ``X = scale * S @ R.T + translation``, with ``R = Rz(roll) @ Ry(yaw) @ Rx(pitch)``.
- Crop coordinates are normalised to [-1, 1] like ``torch.nn.functional.grid_sample``:
  x grows to the right, y grows downwards, z grows away from the camera, in units of half the
  crop width.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

MAX_EXPRESSION_DIMS = 50
"""Length of the full expression code; operating points send a prefix of it."""


def _vector(values: np.ndarray | list[float], length: int | None = None) -> np.ndarray:
    out = np.asarray(values, dtype=np.float32).reshape(-1)
    if length is not None and out.shape != (length,):
        raise ValueError(f"expected {length} values, got {out.shape[0]}")
    return out


@dataclass
class FrameParams:
    """One frame's motion as floats: what the sender measures and the receiver renders."""

    seq: int
    """Frame index in the stream (the sender's capture counter)."""
    rotation: np.ndarray = field(default_factory=lambda: np.zeros(3, np.float32))
    """(3,) pitch, yaw, roll in radians."""
    translation: np.ndarray = field(default_factory=lambda: np.zeros(3, np.float32))
    """(3,) position of the canonical origin in normalised crop coordinates."""
    scale: float = 1.0
    """Size of the canonical shape in the crop."""
    expression: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    """(d,) leading expression coefficients, d <= MAX_EXPRESSION_DIMS; missing ones are 0."""
    keypoints: np.ndarray | None = None
    """(k, 3) explicit semantic keypoints in crop coordinates, the first k of the model's
    order, or None when the receiver computes all keypoints from the model."""
    face: bool = True
    """False for a frame in which no face was found: the receiver holds the last frame."""

    def __post_init__(self) -> None:
        self.rotation = _vector(self.rotation, 3)
        self.translation = _vector(self.translation, 3)
        self.scale = float(self.scale)
        self.expression = _vector(self.expression)
        if self.expression.shape[0] > MAX_EXPRESSION_DIMS:
            raise ValueError(f"expression code longer than {MAX_EXPRESSION_DIMS}")
        if self.keypoints is not None:
            self.keypoints = np.asarray(self.keypoints, np.float32).reshape(-1, 3)

    @classmethod
    def no_face(cls, seq: int) -> FrameParams:
        return cls(seq=seq, face=False)

    def full_expression(self, dims: int = MAX_EXPRESSION_DIMS) -> np.ndarray:
        """The expression code zero-padded (or truncated) to ``dims`` values."""
        out = np.zeros(dims, np.float32)
        n = min(dims, self.expression.shape[0])
        out[:n] = self.expression[:n]
        return out


@dataclass
class Keyframe:
    """The source the receiver redraws: image, identity, and the versions it was made for."""

    image: np.ndarray
    """(H, W, 3) RGB uint8 face crop."""
    identity: np.ndarray
    """(n,) identity coefficients of the face model."""
    params: FrameParams
    """The source frame's own pose and expression (the source keypoints come from them)."""
    face_model: str
    """Version string of the face model that produced ``identity`` and ``params``."""
    network: str = ""
    """Version string of the receiver network the sender expects ('' for any)."""


@dataclass(frozen=True)
class OperatingPoint:
    """What the bitrate controller chose; it travels in the bitstream."""

    keypoints: int = 0
    """Explicit keypoints sent per frame (0 = the receiver computes all from the model)."""
    expression_dims: int = 16
    """Leading expression coefficients sent per frame (0..MAX_EXPRESSION_DIMS)."""
    quant_level: int = 2
    """Index into the codec's table of quantisation step sizes (coarser as it grows)."""
    frame_interval: int = 1
    """Send every n-th frame's parameters (parameter rate = capture fps / n)."""

    def __post_init__(self) -> None:
        if not 0 <= self.expression_dims <= MAX_EXPRESSION_DIMS:
            raise ValueError(f"expression_dims must be in [0, {MAX_EXPRESSION_DIMS}]")
        if self.keypoints < 0 or self.frame_interval < 1 or self.quant_level < 0:
            raise ValueError(f"invalid operating point {self}")
