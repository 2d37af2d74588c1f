"""Where the eyes, the mouth and the background are in a training frame: soft masks drawn
from the face model's vertices posed with the frame's prior parameters, for the losses that
weight those regions (training/objective.py)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from facecodec.receiver.semantic_keypoints import SemanticKeypoints
from facecodec.training.data import PoseBatch

RIGHT_EYE = (33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246)
LEFT_EYE = (263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466)
"""MediaPipe's eye contours (FACEMESH_RIGHT_EYE, FACEMESH_LEFT_EYE; the person's sides)."""
MOUTH_LANDMARKS = np.array(
    sorted(
        {
            0, 13, 14, 17, 37, 39, 40, 61, 78, 80, 81, 82, 84, 87, 88, 91, 95, 146, 178, 181,
            185, 191, 267, 269, 270, 291, 308, 310, 311, 312, 314, 317, 318, 321, 324, 375,
            402, 405, 409, 415,
        }
    )
)  # fmt: skip
"""MediaPipe's lip contour vertices (FACEMESH_LIPS)."""
FACE_OVAL = (
    10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377,
    152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109,
)  # fmt: skip
"""MediaPipe's face oval (FACEMESH_FACE_OVAL), forehead to chin."""
REGION_NAMES = ("eyes", "mouth", "background")
EYE_MARGIN = 1.6
"""An eye's ellipse is this many times its contour's half extent: lids, lashes and the
skin folds around them."""
MOUTH_MARGIN = 1.3
HEAD_MARGIN = (1.45, 1.6)
"""The head's ellipse over the face oval's half extents (x, y): hair, ears and the neck's top
are outside the mesh but move with the head, so they are not background."""
EDGE = 8.0
"""Steepness of the soft masks' edges (1 / the share of the radius the edge spans)."""


class FaceRegions(nn.Module):
    """(identity, prior parameters) -> (B, 3, S, S) soft masks in [0, 1]: eyes, mouth and the
    background (outside the head ellipse of both the source and the driving frame)."""

    def __init__(self, face_model: object, image_size: int) -> None:
        super().__init__()
        groups = (RIGHT_EYE, LEFT_EYE, tuple(MOUTH_LANDMARKS), FACE_OVAL)
        self.sizes = [len(g) for g in groups]
        rows = np.concatenate([np.asarray(g) for g in groups])
        self.vertices = SemanticKeypoints(
            face_model.mean[rows],
            face_model.identity_basis[:, rows],
            face_model.expression_basis[:, rows],
        )
        self.image_size = image_size
        pixels = (torch.arange(image_size, dtype=torch.float32) + 0.5) / image_size * 2 - 1
        self.register_buffer("grid_x", pixels.view(1, 1, image_size))
        self.register_buffer("grid_y", pixels.view(1, image_size, 1))

    def points(self, identity: torch.Tensor, params: PoseBatch) -> list[torch.Tensor]:
        """Per group (right eye, left eye, mouth, face oval): (B, n, 2) x, y in crop
        coordinates (-1..1 over the image)."""
        posed, _ = self.vertices(
            identity, params.expression, params.rotation, params.translation, params.scale
        )
        return list(posed[..., :2].split(self.sizes, dim=1))

    def ellipse(self, points: torch.Tensor, margin: tuple[float, float]) -> torch.Tensor:
        """(B, n, 2) -> (B, S, S) soft ellipse around the points' bounding box."""
        low, high = points.amin(1), points.amax(1)
        centre = (low + high) / 2
        radius = ((high - low) / 2).clamp_min(2.0 / self.image_size)
        rx = radius[:, 0, None, None] * margin[0]
        ry = radius[:, 1, None, None] * margin[1]
        dx = (self.grid_x - centre[:, 0, None, None]) / rx
        dy = (self.grid_y - centre[:, 1, None, None]) / ry
        return torch.sigmoid((1 - dx.square() - dy.square()) * EDGE)

    def forward(
        self,
        identity: torch.Tensor,
        source: PoseBatch,
        driving: PoseBatch,
        flipped: torch.Tensor,
    ) -> torch.Tensor:
        """identity (B, I); flipped (B,) bool: the images were mirrored after the parameters
        were fitted -> (B, 3, S, S) masks of the driving frame in REGION_NAMES order."""
        right, left, mouth, oval = self.points(identity, driving)
        eyes = torch.maximum(
            self.ellipse(right, (EYE_MARGIN,) * 2), self.ellipse(left, (EYE_MARGIN,) * 2)
        )
        mouth_mask = self.ellipse(mouth, (MOUTH_MARGIN,) * 2)
        source_oval = self.points(identity, source)[-1]
        background = (1 - self.ellipse(oval, HEAD_MARGIN)) * (
            1 - self.ellipse(source_oval, HEAD_MARGIN)
        )
        masks = torch.stack([eyes, mouth_mask, background], 1)
        return torch.where(flipped[:, None, None, None], masks.flip(-1), masks)
