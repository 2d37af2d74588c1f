"""Pose edits of a stream of FrameParams: lock the head, frontalize it, damp its motion, turn it
by a fixed offset (docs/editing.md). They change the head pose before keypoints are computed, on
the sender or on the receiver; the expression code passes through, except for the part of it
that is pose (``correctives.PoseCorrectives``), which follows the new pose, lip gaps and jaw
excepted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

import numpy as np

from facecodec.editing.correctives import PoseCorrectives
from facecodec.editing.motion import HeadPose, replace_motion
from facecodec.sender.face_model import FaceModel
from facecodec.types import FrameParams


class PoseMode(Enum):
    FOLLOW = "follow"
    """The driver's pose (damping and offsets still apply)."""
    LOCK = "lock"
    """One constant pose: ``PoseEdit.reference``, else the keyframe's (``PoseEditor.reset``),
    else the first face frame's. The keyframe's pose renders sharpest: the receiver then barely
    warps the source."""
    FRONTAL = "frontal"
    """Facing the camera (zero pitch, yaw and roll), at the driver's place and size."""


@dataclass(frozen=True)
class PoseEdit:
    """What to do with the head pose of every frame of a stream."""

    mode: PoseMode = PoseMode.FOLLOW
    damping: float = 0.0
    """In [0, 1): share of the previous output pose kept per frame (exponential smoothing of
    rotation, translation and scale with a time constant of -1 / ln(damping) frames; 0 = off)."""
    offset_deg: tuple[float, float, float] = (0.0, 0.0, 0.0)
    """Pitch, yaw, roll added after the mode, in degrees."""
    reference: HeadPose | None = None
    """The pose LOCK holds; None: the keyframe's, or the first face frame's (see PoseMode)."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.damping < 1.0:
            raise ValueError(f"damping must be in [0, 1), got {self.damping}")
        if len(self.offset_deg) != 3 or not all(map(math.isfinite, self.offset_deg)):
            raise ValueError(f"offset_deg must be 3 finite angles, got {self.offset_deg}")

    @property
    def active(self) -> bool:
        """Whether the edit changes anything."""
        return self.mode is not PoseMode.FOLLOW or self.damping > 0 or any(self.offset_deg)


class PoseEditor:
    """Applies a ``PoseEdit`` to the frames of one stream, in order (stateful: the damping
    filter and LOCK's pose). ``reset(keyframe pose)`` when a new keyframe starts, since the crop,
    and with it translation and scale, may have moved."""

    def __init__(self, edit: PoseEdit, model: FaceModel) -> None:
        self.edit = edit
        self.model = model
        self.correctives = PoseCorrectives.from_model(model)
        self.reset()

    def reset(self, keyframe_pose: HeadPose | None = None) -> None:
        """Forget the stream; LOCK holds ``keyframe_pose`` unless the edit names a pose."""
        self._smoothed: HeadPose | None = None
        self._last_seq = -1
        self._reference = self.edit.reference or keyframe_pose

    def __call__(self, params: FrameParams) -> FrameParams:
        """One frame in, the edited frame out (frames without a face pass unchanged)."""
        if not params.face or not self.edit.active:
            return params
        pose = self._target(HeadPose.of(params), params.seq)
        change = self.correctives.change(params.rotation, pose.rotation)
        expression = params.full_expression() + change
        return replace_motion(self.model, params, pose, expression)

    def _target(self, pose: HeadPose, seq: int) -> HeadPose:
        if self.edit.damping > 0:
            pose = self._damp(pose, seq)
        if self.edit.mode is PoseMode.LOCK:
            if self._reference is None:
                self._reference = pose
            pose = self._reference
        elif self.edit.mode is PoseMode.FRONTAL:
            pose = HeadPose(np.zeros(3, np.float32), pose.translation, pose.scale)
        offset = np.deg2rad(np.asarray(self.edit.offset_deg, np.float32))
        return HeadPose(pose.rotation + offset, pose.translation, pose.scale)

    def _damp(self, pose: HeadPose, seq: int) -> HeadPose:
        prev = self._smoothed
        if prev is not None and seq > self._last_seq:
            # A gap of n frames (loss, frame_interval) decays like n frames would.
            step = 1.0 - self.edit.damping ** (seq - self._last_seq)
            turn = (pose.rotation - prev.rotation + np.pi) % (2 * np.pi) - np.pi
            pose = HeadPose(
                prev.rotation + step * turn,
                prev.translation + step * (pose.translation - prev.translation),
                prev.scale + step * (pose.scale - prev.scale),
            )
        self._smoothed, self._last_seq = pose, seq
        return pose
