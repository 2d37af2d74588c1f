"""Frames into the sender: a video file (decoded by PyAV) or a camera (read by OpenCV).

Both yield (H, W, 3) RGB uint8 frames in capture order and say their size and frame rate; the
frame's index in the iteration is its sequence number in the stream.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Self

import numpy as np

CAMERA_PREFIX = "camera:"
"""``open_source("camera:0")`` opens camera 0."""
DEFAULT_CAMERA_FPS = 25.0
"""Asked of a camera, and assumed when it does not say its rate."""


@dataclass(frozen=True)
class SourceInfo:
    """What a source says about its frames before the first one is read."""

    width: int
    height: int
    fps: float
    frames: int | None
    """Frame count when the container states one (files), None for cameras and unknown."""


class FrameSource(ABC):
    """Frames in capture order; close it (or use it as a context manager) when done."""

    info: SourceInfo

    @abstractmethod
    def __iter__(self) -> Iterator[np.ndarray]:
        """(H, W, 3) RGB uint8 frames."""

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class VideoFile(FrameSource):
    """The first video stream of a file, decoded with PyAV.

    ``threads`` sets the decoder's threads (0: PyAV's choice; 1 for one-core measurements).
    FileNotFoundError for a missing file, ValueError for one without a decodable video stream.
    """

    def __init__(self, path: str | Path, threads: int = 0) -> None:
        import av  # heavy import, kept local

        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"input video not found: {self.path}")
        try:
            self._container = av.open(str(self.path))
        except av.error.FFmpegError as exc:
            raise ValueError(f"cannot read {self.path} as a video: {exc}") from None
        if not self._container.streams.video:
            self._container.close()
            raise ValueError(f"{self.path} has no video stream")
        stream = self._container.streams.video[0]
        if threads:
            stream.thread_type = "AUTO" if threads > 1 else "NONE"
            stream.codec_context.thread_count = threads
        rate = stream.average_rate or stream.guessed_rate
        self._stream = stream
        self.info = SourceInfo(
            width=stream.codec_context.width,
            height=stream.codec_context.height,
            fps=float(rate) if rate else DEFAULT_CAMERA_FPS,
            frames=stream.frames or None,
        )

    def __iter__(self) -> Iterator[np.ndarray]:
        import av

        try:
            for frame in self._container.decode(self._stream):
                yield frame.to_ndarray(format="rgb24")
        except av.error.FFmpegError as exc:
            raise ValueError(f"{self.path}: decoding failed: {exc}") from None

    def close(self) -> None:
        self._container.close()


class Camera(FrameSource):
    """A camera opened by OpenCV (index as in ``cv2.VideoCapture``); ValueError if it does not
    open. Iteration ends when the camera stops delivering frames."""

    def __init__(self, index: int, fps: float = DEFAULT_CAMERA_FPS) -> None:
        import cv2

        self._capture = cv2.VideoCapture(index)
        if not self._capture.isOpened():
            raise ValueError(f"camera {index} does not open")
        self._capture.set(cv2.CAP_PROP_FPS, fps)
        reported = self._capture.get(cv2.CAP_PROP_FPS)
        self.info = SourceInfo(
            width=int(self._capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
            height=int(self._capture.get(cv2.CAP_PROP_FRAME_HEIGHT)),
            fps=reported if reported > 0 else fps,
            frames=None,
        )

    def __iter__(self) -> Iterator[np.ndarray]:
        import cv2

        while True:
            ok, bgr = self._capture.read()
            if not ok:
                return
            yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    def close(self) -> None:
        self._capture.release()


def open_source(spec: str | Path, threads: int = 0) -> VideoFile | Camera:
    """``camera:N`` opens camera N, anything else is a video file path."""
    text = str(spec)
    if text.startswith(CAMERA_PREFIX):
        index = text[len(CAMERA_PREFIX) :]
        if not index.isdigit():
            raise ValueError(f"bad camera {text!r}: write {CAMERA_PREFIX}N, e.g. camera:0")
        return Camera(int(index))
    return VideoFile(text, threads)
