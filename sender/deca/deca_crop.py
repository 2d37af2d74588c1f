"""The square face crop DECA's encoder expects, and its place in the frame.

DECA crops around the bounding box of 68 detected landmarks: side = 1.1 * mean box side *
1.25, centred on the box (decalib/datasets/datasets.py, ``bbox2point`` type 'kpt68'), resized
to 224x224. facecodec has MediaPipe's face mesh instead of a 68-point detector; the mesh
vertices below trace the same outline (jaw line from ear to ear, and the brows), so their box
matches the 68-point box.

Positions are continuous pixel coordinates (pixel i spans [i, i+1]); normalised frame
coordinates are those of facecodec/types.py: (x - W/2) / (W/2), (y - H/2) / (W/2).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from facecodec.sender.deca.deca_encoder import IMAGE_SIZE

JAW_LINE = [234, 93, 132, 58, 172, 136, 150, 149, 176, 148, 152, 377, 400, 378, 379, 365, 397]
BROWS = [70, 63, 105, 66, 107, 336, 296, 334, 293, 300]
OUTLINE_VERTICES = np.array([*JAW_LINE, 288, 361, 323, 454, *BROWS])
"""MediaPipe face-mesh vertices along the 68-point outline: jaw (234 ... 152 chin ... 454),
then both brows."""
BOX_TO_FACE = 1.1
"""DECA's enlargement of a landmark box to a face box."""
FACE_TO_CROP = 1.25
"""DECA's crop side relative to the face box (its ``scale`` at test time)."""


@dataclass(frozen=True)
class DecaCrop:
    """A square region of the frame: centre (x, y) and side, in pixels."""

    center: tuple[float, float]
    size: float

    @classmethod
    def from_landmarks(cls, landmarks: np.ndarray) -> DecaCrop:
        """DECA's crop around MediaPipe face-mesh landmarks (478, 3) in pixels."""
        outline = np.asarray(landmarks, np.float64)[OUTLINE_VERTICES, :2]
        low, high = outline.min(axis=0), outline.max(axis=0)
        side = float((high - low).mean()) * BOX_TO_FACE * FACE_TO_CROP
        center = (low + high) / 2
        return cls(center=(float(center[0]), float(center[1])), size=max(side, 1.0))

    def image(self, frame: np.ndarray) -> np.ndarray:
        """(H, W, 3) RGB uint8 frame -> (224, 224, 3) float32 crop in [0, 1] (black outside)."""
        step = self.size / IMAGE_SIZE
        # Output pixel j samples source position left + (j + 0.5) * step, whose index is -0.5.
        left = self.center[0] - self.size / 2 + 0.5 * step - 0.5
        top = self.center[1] - self.size / 2 + 0.5 * step - 0.5
        matrix = np.array([[step, 0.0, left], [0.0, step, top]])
        crop = cv2.warpAffine(
            frame,
            matrix,
            (IMAGE_SIZE, IMAGE_SIZE),
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_CONSTANT,
        )
        return crop.astype(np.float32) / 255.0

    def to_frame(self, frame_shape: tuple[int, ...]) -> tuple[float, np.ndarray]:
        """The similarity from the crop's normalised coordinates ([-1, 1] across the crop, z in
        half crop widths) to the frame's: ``frame = gain * crop + offset``.

        Returns ``gain`` and the (3,) ``offset`` (zero depth offset).
        """
        height, width = frame_shape[:2]
        half = width / 2
        offset = np.array(
            [(self.center[0] - half) / half, (self.center[1] - height / 2) / half, 0.0]
        )
        return self.size / width, offset
