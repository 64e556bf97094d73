"""Where the decision log lives: the `Storage` seam, and SQLite behind it.

A storage keeps three things: the records (append-only, each carrying the hash of the one before), the
signed checkpoints of the chain head, and the log's identity (`log_id`, a random id given at creation). It
answers in raw column tuples; `gateway.audit.log` checks every value before anyone reads it.

SQLite (`SQLiteStorage`): one file, WAL, mode 0600 in a 0700 directory; several threads (one connection,
a lock) and several processes (BEGIN IMMEDIATE around read-last-hash + insert; busy_timeout). Loss of the
file is noticed before every append (`check_identity`): the path must still name the inode opened at start
(st_dev, st_ino). A deleted or replaced file raises `LogLost` — the writer would otherwise go on writing
into an unlinked inode nobody will ever read again. When the very file is back at the path (renamed back),
writing resumes; any other file (a restored copy) waits for an operator: `gateway log verify`, then a restart.

PostgreSQL (not built yet) fits the same seam: `append` = one transaction taking `SELECT ... FOR UPDATE`
on the head row, then INSERT record + UPDATE head; `audit_checkpoint` and `audit_meta` are ordinary tables;
append-only is enforced by a role with INSERT/SELECT only (no UPDATE/DELETE grant) plus the same triggers;
`check_identity` compares the log_id in `audit_meta` and the cluster's `system_identifier` (pg_control_system())
with what was seen at connect, which catches a restored or swapped database the way the inode check catches
a swapped file. Nothing above this module knows which one it talks to.
"""

from __future__ import annotations

import logging
import os
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol, Sequence

from gateway.audit.records import GENESIS, Row

log = logging.getLogger("gateway.audit")

BUSY_TIMEOUT_MS = 30_000
ALERT_EVERY_SECONDS = 60.0  # a lost log is an ALERT once a minute, not once per document


class LogLost(OSError):
    """The decision log file this process writes to was deleted or replaced."""


class LogMissing(FileNotFoundError):
    """There is no decision log where one is expected (never created silently)."""


@dataclass(frozen=True)
class StoredCheckpoint:
    """A signed statement about the chain head, as stored: statement text (canonical JSON) + CMS (DER)."""

    seq: int
    hash: str
    time: str
    statement: str
    signature: bytes


class Storage(Protocol):
    """Where records live. `append` runs `build(next_seq, prev_hash)` and inserts its row atomically;
    `append_all` does so for several, chained, in one transaction (all or none)."""

    log_id: str

    def append(self, build: Callable[[int, str], Row]) -> Row: ...
    def append_all(self, builds: Sequence[Callable[[int, str], Row]]) -> list[Row]: ...
    def raw_rows(self, after: int = 0) -> Iterator[tuple]: ...
    def head(self) -> tuple[int, str] | None: ...
    def last(self) -> tuple[int, str] | None: ...
    def raw_get(self, seq: int) -> tuple | None: ...
    def raw_select(self, where: str, args: list[Any], limit: int | None) -> list[tuple]: ...
    def add_checkpoint(self, cp: StoredCheckpoint) -> None: ...
    def checkpoints(self) -> list[StoredCheckpoint]: ...
    def check_identity(self) -> None: ...
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
CREATE TABLE IF NOT EXISTS audit_checkpoint (
    seq INTEGER PRIMARY KEY,
    hash TEXT NOT NULL,
    time TEXT NOT NULL,
    statement TEXT NOT NULL,
    signature BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS audit_meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
-- Append-only inside the application; a determined editor of the file is caught by verify().
CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_checkpoint_no_update BEFORE UPDATE ON audit_checkpoint
BEGIN SELECT RAISE(ABORT, 'audit_checkpoint is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_checkpoint_no_delete BEFORE DELETE ON audit_checkpoint
BEGIN SELECT RAISE(ABORT, 'audit_checkpoint is append-only'); END;
"""

_COLUMNS = "seq, time, kind, channel, outcome, event, alert, data, prev_hash, hash"


def _create_private(path: Path) -> None:
    """Directory 0700, file 0600, created before SQLite opens it (its -wal/-shm copy the file's mode)."""
    if not path.parent.exists():
        path.parent.mkdir(parents=True, mode=0o700)
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW, 0o600)
    os.close(fd)


def sqlite_connect(path: Path, busy_timeout_ms: int = BUSY_TIMEOUT_MS, *, read_only: bool = False) -> sqlite3.Connection:
    if read_only:
        uri = Path(path).absolute().as_uri() + "?mode=ro"
        conn = sqlite3.connect(uri, uri=True, timeout=busy_timeout_ms / 1000, isolation_level=None,
                               check_same_thread=False)
    else:
        conn = sqlite3.connect(path, timeout=busy_timeout_ms / 1000, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
    if not read_only:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")  # WAL + NORMAL: survives a crash of the process
    return conn


def _identity(path: Path) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_dev, st.st_ino


class SQLiteStorage:
    def __init__(self, path: Path, busy_timeout_ms: int = BUSY_TIMEOUT_MS, *, create: bool = True,
                 read_only: bool = False, expect_log_id: str | None = None) -> None:
        self.path = Path(path)
        self.busy_timeout_ms = busy_timeout_ms
        self.read_only = read_only
        self._lock = threading.Lock()
        if not self.path.exists():
            if not create or read_only:
                raise LogMissing(f"decision log not found: {self.path}")
            _create_private(self.path)
        os.chmod(self.path, 0o600)
        self._conn = sqlite_connect(self.path, busy_timeout_ms, read_only=read_only)
        self._ident = _identity(self.path)
        self._lost: str | None = None
        self._alerted = 0.0
        with self._lock:
            if not read_only:
                self._conn.executescript(_SCHEMA)
            self.log_id = self._read_log_id(create=not read_only)
        if expect_log_id is not None and self.log_id != expect_log_id:
            self._conn.close()
            raise LogLost(f"{self.path} holds decision log {self.log_id or '?'}, not {expect_log_id}")

    def _read_log_id(self, *, create: bool) -> str:
        c = self._conn
        try:
            row = c.execute("SELECT value FROM audit_meta WHERE key = 'log_id'").fetchone()
        except sqlite3.OperationalError:  # a read-only look at a log from before audit_meta
            return ""
        if row is None and create:
            c.execute("INSERT OR IGNORE INTO audit_meta (key, value) VALUES ('log_id', ?)", (secrets.token_hex(16),))
            row = c.execute("SELECT value FROM audit_meta WHERE key = 'log_id'").fetchone()
        return row[0] if row else ""

    # --- identity (loss detection) ------------------------------------------------------------------

    @property
    def lost(self) -> str | None:
        """Why the log is lost now (deleted / replaced), or None."""
        return self._lost

    def check_identity(self) -> None:
        """LogLost unless the path still names the log this process writes to (cheap: one stat)."""
        try:
            ident = _identity(self.path)
        except FileNotFoundError:
            self._lose("deleted")
            return
        if ident == self._ident:
            if self._lost is not None:
                self._found("back in place")
            return
        # Another file at the path, even a copy of this log, is not adopted while running: its WAL, its
        # missing tail and its origin are for an operator to check (`gateway log verify`) and a restart.
        self._lose("replaced by another file")

    def _lose(self, why: str) -> None:
        first = self._lost is None
        self._lost = why
        now = time.monotonic()
        if first or now - self._alerted >= ALERT_EVERY_SECONDS:
            self._alerted = now
            log.error("ALERT decision log %s %s: signing and releasing stop until it is back (pid %d)",
                      self.path, why, os.getpid())
        raise LogLost(f"decision log {self.path} {why}")

    def _found(self, how: str) -> None:
        log.error("ALERT cleared: decision log %s %s; resuming (pid %d)", self.path, how, os.getpid())
        self._lost = None

    # --- records ------------------------------------------------------------------------------------

    def append(self, build: Callable[[int, str], Row]) -> Row:
        return self.append_all([build])[0]

    def append_all(self, builds: Sequence[Callable[[int, str], Row]]) -> list[Row]:
        """The rows of `builds`, chained one to the next, in one transaction: a container's decision and its
        members' are written together (one commit instead of one each: ~1 ms a record here), or none is."""
        self.check_identity()
        with self._lock:
            c = self._conn
            c.execute("BEGIN IMMEDIATE")  # takes the write lock before reading the last hash
            try:
                last = c.execute("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
                seq, prev = last if last else (0, GENESIS)
                rows = []
                for build in builds:
                    row = build(seq + 1, prev)
                    c.execute(
                        f"INSERT INTO audit_log ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)",
                        (row.seq, row.time, row.kind, row.channel, row.outcome, row.event, int(row.alert),
                         row.data, row.prev_hash, row.hash),
                    )
                    rows.append(row)
                    seq, prev = row.seq, row.hash
                if rows:
                    c.execute(
                        "INSERT INTO audit_head (id, seq, hash) VALUES (1, ?, ?) "
                        "ON CONFLICT(id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
                        (seq, prev),
                    )
                c.execute("COMMIT")
            except BaseException:
                if c.in_transaction:
                    c.execute("ROLLBACK")
                raise
            return rows

    def _fetch(self, sql: str, args: list[Any] | tuple = ()) -> list[tuple]:
        with self._lock:
            return self._conn.execute(sql, args).fetchall()

    def raw_rows(self, after: int = 0) -> Iterator[tuple]:
        # Pages, so a long log is not read into memory at once.
        while True:
            page = self._fetch(f"SELECT {_COLUMNS} FROM audit_log WHERE seq > ? ORDER BY seq LIMIT 1000", (after,))
            if not page:
                return
            yield from page
            last = page[-1][0]
            if type(last) is not int:
                return  # a non-integer key cannot be paged past; the reader refuses that row anyway
            after = last

    def head(self) -> tuple[int, str] | None:
        r = self._fetch("SELECT seq, hash FROM audit_head WHERE id = 1")
        return (r[0][0], r[0][1]) if r else None

    def last(self) -> tuple[int, str] | None:
        r = self._fetch("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
        return (r[0][0], r[0][1]) if r else None

    def raw_get(self, seq: int) -> tuple | None:
        found = self._fetch(f"SELECT {_COLUMNS} FROM audit_log WHERE seq = ?", (seq,))
        return found[0] if found else None

    def raw_select(self, where: str, args: list[Any], limit: int | None) -> list[tuple]:
        cond = f" WHERE {where}" if where else ""
        if limit is None:
            return self._fetch(f"SELECT {_COLUMNS} FROM audit_log{cond} ORDER BY seq", args)
        # The newest `limit` records, still returned oldest first.
        inner = f"SELECT {_COLUMNS} FROM audit_log{cond} ORDER BY seq DESC LIMIT ?"
        return self._fetch(f"SELECT {_COLUMNS} FROM ({inner}) ORDER BY seq", [*args, limit])

    # --- checkpoints --------------------------------------------------------------------------------

    def add_checkpoint(self, cp: StoredCheckpoint) -> None:
        self.check_identity()
        with self._lock:
            self._conn.execute(
                "INSERT OR IGNORE INTO audit_checkpoint (seq, hash, time, statement, signature) VALUES (?,?,?,?,?)",
                (cp.seq, cp.hash, cp.time, cp.statement, cp.signature),
            )

    def checkpoints(self) -> list[StoredCheckpoint]:
        try:
            rows = self._fetch("SELECT seq, hash, time, statement, signature FROM audit_checkpoint ORDER BY seq")
        except sqlite3.OperationalError:  # a log from before checkpoints, opened read-only
            return []
        return [StoredCheckpoint(r[0], r[1], r[2], r[3], bytes(r[4]) if r[4] is not None else b"") for r in rows]

    def close(self) -> None:
        with self._lock:
            self._conn.close()
