"""``facecodec receive``'s loop: callers answered one after another on one signaling server.

A new caller who knows the token replaces the current call: a sender that restarted (or
crashed, which the old connection may take half a minute to notice) gets through at once, and
the output (file, window) goes on across calls. Callers who do not know the token are refused
by the signaling server before any call state exists. With ``audio_outputs`` a caller's voice
is played on the same schedule as its face (call.synced_playout) into those outputs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from facecodec.transport import Call, SignalingServer

from .audio_playout import AudioOutput, AudioPlayout
from .edits import ParamsEditor
from .keyframe_cache import KeyframeCache
from .receive_session import FrameSink, ReceiveConfig, ReceiveSession, ReceiveStats
from .synced_playout import SyncedPlayout

logger = logging.getLogger(__name__)


class ReceiveService:
    """Answers the callers of ``server``; ``session`` is the current call's, if any."""

    def __init__(
        self,
        server: SignalingServer,
        sink: FrameSink,
        config: ReceiveConfig | None = None,
        editor: ParamsEditor | None = None,
        audio_outputs: list[AudioOutput] | None = None,
        cache: KeyframeCache | None = None,
    ) -> None:
        self.server = server
        self.cache = cache
        """Keyframes kept across callers and calls (None: none)."""
        self.sink = sink
        self.config = config or ReceiveConfig()
        self.editor = editor
        self.audio_outputs = audio_outputs
        """Where callers' voices go; None: voices are ignored (the face plays on its own)."""
        self.session: ReceiveSession | None = None
        self.finished: list[ReceiveStats] = []
        """Stats of the calls that ended, in order."""

    async def run(self, max_calls: int | None = None) -> list[ReceiveStats]:
        """Answer callers until ``max_calls`` calls have ended (None: until cancelled)."""
        answered = 0
        accepting: asyncio.Future[Call] | None = asyncio.ensure_future(Call.accept(self.server))
        current: asyncio.Task[ReceiveStats] | None = None
        try:
            while accepting is not None or current is not None:
                waiting = {task for task in (accepting, current) if task is not None}
                done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                if current in done:
                    await self._ended(current)
                    current = None
                if accepting in done:
                    call = self._answered(accepting)
                    accepting = None
                    if call is not None:
                        current = await self._replace(current, call)
                        answered += 1
                    if max_calls is None or answered < max_calls:
                        accepting = asyncio.ensure_future(Call.accept(self.server))
        finally:
            if accepting is not None:
                accepting.cancel()
            if current is not None:
                await self._hang_up(current)
        return self.finished

    def _answered(self, accepting: asyncio.Future[Call]) -> Call | None:
        try:
            return accepting.result()
        except (ConnectionError, TimeoutError) as exc:  # the caller went away mid-setup
            logger.warning("call not set up: %s", exc)
            return None

    async def _replace(
        self, current: asyncio.Task[ReceiveStats] | None, call: Call
    ) -> asyncio.Task[ReceiveStats]:
        if current is not None:
            await self._hang_up(current)
        if self.audio_outputs is None:
            self.session = self._session(call, None)
            return asyncio.ensure_future(self.session.run())
        playout = SyncedPlayout(call.audio_in, self.config.nominal_fps)
        self.session = self._session(call, playout)
        voice = AudioPlayout(call.audio_in, playout, self.audio_outputs)
        return asyncio.ensure_future(_with_voice(self.session, call, voice))

    def _session(self, call: Call, playout: SyncedPlayout | None) -> ReceiveSession:
        return ReceiveSession(
            call, self.sink, self.config, editor=self.editor, playout=playout, cache=self.cache
        )

    async def _hang_up(self, current: asyncio.Task[ReceiveStats]) -> None:
        assert self.session is not None
        await self.session.call.close()
        await self._ended(current)

    async def _ended(self, current: asyncio.Task[ReceiveStats]) -> None:
        """The current session finished (the call ended or was hung up): keep its stats."""
        self.finished.append(await current)
        if self.session is not None:
            await self.session.call.close()
        self.session = None


async def _with_voice(session: ReceiveSession, call: Call, voice: AudioPlayout) -> ReceiveStats:
    """``session.run()``, with ``voice`` playing until the call's audio track ends."""
    playing = asyncio.ensure_future(voice.run())
    try:
        return await session.run()
    finally:
        await call.close()  # ends the audio track, so the voice plays out what it has
        if call.audio_in.track is None:  # the caller sent no voice
            playing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await playing
