"""One small error hierarchy, split by what the caller should do.

TemporaryError: nothing is wrong with the document; try again later (SMTP 451, HTTP 503, file stays queued).
PermanentError: the answer is no and stays no for this input (SMTP 550/554, HTTP 422, file to rejected/).
Each error carries a reason code (rendered to Vietnamese + English by gateway.reasons) and its parameters,
never a PIN, a key or document content.
"""

from __future__ import annotations

import re

from gateway.model import Reason


class GatewayError(Exception):
    """Base of every error the gateway raises on purpose."""

    code = "INTERNAL_ERROR"

    def __init__(self, message: str = "", *, code: str | None = None, **params: object) -> None:
        # `message` is for operators' logs (English, no secrets); people read the rendered reason.
        super().__init__(message or self.__class__.__doc__ or self.code)
        if code:
            self.code = code
        self.message = message
        self.params = {k: str(v) for k, v in params.items()}

    def __reduce__(self):
        # Errors cross from signing worker processes; keep code and parameters when pickled.
        return (_rebuild, (self.__class__, self.message, self.code, self.params))

    @property
    def reason(self) -> Reason:
        return Reason.of(self.code, **self.params)


def _rebuild(cls, message, code, params):
    return cls(message, code=code, **params)


class ConfigError(GatewayError):
    """The configuration or a policy file is wrong; the gateway does not start."""

    code = "CONFIG_INVALID"


# --- try again later -------------------------------------------------------------------------------


class TemporaryError(GatewayError):
    """Not the document's fault: the caller keeps it and retries later."""

    code = "TEMPORARY_FAILURE"


class SignerUnavailable(TemporaryError):
    """The HSM / token cannot sign now (absent, module missing, session lost)."""

    code = "TOKEN_UNAVAILABLE"


class PinRejected(SignerUnavailable):
    """The token refused the PIN (or it is locked). Never retried: an operator must act (Điều 7.2)."""

    code = "PIN_INCORRECT"


class SigningCertificateInvalid(SignerUnavailable):
    """The organisation certificate may not be used now (expired, not yet valid, revoked, wrong usage)."""

    code = "ORG_CERT_INVALID"


class AuditUnavailable(TemporaryError):
    """The decision log cannot be written; nothing is released without a record."""

    code = "AUDIT_UNAVAILABLE"


class UpstreamUnavailable(TemporaryError):
    """The next hop (mail relay) did not accept the message now."""

    code = "UPSTREAM_UNAVAILABLE"


class StorageUnavailable(TemporaryError):
    """Disk full, read-only or otherwise unwritable output."""

    code = "STORAGE_UNAVAILABLE"


class Busy(TemporaryError):
    """Too much work in flight; try again shortly."""

    code = "BUSY"


# --- refused ---------------------------------------------------------------------------------------


class PermanentError(GatewayError):
    """The input is refused; retrying the same input will not help."""

    code = "REFUSED"


class InputRejected(PermanentError):
    """Broken, unsupported, oversize or hostile input."""

    code = "INPUT_REJECTED"


class LimitExceeded(InputRejected):
    """A configured limit (size, parts, depth, time) was exceeded."""

    code = "LIMIT_EXCEEDED"


class PolicyRefusal(PermanentError):
    """Policy says REJECT or BLOCK; carries the decision's reasons."""

    code = "POLICY_REFUSED"


class AuthenticationFailed(PermanentError):
    """The client is not who it says, or not allowed here."""

    code = "AUTH_FAILED"


def is_temporary(exc: BaseException) -> bool:
    """Anything we did not raise on purpose is treated as temporary: fail closed, keep the document."""
    return not isinstance(exc, PermanentError)


_PATH = re.compile(r"(?:[A-Za-z]:)?[/\\](?:[^\s'\"/\\]+[/\\])+([^\s'\":/\\]*)")


def exc_detail(exc: BaseException, limit: int = 160) -> str:
    """An exception as a reason's detail: its type and first line, paths cut to their last part (a work
    file's path says nothing to a clerk, and shows where the gateway keeps its files)."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {_PATH.sub(lambda m: m.group(1) or '…', text)}"[:limit]
