"""The sender's face crop: a square region of the input frame framed like the training clips,
held still while the face stays within the range those clips cover (docs/sender.md, "Crop").

Framing is measured as the face model's ``crop_stats`` were (training/learn_face_model.py): a
similarity fit of the model's mean shape (its stable vertices) onto the MediaPipe landmarks
gives the face's scale and where its canonical origin sits. In the training crops the median
scale is ``scale_median`` (about 1 crop unit per canonical unit) with the origin at
``translation_median``. A 3D fit, unlike a 2D landmark box, does not shrink when the head turns,
so turning the head never moves the crop: the pose carries it.

Two crops follow the face. The analysis crop, where the face is measured, moves when the
smoothed framing leaves the range of the training framing (about its 1st-99th percentiles), and
then jumps to the median framing. The view, the crop the receiver's picture shows (the current
keyframe's crop), holds while the face can still be redrawn in it: while its framing there stays
within a wider range (``REDRAW_WIDENING``). The parameters are sent in the view's coordinates
(``CropMapping``), so the receiver draws the face where it moved; only when the view moves does
the caller send a new keyframe, and the view then becomes the analysis crop. Pixels outside the
frame are edge-replicated, as in the training data.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import cv2
import numpy as np

from facecodec.sender.face_model import FaceModel
from facecodec.sender.fit import similarity_fit
from facecodec.types import FrameParams

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
REDRAW_WIDENING = 1.0
"""The view holds (no new keyframe) while the face's smoothed framing in it stays within the
training percentiles widened this much: x -0.66..0.44, y -0.49..0.67, scale 0.46..1.59 crop
units. The generator learned to redraw a clip's frames from another frame of the same clip, so
a face moving within the framing the training clips span is one it can draw. Measured with
``python -m facecodec.benchmark.view_range`` on four moving training clips (docs/sender.md,
"Crop"): 1.0 sends 41% fewer keyframe bytes than 0.5 (a keyframe at every move of the analysis
crop) at the same AKD; at 1.5 a face that swings towards the edge is drawn 2-5 px worse."""
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
    redraw_widening: float = REDRAW_WIDENING
    """The same for the range the view holds in (at least ``hold_widening``)."""

    def __post_init__(self) -> None:
        # A view tighter than the analysis crop's range would move on every frame.
        if self.redraw_widening < self.hold_widening:
            raise ValueError("redraw_widening must be at least hold_widening")


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
class CropMapping:
    """A similarity from the crop coordinates of one box to those of another (types.py):
    ``x, y -> ratio * (x, y) + offset``, ``z -> ratio * z`` (z has no origin)."""

    ratio: float
    """Side of the source box over side of the target box."""
    offset: np.ndarray
    """(2,) where the source box's centre lies in the target's coordinates."""

    @classmethod
    def between(cls, source: CropBox, target: CropBox) -> CropMapping:
        half = target.side / 2.0
        shift = np.array([source.x - target.x, source.y - target.y], np.float64)
        return cls(source.side / target.side, (shift + (source.side - target.side) / 2) / half)

    @property
    def identity(self) -> bool:
        return self.ratio == 1.0 and not self.offset.any()

    def points(self, points: np.ndarray) -> np.ndarray:
        """(n, 3) source crop coordinates -> (n, 3) float32 target crop coordinates."""
        out = np.asarray(points, np.float64) * self.ratio
        out[:, :2] += self.offset
        return out.astype(np.float32)

    def params(self, params: FrameParams) -> FrameParams:
        """The pose (and explicit keypoints) of ``params`` in the target's coordinates; the
        face model's keypoints follow, as they are ``scale * shape @ R.T + translation``."""
        if self.identity or not params.face:
            return params
        return dataclasses.replace(
            params,
            translation=self.points(params.translation[None])[0],
            scale=params.scale * self.ratio,
            keypoints=None if params.keypoints is None else self.points(params.keypoints),
        )


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


@dataclass(frozen=True)
class CropUpdate:
    """The crops of one frame (see the module docstring)."""

    box: CropBox
    """The analysis crop: where the face is measured."""
    view: CropBox
    """The crop the receiver's picture shows: the keyframe's."""
    new_view: bool
    """The view moved on this frame (or is the first): a new keyframe is due."""


class FaceCropper:
    """Landmarks per frame -> the analysis crop and the view (see the module docstring).

    ``update`` gives both for a frame. A square frame that already frames the face within the
    training range is taken whole, so 256x256 face crops pass unchanged. ``lost`` (after frames
    without the face) forgets the smoothing; ``reset`` forgets the boxes too.
    """

    def __init__(self, model: FaceModel, config: CropConfig | None = None) -> None:
        self.config = config or CropConfig()
        percentiles = self.config.hold_percentiles
        self.framing = TrainingFraming.from_model(model, percentiles, self.config.hold_widening)
        self.redraw = TrainingFraming.from_model(model, percentiles, self.config.redraw_widening)
        self._mean_stable = model.mean[model.stable_indices].astype(np.float64)
        self._stable = model.stable_indices
        self.box: CropBox | None = None
        self.view: CropBox | None = None
        self._smooth: Placement | None = None

    def reset(self) -> None:
        self.box = self.view = None
        self._smooth = None

    def lost(self) -> None:
        self._smooth = None

    def placement(self, landmarks_px: np.ndarray) -> Placement:
        """Framing of one frame's (478, 3) landmarks in pixels."""
        points = np.asarray(landmarks_px, np.float64)[self._stable]
        scale, _, translation = similarity_fit(self._mean_stable, points)
        return Placement(center=translation[:2], scale=float(scale))

    def update(self, landmarks_px: np.ndarray, frame_shape: tuple[int, ...]) -> CropUpdate:
        """The crops for this frame's (478, 3) landmarks in pixels."""
        current = self.placement(landmarks_px)
        self._smooth = self._smoothed(current)
        if self.box is None or self.view is None:
            self.box = self.view = self._first_box(self._smooth, frame_shape)
            return CropUpdate(self.box, self.view, True)
        if not self.framing.holds(self._smooth, self.box):
            # The smoothed framing decides when to move; where to is where the face is now
            # (the smoothing lags behind a moving face), and the smoothing restarts there.
            self.box = self.framing.box_for(current)
            self._smooth = current
        if self.redraw.holds(self._smooth, self.view):
            return CropUpdate(self.box, self.view, False)
        self.view = self.box
        return CropUpdate(self.box, self.view, True)

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
