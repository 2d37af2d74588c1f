"""The end of a whole call is bounded: a hang-up that never reaches the receiving end (its
socket stops reading, as a peer that went away would) still ends the call, says what did not
finish, and writes the video; real aiortc peers on loopback, a held-out clip with a voice."""

from __future__ import annotations

import asyncio
import logging

import av
import pytest
import torch
from call_inputs import SEND, clip, prior, rate_table, run, until

from facecodec.benchmark.voice_clips import clip_with_marks
from facecodec.call.loopback import CallResult, LoopbackCall, LoopbackConfig
from facecodec.call.render import RenderConfig
from facecodec.receiver.receiver import Receiver
from facecodec.transport import Call

FRAMES = 75
END_TIMEOUT_S = 2.0


@pytest.fixture(autouse=True)
def one_thread() -> None:
    torch.set_num_threads(1)  # the machine is shared


def stop_reading(call: Call) -> None:
    """Datagrams to ``call`` are no longer read (its socket stays open): from now on nothing
    the other end sends reaches it, the hang-up included."""
    # aiortc and aioice keep the sockets private; this is where the connection's datagrams land.
    ice = call.peer_connection.sctp.transport.transport
    for protocol in ice._connection._protocols:
        protocol.transport.pause_reading()


def test_a_hang_up_that_never_arrives_still_ends_the_call_and_writes_its_files(
    tmp_path, caplog
) -> None:
    config = LoopbackConfig(
        input=clip_with_marks(clip(), tmp_path / "voiced.mp4", FRAMES, [25, 50]),
        send=SEND,
        render=RenderConfig(every=30),
        max_frames=FRAMES,
        video=tmp_path / "call.mp4",
        end_timeout_s=END_TIMEOUT_S,
    )
    call = LoopbackCall(config, rate_table(), Receiver(device="cpu"), prior())

    async def scenario() -> CallResult:
        running = asyncio.ensure_future(call.run())
        # Cut the receiving end off once messages arrived, long before the input ends.
        await until(lambda: call.receive is not None and call.receive.stats.messages > 0)
        assert call.receive is not None and isinstance(call.receive.call, Call)
        stop_reading(call.receive.call)
        return await running

    with caplog.at_level(logging.WARNING):
        result = run(scenario())

    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(
        m.startswith("the receiving session (the hang-up did not reach it)") for m in warnings
    )
    assert result.send.messages > result.receive.messages > 0  # the later ones never arrived
    assert result.audio is not None  # the voice's playout ended with the receiving end
    with av.open(str(config.video)) as video:
        written = sum(1 for _ in video.decode(video=0))
    assert written == result.render.rendered
