"""The next hop: one upstream SMTP transaction per client transaction, driven step by step (aiosmtplib).

Design (why not "collect, then relay at end of DATA"): the gateway must never say 250 to a recipient the
next hop refused. An SMTP proxy can only mirror per-recipient answers at RCPT time, so the upstream session is
opened at MAIL, every RCPT is forwarded and its reply mirrored to the client, and at end of DATA the
(signed) message is sent upstream and the upstream's final reply is what the client gets. If the message is
refused locally, the upstream transaction is reset and nothing was sent. This is what Postfix expects from a
before-queue `smtpd_proxy_filter`, and works unchanged as an after-queue content filter.
"""

from __future__ import annotations

import logging
import re
import ssl
from dataclasses import dataclass

import aiosmtplib

from gateway.errors import UpstreamUnavailable
from gateway.inspect.mime import all_crlf

log = logging.getLogger("gateway.smtp.relay")


@dataclass(frozen=True)
class UpstreamReply:
    code: int
    text: str

    @property
    def ok(self) -> bool:
        return 200 <= self.code < 400

    @property
    def temporary(self) -> bool:
        return 400 <= self.code < 500


_BARE_LINE_BREAK = re.compile(rb"\r\n|\n|\r(?!\n)")


def wire_data(message: bytes) -> bytes:
    """The DATA payload for `message`: CRLF line ends, ending in CRLF, dot-stuffed, then ".\\r\\n".

    The same bytes aiosmtplib's `SMTP.data` sends (lone CR/LF become CRLF, like its
    normalize_message_line_endings), without its regex passes over an already-CRLF message: one vectorised
    check decides (gateway.inspect.mime.all_crlf), and dot-stuffing is one `bytes.replace`.
    """
    return b"".join(_wire_chunks(message))


def _wire_chunks(message: bytes) -> tuple[bytes, bytes]:
    if not all_crlf(message):
        message = _BARE_LINE_BREAK.sub(b"\r\n", message)  # a client's bare LF/CR (rare)
    if not message.endswith(b"\r\n"):
        message += b"\r\n"
    if message[:1] == b".":
        message = b"." + message
    return message.replace(b"\r\n.", b"\r\n.."), b".\r\n"  # replace: the same object when no dot


_NETWORK_ERRORS = (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPConnectError, aiosmtplib.SMTPTimeoutError, OSError)


class Upstream:
    """One connection to the next hop. Commands return the upstream reply; a lost connection raises
    UpstreamUnavailable (temporary)."""

    def __init__(self, host: str, port: int, *, starttls: bool, timeout: float, local_hostname: str,
                 tls_context: ssl.SSLContext | None = None) -> None:
        self._smtp = aiosmtplib.SMTP(
            hostname=host,
            port=port,
            timeout=timeout,
            start_tls=starttls,
            local_hostname=local_hostname,
            tls_context=tls_context,
        )
        self.where = f"{host}:{port}"
        self.in_transaction = False
        self._timeout = timeout

    async def connect(self) -> None:
        try:
            await self._smtp.connect()
            if not self._smtp.last_ehlo_response:
                await self._smtp.ehlo()
        except (aiosmtplib.SMTPException, OSError) as exc:
            self._smtp.close()
            raise UpstreamUnavailable(f"cannot connect to {self.where}: {type(exc).__name__}") from None

    def supports(self, extension: str) -> bool:
        return self._smtp.supports_extension(extension)

    @property
    def connected(self) -> bool:
        return self._smtp.is_connected

    async def _command(self, *args: bytes) -> UpstreamReply:
        try:
            resp = await self._smtp.execute_command(*args)
        except _NETWORK_ERRORS as exc:
            self._smtp.close()
            raise UpstreamUnavailable(f"{self.where}: {type(exc).__name__}") from None
        return UpstreamReply(resp.code, resp.message)

    async def mail(self, sender: str, params: list[str]) -> UpstreamReply:
        # aiosmtpd gives the null reverse-path (bounces, DSNs: RFC 5321 4.5.5) as "<>": not "<<>>" upstream
        path = b"" if sender == "<>" else sender.encode("utf-8")
        reply = await self._command(b"MAIL", b"FROM:<" + path + b">", *_ascii(params))
        self.in_transaction = reply.ok
        return reply

    async def rcpt(self, recipient: str, params: list[str]) -> UpstreamReply:
        return await self._command(b"RCPT", b"TO:<" + recipient.encode("utf-8") + b">", *_ascii(params))

    async def data(self, message: bytes) -> UpstreamReply:
        """Send the message (dot-stuffing and line ends: `wire_data`); the next hop's final reply.

        DATA goes through aiosmtplib's command path; the payload is written on the same connection and the
        reply read with its protocol (`SMTP.data` would re-normalise a 1 MB message with two regexes)."""
        payload = _wire_chunks(message)
        try:
            start = await self._smtp.execute_command(b"DATA")
            if start.code != 354:
                reply = UpstreamReply(start.code, start.message)
            else:
                protocol = self._smtp.protocol
                if protocol is None:
                    raise aiosmtplib.SMTPServerDisconnected("connection lost")
                for chunk in payload:  # two writes: no copy of the message to append ".\r\n"
                    protocol.write(chunk)
                resp = await protocol.read_response(timeout=self._timeout)
                reply = UpstreamReply(resp.code, resp.message)
        except _NETWORK_ERRORS as exc:
            self._smtp.close()
            raise UpstreamUnavailable(f"{self.where}: {type(exc).__name__} during DATA") from None
        except BaseException:
            self._smtp.close()  # cancelled mid-DATA: the connection is out of step
            raise
        self.in_transaction = False
        return reply

    async def rset(self) -> None:
        """Abandon the upstream transaction (nothing was sent). A broken connection is simply closed."""
        if not self.in_transaction or not self.connected:
            self.in_transaction = False
            return
        try:
            await self._command(b"RSET")
        except UpstreamUnavailable:
            pass
        self.in_transaction = False

    async def close(self) -> None:
        if not self.connected:
            return
        try:
            await self._smtp.quit()
        except (aiosmtplib.SMTPException, OSError):
            self._smtp.close()


def _ascii(params: list[str]) -> list[bytes]:
    return [p.encode("utf-8") for p in params]
