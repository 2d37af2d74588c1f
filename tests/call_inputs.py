"""Shared pieces of the call tests: a clip of a held-out person (from ../shared/data, at test
time), the rate table, a sender of a clip over a real call, and a sink that keeps what the
receiver's playout put out."""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sender_inputs import validation_clip_paths

from facecodec.bitrate import DEFAULT_TABLE_PATH, RateTable, load_table
from facecodec.bitrate.simulation import example_table
from facecodec.call.capture_loop import CaptureConfig, CapturedFrame, CaptureLoop
from facecodec.call.send_session import SendConfig, SendSession, SendStats
from facecodec.call.sent_keyframes import SentKeyframes
from facecodec.receiver.concealment import OutputFrame
from facecodec.sender.capture import open_source
from facecodec.sender.prior import MediaPipePrior, PriorConfig
from facecodec.transport import Call
from facecodec.types import Keyframe

IDENTITY_FRAMES = 8
"""Face frames the test senders learn the identity from: a third of a second, so that short
calls are mostly live frames (the default second would be skipped as stale)."""
TARGET_BPS = 2000
SEND = SendConfig(TARGET_BPS, max_frame_age_ms=math.inf)
"""The test senders send every frame the operating point names, however late the prior
releases it: on a loaded machine the prior falls behind real time, and which frames go out must
not depend on the machine's speed."""
POLL_S = 0.01


def run(scenario: Coroutine[Any, Any, Any], timeout_s: float = 60.0) -> Any:
    return asyncio.run(asyncio.wait_for(scenario, timeout_s))


def clip() -> Path:
    """A clip of a validation identity (never trained on)."""
    return validation_clip_paths()[0]


def rate_table() -> RateTable:
    """The measured table once bitrate/rd_table.json is built, the example table until then:
    these tests check the call's behaviour, not the table's numbers."""
    return load_table() if DEFAULT_TABLE_PATH.exists() else example_table()


def prior() -> MediaPipePrior:
    return MediaPipePrior(PriorConfig(identity_frames=IDENTITY_FRAMES))


async def until(condition: Callable[[], bool]) -> None:
    """Wait for ``condition``: tests wait for events, never for a time that a loaded machine
    may overrun (the scenario's timeout ends a wait for something that never happens)."""
    while not condition():
        await asyncio.sleep(POLL_S)


def link_lost(call: Call) -> int:
    """Datagrams ``call``'s emulated link dropped so far (0 without one)."""
    link = call.stats.link
    return 0 if link is None else sum(link.dropped.values())


def delivered(received: Callable[[], int], sent: SendStats, dialer: Call) -> Callable[[], bool]:
    """Whether every message ``sent`` arrived (``received()`` of them), or the emulated link's
    bounded queue dropped some (a loaded machine sends in bursts) and nothing more is on its
    way: a wait for all of them would then never end."""
    return lambda: received() == sent.messages or (link_lost(dialer) > 0 and not dialer.sending)


async def send_clip(
    call: Call,
    frames: int,
    session: list | None = None,
    done: Callable[[], bool] | None = None,
    send_config: SendConfig = SEND,
    face_prior: MediaPipePrior | None = None,
    kept: SentKeyframes | None = None,
) -> SendStats:
    """Send the first ``frames`` frames of ``clip()`` at 25 fps over ``call`` with ``send_config``
    (and ``face_prior``, default ``prior()``, which is closed at the end; ``kept``, the sender's
    kept keyframes); with ``done``, go on (the clip looping) until ``done()`` holds as well.
    The session is appended to ``session`` for inspection while it runs."""
    face_prior = face_prior or prior()
    config = CaptureConfig(max_frames=None if done else frames, loop=done is not None)
    capture = CaptureLoop(lambda: open_source(clip()), face_prior, config)
    try:
        await capture.open()
        sender = SendSession(call, face_prior, rate_table(), send_config, capture.fps, kept=kept)
        if session is not None:
            session.append(sender)
        async with contextlib.aclosing(capture.frames()) as captured:
            return await sender.run(captured if done is None else _until(captured, frames, done))
    finally:
        face_prior.close()


async def _until(
    frames: AsyncIterator[CapturedFrame], count: int, done: Callable[[], bool]
) -> AsyncIterator[CapturedFrame]:
    """``frames`` up to frame ``count - 1`` and on until ``done()`` holds."""
    async for captured in frames:
        yield captured
        if captured.frame.params.seq + 1 >= count and done():
            return


@dataclass
class Played:
    """A FrameSink that keeps what the playout put out."""

    keyframes: list[Keyframe] = field(default_factory=list)
    complete: list[bool] = field(default_factory=list)
    """Per keyframe: whole, or a progressive keyframe's first version."""
    frames: list[tuple[OutputFrame, float]] = field(default_factory=list)

    def keyframe(self, keyframe: Keyframe, complete: bool = True) -> None:
        self.keyframes.append(keyframe)
        self.complete.append(complete)

    def frame(self, frame: OutputFrame, due_ms: float) -> None:
        self.frames.append((frame, due_ms))

    @property
    def seqs(self) -> list[int]:
        return [f.params.seq for f, _ in self.frames]
