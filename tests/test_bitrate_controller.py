"""The controller on synthetic traces: content that changes, paths that degrade, requests.

Pure logic with injected time, as aiortc's test_rate.py drives its estimator.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from facecodec.bitrate.bundler import BundlingConfig
from facecodec.bitrate.controller import Controller, ControllerConfig
from facecodec.bitrate.log import DecisionLog, read_log
from facecodec.bitrate.plot import plot_log
from facecodec.bitrate.simulation import (
    Run,
    Scenario,
    example_table,
    simulate,
    still_then_talking,
)
from facecodec.bitrate.table import RateTable

TABLE = example_table()


def constant(value: float):
    return lambda t_s: value


def spiky(t_s: float) -> float:
    """Talking with a burst of fast motion every 3 seconds."""
    return 5.0 if t_s % 3 < 0.5 else 1.0 + 0.5 * math.sin(t_s)


def lossy_between(start_s: float, end_s: float, loss: float = 0.3):
    return lambda t_s: (loss if start_s <= t_s < end_s else 0.0, 40.0)


def narrow_between(start_s: float, end_s: float, link_bps: float = 6000.0):
    """A 20 kbps bottleneck that narrows to ``link_bps`` (wire) for a while."""
    return lambda t_s: link_bps if start_s <= t_s < end_s else 20000.0


SCENARIOS = {
    "still-then-talking": Scenario(content=still_then_talking),
    "spiky": Scenario(content=spiky, seed=1),
    "lossy": Scenario(content=constant(1.0), path=lossy_between(10, 20), seed=2),
    "queueing": Scenario(content=spiky, link_bps=narrow_between(10, 20), seed=3),
    "requests": Scenario(keyframe_requests_s=(5.0, 5.3, 12.0), seed=4),
}


def mean_distortion(run: Run, table: RateTable) -> float:
    distortion = {row.point: row.distortion for row in table.points}
    return sum(distortion[point] for _, point in run.points) / len(run.points)


@pytest.mark.parametrize("target_bps", [500, 1000, 2000, 8000])
@pytest.mark.parametrize("name", list(SCENARIOS))
def test_payload_never_exceeds_the_target_by_more_than_10_percent_in_any_second(
    target_bps: int, name: str
) -> None:
    run = simulate(ControllerConfig(target_bps), TABLE, SCENARIOS[name])
    assert run.max_window_bytes() * 8 <= 1.1 * target_bps
    assert run.mean_bps(0, 40) > 0.3 * target_bps  # not met by sending nothing


@pytest.mark.parametrize("target_bps", [1000, 2000, 8000])
def test_uses_its_budget_on_a_clear_path(target_bps: int) -> None:
    run = simulate(ControllerConfig(target_bps), TABLE, Scenario(content=constant(1.0)))
    assert 0.7 * target_bps < run.mean_bps(2, 40) <= target_bps
    assert run.dropped_frames <= 3


def test_a_still_face_gets_finer_points_than_a_talking_one() -> None:
    config = ControllerConfig(2000)
    still = simulate(config, TABLE, Scenario(content=constant(0.4)))
    talking = simulate(config, TABLE, Scenario(content=constant(1.5)))
    assert mean_distortion(still, TABLE) < 0.8 * mean_distortion(talking, TABLE)
    # Both spend about the same: the still face buys quality, not savings it cannot use.
    assert still.mean_bps(2, 40) == pytest.approx(talking.mean_bps(2, 40), rel=0.25)


def test_backs_off_when_the_path_loses_and_recovers_after() -> None:
    path = lossy_between(10, 16)
    run = simulate(ControllerConfig(2000), TABLE, Scenario(content=constant(1.0), path=path))
    before, during, after = run.mean_bps(3, 10), run.mean_bps(13, 16), run.mean_bps(36, 40)
    assert during < 0.75 * before
    assert after > 0.85 * before


def test_keyframes_at_the_start_and_on_request_merged_within_a_second() -> None:
    run = simulate(ControllerConfig(2000), TABLE, SCENARIOS["requests"])
    assert run.keyframes_ms == [0.0, 5000.0, 12000.0]


def test_keyframe_request_right_after_one_waits_its_second() -> None:
    controller = Controller(ControllerConfig(2000), TABLE)
    assert controller.on_frame(0).keyframe
    controller.request_keyframe(now_ms=500)
    assert not controller.on_frame(520).keyframe
    controller.request_keyframe(now_ms=1000)
    assert controller.on_frame(1040).keyframe


def test_a_wire_target_holds_in_every_second_within_the_latency_budget() -> None:
    bundling = BundlingConfig(max_latency_ms=400, wire_bitrate_bps=5000)
    run = simulate(ControllerConfig(4000, bundling), TABLE, Scenario(content=constant(1.0)))
    assert run.max_window_bytes(wire=True) * 8 <= 5000
    assert run.mean_bps(2, 40, wire=True) > 0.7 * 5000
    assert max(run.latencies_ms) <= 400
    # The wire target, not the payload target, is what limits here: headers at 2.5
    # messages a second take 2 kbps of it.
    assert run.mean_bps(2, 40) < 0.8 * (5000 - bundling.min_wire_bps)


def test_decisions_are_logged_and_plotted(tmp_path: Path) -> None:
    log_path = tmp_path / "run.jsonl"
    with log_path.open("w") as stream:
        run = simulate(ControllerConfig(2000), TABLE, SCENARIOS["spiky"], DecisionLog(stream))
    trace = read_log(log_path)
    assert trace.target_bps == 2000
    assert [(t, p) for t, p, _ in trace.messages] == [(t, p) for t, p, _ in run.messages]
    assert [t for t, _ in trace.keyframes] == run.keyframes_ms
    assert len(trace.budget) >= 1
    png = plot_log(log_path, tmp_path / "run.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000


def test_a_live_clock_log_reads_back_from_zero(tmp_path: Path) -> None:
    """A call logs monotonic-clock times (hours since boot); the plot's axis starts at 0."""
    log_path = tmp_path / "call.jsonl"
    boot_ms = 12_287_522.4
    with log_path.open("w") as stream:
        controller = Controller(ControllerConfig(2000), TABLE, DecisionLog(stream))
        controller.on_frame(boot_ms)
        controller.on_keyframe_sent(9000, boot_ms)
        controller.on_message(20, 1, boot_ms + 40)
    trace = read_log(log_path)
    assert trace.keyframes == [(0.0, 9000)]
    assert trace.messages[0][0] == pytest.approx(40.0)


def test_sparse_messages_measure_the_content_over_several() -> None:
    """Frames messages 2.4 s apart (a refinement on a narrow link) whose frames cost 1.5 and
    2.5 times the table's by turns: the content factor is the mean over the last four, not
    the last message's, so the operating point does not follow each message."""
    controller = Controller(ControllerConfig(2000, BundlingConfig(1000, 4000)), TABLE)
    point = controller.on_frame(0).point
    row = next(row for row in TABLE.points if row.point == point)
    factors = []
    for k in range(12):
        factor = 1.5 if k % 2 else 2.5
        frames_bytes = 10 * row.bytes_per_frame * factor
        controller.on_message(round(TABLE.bytes_per_message + frames_bytes), 10, 2400.0 * k)
        factors.append(controller.content_factor)
    assert all(f == pytest.approx(2.0, abs=0.05) for f in factors[3:])
