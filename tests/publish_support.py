"""Helpers for the portal-door tests: a real uvicorn server (port 0) in a loop of its own thread."""

from __future__ import annotations

import asyncio
import socket
import threading
from pathlib import Path

from gateway.settings import load_settings

MiB = 1024 * 1024


def http_settings(base, tmp: Path, **http):
    """Settings on an existing dev var_dir, HTTP on an ephemeral loopback port with a private spool."""
    options = {"port": 0, "host": "127.0.0.1", "spool_dir": Path(tmp) / "uploads", "max_upload_bytes": 4 * MiB}
    options.update(http)
    return load_settings(var_dir=base.var_dir, http=options)


def dev_token(settings) -> str:
    return settings.paths.http_dev_token.read_text().strip()


class RunningDoor:
    """gateway.publish.build(settings, engine) started in an event loop on a background thread."""

    def __init__(self, settings, engine) -> None:
        from gateway.publish import build

        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="portal-door", daemon=True)
        self.thread.start()
        self.door = build(settings, engine)
        self.banner = self.call(self.door.start())
        self.url = self.door.url
        self.port = self.door.server.servers[0].sockets[0].getsockname()[1]
        self.headers = {"Authorization": f"Bearer {dev_token(settings)}"}

    def call(self, coro, timeout: float = 60):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        try:
            self.call(self.door.stop(5.0))
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)


def raw_request(port: int, head: str, chunks=(), *, timeout: float = 10.0) -> tuple[int, bytes, int]:
    """Send request head (+ body chunks) on a plain socket; stop sending as soon as a response arrives.

    Returns (status, response bytes read, body bytes sent) — proves the server answered before the body ended.
    """
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(head.encode("latin-1"))
        s.setblocking(False)
        data = b""
        for chunk in chunks:
            try:
                data += s.recv(65536)
            except BlockingIOError:
                pass
            if data:
                break
            try:
                s.sendall(chunk)
                sent += len(chunk)
            except (BlockingIOError, BrokenPipeError, ConnectionResetError):
                break
        s.settimeout(timeout)
        try:
            while True:  # the door closes the connection after refusing a body it did not read
                more = s.recv(65536)
                if not more:
                    break
                data += more
        except (ConnectionResetError, TimeoutError):
            pass
    status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/") else 0
    return status, data, sent
