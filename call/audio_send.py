"""The sending end's voice: an ``AudioSource`` into the call's Opus track, and the media clock
that tells the receiver where the face frames sit on the audio's timeline.

``tap`` passes the captured frames through unchanged and, at the first frame and every
CLOCK_INTERVAL_MS of capture after it, sends a ``MediaClock`` on the control channel (ordered:
the first one reaches the receiver before the keyframe the same frame triggers).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from facecodec.transport import Call
from facecodec.transport.audio import MediaClock, OpusSendTrack

from .audio_source import AudioSource
from .capture_loop import CapturedFrame

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

    async def run(self) -> None:
        """Push the source into the track until it ends (or the task is cancelled)."""
        try:
            async for chunk in self.source.chunks():
                self.track.push(chunk)
        finally:
            self.track.end()

    async def tap(self, frames: AsyncIterator[CapturedFrame]) -> AsyncIterator[CapturedFrame]:
        """``frames`` unchanged, with media clocks sent on the way."""
        async for captured in frames:
            last = self._last_clock_ms
            if last is None or captured.capture_ms - last >= CLOCK_INTERVAL_MS:
                self._send_clock(captured)
            yield captured

    def _send_clock(self, captured: CapturedFrame) -> None:
        seq = captured.frame.params.seq
        pts = self.source.frame_pts(seq, self.fps, captured.capture_ms)
        if self.call.control.is_open:
            self.call.control.send_media_clock(MediaClock(seq, pts, round(1e6 / self.fps)))
            self._last_clock_ms = captured.capture_ms
