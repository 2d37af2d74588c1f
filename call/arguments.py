"""Command-line pieces that ``facecodec send``, ``receive`` and ``call`` share: durations,
inputs, rate and rendering flags, and the torch/rendering set-up they imply."""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from facecodec import demo_clip
from facecodec.bitrate import (
    DEFAULT_TABLE_PATH,
    BitrateError,
    RateTable,
    bitrate_argument,
    load_table,
    parse_bitrate,
)
from facecodec.receiver.model_choice import add_model_arguments, pick_model
from facecodec.receiver.receiver import Receiver, pick_device
from facecodec.sender.capture import CAMERA_PREFIX
from facecodec.transport import Impairment
from facecodec.transport.audio import AudioConfig
from facecodec.transport.link_emulator import LinkConfig

from .keyframe_cache import DEFAULT_MAX_BYTES, KeyframeCacheConfig, default_folder
from .render import RenderConfig, RenderPolicy
from .send_session import SendConfig

T = TypeVar("T")
DEMO_INPUT = "demo"
"""``--input demo``: the bundled demo clip."""
DEFAULT_BITRATE = "2kbps"
DEFAULT_MAX_LATENCY = "200ms"
DEFAULT_AUDIO_BITRATE = "8kbps"
CPU_RENDER_EVERY = 2
"""On a CPU the large model takes 0.5-1.5 s a frame: every other frame of the 8-second demo clip
(about 90 frames, 12.5 frames a second) renders in one to two minutes on two cores. The small
model keeps up with every frame (docs/model.md)."""
_DURATION = re.compile(r"\s*([0-9]*\.?[0-9]+)\s*(ms|s)?\s*", re.IGNORECASE)
_SHARE = re.compile(r"\s*([0-9]*\.?[0-9]+)\s*(%?)\s*")
MB = 1 << 20
LINK_FORMAT = "RATE,DELAY,LOSS as in 8kbps,100ms,1%, then jitter=20ms or queue=16000 if wanted"


def parse_duration_ms(text: str) -> float:
    """``200ms``, ``0.5s`` or ``200`` (milliseconds) -> milliseconds; ValueError otherwise."""
    match = _DURATION.fullmatch(text)
    if match is None:
        raise ValueError(f"bad duration {text!r}: write e.g. 200ms or 0.5s")
    number, unit = match.groups()
    value = float(number) * (1000.0 if (unit or "ms").lower() == "s" else 1.0)
    if value <= 0:
        raise ValueError(f"duration {text!r} must be positive")
    return value


def argparse_type(parse: Callable[[str], T]) -> Callable[[str], T]:
    """``parse`` for argparse's ``type=``: its ValueError's message reaches the user."""

    def convert(text: str) -> T:
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from exc

    return convert


duration_argument = argparse_type(parse_duration_ms)


def parse_link(text: str) -> LinkConfig:
    """``--link``: ``RATE,DELAY,LOSS`` (``8kbps,100ms,1%``; later ones may be left out, ``-``
    for no rate limit), then ``jitter=TIME`` and ``queue=BYTES`` -> one direction of the path;
    ValueError saying what to write."""
    fields = [field.strip() for field in text.split(",")]
    named = dict(field.split("=", 1) for field in fields if "=" in field)
    plain = [field for field in fields if "=" not in field]
    unknown = set(named) - {"jitter", "queue"}
    if len(plain) > 3 or not plain or unknown:
        raise ValueError(f"bad link {text!r}: write {LINK_FORMAT}")
    rate, delay, loss = (plain + ["0ms", "0%"][len(plain) - 1 :])[:3]
    try:
        return LinkConfig(
            rate_bps=None if rate == "-" else parse_bitrate(rate),
            delay_ms=_link_duration(delay),
            jitter_ms=_link_duration(named.get("jitter", "0ms")),
            loss=_share(loss),
            queue_bytes=int(named.get("queue", LinkConfig.queue_bytes)),
        )
    except (BitrateError, ValueError) as exc:
        raise ValueError(f"bad link {text!r}: {exc} (a link is {LINK_FORMAT})") from None


link_argument = argparse_type(parse_link)


def _link_duration(text: str) -> float:
    return 0.0 if text.strip() in ("0", "0ms", "0s") else parse_duration_ms(text)


def _share(text: str) -> float:
    """``1%`` or ``0.01`` -> 0.01."""
    match = _SHARE.fullmatch(text)
    if match is None:
        raise ValueError(f"bad loss {text!r}: write e.g. 1% or 0.01")
    value = float(match.group(1)) / (100.0 if match.group(2) else 1.0)
    if value > 1.0:
        raise ValueError(f"loss {text!r} is more than all")
    return value


def input_spec(text: str) -> str:
    """``--input``: a camera index (``0``), ``demo``, or a video file -> what
    ``sender.capture.open_source`` opens."""
    if text.isdigit():
        return f"{CAMERA_PREFIX}{text}"
    if text == DEMO_INPUT:
        return str(demo_clip())
    return text


def is_camera(spec: str) -> bool:
    return spec.startswith(CAMERA_PREFIX)


def add_rate_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("bit rate")
    group.add_argument(
        "--bitrate",
        type=bitrate_argument,
        default=DEFAULT_BITRATE,
        metavar="RATE",
        help=f"payload target as the paper counts it, e.g. 1kbps, 2kbps, 8kbps "
        f"(default {DEFAULT_BITRATE})",
    )
    group.add_argument(
        "--wire-bitrate",
        type=bitrate_argument,
        default=None,
        metavar="RATE",
        help="also keep the wire rate (payload + DTLS/SCTP/UDP/IP headers) under this, by "
        "bundling more frames per message",
    )
    group.add_argument(
        "--max-latency",
        type=duration_argument,
        default=DEFAULT_MAX_LATENCY,
        metavar="TIME",
        help=f"longest a frame waits to be bundled (default {DEFAULT_MAX_LATENCY})",
    )


def add_audio_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("voice")
    group.add_argument(
        "--audio-bitrate",
        type=bitrate_argument,
        default=DEFAULT_AUDIO_BITRATE,
        metavar="RATE",
        help=f"Opus bit rate of the voice, 6kbps and up (default {DEFAULT_AUDIO_BITRATE}; about "
        "8 kbps more on the wire in 60 ms packets)",
    )
    group.add_argument(
        "--no-audio", action="store_true", help="send the face only (no microphone, no track)"
    )


def audio_config(args: argparse.Namespace, impairment: Impairment | None) -> AudioConfig | None:
    """The voice the flags ask for; None with ``--no-audio``."""
    if args.no_audio:
        return None
    return AudioConfig(round(args.audio_bitrate), impairment=impairment)


def send_config(args: argparse.Namespace) -> SendConfig:
    return SendConfig(args.bitrate, args.max_latency, args.wire_bitrate)


def rate_table() -> RateTable:
    """The shipped rate-distortion table; FileNotFoundError saying how to build it."""
    if not DEFAULT_TABLE_PATH.exists():
        raise FileNotFoundError(
            f"the rate-distortion table {DEFAULT_TABLE_PATH} is missing: build it with "
            "python -m facecodec.bitrate.rd_table"
        )
    return load_table()


def add_render_arguments(parser: argparse.ArgumentParser, every: int | None, policy: str) -> None:
    """``every`` None: the default depends on the device and model (see ``render_setup``)."""
    group = parser.add_argument_group("rendering")
    add_model_arguments(group)
    group.add_argument(
        "--render-every",
        type=int,
        default=every,
        metavar="N",
        help=f"render every n-th frame only (0: none); default 1 on a GPU or with the small "
        f"model, {CPU_RENDER_EVERY} with the large model on a CPU"
        if every is None
        else f"render every n-th frame only (0: none; default {every})",
    )
    group.add_argument(
        "--render",
        choices=[p.value for p in RenderPolicy],
        default=policy,
        help="all: every scheduled frame, late if the device is slow (for files); latest: "
        f"only the newest when the renderer is free (live) (default {policy})",
    )


def render_setup(args: argparse.Namespace) -> tuple[RenderConfig, Receiver | None]:
    """The render configuration and the receiver the flags ask for (weights loaded)."""
    device = pick_device(args.device)
    model = pick_model(args.model, device)
    every = args.render_every
    if every is None:
        every = 1 if device.type == "cuda" or model == "small" else CPU_RENDER_EVERY
    config = RenderConfig(every, RenderPolicy(args.render))
    if not every:
        return config, None
    if device.type == "cpu":
        _share_cpu()
    return config, Receiver(device=device.type, model=model)


def _share_cpu() -> None:
    """Leave a core to the call itself (prior, transport) when rendering on the CPU."""
    import torch

    torch.set_num_threads(max(1, (os.cpu_count() or 2) - 1))


def add_token_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--token",
        default=None,
        help="shared secret of the call (default: $FACECODEC_TOKEN); the same on both ends",
    )


def add_keyframe_cache_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("keyframe cache (docs/call.md)")
    group.add_argument(
        "--keyframe-cache",
        type=Path,
        default=None,
        metavar="DIR",
        help="where keyframes are kept between calls, so that a repeat caller starts with a "
        "few bytes and no image (default $XDG_CACHE_HOME/facecodec/keyframes, here "
        f"{default_folder()})",
    )
    group.add_argument(
        "--no-keyframe-cache",
        action="store_true",
        help="keep no keyframes and use none kept (a sender shared by several people)",
    )
    group.add_argument(
        "--keyframe-cache-mb",
        type=float,
        default=DEFAULT_MAX_BYTES / MB,
        metavar="MB",
        help=f"size limit of the keyframes kept each way, the least recently used going first "
        f"(default {DEFAULT_MAX_BYTES / MB:g})",
    )


def keyframe_cache_config(args: argparse.Namespace) -> KeyframeCacheConfig | None:
    """The keyframe cache the flags ask for; None with ``--no-keyframe-cache``."""
    if args.no_keyframe_cache:
        return None
    if args.keyframe_cache_mb <= 0:
        raise ValueError("--keyframe-cache-mb must be positive")
    folder = args.keyframe_cache or default_folder()
    return KeyframeCacheConfig(folder, round(args.keyframe_cache_mb * MB))
