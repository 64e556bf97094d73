"""Watchdog observers. The handler only enqueues what it saw; everything else happens elsewhere.

Watchdog runs handlers on its own thread and an exception there kills it silently, so the handler does
nothing that can fail except handing the event to the asyncio loop.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

from watchdog.events import (
    FileClosedEvent,
    FileCreatedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.polling import PollingObserver

log = logging.getLogger("gateway.folderwatch")

# (watch name, path, closed-after-write or renamed into place)
Sink = Callable[[str, Path, bool], None]

EVENTS = [FileCreatedEvent, FileModifiedEvent, FileMovedEvent, FileClosedEvent]


class EnqueueHandler(FileSystemEventHandler):
    def __init__(self, watch_name: str, sink: Sink) -> None:
        self.watch_name = watch_name
        self.sink = sink

    def on_any_event(self, event: FileSystemEvent) -> None:
        try:
            if event.is_directory:
                return
            if isinstance(event, FileMovedEvent):
                # Renamed into place (write-then-rename): complete by convention.
                self.sink(self.watch_name, Path(_text(event.dest_path)), True)
            elif isinstance(event, FileClosedEvent):
                self.sink(self.watch_name, Path(_text(event.src_path)), True)
            elif isinstance(event, (FileCreatedEvent, FileModifiedEvent)):
                self.sink(self.watch_name, Path(_text(event.src_path)), False)
        except Exception:  # never let the observer thread die; the rescan catches what is missed
            log.debug("folder event dropped", exc_info=True)


def _text(p: str | bytes) -> str:
    return p.decode("utf-8", "surrogateescape") if isinstance(p, bytes) else p


def start_observer(polling: bool, watches: list[tuple[str, Path, bool]], sink: Sink, poll_seconds: float = 1.0):
    """One observer for every watch: (name, inbox, recursive). Returns the started observer."""
    observer = PollingObserver(timeout=poll_seconds) if polling else Observer()
    for name, inbox, recursive in watches:
        observer.schedule(EnqueueHandler(name, sink), str(inbox), recursive=recursive, event_filter=EVENTS)
    observer.daemon = True
    observer.start()
    return observer
