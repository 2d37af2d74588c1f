"""Which face a stream follows: the largest face when it is (re)acquired, then that face,
tracked from frame to frame (docs/sender.md, "Landmarks").

Acquisition runs MediaPipe in detection mode for up to ``max_faces`` faces and keeps the
largest. Tracking then runs MediaPipe's video mode for one face, which skips the detector while
the face holds. With one face in view the tracker sees the whole frame (its cost hardly depends
on the frame size); when other faces were seen it sees only a region around the crop, so that
it cannot wander to another face. A region change restarts the tracker (about 80 ms), which
happens only when the crop moves with other faces in view.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facecodec.sender.crop import CropBox
from facecodec.sender.landmarks import FaceLandmarker

MAX_FACES = 4
"""Faces acquisition looks at; the largest is kept."""
REGION_MARGIN = 0.5
"""With other faces in view, the tracker sees the crop enlarged by this fraction of its side on
each side (the face stays well inside: the crop holds it within the training range)."""


@dataclass(frozen=True)
class Region:
    """A rectangle of the frame in whole pixels: [x0, x1) x [y0, y1)."""

    x0: int
    y0: int
    x1: int
    y1: int

    @classmethod
    def around(cls, box: CropBox, frame_shape: tuple[int, ...]) -> Region:
        height, width = frame_shape[:2]
        margin = round(REGION_MARGIN * box.side)
        return cls(
            max(box.x - margin, 0),
            max(box.y - margin, 0),
            min(box.x + box.side + margin, width),
            min(box.y + box.side + margin, height),
        )


class FaceTracker:
    """Frames of one stream, in order -> (478, 3) landmarks in frame pixels of the followed face,
    or None. ``reset`` starts a new stream."""

    def __init__(self, max_faces: int = MAX_FACES) -> None:
        self._finder = FaceLandmarker(video=False, max_faces=max_faces)
        self._tracker = FaceLandmarker(video=True, max_faces=1)
        self._tracking = False
        self._others = False
        self._region: Region | None = None

    def reset(self) -> None:
        self._tracking = False
        self._others = False
        if self._region is not None:
            self._tracker.reset()
            self._region = None

    def close(self) -> None:
        self._finder.close()
        self._tracker.close()

    def __call__(self, frame: np.ndarray, box: CropBox | None) -> np.ndarray | None:
        """The followed face's landmarks; ``box`` is the current crop (None before the first)."""
        if self._tracking:
            landmarks = self._track(frame, box)
            if landmarks is not None:
                return landmarks
        return self._acquire(frame)

    def _acquire(self, frame: np.ndarray) -> np.ndarray | None:
        faces = self._finder.all_faces(frame)
        self._tracking = bool(faces)
        self._others = len(faces) > 1
        return faces[0] if faces else None

    def _track(self, frame: np.ndarray, box: CropBox | None) -> np.ndarray | None:
        region = Region.around(box, frame.shape) if self._others and box is not None else None
        if region != self._region:
            self._tracker.reset()
            self._region = region
        if region is None:
            return self._tracker(frame)
        patch = np.ascontiguousarray(frame[region.y0 : region.y1, region.x0 : region.x1])
        landmarks = self._tracker(patch)
        if landmarks is None:
            return None
        return landmarks + np.array([region.x0, region.y0, 0.0], np.float32)
