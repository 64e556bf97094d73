"""What one decision-log record is, in its one exact stored form, and how it is hashed.

A record's `data` is canonical JSON: keys sorted, no duplicate keys, no NaN/Infinity, separators "," and
":", UTF-8 text (not \\u escapes) — exactly what `canonical_json` writes. A reader refuses anything else
(`RecordInvalid`): a duplicate key (which SQL's json_extract reads one way and Python another), an extra
space or a reordered key would let two readers see two different records behind one hash. The other columns
are checked as strictly: integer sequence number, the one time format, alert exactly 0 or 1, 64 lower-case
hex digits for each hash.

`hash` = SHA-256 over canonical JSON of {seq, time, kind, channel, outcome, event, alert, data, prev_hash}
(data as the parsed object), unchanged since the first version of the log, so old logs still verify.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Mapping

GENESIS = "0" * 64
KIND_DECISION = "decision"
KIND_EVENT = "event"
KINDS = (KIND_DECISION, KIND_EVENT)
OUTCOME_TEMPORARY = "temporary"  # a decision that could not be made/acted on now (TemporaryError)

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}\+00:00$")


class RecordInvalid(ValueError):
    """A stored record is not in the one exact form the gateway writes: refused, never interpreted."""


def _clean(value: Any) -> Any:
    """Values as JSON can hold them exactly: strings with lone surrogates (file names that are not UTF-8,
    kept by Python as surrogate escapes) get their bytes written as \\xNN; tuples become lists."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
            return value
        except UnicodeEncodeError:
            return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError("NaN/Infinity cannot be recorded")
        return value
    return _clean(str(value))  # enums, paths, dates: their text


def canonical_json(value: Any) -> str:
    """The one exact text of a JSON value (what the log stores and hashes)."""
    return json.dumps(_clean(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise RecordInvalid(f"duplicate key {key[:40]!r} in record data")
        out[key] = value
    return out


def _no_constants(name: str) -> Any:
    raise RecordInvalid(f"{name} in record data")


def parse_canonical(text: str) -> Any:
    """The value of a canonical JSON text; RecordInvalid for any other form of it."""
    if not isinstance(text, str):
        raise RecordInvalid(f"record data is {type(text).__name__}, not text")
    try:
        value = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constants)
    except RecordInvalid:
        raise
    except ValueError as exc:
        raise RecordInvalid(f"record data is not JSON: {exc}") from None
    if canonical_json(value) != text:
        raise RecordInvalid("record data is not in canonical form (key order, spacing or escapes differ)")
    return value


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def to_utc(when: datetime) -> datetime:
    """Aware UTC; a naive time is taken as UTC."""
    return when.replace(tzinfo=timezone.utc) if when.tzinfo is None else when.astimezone(timezone.utc)


def time_text(when: datetime) -> str:
    return to_utc(when).isoformat(timespec="microseconds")


def _sha256_text(value: Any) -> str:
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()


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
            "data": parse_canonical(self.data),
            "prev_hash": self.prev_hash,
        }

    def computed_hash(self) -> str:
        return _sha256_text(self.hashed_fields())

    @classmethod
    def build(cls, seq: int, prev_hash: str, *, time: str, kind: str, channel: str, outcome: str | None,
              event: str | None, alert: bool, data: str) -> "Row":
        draft = cls(seq, time, kind, channel, outcome, event, bool(alert), data, prev_hash, "")
        return cls(seq, time, kind, channel, outcome, event, bool(alert), data, prev_hash, draft.computed_hash())

    @classmethod
    def from_stored(cls, values: tuple) -> "Row":
        """A row exactly as the storage returned it (seq, time, kind, channel, outcome, event, alert, data,
        prev_hash, hash); RecordInvalid unless every column has the one form the gateway writes."""
        seq, when, kind, channel, outcome, event, alert, data, prev, digest = values
        if type(seq) is not int or seq < 1:
            raise RecordInvalid(f"sequence number {seq!r} is not a positive integer")
        where = f"record #{seq}: "
        if not isinstance(when, str) or not _TIME.match(when):
            raise RecordInvalid(where + "time is not in the log's one format")
        if kind not in KINDS:
            raise RecordInvalid(where + f"unknown kind {str(kind)[:20]!r}")
        if not isinstance(channel, str) or not channel:
            raise RecordInvalid(where + "channel is not text")
        for name, v in (("outcome", outcome), ("event", event)):
            if v is not None and not isinstance(v, str):
                raise RecordInvalid(where + f"{name} is not text")
        if type(alert) is not int or alert not in (0, 1):
            raise RecordInvalid(where + "alert flag is not 0 or 1")
        for name, v in (("prev_hash", prev), ("hash", digest)):
            if not isinstance(v, str) or not _HEX64.match(v):
                raise RecordInvalid(where + f"{name} is not 64 lower-case hex digits")
        try:
            parse_canonical(data)
        except RecordInvalid as exc:
            raise RecordInvalid(where + str(exc)) from None
        return cls(seq, when, kind, channel, outcome, event, bool(alert), data, prev, digest)


@dataclass(frozen=True)
class Record:
    """A record for readers (CLI, reports, the portal)."""

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
            bool(row.alert), parse_canonical(row.data), row.prev_hash, row.hash,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "time": self.time.isoformat(), "kind": self.kind, "channel": self.channel,
            "outcome": self.outcome, "event": self.event, "alert": self.alert, "data": dict(self.data),
            "prev_hash": self.prev_hash, "hash": self.hash,
        }


def _reasons(reasons) -> list[dict[str, Any]]:
    return [{"code": r.code, "params": dict(r.params)} for r in reasons]


def decision_data(doc, decision, facts, output, warnings, error, duration_ms, dry_run) -> dict[str, Any]:
    """What the log keeps of one decision: metadata only, never content (and never a title)."""
    o = doc.origin
    data: dict[str, Any] = {
        "document_id": doc.id,
        "name": doc.name,
        "doc_kind": str(decision.kind if decision is not None and decision.kind is not None else doc.kind),
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
        if facts.form is not None:  # the Decree 30 form's evidence: parts and places, no content (issue 14)
            from gateway.inspect.forms import evidence

            data["form"] = evidence(facts.form)
    if decision is not None and decision.kind is not None:
        data["kind"] = {"decided": str(decision.kind), "basis": decision.kind_basis,
                        "declared": doc.declared.kind and str(doc.declared.kind)}
    if decision is not None:
        reasons = _reasons(decision.reasons)
        if error is not None:
            # Temporary: nothing was signed or refused. The record says why it must wait (`error`); what the policy
            # meant to do is kept apart, so no reader takes "signed with the organisation's certificate" as done.
            data["intended"] = {"outcome": str(decision.outcome), "reasons": reasons}
            reasons = []
        data.update(
            reasons=reasons,
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
