"""A narrow, lossy path between the two real peers of a call, in process and without root.

Every datagram one end's DTLS transport sends (both channels, SCTP acknowledgements, the
transport's reports) goes through an emulated link on its way to the socket, as through a
bottleneck router: random loss and burst loss (a Gilbert-Elliott chain: a good and a bad state,
each with its own loss probability) decided as it arrives, then a token bucket at the link's
rate with a bounded queue (a datagram that does not fit is dropped, as a router's tail drop
does), then a one-way delay with jitter, in order (a link that queues does not reorder). Each
end of a call has its own link for what it sends: one direction each.

``LinkModel`` is the logic alone, with time passed in (``now_ms``) as aiortc's rate.py does,
so it is tested without sockets; ``EmulatedLink`` puts it under a ``Call``'s ICE transport on
the event loop. The link counts what it did: datagrams accepted (queued for delivery) and
delivered (out of the far end, by now), drops by cause, the delay datagrams spent queued for
the rate.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import Enum

import numpy as np

from .overhead import UDP_IPV4_HEADER_BYTES

MAX_DELAY_SAMPLES = 10_000
"""Queue delays kept for the link's statistics (the most recent)."""
OFFERED_WINDOW_MS = 1000.0
"""The window of the most bytes offered (the bit-rate bounds are stated over 1 s)."""


@dataclass(frozen=True)
class BurstLoss:
    """Gilbert-Elliott loss: a two-state chain stepped once per datagram."""

    enter: float
    """Probability of going from the good to the bad state."""
    leave: float
    """Probability of going from the bad state back to the good one (mean burst 1/leave)."""
    loss_in_burst: float = 1.0
    """Loss probability in the bad state (0 in the good one; random ``loss`` comes on top)."""

    def __post_init__(self) -> None:
        for name in ("enter", "leave", "loss_in_burst"):
            _check_probability(name, getattr(self, name))


@dataclass(frozen=True)
class LinkConfig:
    """One direction of a path. ``rate_bps`` None: no bottleneck (delay and loss only)."""

    rate_bps: float | None = None
    """Bottleneck rate, counting UDP/IP headers as a router does."""
    delay_ms: float = 0.0
    """One-way propagation delay."""
    jitter_ms: float = 0.0
    """Each datagram's delay varies uniformly by up to this much either way (order is kept)."""
    loss: float = 0.0
    """Random loss probability per datagram."""
    burst: BurstLoss | None = None
    queue_bytes: int = 16_000
    """Bottleneck queue (UDP/IP bytes): 16 s at 8 kbps, the deep buffer of a narrow modem."""
    bucket_bytes: int = 1_500
    """Token bucket depth: how much may leave at once after an idle time (one MTU)."""
    seed: int = 0

    def __post_init__(self) -> None:
        _check_probability("loss", self.loss)
        if self.rate_bps is not None and self.rate_bps <= 0:
            raise ValueError(f"link rate must be positive, got {self.rate_bps}")
        if min(self.delay_ms, self.jitter_ms) < 0 or min(self.queue_bytes, self.bucket_bytes) <= 0:
            raise ValueError("link delay and jitter must be >= 0, queue and bucket > 0")


class Drop(Enum):
    """Why the link dropped a datagram."""

    RANDOM = "random"
    BURST = "burst"
    QUEUE = "queue"
    """The bottleneck queue was full (tail drop)."""


@dataclass
class LinkStats:
    datagrams: int = 0
    """Offered to the link."""
    accepted: int = 0
    """Not dropped: queued for delivery (``LinkModel``)."""
    delivered: int = 0
    """Out of the far end so far (``EmulatedLink``); the rest was still on the link."""
    bytes_delivered: int = 0
    """UDP/IP bytes."""
    dropped: dict[str, int] = field(default_factory=lambda: {d.value: 0 for d in Drop})
    queue_delays_ms: deque[float] = field(default_factory=lambda: deque(maxlen=MAX_DELAY_SAMPLES))
    """Time each accepted datagram waits for the rate (queue and bucket), most recent."""
    max_offered_1s_bytes: int = 0
    """Most UDP/IP bytes offered to the link (dropped ones included) in any 1-second window:
    what the sender put on the wire, against the link's rate."""

    def queue_delay_ms(self, percentile: float) -> float | None:
        if not self.queue_delays_ms:
            return None
        return round(float(np.percentile(np.asarray(self.queue_delays_ms), percentile)), 1)

    def summary(self) -> dict[str, object]:
        """JSON-ready: what the link did."""
        return {
            "datagrams": self.datagrams,
            "accepted": self.accepted,
            "delivered": self.delivered,
            "bytes_delivered": self.bytes_delivered,
            "dropped": dict(self.dropped),
            "queue_delay_median_ms": self.queue_delay_ms(50),
            "queue_delay_p95_ms": self.queue_delay_ms(95),
            "max_offered_1s_bytes": self.max_offered_1s_bytes,
        }


class LinkModel:
    """The link's decisions: ``send`` says when a datagram arrives at the far end, or why it
    never does. Pure logic; ``now_ms`` must not go backwards."""

    def __init__(self, config: LinkConfig) -> None:
        self.config = config
        self.stats = LinkStats()
        self._random = random.Random(config.seed)
        self._bad = False
        self._tokens = float(config.bucket_bytes)
        self._tokens_ms = 0.0
        """Time of ``_tokens``: the departure of the last datagram through the bucket."""
        self._queued: deque[tuple[float, int]] = deque()
        """(departure time, bytes) of datagrams accepted and not yet gone."""
        self._last_arrival_ms = 0.0
        self._offered: deque[tuple[float, int]] = deque()
        """(time, bytes) of the datagrams offered within the last ``OFFERED_WINDOW_MS``."""
        self._offered_bytes = 0

    def send(self, payload_bytes: int, now_ms: float) -> float | Drop:
        """A datagram of ``payload_bytes`` (UDP payload) offered at ``now_ms``: its arrival
        time at the far end, or why it is dropped."""
        self.stats.datagrams += 1
        drop = self._lost()
        size = payload_bytes + UDP_IPV4_HEADER_BYTES
        self._offer(size, now_ms)
        if drop is None:
            departure = self._depart(size, now_ms)
            if departure is None:
                drop = Drop.QUEUE
        if drop is not None:
            self.stats.dropped[drop.value] += 1
            return drop
        self.stats.accepted += 1
        self.stats.queue_delays_ms.append(departure - now_ms)
        jitter = self._random.uniform(-1.0, 1.0) * self.config.jitter_ms
        arrival = max(departure + max(0.0, self.config.delay_ms + jitter), self._last_arrival_ms)
        self._last_arrival_ms = arrival
        return arrival

    def _offer(self, size: int, now_ms: float) -> None:
        self._offered.append((now_ms, size))
        self._offered_bytes += size
        while self._offered[0][0] <= now_ms - OFFERED_WINDOW_MS:
            self._offered_bytes -= self._offered.popleft()[1]
        self.stats.max_offered_1s_bytes = max(self.stats.max_offered_1s_bytes, self._offered_bytes)

    def _lost(self) -> Drop | None:
        # Two draws per datagram whatever happens, so that one seed means one pattern.
        burst, random_loss = self._random.random(), self._random.random()
        chain = self.config.burst
        if chain is not None:
            self._bad = burst >= chain.leave if self._bad else burst < chain.enter
            if self._bad and self._random.random() < chain.loss_in_burst:
                return Drop.BURST
        return Drop.RANDOM if random_loss < self.config.loss else None

    def _depart(self, size: int, now_ms: float) -> float | None:
        """When a datagram of ``size`` bytes leaves the bucket; None when the queue is full."""
        rate = self.config.rate_bps
        if rate is None:
            return now_ms
        while self._queued and self._queued[0][0] <= now_ms:
            self._queued.popleft()
        if sum(queued for _, queued in self._queued) + size > self.config.queue_bytes:
            return None
        bytes_per_ms = rate / 8000
        start = max(now_ms, self._tokens_ms)
        tokens = min(
            float(self.config.bucket_bytes),
            self._tokens + (start - self._tokens_ms) * bytes_per_ms,
        )
        # A datagram larger than the bucket leaves once the bucket is full, taking it negative.
        needed = min(size, self.config.bucket_bytes)
        departure = start + max(0.0, needed - tokens) / bytes_per_ms
        self._tokens = tokens + (departure - start) * bytes_per_ms - size
        self._tokens_ms = departure
        self._queued.append((departure, size))
        return departure


Transmit = Callable[[bytes], Awaitable[None]]


class EmulatedLink:
    """A ``LinkModel`` on the event loop between a sender of datagrams and ``transmit``."""

    def __init__(self, config: LinkConfig, transmit: Transmit) -> None:
        self.model = LinkModel(config)
        self.transmit = transmit
        """Where datagrams go once the link lets them."""
        self._loop = asyncio.get_running_loop()
        self._in_flight: deque[tuple[float, bytes]] = deque()
        """(arrival time in loop seconds, datagram), in arrival order."""
        self._timer: asyncio.TimerHandle | None = None
        self._sending: set[asyncio.Task[None]] = set()

    @property
    def stats(self) -> LinkStats:
        return self.model.stats

    @property
    def busy(self) -> bool:
        """Datagrams are still on the link."""
        return bool(self._in_flight or self._sending)

    async def send(self, data: bytes) -> None:
        """Take a datagram; it goes on when the link says (the sender never waits)."""
        fate = self.model.send(len(data), self._loop.time() * 1000)
        if isinstance(fate, Drop):
            return
        self._in_flight.append((fate / 1000, data))
        if self._timer is None:
            self._timer = self._loop.call_at(fate / 1000, self._deliver)

    def close(self) -> None:
        """Forget what is still on the link (the call is ending)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._in_flight.clear()

    def _deliver(self) -> None:
        # One timer for the head of the line: datagrams leave in order, even when due at once.
        now = self._loop.time()
        while self._in_flight and self._in_flight[0][0] <= now:
            data = self._in_flight.popleft()[1]
            self.stats.delivered += 1
            self.stats.bytes_delivered += len(data) + UDP_IPV4_HEADER_BYTES
            task = self._loop.create_task(self._send_on(data))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)
        self._timer = None
        if self._in_flight:
            self._timer = self._loop.call_at(self._in_flight[0][0], self._deliver)

    async def _send_on(self, data: bytes) -> None:
        # The connection may have closed while the datagram was on the link: it is lost.
        with contextlib.suppress(ConnectionError):
            await self.transmit(data)


def _check_probability(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a probability, got {value}")
