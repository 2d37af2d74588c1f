"""Real inputs for the codec tests, made at test time from a real clip (never committed).

The clip is the first validation-identity clip of ../shared/data (FACECODEC_DATA overrides the
folder), or the bundled demo clip where the data folder is absent. Its frames go through the
real sender path (``MediaPipePrior``: landmarks, crop, face-model fit, semantic keypoints).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
from shared_data import DATA_DIR

from facecodec import demo_clip
from facecodec.types import FrameParams

MAX_FRAMES = 250


@lru_cache(maxsize=1)
def input_clip() -> Path:
    """A real 256x256 talking-head clip."""
    if (DATA_DIR / "train.tsv").exists():
        from facecodec.training.splits import split_clips

        _, validation = split_clips(DATA_DIR)
        return validation[0].path
    return demo_clip()


@lru_cache(maxsize=1)
def _clip_frames() -> tuple[np.ndarray, ...]:
    cap = cv2.VideoCapture(str(input_clip()))
    frames = []
    while len(frames) < MAX_FRAMES:
        ok, bgr = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    cap.release()
    return tuple(frames)


def demo_keyframe_image() -> np.ndarray:
    """(256, 256, 3) RGB crop of the test clip's first face frame, as the sender makes it."""
    return next(f.crop for f in _prior_frames() if f.crop is not None)


@lru_cache(maxsize=1)
def _prior_frames() -> tuple:
    """The sender's prior over the clip: PriorFrames with all 32 keypoints."""
    from facecodec.sender.prior import MediaPipePrior

    prior = MediaPipePrior()
    out = []
    for seq, frame in enumerate(_clip_frames()):
        out += prior.process(frame, seq)
    out += prior.flush()
    prior.close()
    return tuple(out)


def real_clip_params(frames: int = MAX_FRAMES) -> tuple[list[FrameParams], np.ndarray]:
    """(the first ``frames`` FrameParams of the test clip with all 32 keypoints, identity)."""
    prior_frames = _prior_frames()
    identity = next(f.identity for f in prior_frames if f.identity is not None)
    return [f.params for f in prior_frames[:frames]], identity


def face_model_predictor(identity: np.ndarray):
    """KeypointPredictor of the shipped face model for ``identity``."""
    model = _model()
    return lambda params, count: model.keypoints(identity, params, count)


@lru_cache(maxsize=1)
def _model():
    from facecodec.sender.face_model import FaceModel

    return FaceModel.load()
