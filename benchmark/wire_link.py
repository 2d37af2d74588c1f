"""The controller holding the wire through a narrow link: real aiortc peers on loopback, the
emulated link (transport.link_emulator) under the sender, synthetic frames and a keyframe.

    python -m facecodec.benchmark.wire_link [--seconds 15] [--keyframe-bytes 1000]

For links of 2, 4, 8 and 16 kbps (100 ms one way, 1% random loss) it runs one call with the
wire target at the link's rate and prints what the sender sent (payload, frames wire rate, the
largest 1-second window of frames wire bytes), when the first frames message went (after the
keyframe crossed), what the link did (queue delay median/p95, drops) and the share of frames
messages delivered. Results go to ``--out`` as JSON.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from facecodec.bitrate.bundler import BundlingConfig
from facecodec.bitrate.controller import ControllerConfig
from facecodec.bitrate.loopback import run_call
from facecodec.bitrate.simulation import Scenario, example_table
from facecodec.transport import eventloop
from facecodec.transport.link_emulator import LinkConfig

LINKS_BPS = (2000, 4000, 8000, 16000)
DELAY_MS = 100.0
LOSS = 0.01
MAX_LATENCY_MS = 500.0
"""Headers cost 1.6 kbps at one message per 500 ms: a 2 kbps link leaves 0.4 kbps of payload."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--keyframe-bytes", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=Path("runs/bitrate/wire_link.json"))
    args = parser.parse_args()
    scenario = Scenario(args.seconds, keyframe_bytes=args.keyframe_bytes)
    print("link   payload  frames wire  max 1-s wire  first msg  queue med/p95   drops  delivered")
    rows = []
    for link_bps in LINKS_BPS:
        bundling = BundlingConfig(MAX_LATENCY_MS, wire_bitrate_bps=link_bps)
        link = LinkConfig(rate_bps=link_bps, delay_ms=DELAY_MS, loss=LOSS, seed=1)
        result = eventloop.run(
            run_call(ControllerConfig(link_bps, bundling), example_table(), scenario, link=link)
        )
        assert result.link is not None
        summary = result.link.summary()
        drops = sum(summary["dropped"].values())  # type: ignore[union-attr]
        print(
            f"{link_bps / 1000:3.0f}kbps {result.payload_bps:7.0f} {result.frames_wire_bps:12.0f} "
            f"{result.max_wire_window_bps:13.0f} {result.first_message_ms:8.0f}ms "
            f"{summary['queue_delay_median_ms']:6} / {summary['queue_delay_p95_ms']:<6} "
            f"{drops:5d} {result.delivered:9.1%}"
        )
        row = dataclasses.asdict(result)
        row["link"] = summary
        rows.append({"link_bps": link_bps, **row})
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rows, indent=1))
    print(f"bit/s; wrote {args.out}")


if __name__ == "__main__":
    main()
