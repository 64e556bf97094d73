"""The one place where a pipeline Result or an error becomes what the folder door does with a file.

SIGN -> the signed output (or the original plus a detached .p7s) into signed/; PASS -> the original into
signed/ unchanged; REJECT -> the original into rejected/ with notes; BLOCK -> quarantine (or left in place);
a temporary error -> the file stays queued and is retried later. The verdict is persisted in the claim so a
restart acts on the same decision instead of deciding twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from gateway.errors import GatewayError, PermanentError
from gateway.model import Outcome, Reason, Result


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    reasons: tuple[Reason, ...]
    warnings: tuple[Reason, ...] = ()
    document_id: str | None = None
    record_id: int | None = None
    policy: str | None = None
    output: str | None = None  # the engine's output file, to be placed
    detached: bool = False  # output is a .p7s travelling beside the original
    decided_at: str = ""

    def to_json(self) -> dict:
        return {
            "outcome": self.outcome.value,
            "reasons": [_reason_json(r) for r in self.reasons],
            "warnings": [_reason_json(r) for r in self.warnings],
            "document_id": self.document_id,
            "record_id": self.record_id,
            "policy": self.policy,
            "output": self.output,
            "detached": self.detached,
            "decided_at": self.decided_at,
        }

    @classmethod
    def from_json(cls, d: dict) -> "Verdict":
        return cls(
            outcome=Outcome(d["outcome"]),
            reasons=tuple(_reason(x) for x in d.get("reasons", ())),
            warnings=tuple(_reason(x) for x in d.get("warnings", ())),
            document_id=d.get("document_id"),
            record_id=d.get("record_id"),
            policy=d.get("policy"),
            output=d.get("output"),
            detached=bool(d.get("detached")),
            decided_at=d.get("decided_at", ""),
        )


def _reason_json(r: Reason) -> dict:
    return {"code": r.code, "params": dict(r.params)}


def _reason(d: dict) -> Reason:
    return Reason.of(d["code"], **d.get("params", {}))


def now_text() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def from_result(result: Result) -> Verdict:
    d = result.decision
    out = result.output
    if result.outcome is Outcome.SIGN and out is None:
        # Fail closed: a SIGN without a signed file must never let the original through.
        raise GatewayError("pipeline returned SIGN without an output file")
    return Verdict(
        outcome=result.outcome,
        reasons=tuple(d.reasons),
        warnings=tuple(result.warnings) + tuple(d.warnings),
        document_id=result.document_id,
        record_id=result.record_id,
        policy=f"{d.policy_id}@{d.policy_version}",
        output=str(out.path) if out is not None and result.outcome is Outcome.SIGN else None,
        detached=bool(out is not None and out.detached),
        decided_at=now_text(),
    )


def refused(exc: PermanentError, record_id: int | None = None) -> Verdict:
    """A permanent error raised instead of a Result (broken input, limits, bad sidecar): rejected."""
    return Verdict(Outcome.REJECT, (exc.reason,), record_id=record_id, decided_at=now_text())


def refused_for(reason: Reason, record_id: int | None = None) -> Verdict:
    """The door could not take the file at all (a link, a FIFO, too large, sparse): rejected, with its reason."""
    return Verdict(Outcome.REJECT, (reason,), record_id=record_id, decided_at=now_text())


def bad_metadata(detail: str, record_id: int | None = None) -> Verdict:
    return Verdict(Outcome.REJECT, (Reason.of("BAD_METADATA", detail=detail),), record_id=record_id,
                   decided_at=now_text())


def retry_reason(exc: BaseException) -> Reason:
    """Why a file stays queued; anything unexpected is a temporary internal error (fail closed)."""
    if isinstance(exc, GatewayError):
        return exc.reason
    if isinstance(exc, OSError):
        return Reason.of("STORAGE_UNAVAILABLE")
    return Reason.of("INTERNAL_ERROR")
