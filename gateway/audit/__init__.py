"""The decision log: one record per decision (and per door-level event), append-only, hash-chained, anchored
by checkpoints signed with the organisation's HSM key.

- `records`: the one exact form of a record (canonical JSON data, strict columns) and its hash;
- `storage`: the seam (`Storage`): SQLite now, PostgreSQL later; loss detection (deleted/replaced file);
- `checkpoints`: signed statements of the chain head, the anchor (a second place), the `Checkpointer`;
- `log`: `AuditLog`, what the rest of the gateway uses (append, read, verify).

Other components that keep their own tables in the same database file (certificate inventory) call
`AuditLog.connect()` or use `AuditLog.path`; they must not touch the `audit_*` tables. The reports read
through `query()`. See docs/security.md for the anchor scheme and the auditor's command.
"""

from gateway.audit.checkpoints import Anchor, Checkpointer, CheckpointInvalid, Statement
from gateway.audit.log import AuditLog, AuditLogLost, AuditRecordInvalid, VerifyReport
from gateway.audit.records import (
    GENESIS,
    KIND_DECISION,
    KIND_EVENT,
    OUTCOME_TEMPORARY,
    Record,
    RecordInvalid,
    Row,
    canonical_json,
    decision_data,
    parse_canonical,
    to_utc,
    utc_now,
)
from gateway.audit.storage import BUSY_TIMEOUT_MS, SQLiteStorage, Storage, StoredCheckpoint, sqlite_connect

__all__ = [
    "Anchor", "AuditLog", "AuditLogLost", "AuditRecordInvalid", "BUSY_TIMEOUT_MS", "CheckpointInvalid",
    "Checkpointer", "GENESIS", "KIND_DECISION", "KIND_EVENT", "OUTCOME_TEMPORARY", "Record", "RecordInvalid",
    "Row", "SQLiteStorage", "Statement", "Storage", "StoredCheckpoint", "VerifyReport", "canonical_json",
    "decision_data", "parse_canonical", "sqlite_connect", "to_utc", "utc_now",
]
