"""Face model parameters of face-crop clips (the training clips and the demo clip already are
256x256 face crops): MediaPipe landmarks per frame, one identity code per person, one fit per
frame. The learning script, the figure script and the tests fit real frames with it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facecodec.sender.face_model import FaceModel
from facecodec.sender.fit import FaceFitter, crop_landmarks
from facecodec.sender.landmarks import FaceLandmarker
from facecodec.training.data import decode_clip
from facecodec.types import FrameParams


@dataclass
class FittedPerson:
    """One person's clips fitted with one identity."""

    identity: np.ndarray
    """(n_id,) identity code estimated from all the clips' face frames."""
    clips: list[list[FrameParams]]
    """Per clip, the face frames' parameters; ``seq`` is the frame's index in its clip."""


def clip_landmarks(
    path: Path, max_frames: int | None = None, step: int = 1
) -> dict[int, np.ndarray]:
    """Frame index -> (478, 3) landmarks in crop coordinates, for every ``step``-th of the first
    ``max_frames`` frames that has a face (MediaPipe in video mode, as the sender runs it)."""
    frames = decode_clip(path)[:max_frames]
    out = {}
    with FaceLandmarker(video=True) as landmarker:
        for i in range(0, len(frames), step):
            frame = frames[i]
            points = landmarker(frame)
            if points is not None:
                out[i] = crop_landmarks(points, frame.shape[1])
    return out


def fit_person(
    model: FaceModel, paths: Sequence[Path], max_frames: int | None = None, step: int = 1
) -> FittedPerson:
    """Fit clips of one person (``clip_landmarks`` picks the frames): identity from all their
    face frames, then every frame."""
    landmarks = [clip_landmarks(p, max_frames, step) for p in paths]
    fitter = FaceFitter(model)
    identity = fitter.fit_identity([x for clip in landmarks for x in clip.values()]).identity
    clips = [
        [fitter.fit_frame(x, identity, seq=i).params for i, x in clip.items()] for clip in landmarks
    ]
    return FittedPerson(identity, clips)
