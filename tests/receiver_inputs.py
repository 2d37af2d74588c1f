"""Inputs for the receiver tests: frames of the bundled demo clip with their prior parameters,
fitted at test time."""

from __future__ import annotations

import numpy as np

from facecodec import demo_clip
from facecodec.sender.face_model import FaceModel
from facecodec.sender.fit import FaceFitter, crop_landmarks
from facecodec.sender.landmarks import FaceLandmarker
from facecodec.training.data import decode_clip
from facecodec.types import FrameParams


def demo_frames(
    indices: tuple[int, ...],
) -> tuple[list[np.ndarray], list[FrameParams], np.ndarray]:
    """(256, 256, 3) frames of the demo clip at ``indices``, their parameters and the speaker's
    identity fitted over them."""
    video = decode_clip(demo_clip())
    frames = [video[i] for i in indices]
    with FaceLandmarker(video=False) as landmarker:
        points = [crop_landmarks(landmarker(f), f.shape[0]) for f in frames]
    fit = FaceFitter(FaceModel.load()).fit_identity(points)
    return frames, [f.params for f in fit.frames], fit.identity
