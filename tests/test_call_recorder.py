"""The loopback call's recorder: every output frame that was captured gets its latency samples,
whether the playout put it out after its capture or, holding the face of a stalled sender,
before it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import numpy as np

from facecodec.call.capture_loop import CapturedFrame
from facecodec.call.recorder import CallRecorder
from facecodec.call.render import RenderedFrame
from facecodec.receiver.concealment import FrameStatus, OutputFrame
from facecodec.sender.prior import PriorFrame
from facecodec.types import FrameParams, Keyframe

KEYFRAME = Keyframe(np.zeros((8, 8, 3), np.uint8), np.zeros(4), FrameParams.no_face(0), "test")


async def captured(seq: int, capture_ms: float) -> AsyncIterator[CapturedFrame]:
    frame = PriorFrame(FrameParams.no_face(seq), None, None, False, None)
    yield CapturedFrame(frame, capture_ms)


def capture(recorder: CallRecorder, seq: int, capture_ms: float) -> None:
    async def through_tap() -> None:
        async for _ in recorder.tap(captured(seq, capture_ms)):
            pass

    asyncio.run(through_tap())


def put_out(recorder: CallRecorder, seq: int, due_ms: float, rendered_ms: float) -> None:
    recorder.on_output(OutputFrame(FrameParams.no_face(seq), FrameStatus.HELD, False), due_ms)
    image = np.zeros((8, 8, 3), np.uint8)
    frame = RenderedFrame(seq, image, due_ms, rendered_ms, FrameStatus.HELD, False, KEYFRAME)
    recorder.on_rendered(frame)


def test_a_frame_put_out_before_its_capture_gets_its_samples_once_captured() -> None:
    recorder = CallRecorder()
    capture(recorder, 29, 900.0)
    put_out(recorder, 29, 1000.0, 1100.0)
    put_out(recorder, 30, 1040.0, 1200.0)  # the sender stalled: the face of 29 held
    assert recorder.to_render.samples == recorder.to_playout.samples == 1

    capture(recorder, 30, 1500.0)
    assert recorder.to_render.samples == recorder.to_playout.samples == 2
    # Frame 30 counts from its own capture: it was drawn 300 ms before it.
    assert (recorder.to_render.median_ms, recorder.to_render.max_ms) == (-50.0, 200.0)
    assert (recorder.to_playout.median_ms, recorder.to_playout.max_ms) == (-180.0, 100.0)


def test_a_frame_held_past_the_end_of_the_input_has_no_sample() -> None:
    recorder = CallRecorder()
    capture(recorder, 74, 3000.0)
    put_out(recorder, 74, 3200.0, 3300.0)
    put_out(recorder, 90, 3840.0, 3900.0)
    assert recorder.to_render.samples == recorder.to_playout.samples == 1
