"""A bounded queue of received items that a consumer awaits or iterates until the call ends."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from typing import Generic, TypeVar

T = TypeVar("T")


class ChannelClosedError(ConnectionError):
    """The call ended; nothing more will arrive or can be sent."""


class Inbox(Generic[T]):
    """Items in arrival order; when full, the oldest is dropped (stale beats blocked)."""

    def __init__(self, limit: int | None = None) -> None:
        self._items: deque[T] = deque()
        self._limit = limit
        self._ready = asyncio.Event()
        self._closed = False
        self.overflowed = 0
        """Items dropped because the consumer fell behind."""

    def put(self, item: T) -> None:
        if self._closed:
            return
        if self._limit is not None and len(self._items) >= self._limit:
            self._items.popleft()
            self.overflowed += 1
        self._items.append(item)
        self._ready.set()

    def close(self) -> None:
        """Wake the consumer; it gets what is queued, then ChannelClosedError."""
        self._closed = True
        self._ready.set()

    async def get(self) -> T:
        while not self._items:
            if self._closed:
                raise ChannelClosedError("the call has ended")
            self._ready.clear()
            await self._ready.wait()
        return self._items.popleft()

    def __aiter__(self) -> AsyncIterator[T]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[T]:
        while True:
            try:
                yield await self.get()
            except ChannelClosedError:
                return
