"""A two-party call: one aiortc peer connection (DTLS) with a control and a frames channel.

Both channels are negotiated out of band with fixed ids, so they exist on both ends as soon as
the connection does and neither side waits for the other to announce them::

    async with await Call.listen("0.0.0.0", 7860, token) as call:     # facecodec receive
        async for message in call.frames: ...

    async with await Call.dial("192.168.1.20", 7860, token) as call:  # facecodec send
        call.control.send(keyframe)
        call.frames.send(bundle)
"""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
from dataclasses import dataclass
from enum import Enum

from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
)

from .audio import MediaClock, OpusSendTrack, ReceivedAudio
from .bounded_wait import finished
from .channel import ChannelStats, ControlChannel, FramesChannel
from .feedback import LinkFeedback
from .impairment import Impairment, ImpairmentStats
from .inbox import Inbox
from .link_emulator import EmulatedLink, LinkConfig, LinkStats
from .report import ReceiverReport
from .sequence import SequenceStats
from .signaling import MessageType, Session, SignalingServer, dial

CONTROL_LABEL = "control"
CONTROL_CHANNEL_ID = 0
FRAMES_LABEL = "frames"
FRAMES_CHANNEL_ID = 1
LOOPBACK_HOST = "127.0.0.1"


@dataclass(frozen=True)
class CallConfig:
    report_interval_ms: float = 1000.0
    """How often an end that receives frames sends a receiver report, at most."""
    report_messages: int = 2
    """A report waits for this many frames messages since the last one (or for
    ``max_report_interval_ms``): where the sender bundles a second of frames (a narrow link),
    a report a second would cost it an acknowledgement (93 B) in every second of its link."""
    max_report_interval_ms: float = 4000.0
    """Longest time between two reports while frames messages have arrived."""
    frames_queue_messages: int = 256
    """Received frames messages kept for a slow consumer before the oldest are dropped."""
    feedback_queue_reports: int = 16
    """Link feedback kept for a consumer that reads it late (the latest matter most)."""
    impairment: Impairment | None = None
    """Seeded loss/reordering of this end's outgoing frames messages (tests, demos)."""
    link: LinkConfig | None = None
    """An emulated narrow, lossy link under everything this end sends (tests, demos)."""
    ice_servers: tuple[str, ...] = ()
    """STUN/TURN URLs for calls across NATs; none on a LAN or loopback."""
    connect_timeout_s: float = 15.0
    close_timeout_s: float = 10.0
    """Longest wait for aiortc to close the peer connection at the hang-up; past it the call
    is left closing in the background and its received tracks are ended."""


class CallState(Enum):
    CONNECTING = 0
    OPEN = 1
    CLOSED = 2


@dataclass(frozen=True)
class CallStats:
    control: ChannelStats
    frames: ChannelStats
    received_sequence: SequenceStats
    """Bookkeeping of the frames messages this end received."""
    rtt_ms: float | None
    impairment: ImpairmentStats | None
    link: LinkStats | None
    """What the emulated link under this end's datagrams did, if there is one."""

    @property
    def wire_bytes_sent(self) -> int:
        """Estimated bytes this end put on the wire: messages, reports and acknowledgements."""
        return sum(
            channel.wire_bytes_sent + channel.ack_wire_bytes_sent
            for channel in (self.control, self.frames)
        )


class Call:
    """One end of a call; create it with ``listen``, ``accept`` or ``dial``."""

    def __init__(self, config: CallConfig, audio: OpusSendTrack | None = None) -> None:
        self._config = config
        self._loop = asyncio.get_running_loop()
        self._pc = RTCPeerConnection(
            RTCConfiguration(iceServers=[RTCIceServer(url) for url in config.ice_servers])
        )
        self.audio_out = audio
        """The voice this end sends, on a WebRTC audio transceiver of the same connection."""
        if audio is not None:
            self._pc.addTrack(audio)
        self.audio_in = ReceivedAudio()
        """The other end's voice and its media clock, once they come."""
        self._pc.on("track", self._on_track)
        control = self._pc.createDataChannel(CONTROL_LABEL, negotiated=True, id=CONTROL_CHANNEL_ID)
        frames = self._pc.createDataChannel(
            FRAMES_LABEL, negotiated=True, id=FRAMES_CHANNEL_ID, ordered=False, maxRetransmits=0
        )
        for channel in (control, frames):
            channel.on("open", self._on_channel_open)
        self.control = ControlChannel(
            control, self._now_ms, on_report=self._on_report, on_media_clock=self._on_media_clock
        )
        self.frames = FramesChannel(
            frames, self._now_ms, config.frames_queue_messages, config.impairment
        )
        self.feedback: Inbox[LinkFeedback] = Inbox(config.feedback_queue_reports)
        """What the other end reports about the frames this end sends."""
        self.state = CallState.CONNECTING
        self._settled = asyncio.Event()
        """Set once both channels are open or the call is closed."""
        self._closed = asyncio.Event()
        self._reporter: asyncio.Task[None] | None = None
        self._closer: asyncio.Task[None] | None = None
        self._link: EmulatedLink | None = None
        self._pc.on("connectionstatechange", self._on_connection_state)

    @classmethod
    async def listen(
        cls, host: str, port: int, token: str, config: CallConfig | None = None
    ) -> Call:
        """Wait on ``host:port`` for a caller that knows the token; callers that do not are
        refused and the wait goes on."""
        async with await SignalingServer.start(host, port, token) as server:
            return await cls.accept(server, config)

    @classmethod
    async def accept(cls, server: SignalingServer, config: CallConfig | None = None) -> Call:
        """Answer the next authenticated caller of ``server``."""
        session = await server.accept()
        try:
            offer = await session.receive_description(MessageType.OFFER)
            return await cls(config or CallConfig())._negotiate(session, offer)
        finally:
            await session.close()

    @classmethod
    async def dial(
        cls,
        host: str,
        port: int,
        token: str,
        config: CallConfig | None = None,
        audio: OpusSendTrack | None = None,
    ) -> Call:
        """Call a listener (sending ``audio`` too, if given); raises TokenRefusedError when the
        tokens differ."""
        session = await dial(host, port, token)
        try:
            return await cls(config or CallConfig(), audio)._negotiate(session, offer=None)
        finally:
            await session.close()

    @property
    def peer_connection(self) -> RTCPeerConnection:
        """The aiortc connection underneath, for inspection."""
        return self._pc

    @property
    def rtt_ms(self) -> float | None:
        """Smoothed round-trip time from the other end's receiver reports."""
        return self.frames.feedback.rtt_ms

    @property
    def stats(self) -> CallStats:
        impaired = self.frames.impaired
        return CallStats(
            control=self.control.stats,
            frames=self.frames.stats,
            received_sequence=dataclasses.replace(self.frames.tracker.stats),
            rtt_ms=self.rtt_ms,
            impairment=dataclasses.replace(impaired.stats) if impaired else None,
            link=_copy_link_stats(self._link),
        )

    @property
    def sending(self) -> bool:
        """Whether something this end sent may still arrive: queued in SCTP, not yet
        acknowledged (a lost frames message until SCTP gives it up), or on an emulated link."""
        # aiortc keeps its queues private; they are the only record of what is in flight.
        sctp = self._pc.sctp
        queued = sctp is not None and bool(sctp._outbound_queue or sctp._sent_queue)
        return queued or (self._link is not None and self._link.busy)

    async def close(self) -> None:
        """Hang up; the other end sees its channels close at once (SCTP abort)."""
        if self.state == CallState.CLOSED:
            return
        self.state = CallState.CLOSED
        self._settled.set()
        if self._reporter is not None:
            self._reporter.cancel()
        self.control.close()
        self.frames.close()
        self.feedback.close()
        if self._link is not None:
            # The hang-up (SCTP ABORT) goes out directly: through the link it would be sent
            # into an ICE transport closed before its delay is over, and the other end would
            # wait for ICE's consent timeout (30 s) to notice.
            self._link.close()
            self._pc.sctp.transport.transport._send = self._link.transmit
        closing = asyncio.ensure_future(self._pc.close())
        if await finished(closing, self._config.close_timeout_s, "closing a peer connection"):
            closing.result()  # aiortc's failure, if it failed, is the caller's
        else:
            self._end_received_tracks()
        self._closed.set()

    def _end_received_tracks(self) -> None:
        """End the far end's tracks as a lost DTLS connection does (aiortc's own hook for it):
        their consumers wait for that end, and each track's decoder thread, which would keep
        the process from exiting, stops with it."""
        for transceiver in self._pc.getTransceivers():
            transceiver.receiver._handle_disconnect()

    async def wait_closed(self) -> None:
        await self._closed.wait()

    async def __aenter__(self) -> Call:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def _now_ms(self) -> float:
        return self._loop.time() * 1000

    async def _negotiate(self, session: Session, offer: RTCSessionDescription | None) -> Call:
        """Send an offer (``offer`` None) or answer one, then wait for both channels to open."""
        try:
            if offer is None:
                await self._pc.setLocalDescription(await self._pc.createOffer())
                await session.send_description(self._pc.localDescription)
                answer = await session.receive_description(MessageType.ANSWER)
                await self._pc.setRemoteDescription(answer)
            else:
                await self._pc.setRemoteDescription(offer)
                await self._pc.setLocalDescription(await self._pc.createAnswer())
                await session.send_description(self._pc.localDescription)
            await asyncio.wait_for(self._settled.wait(), self._config.connect_timeout_s)
            if self.state != CallState.OPEN:
                raise ConnectionError("the peer connection closed while connecting")
            if self._config.link is not None:
                self._emulate_link(self._config.link)
        except BaseException:
            await self.close()
            raise
        return self

    def _emulate_link(self, config: LinkConfig) -> None:
        """Put the link under the DTLS transport's datagrams, once the handshakes are done."""
        # aiortc has no hook for this: the ICE transport's send is the one place every
        # datagram of the connection passes.
        ice = self._pc.sctp.transport.transport
        self._link = EmulatedLink(config, ice._send)
        ice._send = self._link.send

    def _on_channel_open(self) -> None:
        if self.state == CallState.CONNECTING and self.control.is_open and self.frames.is_open:
            self.state = CallState.OPEN
            self._reporter = self._loop.create_task(self._send_reports())
            self._settled.set()

    def _on_connection_state(self) -> None:
        if self._pc.connectionState in ("failed", "closed") and self._closer is None:
            self._closer = self._loop.create_task(self.close())

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "audio" and self.audio_in.track is None:
            self.audio_in.track = track
            self.audio_in.arrived.set()

    def _on_media_clock(self, clock: MediaClock) -> None:
        self.audio_in.clock = clock

    def _on_report(self, report: ReceiverReport) -> None:
        self.feedback.put(self.frames.feedback.on_report(report, self._now_ms()))

    async def _send_reports(self) -> None:
        config, last_ms = self._config, self._now_ms()
        while True:
            await asyncio.sleep(config.report_interval_ms / 1000)
            waited_ms = self._now_ms() - last_ms
            if (
                self.frames.arrivals_pending < config.report_messages
                and waited_ms < config.max_report_interval_ms
            ):
                continue
            report = self.frames.report()
            if report is not None:
                self.control.send_report(report)
                last_ms = self._now_ms()


def _copy_link_stats(link: EmulatedLink | None) -> LinkStats | None:
    if link is None:
        return None
    stats = link.stats
    return dataclasses.replace(
        stats, dropped=dict(stats.dropped), queue_delays_ms=stats.queue_delays_ms.copy()
    )


async def open_loopback_pair(
    listener_config: CallConfig | None = None,
    dialer_config: CallConfig | None = None,
    audio: OpusSendTrack | None = None,
) -> tuple[Call, Call]:
    """Both ends of a call in this process, over loopback with a one-off token (demos, tests);
    the dialer sends ``audio`` if given.

    Returns (listener, dialer); the caller closes both.
    """
    token = secrets.token_urlsafe()
    async with await SignalingServer.start(LOOPBACK_HOST, 0, token) as server:
        accepting = asyncio.ensure_future(Call.accept(server, listener_config))
        try:
            dialer = await Call.dial(LOOPBACK_HOST, server.address[1], token, dialer_config, audio)
        except BaseException:
            accepting.cancel()
            raise
        try:
            return await accepting, dialer
        except BaseException:
            await dialer.close()
            raise
