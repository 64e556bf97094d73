"""Readings kept by content: the same bytes sent again are not read again.

A clerk sends one attachment to ten recipients in ten messages, drops the file a mail already carried, or
resends after a refusal: each time the gateway read every page again, OCR included (a scanned report: tens
of seconds). A slow reading that was complete is kept here, in this process only, keyed by the SHA-256 of the
bytes read and the limits it was read under. What is kept is the reading (text lines, structure facts), never
the decision: signatures, policy and the signing itself are judged again every time.

Only readings that would come out the same again are kept: complete ones, and those whose only gaps are
settled by the bytes themselves (SETTLED: writing seen only through grain reads the same every time). One
that ran out of time on a loaded machine, or found OCR missing, may read further next time: not kept. Only
slow ones (a fast reading costs less than its memory). Bounded by entries
and by characters held; least recently used first out. The memo holds text read from documents: it lives in
the worker's memory like the document being processed, is never written anywhere, and `forget()` drops it.
"""

from __future__ import annotations

import collections
import threading
from typing import Any, Hashable

MIN_SECONDS = 0.5  # a reading faster than this is not kept (most documents: milliseconds)
MAX_ENTRIES = 256
MAX_CHARS = 16_000_000  # characters of text held in all entries together
# reasons a reading is incomplete that depend on the bytes alone, not on time, load or the machine
SETTLED = frozenset({"SCAN_TOO_GRAINY"})


def settled(incomplete) -> bool:
    """Would the same bytes, read again under the same limits, come out with the same gaps (none included)?"""
    return all(r.code in SETTLED for r in incomplete)


class Memo:
    """A thread-safe LRU map bounded by entries and by a cost (characters) per entry."""

    def __init__(self, entries: int = MAX_ENTRIES, chars: int = MAX_CHARS) -> None:
        self._entries = entries
        self._chars = chars
        self._held = 0
        self._lock = threading.Lock()
        self._items: collections.OrderedDict[Hashable, tuple[Any, int]] = collections.OrderedDict()

    def get(self, key: Hashable) -> Any | None:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            self._items.move_to_end(key)
            return item[0]

    def put(self, key: Hashable, value: Any, cost: int) -> None:
        if cost > self._chars:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._held -= old[1]
            self._items[key] = (value, cost)
            self._held += cost
            while len(self._items) > self._entries or self._held > self._chars:
                _, (_, dropped) = self._items.popitem(last=False)
                self._held -= dropped

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._held = 0

    def __len__(self) -> int:
        return len(self._items)


PDF_READINGS = Memo()


def forget() -> None:
    """Drop every kept reading (benchmarks time the reading, not the memo)."""
    PDF_READINGS.clear()
