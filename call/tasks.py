"""The helper tasks of a session: stopped together, and a failure in one is not lost."""

from __future__ import annotations

import asyncio


async def stop(tasks: list[asyncio.Future]) -> None:
    """Cancel ``tasks``, wait for them, and raise the first exception one of them ended with
    (a bug, or a capture error, that ``gather(return_exceptions=True)`` would swallow)."""
    for task in tasks:
        task.cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    for result in results:
        if isinstance(result, Exception):
            raise result
