"""The decision log as the rest of the gateway uses it: append, read, verify.

One record per decision (and per door-level event), append-only, hash-chained (gateway.audit.records),
stored behind the `Storage` seam (gateway.audit.storage), anchored by signed checkpoints
(gateway.audit.checkpoints). Never stored: document content, a PIN, a key.

Fail closed, both ways:
- writing: if the log cannot be written — locked, disk full, or the file deleted or replaced under the
  running gateway — `AuditUnavailable` (temporary) is raised and the caller releases nothing; a lost file
  also raises an ALERT (`ensure_writable` lets the pipeline ask before it signs);
- reading: a record not in its one exact form (non-canonical JSON, duplicate keys, odd column types) is
  refused (`AuditRecordInvalid`), never interpreted; `verify` names it;
- a missing log is never created behind the operator's back when one existed (its anchor remembers it),
  and `gateway log verify` on a missing log fails (it opens read-only and never creates).
"""

from __future__ import annotations

import functools
import sqlite3
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from gateway.audit.checkpoints import Anchor, CheckpointInvalid, Statement, read_anchor, verify_signature
from gateway.audit.records import (
    GENESIS,
    KIND_DECISION,
    KIND_EVENT,
    Record,
    RecordInvalid,
    Row,
    canonical_json,
    decision_data,
    time_text,
    utc_now,
)
from gateway.audit.storage import (
    BUSY_TIMEOUT_MS,
    LogLost,
    LogMissing,
    SQLiteStorage,
    Storage,
    StoredCheckpoint,
    sqlite_connect,
)
from gateway.errors import AuditUnavailable, ConfigError

if TYPE_CHECKING:
    from gateway.model import Decision, Document, Facts, Reason, SignedOutput


@dataclass(frozen=True)
class Entry:
    """One record to append (AuditLog.append_all): its columns before the chain gives it a place."""

    kind: str
    channel: str
    outcome: str | None = None
    event: str | None = None
    alert: bool = False
    data: Mapping[str, Any] | None = None
    time: datetime | None = None


def decision_entry(
    doc: "Document",
    *,
    outcome: str,
    decision: "Decision | None" = None,
    facts: "Facts | None" = None,
    output: "SignedOutput | None" = None,
    warnings: tuple["Reason", ...] = (),
    error: "Reason | None" = None,
    duration_ms: float = 0.0,
    dry_run: bool = False,
    alert: bool = False,
    extra: Mapping[str, Any] | None = None,
) -> Entry:
    """The record of one decision (AuditLog.record_decision), to append with others."""
    data = decision_data(doc, decision, facts, output, warnings, error, duration_ms, dry_run)
    data.update(extra or {})
    return Entry(KIND_DECISION, str(doc.channel), outcome=str(outcome), alert=alert, data=data)


def anchor_dir(settings) -> Path:
    """settings.audit.anchor_dir, else `<audit.path>.anchor` beside the log (derived at use, so a changed
    audit.path never points at another log's anchor)."""
    a = settings.audit
    return Path(a.anchor_dir) if a.anchor_dir else Path(a.path).with_name(Path(a.path).name + ".anchor")


class AuditLogLost(AuditUnavailable):
    """The decision log file was deleted or replaced while the gateway ran: nothing is released until it is back."""

    code = "AUDIT_LOG_LOST"


class AuditRecordInvalid(AuditUnavailable):
    """A stored record is not in the log's one exact form; refused on read (an operator must look)."""

    code = "AUDIT_RECORD_INVALID"


@dataclass(frozen=True)
class VerifyReport:
    ok: bool
    count: int
    first_bad: int | None = None  # sequence number of the first record that does not match
    problem: str = ""
    last_hash: str = GENESIS
    checkpoints: int = 0  # checkpoints in the log whose signature and record were verified
    anchored: int = 0  # checkpoints from the anchor (second place) verified against the log
    last_checkpoint: int | None = None  # sequence number covered by the newest verified checkpoint
    signer: str = ""  # who signed the checkpoints (certificate subject)
    notes: tuple[str, ...] = ()

    @property
    def unanchored(self) -> int:
        """Records after the newest checkpoint: covered by the chain only, not yet by a signature."""
        return self.count - (self.last_checkpoint or 0)


@dataclass
class AuditLog:
    """The decision log. One per process (or per thread group); cheap to open."""

    storage: Storage
    path: Path | None = None
    _closed: bool = field(default=False, repr=False)
    busy_timeout_ms: int = BUSY_TIMEOUT_MS  # settings.audit.busy_timeout_seconds, also for connect()
    anchor: Anchor | None = None

    @classmethod
    def open(cls, settings, *, create: bool = True, read_only: bool = False,
             expect_log_id: str | None = None) -> "AuditLog":
        """The configured log. Created only when `create` and its anchor has never known a log: a log that
        went missing is an error for an operator (AUDIT_LOG_LOST), not a fresh start."""
        a = settings.audit
        if a.backend != "sqlite":
            raise ConfigError("audit.backend: only 'sqlite' is built so far", detail="audit.backend")
        path = Path(a.path)
        anchor = Anchor(anchor_dir(settings))
        if create and not read_only and not path.exists() and anchor.holds_a_log():
            known = (anchor.identity() or {}).get("log_id", "?")
            raise AuditLogLost(
                f"decision log {path} is missing, but its anchor {anchor.dir} shows log {known} existed; "
                "restore it (or move the anchor aside to start a new log on purpose)")
        log = cls.at(path, busy_timeout_ms=int(a.busy_timeout_seconds * 1000), create=create,
                     read_only=read_only, expect_log_id=expect_log_id, anchor=anchor)
        if read_only:
            return log
        known = anchor.identity()
        if known is not None and known.get("log_id") != log.log_id:
            # Another log at the path (an empty one some tool created, a swapped file): not the anchored one.
            log.close()
            raise AuditLogLost(
                f"decision log {path} is log {log.log_id}, but its anchor {anchor.dir} belongs to log "
                f"{known.get('log_id', '?')}; restore the anchored log (or move the anchor aside on purpose)")
        if known is None:
            try:  # a new log, or a log from before anchors: the anchor remembers it from now on
                anchor.register(log.log_id, path)
            except OSError as exc:
                log.close()
                raise AuditUnavailable(f"cannot write the decision-log anchor {anchor.dir}: {exc.strerror}") from None
        return log

    @classmethod
    def at(cls, path: Path, *, busy_timeout_ms: int = BUSY_TIMEOUT_MS, create: bool = True, read_only: bool = False,
           expect_log_id: str | None = None, anchor: Anchor | None = None) -> "AuditLog":
        try:
            storage = SQLiteStorage(path, busy_timeout_ms, create=create, read_only=read_only,
                                    expect_log_id=expect_log_id)
        except LogMissing as exc:
            raise AuditLogLost(str(exc)) from None
        except LogLost as exc:
            raise AuditLogLost(str(exc)) from None
        except (sqlite3.Error, OSError) as exc:
            raise AuditUnavailable(f"cannot open decision log {path}: {exc}") from None
        return cls(storage, Path(path), busy_timeout_ms=busy_timeout_ms, anchor=anchor)

    @property
    def log_id(self) -> str:
        return self.storage.log_id

    def connect(self) -> sqlite3.Connection:
        """A new connection to the same database file, for components keeping their own tables there."""
        if self.path is None:
            raise ConfigError("this audit storage has no SQLite file", detail="audit.backend")
        return sqlite_connect(self.path, self.busy_timeout_ms)

    # --- writing ---------------------------------------------------------------------------------

    def ensure_writable(self) -> None:
        """AuditLogLost while the log file is deleted or replaced (one stat; the pipeline asks before signing)."""
        try:
            self.storage.check_identity()
        except LogLost as exc:
            raise AuditLogLost(str(exc)) from None

    @property
    def lost(self) -> str | None:
        return getattr(self.storage, "lost", None)

    def append(
        self,
        kind: str,
        channel: str,
        *,
        outcome: str | None = None,
        event: str | None = None,
        alert: bool = False,
        data: Mapping[str, Any] | None = None,
        time: datetime | None = None,
    ) -> Record:
        """Append one record; AuditUnavailable when it cannot be written (the caller releases nothing)."""
        return self.append_all([Entry(kind, str(channel), outcome, event, alert, data, time)])[0]

    def append_all(self, entries: "list[Entry]") -> list[Record]:
        """Append several records, chained in this order, in one transaction: all are written or none
        (AuditUnavailable, AuditLogLost)."""
        builds = []
        for e in entries:
            when = time_text(e.time or utc_now())
            try:
                body = canonical_json(dict(e.data or {}))
            except ValueError as exc:  # NaN: a bug of the caller, but never a silent record
                raise AuditUnavailable(f"record data not representable: {exc}") from None
            builds.append(functools.partial(Row.build, time=when, kind=e.kind, channel=e.channel, outcome=e.outcome,
                                            event=e.event, alert=bool(e.alert), data=body))
        try:
            return [Record.from_row(row) for row in self.storage.append_all(builds)]
        except LogLost as exc:
            raise AuditLogLost(str(exc)) from None
        except (sqlite3.Error, OSError, ValueError) as exc:
            raise AuditUnavailable(f"decision log not writable: {type(exc).__name__}: {exc}") from None

    def record_decision(self, doc: "Document", **fields: Any) -> Record:
        """The record of one decision (or of a temporary failure: outcome "temporary" + error); `fields` as
        `decision_entry` takes them (`extra`: a container's kind and member count; a member's container id and
        location)."""
        return self.append_all([decision_entry(doc, **fields)])[0]

    def record_event(self, channel: str, event: str, *, alert: bool = False, **fields: Any) -> Record:
        """A door-level event ("smtp.relayed", "smtp.refused", "folder.moved", ...)."""
        return self.append(KIND_EVENT, channel, event=event, alert=alert, data=fields)

    # --- checkpoints -----------------------------------------------------------------------------

    def head(self) -> tuple[int, str] | None:
        """(seq, hash) of the last record."""
        return self._read(self.storage.last)

    def head_seq(self) -> int:
        h = self.head()
        return h[0] if h else 0

    def add_checkpoint(self, cp: StoredCheckpoint) -> None:
        try:
            self.storage.add_checkpoint(cp)
        except LogLost as exc:
            raise AuditLogLost(str(exc)) from None
        except (sqlite3.Error, OSError) as exc:
            raise AuditUnavailable(f"decision log not writable: {type(exc).__name__}: {exc}") from None

    def checkpoints(self) -> list[StoredCheckpoint]:
        return self._read(self.storage.checkpoints)

    def last_checkpoint(self) -> StoredCheckpoint | None:
        cps = self.checkpoints()
        return cps[-1] if cps else None

    # --- reading ---------------------------------------------------------------------------------

    def _record(self, raw: tuple) -> Record:
        try:
            return Record.from_row(Row.from_stored(tuple(raw)))
        except RecordInvalid as exc:
            raise AuditRecordInvalid(f"decision log record refused: {exc}") from None

    def get(self, record_id: int) -> Record | None:
        raw = self._read(lambda: self.storage.raw_get(int(record_id)))
        return self._record(raw) if raw else None

    def query(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        outcome: str | None = None,
        channel: str | None = None,
        kind: str | None = None,
        limit: int | None = None,
    ) -> list[Record]:
        """Records in order (oldest first); `limit` keeps the newest N. `until` is exclusive."""
        where, args = [], []
        for column, op, value in (
            ("time", ">=", since and time_text(since)),
            ("time", "<", until and time_text(until)),
            ("outcome", "=", outcome and str(outcome)),
            ("channel", "=", channel and str(channel)),
            ("kind", "=", kind),
        ):
            if value:
                where.append(f"{column} {op} ?")
                args.append(value)
        rows = self._read(lambda: self.storage.raw_select(" AND ".join(where), args, limit))
        return [self._record(r) for r in rows]

    def verify(self, *, trusted: Sequence[bytes] | None = None, anchor: Path | None = None) -> VerifyReport:
        """Recompute the chain, check every record's form, every checkpoint's signature (signer one of
        `trusted`, the organisation's certificates) and that the records it names still hash as signed;
        with `anchor`, the checkpoints kept in that second place too. Names the first thing that does not match."""
        return _Verifier(self, trusted, anchor).run()

    def _read(self, fn):
        try:
            return fn()
        except (sqlite3.Error, OSError) as exc:
            raise AuditUnavailable(f"decision log not readable: {type(exc).__name__}: {exc}") from None

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.storage.close()

    def __enter__(self) -> "AuditLog":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _Verifier:
    def __init__(self, log: AuditLog, trusted: Sequence[bytes] | None, anchor: Path | None) -> None:
        self.log = log
        self.trusted = trusted
        self.anchor = anchor
        self.count = 0
        self.prev = GENESIS
        self.signer = ""
        self.notes: list[str] = []

    def bad(self, seq: int | None, problem: str, **kw) -> VerifyReport:
        return VerifyReport(False, self.count, seq, problem, self.prev, signer=self.signer,
                            notes=tuple(self.notes), **kw)

    def _checked(self, cps: list[StoredCheckpoint], source: str) -> tuple[dict[int, tuple[str, str]], str | None]:
        """{seq: (hash, source)} of checkpoints whose statement and signature hold, or a problem."""
        out: dict[int, tuple[str, str]] = {}
        log_id = self.log.log_id
        for cp in cps:
            where = f"checkpoint of record #{cp.seq} ({source}, {cp.time})"
            try:
                st = Statement.parse(cp.statement)
                if (st.seq, st.hash) != (cp.seq, cp.hash):
                    raise CheckpointInvalid("stored columns differ from the signed statement")
                if log_id and st.log_id != log_id:
                    raise CheckpointInvalid(f"made for another log ({st.log_id}, this is {log_id})")
                signer = verify_signature(cp.statement, cp.signature, self.trusted)
            except CheckpointInvalid as exc:
                return out, f"{where}: {exc}"
            self.signer = self.signer or signer.subject
            prior = out.get(cp.seq)
            if prior is not None and prior[0] != cp.hash:
                return out, f"{where}: two signed checkpoints disagree about this record"
            out[cp.seq] = (cp.hash, source)
        return out, None

    def run(self) -> VerifyReport:
        log = self.log
        try:
            inside = log.checkpoints()
            outside = read_anchor(self.anchor) if self.anchor is not None else []
        except CheckpointInvalid as exc:
            return self.bad(None, f"anchor: {exc}")
        signed, problem = self._checked(inside, "in the log")
        if problem:
            return self.bad(None, problem)
        anchored, problem = self._checked(outside, f"anchor {self.anchor}")
        if problem:
            return self.bad(None, problem)
        if self.trusted is None and (inside or outside):
            self.notes.append("checkpoint signers not compared with the organisation's certificates")
        need = dict(signed)
        for seq, value in anchored.items():
            if seq in need and need[seq][0] != value[0]:
                return self.bad(seq, f"record #{seq}: the anchor's signed checkpoint and the log's disagree")
            need[seq] = value
        expected = 1
        try:
            for raw in log._read(lambda: list(log.storage.raw_rows())):
                try:
                    row = Row.from_stored(tuple(raw))
                except RecordInvalid as exc:
                    return self.bad(expected, f"record not in the log's exact form: {exc}")
                if row.seq != expected:
                    if row.seq > expected:
                        return self.bad(row.seq, f"missing record(s) {expected}..{row.seq - 1} before it (deleted)")
                    return self.bad(row.seq, "sequence out of order (inserted or reordered)")
                if row.prev_hash != self.prev:
                    return self.bad(row.seq, "prev_hash does not match the record before (deleted, inserted or reordered)")
                if row.computed_hash() != row.hash:
                    return self.bad(row.seq, "hash does not match its fields (edited)")
                if row.seq in need and need[row.seq][0] != row.hash:
                    return self.bad(row.seq, f"record #{row.seq} is not the one signed in the checkpoint "
                                             f"({need[row.seq][1]}): records up to it were rewritten")
                self.prev, expected, self.count = row.hash, row.seq + 1, self.count + 1
        except RecordInvalid as exc:
            return self.bad(expected, f"record not in the log's exact form: {exc}")
        head = log._read(log.storage.head)
        if head is not None and (head[0] != expected - 1 or head[1] != self.prev):
            if head[0] >= expected:
                return self.bad(expected, f"record(s) {expected}..{head[0]} missing at the end (deleted)")
            return self.bad(head[0], "head does not match the last record (inserted at the end)")
        if head is None and self.count:
            return self.bad(1, "head row missing")
        beyond = [s for s in need if s > self.count]
        if beyond:
            top = max(beyond)
            return self.bad(self.count + 1, f"records {self.count + 1}..{top} were signed in a checkpoint "
                                            f"({need[top][1]}) but are missing (cut off)")
        covered = max(need) if need else None
        return VerifyReport(True, self.count, None, "", self.prev, checkpoints=len(signed), anchored=len(anchored),
                            last_checkpoint=covered, signer=self.signer, notes=tuple(self.notes))
