"""The folder door: observers feed hints, a tracker waits for complete files, workers claim and process.

Nothing is lost across crashes or failures: a file is either in the inbox, in a claim in the work area
(recovered at start), or delivered. Temporary failures keep the claim and retry with exponential backoff.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import random
from pathlib import Path

from gateway.errors import ConfigError, PinRejected, SigningCertificateInvalid
from gateway.folderwatch import claim as claims
from gateway.folderwatch import mapping
from gateway.folderwatch.claim import Claim
from gateway.folderwatch.layout import Watch
from gateway.folderwatch.scanner import candidate, prune_archive, scan
from gateway.folderwatch.stability import Stability
from gateway.folderwatch.state import BlockedFiles
from gateway.folderwatch.watcher import start_observer
from gateway.folderwatch.worker import ClaimWorker
from gateway.reasons import render

log = logging.getLogger("gateway.folderwatch")


class FolderDoor:
    def __init__(self, settings, engine, watches: list[Watch]) -> None:
        fs = settings.folders
        self.settings = settings
        self.engine = engine
        self.watches = {w.name: w for w in watches}
        self.blocked = {w.name: BlockedFiles(w.blocked_state) for w in watches}
        self.workers = {w.name: ClaimWorker(engine, w, self.blocked[w.name],
                                            max_bytes=settings.limits.max_document_bytes) for w in watches}
        self.stability = {w.name: Stability(fs.quiet_seconds) for w in watches}
        self.concurrency = max(2, settings.signing.workers * 2)
        self.tick = min(0.25, max(0.05, fs.quiet_seconds / 4))
        self._stopping = False
        self._busy = 0
        self._idle = asyncio.Event()
        self._inflight: set[tuple[str, str]] = set()  # (watch, rel) queued for claiming
        self._active: set[str] = set()  # claim ids being processed
        self._attempts: dict[str, int] = {}
        self._timers: set[asyncio.TimerHandle] = set()
        self._tasks: list[asyncio.Task] = []
        self._locks: list = []
        self._observer = None
        self.processed = 0  # claims finished since start (for tests and a future status page)
        self.scans = 0  # full passes over the inboxes since start

    # --- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> list[str]:
        self._loop = asyncio.get_running_loop()
        self._events: asyncio.Queue = asyncio.Queue()
        self._work: asyncio.Queue = asyncio.Queue()
        for w in self.watches.values():
            self._locks.append(_lock(w.work / ".lock"))
        recovered = 0
        for w in self.watches.values():
            for c in await asyncio.to_thread(claims.pending_claims, w):
                self._work.put_nowait(("claim", w.name, c))
                recovered += 1
        if recovered:
            log.warning("folder door: %d file(s) found in the work area after a stop; finishing them", recovered)
        fs = self.settings.folders
        self._observer = await asyncio.to_thread(
            start_observer, fs.polling, [(w.name, w.inbox, w.recursive) for w in self.watches.values()],
            self._sink, fs.poll_seconds,
        )
        self._tasks = [asyncio.create_task(self._track(), name="folder-track"),
                       asyncio.create_task(self._rescan(), name="folder-rescan")]
        self._tasks += [asyncio.create_task(self._worker(), name=f"folder-worker-{i}") for i in range(self.concurrency)]
        mode = "polling" if fs.polling else "inotify"
        lines = []
        for w in self.watches.values():
            lines.append(f"Thư mục / folder «{w.name}» ({mode}): {w.inbox} -> {w.signed} "
                         f"(từ chối / rejected: {w.rejected})")
        return lines

    async def stop(self, grace: float = 30.0) -> None:
        """Stop taking files; let documents in flight finish within `grace`; the rest stay queued safely."""
        self._stopping = True
        if self._observer is not None:
            obs, self._observer = self._observer, None
            obs.unschedule_all()  # first, so no emitter is asked to queue events while it stops
            obs.stop()
            await asyncio.to_thread(obs.join, 5.0)
        for t in self._timers:
            t.cancel()
        self._timers.clear()
        if self._busy:
            self._idle.clear()
            try:
                await asyncio.wait_for(self._idle.wait(), grace)
            except TimeoutError:
                log.warning("folder door: %d document(s) still in flight at stop; they resume at next start",
                            self._busy)
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        for fh in self._locks:
            fh.close()
        self._locks = []

    def backlog(self) -> list[tuple[str, int, int]]:
        """(watch, files waiting, of those held) for /metrics (gateway.metrics)."""
        from gateway.folderwatch.scanner import backlog

        return [(w.name, *backlog(w)) for w in self.watches.values()]

    # --- watching --------------------------------------------------------------------------------

    def _sink(self, watch: str, path: Path, closed: bool) -> None:
        """Called on the observer thread: hand over, nothing else."""
        self._loop.call_soon_threadsafe(self._events.put_nowait, (watch, path, closed))

    async def _track(self) -> None:
        while True:
            try:
                item = await asyncio.wait_for(self._events.get(), self.tick)
            except TimeoutError:
                item = None
            while item is not None:
                name, path, closed = item
                w = self.watches[name]
                rel = candidate(w, path)
                if rel is not None and (name, rel) not in self._inflight:
                    self.stability[name].seen(path, closed=closed)
                item = self._events.get_nowait() if not self._events.empty() else None
            if self._stopping:
                continue
            for name, stab in self.stability.items():
                w = self.watches[name]
                for path in stab.due():
                    rel = candidate(w, path)
                    if rel is not None and (name, rel) not in self._inflight:
                        self._inflight.add((name, rel))
                        self._work.put_nowait(("path", name, rel))

    async def _rescan(self) -> None:
        fs = self.settings.folders
        while True:
            for w in self.watches.values():
                try:
                    found = await asyncio.to_thread(scan, w)
                    await asyncio.to_thread(self.blocked[w.name].prune, w.inbox)
                    await asyncio.to_thread(prune_archive, w, fs.archive_retention_days)
                except OSError as exc:
                    log.error("folder %s: cannot scan %s: %s", w.name, w.inbox, exc.strerror)
                    continue
                for path in found:
                    self._events.put_nowait((w.name, path, False))
            self.scans += 1
            await asyncio.sleep(fs.rescan_seconds)

    # --- working ---------------------------------------------------------------------------------

    async def _worker(self) -> None:
        while True:
            kind, name, item = await self._work.get()
            if self._stopping:
                continue  # left where it is: inbox, or a claim recovered at next start
            self._busy += 1
            try:
                w = self.watches[name]
                if kind == "path":
                    c = await self._take(w, item)
                    if c is None:
                        continue
                else:
                    c = item
                await self._run(w, c)
            except Exception:  # a worker task must not die; the file stays in the inbox or its claim
                log.exception("folder %s: unexpected error handling %s", name, getattr(item, "rel", item))
            finally:
                self._busy -= 1
                if self._busy == 0:
                    self._idle.set()

    async def _take(self, w: Watch, rel: str) -> Claim | None:
        try:
            if self.blocked[w.name].is_known(rel, w.inbox):
                return None
            return await asyncio.to_thread(claims.take, w, rel)
        except (OSError, ValueError) as exc:
            # The file is still in the inbox; the rescan offers it again.
            log.error("folder %s: cannot claim %s: %s", w.name, rel, getattr(exc, "strerror", None) or exc)
            return None
        finally:
            self._inflight.discard((w.name, rel))

    async def _run(self, w: Watch, c: Claim) -> None:
        if c.id in self._active:
            return
        self._active.add(c.id)
        try:
            await self.workers[w.name].run(c)
            self._attempts.pop(c.id, None)
            self.processed += 1
        except Exception as exc:
            n = self._attempts[c.id] = self._attempts.get(c.id, 0) + 1
            # A refused PIN or an unusable certificate waits for an operator: no point in asking often.
            operator = isinstance(exc, (PinRejected, SigningCertificateInvalid))
            delay = self.settings.folders.retry_max_seconds if operator else self._backoff(n)
            reason = mapping.retry_reason(exc)
            log.error("folder %s: %s stays queued (%s: %s); retry %d in %.1f s — %s", w.name, c.rel,
                      type(exc).__name__, _safe(exc), n, delay, render(reason).line())
            if not self._stopping:
                self._schedule(delay, ("claim", w.name, c))
        finally:
            self._active.discard(c.id)

    def _backoff(self, attempt: int) -> float:
        fs = self.settings.folders
        base = min(fs.retry_initial_seconds * 2 ** (attempt - 1), fs.retry_max_seconds)
        return base * random.uniform(0.8, 1.2)  # jitter, so a burst does not retry in lockstep

    def _schedule(self, delay: float, item) -> None:
        def fire() -> None:
            self._timers.discard(handle)
            if not self._stopping:
                self._work.put_nowait(item)

        handle = self._loop.call_later(delay, fire)
        self._timers.add(handle)


def _safe(exc: BaseException) -> str:
    # Operators' log: the error's own message (ours never carry secrets or content), cut short.
    return str(getattr(exc, "message", "") or exc)[:300]


def _lock(path: Path):
    """One door per work area: a second process would take the first one's claims for crashed ones."""
    fh = open(path, "a+")
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        fh.close()
        raise ConfigError(f"another gateway process uses the folder work area {path.parent}",
                          detail="folders.work_dir") from None
    os.chmod(path, 0o600)
    return fh
