"""A long call on loopback: memory (RSS) over time and frames lost (docs/call.md, "Soak").

    python -m facecodec.benchmark.soak [--minutes 10] [--bitrate 2kbps] [--loss 0.05]
        [--render-every 250] [--out runs/soak]

The whole pipeline runs as in ``facecodec call``: the demo clip played in a loop at 25 fps
through the prior, the controller, the codec and real aiortc peers, the receiver's decoding,
concealment and playout. Rendering every frame on a CPU would take a second a frame, so the
receiver renders every ``--render-every``-th frame (default: one every 10 s) and the memory of
the renderer is measured without the call falling behind. ``--loss`` drops that share of the
frames messages (a third as many reordered) to keep concealment busy. Every 10 s it samples
the process's resident memory and the counters of both ends; it writes soak.json, soak.png and
the decision log to ``--out``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from matplotlib.figure import Figure

from facecodec import demo_clip
from facecodec.bitrate import bitrate_argument, load_table
from facecodec.call.clock import now_ms
from facecodec.call.loopback import CallResult, LoopbackCall, LoopbackConfig
from facecodec.call.render import RenderConfig
from facecodec.call.send_session import SendConfig
from facecodec.receiver.receiver import Receiver
from facecodec.transport import Impairment, eventloop

SAMPLE_INTERVAL_S = 10.0
CAPTURE_FPS = 25.0
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True)
class Sample:
    t_s: float
    rss_mb: float
    frames_sent: int
    frames_decoded: int
    messages_sent: int
    messages_received: int
    concealed: int
    keyframes: int
    rendered: int


def rss_mb() -> float:
    """Resident memory of this process (Linux /proc)."""
    resident_pages = int(Path("/proc/self/statm").read_text().split()[1])
    return resident_pages * PAGE_BYTES / 2**20


async def sample_until_done(call: LoopbackCall, running: asyncio.Task, samples: list) -> None:
    start = now_ms()
    while not running.done():
        if call.send is not None and call.receive is not None:
            sent, received = call.send.stats, call.receive.stats
            samples.append(
                Sample(
                    round((now_ms() - start) / 1000, 1),
                    round(rss_mb(), 1),
                    sent.frames_sent,
                    received.frames_decoded,
                    sent.messages,
                    received.messages,
                    received.lost,
                    len(received.keyframes),
                    call.render.stats.rendered,
                )
            )
            print(samples[-1], flush=True)
        await asyncio.wait([running], timeout=SAMPLE_INTERVAL_S)


async def soak(call: LoopbackCall) -> tuple[list[Sample], CallResult]:
    samples: list[Sample] = []
    running = asyncio.ensure_future(call.run())
    await sample_until_done(call, running, samples)
    return samples, await running


def plot(samples: list[Sample], path: Path) -> None:
    fig = Figure(figsize=(8, 3.5))
    ax = fig.subplots()
    ax.plot([s.t_s / 60 for s in samples], [s.rss_mb for s in samples], marker=".")
    ax.set_xlabel("minutes")
    ax.set_ylabel("resident memory (MB)")
    ax.set_ylim(bottom=0)
    ax.set_title("facecodec loopback call: memory over time")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--bitrate", type=bitrate_argument, default="2kbps")
    parser.add_argument("--loss", type=float, default=0.05)
    parser.add_argument("--render-every", type=int, default=250)
    parser.add_argument("--out", type=Path, default=Path("runs/soak"))
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)  # leave a core to the call
    args.out.mkdir(parents=True, exist_ok=True)
    config = LoopbackConfig(
        input=demo_clip(),
        send=SendConfig(args.bitrate),
        render=RenderConfig(every=args.render_every),
        max_frames=round(args.minutes * 60 * CAPTURE_FPS),
        loop=True,
        impairment=Impairment(args.loss, args.loss / 3, seed=3) if args.loss else None,
        log=args.out / "decisions.jsonl",
    )
    receiver = Receiver(device="cpu") if args.render_every else None
    call = LoopbackCall(config, load_table(), receiver)
    samples, result = eventloop.run(soak(call))
    sent, received = result.send, result.receive
    summary = {
        "minutes": args.minutes,
        "bitrate_bps": args.bitrate,
        "loss": args.loss,
        "render_every": args.render_every,
        "seconds": round(result.seconds, 1),
        "rss_mb_first_sample": samples[0].rss_mb,
        "rss_mb_last_sample": samples[-1].rss_mb,
        "rss_mb_max": max(s.rss_mb for s in samples),
        "frames_captured": sent.frames,
        "frames_sent": sent.frames_sent,
        "frames_decoded": received.frames_decoded,
        "messages_sent": sent.messages,
        "messages_received": received.messages,
        "frames_concealed": received.lost,
        "output_frames": received.output,
        "keyframes": len(received.keyframes),
        "keyframe_requests": received.keyframe_requests,
        "frames_rendered": result.render.rendered,
        "payload_kbps": round((sent.mean_bps(sent.payload_bytes) or 0) / 1000, 3),
        "frames_wire_kbps": round((sent.mean_bps(sent.frames_wire_bytes) or 0) / 1000, 3),
        "capture_to_playout_ms": asdict(result.to_playout),
        "samples": [asdict(s) for s in samples],
    }
    (args.out / "soak.json").write_text(json.dumps(summary, indent=2) + "\n")
    plot(samples, args.out / "soak.png")
    print(json.dumps({k: v for k, v in summary.items() if k != "samples"}, indent=2))


if __name__ == "__main__":
    main()
