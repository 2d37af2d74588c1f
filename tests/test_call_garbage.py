"""Garbage on both data channels of a real call, at both ends: random bytes, and real messages
cut short, lengthened and with flipped bytes. Nothing a peer sends stops either loop."""

from __future__ import annotations

import asyncio
import logging
import random

import pytest
from call_inputs import Played, clip, prior, run, send_clip, until

from facecodec.call.receive_session import ReceiveConfig, ReceiveSession
from facecodec.codec import (
    FrameEncoder,
    KeyframeReason,
    KeyframeRequest,
    ReceiverReport,
    encode_control,
    encode_keyframe,
)
from facecodec.receiver.concealment import FrameStatus
from facecodec.sender.capture import VideoFile
from facecodec.sender.prior import PriorFrame
from facecodec.transport.call import Call, open_loopback_pair
from facecodec.types import OperatingPoint

OP = OperatingPoint(keypoints=0, expression_dims=16, quant_level=2, frame_interval=1)
BUNDLE = 5
SEED = 11


def prior_frames(count: int) -> list[PriorFrame]:
    face_prior = prior()
    frames: list[PriorFrame] = []
    with VideoFile(clip()) as source:
        for seq, image in zip(range(count), source, strict=False):
            frames += face_prior.process(image, seq)
    frames += face_prior.flush()
    face_prior.close()
    return frames


def real_messages() -> tuple[bytes, list[bytes], int]:
    """A keyframe, frames messages predicted from it, and how many frames they carry."""
    frames = prior_frames(40)
    face_prior = prior()
    keyframe = face_prior.keyframe(frames[0])
    encoder = FrameEncoder(OP)
    encoder.set_keyframe(keyframe, OP)
    params = [f.params for f in frames[1:]]
    bundles = [params[i : i + BUNDLE] for i in range(0, len(params), BUNDLE)]
    messages = [encoder.encode(b, keyframe.params.seq) for b in bundles]
    return encode_keyframe(keyframe, OP), messages, len(params)


def garbage(valid: list[bytes], count: int) -> list[bytes]:
    """Random bytes, and the valid messages cut short, lengthened or with bytes flipped."""
    rng = random.Random(SEED)
    out = [b"", bytes([0xFF]), bytes(3)]
    for _ in range(count):
        base = rng.choice(valid)
        kind = rng.randrange(4)
        if kind == 0:
            out.append(rng.randbytes(rng.randrange(1, 300)))
        elif kind == 1:
            out.append(base[: rng.randrange(1, max(2, len(base)))])
        elif kind == 2:
            out.append(base + rng.randbytes(rng.randrange(1, 8)))
        else:
            flipped = bytearray(base)
            for _ in range(rng.randrange(1, 4)):
                flipped[rng.randrange(len(flipped))] ^= 1 << rng.randrange(8)
            out.append(bytes(flipped))
    return out


def test_garbage_on_both_channels_leaves_the_receiver_running(caplog) -> None:
    keyframe, messages, frames = real_messages()
    control = [
        encode_control(KeyframeRequest(KeyframeReason.START)),
        encode_control(ReceiverReport(3, 0, 0, 0)),
    ]
    junk = garbage([keyframe, *messages, *control], 300)

    async def scenario() -> None:
        played = Played()
        listener, dialer = await open_loopback_pair()
        async with listener, dialer:
            # Playout stops at the newest frame: however long a loaded machine stalls, it
            # cannot pass frames still on their way (they would come late, not drawn).
            session = ReceiveSession(listener, played, ReceiveConfig(max_hold_ms=0))
            receiving = asyncio.ensure_future(session.run())
            for message in junk:
                dialer.control.send(message)
                dialer.frames.send(message)
            dialer.control.send(keyframe)
            await until(lambda: session.stats.keyframes)  # behind the junk (ordered channel)
            for message, noise in zip(messages, junk, strict=False):
                dialer.frames.send(message)
                dialer.frames.send(noise)
                dialer.control.send(noise)
                await asyncio.sleep(0.04 * BUNDLE)
            await until(lambda: all_read(session, listener, dialer.stats.frames.messages_sent))
            assert not receiving.done()
            stats = session.stats
        await receiving

        assert stats.malformed > 100
        assert len(stats.keyframes) == 1
        # Every real frame decoded, and the real frames were drawn from their own parameters
        # to the end. (A mangled frames message often decodes into frames of its own: they
        # carry no checksum, DTLS guards the wire, so only the authenticated peer can send
        # them. Parked until the keyframe, such frames may start the output ahead of the first
        # real bundles.)
        assert stats.frames_decoded >= frames
        drawn = {f.params.seq for f, _ in played.frames if f.status == FrameStatus.RECEIVED}
        assert set(range(frames - 3 * BUNDLE, frames + 1)) <= drawn

    with caplog.at_level(logging.ERROR):
        run(scenario())
    # The codec raised nothing but BitstreamError (the receiver would survive it, logged).
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def all_read(session: ReceiveSession, call: Call, sent: int) -> bool:
    """The last of ``sent`` frames messages arrived and the session read everything that did
    (the junk's burst loses messages in SCTP and may overflow the session's queue: dropped
    unread)."""
    stats = call.stats
    read = session.stats.messages + stats.frames.overflowed
    return stats.received_sequence.expected == sent and read == stats.frames.messages_received


@pytest.mark.parametrize("channel", ["control", "frames"])
def test_garbage_from_the_receiver_leaves_the_sender_sending(channel: str) -> None:
    junk = garbage([encode_control(ReceiverReport(3, 0, 0, 0))], 100)

    async def scenario() -> None:
        listener, dialer = await open_loopback_pair()
        async with listener, dialer:
            sessions: list = []
            sending = asyncio.ensure_future(send_clip(dialer, frames=60, session=sessions))
            await until(lambda: sessions and sessions[0].stats.messages)
            sent_before = sessions[0].stats.messages
            for message in junk:
                getattr(listener, channel).send(message)
            stats = await sending

        assert stats.end is not None and stats.end.name == "SOURCE_ENDED"
        assert stats.messages > sent_before  # it went on sending after the junk
        if channel == "control":
            assert stats.malformed_control > 50

    run(scenario())


def test_a_call_that_ends_after_two_keyframes_and_no_frame_ends_cleanly() -> None:
    """The keyframes' own frames enter the concealer before any frames message arrived (a
    repeat caller whose crop moved before a frame crossed a narrow link)."""
    frames = [f for f in prior_frames(30) if f.params.face]
    face_prior = prior()
    keyframes = [encode_keyframe(face_prior.keyframe(f), OP) for f in (frames[0], frames[5])]
    face_prior.close()

    async def scenario() -> None:
        played = Played()
        listener, dialer = await open_loopback_pair()
        async with listener, dialer:
            session = ReceiveSession(listener, played)
            receiving = asyncio.ensure_future(session.run())
            for keyframe in keyframes:
                dialer.control.send(keyframe)
            await until(lambda: len(session.stats.keyframes) == 2)
            await dialer.close()
            stats = await receiving
        assert stats.frames_decoded == 0 and stats.malformed == 0
        # The first keyframe's own frame starts the output; the second's ends it.
        seqs = [f.params.seq for f, _ in played.frames]
        assert seqs == list(range(frames[0].params.seq, frames[5].params.seq + 1))

    run(scenario())
