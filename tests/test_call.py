"""Whole calls between real aiortc peers on loopback: a clip of a held-out person through the
real prior, codec, controller and transport; rendering on the CPU for a few frames only."""

from __future__ import annotations

import asyncio
import json

import av
import numpy as np
import pytest
import torch
from call_inputs import TARGET_BPS, Played, clip, prior, rate_table, run, send_clip

from facecodec.call.loopback import LINGER_MS, LoopbackCall, LoopbackConfig
from facecodec.call.receive_service import ReceiveService
from facecodec.call.receive_session import ReceiveSession
from facecodec.call.render import RenderConfig
from facecodec.call.report import summarize, write_report
from facecodec.call.send_session import SendConfig
from facecodec.receiver.concealment import FrameStatus
from facecodec.receiver.receiver import Receiver
from facecodec.transport import (
    Call,
    CallConfig,
    Impairment,
    SignalingServer,
    TokenRefusedError,
)
from facecodec.transport.call import LOOPBACK_HOST, open_loopback_pair

TOKEN = "call-test-token-0123"
RENDER_EVERY = 30
"""Frames 30 and 60 of a 75-frame call: two CPU renders (1.5-3 s each) and the keyframe."""


@pytest.fixture(autouse=True)
def one_thread() -> None:
    torch.set_num_threads(1)  # the machine is shared


def test_call_of_a_real_clip_renders_a_side_by_side_video_and_a_report(tmp_path) -> None:
    config = LoopbackConfig(
        input=clip(),
        send=SendConfig(TARGET_BPS),
        render=RenderConfig(every=RENDER_EVERY),
        max_frames=75,
        video=tmp_path / "call.mp4",
        log=tmp_path / "decisions.jsonl",
    )
    call = LoopbackCall(config, rate_table(), Receiver(device="cpu"), prior())
    result = run(call.run())
    summary = summarize(result, config)
    write_report(summary, config, tmp_path)

    assert result.send.keyframes and result.receive.keyframes == result.send.keyframes
    # The controller may send every 2nd to 5th frame (the rate table's frame intervals); the
    # receiver fills the rest, so output covers the whole call.
    assert result.send.frames_sent >= 75 // 5
    assert sum(result.receive.output.values()) >= 75 - 25  # the prior holds its first second
    assert result.receive.frames_decoded == result.send.frames_sent  # nothing lost on loopback
    assert result.render.rendered == 2
    # A slow start can put the second render on a frame held past the input's end (seq 90),
    # which has no capture time to measure from.
    assert 1 <= result.to_render.samples <= 2 and result.to_playout.samples > 15
    # How long playout lags capture depends on the machine's load (benchmark/call_rates.py
    # measures it), so it is not bounded here.
    assert result.to_playout.median_ms > 0
    rates = json.loads((tmp_path / "report.json").read_text())["bitrate"]
    assert 0 < rates["payload_kbps"] < rates["frames_wire_kbps"]
    assert rates["max_1s_payload_kbps"] <= 1.1 * TARGET_BPS / 1000
    assert (tmp_path / "bitrate.png").stat().st_size > 0

    with av.open(str(config.video)) as video:
        frames = [f.to_ndarray(format="rgb24") for f in video.decode(video=0)]
    assert len(frames) == 2 and frames[0].shape == (256, 512, 3)
    left, right = frames[0][:, :256].astype(float), frames[0][:, 256:].astype(float)
    assert right.std() > 20  # a drawn face, not a blank
    # Input and redrawn frame look alike: a blank frame differs from these clips by about 110,
    # another clip's first frame by 74 in the median; the redrawn frame is soft and, when the
    # crop moved mid-call, drawn from another keyframe.
    assert np.abs(left - right).mean() < 50


@pytest.mark.parametrize("loss", [0.1, 0.3])
def test_loss_and_reordering_are_concealed_and_frames_keep_coming(loss: float) -> None:
    impairment = Impairment(loss=loss, reorder=0.1, seed=7)

    async def scenario() -> None:
        played, senders = Played(), []
        listener, dialer = await open_loopback_pair(CallConfig(), CallConfig(impairment=impairment))
        async with listener, dialer:
            receiving = asyncio.ensure_future(ReceiveSession(listener, played).run())
            sent = await send_clip(dialer, frames=125, session=senders)
            # The last message arrives (maybe held back by the impairment).
            await asyncio.sleep((LINGER_MS + impairment.max_hold_ms) / 1000)
            dropped = dialer.stats.impairment.dropped
        received = await receiving

        assert dropped > 0 and received.messages == sent.messages - dropped
        # Every message that arrived decoded: a lost one costs its own frames only (references
        # are frames the receiver acknowledged), and no keyframe was needed.
        assert received.unreferenced == received.malformed == 0
        assert not received.keyframe_requests
        assert received.lost > 0 and sent.concealed_at_receiver > 0  # reported back
        # Every frame from the first on came out once, in order: the call never froze...
        assert played.seqs == list(range(played.seqs[0], played.seqs[-1] + 1))
        # (to near the end: at 30% loss the controller sends every 3rd to 5th frame, and the
        # last messages may be the lost ones)
        assert played.seqs[-1] >= 125 - 25
        # ...and its own parameters kept arriving all along (a few messages lost in a row at
        # most: 2 seconds of frames).
        received_at = [f.params.seq for f, _ in played.frames if f.status == FrameStatus.RECEIVED]
        assert max(np.diff(received_at)) <= 50

    run(scenario())


def test_a_restarted_sender_replaces_the_call_and_the_receiver_goes_on() -> None:
    async def scenario() -> None:
        played = Played()
        async with await SignalingServer.start(LOOPBACK_HOST, 0, TOKEN) as server:
            service = ReceiveService(server, played)
            serving = asyncio.ensure_future(service.run(max_calls=2))
            first = await Call.dial(LOOPBACK_HOST, server.address[1], TOKEN)
            await send_clip(first, frames=40)
            # The first sender dies without hanging up; a new one calls.
            frames_before = len(played.frames)
            second = await Call.dial(LOOPBACK_HOST, server.address[1], TOKEN)
            async with second:
                await send_clip(second, frames=40)
            calls = await serving
            await first.close()

        assert [len(c.keyframes) for c in calls] == [1, 1]
        assert all(c.frames_decoded > 10 for c in calls)
        assert len(played.keyframes) == 2
        assert len(played.frames) > frames_before + 10  # output went on with the new sender

    run(scenario())


def test_the_receiver_asks_for_a_keyframe_and_gets_one() -> None:
    async def scenario() -> None:
        played, senders = Played(), []
        listener, dialer = await open_loopback_pair()
        async with listener, dialer:
            sending = asyncio.ensure_future(send_clip(dialer, frames=150, session=senders))
            await listener.control.receive()  # the first keyframe never reaches the session
            session = ReceiveSession(listener, played)
            receiving = asyncio.ensure_future(session.run())
            while not session.stats.keyframes:  # it asks, and gets one
                await asyncio.sleep(0.05)
            while session.stats.frames_decoded < 10:
                await asyncio.sleep(0.05)
            session.request_keyframe()  # and asks again when it wants to
            sent = await sending
        received = await receiving

        assert received.keyframe_requests[0] == "start"
        assert "decode_error" in received.keyframe_requests
        assert len(received.keyframes) >= 2  # (the clip's crop may move too: one more)
        assert len(sent.keyframes) == len(received.keyframes) + 1
        assert sent.keyframe_requests == len(received.keyframe_requests)
        assert received.unreferenced > 0  # frames of the unseen keyframe were dropped
        assert received.frames_decoded >= 150 // 5

    run(scenario())


def test_a_wrong_token_is_refused_before_any_call_exists() -> None:
    async def scenario() -> None:
        async with await SignalingServer.start(LOOPBACK_HOST, 0, TOKEN) as server:
            service = ReceiveService(server, Played())
            serving = asyncio.ensure_future(service.run(max_calls=1))
            with pytest.raises(TokenRefusedError, match="wrong token"):
                await Call.dial(LOOPBACK_HOST, server.address[1], "not-the-token")
            assert server.refused == 1 and service.session is None
            async with await Call.dial(LOOPBACK_HOST, server.address[1], TOKEN):
                while service.session is None:
                    await asyncio.sleep(0.01)
            await serving

    run(scenario())
