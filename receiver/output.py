"""Where rendered frames go: a video file (PyAV, OpenCV without it), a window (OpenCV, where a
display exists).

Frames are written at their own times (millisecond timestamps), not at a fixed rate: a receiver
that renders every n-th frame, or only the newest when it falls behind, still writes a video
that plays at the speed of the call. A ``.mkv`` file is lossless (FFV1: the frames exactly as
rendered, for tests and scoring), anything else H.264 for watching. OpenCV, where PyAV is not
installed (a GPU server with torch only), writes at a fixed rate instead. With ``audio_rate`` the
file also gets the call's voice (AAC), written at the times the playout gave it, on the same
time origin as the frames.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
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
AUDIO_CODEC = "aac"
AUDIO_SLACK_PER_S = 100
"""Audio written within 1/100 s of where the last ended continues it (rounding of times)."""
AUDIO_BITRATE = 64_000
"""Far above the call's Opus: the file adds no loss of its own that anyone would hear."""
WINDOW_TITLE = "facecodec"

logger = logging.getLogger(__name__)


class VideoOutput:
    """RGB frames -> an H.264 MP4 file; the size is that of the first frame. With
    ``audio_rate``, mono int16 audio at that rate too (``write_audio``, from any thread).

    Video and audio share one time origin: the first time either is written at. Audio that
    starts later than the first frame starts later in the file, and video before the first
    audio has none. Audio waits in memory until the first frame has opened the video stream
    (a file's streams are all declared before anything is written).
    """

    def __init__(self, path: Path, fps: float, audio_rate: int | None = None) -> None:
        import av  # heavy import, kept local

        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._container = av.open(str(self.path), mode="w")
        self._fps = fps
        self._stream = None
        self._audio = self._open_audio(audio_rate) if audio_rate else None
        self._audio_pts: int | None = None
        """Sample position of the next audio frame to encode."""
        self._audio_end: int | None = None
        """Sample position where the audio written so far ends."""
        self._audio_waiting: list[np.ndarray] = []
        self._origin_ms: float | None = None
        self._last_pts = -1
        self._lock = threading.Lock()
        """The renderer writes frames from its thread, the playout audio from the loop."""
        self.frames = 0
        self.audio_samples = 0

    def write(self, image: np.ndarray, t_ms: float) -> None:
        """One (H, W, 3) uint8 RGB frame shown from ``t_ms`` (any origin; times increase)."""
        import av

        with self._lock:
            if self._stream is None:
                self._stream = self._open_stream(image.shape[1], image.shape[0])
                self._flush_audio()
            origin = self._origin(t_ms)
            # Two frames closer than a millisecond still need distinct timestamps.
            pts = max(round(t_ms - origin), self._last_pts + 1)
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            frame.pts, frame.time_base = pts, TIME_BASE
            self._container.mux(self._stream.encode(frame))
            self._last_pts = pts
            self.frames += 1

    def write_audio(self, samples: np.ndarray, t_ms: float) -> None:
        """(N,) int16 mono samples playing from ``t_ms``. Calls normally continue one another;
        a later ``t_ms`` (a new call) leaves silence before them, an earlier one drops what
        overlaps."""
        assert self._audio is not None, "VideoOutput made without audio_rate"
        with self._lock:
            rate = self._audio.codec_context.sample_rate
            position = max(0, round((t_ms - self._origin(t_ms)) * rate / 1000))
            if self._audio_end is None:
                self._audio_pts = self._audio_end = position
            gap = position - self._audio_end
            if abs(gap) > rate // AUDIO_SLACK_PER_S:
                if gap > 0:
                    samples = np.concatenate([np.zeros(gap, np.int16), samples])
                else:
                    samples = samples[-gap:]
            self._audio_end += len(samples)
            self._audio_waiting.append(samples)
            if self._stream is not None:
                self._flush_audio()

    def _flush_audio(self) -> None:
        import av

        if not self._audio_waiting:
            return
        assert self._audio is not None and self._audio_pts is not None
        for samples in self._audio_waiting:
            rate = self._audio.codec_context.sample_rate
            planar = (samples.astype(np.float32) / 32768.0)[None, :]
            frame = av.AudioFrame.from_ndarray(planar, format="fltp", layout="mono")
            frame.sample_rate, frame.pts = rate, self._audio_pts
            frame.time_base = Fraction(1, rate)
            self._audio_pts += len(samples)
            self.audio_samples += len(samples)
            for chunk in self._audio_fifo.resample(frame):
                self._container.mux(self._audio.encode(chunk))
        self._audio_waiting = []

    def close(self) -> None:
        with self._lock:
            self._flush_audio()
            if self._stream is not None:
                self._container.mux(self._stream.encode(None))
            if self._audio is not None and self._audio_pts is not None:
                for chunk in self._audio_fifo.resample(None):
                    self._container.mux(self._audio.encode(chunk))
                self._container.mux(self._audio.encode(None))
            self._container.close()

    def _origin(self, t_ms: float) -> float:
        if self._origin_ms is None:
            self._origin_ms = t_ms
        return self._origin_ms

    def _open_audio(self, rate: int):  # -> av.AudioStream
        import av

        stream = self._container.add_stream(AUDIO_CODEC, rate=rate, layout="mono")
        stream.bit_rate = AUDIO_BITRATE
        # AAC takes frames of exactly frame_size samples; the resampler cuts them.
        self._audio_fifo = av.AudioResampler(
            format="fltp",
            layout="mono",
            rate=rate,
            frame_size=stream.codec_context.frame_size or 1024,
        )
        return stream

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
