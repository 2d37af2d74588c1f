"""The sender's face crop: a square region of the input frame framed like the training clips,
held still while the face stays within the range those clips cover (docs/sender.md, "Crop").

Framing is measured as the face model's ``crop_stats`` were (training/learn_face_model.py): a
similarity fit of the model's mean shape (its stable vertices) onto the MediaPipe landmarks
gives the face's scale and where its canonical origin sits. In the training crops the median
scale is ``scale_median`` (about 1 crop unit per canonical unit) with the origin at
``translation_median``. A 3D fit, unlike a 2D landmark box, does not shrink when the head turns,
so turning the head never moves the crop: the pose carries it.

The receiver's keyframe is tied to one crop, so the crop moves only when the smoothed framing
leaves the range of the training framing (about its 1st-99th percentiles), and then jumps to the
median framing; the caller sends a new keyframe for it. Pixels outside the frame are
edge-replicated, as in the training data.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from facecodec.sender.face_model import FaceModel
from facecodec.sender.fit import similarity_fit

CROP_SIZE_PX = 256
"""Side of the crops the receiver was trained on."""
SMOOTHING_FRAMES = 4.0
"""Time constant of the exponential smoothing of the measured framing, in frames."""
HOLD_PERCENTILES = (5.0, 95.0)
"""Percentiles of the training framing (as stored in ``crop_stats``) that bound the hold range."""
HOLD_WIDENING = 0.5
"""The hold range reaches this much further from the median than the percentiles do: with 0.5
it is about the 1st-99th percentiles of the training frames (measured: x -0.61..0.38,
y -0.25..0.44, scale 0.65..1.64 crop units; the widened range is x -0.49..0.33, y -0.34..0.53,
scale 0.60..1.44). Replaying the training clips (``python -m facecodec.benchmark.crop_moves``),
the crop then moves 1.5 times a minute, in 8% of the clips (mostly wild head swings); without
widening 4.5 times a minute, in 27% of the clips."""
MIN_SIDE_PX = 16


@dataclass(frozen=True)
class CropConfig:
    size: int = CROP_SIZE_PX
    """Side of the crop image in pixels."""
    smoothing_frames: float = SMOOTHING_FRAMES
    """Time constant of the framing's smoothing (1: no smoothing)."""
    hold_percentiles: tuple[float, float] = HOLD_PERCENTILES
    """Percentiles of the training framing that bound the range the crop holds in."""
    hold_widening: float = HOLD_WIDENING
    """How much further from the median than those percentiles the range reaches."""


@dataclass(frozen=True)
class CropBox:
    """A square region of the frame in whole pixels: top-left corner (x, y) and side.

    Positions are continuous pixel coordinates (pixel i spans [i, i + 1]), as MediaPipe's
    landmarks scaled by the frame size are.
    """

    x: int
    y: int
    side: int

    def to_crop(self, points_px: np.ndarray) -> np.ndarray:
        """(n, 3) frame pixels (z scaled like x) -> (n, 3) float32 crop coordinates of
        facecodec/types.py: x, y in [-1, 1] across the crop, z in half crop widths."""
        half = self.side / 2.0
        out = np.asarray(points_px, np.float32) - np.array([self.x, self.y, 0.0], np.float32)
        out /= half
        out[:, :2] -= 1.0
        return out

    def to_crop_pixels(self, points_px: np.ndarray, size: int) -> np.ndarray:
        """(n, 3) frame pixels -> (n, 3) float32 pixels of the ``size`` x ``size`` crop image."""
        out = np.asarray(points_px, np.float32) - np.array([self.x, self.y, 0.0], np.float32)
        return out * np.float32(size / self.side)

    def inside(self, frame_shape: tuple[int, ...]) -> bool:
        height, width = frame_shape[:2]
        return (
            self.x >= 0
            and self.y >= 0
            and self.x + self.side <= width
            and (self.y + self.side <= height)
        )

    def cut(self, frame: np.ndarray, size: int = CROP_SIZE_PX) -> np.ndarray:
        """(H, W, 3) frame -> (size, size, 3) crop, edge-replicated beyond the frame."""
        if self.inside(frame.shape):
            patch = frame[self.y : self.y + self.side, self.x : self.x + self.side]
        else:
            height, width = frame.shape[:2]
            rows = np.clip(np.arange(self.y, self.y + self.side), 0, height - 1)
            cols = np.clip(np.arange(self.x, self.x + self.side), 0, width - 1)
            patch = frame[rows[:, None], cols[None, :]]
        if self.side < size:
            return cv2.resize(patch, (size, size), interpolation=cv2.INTER_CUBIC)
        # Shrinking: halve by 2x2 averaging (bilinear at exactly half size) while twice too
        # large, then bilinear, which skips no pixel below 2x. OpenCV's INTER_AREA does the
        # same job 10-30 times slower at non-integer factors (3-9 ms for a 720p face).
        while patch.shape[0] >= 2 * size:
            half = (patch.shape[1] // 2, patch.shape[0] // 2)
            patch = cv2.resize(patch, half, interpolation=cv2.INTER_LINEAR)
        if patch.shape[0] != size:
            patch = cv2.resize(patch, (size, size), interpolation=cv2.INTER_LINEAR)
        return np.ascontiguousarray(patch)


@dataclass(frozen=True)
class Placement:
    """Where a face sits in the frame: the similarity fit of the model's mean shape."""

    center: np.ndarray
    """(2,) pixels: x, y of the canonical origin."""
    scale: float
    """Pixels per canonical unit."""

    def in_box(self, box: CropBox) -> tuple[float, np.ndarray]:
        """(scale, (2,) translation x, y) in the crop coordinates of ``box``."""
        half = box.side / 2.0
        corner = np.array([box.x + half, box.y + half])
        return self.scale / half, (self.center - corner) / half


@dataclass(frozen=True)
class TrainingFraming:
    """The framing of the training crops and the range the crop holds in."""

    scale: float
    translation: np.ndarray
    """(2,) x, y of the canonical origin, crop units."""
    scale_range: tuple[float, float]
    translation_low: np.ndarray
    translation_high: np.ndarray

    @classmethod
    def from_model(
        cls,
        model: FaceModel,
        hold_percentiles: tuple[float, float] = HOLD_PERCENTILES,
        hold_widening: float = HOLD_WIDENING,
    ) -> TrainingFraming:
        stats = model.crop_stats
        levels = stats["percentiles"]
        scale = float(stats["scale_median"])
        translation = stats["translation_median"][:2].astype(np.float64)

        def bound(name: str, median: np.ndarray | float, percentile: float) -> np.ndarray:
            table = stats[name].reshape(len(levels), -1)
            at = np.array([np.interp(percentile, levels, column) for column in table.T])
            return median + (1.0 + hold_widening) * (at[: np.size(median)] - median)

        low, high = hold_percentiles
        return cls(
            scale=scale,
            translation=translation,
            scale_range=(
                float(bound("scale_percentiles", scale, low)[0]),
                float(bound("scale_percentiles", scale, high)[0]),
            ),
            translation_low=bound("translation_percentiles", translation, low),
            translation_high=bound("translation_percentiles", translation, high),
        )

    def holds(self, placement: Placement, box: CropBox) -> bool:
        """Whether a face at ``placement`` is framed within the training range by ``box``."""
        scale, translation = placement.in_box(box)
        return bool(
            self.scale_range[0] <= scale <= self.scale_range[1]
            and np.all(translation >= self.translation_low)
            and np.all(translation <= self.translation_high)
        )

    def box_for(self, placement: Placement) -> CropBox:
        """The box that frames ``placement`` at the training median."""
        side = max(MIN_SIDE_PX, round(2.0 * placement.scale / self.scale))
        center = placement.center - self.translation * (side / 2.0)
        x, y = np.rint(center - side / 2.0).astype(int)
        return CropBox(int(x), int(y), side)


class FaceCropper:
    """Landmarks per frame -> the crop box, held still while the face stays framed.

    ``update`` returns the box and whether it moved (the first box counts as a move). A square
    frame that already frames the face within the training range is taken whole, so 256x256
    face crops pass unchanged. ``lost`` (after frames without the face) forgets the smoothing;
    ``reset`` forgets the box too.
    """

    def __init__(self, model: FaceModel, config: CropConfig | None = None) -> None:
        self.config = config or CropConfig()
        self.framing = TrainingFraming.from_model(
            model, self.config.hold_percentiles, self.config.hold_widening
        )
        self._mean_stable = model.mean[model.stable_indices].astype(np.float64)
        self._stable = model.stable_indices
        self.box: CropBox | None = None
        self._smooth: Placement | None = None

    def reset(self) -> None:
        self.box = None
        self._smooth = None

    def lost(self) -> None:
        self._smooth = None

    def placement(self, landmarks_px: np.ndarray) -> Placement:
        """Framing of one frame's (478, 3) landmarks in pixels."""
        points = np.asarray(landmarks_px, np.float64)[self._stable]
        scale, _, translation = similarity_fit(self._mean_stable, points)
        return Placement(center=translation[:2], scale=float(scale))

    def update(
        self, landmarks_px: np.ndarray, frame_shape: tuple[int, ...]
    ) -> tuple[CropBox, bool]:
        """The crop box for this frame's (478, 3) landmarks in pixels, and whether it moved."""
        current = self.placement(landmarks_px)
        self._smooth = self._smoothed(current)
        if self.box is None:
            self.box = self._first_box(self._smooth, frame_shape)
            return self.box, True
        if self.framing.holds(self._smooth, self.box):
            return self.box, False
        # The smoothed framing decides when to move; where to is where the face is now (the
        # smoothing lags behind a moving face), and the smoothing restarts there.
        self.box = self.framing.box_for(current)
        self._smooth = current
        return self.box, True

    def _smoothed(self, current: Placement) -> Placement:
        if self._smooth is None:
            return current
        a = 1.0 / max(self.config.smoothing_frames, 1.0)
        center = (1.0 - a) * self._smooth.center + a * current.center
        scale = np.exp((1.0 - a) * np.log(self._smooth.scale) + a * np.log(current.scale))
        return Placement(center=center, scale=float(scale))

    def _first_box(self, placement: Placement, frame_shape: tuple[int, ...]) -> CropBox:
        height, width = frame_shape[:2]
        whole = CropBox(0, 0, width)
        if height == width and self.framing.holds(placement, whole):
            return whole
        return self.framing.box_for(placement)
