"""Whole calls over emulated narrow links (docs/call.md, "Over narrow links"): time to the
first face and to the full keyframe, rates, the largest 1-second wire window against the link,
what the link's queue did and what was shown.

    python -m facecodec.benchmark.link_calls [--links 2kbps,4kbps,8kbps,16kbps]
        [--delay 100ms] [--loss 1%] [--clips 3] [--data ../shared/data] [--out runs/link_calls]
        [--repeat-caller] [--seconds 30]

Each call is ``facecodec call --link RATE,DELAY,LOSS --wire-bitrate RATE --max-latency 1s``'s
on one of the longest held-out clips (people never trained on), rendering nothing (what is sent
does not depend on it), at the default 2 kbps payload target: the wire target equal to the
link's rate makes the keyframes progressive (docs/transport.md, "Progressive keyframes").
"Over the link" is what the link delivered forward (UDP/IP
bytes of everything: keyframes, frames, control, retransmissions) over the call's duration.
"Largest 1-s wire window" is the most UDP/IP bytes the sender offered the link in any second
(everything: the keyframe's first version, SCTP's retransmissions), against the bytes the link
carries in a second. Writes link_calls.json and link_calls.md (the table) to ``--out`` and
prints the table. Everything here depends on the machine's speed and load; run it on an
otherwise idle machine.

``--repeat-caller``: each call is by a caller the receiver has seen before. A first call of the
same clip's first 2 s, over loopback without a link, fills a keyframe cache of its own at both
ends (docs/call.md, "Keyframe cache"); the measured call follows with that cache, and only it
is reported (link_calls_repeat.json, link_calls_repeat.md).

``--seconds S``: each call lasts S seconds of frames, the clip played again from its start as
often as that takes (its frames numbered on), so that a full keyframe slower than the clip is
timed rather than "never"; without it a call is the clip once.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
from pathlib import Path

from facecodec.bitrate import RateTable, load_table
from facecodec.call.arguments import parse_link
from facecodec.call.keyframe_cache import KeyframeCacheConfig
from facecodec.call.loopback import LoopbackCall, LoopbackConfig
from facecodec.call.render import RenderConfig
from facecodec.call.report import summarize
from facecodec.call.send_session import SendConfig
from facecodec.sender.capture import open_source
from facecodec.transport import eventloop

from .call_rates import REPO, held_out_clips

TARGET_BPS = 2000
MAX_LATENCY_MS = 1000.0
"""At 2-8 kbps a 200-ms bundle's headers alone would take most of the wire."""
FIRST_CALL_FRAMES = 50
"""``--repeat-caller``: the earlier call, long enough to send the first keyframe whole."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--links", default="2kbps,4kbps,8kbps,16kbps")
    parser.add_argument("--delay", default="100ms")
    parser.add_argument("--loss", default="1%")
    parser.add_argument("--clips", type=int, default=3)
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=Path("runs/link_calls"))
    parser.add_argument(
        "--repeat-caller",
        action="store_true",
        help="each caller called before: report the second of two calls with one keyframe cache",
    )
    parser.add_argument(
        "--seconds",
        type=float,
        help="each call this long, the clip looped (default: the clip once)",
    )
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    table, results = load_table(), []
    for rate in args.links.split(","):
        link = parse_link(f"{rate},{args.delay},{args.loss}")
        for clip in held_out_clips(args.data, args.clips):
            send = SendConfig(
                TARGET_BPS, wire_bitrate_bps=link.rate_bps, max_latency_ms=MAX_LATENCY_MS
            )
            config = LoopbackConfig(clip, send, RenderConfig(every=0), link=link)
            if args.seconds is not None:
                config = _looped(config, args.seconds)
            summary = _repeat_call(config, table) if args.repeat_caller else _call(config, table)
            results.append(summary)
            print(rate, clip.name, json.dumps(summary["start"]), flush=True)
    name = "link_calls_repeat" if args.repeat_caller else "link_calls"
    (args.out / f"{name}.json").write_text(json.dumps(results, indent=2) + "\n")
    markdown = table_markdown(results)
    (args.out / f"{name}.md").write_text(markdown)
    print(markdown)


def _looped(config: LoopbackConfig, seconds: float) -> LoopbackConfig:
    """``config``'s call lasting ``seconds`` of its clip's frames, the clip looped."""
    source = open_source(config.input)
    try:
        frames = round(seconds * source.info.fps)
    finally:
        source.close()
    return dataclasses.replace(config, loop=True, max_frames=frames)


def _call(config: LoopbackConfig, table: RateTable) -> dict:
    return summarize(eventloop.run(LoopbackCall(config, table, None).run()), config)


def _repeat_call(config: LoopbackConfig, table: RateTable) -> dict:
    """The call ``config`` by a caller whose keyframe both ends kept from an earlier call."""
    with tempfile.TemporaryDirectory() as folder:
        cache = KeyframeCacheConfig(Path(folder))
        earlier = dataclasses.replace(
            config,
            send=SendConfig(TARGET_BPS),
            link=None,
            max_frames=FIRST_CALL_FRAMES,
            keyframe_cache=cache,
        )
        _call(earlier, table)
        return _call(dataclasses.replace(config, keyframe_cache=cache), table)


def table_markdown(results: list[dict]) -> str:
    """One row per call: the times of the start, the rates, the most the sender put on the wire
    in a second against what the link carries in one, the link's queue and what was shown."""
    lines = [
        "| link | clip | first version / first face / full keyframe (s) "
        "| payload / over the link (kbps) | largest 1-s wire window / link (B) "
        "| queue delay median / p95 (s) | frames shown received / concealed |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        start, rates, output = r["start"], r["bitrate"], r["frames"]["output"]
        forward, rate_bps = r["link"]["forward"], r["link"]["config"]["rate_bps"]
        times = " / ".join(
            _s(start[key])
            for key in ("to_first_keyframe_ms", "to_first_face_ms", "to_full_keyframe_ms")
        )
        concealed = output["interpolated"] + output["held"]
        lines.append(
            f"| {rate_bps / 1000:g} kbps | {Path(r['input']).stem} | {times} | "
            f"{rates['payload_kbps'] or 'none'} / "
            f"{_kbps(forward['bytes_delivered'], r['seconds'])} | "
            f"{forward['max_offered_1s_bytes']} / {rate_bps // 8} | "
            f"{_s(forward['queue_delay_median_ms'])} / {_s(forward['queue_delay_p95_ms'])} | "
            f"{output['received']} / {concealed} |"
        )
    return "\n".join(lines) + "\n"


def _kbps(total_bytes: int, seconds: float) -> str:
    return f"{8 * total_bytes / seconds / 1000:.2f}"


def _s(ms: float | None) -> str:
    return "never" if ms is None else f"{ms / 1000:.1f}"


if __name__ == "__main__":
    main()
