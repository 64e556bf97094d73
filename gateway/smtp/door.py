"""The SMTP door: listener + relay handler + the per-message step (the message -> pipeline -> relay).

The door decides nothing (gateway/doors.py). Per message, at end of DATA:
1. The message is normalised once (every line end CRLF: gateway.inspect.mime.normalise); those bytes are
   what is inspected and, unless the pipeline returns a rebuilt message, exactly what is relayed.
2. The whole message is ONE document: `engine.submit(Document(media_type=message/rfc822, channel=smtp,
   origin=sender/recipients/client/message-id, declared=X-Kyso-* headers))`. The pipeline reads it as a
   container (gateway.inspect.message): every part a recipient can open is a member decided by the policy,
   the headers' classification signals count, ambiguity / encryption / the sender's own signature are
   decided there, with a decision record; documents are signed in place or get a .p7s beside them and the
   message is rebuilt (gateway.signing.message), S/MIME-signed as a whole when the policy says so.
3. REJECT / BLOCK -> 550 5.7.1 with every reason, nothing relayed (BLOCK also raises an alert).
   A temporary failure -> 451, nothing relayed; the sender's queue retries.
4. SIGN -> `result.output` (the rebuilt message) is relayed; PASS -> the normalised bytes, unchanged. The
   upstream's reply to DATA is ours: 250 only after the next hop said 250.
5. One door-level record per message (relayed / refused / deferred, with counts, never content).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from pathlib import Path

from gateway import declare
from gateway.errors import AuditUnavailable, GatewayError
from gateway.inspect import mime
from gateway.inspect.sniff import MESSAGE
from gateway.model import Channel, Document, Origin, Outcome, Reason, Result
from gateway.smtp import replies
from gateway.smtp.relay import Upstream
from gateway.admission import Budget, ConnectionGuard
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
        self.guard = ConnectionGuard("smtp", total=cfg.max_connections, per_address=cfg.max_connections_per_address)
        self.budget = Budget(cfg.max_inflight_bytes, wait_seconds=cfg.inflight_wait_seconds)

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
            timeout=cfg.idle_seconds,
            # Bounded resources (gateway.admission, issue 15): connections, DATA time, bytes in memory.
            guard=self.guard,
            budget=self.budget,
            spool_dir=Path(cfg.spool_dir),
            data_seconds=cfg.data_seconds,
            processing_seconds=self.settings.limits.document_seconds + cfg.upstream_timeout_seconds + 60,
        )

    async def start(self) -> list[str]:
        cfg = self.settings.smtp
        lines: list[str] = []
        if self.sink is not None:
            lines += await self.sink.start()
        await asyncio.to_thread(_prepare_spool, Path(cfg.spool_dir), cfg.data_seconds + 3600)
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
            deadline = asyncio.get_running_loop().time() + grace
            while self._inflight:  # a message that finishes adds its tidying: wait for that too
                left = deadline - asyncio.get_running_loop().time()
                if left <= 0:
                    break
                await asyncio.wait(set(self._inflight), timeout=left)
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
        txn = server.transaction
        peer = session.peer[0] if isinstance(session.peer, tuple) else str(session.peer)
        data = mime.normalise(envelope.original_content)  # inspected, and relayed unless rebuilt
        facts = {"sender": envelope.mail_from, "recipients": len(envelope.rcpt_tos),
                 "refused_recipients": txn.refused_rcpts, "size": len(data), "client": peer}
        head = mime.top_header(data)
        message_id = head("message-id")
        facts["message_id"] = message_id
        try:
            declared = declare.for_mail_part(head, None)
        except declare.DeclarationError as exc:
            reply = replies.refused_for((Reason.of(exc.code, **exc.params),))
            await self._record("smtp.refused", reply, facts)
            return reply_text(reply, envelope)
        origin = Origin(sender=envelope.mail_from, recipients=tuple(envelope.rcpt_tos), client=peer,
                        message_id=message_id)
        spooled: Path | None = None
        try:
            # A private file (smtp.spool_dir, 0600) rather than bytes: nothing is pickled to the signing worker,
            # and the pipeline reads and rebuilds the message from this one copy.
            spooled = await asyncio.to_thread(_spool, Path(self.settings.smtp.spool_dir), data)
            doc = Document(channel=Channel.SMTP, name="thu.eml", path=spooled, media_type=MESSAGE, origin=origin,
                           declared=declared)
            result = await self.engine.submit(doc)
        except Exception as exc:  # noqa: BLE001 - temporary (451) unless refused on purpose
            if spooled is not None:
                await asyncio.to_thread(_remove, spooled)
            if not isinstance(exc, GatewayError):
                log.error("smtp: message processing failed: %s", type(exc).__name__)
            reply = replies.for_error(exc)
            await self._record("smtp.refused" if reply.permanent else "smtp.deferred", reply, facts)
            return reply_text(reply, envelope)
        try:
            return await self._conclude(server, envelope, data, result, facts)
        finally:
            self._tidy(spooled, result.output.path if result.output is not None else None)

    def _tidy(self, *paths) -> None:
        """Remove the message's private files after the reply, not before it (one thread hop, off the reply's
        path); stop() waits for it like for a message in flight."""
        self._after_reply(asyncio.to_thread(_remove_all, paths))

    def _after_reply(self, work) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)

    async def _conclude(self, server, envelope, data: bytes, result: Result, facts: dict) -> str:
        facts["outcome"] = str(result.outcome)
        facts["documents"] = sum(1 for m in result.members if m.role == "document")
        facts["signed"] = sum(1 for m in result.members if m.signed)
        if result.outcome in (Outcome.BLOCK, Outcome.REJECT):
            blocked = result.outcome is Outcome.BLOCK
            reply = replies.refused([result])
            if blocked:
                log.warning("ALERT smtp: secret-marked message refused (message-id %s)", facts.get("message_id"))
            await self._record("smtp.blocked" if blocked else "smtp.refused", reply, facts, alert=blocked)
            return reply_text(reply, envelope)
        if result.outcome is Outcome.SIGN:
            out = result.output
            if out is None or out.detached or out.media_type != MESSAGE:
                # Signed as something else than a mail message: never relay a .p7s or a lone document.
                reply = replies.refused_for((Reason.of("MIME_MALFORMED", detail="not read as a mail message"),))
                await self._record("smtp.refused", reply, facts)
                return reply_text(reply, envelope)
            data = await asyncio.to_thread(Path(out.path).read_bytes)
            facts["smime"] = any(r.code == "MAIL_SMIME_SIGNED" for r in result.decision.reasons)
        up = server.transaction.upstream
        try:
            upstream_reply = await up.data(data)
        except GatewayError as exc:
            reply = replies.for_error(exc)
            await self._record("smtp.deferred", reply, facts)
            return reply_text(reply, envelope)
        reply = replies.upstream(upstream_reply)
        event = "smtp.relayed" if upstream_reply.ok else ("smtp.deferred" if upstream_reply.temporary else "smtp.refused")
        facts["upstream"] = upstream_reply.code
        # The decision and its output are recorded already (the pipeline, before anything was released); what
        # the next hop answered is recorded after the sender has it (a commit less before the reply; stop()
        # waits for it like for a message in flight)
        self._after_reply(self._record(event, reply, facts))
        return reply_text(reply, envelope)

    async def _record(self, event: str, reply: replies.Reply, facts: dict, *, alert: bool = False) -> None:
        fields = dict(facts, reply=f"{reply.code} {reply.status}", reasons=",".join(r.code for r in reply.reasons))
        try:
            # The decision log serialises its writers with a lock; the write leaves the loop.
            await asyncio.to_thread(self.engine.record_event, Channel.SMTP, event, alert=alert, **fields)
        except AuditUnavailable:
            # After the next hop accepted, the message is gone; answering 451 would duplicate it.
            log.error("smtp: decision log unavailable for event %s", event)


def _spool(directory: Path, data: bytes) -> Path:
    """`data` in a new private file under `directory` (StorageUnavailable, so 451, when it cannot be written)."""
    import os
    import tempfile

    from gateway.errors import StorageUnavailable

    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, name = tempfile.mkstemp(prefix="msg-", suffix=".eml", dir=directory)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        return Path(name)
    except OSError as exc:
        raise StorageUnavailable(f"cannot spool the message: {exc.strerror}") from None


def _prepare_spool(directory: Path, older_than: float) -> None:
    """The spool is private (0700); bodies left by a crash (older than any DATA could be) are removed."""
    import os
    import time

    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(directory, 0o700)
    for leftover in [*directory.glob("data-*.eml"), *directory.glob("msg-*.eml")]:
        try:
            if time.time() - leftover.stat().st_mtime > older_than:
                leftover.unlink()
        except OSError:
            pass


def _remove_all(paths) -> None:
    for p in paths:
        if p is not None:
            _remove(p)


def _remove(path) -> None:
    """The pipeline's output file, and its private directory (out-*) with it."""
    import shutil

    try:
        Path(path).unlink(missing_ok=True)
        if Path(path).parent.name.startswith("out-"):
            shutil.rmtree(Path(path).parent, ignore_errors=True)
    except OSError:
        log.warning("smtp: could not remove a signed output file")
