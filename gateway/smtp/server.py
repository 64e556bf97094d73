"""The SMTP listener: aiosmtpd's protocol, extended for what real mail needs, and the relay handler.

Extensions over stock aiosmtpd (which answers 555 to DSN parameters and 500 to lines over 1000 octets):
- DSN (RFC 3461): advertised; RET/ENVID on MAIL and NOTIFY/ORCPT on RCPT are taken out of the command
  before aiosmtpd sees it (keeping their original case, since ENVID and ORCPT are case-sensitive xtext),
  validated, and forwarded to the next hop when it supports DSN.
- Lines longer than 1000 octets in DATA are accepted (up to the message size limit).
- DATA is read in large blocks (`read_data`), not line by line: aiosmtpd's per-line loop cost a third of the
  door's CPU on 1 MB messages. Same semantics: dot-unstuffing after CRLF only (a bare LF is data), the size
  limit enforced while reading (552 after the terminator, nothing kept), `original_content` = `content` =
  the unstuffed bytes.
- SIZE is the configured max_message_bytes, advertised in EHLO and enforced for both MAIL SIZE= and DATA.
- 8BITMIME and SMTPUTF8 are advertised and forwarded.
- Bounded resources (issue 15), all optional (the development sink and the benches run without): a
  `ConnectionGuard` answers 421 at once over the door's or one address's connection limit; the whole DATA must
  arrive within `data_seconds` (each block of it resets the idle timer, a command must come within
  `timeout`); a `Budget` bounds the message bytes held in memory at once — past it a body is written to a
  private spool file (0600 in the 0700 spool_dir) and waits for room before it is read back and processed,
  451 BUSY when it waited too long.
- aiosmtpd's own English replies (530, 552 at MAIL SIZE=, 501/503 syntax and sequence errors...) are
  re-worded in `push` through replies.protocol: Vietnamese and English, an enhanced status code, a reason
  code; the 3-digit code and the protocol state are aiosmtpd's, unchanged.

The handler keeps one upstream transaction per client transaction (see relay.py for why).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hashlib
import hmac
import ipaddress
import logging
import os
import re
import secrets
import ssl
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import AsyncIterator, Callable

from aiosmtpd.smtp import MISSING, SMTP, AuthResult, Envelope, LoginPassword, Session, syntax

from gateway.admission import Budget, ConnectionGuard
from gateway.errors import Busy
from gateway.model import Reason
from gateway.smtp import replies
from gateway.smtp.relay import Upstream

log = logging.getLogger("gateway.smtp.server")

_XTEXT = re.compile(r"^(?:[!-*,-<>-~]|\+[0-9A-F]{2})+$")  # RFC 3461 xtext
_NOTIFY = {"NEVER", "SUCCESS", "FAILURE", "DELAY"}
MAIL_DSN = ("RET", "ENVID")
RCPT_DSN = ("NOTIFY", "ORCPT")


@dataclass
class Transaction:
    """What the handler keeps about one client transaction beside aiosmtpd's Envelope."""

    upstream: Upstream | None = None
    mail_dsn: dict[str, str] = field(default_factory=dict)
    rcpt_dsn: list[dict[str, str]] = field(default_factory=list)  # aligned with envelope.rcpt_tos
    refused_rcpts: int = 0


class GatewaySMTP(SMTP):
    """aiosmtpd.smtp.SMTP with DSN parameters, long lines and a consistent SIZE."""

    def __init__(self, handler, *, max_message_bytes: int, guard: ConnectionGuard | None = None,
                 budget: Budget | None = None, spool_dir: Path | None = None, data_seconds: float | None = None,
                 processing_seconds: float = 3600.0, **kwargs) -> None:
        # SMTP.__init__ sizes its StreamReader from line_length_limit: set it first. A line may be as long
        # as the whole message; the DATA size limit still applies.
        self.line_length_limit = max_message_bytes + 3
        super().__init__(handler, data_size_limit=max_message_bytes, enable_SMTPUTF8=True, **kwargs)
        self.guard = guard
        self.budget = budget
        self.spool_dir = spool_dir
        self.data_seconds = data_seconds
        self.processing_seconds = processing_seconds  # the connection is not timed out while a message is processed
        self._guard_addr: str | None = None
        self._refused = False
        # aiosmtpd keeps these limits in a class-level dict it mutates per EHLO; give each connection its own,
        # wide enough for ORCPT/ENVID parameters (RFC 3461 4.1 allows long xtext values).
        self.command_size_limits = collections.defaultdict(lambda: 512, {"MAIL": 2048, "RCPT": 2048})
        self.pending_dsn: dict[str, str] = {}
        self.transaction = Transaction()

    def connection_made(self, transport) -> None:
        if self.guard is not None and self._original_transport is None and not self._refused:
            self._guard_addr = self.guard.admit(transport.get_extra_info("peername"))
            if self._guard_addr is None:
                # Over the door's or this address's limit: answered and closed now, holding nothing.
                self._refused = True
                reason = Reason.of("TOO_MANY_CONNECTIONS")
                reply = replies.Reply(421, "4.7.0", replies._reason_lines((reason,)), (reason,))
                transport.write(reply.render().encode("ascii") + b"\r\n")
                transport.close()
                return
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        if self._refused:
            return
        if self.guard is not None and self._guard_addr is not None:
            self.guard.release(self._guard_addr)
            self._guard_addr = None
        self._lose_connection(error)

    def eof_received(self):
        if self._refused:
            return False
        return super().eof_received()

    async def push(self, status) -> None:
        if isinstance(status, str):
            reply = replies.protocol(status, self.data_size_limit)
            if reply is not None:
                status = reply_text(reply, self.envelope)
        await super().push(status)

    async def smtp_EHLO(self, hostname: str):
        await self._reset_transaction()
        await super().smtp_EHLO(hostname)

    async def smtp_HELO(self, hostname: str):
        await self._reset_transaction()
        await super().smtp_HELO(hostname)

    async def smtp_RSET(self, arg: str):
        await self._reset_transaction()
        await super().smtp_RSET(arg)

    async def smtp_MAIL(self, arg: str | None) -> None:
        await self._with_dsn(arg, "FROM:", MAIL_DSN, super().smtp_MAIL)

    async def smtp_RCPT(self, arg: str | None) -> None:
        await self._with_dsn(arg, "TO:", RCPT_DSN, super().smtp_RCPT)

    async def _with_dsn(self, arg, keyword: str, names: tuple[str, ...], command) -> None:
        """Take the DSN parameters out (kept in `pending_dsn` for the handler), then run aiosmtpd's command."""
        arg, dsn, error = self._take_params(arg, keyword, names)
        if error:
            await self.push(error)
            return
        self.pending_dsn = dsn
        await command(arg)

    def _take_params(self, arg: str | None, keyword: str, names: tuple[str, ...]) -> tuple[str | None, dict, str]:
        """Remove DSN parameters from a MAIL/RCPT argument; return (rest, {NAME: value}, error reply)."""
        if not arg or not self.session or not self.session.extended_smtp:
            return arg, {}, ""
        body = self._strip_command_keyword(keyword, arg)
        if body is None:
            return arg, {}, ""
        address, params = self._getaddr(body)
        if address is None or not params or not body.endswith(params):
            return arg, {}, ""
        keep, dsn = [], {}
        for token in params.split():
            name, eq, value = token.partition("=")
            if name.upper() in names and eq:
                if name.upper() in dsn:
                    return arg, {}, reply_text(replies.bad_parameter(name.upper()), self.envelope)
                dsn[name.upper()] = value
            else:
                keep.append(token)
        problem = _check_dsn(dsn)
        if problem:
            return arg, {}, reply_text(replies.bad_parameter(problem), self.envelope)
        prefix = arg[: len(arg) - len(params)]
        return (prefix.rstrip() + (" " + " ".join(keep) if keep else "")), dsn, ""

    @syntax("DATA")
    async def smtp_DATA(self, arg: str) -> None:
        """aiosmtpd's smtp_DATA (same checks, replies and envelope), with the body read by `read_data`."""
        if self._decode_data:  # never set by the gateway; keep aiosmtpd's str-decoding path as it is
            await super().smtp_DATA(arg)
            return
        if await self.check_helo_needed():
            return
        if await self.check_auth_needed("DATA"):
            return
        assert self.envelope is not None
        if not self.envelope.rcpt_tos:
            await self.push("503 Error: need RCPT command")
            return
        if arg:
            await self.push("501 Syntax: DATA")
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        reader = self._reader
        saved_limit = reader._limit
        if self.budget is not None:
            # Read DATA in blocks of at most DATA_BLOCK (readuntil stops at its reader's limit, and the reader
            # pauses the socket past twice that): a 47 MB body never sits whole in the reader's buffer.
            reader._limit = DATA_BLOCK
        try:
            async with asyncio.timeout(self.data_seconds):
                received = await read_data(reader, self.data_size_limit, budget=self.budget,
                                           spool_dir=self.spool_dir, progress=self._reset_timeout)
        except asyncio.CancelledError:
            log.info("connection lost during DATA")
            self._writer.close()
            raise
        except asyncio.IncompleteReadError:
            log.info("connection closed during DATA")
            self._writer.close()
            return
        except TimeoutError:  # the whole DATA took longer than data_seconds: a slow sender holds no slot forever
            await self._reset_transaction()
            reason = Reason.of("DATA_TIMEOUT", seconds=self.data_seconds)
            await self.push(reply_text(replies.Reply(421, "4.4.2", replies._reason_lines((reason,)), (reason,)),
                                       self.envelope))
            self._writer.close()
            return
        finally:
            reader._limit = saved_limit
        if received is None:
            await self._reset_transaction()  # the transaction is over: the next hop's too
            await self.push(reply_text(replies.message_too_large(self.data_size_limit), self.envelope))
            self._set_post_data_state()
            return
        self._reset_timeout(self.processing_seconds)  # processing is not idling
        try:
            async with _in_memory(received, self.budget) as content:
                self.envelope.content = content
                self.envelope.original_content = content
                status = await self._call_handler_hook("DATA") if "DATA" in self._handle_hooks else MISSING
        except Busy as exc:  # no room in memory for it within inflight_wait_seconds: the sender retries
            await self._reset_transaction()
            status = reply_text(replies.for_error(exc), self.envelope)
        self._set_post_data_state()
        await self.push("250 OK" if status is MISSING else status)
        self._reset_timeout()

    async def _reset_transaction(self) -> None:
        up = self.transaction.upstream
        self.transaction = Transaction(upstream=up)
        if up is not None:
            await up.rset()

    def _lose_connection(self, error: Exception | None) -> None:
        super().connection_lost(error)
        up, self.transaction.upstream = self.transaction.upstream, None
        if up is not None:
            # Closing talks to the network; never inside this callback's frame.
            asyncio.ensure_future(up.close(), loop=self.loop)


_DOT_CRLF = b".\r\n"
DATA_BLOCK = 1024 * 1024  # with a memory budget, DATA is read in blocks of at most this
_END_OF_DATA = b"\r\n.\r\n"


@dataclass
class Spooled:
    """A DATA body that did not fit the memory budget: dot-stuffed bytes in a private file."""

    path: Path
    size: int


@dataclass
class Held:
    """A DATA body in memory, `held` bytes of the budget taken for it."""

    data: bytes
    held: int


async def read_data(reader: asyncio.StreamReader, limit: int | None, *, budget: Budget | None = None,
                    spool_dir: Path | None = None, progress: Callable[[], None] | None = None):
    """The message after DATA, up to the line ".": dot-unstuffed bytes, or None when it exceeded `limit`.

    Reads up to each ".\r\n" (never found inside base64, so a 1 MB attachment is one or two reads); the end
    is a ".\r\n" that follows a CRLF (or starts the data). Bytes after the end stay in the reader
    (pipelining). `limit` counts the dot-stuffed bytes before the final ".\r\n", as aiosmtpd does; past it
    the rest is read and dropped, so the client gets its 552 after sending everything (RFC 5321 4.2.5).

    With a `budget`, the bytes kept in memory are taken from it as they arrive; once it has no room the body
    goes on in a private spool file instead and `Spooled` is returned (else `Held`). `progress` is called
    after every block (the idle timer).
    """
    chunks: list[bytes] = []
    size = 0
    tail = b"\r\n"  # DATA starts at the beginning of a line
    over = False
    held = 0
    spool = None  # (path, file) once the body no longer fits in memory
    try:
        while True:
            try:
                chunk = await reader.readuntil(_DOT_CRLF)
            except asyncio.LimitOverrunError as exc:
                # No ".\r\n" within the reader's limit (a message far over the size limit): drop what was
                # scanned; the separator, if it straddles, is never in the consumed part.
                chunk = await reader.read(exc.consumed)
            if progress is not None:
                progress()
            size += len(chunk)
            if (tail + chunk[-5:])[-5:] == _END_OF_DATA:
                break
            tail = (tail + chunk[-4:])[-4:]
            if not over and limit and size - 3 > limit:
                over = True
                chunks.clear()
                spool = _drop_spool(spool)
                if held and budget is not None:
                    await budget.give(held)
                held = 0
            if over:
                continue
            if spool is None and budget is not None and not budget.try_take(len(chunk)):
                spool = _open_spool(spool_dir)
                for c in chunks:
                    spool[1].write(c)
                chunks.clear()
                if held:
                    await budget.give(held)  # what was in memory is on disk now
                    held = 0
            if spool is not None:
                spool[1].write(chunk)
            else:
                chunks.append(chunk)
                held += len(chunk) if budget is not None else 0
        size -= 3
        if over or (limit and size > limit):
            spool = _drop_spool(spool)
            return None
        last = memoryview(chunk)[:-3]
        if spool is None and budget is not None and not budget.try_take(len(last)):
            spool = _open_spool(spool_dir)
            for c in chunks:
                spool[1].write(c)
            chunks.clear()
            if held:
                await budget.give(held)
                held = 0
        if spool is not None:
            spool[1].write(last)
            spool[1].close()
            path, spool = spool[0], None
            return Spooled(path, size)
        chunks.append(last)
        held += len(last) if budget is not None else 0
        data = b"".join(chunks)  # the one copy of the message
        chunks.clear()
        data = _unstuff(data)
        return data if budget is None else Held(data, held)
    except BaseException:
        _drop_spool(spool)
        if held and budget is not None:
            await budget.give(held)
        raise


def _unstuff(data: bytes) -> bytes:
    if data[:1] == b".":
        data = data[1:]
    return data.replace(b"\r\n.", b"\r\n")  # the same object when nothing was stuffed


def _open_spool(spool_dir: Path | None):
    directory = Path(spool_dir or tempfile.gettempdir())
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, name = tempfile.mkstemp(prefix="data-", suffix=".eml", dir=directory)  # 0600
    return Path(name), os.fdopen(fd, "wb", buffering=1024 * 1024)


def _drop_spool(spool) -> None:
    if spool is not None:
        try:
            spool[1].close()
        finally:
            spool[0].unlink(missing_ok=True)
    return None


@contextlib.asynccontextmanager
async def _in_memory(received, budget: Budget | None) -> AsyncIterator[bytes]:
    """The body as bytes for the handler, its memory accounted in `budget` until the handler is done: a
    spooled body first waits for room (Busy after budget.wait_seconds), then is read back."""
    if budget is None or isinstance(received, bytes):
        yield received if isinstance(received, bytes) else received.data
        return
    if isinstance(received, Held):
        try:
            yield received.data
        finally:
            await budget.give(received.held)
        return
    try:
        async with budget.hold(received.size):
            data = await asyncio.to_thread(lambda: _unstuff(received.path.read_bytes()))
            received.path.unlink(missing_ok=True)
            yield data
    finally:
        received.path.unlink(missing_ok=True)


def _check_dsn(dsn: dict[str, str]) -> str:
    if "RET" in dsn and dsn["RET"].upper() not in ("FULL", "HDRS"):
        return "RET"
    if "NOTIFY" in dsn:
        items = {x.upper() for x in dsn["NOTIFY"].split(",")}
        if not items <= _NOTIFY or ("NEVER" in items and len(items) > 1):
            return "NOTIFY"
    if "ENVID" in dsn and (len(dsn["ENVID"]) > 100 or not _XTEXT.match(dsn["ENVID"])):
        return "ENVID"
    if "ORCPT" in dsn:
        kind, semi, value = dsn["ORCPT"].partition(";")
        if not semi or not kind or not value or len(value) > 500:
            return "ORCPT"
    return ""


# --- access control -------------------------------------------------------------------------------------------


def peer_allowed(peer, networks: list[ipaddress._BaseNetwork]) -> bool:
    try:
        host = peer[0] if isinstance(peer, tuple) else str(peer)
        addr = ipaddress.ip_address(host.split("%", 1)[0])
    except (ValueError, TypeError, IndexError):
        return False
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped:
        addr = addr.ipv4_mapped
    return any(addr in net for net in networks if net.version == addr.version)


SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1


def hash_password(password: str) -> str:
    """The form stored in settings.smtp.auth_users: 'scrypt$<salt hex>$<hash hex>'."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    return f"scrypt${salt.hex()}${digest.hex()}"


def verify_password(password: bytes, stored: str) -> bool:
    try:
        scheme, salt_hex, digest_hex = stored.split("$")
        salt, want = bytes.fromhex(salt_hex), bytes.fromhex(digest_hex)
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    got = hashlib.scrypt(password, salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=len(want))
    return hmac.compare_digest(got, want)


class Authenticator:
    """aiosmtpd authenticator over hashed credentials (PLAIN/LOGIN, only after STARTTLS).

    aiosmtpd calls authenticators synchronously; one scrypt check (~30 ms) per AUTH command is the only
    CPU work this door does on the loop, bounded by aiosmtpd's per-connection command limits."""

    def __init__(self, users: dict[str, str]) -> None:
        self._users = users

    def __call__(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login = auth_data.login.decode("utf-8", "replace")
        stored = self._users.get(login)
        ok = stored is not None and verify_password(auth_data.password, stored)
        if not ok:
            log.warning("smtp auth failed for a login from %s", session.peer)
            return AuthResult(success=False, handled=False)
        return AuthResult(success=True, auth_data=login)


def tls_context(cert, key) -> ssl.SSLContext | None:
    if not cert or not key:
        return None
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(cert), str(key))
    return ctx


# --- the relay handler ------------------------------------------------------------------------------------------


def reply_text(reply: replies.Reply, envelope: Envelope | None) -> str:
    return reply.render(utf8=bool(envelope is not None and envelope.smtp_utf8))


class RelayHandler:
    """Per-command hooks: open the upstream at MAIL, mirror each RCPT, process and relay at end of DATA.

    `process(server, session, envelope) -> str` is the message step (gateway.smtp.door) and returns the reply
    to send at end of DATA; the handler only does the SMTP plumbing."""

    def __init__(self, *, networks, upstream_factory, process, require_auth: bool) -> None:
        self._networks = networks
        self._upstream_factory = upstream_factory
        self._process = process
        self._require_auth = require_auth

    async def handle_EHLO(self, server: GatewaySMTP, session: Session, envelope: Envelope, hostname, responses):
        session.host_name = hostname
        responses.insert(-1, "250-DSN")
        return responses

    async def handle_MAIL(self, server: GatewaySMTP, session: Session, envelope: Envelope, address, options):
        if not peer_allowed(session.peer, self._networks):
            log.warning("smtp relay denied for %s", session.peer)
            return reply_text(replies.relay_denied(), None)
        if self._require_auth and not session.authenticated:
            return reply_text(replies.auth_required(), None)
        txn = server.transaction
        txn.mail_dsn = dict(server.pending_dsn)
        up = txn.upstream
        try:
            if up is None or not up.connected:
                up = txn.upstream = self._upstream_factory()
                await up.connect()
            if envelope.smtp_utf8 and not up.supports("smtputf8"):
                return reply_text(replies.smtputf8_unsupported_upstream(), envelope)
            reply = await up.mail(address, _mail_params(options, txn.mail_dsn, envelope, up))
        except Exception as exc:  # noqa: BLE001 - every failure to reach the next hop is "try again"
            txn.upstream = None
            return reply_text(replies.for_error(exc), envelope)
        if reply.ok:
            envelope.mail_from = address
            envelope.mail_options.extend(options)
        return reply_text(replies.upstream(reply), envelope)

    async def handle_RCPT(self, server: GatewaySMTP, session: Session, envelope: Envelope, address, options):
        txn = server.transaction
        dsn = dict(server.pending_dsn)
        if txn.upstream is None:
            return reply_text(replies.for_error(RuntimeError("no upstream")), envelope)
        try:
            reply = await txn.upstream.rcpt(address, _rcpt_params(dsn, txn.upstream))
        except Exception as exc:  # noqa: BLE001
            return reply_text(replies.for_error(exc), envelope)
        if reply.ok:
            envelope.rcpt_tos.append(address)
            envelope.rcpt_options.extend(options)
            txn.rcpt_dsn.append(dsn)
        else:
            txn.refused_rcpts += 1
        return reply_text(replies.upstream(reply), envelope)

    async def handle_DATA(self, server: GatewaySMTP, session: Session, envelope: Envelope):
        txn = server.transaction
        try:
            return await self._process(server, session, envelope)
        except Exception as exc:  # noqa: BLE001 - never a 5xx for our own bug
            log.exception("smtp: message handling failed")
            if txn.upstream is not None:
                await txn.upstream.rset()
            return reply_text(replies.for_error(exc), envelope)
        finally:
            if txn.upstream is not None:
                await txn.upstream.rset()  # a no-op unless the message was refused before upstream DATA
            server.transaction = Transaction(upstream=txn.upstream)

    async def handle_exception(self, error: Exception) -> str:
        log.error("smtp: unexpected error in the protocol: %s", type(error).__name__)
        return replies.for_error(error).render()


def _mail_params(options: list[str], dsn: dict[str, str], envelope: Envelope, up: Upstream) -> list[str]:
    params = []
    for opt in options:
        if opt.startswith("BODY=") and up.supports("8bitmime"):
            params.append(opt)
    if envelope.smtp_utf8:
        params.append("SMTPUTF8")
    if up.supports("dsn"):
        params.extend(f"{k}={v}" for k, v in dsn.items())
    return params


def _rcpt_params(dsn: dict[str, str], up: Upstream) -> list[str]:
    return [f"{k}={v}" for k, v in dsn.items()] if up.supports("dsn") else []
