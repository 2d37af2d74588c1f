"""``facecodec call``: both ends of a call in one process over loopback (real WebRTC peers),
the demo clip by default. Writes a side-by-side video (input | redrawn; with the voice when
the input has an audio track), a short report
(report.md, report.json: payload and wire bit rate against the target, frames sent, rendered
and concealed, keyframe bytes, latency from capture to rendered frame, round-trip time) and the
bit-rate plot (docs/call.md).

Both ends keep the keyframes (``--keyframe-cache``, docs/call.md): run it again and the caller
names its keyframe instead of sending it. The clip is sent at its frame rate, as a camera would
send it. Every frame is rendered on a GPU and with the small model a CPU gets by default
(about 20 ms a frame); the large model on a CPU takes about a second a frame, so then every
other frame is rendered.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

from facecodec import demo_clip
from facecodec.call.arguments import (
    add_audio_arguments,
    add_keyframe_cache_arguments,
    add_rate_arguments,
    add_render_arguments,
    audio_config,
    keyframe_cache_config,
    link_argument,
    rate_table,
    render_setup,
    send_config,
)
from facecodec.call.loopback import CallResult, LoopbackCall, LoopbackConfig
from facecodec.call.render import RenderPolicy
from facecodec.call.report import summarize, write_report
from facecodec.call.status import receive_line, send_line, show_status
from facecodec.editing import Editor
from facecodec.editing.args import add_edit_arguments, edit_config
from facecodec.termination import stop_on_sigterm
from facecodec.transport import Impairment, eventloop

DEFAULT_OUTPUT = Path("runs/call")
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "call",
        help="a whole call on this machine: video, report and bit-rate plot",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--input", type=Path, default=None, metavar="VIDEO", help="default: the demo clip"
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=DEFAULT_OUTPUT,
        metavar="DIR",
        help=f"where call.mp4, report.md, report.json and bitrate.png go (default "
        f"{DEFAULT_OUTPUT})",
    )
    parser.add_argument("--frames", type=int, default=None, metavar="N", help="first N frames")
    parser.add_argument(
        "--loss",
        type=float,
        default=0.0,
        metavar="P",
        help="drop this share of the frames messages and of the voice's packets (and reorder a "
        "third as many) to watch concealment",
    )
    parser.add_argument(
        "--link",
        type=link_argument,
        default=None,
        metavar="RATE,DELAY,LOSS",
        help="an emulated path each way under everything the call sends, e.g. 8kbps,100ms,1%% "
        "(a rate limit with a bounded queue, one-way delay, random loss; jitter=20ms and "
        "queue=BYTES may follow)",
    )
    parser.add_argument("--quiet", action="store_true", help="no status lines")
    add_rate_arguments(parser)
    add_audio_arguments(parser)
    add_render_arguments(parser, every=None, policy=RenderPolicy.ALL.value)
    add_keyframe_cache_arguments(parser)
    add_edit_arguments(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if not 0.0 <= args.loss < 1.0:
        raise ValueError("--loss must be in [0, 1)")
    table = rate_table()
    render, receiver = render_setup(args)
    out: Path = args.output
    impairment = Impairment(args.loss, args.loss / 3, seed=1) if args.loss else None
    config = LoopbackConfig(
        input=args.input or demo_clip(),
        send=send_config(args),
        render=render,
        max_frames=args.frames,
        impairment=impairment,
        link=args.link,
        video=out / "call.mp4",
        log=out / "decisions.jsonl",
        audio=audio_config(args, impairment),
        keyframe_cache=keyframe_cache_config(args),
    )
    if not config.input.is_file():
        raise FileNotFoundError(f"input video not found: {config.input}")
    edits = edit_config(args)
    editor = Editor(edits) if edits.active else None
    call = LoopbackCall(config, table, receiver, editor=editor)
    result = eventloop.run(_run(call, args.quiet))
    paths = write_report(summarize(result, config), config, out)
    print((out / "report.md").read_text())
    written = [path for path in [config.video, *paths] if path is not None and path.exists()]
    print("wrote", ", ".join(str(path) for path in written))
    return 0


async def _run(call: LoopbackCall, quiet: bool) -> CallResult:
    status = None if quiet else asyncio.ensure_future(show_status(lambda: _lines(call)))
    running = asyncio.ensure_future(call.run())
    try:
        with _interrupts_end_the_input(call, running):
            return await running
    except asyncio.CancelledError:
        raise KeyboardInterrupt from None
    finally:
        if status is not None:
            status.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await status


@contextlib.contextmanager
def _interrupts_end_the_input(call: LoopbackCall, running: asyncio.Future) -> Iterator[None]:
    """The first Ctrl-C (or SIGTERM) ends the input as its end would, so that the call
    finishes and the video and report are written; a second one, or one before the call is
    set up, stops at once."""
    loop = asyncio.get_running_loop()

    def interrupted() -> None:
        capture = call.capture
        if capture is None or capture.ended:
            running.cancel()
            return
        print("\nfacecodec call: ending the call (again to stop at once)", file=sys.stderr)
        capture.end()

    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, interrupted)
    try:
        yield
    finally:
        for signum in STOP_SIGNALS:
            loop.remove_signal_handler(signum)
        stop_on_sigterm()  # removing the handler left SIGTERM's default


def _lines(call: LoopbackCall) -> list[str]:
    lines = []
    if call.send is not None:
        lines.append(send_line(call.send.stats))
    if call.receive is not None:
        lines.append(receive_line(call.receive.stats, call.render.stats))
    return lines
