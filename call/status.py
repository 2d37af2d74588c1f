"""Live status lines of a call: rich redraws them in place on a terminal; elsewhere (a log, a
container) a plain line is printed every few seconds."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from rich.console import Console
from rich.live import Live
from rich.text import Text

from facecodec.types import OperatingPoint

from .receive_session import ReceiveStats
from .render import RenderStats
from .send_session import SendStats

REFRESH_S = 0.5
PLAIN_INTERVAL_S = 5.0
"""Without a terminal, one line this often."""


def send_line(stats: SendStats) -> str:
    rtt = "-" if stats.rtt_ms is None else f"{stats.rtt_ms:.1f} ms"
    return (
        f"send {stats.fps:4.1f} fps | payload {stats.payload_bps / 1000:5.2f} kbps | "
        f"wire {stats.wire_bps / 1000:5.2f} kbps | {point_text(stats.point)} | "
        f"loss {stats.loss:5.1%} | RTT {rtt} | keyframes {len(stats.keyframes)}"
    )


def receive_line(stats: ReceiveStats, render: RenderStats | None = None) -> str:
    output = stats.output
    line = (
        f"recv {stats.fps:4.1f} fps | payload {stats.payload_bps / 1000:5.2f} kbps | "
        f"decoded {stats.frames_decoded} | concealed {stats.lost} "
        f"(held {output['held']}, interpolated {output['interpolated']}) | "
        f"keyframes {len(stats.keyframes)}, requested {len(stats.keyframe_requests)}"
    )
    if render is not None:
        line += f" | rendered {render.rendered} ({render.pending} waiting)"
    return line


def point_text(point: OperatingPoint | None) -> str:
    if point is None:
        return "point -"
    return (
        f"k{point.keypoints} d{point.expression_dims} q{point.quant_level} "
        f"every {point.frame_interval}"
    )


async def show_status(lines: Callable[[], list[str]], console: Console | None = None) -> None:
    """Show ``lines()`` until cancelled."""
    console = console or Console(stderr=True)
    if not console.is_terminal:
        while True:
            await asyncio.sleep(PLAIN_INTERVAL_S)
            for line in lines():
                console.print(line, highlight=False, soft_wrap=True)
    with Live(console=console, auto_refresh=False, transient=False) as live:
        while True:
            live.update(Text("\n".join(lines())), refresh=True)
            await asyncio.sleep(REFRESH_S)
