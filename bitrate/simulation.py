"""A sender driven by synthetic content and path conditions, without sockets.

It runs the loop the ``send`` command runs: per captured frame ask the controller, bundle the
frames that ``codec.is_sent`` keeps, send each bundle when it is due (dropping its oldest frames
if it would break the 1-second bound), feed back a receiver report every second. Frame sizes
come from the rate-distortion table, scaled by how costly the content is at that moment.
A scenario's path can have a bottleneck (``link_bps``): a first-in first-out queue drained at
that rate in wire bytes, which drops what arrives when it already holds ``link_queue_ms``; the
reports then carry each message's one-way delay as a real receiver's do.

``python -m facecodec.bitrate.simulation`` prints achieved rates at 1, 2 and 8 kbps and writes
each run's decision log and plot to ``runs/bitrate/``.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from facecodec.transport.feedback import DelaySample, LinkFeedback
from facecodec.transport.report import ReceiverReport
from facecodec.types import OperatingPoint

from .bundler import Bundler, BundlingConfig, frames_wire_bytes
from .controller import Controller, ControllerConfig
from .log import DecisionLog
from .table import RatePoint, RateTable
from .window import SlidingWindow

if TYPE_CHECKING:
    from facecodec.transport.call import Call

KEYFRAME_BYTES = 6000
FRAME_SIZE_SPREAD = 0.3
"""Log-normal spread of one frame's size around the content's mean."""
REPORT_INTERVAL_MS = 1000.0
BASE_DELAY_MS = 50.0
"""One-way delay of the simulated path without a queue."""


def still_then_talking(t_s: float) -> float:
    """Content cost over time: still face, talking, a burst of head motion, still again."""
    if t_s < 10:
        return 0.4
    if t_s < 25:
        return 1.3
    if t_s < 30:
        return 3.0
    return 0.5


def clear_path(t_s: float) -> tuple[float, float]:
    """(loss fraction, round-trip ms) of a healthy path."""
    return 0.0, 40.0


@dataclass(frozen=True)
class Scenario:
    duration_s: float = 40.0
    capture_fps: float = 25.0
    content: Callable[[float], float] = still_then_talking
    """Content cost relative to the table at time t (s)."""
    path: Callable[[float], tuple[float, float]] = clear_path
    """(loss fraction, round-trip ms) at time t (s)."""
    keyframe_requests_s: tuple[float, ...] = ()
    keyframe_bytes: int = KEYFRAME_BYTES
    seed: int = 0
    link_bps: Callable[[float], float] | None = None
    """Bottleneck rate in wire bits per second at time t (s); None: no bottleneck."""
    link_queue_ms: float = 2000.0
    """The bottleneck drops a message that finds this much queued before it."""


@dataclass
class Run:
    """What the simulated sender sent."""

    messages: list[tuple[float, int, int]] = field(default_factory=list)
    """(t_ms, payload bytes, wire bytes) of each frames message."""
    keyframes_ms: list[float] = field(default_factory=list)
    points: list[tuple[float, OperatingPoint]] = field(default_factory=list)
    """(t_ms, point) of every captured frame."""
    latencies_ms: list[float] = field(default_factory=list)
    """Capture to send of every frame sent."""
    dropped_frames: int = 0
    link_drops_ms: list[float] = field(default_factory=list)
    """When the bottleneck dropped a message."""
    queue_delays: list[tuple[float, float]] = field(default_factory=list)
    """(send ms, time the message waited in the bottleneck's queue)."""

    def max_window_bytes(self, wire: bool = False) -> float:
        """Most payload (or wire) bytes in any 1-second window."""
        window, peak = SlidingWindow(), 0.0
        for t_ms, payload, wire_bytes in self.messages:
            window.add(t_ms, wire_bytes if wire else payload)
            peak = max(peak, window.total(t_ms))
        return peak

    def mean_bps(self, start_s: float, end_s: float, wire: bool = False) -> float:
        column = 2 if wire else 1
        sent = sum(m[column] for m in self.messages if start_s * 1000 <= m[0] < end_s * 1000)
        return 8 * sent / (end_s - start_s)


class SyntheticSender:
    """The send loop with synthetic frames: ``frame`` per capture, ``flush`` when the bundler
    says, ``feedback`` per receiver report; ``transmit`` gets each message's payload."""

    def __init__(
        self,
        controller: Controller,
        scenario: Scenario,
        transmit: Callable[[bytes, float], None] = lambda payload, now_ms: None,
        run: Run | None = None,
        call: Call | None = None,
    ) -> None:
        self.controller = controller
        self.scenario = scenario
        self.bundler: Bundler[tuple[int, float, float]] = Bundler(controller.config.bundling)
        self.run = run or Run()
        self._transmit = transmit
        self._call = call
        """A real call: keyframes go on its control channel and its wire bytes count."""
        self._random = random.Random(scenario.seed)

    def frame(self, seq: int, now_ms: float) -> None:
        decision = self.controller.on_frame(now_ms)
        self.run.points.append((now_ms, decision.point))
        if decision.keyframe:
            if self._call is not None:
                self._call.control.send(self._random.randbytes(self.scenario.keyframe_bytes))
            self.controller.on_keyframe_sent(self.scenario.keyframe_bytes, now_ms)
            self.run.keyframes_ms.append(now_ms)
        if seq % decision.point.frame_interval == 0:  # codec.is_sent
            row = _row(self.controller.table, decision.point)
            mean = row.bytes_per_frame * self.scenario.content(now_ms / 1000)
            spread = self._random.gauss(-(FRAME_SIZE_SPREAD**2) / 2, FRAME_SIZE_SPREAD)
            self.bundler.add((seq, now_ms, mean * math.exp(spread)), now_ms)

    def flush(self, now_ms: float) -> None:
        frames = self.bundler.due(now_ms)
        if self._call is not None:
            self.controller.on_wire_total(self._call.stats.wire_bytes_sent, now_ms)
        room = self.controller.room_bytes(now_ms)
        while frames and _message_bytes(self.controller.table, frames) > room:
            frames.pop(0)
            self.run.dropped_frames += 1
            self.controller.on_dropped(1, now_ms)
        if not frames:
            return
        payload = _message_bytes(self.controller.table, frames)
        self.controller.on_message(payload, len(frames), now_ms)
        self.bundler.on_sent(payload, now_ms)
        self.run.messages.append((now_ms, payload, frames_wire_bytes(payload)))
        self.run.latencies_ms.extend(now_ms - captured for _, captured, _ in frames)
        self._transmit(self._random.randbytes(payload), now_ms)

    def feedback(self, feedback: LinkFeedback, now_ms: float) -> None:
        self.controller.on_feedback(feedback, now_ms)


class _SyntheticPath:
    """Receiver reports made from the scenario's loss, round-trip time and bottleneck."""

    def __init__(self, scenario: Scenario, run: Run) -> None:
        self._scenario = scenario
        self._run = run
        self._free_ms = 0.0
        """When the bottleneck has sent everything queued so far."""
        self._in_flight: list[tuple[float, float, int]] = []
        """(send ms, arrival ms, bytes) of messages not yet reported."""

    def carry(self, payload: bytes, now_ms: float) -> None:
        link = self._scenario.link_bps
        if link is None:
            self._in_flight.append((now_ms, now_ms + BASE_DELAY_MS, len(payload)))
            return
        waited_ms = max(0.0, self._free_ms - now_ms)
        if waited_ms > self._scenario.link_queue_ms:
            self._run.link_drops_ms.append(now_ms)
            return
        self._run.queue_delays.append((now_ms, waited_ms))
        self._free_ms = (
            now_ms + waited_ms + frames_wire_bytes(len(payload)) * 8000 / link(now_ms / 1000)
        )
        self._in_flight.append((now_ms, self._free_ms + BASE_DELAY_MS, len(payload)))

    def report(self, now_ms: float) -> LinkFeedback:
        loss, rtt_ms = self._scenario.path(now_ms / 1000)
        arrived = [m for m in self._in_flight if m[1] <= now_ms]
        self._in_flight = [m for m in self._in_flight if m[1] > now_ms]
        throughput = (1 - loss) * sum(m[2] for m in arrived) * 8000 / REPORT_INTERVAL_MS
        delays = tuple(
            DelaySample(send, arrival) for send, arrival, _ in sorted(arrived, key=lambda m: m[1])
        )
        report = ReceiverReport(0, 0, 0, 0, 0, 0, 0, round(now_ms))
        return LinkFeedback(now_ms, loss, rtt_ms, throughput, report, delays)


def _row(table: RateTable, point: OperatingPoint) -> RatePoint:
    return next(row for row in table.points if row.point == point)


def _message_bytes(table: RateTable, frames: list[tuple[int, float, float]]) -> int:
    return math.ceil(table.bytes_per_message + sum(size for _, _, size in frames))


def simulate(
    config: ControllerConfig,
    table: RateTable,
    scenario: Scenario,
    log: DecisionLog | None = None,
) -> Run:
    """Run ``scenario`` through a controller of ``config``; events in time order."""
    run = Run()
    path = _SyntheticPath(scenario, run)
    sender = SyntheticSender(Controller(config, table, log), scenario, path.carry, run)
    frame_ms = 1000 / scenario.capture_fps
    next_report_ms = REPORT_INTERVAL_MS
    requests = sorted(t * 1000 for t in scenario.keyframe_requests_s)
    for seq in range(int(scenario.duration_s * scenario.capture_fps)):
        now_ms = seq * frame_ms
        while (flush_ms := sender.bundler.next_flush_ms) is not None and flush_ms < now_ms:
            sender.flush(flush_ms)
        if now_ms >= next_report_ms:
            sender.feedback(path.report(now_ms), now_ms)
            next_report_ms += REPORT_INTERVAL_MS
        while requests and requests[0] <= now_ms:
            sender.controller.request_keyframe(requests.pop(0))
        sender.frame(seq, now_ms)
        sender.flush(now_ms)
    return sender.run


def example_table() -> RateTable:
    """A plausible table for simulations until the measured one exists: bytes grow with the
    coefficients sent and finer quantisation, distortion falls with them."""
    rows = []
    for dims in (4, 8, 16, 32, 50):
        for keypoints in (0, 8, 20):
            for level, bits in ((1, 3.0), (2, 2.0), (3, 1.2)):
                for interval in (1, 2, 3):
                    coefficients = 6 + dims + 3 * keypoints
                    distortion = 8 / dims + 1.5 / (1 + keypoints) + 0.4 * level + 0.5 * interval
                    point = OperatingPoint(keypoints, dims, level, interval)
                    rows.append(RatePoint(point, coefficients * bits / 8, distortion))
    return RateTable(tuple(rows), bytes_per_message=4.0)


def main() -> None:
    from .plot import plot_log

    out = Path("runs/bitrate")
    out.mkdir(parents=True, exist_ok=True)
    table, scenario = example_table(), Scenario()
    print("target   payload  max 1-s window  wire    latency p95  dropped frames")
    for target_bps in (1000, 2000, 8000):
        log_path = out / f"sim_{target_bps}bps.jsonl"
        with log_path.open("w") as stream:
            run = simulate(ControllerConfig(target_bps), table, scenario, DecisionLog(stream))
        latencies = sorted(run.latencies_ms)
        print(
            f"{target_bps / 1000:4.0f}kbps {run.mean_bps(1, scenario.duration_s):7.0f}  "
            f"{run.max_window_bytes() * 8:7.0f} bit/s  "
            f"{run.mean_bps(1, scenario.duration_s, wire=True):7.0f}  "
            f"{latencies[int(0.95 * len(latencies))]:6.0f} ms  {run.dropped_frames}"
        )
        plot_log(log_path, log_path.with_suffix(".png"))
    print(f"logs and plots in {out}/ (bundling: {BundlingConfig().max_latency_ms:.0f} ms)")


if __name__ == "__main__":
    main()
