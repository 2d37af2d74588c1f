"""Voice on the call's peer connection: an Opus track on a standard WebRTC audio transceiver.

aiortc's own Opus encoder runs at a fixed 96 kbps in 20 ms packets; the call needs a few
kilobits a second, so ``OpusSendTrack`` encodes with its own libopus context (bit rate, packet
duration) and hands aiortc finished packets, which aiortc's RTP sender packs unchanged (the
same path as ``MediaPlayer(decode=False)``). The receiving end decodes with aiortc as any
WebRTC peer would.

RTP timestamps count 48 kHz samples from the first packet (aiortc adds a random origin on the
wire and its receiver takes it off again). ``MediaClock`` ties that timeline to the face:
"frame ``seq`` was captured at audio sample ``audio_pts``", sent on the control channel.
"""

from __future__ import annotations

import asyncio
import struct
from dataclasses import dataclass, field
from fractions import Fraction

import av
import numpy as np
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

from .impairment import ImpairedSender, Impairment
from .report import MalformedMessageError

SAMPLE_RATE = 48_000
"""Opus in WebRTC always runs its RTP clock at 48 kHz."""
TIME_BASE = Fraction(1, SAMPLE_RATE)
DEFAULT_AUDIO_BITRATE_BPS = 8_000
DEFAULT_PACKET_MS = 60
RTP_WIRE_OVERHEAD_BYTES = 12 + 8 + 16 + 28
"""Per audio packet: RTP header 12, the mid header extension 8 (aiortc sends no audio level
with packets it did not encode), SRTP's AES-GCM tag 16 (aiortc offers AEAD profiles first),
UDP/IPv4 28; tests/test_call_audio.py checks it against aiortc's DTLS counters."""
OPUS_PACKET_MS = (20, 40, 60)
"""Packet durations libopus codes in one frame or two (longer ones cost more delay)."""


@dataclass(frozen=True)
class AudioConfig:
    bitrate_bps: int = DEFAULT_AUDIO_BITRATE_BPS
    """Opus bit rate (``--audio-bitrate``); speech from about 6 kbps."""
    packet_ms: int = DEFAULT_PACKET_MS
    """Audio per RTP packet: longer packets pay the 64 B of headers less often."""
    impairment: Impairment | None = None
    """Seeded loss of the packets before they reach RTP (tests, demos)."""

    def __post_init__(self) -> None:
        if self.packet_ms not in OPUS_PACKET_MS:
            raise ValueError(f"audio packets of {self.packet_ms} ms: use one of {OPUS_PACKET_MS}")
        if not 6_000 <= self.bitrate_bps <= 510_000:
            raise ValueError("Opus codes 6 to 510 kbps")


@dataclass
class AudioStats:
    packets: int = 0
    """Packets handed to RTP (after the impairment)."""
    payload_bytes: int = 0
    samples: int = 0
    """Audio samples (48 kHz) encoded."""
    encoded_bytes: int = 0
    """Opus bytes encoded, whether or not the impairment let them through."""
    dropped: int = 0
    """Dropped by the impairment."""

    @property
    def wire_bytes(self) -> int:
        """Estimated bytes of the packets sent on the wire (RTCP not included)."""
        return self.payload_bytes + self.packets * RTP_WIRE_OVERHEAD_BYTES

    @property
    def seconds(self) -> float:
        return self.samples / SAMPLE_RATE


class OpusSendTrack(MediaStreamTrack):
    """An audio track that aiortc sends: ``push`` 48 kHz mono PCM, ``recv`` gives Opus packets."""

    kind = "audio"

    def __init__(self, config: AudioConfig) -> None:
        super().__init__()
        self.config = config
        self.stats = AudioStats()
        self._queue: asyncio.Queue[av.Packet | None] = asyncio.Queue()
        self._encoder = _opus_encoder(config)
        self._pts = 0
        self._impaired = (
            ImpairedSender(config.impairment, self._enqueue) if config.impairment else None
        )
        self._pending = np.zeros(0, np.int16)

    def push(self, pcm: np.ndarray) -> None:
        """Append (N,) int16 samples at 48 kHz to the audio; whole packets go out at once."""
        samples = np.concatenate([self._pending, pcm.astype(np.int16, copy=False)])
        size = self.config.packet_ms * SAMPLE_RATE // 1000
        whole = len(samples) - len(samples) % size
        self._pending = samples[whole:]
        for start in range(0, whole, size):
            self._encode(samples[start : start + size])

    def end(self) -> None:
        """No more audio: ``recv`` ends once the queued packets are taken."""
        self._queue.put_nowait(None)

    async def recv(self) -> av.Packet:
        packet = await self._queue.get()
        if packet is None:
            self.stop()
            raise MediaStreamError
        return packet

    def _encode(self, samples: np.ndarray) -> None:
        frame = av.AudioFrame.from_ndarray(samples[None, :], format="s16", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = SAMPLE_RATE, self._pts, TIME_BASE
        self._pts += len(samples)
        self.stats.samples += len(samples)
        for packet in self._encoder.encode(frame):
            self.stats.encoded_bytes += packet.size
            # libopus starts its packets' pts before zero (its look-ahead); the RTP timeline
            # counts samples pushed, so a packet's timestamp is where its audio starts.
            packet.pts, packet.time_base = self._pts - len(samples), TIME_BASE
            if self._impaired is not None:
                self._impaired.send(packet)
                self.stats.dropped = self._impaired.stats.dropped
            else:
                self._enqueue(packet)

    def _enqueue(self, packet: av.Packet) -> None:
        self.stats.packets += 1
        self.stats.payload_bytes += packet.size
        self._queue.put_nowait(packet)


def _opus_encoder(config: AudioConfig) -> av.AudioCodecContext:
    codec = av.CodecContext.create("libopus", "w")
    codec.bit_rate = config.bitrate_bps
    codec.sample_rate = SAMPLE_RATE
    codec.format = "s16"
    codec.layout = "mono"
    codec.time_base = TIME_BASE
    # Constant bit rate: the voice costs the link the same whatever is said, so the face's
    # controller can count on what is left.
    codec.options = {
        "application": "voip",
        "frame_duration": str(config.packet_ms),
        "vbr": "off",
    }
    return codec


_CLOCK_FORMAT = struct.Struct(">IQI")
MEDIA_CLOCK_BYTES = _CLOCK_FORMAT.size


@dataclass(frozen=True)
class MediaClock:
    """Where the face's frames sit on the audio's RTP timeline (both from the sender's capture
    clock), as an RTCP sender report ties RTP to wall-clock time."""

    seq: int
    """A frame's sequence number (the sender's, mod 2**32)."""
    audio_pts: int
    """The audio sample (48 kHz, from the first packet) captured with that frame."""
    frame_period_us: int
    """The sender's frame period: frames after ``seq`` follow at this pace until the next."""

    def encode(self) -> bytes:
        return _CLOCK_FORMAT.pack(self.seq % (1 << 32), self.audio_pts, self.frame_period_us)

    @classmethod
    def decode(cls, data: bytes) -> MediaClock:
        if len(data) != MEDIA_CLOCK_BYTES:
            raise MalformedMessageError(f"media clock of {len(data)} B, not {MEDIA_CLOCK_BYTES}")
        clock = cls(*_CLOCK_FORMAT.unpack(data))
        if clock.frame_period_us == 0:
            raise MalformedMessageError("media clock with a zero frame period")
        return clock

    def audio_ms(self, seq: int) -> float:
        """Where frame ``seq`` sits on the audio timeline, in milliseconds."""
        return self.audio_pts * 1000 / SAMPLE_RATE + (seq - self.seq) * self.frame_period_us / 1000


@dataclass
class ReceivedAudio:
    """The far end's audio track and media clock, as this end of the call got them."""

    track: MediaStreamTrack | None = None
    clock: MediaClock | None = None
    malformed_clocks: int = 0
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when the track exists."""
