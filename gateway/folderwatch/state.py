"""Blocked files left in place: remembered so that they are not taken again and again.

One small JSON file per watch: relative path -> (size, mtime, sha256). A file with the same path, size and
mtime is skipped; a changed file is a new document and is examined again.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from gateway.folderwatch import fsops


class BlockedFiles:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        try:
            self._items: dict[str, dict] = fsops.read_json(path) or {}
        except ValueError:
            self._items = {}

    def remember(self, rel: str, size: int, mtime_ns: int, sha256: str) -> None:
        with self._lock:
            self._items[rel] = {"size": size, "mtime_ns": mtime_ns, "sha256": sha256, "at": time.time()}
            fsops.write_json(self.path, self._items, 0o600)

    def is_known(self, rel: str, inbox: Path) -> bool:
        with self._lock:
            item = self._items.get(rel)
        if item is None:
            return False
        try:
            st = (inbox / rel).stat()
        except OSError:
            return False
        return st.st_size == item["size"] and st.st_mtime_ns == item["mtime_ns"]

    def prune(self, inbox: Path) -> None:
        """Forget entries whose file is gone or changed (called from the periodic rescan)."""
        with self._lock:
            keep = {}
            for rel, item in self._items.items():
                try:
                    st = (inbox / rel).stat()
                except OSError:
                    continue
                if st.st_size == item["size"] and st.st_mtime_ns == item["mtime_ns"]:
                    keep[rel] = item
            if keep != self._items:
                self._items = keep
                fsops.write_json(self.path, keep, 0o600)
