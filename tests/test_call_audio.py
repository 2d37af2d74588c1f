"""The voice in a call, in sync with the face: a clip whose audio has tone bursts at known
frames, called over real aiortc peers on loopback (Opus on a WebRTC audio track beside the data
channels), and the bursts found again in the output file next to the frames they belong to."""

from __future__ import annotations

import av
import pytest
import torch
from audio_inputs import burst_onsets_s, clip_with_marks
from call_inputs import TARGET_BPS, clip, prior, rate_table, run

from facecodec.call.loopback import LoopbackCall, LoopbackConfig
from facecodec.call.render import RenderConfig
from facecodec.call.send_session import SendConfig
from facecodec.receiver.receiver import Receiver
from facecodec.transport import Impairment
from facecodec.transport.audio import AudioConfig

FRAMES = 100
MARKS = [25, 50, 75]
"""Burst frames, rendered (every 25th frame): three CPU renders."""
LEADS_MS, TRAILS_MS = 45.0, 125.0
"""ITU-R BT.1359: a voice leading the face by more, or trailing it by more, is detectable."""


@pytest.fixture(autouse=True)
def one_thread() -> None:
    torch.set_num_threads(1)  # the machine is shared


@pytest.mark.parametrize("loss", [0.0, 0.1])
def test_each_mark_of_the_voice_plays_with_its_frame(tmp_path, loss: float) -> None:
    source = clip_with_marks(clip(), tmp_path / "marked.mp4", FRAMES, MARKS)
    impairment = Impairment(loss, seed=3) if loss else None
    config = LoopbackConfig(
        input=source,
        send=SendConfig(TARGET_BPS),
        render=RenderConfig(every=MARKS[0]),
        max_frames=FRAMES,
        video=tmp_path / "call.mp4",
        impairment=impairment,
        audio=AudioConfig(impairment=impairment),
    )
    call = LoopbackCall(config, rate_table(), Receiver(device="cpu"), prior())
    result = run(call.run())

    assert result.audio is not None and result.audio.sent.packets > 0
    if loss:  # both the face's messages and the voice's packets were dropped
        assert result.send.messages > result.receive.messages
        assert result.audio.sent.dropped > 0
    with av.open(str(config.video)) as video:
        shown_s = [float(f.pts * f.time_base) for f in video.decode(video=0)]
    # (a slow machine may also render frame 100, held past the input's end)
    rendered = [seq for seq, _ in call.recorder.rendered]
    assert rendered[: len(MARKS)] == MARKS and len(shown_s) == len(rendered)
    onsets_s = burst_onsets_s(config.video)
    assert len(onsets_s) == len(MARKS)  # each burst once, nothing else loud
    for shown, heard in zip(shown_s, onsets_s, strict=False):
        assert -LEADS_MS <= 1000 * (heard - shown) <= TRAILS_MS
