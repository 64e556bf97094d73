"""The SMTP door: listener + relay handler + the per-message step (documents -> pipeline -> splice -> relay).

Per message, at end of DATA:
1. Index the MIME tree and find PDFs by content (in a worker thread: CPU work stays off the loop).
2. Each PDF -> `engine.submit(Document(channel=smtp, origin=sender/recipients/message-id, declared=...))`.
3. Any BLOCK or REJECT -> 550 5.7.1 with every reason, nothing relayed (BLOCK also raises an alert).
   Any temporary failure -> 451, nothing relayed; the sender's queue retries.
4. SIGN -> the attachment's bytes are replaced in place (same headers and name, base64 in 76 columns);
   PASS -> untouched. Optional whole-message S/MIME. Then upstream DATA; its reply is ours.
5. One door-level record per message (relayed / refused / deferred, with counts, never content).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from pathlib import Path

from gateway.inspect import marks as secrecy
from gateway.inspect import message as mail_reader
from gateway.inspect import mime
from gateway.inspect.reading import Reading
from gateway.errors import AuditUnavailable, GatewayError, PermanentError
from gateway.model import Channel, Declared, Document, Origin, Outcome, Reason, Result
from gateway.signing import message as rebuilder
from gateway.smtp import replies
from gateway.smtp.relay import Upstream
from gateway.smtp.server import Authenticator, GatewaySMTP, RelayHandler, reply_text, tls_context

log = logging.getLogger("gateway.smtp")


class SmtpDoor:
    """The SMTP door (see DOORS.md): `await start()` -> banner lines, `await stop(grace)`."""

    def __init__(self, settings, engine, *, sink=None) -> None:
        self.settings = settings
        self.engine = engine
        self.sink = sink
        self._server: asyncio.base_events.Server | None = None
        self._inflight: set[asyncio.Task] = set()
        cfg = settings.smtp
        self._networks = [ipaddress.ip_network(n, strict=False) for n in cfg.allowed_networks]
        self._tls = tls_context(cfg.tls_cert, cfg.tls_key)
        self.handler = RelayHandler(
            networks=self._networks,
            upstream_factory=self._new_upstream,
            process=self._process,
            require_auth=cfg.require_auth,
        )

    # --- lifecycle ---------------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.sockets[0].getsockname()[1]

    def _protocol(self) -> GatewaySMTP:
        cfg = self.settings.smtp
        users = {u.name: u.password_hash for u in cfg.auth_users}
        return GatewaySMTP(
            self.handler,
            max_message_bytes=cfg.max_message_bytes,
            hostname=cfg.hostname,
            ident="Kyso Gateway",
            tls_context=self._tls,
            auth_required=cfg.require_auth,
            auth_require_tls=True,
            authenticator=Authenticator(users),
            timeout=300,
        )

    async def start(self) -> list[str]:
        cfg = self.settings.smtp
        lines: list[str] = []
        if self.sink is not None:
            lines += await self.sink.start()
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._protocol, host=cfg.host, port=cfg.port)
        lines.append(
            f"SMTP: {cfg.host}:{self.port} -> {cfg.upstream_host}:{cfg.upstream_port}"
            f" (cổng thư ký số / signing mail relay{', S/MIME' if cfg.smime_sign else ''})"
        )
        return lines

    async def stop(self, grace: float = 30.0) -> None:
        if self._server is not None:
            self._server.close()  # stop accepting; open sessions finish their current message
            if self._inflight:
                await asyncio.wait(self._inflight, timeout=grace)
            self._server = None
        if self.sink is not None:
            await self.sink.stop(grace)

    def _new_upstream(self) -> Upstream:
        cfg = self.settings.smtp
        return Upstream(
            cfg.upstream_host,
            cfg.upstream_port,
            starttls=cfg.upstream_starttls,
            timeout=cfg.upstream_timeout_seconds,
            local_hostname=cfg.hostname,
        )

    # --- one message ---------------------------------------------------------------------------------------

    async def _process(self, server: GatewaySMTP, session, envelope) -> str:
        task = asyncio.current_task()
        if task is not None:
            self._inflight.add(task)
        try:
            return await self._message(server, session, envelope)
        finally:
            if task is not None:
                self._inflight.discard(task)

    async def _message(self, server: GatewaySMTP, session, envelope) -> str:
        limits = self.settings.limits
        raw: bytes = envelope.original_content
        txn = server.transaction
        peer = session.peer[0] if isinstance(session.peer, tuple) else str(session.peer)
        facts = {"sender": envelope.mail_from, "recipients": len(envelope.rcpt_tos),
                 "refused_recipients": txn.refused_rcpts, "size": len(raw), "client": peer}

        try:
            parsed, walk, docs, marks = await asyncio.to_thread(
                _index, raw, limits.max_mime_parts, limits.max_mime_depth, limits.max_header_bytes)
        except PermanentError as exc:
            reply = replies.for_error(exc)
            await self._record("smtp.refused", reply, facts)
            return reply_text(reply, envelope)
        message_id = parsed.header("Message-ID")
        facts["message_id"] = message_id
        facts["documents"] = len(docs)
        declared = marks.level.value if marks.level else None

        if marks.secrecy and not docs:
            reasons = tuple(Reason.of("SECRET_MARKED", level=f.level.value, where=f.where) for f in marks.secrecy)
            reply = replies.blocked(reasons)
            await self._record("smtp.blocked", reply, facts, alert=True)
            return reply_text(reply, envelope)
        refusals = list(walk.problems)
        if walk.encrypted:
            refusals.append(Reason.of("MAIL_ENCRYPTED"))
        if refusals:
            reply = replies.refused_for(tuple(refusals))
            await self._record("smtp.refused", reply, facts)
            return reply_text(reply, envelope)

        origin = Origin(sender=envelope.mail_from, recipients=tuple(envelope.rcpt_tos), client=peer,
                        message_id=message_id)
        documents = [
            Document(channel=Channel.SMTP, name=d.name or f"tai-lieu-{i}", content=d.content,
                     media_type=d.declared_type, origin=origin, declared=Declared(classification=declared))
            for i, d in enumerate(docs, 1)
        ]
        outcomes = await asyncio.gather(*(self.engine.submit(doc) for doc in documents), return_exceptions=True)
        try:
            return await self._conclude(server, envelope, parsed, docs, outcomes, facts)
        finally:
            await asyncio.to_thread(_remove_outputs, outcomes)

    async def _conclude(self, server, envelope, parsed, docs, outcomes, facts) -> str:
        results = [r for r in outcomes if isinstance(r, Result)]
        errors = [e for e in outcomes if isinstance(e, BaseException)]
        facts["outcomes"] = ",".join(sorted(str(r.outcome) for r in results))
        if errors:
            facts["errors"] = ",".join(sorted({getattr(e, "code", "INTERNAL_ERROR") for e in errors}))
        refusing = [r for r in results if r.outcome in (Outcome.BLOCK, Outcome.REJECT)]
        if refusing:
            blocked = any(r.outcome is Outcome.BLOCK for r in refusing)
            reply = replies.refused(refusing)
            if blocked:
                log.warning("ALERT smtp: secret-marked document refused (message-id %s)", facts.get("message_id"))
            await self._record("smtp.blocked" if blocked else "smtp.refused", reply, facts, alert=blocked)
            return reply_text(reply, envelope)
        if errors:
            for e in errors:
                if not isinstance(e, GatewayError):
                    log.error("smtp: document processing failed: %s", type(e).__name__)
            permanent = [e for e in errors if isinstance(e, PermanentError)]
            reply = replies.for_error(permanent[0] if permanent else errors[0])
            await self._record("smtp.refused" if reply.permanent else "smtp.deferred", reply, facts)
            return reply_text(reply, envelope)

        pairs = []
        for found, result in zip(docs, outcomes):
            if result.outcome is Outcome.SIGN and result.output is not None:
                if found.signed:
                    reply = replies.refused_for((Reason.of("MAIL_SENDER_SIGNED", name=found.name),))
                    await self._record("smtp.refused", reply, facts)
                    return reply_text(reply, envelope)
                pairs.append((found, result.output))
        facts["signed"] = len(pairs)
        out = await asyncio.to_thread(_splice, parsed, pairs) if pairs else parsed.raw
        if self.settings.smtp.smime_sign:
            prepared = await asyncio.to_thread(rebuilder.seven_bit, out)
            out = await self.engine.sign_smime(prepared)
            facts["smime"] = True
        up = server.transaction.upstream
        try:
            upstream_reply = await up.data(out)
        except GatewayError as exc:
            reply = replies.for_error(exc)
            await self._record("smtp.deferred", reply, facts)
            return reply_text(reply, envelope)
        reply = replies.upstream(upstream_reply)
        event = "smtp.relayed" if upstream_reply.ok else ("smtp.deferred" if upstream_reply.temporary else "smtp.refused")
        facts["upstream"] = upstream_reply.code
        await self._record(event, reply, facts)
        return reply_text(reply, envelope)

    async def _record(self, event: str, reply: replies.Reply, facts: dict, *, alert: bool = False) -> None:
        fields = dict(facts, reply=f"{reply.code} {reply.status}", reasons=",".join(r.code for r in reply.reasons))
        try:
            # The decision log serialises its writers with a lock; the write leaves the loop.
            await asyncio.to_thread(self.engine.record_event, Channel.SMTP, event, alert=alert, **fields)
        except AuditUnavailable:
            # After the next hop accepted, the message is gone; answering 451 would duplicate it.
            log.error("smtp: decision log unavailable for event %s", event)


def _index(raw: bytes, max_parts: int, max_depth: int, max_header_bytes: int):
    """The message as inspected and relayed (CRLF-normalised), its leaves, the documents to submit, and the
    classification signals of its headers and names."""
    parsed = mime.parse(mime.normalise(raw), max_parts=max_parts, max_depth=max_depth,
                        max_header_bytes=max_header_bytes)
    walk = mime.walk(parsed)
    marks = secrecy.scan_reading(Reading("message/rfc822", metadata=mail_reader.signals(parsed, walk)))
    docs = [leaf for leaf in walk.leaves if leaf.role == "document" and _document_type(leaf.content)]
    return parsed, walk, docs, marks


def _document_type(content: bytes) -> str | None:
    from gateway.inspect.sniff import PDF, sniff

    media = sniff(content[:8192])
    if media == PDF:
        return media
    if media.startswith(("application/vnd.openxmlformats", "application/vnd.oasis", "application/x-ole")):
        return media
    return None


def _splice(parsed, pairs) -> bytes:
    edits = []
    for found, output in pairs:
        data = Path(output.path).read_bytes()
        edits.append((found, rebuilder.Edit(detached=data) if output.detached else rebuilder.Edit(content=data)))
    return rebuilder.rebuild(parsed, edits)


def _remove_outputs(outcomes) -> None:
    for r in outcomes:
        if isinstance(r, Result) and r.output is not None:
            try:
                Path(r.output.path).unlink(missing_ok=True)
            except OSError:
                log.warning("smtp: could not remove a signed output file")
