"""The decision log: one record per decision (and per door-level event), append-only, hash-chained.

Every record stores `prev_hash` (the hash of the record before it; 64 zeros for the first) and
`hash` = SHA-256 over the canonical JSON (sorted keys, UTF-8, no spaces) of its fields: the sequence
number, time, kind, channel, outcome, event, alert flag, data and prev_hash. `verify()` walks the chain
and names the first record that does not match: an edited field changes its hash, a deleted or inserted
record breaks the sequence numbers and the next prev_hash, a reorder breaks both. A separate head row
(last sequence number and hash, written in the same transaction) catches a cut-off tail; an attacker who
rewrites the whole file can defeat any self-contained chain, so keep the last hash `gateway log verify`
prints somewhere else (report, ticket) to anchor it.

Never stored: document content, a PIN, a key. Stored: names, sizes, hashes, reason codes + parameters,
policy id + version, signer certificate fingerprint + serial, warnings, duration, flags.

Storage is behind the small `Storage` protocol. `SQLiteStorage` (WAL, one file under settings.audit.path,
mode 0600 in a 0700 directory) is safe with several threads (one connection per AuditLog guarded by a
lock) and several processes (BEGIN IMMEDIATE around read-last-hash + insert; busy_timeout). A PostgreSQL
storage can follow behind the same protocol (SELECT … FOR UPDATE on the head row); it is not built yet.

Other components that keep their own tables in the same database file (certificate inventory) call
`AuditLog.connect()` (a fresh sqlite3 connection with the same pragmas) or use `AuditLog.path`; they must
not touch the `audit_log` / `audit_head` tables. The reports read through `query()`.

If the log cannot be written, `AuditUnavailable` (temporary) is raised and the caller releases nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping, Protocol

from gateway.errors import AuditUnavailable, ConfigError

if TYPE_CHECKING:
    from gateway.model import Decision, Document, Facts, Reason, SignedOutput

GENESIS = "0" * 64
BUSY_TIMEOUT_MS = 30_000

KIND_DECISION = "decision"
KIND_EVENT = "event"
OUTCOME_TEMPORARY = "temporary"  # a decision that could not be made/acted on now (TemporaryError)


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def to_utc(when: datetime) -> datetime:
    """Aware UTC; a naive time is taken as UTC."""
    return when.replace(tzinfo=timezone.utc) if when.tzinfo is None else when.astimezone(timezone.utc)


def _time_text(when: datetime) -> str:
    return to_utc(when).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class Row:
    """A record as stored: the hashed fields plus prev_hash and hash."""

    seq: int
    time: str  # ISO 8601 UTC, microseconds, "+00:00"
    kind: str
    channel: str
    outcome: str | None
    event: str | None
    alert: bool
    data: str  # canonical JSON
    prev_hash: str
    hash: str

    def hashed_fields(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "time": self.time,
            "kind": self.kind,
            "channel": self.channel,
            "outcome": self.outcome,
            "event": self.event,
            "alert": bool(self.alert),
            "data": json.loads(self.data),
            "prev_hash": self.prev_hash,
        }

    def computed_hash(self) -> str:
        return hashlib.sha256(canonical_json(self.hashed_fields()).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Record:
    """A record for readers (CLI, reports)."""

    id: int
    time: datetime
    kind: str
    channel: str
    outcome: str | None
    event: str | None
    alert: bool
    data: Mapping[str, Any]
    prev_hash: str
    hash: str

    @classmethod
    def from_row(cls, row: Row) -> "Record":
        return cls(
            row.seq, datetime.fromisoformat(row.time), row.kind, row.channel, row.outcome, row.event,
            bool(row.alert), json.loads(row.data), row.prev_hash, row.hash,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "time": self.time.isoformat(), "kind": self.kind, "channel": self.channel,
            "outcome": self.outcome, "event": self.event, "alert": self.alert, "data": dict(self.data),
            "prev_hash": self.prev_hash, "hash": self.hash,
        }


@dataclass(frozen=True)
class VerifyReport:
    ok: bool
    count: int
    first_bad: int | None = None  # sequence number of the first record that does not match
    problem: str = ""
    last_hash: str = GENESIS


class Storage(Protocol):
    """Where records live. `append` runs `build(next_seq, prev_hash)` and inserts its row atomically."""

    def append(self, build: Callable[[int, str], Row]) -> Row: ...
    def rows(self) -> Iterator[Row]: ...
    def head(self) -> tuple[int, str] | None: ...
    def get(self, seq: int) -> Row | None: ...
    def select(self, where: str, args: list[Any], limit: int | None) -> list[Row]: ...
    def close(self) -> None: ...


_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit_log (
    seq INTEGER PRIMARY KEY,
    time TEXT NOT NULL,
    kind TEXT NOT NULL,
    channel TEXT NOT NULL,
    outcome TEXT,
    event TEXT,
    alert INTEGER NOT NULL DEFAULT 0,
    data TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_log_time ON audit_log(time);
CREATE INDEX IF NOT EXISTS audit_log_outcome ON audit_log(outcome, time);
CREATE TABLE IF NOT EXISTS audit_head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL,
    hash TEXT NOT NULL
);
-- Append-only inside the application; a determined editor of the file is caught by verify().
CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
"""

_COLUMNS = "seq, time, kind, channel, outcome, event, alert, data, prev_hash, hash"


def _secure_file(path: Path) -> None:
    """Directory 0700, file 0600, created before SQLite opens it (its -wal/-shm copy the file's mode)."""
    if not path.parent.exists():
        path.parent.mkdir(parents=True, mode=0o700)
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    os.chmod(path, 0o600)


def sqlite_connect(path: Path, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=busy_timeout_ms / 1000, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")  # WAL + NORMAL: survives a crash of the process
    return conn


class SQLiteStorage:
    def __init__(self, path: Path, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> None:
        self.path = Path(path)
        _secure_file(self.path)
        self._lock = threading.Lock()
        self._conn = sqlite_connect(self.path, busy_timeout_ms)
        with self._lock:
            self._conn.executescript(_SCHEMA)

    def append(self, build: Callable[[int, str], Row]) -> Row:
        with self._lock:
            c = self._conn
            c.execute("BEGIN IMMEDIATE")  # takes the write lock before reading the last hash
            try:
                last = c.execute("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
                row = build(last[0] + 1, last[1]) if last else build(1, GENESIS)
                c.execute(
                    f"INSERT INTO audit_log ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)",
                    (row.seq, row.time, row.kind, row.channel, row.outcome, row.event, int(row.alert),
                     row.data, row.prev_hash, row.hash),
                )
                c.execute(
                    "INSERT INTO audit_head (id, seq, hash) VALUES (1, ?, ?) "
                    "ON CONFLICT(id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
                    (row.seq, row.hash),
                )
                c.execute("COMMIT")
            except BaseException:
                if c.in_transaction:
                    c.execute("ROLLBACK")
                raise
            return row

    def _fetch(self, sql: str, args: list[Any] | tuple = ()) -> list[Row]:
        with self._lock:
            return [Row(*r[:6], bool(r[6]), *r[7:]) for r in self._conn.execute(sql, args).fetchall()]

    def rows(self) -> Iterator[Row]:
        # Pages, so a long log is not read into memory at once.
        after = 0
        while True:
            page = self._fetch(f"SELECT {_COLUMNS} FROM audit_log WHERE seq > ? ORDER BY seq LIMIT 1000", (after,))
            if not page:
                return
            yield from page
            after = page[-1].seq

    def head(self) -> tuple[int, str] | None:
        with self._lock:
            r = self._conn.execute("SELECT seq, hash FROM audit_head WHERE id = 1").fetchone()
        return (r[0], r[1]) if r else None

    def get(self, seq: int) -> Row | None:
        found = self._fetch(f"SELECT {_COLUMNS} FROM audit_log WHERE seq = ?", (seq,))
        return found[0] if found else None

    def select(self, where: str, args: list[Any], limit: int | None) -> list[Row]:
        cond = f" WHERE {where}" if where else ""
        if limit is None:
            return self._fetch(f"SELECT {_COLUMNS} FROM audit_log{cond} ORDER BY seq", args)
        # The newest `limit` records, still returned oldest first.
        inner = f"SELECT {_COLUMNS} FROM audit_log{cond} ORDER BY seq DESC LIMIT ?"
        return self._fetch(f"SELECT {_COLUMNS} FROM ({inner}) ORDER BY seq", [*args, limit])

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def _reasons(reasons) -> list[dict[str, Any]]:
    return [{"code": r.code, "params": dict(r.params)} for r in reasons]


def decision_data(doc, decision, facts, output, warnings, error, duration_ms, dry_run) -> dict[str, Any]:
    """What the log keeps of one decision: metadata only, never content (and never a title)."""
    o = doc.origin
    data: dict[str, Any] = {
        "document_id": doc.id,
        "name": doc.name,
        "doc_kind": str(doc.kind),
        "declared_media_type": doc.media_type,
        "origin": {
            "sender": o.sender, "recipients": list(o.recipients), "path": o.path, "client": o.client,
            "message_id": o.message_id,
        },
        # The client's own reference lets a portal find its decision; the title stays out (it is content).
        "declared": {"number": doc.declared.number, "classification": doc.declared.classification,
                     "client_reference": doc.declared.client_reference},
        "dry_run": bool(dry_run),
        "duration_ms": round(float(duration_ms), 3),
        "warnings": _reasons(warnings),
    }
    if facts is not None:
        data.update(size=facts.size, sha256_before=facts.sha256, media_type=facts.media_type,
                    signatures=len(facts.signatures))
    if decision is not None:
        data.update(
            reasons=_reasons(decision.reasons),
            hits=[{"rule": h.rule, "outcome": h.outcome and str(h.outcome), "code": h.reason.code} for h in decision.hits],
            policy={"id": decision.policy_id, "version": decision.policy_version},
            sign_format=decision.sign_format and str(decision.sign_format),
            appearance=decision.appearance and str(decision.appearance),
        )
    if output is not None:
        data.update(
            sha256_after=output.sha256, size_after=output.size, detached=output.detached,
            signer={"sha256": output.signer_sha256, "serial": output.signer_serial},
        )
    if error is not None:
        data["error"] = {"code": error.code, "params": dict(error.params)}
    return data


@dataclass
class AuditLog:
    """The decision log. One per process (or per thread group); cheap to open."""

    storage: Storage
    path: Path | None = None
    _closed: bool = field(default=False, repr=False)
    busy_timeout_ms: int = BUSY_TIMEOUT_MS  # settings.audit.busy_timeout_seconds, also for connect()

    @classmethod
    def open(cls, settings) -> "AuditLog":
        a = settings.audit
        if a.backend != "sqlite":
            raise ConfigError("audit.backend: only 'sqlite' is built so far", detail="audit.backend")
        return cls.at(Path(a.path), busy_timeout_ms=int(a.busy_timeout_seconds * 1000))

    @classmethod
    def at(cls, path: Path, *, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> "AuditLog":
        try:
            return cls(SQLiteStorage(path, busy_timeout_ms), Path(path), busy_timeout_ms=busy_timeout_ms)
        except (sqlite3.Error, OSError) as exc:
            raise AuditUnavailable(f"cannot open decision log {path}: {exc}") from None

    def connect(self) -> sqlite3.Connection:
        """A new connection to the same database file, for components keeping their own tables there."""
        if self.path is None:
            raise ConfigError("this audit storage has no SQLite file", detail="audit.backend")
        return sqlite_connect(self.path, self.busy_timeout_ms)

    # --- writing ---------------------------------------------------------------------------------

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
        when = _time_text(time or utc_now())
        body = canonical_json(dict(data or {}))

        def build(seq: int, prev: str) -> Row:
            draft = Row(seq, when, kind, str(channel), outcome, event, bool(alert), body, prev, "")
            return Row(**{**draft.__dict__, "hash": draft.computed_hash()})

        try:
            return Record.from_row(self.storage.append(build))
        except (sqlite3.Error, OSError, ValueError) as exc:
            raise AuditUnavailable(f"decision log not writable: {type(exc).__name__}: {exc}") from None

    def record_decision(
        self,
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
    ) -> Record:
        """The record of one decision (or of a temporary failure: outcome "temporary" + error)."""
        return self.append(
            KIND_DECISION,
            str(doc.channel),
            outcome=str(outcome),
            alert=alert,
            data=decision_data(doc, decision, facts, output, warnings, error, duration_ms, dry_run),
        )

    def record_event(self, channel: str, event: str, *, alert: bool = False, **fields: Any) -> Record:
        """A door-level event ("smtp.relayed", "smtp.refused", "folder.moved", ...)."""
        return self.append(KIND_EVENT, channel, event=event, alert=alert, data=fields)

    # --- reading ---------------------------------------------------------------------------------

    def get(self, record_id: int) -> Record | None:
        row = self._read(lambda: self.storage.get(int(record_id)))
        return Record.from_row(row) if row else None

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
            ("time", ">=", since and _time_text(since)),
            ("time", "<", until and _time_text(until)),
            ("outcome", "=", outcome and str(outcome)),
            ("channel", "=", channel and str(channel)),
            ("kind", "=", kind),
        ):
            if value:
                where.append(f"{column} {op} ?")
                args.append(value)
        rows = self._read(lambda: self.storage.select(" AND ".join(where), args, limit))
        return [Record.from_row(r) for r in rows]

    def verify(self) -> VerifyReport:
        """Recompute the chain; name the first record that does not match."""
        expected_seq, prev, count = 1, GENESIS, 0

        def bad(seq: int, problem: str) -> VerifyReport:
            return VerifyReport(False, count, seq, problem, prev)

        for row in self._read(lambda: list(self.storage.rows())):
            if row.seq != expected_seq:
                if row.seq > expected_seq:
                    return bad(row.seq, f"missing record(s) {expected_seq}..{row.seq - 1} before it (deleted)")
                return bad(row.seq, "sequence out of order (inserted or reordered)")
            if row.prev_hash != prev:
                return bad(row.seq, "prev_hash does not match the record before (deleted, inserted or reordered)")
            if row.computed_hash() != row.hash:
                return bad(row.seq, "hash does not match its fields (edited)")
            prev, expected_seq, count = row.hash, row.seq + 1, count + 1
        head = self._read(self.storage.head)
        if head is not None and (head[0] != expected_seq - 1 or head[1] != prev):
            if head[0] >= expected_seq:
                return bad(expected_seq, f"record(s) {expected_seq}..{head[0]} missing at the end (deleted)")
            return bad(head[0], "head does not match the last record (inserted at the end)")
        if head is None and count:
            return bad(1, "head row missing")
        return VerifyReport(True, count, None, "", prev)

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
