"""When is a dropped file complete? On close-after-write, or when unchanged for a quiet period.

Names being written (`*.tmp`, `*.part`, `~$…`, dot-files) are ignored until renamed; metadata sidecars
travel with their document and are never taken alone. Pure bookkeeping: the caller feeds what it saw
(events, scans) and asks which files are due; nothing here watches or moves anything.
"""

from __future__ import annotations

import fnmatch
import os
import stat
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

TEMP_SUFFIXES = (".tmp", ".part", ".crdownload")
SIDECAR = ".meta.json"
HELD_NOTE = ".dang-cho.txt"  # the gateway's own note beside a file held for a temporary reason (notes.py)


def is_temp_name(name: str) -> bool:
    low = name.lower()
    return name.startswith(".") or name.startswith("~$") or low.endswith(TEMP_SUFFIXES)


def wanted(name: str, patterns: Iterable[str]) -> bool:
    """A document this watch takes: not a temp name, not a sidecar, matching one of the patterns."""
    if is_temp_name(name) or name.lower().endswith((SIDECAR, HELD_NOTE)):
        return False
    low = name.lower()
    return any(fnmatch.fnmatchcase(low, p.lower()) for p in patterns)


def hidden_dir(rel_parts: Iterable[str]) -> bool:
    return any(part.startswith(".") for part in rel_parts)


@dataclass
class _Pending:
    size: int
    mtime_ns: int
    since: float  # when size/mtime were last seen to change
    closed: bool = False


class Stability:
    """Tracks candidate files until they are complete."""

    def __init__(self, quiet_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.quiet = quiet_seconds
        self.clock = clock
        self._pending: dict[Path, _Pending] = {}

    def __len__(self) -> int:
        return len(self._pending)

    def seen(self, path: Path, *, closed: bool = False) -> None:
        """A hint that `path` was created, changed, closed after writing, or renamed into place."""
        p = self._pending.get(path)
        if p is None:
            st = _stat(path)
            if st is None:
                return
            p = self._pending[path] = _Pending(st.st_size, st.st_mtime_ns, self.clock())
        if closed:
            p.closed = True

    def forget(self, path: Path) -> None:
        self._pending.pop(path, None)

    def due(self) -> list[Path]:
        """Files complete now (removed from tracking); files gone are dropped."""
        now = self.clock()
        ready: list[Path] = []
        for path, p in list(self._pending.items()):
            st = _stat(path)
            if st is None:
                del self._pending[path]
                continue
            if (st.st_size, st.st_mtime_ns) != (p.size, p.mtime_ns):
                p.size, p.mtime_ns, p.since = st.st_size, st.st_mtime_ns, now
                if not p.closed:
                    continue
            # An empty file closed at once is often "create, then write": wait the quiet period for it.
            if (p.closed and p.size > 0) or now - p.since >= self.quiet:
                ready.append(path)
                del self._pending[path]
        return ready


def _stat(path: Path) -> os.stat_result | None:
    """A regular file's status; None for anything else. lstat: a symlink in the inbox could point at any
    readable file on the machine and get it signed and published, so links are never taken."""
    try:
        st = path.lstat()
    except OSError:
        return None
    return st if stat.S_ISREG(st.st_mode) else None
