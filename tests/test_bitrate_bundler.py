"""Bundling frames under a latency budget and a wire target (time injected, no sockets)."""

from __future__ import annotations

import itertools
import math

import pytest

from facecodec.bitrate.bundler import (
    FRAMES_MESSAGE_OVERHEAD_BYTES,
    Bundler,
    BundlingConfig,
    frames_wire_bytes,
)
from facecodec.bitrate.window import SlidingWindow

FRAME_MS = 40.0


def run_bundler(config: BundlingConfig, frame_bytes: int, seconds: float) -> list[list[float]]:
    """Feed one frame per 40 ms; return the capture times of each message's frames."""
    bundler: Bundler[float] = Bundler(config)
    messages: list[list[float]] = []

    def flush(now_ms: float) -> None:
        if bundle := bundler.due(now_ms):
            messages.append(bundle)
            bundler.on_sent(frame_bytes * len(bundle), now_ms)
            sent_at.append(now_ms)

    sent_at: list[float] = []
    for i in range(int(seconds * 1000 / FRAME_MS)):
        now_ms = i * FRAME_MS
        while (due := bundler.next_flush_ms) is not None and due < now_ms:
            flush(due)
        bundler.add(now_ms, now_ms)
        flush(now_ms)
    if (due := bundler.next_flush_ms) is not None:
        flush(due)
    for bundle, sent in zip(messages, sent_at, strict=True):
        assert sent - bundle[0] <= config.max_latency_ms  # the latency budget holds
    return messages


def test_without_a_wire_target_bundles_to_the_latency_budget() -> None:
    messages = run_bundler(BundlingConfig(max_latency_ms=200), frame_bytes=8, seconds=10)
    assert len(messages) == pytest.approx(10 * 1000 / 200, abs=1)
    assert {len(m) for m in messages[1:-1]} == {5}  # the first goes alone, at once
    assert sum(len(m) for m in messages) == 250  # every frame goes out once


def test_a_wire_target_sends_more_often_while_it_leaves_room() -> None:
    roomy = run_bundler(BundlingConfig(200, wire_bitrate_bps=20_000), frame_bytes=8, seconds=10)
    tight = run_bundler(BundlingConfig(200, wire_bitrate_bps=6_000), frame_bytes=8, seconds=10)
    assert len(roomy) > 2 * len(tight)
    for messages, target_bps in ((roomy, 20_000), (tight, 6_000)):
        wire_bps = sum(frames_wire_bytes(8 * len(m)) for m in messages) * 8 / 10
        assert 0.8 * target_bps < wire_bps <= 1.02 * target_bps


def test_a_wire_target_below_the_header_cost_is_refused_with_advice() -> None:
    headers_bps = FRAMES_MESSAGE_OVERHEAD_BYTES * 8 * 5  # five messages a second
    with pytest.raises(ValueError, match="raise the wire target or the max latency"):
        BundlingConfig(max_latency_ms=200, wire_bitrate_bps=headers_bps)
    BundlingConfig(max_latency_ms=1000, wire_bitrate_bps=headers_bps)


def test_the_sliding_window_forgets_what_left_it_without_being_asked() -> None:
    window = SlidingWindow()
    for i in range(10_000):  # 400 s of 25 fps frames, no total() in between
        window.add(i * 40.0, 10)
    assert len(window) == 25
    assert window.rate_bps(9_999 * 40.0) == 25 * 10 * 8


def test_a_bundle_never_holds_more_than_a_message_can_carry() -> None:
    """Frames that pile up (a stalled event loop releases a backlog at once) go out as full
    bundles, each due at once, none past ``max_items``."""
    bundler: Bundler[int] = Bundler(BundlingConfig(max_latency_ms=1000, max_items=4))
    for seq in range(10):
        bundler.add(seq, 0.0)
    bundles = []
    while bundle := bundler.due(0.0):
        bundles.append(bundle)
    assert bundles == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert bundler.next_flush_ms is None


def test_a_minimum_interval_spaces_the_messages_past_the_latency_budget() -> None:
    """A refinement's spacing: each message at least that far from the last, every frame
    out once."""
    bundler: Bundler[float] = Bundler(BundlingConfig(1000, wire_bitrate_bps=8000))
    bundler.min_interval_ms = 1110.0
    sent_at: list[float] = []
    frames = 0
    for i in range(250):
        now_ms = i * FRAME_MS
        bundler.add(now_ms, now_ms)
        if bundle := bundler.due(now_ms):
            sent_at.append(now_ms)
            frames += len(bundle)
            bundler.on_sent(8 * len(bundle), now_ms)
    assert bundler.next_message_ms(10_000.0) == bundler.next_flush_ms
    frames += len(bundler.due(math.inf))
    assert frames == 250
    assert len(sent_at) > 5
    assert min(b - a for a, b in itertools.pairwise(sent_at)) >= 1110.0


def test_a_full_bundle_spaced_past_the_latency_keeps_its_time_and_its_newest_frames() -> None:
    """A refinement taking turns spaces messages 3.4 s apart, longer than a full bundle's 64
    frames last: the bundle is not sent early (in the parts' turn, with no room for a frame)
    but at its time, with the newest frames; the older ones are counted as dropped."""
    bundler: Bundler[int] = Bundler(BundlingConfig(1000, wire_bitrate_bps=4000))
    bundler.add(-1, 0.0)
    assert bundler.due(0.0) == [-1]
    bundler.min_interval_ms = 3400.0
    dropped = sum(bundler.add(seq, seq * FRAME_MS) for seq in range(1, 86))
    assert bundler.due(84 * FRAME_MS) == []
    bundle = bundler.due(85 * FRAME_MS)
    assert bundle == list(range(22, 86)) and dropped == 85 - 64
    bundler.min_interval_ms = 0.0
    assert sum(bundler.add(seq, 0.0) for seq in range(64)) == 0
    assert len(bundler.due(0.0)) == 64
