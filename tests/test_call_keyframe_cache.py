"""The keyframe cache in real calls: aiortc peers on loopback through an emulated 16 kbps link,
a clip of a held-out person through the real prior, codec and controller, the sender's and the
receiver's caches in folders of their own; nothing rendered (what is sent does not depend on
it). A first call fills both caches; a second by the same caller sends no image, unless the
receiver's entry was changed on disk, which it then refuses."""

from __future__ import annotations

import asyncio
import dataclasses
import math
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from call_inputs import SEND as PLAIN_SEND
from call_inputs import TARGET_BPS, Played, delivered, link_lost, run, send_clip, until

from facecodec.call.keyframe_cache import RECEIVED, SENT, KeyframeCache, KeyframeCacheConfig
from facecodec.call.receive_session import ReceiveSession, ReceiveStats
from facecodec.call.send_session import SendConfig, SendStats
from facecodec.call.sent_keyframes import SentKeyframes
from facecodec.codec import CachedKeyframe
from facecodec.transport import CallConfig
from facecodec.transport.call import open_loopback_pair
from facecodec.transport.link_emulator import LinkConfig, LinkStats

LINK = LinkConfig(rate_bps=16_000, delay_ms=100)
SEND = SendConfig(
    TARGET_BPS, max_frame_age_ms=math.inf, wire_bitrate_bps=LINK.rate_bps, max_latency_ms=1000
)
"""With the link's rate as the wire target keyframes are progressive, as on a narrow link."""
FRAMES = 50


@dataclass
class Ends:
    sent: SendStats
    received: ReceiveStats
    played: Played
    forward: LinkStats
    cache: KeyframeCache
    """The receiver's."""


async def _call(root: Path, refined: bool) -> Ends:
    """One call with the caches under ``root``; with ``refined``, on until the receiver has a
    full progressive keyframe."""
    listener, dialer = await open_loopback_pair(
        CallConfig(link=dataclasses.replace(LINK, seed=1)), CallConfig(link=LINK)
    )
    config = KeyframeCacheConfig(root)
    cache = config.store(RECEIVED)
    played = Played()
    async with listener, dialer:
        session = ReceiveSession(listener, played, cache=cache)
        receiving = asyncio.ensure_future(session.run())
        sent = await send_clip(
            dialer,
            FRAMES,
            done=(lambda: bool(session.stats.refined)) if refined else None,
            send_config=SEND,
            kept=SentKeyframes(config.store(SENT)),
        )
        arrived = delivered(lambda: session.stats.messages, sent, dialer)
        await until(lambda: len(session.stats.refined) == sent.refinements and arrived())
        assert session.stats.messages >= sent.messages - link_lost(dialer)
        forward = dialer.stats.link
    received = await receiving
    assert forward is not None
    return Ends(sent, received, played, forward, cache)


@pytest.fixture(scope="module")
def first_call(tmp_path_factory) -> tuple[Path, Ends]:
    """A first call: the caller's keyframe goes progressively and both ends keep it."""
    root = tmp_path_factory.mktemp("first-call")
    return root, run(_call(root, refined=True), timeout_s=300)


def _caches_after(first_call, tmp_path: Path) -> Path:
    """A copy of the caches the first call left (each test changes its own)."""
    root, _ = first_call
    shutil.copytree(root, tmp_path / "cache")
    return tmp_path / "cache"


def test_a_first_call_keeps_the_full_keyframe_at_both_ends(first_call):
    root, first = first_call
    assert first.sent.cached_keyframes == [] and first.received.cached_keyframes == []
    assert first.sent.keyframes and first.received.refined
    kept = [key for key, _ in first.cache.entries()]
    sent = [key for key, _ in KeyframeCacheConfig(root).store(SENT).entries()]
    assert kept and sent and sent[0] in kept


def test_a_repeat_caller_sends_no_image_and_is_drawn_from_the_cached_keyframe(first_call, tmp_path):
    _, first = first_call
    second = run(_call(_caches_after(first_call, tmp_path), refined=False), timeout_s=300)

    # The sender named its kept keyframe, the receiver had it: no keyframe message, no part.
    assert second.sent.cached_keyframes == [True] == second.received.cached_keyframes
    assert second.sent.keyframes == second.received.keyframes == []
    assert second.sent.keyframe_parts == 0 and second.received.refined == []
    assert second.cache.refused == 0
    # Everything that crossed the link forward (frames, control, acknowledgements) is less
    # than the image the first call sent.
    assert second.forward.bytes_delivered < first.received.refined[0]
    # The faces were drawn from the full keyframe the first call completed, at this call's seq.
    newest = max(i for i, complete in enumerate(first.played.complete) if complete)
    full = first.played.keyframes[newest]
    cached = second.played.keyframes[0]
    assert second.played.complete[0]
    assert np.array_equal(cached.image, full.image)
    assert np.array_equal(cached.identity, full.identity)
    assert second.received.frames_decoded > 0
    assert any(frame.params.face for frame, _ in second.played.frames)
    assert second.received.unreferenced == second.received.malformed == 0


def test_a_cached_keyframe_changed_on_disk_is_refused_and_the_image_is_sent(first_call, tmp_path):
    root = _caches_after(first_call, tmp_path)
    offered, _ = next(KeyframeCacheConfig(root).store(SENT).entries())
    path = root / RECEIVED / f"{offered.hex()}.kf"
    tampered = bytearray(path.read_bytes())
    tampered[len(tampered) // 2] ^= 0x10  # bytes changed under their key
    path.write_bytes(bytes(tampered))

    second = run(_call(root, refined=True), timeout_s=300)

    assert second.cache.refused == 1
    assert second.sent.cached_keyframes == [False] == second.received.cached_keyframes
    assert second.sent.keyframes and second.received.keyframes
    assert second.played.complete[0] is False  # the progressive first version, as sent
    assert second.received.refined
    # The changed bytes are gone; the keyframe sent again is kept (each entry matches its key).
    assert not (path.exists() and path.read_bytes() == bytes(tampered))
    assert [key for key, _ in second.cache.entries()] and second.cache.refused == 1


class OlderReceiver(ReceiveSession):
    """A receiver of before the keyframe cache: a cached keyframe message is an unknown type to
    it, counted as malformed and dropped, and never answered."""

    def _on_cached_keyframe(self, named: CachedKeyframe) -> None:
        self._stats.malformed += 1


def test_without_an_answer_the_sender_sends_the_keyframe(first_call, tmp_path):
    root = _caches_after(first_call, tmp_path)
    config = dataclasses.replace(PLAIN_SEND, cache_answer_ms=500.0)
    played = Played()

    async def scenario() -> tuple[SendStats, ReceiveStats]:
        listener, dialer = await open_loopback_pair(CallConfig(), CallConfig())
        async with listener, dialer:
            session = OlderReceiver(listener, played)
            receiving = asyncio.ensure_future(session.run())
            kept = SentKeyframes(KeyframeCacheConfig(root).store(SENT))
            sent = await send_clip(
                dialer,
                FRAMES,
                done=lambda: bool(session.stats.frames_decoded),
                send_config=config,
                kept=kept,
            )
            await until(lambda: session.stats.messages == sent.messages)
        return sent, await receiving

    sent, received = run(scenario())
    assert sent.cached_keyframes == [False] and received.malformed == 1
    assert len(sent.keyframes) >= 1 and received.keyframes == sent.keyframes
    assert played.complete[0] and received.frames_decoded > 0
    assert received.unreferenced == 0
