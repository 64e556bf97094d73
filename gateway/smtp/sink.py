"""Development mail sink: an SMTP server on the upstream address that stores what the next hop would get.

One file per message in settings.smtp.sink_dir: `<time>-<id>.eml` (the exact bytes received) beside
`<time>-<id>.json` (envelope: sender, recipients, DSN parameters). Both are written to a temporary name,
fsynced and renamed, the .eml last, so an .eml that exists is complete. Not for production.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from pathlib import Path

from gateway.smtp.server import GatewaySMTP


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class SinkHandler:
    """Accepts every recipient unless `refuse(address) -> reply` says otherwise (tests refuse some)."""

    def __init__(self, directory: Path, refuse=None) -> None:
        self.directory = directory
        self.refuse = refuse

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        responses.insert(-1, "250-DSN")
        return responses

    async def handle_MAIL(self, server, session, envelope, address, options):
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        envelope.dsn = {"mail": dict(server.pending_dsn), "rcpt": {}}
        return "250 2.1.0 OK"

    async def handle_RCPT(self, server, session, envelope, address, options):
        answer = self.refuse(address) if self.refuse else None
        if answer:
            return answer
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        envelope.dsn["rcpt"][address] = dict(server.pending_dsn)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        name = f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:12]}"
        meta = {
            "sender": envelope.mail_from,
            "recipients": envelope.rcpt_tos,
            "mail_options": envelope.mail_options,
            "dsn": getattr(envelope, "dsn", {}),
            "smtputf8": bool(envelope.smtp_utf8),
        }
        await asyncio.to_thread(self._store, name, envelope.original_content, meta)
        return f"250 2.0.0 Ok: stored as {name}"

    def _store(self, name: str, content: bytes, meta: dict) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        _write_atomic(self.directory / f"{name}.json", json.dumps(meta, ensure_ascii=False).encode())
        _write_atomic(self.directory / f"{name}.eml", content)


class MailSink:
    """Start/stop like a door; listens on (host, port) — port 0 picks a free one (see `.port`)."""

    def __init__(self, host: str, port: int, directory: Path, *, max_message_bytes: int = 100 * 1024 * 1024,
                 refuse=None) -> None:
        self.host, self._port = host, port
        self.directory = Path(directory)
        self.handler = SinkHandler(self.directory, refuse)
        self.max_message_bytes = max_message_bytes
        self._server: asyncio.base_events.Server | None = None

    @property
    def port(self) -> int:
        return self._server.sockets[0].getsockname()[1] if self._server else self._port

    async def start(self) -> list[str]:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: GatewaySMTP(self.handler, max_message_bytes=self.max_message_bytes, hostname="kyso-sink.local",
                                ident="Kyso dev sink"),
            host=self.host,
            port=self._port,
        )
        return [f"SMTP sink: {self.host}:{self.port} -> {self.directory} (hộp thư thử nghiệm / development mail sink)"]

    async def stop(self, grace: float = 5.0) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None

    def messages(self) -> list[Path]:
        return sorted(self.directory.glob("*.eml")) if self.directory.is_dir() else []
