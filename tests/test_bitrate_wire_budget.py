"""The wire budget's look ahead for what the end sends without scheduling it (the
acknowledgements it owes): time passed in, no transport."""

from __future__ import annotations

from facecodec.bitrate.bundler import FRAMES_MESSAGE_OVERHEAD_BYTES
from facecodec.bitrate.wire_budget import WireBudget
from facecodec.transport.overhead import SACK_WIRE_BYTES

RATE_BPS = 4000
LINK_BYTES = RATE_BPS // 8
"""What the link carries in a second."""
STEP_MS = 10


def largest_window(sent: list[tuple[int, float]]) -> float:
    """Most bytes any 1-second window of ``sent`` ((time ms, bytes)) holds."""
    return max(sum(b for s, b in sent if t - 1000 < s <= t) for t, _ in sent)


def run(period_ms: int, acknowledged_at: tuple[int, ...], part_bytes: int, seconds: int):
    """A frames message every ``period_ms`` as large as the budget holds (a link's second at
    most), acknowledgements of ``SACK_WIRE_BYTES`` owed ``acknowledged_at`` ms after each
    (counted once sent), and parts of ``part_bytes`` whenever the budget holds one: what went
    out, and how many parts."""
    budget = WireBudget(RATE_BPS, 1000)
    sent: list[tuple[int, float]] = []
    parts = 0
    for t in range(0, seconds * 1000, STEP_MS):
        since = t % period_ms
        if since in acknowledged_at:
            budget.add_unscheduled(SACK_WIRE_BYTES, t)
            sent.append((t, SACK_WIRE_BYTES))
        if since == 0:
            size = min(LINK_BYTES, budget.room_bytes(t))
            budget.add(size, t)
            sent.append((t, size))
        elif budget.room_bytes(t, [(t - since + period_ms, LINK_BYTES)]) >= part_bytes:
            budget.add(part_bytes, t)
            sent.append((t, part_bytes))
            parts += 1
    return sent, parts


def test_a_pair_of_acknowledgements_behind_each_sparse_frames_message_is_kept_room_for() -> None:
    """Frames messages 2.4 s apart (a refinement on a narrow link), each answered by two
    reports whose acknowledgements go out 300 and 400 ms later: each message leaves room for
    the pair though the last pair is 2 s old when it goes, so no second holds more than the
    link carries (once the budget has seen a pair: the first message goes before any)."""
    sent, parts = run(2400, (300, 400), 200, 30)
    assert largest_window([entry for entry in sent if entry[0] > 400]) <= LINK_BYTES
    assert parts > 0


def test_on_a_2_kbps_link_a_pair_of_acknowledgements_leaves_room_for_a_frames_message() -> None:
    """At 2 kbps a pair of acknowledgements is 186 B of the link's 250 B second: reserved in
    full, no frames message would ever go again. The reservation leaves room for one with
    some payload."""
    budget = WireBudget(2000, 1000)
    for start in (0, 2400, 4800):
        for after in (300, 400):
            budget.add_unscheduled(SACK_WIRE_BYTES, start + after)
    assert budget.room_bytes(7200) > FRAMES_MESSAGE_OVERHEAD_BYTES


def test_a_call_s_first_seconds_keep_room_for_a_second_acknowledgement() -> None:
    """Until the measure spans 5 s, one acknowledgement seen means a pair may come in one
    window: a frames message then leaves room for the second. Later, with acknowledgements seen
    only one to a window, it leaves room for one."""
    early, late = WireBudget(RATE_BPS, 1000), WireBudget(RATE_BPS, 1000)
    early.add(0, 0)  # the call's first count
    early.add_unscheduled(SACK_WIRE_BYTES, 3000)
    for t in range(0, 6000, 1500):
        late.add_unscheduled(SACK_WIRE_BYTES, t)
    assert early.room_bytes(3500) == LINK_BYTES - 2 * SACK_WIRE_BYTES
    assert late.room_bytes(6100) == LINK_BYTES - SACK_WIRE_BYTES
