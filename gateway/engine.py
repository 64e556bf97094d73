"""The engine the doors share: a pool of signing worker processes, each with its own Pipeline.

Why processes: python-pkcs11 initialises the PKCS#11 module without locking, so two threads signing at
once crash SoftHSM; one process signs one document at a time. N = settings.signing.workers processes are
started with the *spawn* context (never fork after the module is loaded); each builds one Pipeline at
start and opens its own HSM session once (on first use if the token is not reachable at start).

`workers=0` or `1` runs the pipeline in this process on one thread (no process start-up cost; for the CLI
and small installations). The event loop is never blocked: `submit()` and `sign_smime()` go through
`loop.run_in_executor`.

A worker that dies (segfault in the module, OOM kill) breaks the pool: the pool is replaced and every
document that was in flight is processed once more, alone, in a process of its own (which of them killed
the worker is unknown). A document that kills that process too is the cause: it is refused for good
(DOCUMENT_UNPROCESSABLE, recorded), never answered "try again" for ever. Other calls in flight answer
TemporaryError (the door keeps the document and retries).
GatewayError subclasses cross the process boundary intact (errors.py: __reduce__).
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import threading
import time
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any, Callable

from gateway.audit import AuditLog
from gateway.errors import GatewayError, TemporaryError
from gateway.model import Document, Reason, Result
from gateway.pipeline import Pipeline, safe_name
from gateway.policy import load_policies

log = logging.getLogger("gateway.engine")


class _WorkerDied(TemporaryError):
    """The pool broke under a call (a worker process died)."""


# --- inside a worker process -----------------------------------------------------------------------

_PIPELINE: Pipeline | None = None


def _init_worker(settings, cli_logging=None, log_id: str | None = None) -> None:
    global _PIPELINE
    import signal

    from gateway.logs import setup_cli_logging, setup_logging

    # Ctrl+C reaches the whole foreground process group: only the parent decides how to stop (it finishes
    # the documents in flight, then shuts the pool down); a worker interrupted mid-signature helps nobody.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # spawn children start with bare logging: log the way the parent does (a service, or a quiet command)
    if cli_logging is not None:
        setup_cli_logging(cli_logging)
    else:
        setup_logging(settings)
    # The parent's log, never a new one: a worker started while the log file is missing must not create an
    # empty log and go on signing into it (gateway.audit.log).
    _PIPELINE = Pipeline(settings, audit=AuditLog.open(settings, create=False, expect_log_id=log_id))
    try:
        _PIPELINE.signer  # open the HSM session once, now, rather than on the first document
    except GatewayError as exc:
        log.warning("worker %d: signer not ready at start (%s); will retry on first use", os.getpid(), exc.code)
        _PIPELINE._signer = None
    else:
        warm_up(_PIPELINE)


def _tiny_pdf() -> bytes:
    """A one-page PDF with a line of text, built by hand (offsets computed)."""
    content = b"BT /F1 12 Tf 72 760 Td (Kyso warm-up) Tj ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.7\n")
    offsets = []
    for i, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (i, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % off for off in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def warm_up(pipeline: Pipeline) -> None:
    """Exercise inspection, the visible signature and the output check once on a throw-away PDF, so a
    fresh worker's first real document does not pay for imports, font parsing and pyHanko's first use
    (~2 s). Nothing is recorded; the files are deleted. A failure here only costs the first document time."""
    import tempfile

    from gateway.inspect import inspect
    from gateway.model import Channel
    from gateway.signing.check import check_pdf
    from gateway.signing import PdfSignRequest

    t0 = time.monotonic()
    try:
        base = Path(pipeline.settings.var_dir) / "work"
        base.mkdir(parents=True, exist_ok=True, mode=0o700)
        with tempfile.TemporaryDirectory(prefix="warm-", dir=base) as d:
            src, dst = Path(d) / "warm.pdf", Path(d) / "warm-signed.pdf"
            src.write_bytes(_tiny_pdf())
            inspect(Document(channel=Channel.CLI, name=src.name, path=src), pipeline.settings, None)
            pipeline.signer.sign_pdf(src, dst, PdfSignRequest())
            check_pdf(dst, src, chunk=pipeline.settings.signing.chunk_size)
    except Exception as exc:  # noqa: BLE001 - warming is an optimisation, never a reason not to start
        log.warning("worker %d: warm-up failed (%s); first document will be slower", os.getpid(), type(exc).__name__)
    else:
        log.debug("worker %d warm in %.2f s", os.getpid(), time.monotonic() - t0)


# Each takes the pipeline explicitly when run in-process (workers=0/1), else the worker's own.


def _process(doc: Document, dry_run: bool, out_dir: Path | None, pipeline: Pipeline | None = None) -> Result:
    return (pipeline or _PIPELINE).process(doc, dry_run=dry_run, out_dir=out_dir)  # type: ignore[union-attr]


def _sign_smime(data: bytes, pipeline: Pipeline | None = None) -> bytes:
    return (pipeline or _PIPELINE).signer.sign_smime(data)  # type: ignore[union-attr]


def _sign_statement(data: bytes, pipeline: Pipeline | None = None) -> bytes:
    return (pipeline or _PIPELINE).signer.sign_statement(data)  # type: ignore[union-attr]


def _signer_health(pipeline: Pipeline | None = None) -> dict:
    signer = (pipeline or _PIPELINE).signer  # type: ignore[union-attr]
    h = signer.health() if hasattr(signer, "health") else {"ok": True}
    return h if isinstance(h, dict) else {"ok": bool(h)}


def _pid(linger: float = 0.0, pipeline: Pipeline | None = None) -> int:
    if linger:
        time.sleep(linger)  # keeps this worker busy so sibling tasks land on the others
    return os.getpid()


# --- the engine --------------------------------------------------------------------------------------


class Engine:
    def __init__(self, settings, workers: int | None = None, *, cli_logging=None) -> None:
        self.settings = settings
        self.workers = settings.signing.workers if workers is None else int(workers)
        self.cli_logging = cli_logging  # gateway.logs.CliLogging for a command's workers; None: a service
        load_policies(Path(settings.policy.dir))  # a bad policy stops the start here, not in a worker
        self.audit = AuditLog.open(settings)  # this process's own connection, for door-level events
        self._lock = threading.Lock()
        self._pipeline: Pipeline | None = None
        self._checkpointer = None
        self._refuser: Pipeline | None = None
        self._alone_slots = threading.BoundedSemaphore(max(1, self.workers))
        self._executor: Executor = self._new_executor()
        self._closed = False

    @property
    def in_process(self) -> bool:
        return self.workers <= 1

    def _new_executor(self) -> Executor:
        if self.in_process:
            self._pipeline = Pipeline(self.settings, audit=self.audit)
            return ThreadPoolExecutor(max_workers=1, thread_name_prefix="kyso-sign")
        pool = self._spawn_pool(self.workers)
        # Spawn children are started on demand; start them all now (each opens its HSM session once),
        # so the first documents do not pay for it and a broken start shows here.
        warm = [pool.submit(_pid, 0.2) for _ in range(self.workers)]
        for f in warm:
            f.result()
        return pool

    def _call(self, fn: Callable, *args: Any) -> tuple[Executor, Future]:
        kw = {"pipeline": self._pipeline} if self.in_process else {}
        for attempt in (1, 2):
            with self._lock:
                if self._closed:
                    raise TemporaryError("engine is shut down", code="BUSY")
                executor = self._executor
            try:
                return executor, executor.submit(fn, *args, **kw)
            except BrokenProcessPool:  # found broken before this call entered it: the new pool takes it
                self._replace(executor)
            except RuntimeError as exc:  # submitted while shutting down
                raise TemporaryError(f"engine unavailable: {exc}", code="BUSY") from None
        raise TemporaryError("signing worker died; pool replaced", code="TEMPORARY_FAILURE")

    def _replace(self, broken: Executor) -> None:
        with self._lock:
            if self._executor is not broken or self._closed:
                return  # another caller already replaced it
            log.error("a signing worker died; starting a new pool")
            broken.shutdown(wait=False, cancel_futures=True)
            self._executor = self._new_executor()

    def _unwrap(self, executor: Executor, exc: BaseException) -> BaseException:
        if isinstance(exc, BrokenProcessPool):
            self._replace(executor)
            return _WorkerDied("signing worker died; pool replaced", code="TEMPORARY_FAILURE")
        return exc

    def _alone(self, doc: Document, dry_run: bool, out_dir: Path | None) -> Result:
        """`doc` was in the pool when a worker died: once more in a process of its own. Dying there too
        makes the document the cause: refused for good and recorded."""
        with self._alone_slots:  # a crash with many documents in flight: a few processes at a time
            with self._lock:
                if self._closed:
                    raise TemporaryError("engine is shut down", code="BUSY")
            pool = self._isolated_executor()
            try:
                try:
                    # Its start reads and signs a throw-away PDF (warm_up): a worker that dies there dies of
                    # the system (the token's library, memory), not of this document: try again later.
                    pool.submit(_pid).result()
                except BrokenProcessPool:
                    raise TemporaryError("a new signing worker died on start", code="TEMPORARY_FAILURE") from None
                return pool.submit(_process, doc, dry_run, out_dir).result()
            except BrokenProcessPool:
                log.error("document %s (%s): the signing worker died on it twice; refused",
                          doc.id, safe_name(doc.name))
            finally:
                pool.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            if self._refuser is None:  # records the refusal from this process (the document is not read again)
                self._refuser = Pipeline(self.settings, audit=self.audit)
            refuser = self._refuser
        return refuser.refuse(doc, Reason.of("DOCUMENT_UNPROCESSABLE", detail="a reader stopped on it twice"),
                              dry_run=dry_run)

    def _isolated_executor(self) -> Executor:
        return self._spawn_pool(1)

    def _spawn_pool(self, workers: int) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(self.settings, self.cli_logging, self.audit.log_id),
        )

    def _run(self, fn: Callable, *args: Any, timeout: float | None = None):
        executor, fut = self._call(fn, *args)
        try:
            return fut.result(timeout)
        except BrokenProcessPool as exc:
            raise self._unwrap(executor, exc) from None

    async def _arun(self, fn: Callable, *args: Any):
        executor, fut = self._call(fn, *args)
        try:
            return await asyncio.wrap_future(fut)
        except BrokenProcessPool as exc:
            raise self._unwrap(executor, exc) from None

    # --- public API -----------------------------------------------------------------------------------

    def process(self, doc: Document, *, dry_run: bool = False, out_dir: Path | None = None) -> Result:
        """Blocking: the Result, or TemporaryError (retry later)."""
        try:
            return self._run(_process, doc, dry_run, out_dir)
        except _WorkerDied:
            return self._alone(doc, dry_run, out_dir)

    async def submit(self, doc: Document, dry_run: bool = False, out_dir: Path | None = None) -> Result:
        """For the doors' event loops: never blocks the loop."""
        try:
            return await self._arun(_process, doc, dry_run, out_dir)
        except _WorkerDied:
            return await asyncio.to_thread(self._alone, doc, dry_run, out_dir)

    async def sign_smime(self, mime_bytes: bytes) -> bytes:
        return await self._arun(_sign_smime, mime_bytes)

    def sign_statement(self, data: bytes) -> bytes:
        """A detached CMS over `data` by the organisation key, made in a signing worker (the one place the
        token is used; one signature at a time per process)."""
        return self._run(_sign_statement, bytes(data), timeout=120)

    def start_checkpoints(self) -> None:
        """Sign the decision log's head every audit.checkpoint_records / checkpoint_seconds and at close()."""
        from gateway.audit import Anchor, Checkpointer
        from gateway.audit.log import anchor_dir

        a = self.settings.audit
        self._checkpointer = Checkpointer(
            self.audit, self.sign_statement, organisation=self.settings.organisation,
            every_records=a.checkpoint_records, every_seconds=a.checkpoint_seconds,
            anchor=Anchor(anchor_dir(self.settings)),
        )
        self._checkpointer.start()

    def record_event(self, channel: str, event: str, **fields: Any) -> int:
        """A door-level record ("smtp.relayed", "smtp.refused", "folder.moved", ...); its id."""
        return self.audit.record_event(str(channel), event, **fields).id

    def health(self, timeout: float = 10.0) -> dict:
        """HSM reachable (asked inside a worker) and decision log writable."""
        out: dict[str, Any] = {"workers": max(self.workers, 1), "in_process": self.in_process}
        try:
            out["hsm"] = self._run(_signer_health, timeout=timeout)
            out["hsm_ok"] = bool(out["hsm"].get("ok", True))
        except Exception as exc:  # health answers, never raises
            out["hsm"] = {"ok": False, "error": getattr(exc, "code", type(exc).__name__)}
            out["hsm_ok"] = False
        out["log_ok"] = self.log_health()
        out["ok"] = out["hsm_ok"] and out["log_ok"]
        return out

    def log_health(self) -> bool:
        """The decision log is there (same file) and writable: a stat and a one-row query, cheap enough to ask
        on every health request (only the token's answer may be reused)."""
        try:
            self.audit.ensure_writable()  # deleted or replaced under us: not ok (ALERT logged)
            self.audit.query(limit=1)
            path = self.audit.path
            return path is None or os.access(path, os.W_OK)
        except Exception:
            return False

    def worker_pids(self) -> set[int]:
        """The worker processes' ids (tests and health pages)."""
        if self.in_process:
            return {os.getpid()}
        futures = [self._call(_pid, 0.1)[1] for _ in range(self.workers * 2)]
        return {f.result() for f in futures}

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            checkpointer, self._checkpointer = self._checkpointer, None
        if checkpointer is not None:
            # The doors have stopped: sign the final head while a worker can still reach the token.
            checkpointer.stop(final=True)
        with self._lock:
            if self._closed:
                return
            self._closed = True
            executor = self._executor
        executor.shutdown(wait=True)
        for pipeline in (self._pipeline, self._refuser):
            if pipeline is not None:
                pipeline.close()
        self.audit.close()

    def __enter__(self) -> "Engine":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
