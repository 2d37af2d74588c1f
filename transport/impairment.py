"""Seeded loss, reordering and duplication of outgoing messages, for tests and demos.

It sits between a channel and aiortc, so the network stays real (DTLS, SCTP, UDP) while the
messages that reach it are decided by a seeded generator: the same seed drops, holds back and
repeats the same messages on every run.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Impairment:
    loss: float = 0.0
    """Probability that a message is dropped."""
    reorder: float = 0.0
    """Probability that a message is held back and sent after the next one."""
    duplicate: float = 0.0
    """Probability that a message is sent twice."""
    seed: int = 0
    max_hold_ms: float = 250.0
    """A held message goes out alone after this long when nothing follows it."""

    def __post_init__(self) -> None:
        for name in ("loss", "reorder", "duplicate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be a probability, got {getattr(self, name)}")


@dataclass
class ImpairmentStats:
    dropped: int = 0
    reordered: int = 0
    """Held messages that went out after a later one."""
    duplicated: int = 0


class ImpairedSender:
    """Applies an ``Impairment`` to messages on their way to ``transmit``."""

    def __init__(self, impairment: Impairment, transmit: Callable[[bytes], None]) -> None:
        self._impairment = impairment
        self._transmit = transmit
        self._random = random.Random(impairment.seed)
        self._held: bytes | None = None
        self._release: asyncio.TimerHandle | None = None
        self.stats = ImpairmentStats()

    def send(self, data: bytes) -> None:
        # Three draws per message, whatever happens, so that one seed means one pattern.
        drop, hold, repeat = (self._random.random() for _ in range(3))
        if drop < self._impairment.loss:
            self.stats.dropped += 1
        elif self._held is not None:
            self._transmit(data)
            self.stats.reordered += 1
            self._send_held()
        elif hold < self._impairment.reorder:
            self._held = data
            self._release = asyncio.get_running_loop().call_later(
                self._impairment.max_hold_ms / 1000, self._send_held
            )
        else:
            self._transmit(data)
            if repeat < self._impairment.duplicate:
                self.stats.duplicated += 1
                self._transmit(data)

    def close(self) -> None:
        """Forget a held message (the call is ending)."""
        if self._release is not None:
            self._release.cancel()
        self._held = None

    def _send_held(self) -> None:
        if self._release is not None:
            self._release.cancel()
            self._release = None
        if self._held is not None:
            held, self._held = self._held, None
            self._transmit(held)
