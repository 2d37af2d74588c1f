"""``facecodec receive --listen HOST:PORT``: wait for ``facecodec send`` callers, redraw them
from their keyframe, show them in a window (where a display exists) and write them to a file
with ``--output`` (docs/call.md).

Callers without the token are refused; a new caller with it replaces the current one (a sender
that restarted), and the output goes on. The receiver renders on the GPU if there is one; on a
CPU a frame takes about a second, so by default only the newest frame is rendered whenever the
renderer is free (``--render latest``). ``--render all`` renders every scheduled frame into the
file, falling behind on a CPU. A caller's voice plays where a sound device exists (sounddevice,
``pip install 'facecodec[audio]'``) and goes into the file's audio track, the face drawn when
its audio plays; ``--no-audio`` ignores it. Keyframes are kept between calls (``--keyframe-cache``,
docs/call.md): a caller who sends one again names it and sends no image. Ctrl-C or SIGTERM ends
it; the file is finished either way.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from pathlib import Path

from facecodec.call.arguments import (
    add_keyframe_cache_arguments,
    add_render_arguments,
    add_token_argument,
    keyframe_cache_config,
    render_setup,
)
from facecodec.call.audio_device import Speaker, open_speaker
from facecodec.call.audio_playout import AudioOutput
from facecodec.call.keyframe_cache import RECEIVED
from facecodec.call.playout import NOMINAL_FPS
from facecodec.call.receive_service import ReceiveService
from facecodec.call.render import RenderedFrame, RenderOutput, RenderPolicy, RenderStage
from facecodec.call.status import receive_line, show_status
from facecodec.editing import Editor
from facecodec.editing.args import add_edit_arguments, edit_config
from facecodec.receiver.output import VideoOutput, Window, display_available, side_by_side
from facecodec.transport import SignalingServer, eventloop, resolve_token
from facecodec.transport.audio import SAMPLE_RATE
from facecodec.transport.signaling import parse_address


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "receive",
        help="wait for a caller and redraw it",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--listen", required=True, metavar="HOST:PORT", help="e.g. 0.0.0.0:7860 (all interfaces)"
    )
    add_token_argument(parser)
    parser.add_argument("--output", type=Path, default=None, metavar="MP4", help="video file")
    parser.add_argument(
        "--side-by-side",
        action="store_true",
        help="the keyframe (what the receiver got) beside each redrawn frame",
    )
    parser.add_argument("--no-window", action="store_true", help="no window even with a display")
    parser.add_argument(
        "--no-audio",
        action="store_true",
        help="ignore callers' voices (by default they play where a sound device exists and go "
        "into --output's audio track, in sync with the face)",
    )
    parser.add_argument(
        "--calls", type=int, default=None, metavar="N", help="stop after N calls (default: never)"
    )
    parser.add_argument("--quiet", action="store_true", help="no status line")
    add_render_arguments(parser, every=1, policy=RenderPolicy.LATEST.value)
    add_keyframe_cache_arguments(parser)
    add_edit_arguments(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    token = resolve_token(args.token)
    host, port = parse_address(args.listen)
    render_config, receiver = render_setup(args)
    edits = edit_config(args)
    editor = Editor(edits) if edits.active else None
    outputs: list[RenderOutput] = []
    audio_rate = None if args.no_audio else SAMPLE_RATE
    video = VideoOutput(args.output, NOMINAL_FPS, audio_rate) if args.output else None
    window = Window() if display_available() and not args.no_window else None
    for sink in (video, window):
        if sink is not None:
            outputs.append(_output(sink, args.side_by_side))
    stage = RenderStage(render_config, receiver, outputs)
    speaker, voices = _voice_outputs(args.no_audio, video)
    try:
        eventloop.run(_receive(args, host, port, token, stage, editor, voices))
    except KeyboardInterrupt:
        pass
    finally:
        stage.close()
        for sink in (video, window, speaker):
            if sink is not None:
                sink.close()
    if video is not None:
        print(f"wrote {video.path} ({video.frames} frames)" if video.frames else "no frames drawn")
    return 0


def _voice_outputs(
    no_audio: bool, video: VideoOutput | None
) -> tuple[Speaker | None, list[AudioOutput] | None]:
    """Where callers' voices go: the sound device (where there is one) and the video file;
    None with ``--no-audio``."""
    if no_audio:
        return None, None
    speaker, note = open_speaker()
    print(note)
    voices: list[AudioOutput] = [] if speaker is None else [speaker]
    if video is not None:
        voices.append(video.write_audio)
    return speaker, voices


def _output(sink: VideoOutput | Window, keyframe_beside: bool) -> RenderOutput:
    def show(frame: RenderedFrame) -> None:
        image = side_by_side(frame.keyframe.image, frame.image) if keyframe_beside else frame.image
        if isinstance(sink, VideoOutput):
            sink.write(image, frame.due_ms)
        else:
            sink.show(image)

    return show


async def _receive(
    args: argparse.Namespace,
    host: str,
    port: int,
    token: str,
    stage: RenderStage,
    editor: Editor | None,
    voices: list[AudioOutput] | None,
) -> None:
    async with await SignalingServer.start(host, port, token) as server:
        print(f"listening on {host}:{server.address[1]}")
        cache = keyframe_cache_config(args)
        service = ReceiveService(
            server,
            stage,
            editor=editor,
            audio_outputs=voices,
            cache=cache and cache.store(RECEIVED),
        )
        status = None
        if not args.quiet:
            status = asyncio.ensure_future(show_status(lambda: _lines(service, stage)))
        try:
            await service.run(args.calls)
        finally:
            if status is not None:
                status.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await status


def _lines(service: ReceiveService, stage: RenderStage) -> list[str]:
    if service.session is None:
        return [f"waiting for a caller | calls so far {len(service.finished)}"]
    return [receive_line(service.session.stats, stage.stats)]
