"""Where rendered frames go: a video file (PyAV, OpenCV without it), a window (OpenCV, where a
display exists).

Frames are written at their own times (millisecond timestamps), not at a fixed rate: a receiver
that renders every n-th frame, or only the newest when it falls behind, still writes a video
that plays at the speed of the call. A ``.mkv`` file is lossless (FFV1: the frames exactly as
rendered, for tests and scoring), anything else H.264 for watching. OpenCV, where PyAV is not
installed (a GPU server with torch only), writes at a fixed rate instead.
"""

from __future__ import annotations

import logging
import os
import sys
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

VIDEO_CODEC = "libx264"
VIDEO_CRF = "20"
"""Visually transparent for 256x256 faces at a few hundred kbps: the file is for watching."""
PIXEL_FORMAT = "yuv420p"
"""What every player decodes; it needs even sides."""
LOSSLESS_SUFFIX = ".mkv"
LOSSLESS_CODEC = "ffv1"
LOSSLESS_PIXEL_FORMAT = "bgr0"
"""FFV1 keeps RGB exactly in this format."""
OPENCV_FOURCC = {".mkv": "FFV1", ".avi": "MJPG"}
"""OpenCV's codec per suffix; anything else MPEG-4 part 2 (what its wheels can write)."""
TIME_BASE = Fraction(1, 1000)
WINDOW_TITLE = "facecodec"

logger = logging.getLogger(__name__)


class VideoOutput:
    """RGB frames -> an H.264 MP4 file; the size is that of the first frame."""

    def __init__(self, path: Path, fps: float) -> None:
        import av  # heavy import, kept local

        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._container = av.open(str(self.path), mode="w")
        self._fps = fps
        self._stream = None
        self._origin_ms = 0.0
        self._last_pts = -1
        self.frames = 0

    def write(self, image: np.ndarray, t_ms: float) -> None:
        """One (H, W, 3) uint8 RGB frame shown from ``t_ms`` (any origin; times increase)."""
        import av

        if self._stream is None:
            self._stream = self._open_stream(image.shape[1], image.shape[0])
            self._origin_ms = t_ms
        # Two frames closer than a millisecond still need distinct timestamps.
        pts = max(round(t_ms - self._origin_ms), self._last_pts + 1)
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
        frame.pts, frame.time_base = pts, TIME_BASE
        self._container.mux(self._stream.encode(frame))
        self._last_pts = pts
        self.frames += 1

    def close(self) -> None:
        if self._stream is not None:
            self._container.mux(self._stream.encode(None))
        self._container.close()

    def _open_stream(self, width: int, height: int):  # -> av.VideoStream
        lossless = self.path.suffix.lower() == LOSSLESS_SUFFIX
        stream = self._container.add_stream(
            LOSSLESS_CODEC if lossless else VIDEO_CODEC, rate=round(self._fps)
        )
        if lossless:
            stream.width, stream.height = width, height
            stream.pix_fmt = LOSSLESS_PIXEL_FORMAT
        else:
            stream.width, stream.height = width + width % 2, height + height % 2
            stream.pix_fmt = PIXEL_FORMAT
            stream.options = {"crf": VIDEO_CRF}
        stream.time_base = TIME_BASE
        stream.codec_context.time_base = TIME_BASE
        return stream


class OpenCvVideoOutput:
    """``VideoOutput`` without PyAV: OpenCV's writer, at a fixed ``fps`` (times are not kept:
    every frame lasts one frame period)."""

    def __init__(self, path: Path, fps: float) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fps = fps
        self._writer: cv2.VideoWriter | None = None
        self.frames = 0

    def write(self, image: np.ndarray, t_ms: float) -> None:
        """One (H, W, 3) uint8 RGB frame (``t_ms`` is not used)."""
        if self._writer is None:
            fourcc = OPENCV_FOURCC.get(self.path.suffix.lower(), "mp4v")
            size = (image.shape[1], image.shape[0])
            self._writer = cv2.VideoWriter(
                str(self.path), cv2.VideoWriter_fourcc(*fourcc), self._fps, size
            )
            if not self._writer.isOpened():
                raise ValueError(f"OpenCV cannot write {self.path} ({fourcc})")
        self._writer.write(cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        self.frames += 1

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()


def open_video(path: Path, fps: float) -> VideoOutput | OpenCvVideoOutput:
    """A video file writer: PyAV where installed, OpenCV otherwise."""
    try:
        import av  # noqa: F401 (only whether it is there)
    except ImportError:
        return OpenCvVideoOutput(path, fps)
    return VideoOutput(path, fps)


def side_by_side(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """(H, W1 + W2, 3): ``left`` scaled to ``right``'s height, then ``right``."""
    height = right.shape[0]
    if left.shape[0] != height:
        width = round(left.shape[1] * height / left.shape[0])
        left = cv2.resize(left, (width, height), interpolation=cv2.INTER_AREA)
    return np.concatenate([left, right], axis=1)


def display_available() -> bool:
    """Whether a window can be shown: a desktop session on Linux, always elsewhere."""
    if not sys.platform.startswith("linux"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


class Window:
    """Shows frames in an OpenCV window; call from one thread only.

    An OpenCV built without a GUI (opencv-python-headless) cannot open one: the window then
    says so once and stays shut, and the other outputs go on.
    """

    def __init__(self) -> None:
        self.failed = False

    def show(self, image: np.ndarray) -> None:
        if self.failed:
            return
        try:
            cv2.imshow(WINDOW_TITLE, cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
            cv2.waitKey(1)  # lets the window draw
        except cv2.error as exc:
            self.failed = True
            logger.warning("no window: %s", exc)

    def close(self) -> None:
        if not self.failed:
            cv2.destroyAllWindows()
