"""Where rendered frames go: an MP4 file (PyAV), a window (OpenCV, where a display exists).

Frames are written at their own times (millisecond timestamps), not at a fixed rate: a receiver
that renders every n-th frame, or only the newest when it falls behind, still writes a video
that plays at the speed of the call.
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
        stream = self._container.add_stream(VIDEO_CODEC, rate=round(self._fps))
        stream.width, stream.height = width + width % 2, height + height % 2
        stream.pix_fmt = PIXEL_FORMAT
        stream.time_base = TIME_BASE
        stream.codec_context.time_base = TIME_BASE
        stream.options = {"crf": VIDEO_CRF}
        return stream


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
