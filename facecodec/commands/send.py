"""``facecodec send --to HOST:PORT --bitrate 2kbps --input {camera index | video file}``: call a
``facecodec receive`` and send a face at a few kilobits per second (docs/call.md).

A camera is read as it delivers; a file is sent at its frame rate, as a camera would be. The
voice goes along as Opus (``--audio-bitrate``, default 8kbps) on a WebRTC audio track of the
same connection: a file's audio track, or with a camera the microphone (``--audio-device``);
without one it says so and sends the face only, as with ``--no-audio``. The
status line shows the capture rate, the payload and wire bit rates of the last second, the
operating point, the loss and the round-trip time. Every controller decision goes to a JSON
lines log, plotted at the end (target against achieved payload and wire bit rate). The
keyframes it sends are kept (``--keyframe-cache``, docs/call.md): the next call names the newest
one of the same face, and a receiver that kept it needs no image.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from facecodec.bitrate import DecisionLog, RateTable
from facecodec.bitrate.plot import plot_log
from facecodec.call.arguments import (
    add_audio_arguments,
    add_keyframe_cache_arguments,
    add_rate_arguments,
    add_token_argument,
    audio_config,
    duration_argument,
    input_spec,
    is_camera,
    keyframe_cache_config,
    rate_table,
    send_config,
)
from facecodec.call.audio_send import AudioSender
from facecodec.call.audio_source import AudioSource, NoAudioError, open_audio
from facecodec.call.capture_loop import CaptureConfig, CaptureLoop
from facecodec.call.edits import ParamsEditor
from facecodec.call.keyframe_cache import SENT, KeyframeCacheConfig
from facecodec.call.send_session import SendConfig, SendSession, SendStats
from facecodec.call.sent_keyframes import SentKeyframes
from facecodec.call.status import send_line, show_status
from facecodec.editing import Editor
from facecodec.editing.args import add_edit_arguments, edit_config
from facecodec.sender.capture import open_source
from facecodec.sender.prior import MediaPipePrior
from facecodec.transport import Call, eventloop, resolve_token
from facecodec.transport.audio import AudioConfig, OpusSendTrack
from facecodec.transport.signaling import parse_address

LOG_DIR = Path("runs")
HANG_UP_DELAY_S = 0.2
"""After the last frame: time for it to arrive before hanging up."""
RETRY_INTERVAL_S = 1.0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "send",
        help="call a receiver and send a camera or a video file",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--to", required=True, metavar="HOST:PORT", help="the receiver")
    parser.add_argument(
        "--input",
        required=True,
        metavar="SOURCE",
        help="camera index (0, 1, ...), a video file, or 'demo' (the bundled clip)",
    )
    add_token_argument(parser)
    add_rate_arguments(parser)
    add_audio_arguments(parser)
    parser.add_argument(
        "--audio-device",
        default=None,
        metavar="NAME",
        help="microphone to send with a camera (a name or index; default: the system's input)",
    )
    parser.add_argument("--frames", type=int, default=None, metavar="N", help="stop after N")
    parser.add_argument(
        "--log",
        type=Path,
        default=None,
        metavar="PATH",
        help=f"decision log, JSON lines (default {LOG_DIR}/send-<time>.jsonl; plotted beside)",
    )
    parser.add_argument(
        "--connect-timeout",
        type=duration_argument,
        default="30s",
        metavar="TIME",
        help="keep trying to reach the receiver this long (default 30s)",
    )
    parser.add_argument("--quiet", action="store_true", help="no status line")
    add_keyframe_cache_arguments(parser)
    add_edit_arguments(parser)
    parser.set_defaults(run=run)


@dataclass(frozen=True)
class _Plan:
    """What the flags ask for."""

    address: tuple[str, int]
    token: str
    source: str
    config: SendConfig
    table: RateTable
    editor: ParamsEditor | None
    frames: int | None
    connect_timeout_s: float
    quiet: bool
    audio: AudioConfig | None
    """None: the face only (``--no-audio``)."""
    audio_device: str | None
    keyframe_cache: KeyframeCacheConfig | None
    """None: no keyframes kept (``--no-keyframe-cache``)."""


def run(args: argparse.Namespace) -> int:
    edits = edit_config(args)
    plan = _Plan(
        address=parse_address(args.to),
        token=resolve_token(args.token),
        source=input_spec(args.input),
        config=send_config(args),
        table=rate_table(),
        editor=Editor(edits) if edits.active else None,
        frames=args.frames,
        connect_timeout_s=args.connect_timeout / 1000,
        quiet=args.quiet,
        audio=audio_config(args, None),
        audio_device=args.audio_device,
        keyframe_cache=keyframe_cache_config(args),
    )
    log_path = args.log or LOG_DIR / time.strftime("send-%Y%m%d-%H%M%S.jsonl")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    sessions: list[SendSession] = []
    try:
        with log_path.open("w") as stream:
            eventloop.run(_send(plan, DecisionLog(stream), sessions))
    except OSError as exc:  # refused token, no receiver, unknown host, call setup timed out
        print(f"facecodec send: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # a camera sends until stopped
        pass
    if sessions:
        _print_summary(
            sessions[0].stats, log_path, plot_log(log_path, log_path.with_suffix(".png"))
        )
    return 0


async def _send(plan: _Plan, log: DecisionLog, sessions: list[SendSession]) -> None:
    """Call, send until the input ends; the session goes into ``sessions`` once it exists."""
    prior = MediaPipePrior()
    capture = CaptureLoop(
        lambda: open_source(plan.source),
        prior,
        CaptureConfig(pace=not is_camera(plan.source), max_frames=plan.frames),
    )
    voice: AudioSource | None = None
    try:
        await capture.open()
        voice = _open_voice(plan)
        track = OpusSendTrack(plan.audio) if voice is not None and plan.audio else None
        call = await _dial(plan.address, plan.token, plan.connect_timeout_s, track)
        async with call:
            session = SendSession(
                call,
                prior,
                plan.table,
                plan.config,
                capture.fps,
                log,
                plan.editor,
                schedule=capture.schedule,
                kept=plan.keyframe_cache and SentKeyframes(plan.keyframe_cache.store(SENT)),
            )
            sessions.append(session)
            status = None
            if not plan.quiet:
                status = asyncio.ensure_future(show_status(lambda: [send_line(session.stats)]))
            frames, speaking = capture.frames(), None
            if voice is not None:
                sender = AudioSender(call, voice, capture.fps)
                frames, speaking = sender.tap(frames), asyncio.ensure_future(sender.run())
            try:
                await session.run(frames)
                await asyncio.sleep(HANG_UP_DELAY_S)
            finally:
                for task in (status, speaking):
                    if task is not None:
                        task.cancel()
    finally:
        prior.close()
        if voice is not None:
            voice.close()


def _open_voice(plan: _Plan) -> AudioSource | None:
    """The voice to send with the input, or None (``--no-audio``, or none there: said so)."""
    if plan.audio is None:
        return None
    try:
        return open_audio(plan.source, plan.audio_device)
    except NoAudioError as exc:
        print(f"{exc}: sending the face only", file=sys.stderr)
        return None


async def _dial(
    address: tuple[str, int], token: str, timeout_s: float, audio: OpusSendTrack | None
) -> Call:
    """Call the receiver, trying again while nothing listens there yet (a receiver starting up
    at the same time, as in docker/compose.yaml)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        try:
            return await Call.dial(*address, token, audio=audio)
        except ConnectionRefusedError:  # no receiver yet
            if asyncio.get_running_loop().time() > deadline:
                raise ConnectionError(
                    f"no receiver at {address[0]}:{address[1]} (facecodec receive --listen ...)"
                ) from None
            await asyncio.sleep(RETRY_INTERVAL_S)


def _print_summary(stats: SendStats, log_path: Path, plot_path: Path) -> None:
    payload, wire = stats.mean_bps(stats.payload_bytes), stats.mean_bps(stats.frames_wire_bytes)
    rates = "-" if payload is None or wire is None else f"{payload / 1000:.2f} / {wire / 1000:.2f}"
    print(
        f"{stats.end.value if stats.end else 'stopped'}: {stats.frames} frames, "
        f"{stats.frames_sent} sent in {stats.messages} messages; payload / wire {rates} kbps; "
        f"{len(stats.keyframes)} keyframes ({sum(stats.keyframes)} B), "
        f"{stats.keyframe_requests} requested"
    )
    print(f"decision log {log_path}, plot {plot_path}")
