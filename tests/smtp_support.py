"""SMTP test harness: the real door and a real sink on one background asyncio loop, stdlib smtplib in front.

Like aiosmtpd's Controller, but the door runs in the loop the way `gateway run` runs it (create_server in
the running loop), so engine.submit and the relay share that loop.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import threading
import time
from pathlib import Path

import pytest

from gateway.smtp import MailSink, SmtpDoor


class LoopThread:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="smtp-test-loop", daemon=True)
        self._thread.start()

    def run(self, coro, timeout: float = 60.0):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


@pytest.fixture(scope="module")
def loop():
    """A LoopThread per test module (import this fixture into the module)."""
    lt = LoopThread()
    yield lt
    lt.close()


def smtp_settings(base, **smtp):
    """A copy of `base` with smtp fields changed (port 0 = free port; sink off: tests run their own)."""
    s = base.model_copy(deep=True)
    fields = {"port": 0, "sink_enabled": False, **smtp}
    s.smtp = type(s.smtp).model_validate({**s.smtp.model_dump(), **fields})  # validated, unlike model_copy
    return s


class Gateway:
    """A door + sink pair on a LoopThread. `.port` is the door, `.sink` the upstream sink."""

    def __init__(self, loop: LoopThread, settings, engine, sink_dir: Path, refuse=None, upstream_port=None,
                 **smtp) -> None:
        self.loop = loop
        self.sink = MailSink("127.0.0.1", 0, sink_dir, refuse=refuse)
        loop.run(self.sink.start())
        self.settings = smtp_settings(settings, upstream_port=upstream_port or self.sink.port, **smtp)
        self.door = SmtpDoor(self.settings, engine)
        self.banner = loop.run(self.door.start())
        self.port = self.door.port

    def close(self) -> None:
        self.loop.run(self.door.stop(5))
        self.loop.run(self.sink.stop())


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError("condition not met in time")


def parse_eml(path: Path):
    return email.message_from_bytes(Path(path).read_bytes(), policy=email.policy.default)
