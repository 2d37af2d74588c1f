"""The sender's face prior per frame: landmarks, crop, identity, pose and expression, keypoints
(docs/sender.md).

``FacePrior`` runs the stages every backend shares: ``FaceTracker`` finds the face on the full
frame, ``FaceCropper`` places the analysis crop and the view (the keyframe's crop), the backend
measures the face in the analysis crop, its parameters are expressed in the view's coordinates
(``CropMapping``), and the identity is estimated over the first ``identity_frames`` face frames
of the stream, then frozen until ``reset``. Those first frames are held back until the identity
is known, so that every frame's expression is measured against the identity its keyframe
carries; after that each frame comes out as it goes in.

Backends: ``MediaPipePrior`` (the default: the linear face model fitted to the landmarks) and
``DecaFacePrior`` (DECA's encoder and FLAME, ``facecodec encode --prior deca``).
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Generic, TypeVar

import numpy as np

from facecodec.sender.crop import CropBox, CropConfig, CropMapping, FaceCropper
from facecodec.sender.face_model import K_MAX, FaceModel
from facecodec.sender.face_tracker import FaceTracker
from facecodec.sender.fit import FaceFitter, crop_landmarks
from facecodec.types import FrameParams, Keyframe

if TYPE_CHECKING:
    from facecodec.sender.deca import DecaEstimate

IDENTITY_FRAMES = 25
"""Face frames the identity is estimated from (1 s at 25 fps)."""
MAX_HELD_FRAMES = 75
"""Frames held back at most while waiting for the identity frames (3 s at 25 fps)."""

Measurement = TypeVar("Measurement")


@dataclass(frozen=True)
class PriorConfig:
    identity_frames: int = IDENTITY_FRAMES
    """Face frames the identity is estimated from before it is frozen (1: the first alone)."""
    max_held_frames: int = MAX_HELD_FRAMES
    """Frames held back at most while collecting them; then the identity is estimated from the
    face frames seen so far."""
    keypoints: int = K_MAX
    """Explicit semantic keypoints computed per frame (the encoder sends a prefix; 0: none, for
    operating points that send none)."""
    crop: CropConfig = field(default_factory=CropConfig)


@dataclass
class PriorFrame:
    """One frame's output of the prior."""

    params: FrameParams
    """Pose, full expression code and ``PriorConfig.keypoints`` explicit keypoints, in the
    view's crop coordinates; or ``FrameParams.no_face``."""
    crop: np.ndarray | None
    """(size, size, 3) RGB uint8 view of a face frame (the input cut with ``box``); None
    without a face."""
    identity: np.ndarray | None
    """Frozen identity code of the stream; None until a face was seen."""
    new_crop: bool
    """The view moved on this frame (or is the first): the receiver needs a new keyframe."""
    box: CropBox | None
    """Where the view sits in the input frame: the picture the receiver draws."""
    analysed: bool = True
    """False: the frame was skipped (it will not be sent) and carries no face."""


@dataclass
class _Held(Generic[Measurement]):
    seq: int
    measurement: Measurement | None
    crop: np.ndarray | None
    new_crop: bool
    box: CropBox | None
    analysed: bool = True
    to_view: CropMapping | None = None
    """From the analysis crop's coordinates, where the measurement was made, to the view's."""


class FacePrior(ABC, Generic[Measurement]):
    """Frames of one stream, in order -> PriorFrames (see the module docstring).

    ``process`` returns the frames that became ready (none while the first are held back),
    ``flush`` the held ones at the end of a stream. ``keyframe`` makes the receiver's source from
    a face frame. ``version`` names the face model; ``model_shipped`` says whether a receiver of
    this package has it (and can predict keypoints from it).
    """

    version: str
    model_shipped: bool

    def __init__(self, config: PriorConfig, crop_model: FaceModel) -> None:
        self.config = config
        self.tracker = FaceTracker()
        self.cropper = FaceCropper(crop_model, config.crop)
        self.identity: np.ndarray | None = None
        self._held: list[_Held[Measurement]] = []

    @abstractmethod
    def keypoints(self, identity: np.ndarray, params: FrameParams, count: int) -> np.ndarray:
        """(count, 3) semantic keypoints in crop coordinates for this identity and frame."""

    @abstractmethod
    def _measure(self, crop: np.ndarray, landmarks: np.ndarray) -> Measurement | None:
        """What the backend measures in a crop (H, W, 3) with landmarks (478, 3) in its pixels;
        None if it finds no face there after all."""

    @abstractmethod
    def _estimate_identity(self, measurements: list[Measurement]) -> np.ndarray:
        """(n,) identity code from the first face frames."""

    @abstractmethod
    def _params(self, measurement: Measurement, identity: np.ndarray, seq: int) -> FrameParams:
        """Pose and full expression code given the frozen identity."""

    def reset(self) -> None:
        """Start a new stream: forget the face, the crop and the identity."""
        self.tracker.reset()
        self.cropper.reset()
        self.identity = None
        self._held = []

    def close(self) -> None:
        self.tracker.close()

    def process(self, frame: np.ndarray, seq: int, analyse: bool = True) -> list[PriorFrame]:
        """One (H, W, 3) RGB uint8 frame in; the frames that became ready out, in order.

        ``analyse=False`` (the frame will not be sent: ``SendSchedule.wanted``) skips landmarks,
        crop and fit; the frame comes out in order with ``analysed`` False and no face. Until
        the identity is known every frame is analysed, so the call starts as soon as it can.
        """
        if analyse or self.identity is None:
            held = self._look(frame, seq)
        else:
            held = _Held(seq, None, None, False, self.cropper.view, analysed=False)
        if self.identity is None:
            self._held.append(held)
            faces = [h.measurement for h in self._held if h.measurement is not None]
            if faces and (
                len(faces) < self.config.identity_frames
                and len(self._held) < self.config.max_held_frames
            ):
                return []
            return self.flush()
        return [self._finish(held)]

    def flush(self) -> list[PriorFrame]:
        """The held frames (end of a stream, or enough face frames seen)."""
        faces = [h.measurement for h in self._held if h.measurement is not None]
        if faces and self.identity is None:
            self.identity = self._estimate_identity(faces)
        out = [self._finish(h) for h in self._held]
        self._held = []
        return out

    def keyframe(self, frame: PriorFrame, network: str = "") -> Keyframe:
        """The receiver's source from a face frame: its crop, the identity and its own params."""
        if frame.crop is None or frame.identity is None or not frame.params.face:
            raise ValueError(f"frame {frame.params.seq} has no face to make a keyframe from")
        params = dataclasses.replace(frame.params, keypoints=None)
        return Keyframe(frame.crop, frame.identity, params, self.version, network)

    def _look(self, frame: np.ndarray, seq: int) -> _Held[Measurement]:
        landmarks = self._landmarks(frame)
        if landmarks is None:
            self.cropper.lost()
            return _Held(seq, None, None, False, self.cropper.view)
        update = self.cropper.update(landmarks, frame.shape)
        size = self.config.crop.size
        crop = update.box.cut(frame, size)
        measurement = self._measure(crop, update.box.to_crop_pixels(landmarks, size))
        if measurement is None:
            return _Held(seq, None, None, update.new_view, update.view)
        view = crop if update.view == update.box else update.view.cut(frame, size)
        to_view = CropMapping.between(update.box, update.view)
        return _Held(seq, measurement, view, update.new_view, update.view, to_view=to_view)

    def _landmarks(self, frame: np.ndarray) -> np.ndarray | None:
        """(478, 3) landmarks of the followed face in frame pixels, or None."""
        return self.tracker(frame, self.cropper.box)

    def _finish(self, held: _Held[Measurement]) -> PriorFrame:
        if held.measurement is None or self.identity is None:
            params = FrameParams.no_face(held.seq)
        else:
            params = self._params(held.measurement, self.identity, held.seq)
            if held.to_view is not None:
                params = held.to_view.params(params)
            if self.config.keypoints:
                params.keypoints = self.keypoints(self.identity, params, self.config.keypoints)
        return PriorFrame(params, held.crop, self.identity, held.new_crop, held.box, held.analysed)


class MediaPipePrior(FacePrior[np.ndarray]):
    """The default prior: facecodec's linear face model fitted to the MediaPipe landmarks."""

    model_shipped = True

    def __init__(self, config: PriorConfig | None = None, model: FaceModel | None = None) -> None:
        self.model = model or FaceModel.load()
        self.version = self.model.version
        self.fitter = FaceFitter(self.model)
        super().__init__(config or PriorConfig(), self.model)

    def keypoints(self, identity: np.ndarray, params: FrameParams, count: int) -> np.ndarray:
        return self.model.keypoints(identity, params, count)

    def _measure(self, crop: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        return crop_landmarks(landmarks, crop.shape[1])

    def _estimate_identity(self, measurements: list[np.ndarray]) -> np.ndarray:
        return self.fitter.fit_identity(measurements).identity

    def _params(self, measurement: np.ndarray, identity: np.ndarray, seq: int) -> FrameParams:
        return self.fitter.fit_frame(measurement, identity, seq).params


@dataclass(frozen=True)
class DecaFiles:
    """The DECA backend's files (``--deca-weights``, ``--flame-model``)."""

    deca_weights: Path
    flame_model: Path
    landmark_embedding: Path | None = None
    """DECA's ``landmark_embedding.npy``; None looks beside ``flame_model``."""


class DecaFacePrior(FacePrior["DecaEstimate"]):
    """DECA's encoder and FLAME (sender/deca/) on the crop: FLAME expression, jaw and pose.

    The backend's ``DecaPrior.estimate`` runs on the square crop image, so its parameters come
    out in crop coordinates. The identity is the median of its per-frame FLAME shapes.
    FileNotFoundError or ValueError name a missing or foreign file.
    """

    model_shipped = False

    def __init__(self, files: DecaFiles, config: PriorConfig | None = None) -> None:
        from facecodec.sender.deca import DecaPriorConfig  # torch, only for this backend

        self.backend = DecaPriorConfig(
            files.deca_weights, files.flame_model, files.landmark_embedding
        ).build()
        self.version = self.backend.version
        super().__init__(config or PriorConfig(), FaceModel.load())

    def reset(self) -> None:
        super().reset()
        self.backend.reset()

    def close(self) -> None:
        super().close()
        self.backend.close()

    def keypoints(self, identity: np.ndarray, params: FrameParams, count: int) -> np.ndarray:
        from facecodec.sender.deca.flame_face_model import K_MAX as FLAME_K_MAX

        return self.backend.keypoints(identity, params, min(count, FLAME_K_MAX))

    def _measure(self, crop: np.ndarray, landmarks: np.ndarray) -> DecaEstimate | None:
        estimate = self.backend.estimate(crop, 0)
        return estimate if estimate.identity is not None else None

    def _estimate_identity(self, measurements: list[DecaEstimate]) -> np.ndarray:
        shapes = np.stack([m.identity for m in measurements])
        return np.median(shapes, axis=0).astype(np.float32)

    def _params(self, measurement: DecaEstimate, identity: np.ndarray, seq: int) -> FrameParams:
        return dataclasses.replace(measurement.params, seq=seq)
