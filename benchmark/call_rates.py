"""What whole calls achieve on loopback (docs/call.md, "Measured"): payload and wire bit rate at
1, 2 and 8 kbps targets, concealment under 10% and 30% loss, and latency from capture to the
rendered frame on this machine's CPU. Everything here depends on the machine's speed and load,
which is why the tests bound none of it (they check what the protocol guarantees instead).

    python -m facecodec.benchmark.call_rates [--clips 3] [--data ../shared/data]
        [--out runs/call_rates]

Each call is ``facecodec call``'s: a clip sent at 25 fps through the prior, the controller,
the codec and real aiortc peers, and the receiver's decoding, concealment and playout. The bit
rate and loss calls render nothing (rendering does not change what is sent); the latency call
renders on the CPU the newest frame whenever the renderer is free, as ``facecodec receive``
does live. Clips: the longest held-out clips (people never trained on), then the demo clip for
latency. Writes call_rates.json and prints the tables.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

from facecodec import demo_clip
from facecodec.bitrate import RateTable, load_table
from facecodec.call.loopback import LoopbackCall, LoopbackConfig
from facecodec.call.render import RenderConfig, RenderPolicy
from facecodec.call.report import summarize
from facecodec.call.send_session import SendConfig
from facecodec.receiver.receiver import Receiver
from facecodec.training.splits import split_clips
from facecodec.transport import Impairment, eventloop

TARGETS_BPS = (1000, 2000, 8000)
LOSSES = (0.1, 0.3)
REORDER = 0.1
LOSS_TARGET_BPS = 2000
REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Run:
    name: str
    clip: Path
    config: LoopbackConfig


def held_out_clips(data: Path, count: int) -> list[Path]:
    _, validation = split_clips(data)
    longest = sorted(validation, key=lambda clip: -clip.frames)
    return [clip.path for clip in longest[:count]]


def runs(clips: list[Path], out: Path) -> list[Run]:
    plan = []
    for target in TARGETS_BPS:
        for clip in clips:
            log = out / f"{clip.stem}_{target}bps.jsonl"
            config = LoopbackConfig(clip, SendConfig(target), RenderConfig(every=0), log=log)
            plan.append(Run(f"rate {target}", clip, config))
    for loss in LOSSES:
        for clip in clips:
            impairment = Impairment(loss, REORDER, seed=5)
            log = out / f"{clip.stem}_loss{loss}.jsonl"
            send = SendConfig(LOSS_TARGET_BPS)
            config = LoopbackConfig(
                clip, send, RenderConfig(every=0), impairment=impairment, log=log
            )
            plan.append(Run(f"loss {loss}", clip, config))
    latency = RenderConfig(every=1, policy=RenderPolicy.LATEST)
    log = out / "latency.jsonl"
    config = LoopbackConfig(demo_clip(), SendConfig(LOSS_TARGET_BPS), latency, log=log)
    plan.append(Run("latency", demo_clip(), config))
    return plan


def setup(doc: str, out: Path) -> tuple[argparse.Namespace, RateTable, Receiver]:
    """A call benchmark's flags (--clips, --data, --out), one torch thread, the rate table
    and a CPU receiver."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--clips", type=int, default=3)
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=out)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)  # leave a core to the call
    args.out.mkdir(parents=True, exist_ok=True)
    return args, load_table(), Receiver(device="cpu")


def main() -> None:
    args, table, receiver = setup(__doc__, Path("runs/call_rates"))
    results = []
    for run in runs(held_out_clips(args.data, args.clips), args.out):
        rendering = run.config.render.every > 0
        call = LoopbackCall(run.config, table, receiver if rendering else None)
        summary = summarize(eventloop.run(call.run()), run.config)
        results.append({"run": run.name, **summary})
        print(run.name, run.clip.name, json.dumps(summary["bitrate"]), flush=True)
    (args.out / "call_rates.json").write_text(json.dumps(results, indent=2) + "\n")
    print_tables(results)


def print_tables(results: list[dict]) -> None:
    print("\n| target | payload (mean / most in 1 s) | frames wire | all forward / reverse |")
    print("|---|---|---|---|")
    for target in TARGETS_BPS:
        rows = [r["bitrate"] for r in results if r["run"] == f"rate {target}"]
        print(
            f"| {target / 1000:g} kbps | {_mean(rows, 'payload_kbps')} / "
            f"{_max(rows, 'max_1s_payload_kbps')} | {_mean(rows, 'frames_wire_kbps')} | "
            f"{_mean(rows, 'all_forward_wire_kbps')} / {_mean(rows, 'all_reverse_wire_kbps')} |"
        )
    print(
        "\n| loss | frames sent | decoded | concealed | output received / interp. / held "
        "| capture to playout median / p95 | RTT |"
    )
    print("|---|---|---|---|---|---|---|")
    for loss in LOSSES:
        runs_at = [r for r in results if r["run"] == f"loss {loss}"]
        rows = [r["frames"] for r in runs_at]
        output = {k: sum(r["output"][k] for r in rows) for k in rows[0]["output"]}
        playout = [r["latency_ms"]["capture_to_playout"] for r in runs_at]
        print(
            f"| {loss:.0%} | {_sum(rows, 'sent')} | {_sum(rows, 'decoded')} | "
            f"{_sum(rows, 'concealed')} | {output['received']} / {output['interpolated']} / "
            f"{output['held']} | {_max(playout, 'median_ms')} / {_max(playout, 'p95_ms')} ms | "
            f"{_max([r['latency_ms'] for r in runs_at], 'rtt')} ms |"
        )
    latency = next(r["latency_ms"] for r in results if r["run"] == "latency")
    print("\nlatency (ms):", json.dumps(latency))


def _mean(rows: list[dict], key: str) -> float:
    return round(sum(r[key] for r in rows) / len(rows), 2)


def _max(rows: list[dict], key: str) -> float:
    return max(r[key] for r in rows)


def _sum(rows: list[dict], key: str) -> int:
    return sum(r[key] for r in rows)


if __name__ == "__main__":
    main()
