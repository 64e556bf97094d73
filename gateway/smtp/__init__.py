"""SMTP door: a signing mail relay (aiosmtpd in, aiosmtplib out). See docs/postfix.md for Postfix wiring.

`build(settings, engine)` -> SmtpDoor or None when settings.smtp.enabled is false. With
settings.smtp.sink_enabled (the development default) the door also runs a local sink on the upstream
address that stores each relayed message under settings.smtp.sink_dir.
"""

from __future__ import annotations

from gateway.smtp.door import SmtpDoor
from gateway.smtp.sink import MailSink

__all__ = ["SmtpDoor", "MailSink", "build"]


def build(settings, engine) -> SmtpDoor | None:
    cfg = settings.smtp
    if not cfg.enabled:
        return None
    sink = None
    if cfg.sink_enabled:
        sink = MailSink(cfg.upstream_host, cfg.upstream_port, cfg.sink_dir,
                        max_message_bytes=2 * cfg.max_message_bytes)
    return SmtpDoor(settings, engine, sink=sink)
