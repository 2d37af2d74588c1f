"""The progressive keyframe in a real call: aiortc peers on loopback through an emulated 8 kbps
or 4 kbps link (there frames messages and keyframe parts take turns in the wire budget), a clip
of a held-out person through the real prior, codec and controller; nothing rendered (what is
sent does not depend on it)."""

from __future__ import annotations

import asyncio
import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np
import pytest
from call_inputs import IDENTITY_FRAMES, TARGET_BPS, delivered, link_lost, run, send_clip, until

from facecodec.call.receive_session import ReceiveSession
from facecodec.call.send_session import SendConfig
from facecodec.codec import OperatingPointChange, encode_control
from facecodec.codec.image import (
    DEFAULT_IMAGE_CODEC,
    DEFAULT_IMAGE_QUALITY,
    decode_image,
    encode_image,
)
from facecodec.codec.progressive import FIRST_VERSION_MAX_BYTES, FULL_QUALITIES
from facecodec.receiver.concealment import FrameStatus, OutputFrame
from facecodec.sender.prior import MediaPipePrior, PriorConfig, PriorFrame
from facecodec.transport import CallConfig
from facecodec.transport.call import open_loopback_pair
from facecodec.transport.channel import ControlChannel
from facecodec.transport.link_emulator import LinkConfig
from facecodec.types import Keyframe, OperatingPoint

SAMPLE_S = 0.02
"""How often the sender's wire total is read for the 1-second windows."""


class KeptPrior(MediaPipePrior):
    """The real prior, keeping the keyframes it made (the sender's original images)."""

    def __init__(self) -> None:
        super().__init__(PriorConfig(identity_frames=IDENTITY_FRAMES))
        self.made: list[Keyframe] = []

    def keyframe(self, frame: PriorFrame, network: str = "") -> Keyframe:
        keyframe = super().keyframe(frame, network)
        self.made.append(keyframe)
        return keyframe


@dataclass
class Timeline:
    """A FrameSink that notes when each keyframe and each face frame came out, and how many
    frames the receiver had decoded when each keyframe came."""

    session: list[ReceiveSession] = field(default_factory=list)
    keyframes: list[tuple[float, Keyframe, bool, int]] = field(default_factory=list)
    """(time, keyframe, complete, frames decoded so far)."""
    first_face: tuple[float, OutputFrame] | None = None
    """When the first face came out, and the frame."""

    def keyframe(self, keyframe: Keyframe, complete: bool = True) -> None:
        decoded = self.session[0].stats.frames_decoded
        self.keyframes.append((asyncio.get_running_loop().time(), keyframe, complete, decoded))

    def frame(self, frame: OutputFrame, due_ms: float) -> None:
        if self.first_face is None and frame.params.face:
            self.first_face = asyncio.get_running_loop().time(), frame


@pytest.mark.parametrize("link_bps", [8000, 4000])
def test_a_progressive_keyframe_starts_the_face_on_a_narrow_link_and_is_refined(
    link_bps: int,
) -> None:
    link = LinkConfig(rate_bps=link_bps, delay_ms=100)
    config = dataclasses.replace(
        SendConfig(TARGET_BPS, max_frame_age_ms=math.inf),
        wire_bitrate_bps=link_bps,
        max_latency_ms=1000,
    )
    face_prior = KeptPrior()
    timeline = Timeline()
    wire: list[tuple[float, int]] = []
    senders: list = []

    async def scenario() -> None:
        listener, dialer = await open_loopback_pair(
            CallConfig(link=dataclasses.replace(link, seed=1)), CallConfig(link=link)
        )
        async with listener, dialer:
            session = ReceiveSession(listener, timeline)
            timeline.session.append(session)
            receiving = asyncio.ensure_future(session.run())

            async def sample() -> None:
                """Everything the sender put on the wire but the first version itself (one
                message, which takes its size at the link's rate, 1-2 s here)."""
                loop = asyncio.get_running_loop()
                while True:
                    keyframes = senders[0].stats.keyframes if senders else []
                    first = sum(map(ControlChannel.message_wire_bytes, keyframes))
                    wire.append((loop.time(), dialer.stats.wire_bytes_sent - first))
                    await asyncio.sleep(SAMPLE_S)

            sampling = asyncio.ensure_future(sample())

            def refined() -> bool:
                return bool(session.stats.refined)

            sent = await send_clip(
                dialer, 50, senders, refined, send_config=config, face_prior=face_prior
            )
            sampling.cancel()
            await until(delivered(lambda: session.stats.messages, sent, dialer))
            assert session.stats.messages >= sent.messages - link_lost(dialer)
            forward = dialer.stats.link
        received = await receiving

        # The first keyframe went progressively: a first version, then every part. (A crop
        # move waits for the refinement; its keyframe may follow once the parts went.)
        assert received.keyframes[0] == sent.keyframes[0] and sent.refinements >= 1
        assert sent.keyframe_parts > 1
        first, full = timeline.keyframes[:2]
        assert (first[2], full[2]) == (False, True)
        # The first face was drawn from the first version, before the full keyframe arrived:
        # the keyframe's own frame, a true frame of the call, as soon as it was there. Frames
        # decoded while the parts were in flight.
        original = face_prior.made[0]
        assert timeline.first_face is not None
        first_face_s, first_face = timeline.first_face
        assert first[0] <= first_face_s < full[0]
        assert first_face.params.seq == original.params.seq
        assert first_face.status == FrameStatus.RECEIVED
        assert full[3] > first[3]
        # The full image replaced the first version: the sender's image as coded (at the
        # default quality or a lower one that crosses this link sooner), bit-exact, for the
        # same keyframe (the frames' reference did not change).
        h, w = original.image.shape[:2]
        coded = [
            encode_image(original.image, DEFAULT_IMAGE_CODEC, quality)
            for quality in (DEFAULT_IMAGE_QUALITY, *FULL_QUALITIES)
        ]
        expected = [decode_image(data, DEFAULT_IMAGE_CODEC, w, h) for data in coded]
        match = [np.array_equal(full[1].image, image) for image in expected]
        assert any(match)
        assert received.refined[0] == len(coded[match.index(True)])
        assert full[1].params.seq == first[1].params.seq == original.params.seq
        assert np.array_equal(full[1].identity, first[1].identity)
        assert first[1].image.shape == (h, w, 3)
        assert not np.array_equal(first[1].image, expected)
        assert received.keyframes[0] <= FIRST_VERSION_MAX_BYTES
        assert received.unreferenced == received.malformed == received.stale_parts == 0
        # Everything else the sender put on the wire (parts, frames, control, acknowledgements)
        # stayed within the link in every 1-second window between two readings, but for one
        # operating point change: it must go before the frames it describes whatever the
        # budget holds, and the controller may change the point just after a frames message
        # took the room (acknowledgements the budget reserves ahead of time)...
        change = OperatingPointChange(sent.frames, OperatingPoint())
        tolerance = ControlChannel.message_wire_bytes(len(encode_control(change)))
        assert len(wire) > 1 / SAMPLE_S and max_window_bytes(wire) <= link_bps / 8 + tolerance
        # ...and so nothing was dropped in the link's queue.
        assert forward is not None and forward.dropped["queue"] == 0

    run(scenario(), timeout_s=300)


def max_window_bytes(totals: list[tuple[float, int]]) -> int:
    """Most bytes between two readings (time s, running total) at most 1 s apart."""
    peak, start = 0, 0
    for t, total in totals:
        while t - totals[start][0] > 1.0:
            start += 1
        peak = max(peak, total - totals[start][1])
    return peak
