"""Keyframes kept between calls, on disk: each entry (codec/cached_keyframe.py) in a file named
by its key, under the user's cache folder, within a size limit (docs/call.md, "Keyframe cache").

An entry is used only if its bytes still hash to the key it is filed under: an entry changed on
disk (another program, a bad sector, a hand) is refused, deleted, and a warning logged; the
keyframe is then sent again. Files are written whole or not at all (a temporary file renamed
into place), and the least recently used entries go first when the cache outgrows its limit.
Nothing read from the folder is trusted, and nothing in it stops a call: a folder that cannot
be read or written is a cache that has nothing.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from facecodec.codec import keyframe_key
from facecodec.codec.cached_keyframe import KEY_BYTES

DEFAULT_MAX_BYTES = 32 << 20
"""About 2,000 keyframes of 6-16 kB."""
SUFFIX = ".kf"
FOLDER_VARIABLE = "FACECODEC_KEYFRAME_CACHE"
RECEIVED = "received"
"""Subfolder of the keyframes this machine's receivers got."""
SENT = "sent"
"""Subfolder of the keyframes this machine's senders sent (call/sent_keyframes.py)."""

logger = logging.getLogger(__name__)


def default_folder() -> Path:
    """``$FACECODEC_KEYFRAME_CACHE`` if set, else ``$XDG_CACHE_HOME/facecodec/keyframes``, or
    ``~/.cache/facecodec/keyframes``."""
    if folder := os.environ.get(FOLDER_VARIABLE):
        return Path(folder)
    base = os.environ.get("XDG_CACHE_HOME", "")
    # The XDG spec ignores a relative path.
    root = Path(base) if os.path.isabs(base) else Path.home() / ".cache"
    return root / "facecodec" / "keyframes"


@dataclass(frozen=True)
class KeyframeCacheConfig:
    folder: Path = field(default_factory=default_folder)
    """Where the entries live (``--keyframe-cache``), in ``RECEIVED`` and ``SENT``."""
    max_bytes: int = DEFAULT_MAX_BYTES
    """Total size of the entries kept in each of its two subfolders (``--keyframe-cache-mb``)."""

    def store(self, side: str) -> KeyframeCache:
        """The cache of one side, ``RECEIVED`` or ``SENT``: two ends on one machine (``facecodec
        call``) must not find in their own folder what the other end kept."""
        return KeyframeCache(dataclasses.replace(self, folder=self.folder / side))


class KeyframeCache:
    """Entries on disk, keyed by ``codec.keyframe_key`` of their bytes (module docstring)."""

    def __init__(self, config: KeyframeCacheConfig) -> None:
        self.config = config
        self.refused = 0
        """Entries refused because their bytes no longer matched their key."""

    def put(self, entry: bytes) -> bytes:
        """Keep ``entry`` (if it fits the limit at all) and return its key."""
        key = keyframe_key(entry)
        if len(entry) > self.config.max_bytes:
            return key
        try:
            self.config.folder.mkdir(parents=True, exist_ok=True)
            self._write(self._path(key), entry)
            self._evict()
        except OSError as exc:
            logger.warning("keyframe cache %s not written: %s", self.config.folder, exc)
        return key

    def get(self, key: bytes) -> bytes | None:
        """The entry filed under ``key`` if it matches it, else None (see the module
        docstring); a hit becomes the most recently used."""
        entry = self._read(key)
        if entry is not None:
            _touch(self._path(key))
        return entry

    def entries(self) -> Iterator[tuple[bytes, bytes]]:
        """(key, entry) of each entry that matches its key, the most recently used first (none
        becomes more recently used by being read here)."""
        for path, _, _ in reversed(self._entries()):
            key = bytes.fromhex(path.stem)
            entry = self._read(key)
            if entry is not None:
                yield key, entry

    def _read(self, key: bytes) -> bytes | None:
        path = self._path(key)
        try:
            entry = path.read_bytes()
        except OSError:  # not there, or unreadable: nothing to use either way
            return None
        if keyframe_key(entry) != key:
            self.refused += 1
            logger.warning("keyframe cache entry %s does not match its key: deleted", path.name)
            with contextlib.suppress(OSError):
                path.unlink()
            return None
        return entry

    def _path(self, key: bytes) -> Path:
        return self.config.folder / f"{key.hex()}{SUFFIX}"

    def _write(self, path: Path, data: bytes) -> None:
        """``data`` into ``path`` whole: readers see the old file or the new one."""
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as stream:
                stream.write(data)
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
        _touch(path)

    def _entries(self) -> list[tuple[Path, int, int]]:
        """(path, bytes, last use in ns) of each entry file, least recently used first."""
        entries = []
        for path in self.config.folder.glob(f"*{SUFFIX}"):
            if not _is_key_name(path.stem):
                continue
            with contextlib.suppress(OSError):
                stat = path.stat()
                entries.append((path, stat.st_size, stat.st_mtime_ns))
        return sorted(entries, key=lambda e: e[2])

    def _evict(self) -> None:
        entries = self._entries()
        total = sum(size for _, size, _ in entries)
        for path, size, _ in entries:
            if total <= self.config.max_bytes:
                return
            with contextlib.suppress(OSError):
                path.unlink()
            total -= size


def _touch(path: Path) -> None:
    """Mark ``path`` used now. Explicitly, in ns: the file system's own stamps may be a
    scheduler tick apart, too coarse to order two uses in a row."""
    now = time.time_ns()
    with contextlib.suppress(OSError):
        os.utime(path, ns=(now, now))


def _is_key_name(stem: str) -> bool:
    try:
        return len(bytes.fromhex(stem)) == KEY_BYTES
    except ValueError:
        return False
