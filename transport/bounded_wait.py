"""Bounded waits for the steps that end a call: a step that does not finish in time is named in
a warning, with where it is stuck, and left behind, so that a call always ends."""

from __future__ import annotations

import asyncio
import io
import logging

logger = logging.getLogger(__name__)


async def finished(step: asyncio.Future, timeout_s: float, what: str) -> bool:
    """Wait at most ``timeout_s`` for ``step`` without cancelling it; False, after a warning
    naming ``what``, when it is still running then."""
    done, _ = await asyncio.wait({step}, timeout=timeout_s)
    if done:
        return True
    logger.warning(
        "%s did not finish within %g s; going on without it%s", what, timeout_s, _where(step)
    )
    return False


def _where(step: asyncio.Future) -> str:
    """Where a task waits (the next hang is then diagnosed from the log alone)."""
    if not isinstance(step, asyncio.Task):
        return ""
    stack = io.StringIO()
    step.print_stack(file=stack)
    return "\n" + stack.getvalue().rstrip()
