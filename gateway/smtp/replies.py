"""Every SMTP reply the gateway itself composes, in one place: Result / error -> code, enhanced status, text.

Text: Vietnamese first, English second, with the stable reason code. SMTP reply text must be 7-bit unless the
client used SMTPUTF8 (RFC 6531), so Vietnamese is sent without diacritics ("Tai lieu ... / Document ...") to
ordinary clients, and in full UTF-8 only when the transaction was opened with MAIL FROM ... SMTPUTF8. RFC 2047
is not allowed in reply text, so it is not used. Each reply line stays under 512 octets (RFC 5321 4.5.3.1.5).
Internals (exception types, paths, hostnames) never appear: only rendered reason codes.
"""

from __future__ import annotations

import re
import textwrap
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from gateway.errors import GatewayError, LimitExceeded, PermanentError, UpstreamUnavailable
from gateway.model import Outcome, Reason, Result
from gateway.reasons import render

MAX_TEXT = 400  # leaves room for "550-5.7.1 " and UTF-8 growth under the 512-octet line limit


@dataclass(frozen=True)
class Reply:
    code: int
    status: str  # enhanced status code, e.g. "5.7.1"
    lines: tuple[str, ...]
    reasons: tuple[Reason, ...] = ()

    @property
    def permanent(self) -> bool:
        return self.code >= 500

    @property
    def temporary(self) -> bool:
        return 400 <= self.code < 500

    def render(self, utf8: bool = False) -> str:
        """The reply as sent: multi-line with '-' continuations, CRLF between lines (aiosmtpd adds the last)."""
        texts: list[str] = []
        for line in self.lines:
            line = line if utf8 else ascii_text(line)
            texts.extend(textwrap.wrap(line, MAX_TEXT, break_long_words=True) or [""])
        out = []
        for i, text in enumerate(texts):
            sep = " " if i == len(texts) - 1 else "-"
            out.append(f"{self.code}{sep}{self.status} {text}".rstrip())
        return "\r\n".join(out)


def ascii_text(text: str) -> str:
    """Vietnamese without diacritics, other non-ASCII replaced: safe in a 7-bit reply line."""
    text = text.replace("đ", "d").replace("Đ", "D").replace("«", '"').replace("»", '"')
    text = unicodedata.normalize("NFD", text)
    text = "".join(c for c in text if not unicodedata.combining(c))
    return text.encode("ascii", "replace").decode("ascii")


def _reason_lines(reasons: tuple[Reason, ...]) -> tuple[str, ...]:
    return tuple(render(r).line() for r in reasons)


# --- local answers ---------------------------------------------------------------------------------------


def relay_denied() -> Reply:
    return Reply(550, "5.7.1", _reason_lines((Reason.of("RELAY_DENIED"),)), (Reason.of("RELAY_DENIED"),))


def auth_required() -> Reply:
    return Reply(530, "5.7.0", _reason_lines((Reason.of("AUTH_REQUIRED"),)), (Reason.of("AUTH_REQUIRED"),))


def message_too_large(limit: int | None) -> Reply:
    """MAIL ... SIZE= over the limit, or DATA that grew past it (RFC 1870: 552, RFC 3463: 5.3.4)."""
    reason = Reason.of("MESSAGE_TOO_LARGE", max=limit)
    return Reply(552, "5.3.4", _reason_lines((reason,)), (reason,))


def bad_parameter(name: str) -> Reply:
    reason = Reason.of("SMTP_BAD_PARAMETER", param=name)
    return Reply(501, "5.5.4", _reason_lines((reason,)), (reason,))


def accepted_locally() -> Reply:
    return Reply(250, "2.1.0", ("OK",))


def smtputf8_unsupported_upstream() -> Reply:
    reason = Reason.of("UPSTREAM_REFUSED", reply="SMTPUTF8")
    return Reply(553, "5.6.7", _reason_lines((reason,)), (reason,))


# Reasons that only say a configured limit was passed (RFC 1870 / RFC 3463: 552 5.3.4).
LIMIT_CODES = frozenset({"LIMIT_EXCEEDED", "MESSAGE_TOO_LARGE", "CONTAINER_TOO_LARGE", "CONTAINER_TOO_MANY_ENTRIES"})


def refused(results: list[Result]) -> Reply:
    """REJECT / BLOCK of one or more documents: 550 5.7.1 with every reason, blocks first."""
    blocking = [r for r in results if r.outcome is Outcome.BLOCK]
    chosen = blocking or [r for r in results if r.outcome is Outcome.REJECT]
    reasons: list[Reason] = []
    for r in chosen:
        for reason in r.decision.reasons:
            if reason not in reasons:
                reasons.append(reason)
    head = (
        "Thu bi chan: tai lieu mang dau chi do mat / Message blocked: a document carries a state-secret mark"
        if blocking
        else "Thư bị từ chối / Message refused"
    )
    if not blocking and reasons and all(r.code in LIMIT_CODES for r in reasons):
        # refused for its size or shape only: the sender's system reads 552 5.3.4 as "too big", not "forbidden"
        return Reply(552, "5.3.4", (head,) + _reason_lines(tuple(reasons)), tuple(reasons))
    return Reply(550, "5.7.1", (head,) + _reason_lines(tuple(reasons)), tuple(reasons))


def blocked(reasons: tuple[Reason, ...]) -> Reply:
    """A message refused at the door before any document (e.g. declared secret in the subject)."""
    return Reply(550, "5.7.1", ("Thư bị chặn / Message blocked",) + _reason_lines(reasons), reasons)


def refused_for(reasons: tuple[Reason, ...]) -> Reply:
    """A message refused for a reason that is not a secret (e.g. the sender's own S/MIME signature)."""
    return Reply(550, "5.7.1", ("Thư bị từ chối / Message refused",) + _reason_lines(reasons), reasons)


def for_error(exc: BaseException) -> Reply:
    """An error while handling a message. Permanent errors we raised on purpose -> 5xx with their reason;
    everything else (temporary, or a bug of ours) -> 451 4.x.x: the sender's queue keeps the message."""
    if isinstance(exc, GatewayError):
        reason = exc.reason
        if isinstance(exc, LimitExceeded):
            return Reply(552, "5.3.4", _reason_lines((reason,)), (reason,))
        if isinstance(exc, PermanentError):
            return Reply(550, "5.6.0", _reason_lines((reason,)), (reason,))
        if isinstance(exc, UpstreamUnavailable):
            return Reply(451, "4.4.1", _reason_lines((Reason.of(exc.code),)), (Reason.of(exc.code),))
        return Reply(451, "4.3.0", _reason_lines((Reason.of(exc.code),)), (Reason.of(exc.code),))
    internal = Reason.of("INTERNAL_ERROR")
    return Reply(451, "4.3.0", _reason_lines((internal,)), (internal,))


def upstream(reply) -> Reply:
    """Mirror the next hop's answer (its code and text; an enhanced code is kept if it sent one)."""
    text = " ".join(reply.text.split()) or "-"
    status, _, rest = text.partition(" ")
    if _is_enhanced(status) and status[0] == str(reply.code)[0]:
        return Reply(reply.code, status, (rest or "-",))
    default = {2: "2.0.0", 4: "4.0.0", 5: "5.0.0"}.get(reply.code // 100, "5.0.0")
    return Reply(reply.code, default, (text,))


def _is_enhanced(token: str) -> bool:
    bits = token.split(".")
    return len(bits) == 3 and all(b.isdigit() for b in bits)


# --- aiosmtpd's own answers ------------------------------------------------------------------------------
# aiosmtpd 1.4.6 writes these itself, in English and mostly without an enhanced status code. GatewaySMTP.push
# hands every line it sends to `protocol()`; a line that is exactly one of these is replaced by the bilingual
# reply with the same 3-digit code (clients and Postfix act on the code: it never changes).

_Make = Callable[[re.Match, "int | None"], Reason]
_PROTOCOL: tuple[tuple[re.Pattern, int, str, _Make], ...] = tuple(
    (re.compile(pattern), code, status, make)
    for pattern, code, status, make in (
        (r"530 5\.7\.0 Authentication required", 530, "5.7.0", lambda m, lim: Reason.of("AUTH_REQUIRED")),
        (r"552 Error: message size exceeds fixed maximum message size", 552, "5.3.4",
         lambda m, lim: Reason.of("MESSAGE_TOO_LARGE", max=lim)),
        (r"552 Error: Too much mail data", 552, "5.3.4", lambda m, lim: Reason.of("MESSAGE_TOO_LARGE", max=lim)),
        (r"503 Error: send (HELO|EHLO) first", 503, "5.5.1",
         lambda m, lim: Reason.of("SMTP_BAD_SEQUENCE", command="EHLO/HELO")),
        (r"503 Error: need (MAIL|RCPT) command", 503, "5.5.1",
         lambda m, lim: Reason.of("SMTP_BAD_SEQUENCE", command=m[1])),
        (r"503 Error: nested MAIL command", 503, "5.5.1", lambda m, lim: Reason.of("SMTP_NESTED_MAIL")),
        (r"503 Already authenticated", 503, "5.5.1", lambda m, lim: Reason.of("SMTP_ALREADY_AUTHENTICATED")),
        (r"501 Syntax: (.+)", 501, "5.5.4", lambda m, lim: Reason.of("SMTP_SYNTAX", usage=m[1])),
        (r"501 (?:Not enough value|Too many values)", 501, "5.5.4",
         lambda m, lim: Reason.of("SMTP_SYNTAX", usage="AUTH <mechanism> [initial-response]")),
        (r"501 Error: (BODY) can only be one of 7BIT, 8BITMIME", 501, "5.5.4",
         lambda m, lim: Reason.of("SMTP_BAD_PARAMETER", param=m[1])),
        (r"501 Error: (SMTPUTF8) takes no arguments", 501, "5.5.4",
         lambda m, lim: Reason.of("SMTP_BAD_PARAMETER", param=m[1])),
        (r"555 (MAIL FROM|RCPT TO) parameters not recognized or not implemented", 555, "5.5.4",
         lambda m, lim: Reason.of("SMTP_UNKNOWN_PARAMETER", command=m[1])),
        (r"553 5\.1\.3 Error: malformed address", 553, "5.1.3", lambda m, lim: Reason.of("SMTP_BAD_ADDRESS")),
        # The unknown command's name is the client's text: not echoed back.
        (r"""500 Error: (?:bad syntax|command (?:".*"|'.*') not recognized)""", 500, "5.5.2",
         lambda m, lim: Reason.of("SMTP_BAD_COMMAND")),
        (r"500 Command line too long", 500, "5.5.2", lambda m, lim: Reason.of("SMTP_LINE_TOO_LONG")),
        (r"538 5\.7\.11 Encryption required for requested authentication mechanism", 538, "5.7.11",
         lambda m, lim: Reason.of("SMTP_TLS_REQUIRED")),
        (r"535 5\.7\.8 Authentication credentials invalid", 535, "5.7.8", lambda m, lim: Reason.of("AUTH_FAILED")),
        (r"504 5\.5\.4 Unrecognized authentication type", 504, "5.5.4",
         lambda m, lim: Reason.of("SMTP_AUTH_MECHANISM")),
    )
)
_PROTOCOL_CODES = frozenset(str(code) for _, code, _, _ in _PROTOCOL)


def protocol(line: str, max_bytes: int | None = None) -> Reply | None:
    """The bilingual reply for one of aiosmtpd's own English lines, or None (a line the gateway composed)."""
    if line[:3] not in _PROTOCOL_CODES:
        return None
    for pattern, code, status, make in _PROTOCOL:
        m = pattern.fullmatch(line)
        if m:
            reason = make(m, max_bytes)
            return Reply(code, status, _reason_lines((reason,)), (reason,))
    return None
