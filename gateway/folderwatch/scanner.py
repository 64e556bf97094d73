"""The initial scan and the periodic rescan: events are hints, the directory listing is the truth.

inotify drops events silently when its queue overflows, and the gateway may have been down while files
arrived; the scan finds them. Also prunes the archive past its retention.
"""

from __future__ import annotations

import logging
import os
import re
import time
from pathlib import Path

from gateway.folderwatch import fsops
from gateway.folderwatch.layout import Watch
from gateway.folderwatch.stability import hidden_dir, wanted

log = logging.getLogger("gateway.folderwatch")

_DAY_DIR = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def candidate(watch: Watch, path: Path) -> str | None:
    """The inbox-relative path when `path` is a document this watch takes, else None."""
    try:
        rel = path.relative_to(watch.inbox)
    except ValueError:
        return None
    parts = rel.parts
    if not parts or (len(parts) > 1 and not watch.recursive) or hidden_dir(parts[:-1]):
        return None
    if not wanted(parts[-1], watch.patterns):
        return None
    if path.is_symlink():  # never follow a link out of the inbox (see stability._stat)
        return None
    return "/".join(parts)


def scan(watch: Watch) -> list[Path]:
    """Every file in the inbox this watch would take (not recursing into dot-directories)."""
    found: list[Path] = []
    for root, dirs, files in os.walk(watch.inbox):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".")) if watch.recursive else []
        for name in sorted(files):
            path = Path(root) / name
            if candidate(watch, path) is not None:
                found.append(path)
    return found


def backlog(watch: Watch) -> tuple[int, int]:
    """(files waiting, of those held) for /metrics: documents in the inbox plus claims not finished (in progress or
    held after a temporary failure); held = the waiting notes (NAME.dang-cho.txt) in the inbox."""
    from gateway.folderwatch.claim import DONE_SUFFIX
    from gateway.folderwatch.stability import HELD_NOTE

    waiting = held = 0
    try:
        for root, dirs, files in os.walk(watch.inbox):
            dirs[:] = [d for d in dirs if not d.startswith(".")] if watch.recursive else []
            for name in files:
                if name.endswith(HELD_NOTE):
                    held += 1
                elif candidate(watch, Path(root) / name) is not None:
                    waiting += 1
        with os.scandir(watch.work) as it:
            waiting += sum(1 for e in it if e.is_dir() and not e.name.startswith(".") and not e.name.endswith(DONE_SUFFIX))
    except OSError:
        pass
    return waiting, held


def prune_archive(watch: Watch, retention_days: int, now: float | None = None) -> int:
    """Remove archive day folders older than the retention (0 keeps everything). Returns how many."""
    if watch.archive is None or retention_days <= 0 or not watch.archive.is_dir():
        return 0
    cutoff = time.strftime("%Y-%m-%d", time.localtime((now or time.time()) - retention_days * 86400))
    removed = 0
    for entry in watch.archive.iterdir():
        if entry.is_dir() and _DAY_DIR.match(entry.name) and entry.name < cutoff:
            fsops.remove_tree(entry)
            removed += 1
    if removed:
        log.info("folder %s: pruned %d archive day folder(s) older than %d days", watch.name, removed, retention_days)
    return removed
