"""Classical video codecs on the same frames, through PyAV: H.264 (libx264, zero-latency
tuning), H.265 (libx265) and AV1 (libaom-av1 or libsvtav1, whichever the installed FFmpeg has).

Each runs at its lowest reachable rate (the largest quantiser, constant) and at the run's target
bit rates (rate control with a one-second VBV buffer, as a call would use). Sizes are the
encoded packets' own; every packet is one message, intra packets counted as keyframes. Encoders
run on one thread so that their times compare with the sender's single core.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

import av
import cv2
import numpy as np

from .methods import Message, MessageKind, MethodInput, MethodResult, Mode, Point, target_label

LOWEST = "lowest"
"""Label of the constant largest-quantiser point."""
CALL_MODE_GOP = 1 << 30
"""Intra period of the call's own mode: a keyframe at the start only."""
SVT_LOG_ENV, SVT_LOG_ERRORS_ONLY = "SVT_LOG", "1"


@dataclass(frozen=True)
class EncoderSettings:
    """How one FFmpeg encoder is driven."""

    encoder: str
    base: Mapping[str, str]
    """Options at every point."""
    lowest: Mapping[str, str]
    """Options added for the lowest point (largest constant quantiser)."""
    matched: Mapping[str, str]
    """Options added for a target; '{bps}' is replaced by the target in bit/s."""


@dataclass(frozen=True)
class CodecFamily:
    name: str
    """Method name in results."""
    encoders: tuple[EncoderSettings, ...]
    """In order of preference; the first the installed FFmpeg has is used."""
    decoders: tuple[str, ...]


_VBV = {"maxrate": "{bps}", "bufsize": "{bps}"}
_X265_QUIET = "pools=1:frame-threads=1:log-level=error"
H264 = CodecFamily(
    "h264",
    (
        EncoderSettings(
            "libx264",
            {"preset": "medium", "tune": "zerolatency", "threads": "1"},
            {"qp": "51"},
            _VBV,
        ),
    ),
    ("h264",),
)
H265 = CodecFamily(
    "h265",
    (
        EncoderSettings(
            "libx265",
            {"preset": "medium", "tune": "zerolatency", "x265-params": _X265_QUIET},
            {"x265-params": _X265_QUIET + ":qp=51"},
            _VBV,
        ),
    ),
    ("hevc",),
)
AV1 = CodecFamily(
    "av1",
    (
        EncoderSettings(
            "libaom-av1",
            {"usage": "realtime", "cpu-used": "8", "threads": "1", "lag-in-frames": "0"},
            {"end-usage": "q", "crf": "63"},
            {"end-usage": "cbr", **_VBV},
        ),
        EncoderSettings(
            "libsvtav1",
            {"preset": "8", "svtav1-params": "pred-struct=1:lp=1"},
            {"qp": "63", "svtav1-params": "pred-struct=1:lp=1:rc=0"},
            {"svtav1-params": "pred-struct=1:lp=1:rc=2"},
        ),
    ),
    ("libdav1d", "libaom-av1", "av1"),
)
FAMILIES = (H264, H265, AV1)


def _has_codec(name: str, mode: str) -> bool:
    try:
        av.codec.Codec(name, mode)
    except av.codec.codec.UnknownCodecError:
        return False
    return True


def _encoder_options(settings: EncoderSettings, target_bps: int | None, gop: int) -> dict:
    extra = settings.lowest if target_bps is None else settings.matched
    options = {**settings.base, **extra, "g": str(gop)}
    return {k: v.replace("{bps}", str(target_bps)) for k, v in options.items()}


@dataclass
class ClassicalCodec:
    """One codec family as a benchmark method, optionally coding downscaled frames."""

    family: CodecFamily
    scale: float = 1.0
    """Frames are coded at this share of the benchmark size and scaled back up (bicubic)."""
    name: str = field(init=False)
    modes: frozenset[Mode] = frozenset({Mode.RECONSTRUCTION})
    """Reenactment has no meaning for a codec of the driving video itself."""

    def __post_init__(self) -> None:
        self.name = self.family.name + ("" if self.scale == 1.0 else f"@{self.scale:g}x")
        self.encoder = next((e for e in self.family.encoders if _has_codec(e.encoder, "w")), None)
        self.decoder = next((d for d in self.family.decoders if _has_codec(d, "r")), None)

    def unavailable(self) -> str | None:
        if self.encoder is None:
            names = ", ".join(e.encoder for e in self.family.encoders)
            return f"the installed FFmpeg has no {self.family.name} encoder ({names})"
        if self.decoder is None:
            return f"the installed FFmpeg has no {self.family.name} decoder"
        return None

    def points(self, targets_bps: Sequence[int]) -> list[Point]:
        return [Point(LOWEST, None)] + [Point(target_label(t), t) for t in targets_bps]

    def run(self, job: MethodInput) -> MethodResult:
        """Codes the source then the driving frames as one stream; returns the driving ones."""
        frames = np.concatenate([job.source[None], job.driving])
        size = frames.shape[1]
        coded = 2 * round(size * self.scale / 2)  # 4:2:0 needs even sides
        start = time.perf_counter()
        packets = self._encode(frames, coded, job)
        sender_ms = 1000 * (time.perf_counter() - start)
        start = time.perf_counter()
        decoded = self._decode(packets, size)
        receiver_ms = 1000 * (time.perf_counter() - start)
        if len(decoded) != len(frames):
            raise RuntimeError(f"{self.name}: {len(frames)} frames in, {len(decoded)} out")
        messages = [
            Message(MessageKind.KEYFRAME if p.is_keyframe else MessageKind.FRAMES, p.size)
            for p in packets
        ]
        return MethodResult(decoded[1:], messages, sender_ms, receiver_ms, "cpu")

    def _encode(self, frames: np.ndarray, side: int, job: MethodInput) -> list[av.Packet]:
        assert self.encoder is not None
        os.environ.setdefault(SVT_LOG_ENV, SVT_LOG_ERRORS_ONLY)  # SVT-AV1 logs to stderr
        codec = av.CodecContext.create(self.encoder.encoder, "w")
        codec.width = codec.height = side
        codec.pix_fmt = "yuv420p"
        codec.time_base = Fraction(1, 1000)
        codec.framerate = Fraction(job.fps).limit_denominator(1001)
        if job.point.target_bps is not None:
            codec.bit_rate = job.point.target_bps
        gop = job.keyframe_interval or CALL_MODE_GOP
        codec.options = _encoder_options(self.encoder, job.point.target_bps, gop)
        codec.thread_count = 1
        packets: list[av.Packet] = []
        for i, rgb in enumerate(frames):
            if side != rgb.shape[0]:
                rgb = cv2.resize(rgb, (side, side), interpolation=cv2.INTER_AREA)
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
            frame.pts = round(1000 * i / job.fps)
            packets += codec.encode(frame)
        packets += codec.encode(None)
        return packets

    def _decode(self, packets: list[av.Packet], size: int) -> np.ndarray:
        assert self.decoder is not None
        codec = av.CodecContext.create(self.decoder, "r")
        codec.thread_count = 1
        out = []
        for packet in [*packets, None]:
            for frame in codec.decode(packet):
                rgb = frame.to_ndarray(format="rgb24")
                if rgb.shape[0] != size:
                    rgb = cv2.resize(rgb, (size, size), interpolation=cv2.INTER_CUBIC)
                out.append(rgb)
        return np.stack(out)


def classical_methods(scales: Sequence[float] = (1.0,)) -> list[ClassicalCodec]:
    """H.264, H.265 and AV1 at each scale."""
    return [ClassicalCodec(family, scale) for scale in scales for family in FAMILIES]
