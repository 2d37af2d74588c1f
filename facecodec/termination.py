"""SIGTERM ends a command as Ctrl-C does.

``docker stop`` and service managers send SIGTERM, whose default kills the process at once: a
receiver wrote no video file at all (its container is only finished when closed) and left its
peers to notice the silence. Every long-running command already stops cleanly on Ctrl-C
(``receive`` finishes and closes its file and hangs up, ``send`` hangs up, ``call`` ends its input
and finishes, ``encode`` keeps what was captured, ``bench`` and ``decode`` stop), so SIGTERM takes
the same path: it is handed to whatever handles SIGINT at that moment. Inside a command's event
loop that is asyncio's runner, which cancels the main task so that sessions hang up in their
``finally`` blocks before ``KeyboardInterrupt`` reaches the command (``call`` handles both
signals on its loop itself); elsewhere Python raises ``KeyboardInterrupt`` itself.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType


def stop_on_sigterm() -> None:
    """From now on SIGTERM acts as SIGINT (only the main thread may set signal handlers)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _as_interrupt)


def _as_interrupt(signum: int, frame: FrameType | None) -> None:
    handler = signal.getsignal(signal.SIGINT)
    if callable(handler):
        handler(signal.SIGINT, frame)
    else:  # SIGINT ignored (a background job of a shell): SIGTERM still stops the command
        raise KeyboardInterrupt
