"""The sending end's voice: an ``AudioSource`` into the call's Opus track, and the media clock
that tells the receiver where the face frames sit on the audio's timeline.

``tap`` passes the captured frames through unchanged and, at the first frame and every
CLOCK_INTERVAL_MS of capture after it, sends a ``MediaClock`` on the control channel (ordered:
the first one reaches the receiver before the keyframe the same frame triggers). A file's audio
is sent as its frames come out of the prior, FRAME_LEAD_MS ahead at most: a prior that falls
behind real time on a busy machine holds the voice back with the face, as a camera and its
microphone would stay together.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from facecodec.transport import Call
from facecodec.transport.audio import SAMPLE_RATE, MediaClock, OpusSendTrack

from .audio_source import AudioSource
from .capture_loop import CapturedFrame

FRAME_LEAD_MS = 100.0
"""How far a file's audio may run ahead of the newest frame out of the prior."""
CLOCK_INTERVAL_MS = 1000.0
"""A camera's frame period drifts against the microphone's clock; a fresh media clock each
second keeps the receiver's extrapolation within a fraction of a frame."""


class AudioSender:
    """Sends ``source`` on ``call``'s audio track (``call.audio_out``)."""

    def __init__(self, call: Call, source: AudioSource, fps: float) -> None:
        assert call.audio_out is not None, "the call was dialled without an audio track"
        self.call = call
        self.track: OpusSendTrack = call.audio_out
        self.source = source
        self.fps = fps
        self._last_clock_ms: float | None = None
        self._frames_pts = -1
        """Audio position of the newest frame through ``tap``."""
        self._frame_came = asyncio.Event()

    async def run(self) -> None:
        """Push the source into the track until it ends (or the task is cancelled)."""
        lead = round(FRAME_LEAD_MS * SAMPLE_RATE / 1000)
        pushed = 0
        try:
            async for chunk in self.source.chunks():
                while self.source.follows_frames and pushed > self._frames_pts + lead:
                    self._frame_came.clear()
                    await self._frame_came.wait()
                self.track.push(chunk)
                pushed += len(chunk)
        finally:
            self.track.end()

    async def tap(self, frames: AsyncIterator[CapturedFrame]) -> AsyncIterator[CapturedFrame]:
        """``frames`` unchanged, with media clocks sent on the way."""
        async for captured in frames:
            seq = captured.frame.params.seq
            pts = self.source.frame_pts(seq, self.fps, captured.capture_ms)
            last = self._last_clock_ms
            if last is None or captured.capture_ms - last >= CLOCK_INTERVAL_MS:
                self._send_clock(seq, pts, captured.capture_ms)
            self._frames_pts = max(self._frames_pts, pts)
            self._frame_came.set()
            yield captured

    def _send_clock(self, seq: int, pts: int, capture_ms: float) -> None:
        if self.call.control.is_open:
            self.call.control.send_media_clock(MediaClock(seq, pts, round(1e6 / self.fps)))
            self._last_clock_ms = capture_ms
