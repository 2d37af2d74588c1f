"""The send loop over a real call on loopback, with synthetic frames: what the controller
achieves on the wire, measured.

``python -m facecodec.bitrate.loopback [--seconds 20] [--loss 0.1]`` runs one call per target
(1, 2 and 8 kbps), prints payload and wire bit rates, and writes the decision logs and plots to
``runs/bitrate/``. Wire bytes are both estimated (transport.overhead) and measured from
aiortc's DTLS counters, in each direction.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
from dataclasses import dataclass
from pathlib import Path

from facecodec.transport import eventloop
from facecodec.transport.call import Call, CallConfig, open_loopback_pair
from facecodec.transport.impairment import Impairment
from facecodec.transport.link_emulator import LinkConfig, LinkStats
from facecodec.transport.overhead import UDP_IPV4_HEADER_BYTES

from .controller import Controller, ControllerConfig
from .log import DecisionLog
from .plot import plot_log
from .simulation import Run, Scenario, SyntheticSender, example_table
from .table import RateTable

TARGETS_BPS = (1000, 2000, 8000)
SETTLE_MS = 2000.0
"""Rates are averaged from here on (after start-up)."""


@dataclass(frozen=True)
class LoopbackResult:
    target_bps: float
    payload_bps: float
    frames_wire_bps: float
    """Estimated wire rate of the frames messages alone (what the controller steers)."""
    wire_estimated_bps: float
    """Sender to receiver, everything: frames, acknowledgements of the receiver's reports."""
    wire_measured_bps: float
    reverse_estimated_bps: float
    """Receiver to sender: SCTP acknowledgements and receiver reports."""
    reverse_measured_bps: float
    max_window_bps: float
    """Most payload in any 1-second window."""
    max_wire_window_bps: float
    """Most frames-message wire bytes in any 1-second window."""
    first_message_ms: float
    """When the first frames message went, after the keyframe."""
    latency_p95_ms: float
    """Capture to send (bundling), 95th percentile."""
    delivered: float
    """Share of the frames messages that reached the receiver."""
    rtt_ms: float | None
    link: LinkStats | None
    """What the emulated link under the sender did, if there is one."""


class RunClock:
    """Milliseconds since the call started, on the event loop's clock."""

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._start = self._loop.time()

    def __call__(self) -> float:
        return (self._loop.time() - self._start) * 1000

    async def sleep_until(self, t_ms: float) -> None:
        await asyncio.sleep(max(0.0, (t_ms - self()) / 1000))


def _dtls_wire_bytes(call: Call) -> int:
    # aiortc keeps the DTLS counters private; they count every datagram it sends.
    stats = next(iter(call.peer_connection.sctp.transport._get_stats().values()))
    return stats.bytesSent + UDP_IPV4_HEADER_BYTES * stats.packetsSent


async def _drain(call: Call) -> None:
    async for _ in call.frames:
        pass


async def _forward_reports(call: Call, sender: SyntheticSender, clock: RunClock) -> None:
    async for feedback in call.feedback:
        sender.feedback(feedback, clock())


async def _send_frames(sender: SyntheticSender, scenario: Scenario, clock: RunClock) -> None:
    frame_ms = 1000 / scenario.capture_fps
    for seq in range(int(scenario.duration_s * scenario.capture_fps)):
        while (flush_ms := sender.bundler.next_flush_ms) is not None and flush_ms < seq * frame_ms:
            await clock.sleep_until(flush_ms)
            sender.flush(clock())
        await clock.sleep_until(seq * frame_ms)
        sender.frame(seq, clock())
        sender.flush(clock())


@dataclass(frozen=True)
class _Counters:
    at_ms: float
    frames: int
    forward_estimated: int
    forward_measured: int
    reverse_estimated: int
    reverse_measured: int

    @classmethod
    def read(cls, clock: RunClock, sender: Call, receiver: Call) -> _Counters:
        return cls(
            clock(),
            sender.stats.frames.wire_bytes_sent,
            sender.stats.wire_bytes_sent,
            _dtls_wire_bytes(sender),
            receiver.stats.wire_bytes_sent,
            _dtls_wire_bytes(receiver),
        )

    def bps_since(self, start: _Counters) -> list[float]:
        seconds = (self.at_ms - start.at_ms) / 1000
        fields = dataclasses.astuple(self)[1:], dataclasses.astuple(start)[1:]
        return [8 * (end - begin) / seconds for end, begin in zip(*fields, strict=True)]


async def run_call(
    config: ControllerConfig,
    table: RateTable,
    scenario: Scenario,
    log: DecisionLog | None = None,
    impairment: Impairment | None = None,
    link: LinkConfig | None = None,
) -> LoopbackResult:
    """One call of ``scenario.duration_s`` over loopback, the controller sending (its
    keyframes of ``scenario.keyframe_bytes`` random bytes too), through ``link`` if given."""
    listener, dialer = await open_loopback_pair(
        CallConfig(), CallConfig(impairment=impairment, link=link)
    )
    async with listener, dialer:
        clock = RunClock()
        sender = SyntheticSender(
            Controller(config, table, log),
            scenario,
            lambda data, _: dialer.frames.send(data),
            call=dialer,
        )
        background = [
            asyncio.ensure_future(_drain(listener)),
            asyncio.ensure_future(_forward_reports(dialer, sender, clock)),
        ]
        sending = asyncio.ensure_future(_send_frames(sender, scenario, clock))
        await clock.sleep_until(SETTLE_MS)
        start = _Counters.read(clock, dialer, listener)
        await sending
        end = _Counters.read(clock, dialer, listener)
        for task in background:
            task.cancel()
        delivered = listener.stats.frames.messages_received / dialer.stats.frames.messages_sent
        result = _result(config, sender.run, start, end, delivered, dialer.rtt_ms)
        return dataclasses.replace(result, link=dialer.stats.link)


def _result(
    config: ControllerConfig,
    run: Run,
    start: _Counters,
    end: _Counters,
    delivered: float,
    rtt_ms: float | None,
) -> LoopbackResult:
    latencies = sorted(run.latencies_ms)
    return LoopbackResult(
        config.target_bps,
        run.mean_bps(start.at_ms / 1000, end.at_ms / 1000),
        *end.bps_since(start),
        max_window_bps=8 * run.max_window_bytes(),
        max_wire_window_bps=8 * run.max_window_bytes(wire=True),
        first_message_ms=run.messages[0][0],
        latency_p95_ms=latencies[int(0.95 * len(latencies))],
        delivered=delivered,
        rtt_ms=rtt_ms,
        link=None,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--loss", type=float, default=0.0, help="frames messages dropped")
    parser.add_argument("--out", type=Path, default=Path("runs/bitrate"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    impairment = Impairment(loss=args.loss, reorder=args.loss / 3, seed=1) if args.loss else None
    scenario = Scenario(duration_s=args.seconds)
    print(
        "target  payload  max 1s   frames  wire est  wire meas  back est  back meas"
        "  p95 wait  delivered  rtt"
    )
    for target_bps in TARGETS_BPS:
        log_path = args.out / f"loopback_{target_bps}bps.jsonl"
        with log_path.open("w") as stream:
            result = eventloop.run(
                run_call(
                    ControllerConfig(target_bps),
                    example_table(),
                    scenario,
                    DecisionLog(stream),
                    impairment,
                )
            )
        plot_log(log_path, log_path.with_suffix(".png"))
        print(
            f"{target_bps:6.0f} {result.payload_bps:8.0f} {result.max_window_bps:8.0f} "
            f"{result.frames_wire_bps:8.0f} {result.wire_estimated_bps:9.0f} "
            f"{result.wire_measured_bps:10.0f} {result.reverse_estimated_bps:9.0f} "
            f"{result.reverse_measured_bps:10.0f} {result.latency_p95_ms:8.0f}ms "
            f"{result.delivered:9.1%}  {result.rtt_ms or float('nan'):.1f}ms"
        )
    print(f"bit/s; logs and plots in {args.out}/")


if __name__ == "__main__":
    main()
