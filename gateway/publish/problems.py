"""Results and errors become HTTP answers here, and only here.

200: the signed (or, for PASS, the unchanged) document; 422: REJECT / BLOCK as application/problem+json
(RFC 9457) with reason codes, Vietnamese and English text and the legal basis; 503 + Retry-After: try again
later (also for anything unexpected: fail closed, never a 500 with internals); 401 / 413 / 408 / 400 / 404 for
the door's own refusals.
"""

from __future__ import annotations

import logging
from typing import Iterable

from starlette.responses import JSONResponse

from gateway.errors import (
    AuthenticationFailed,
    Busy,
    GatewayError,
    InputRejected,
    LimitExceeded,
    PermanentError,
    PinRejected,
    SigningCertificateInvalid,
)
from gateway.model import Outcome, Reason, Result
from gateway.reasons import render

log = logging.getLogger("gateway.publish")

PROBLEM_JSON = "application/problem+json"
URN = "urn:kyso:problem:"
REALM = "kyso-gateway"

# Seconds a caller should wait before retrying (a lost HSM session usually comes back in seconds; a refused
# PIN or an unusable certificate needs an operator).
RETRY_AFTER_BUSY = 5
RETRY_AFTER_DEFAULT = 30
RETRY_AFTER_OPERATOR = 300


# --- the door's own refusals (subclasses of the shared hierarchy; codes are in gateway.reasons) -------


class AuthRequired(AuthenticationFailed):
    """No bearer token was presented."""

    code = "AUTH_REQUIRED"


class UploadTooLarge(LimitExceeded):
    """The request body is over settings.http.max_upload_bytes."""

    code = "TOO_LARGE"


class UploadTooSlow(LimitExceeded):
    """The request body did not arrive within settings.http.request_seconds."""

    code = "TIME_LIMIT"


class BadRequest(InputRejected):
    """The request is malformed (headers, multipart structure, fields)."""

    code = "BAD_REQUEST"


class BadMetadata(InputRejected):
    """A metadata field has a value we do not accept."""

    code = "BAD_METADATA"


class NotFound(PermanentError):
    """No such decision record (or no such endpoint)."""

    code = "NOT_FOUND"


# --- mapping ----------------------------------------------------------------------------------------


def problem_type(code: str) -> str:
    return URN + code.lower().replace("_", "-")


def decision_id(result: Result) -> str:
    """The id a client uses with GET /v1/decisions/{id}."""
    return str(result.record_id) if result.record_id is not None else result.document_id


def problem(
    status: int,
    reasons: Iterable[Reason],
    *,
    headers: dict[str, str] | None = None,
    **extra: object,
) -> JSONResponse:
    """An application/problem+json answer; type and title come from the first reason."""
    rendered = [render(r) for r in reasons]
    first = rendered[0]
    body: dict[str, object] = {
        "type": problem_type(first.code),
        "title": f"{first.vi} / {first.en}",
        "status": status,
        "detail": "\n".join(r.line() for r in rendered),
        "code": first.code,
        "reasons": [r.as_dict() for r in rendered],
    }
    body.update({k: v for k, v in extra.items() if v is not None})
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def refusal(result: Result) -> JSONResponse:
    """REJECT / BLOCK -> 422 with every reason the policy gave."""
    d = result.decision
    return problem(
        422,
        d.reasons or (Reason.of("POLICY_REFUSED"),),
        headers=result_headers(result),
        outcome=str(d.outcome),
        decision_id=decision_id(result),
        policy={"id": d.policy_id, "version": d.policy_version},
        **({"members": members_json(result)} if result.members else {}),
    )


def members_json(result: Result) -> list[dict[str, object]]:
    """A container's members (archive entries, embedded files), each with what happened to it and why."""
    return [
        {"name": m.name, "location": m.location, "role": m.role, "outcome": str(m.outcome), "signed": m.signed,
         "reasons": [render(r).as_dict() for r in m.reasons]}
        for m in result.members
    ]


def result_headers(result: Result) -> dict[str, str]:
    return {"X-Kyso-Decision-Id": decision_id(result), "X-Kyso-Outcome": str(result.outcome)}


def decision_json(result: Result) -> dict[str, object]:
    """The decision alone, for POST /v1/documents:check (nothing signed)."""
    d = result.decision
    return {
        "decision_id": decision_id(result),
        "document_id": result.document_id,
        "outcome": str(d.outcome),
        "would_release": d.outcome in (Outcome.SIGN, Outcome.PASS),
        "reasons": [render(r).as_dict() for r in d.reasons],
        "warnings": [render(r).as_dict() for r in (*d.warnings, *result.warnings)],
        "policy": {"id": d.policy_id, "version": d.policy_version},
        "sign_format": str(d.sign_format) if d.sign_format else None,
        "dry_run": result.dry_run,
        "members": members_json(result),
    }


def status_for(exc: BaseException) -> int:
    if isinstance(exc, AuthenticationFailed):
        return 401
    if isinstance(exc, UploadTooLarge):
        return 413
    if isinstance(exc, UploadTooSlow):
        return 408
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, (BadRequest, BadMetadata)):
        return 400
    if isinstance(exc, PermanentError):
        return 422
    return 503  # TemporaryError and anything we did not raise on purpose: fail closed, try again


def for_exception(exc: BaseException) -> JSONResponse:
    """Any exception -> its HTTP answer. Unexpected ones are logged (type only to clients) and become 503."""
    status = status_for(exc)
    headers: dict[str, str] = {}
    if isinstance(exc, GatewayError):
        reason = exc.reason
        if status in (400, 408, 413):  # a request refused before any decision: its record is this log line
            log.info("portal request refused (%d): %s %s", status, reason.code, reason.args.get("detail", ""))
    else:
        log.error("unexpected error in the HTTP door", exc_info=exc)
        reason = Reason.of("INTERNAL_ERROR")
    if status == 401:
        # RFC 6750: no error attribute when no credentials were sent at all.
        err = "" if isinstance(exc, AuthRequired) else ', error="invalid_token"'
        headers["WWW-Authenticate"] = f'Bearer realm="{REALM}"{err}'
    elif status == 503:
        headers["Retry-After"] = str(retry_after(exc))
    elif status == 413 or status == 408:
        headers["Connection"] = "close"  # the rest of the body is not read
    return problem(status, [reason], headers=headers)


def retry_after(exc: BaseException) -> int:
    if isinstance(exc, (PinRejected, SigningCertificateInvalid)):
        return RETRY_AFTER_OPERATOR
    if isinstance(exc, Busy):
        return RETRY_AFTER_BUSY
    return RETRY_AFTER_DEFAULT
