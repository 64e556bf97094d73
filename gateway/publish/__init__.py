"""The portal door: an HTTP hook a web portal or document-management system calls before publishing.

`build(settings, engine)` -> PortalDoor (None when settings.http.enabled is false). The door runs uvicorn
inside the caller's asyncio loop (no signal handling of its own: gateway.runtime owns SIGTERM/SIGINT).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl

import uvicorn

from gateway.admission import ConnectionGuard
from gateway.errors import ConfigError

log = logging.getLogger("gateway.publish")


def server_config(settings, app, guard: ConnectionGuard | None = None) -> uvicorn.Config:
    """uvicorn settings from settings.http: TLS when configured, client certificates required with client_ca;
    connection limits and the header deadline (gateway.publish.guard), keep-alive idle timeout."""
    from gateway.publish.guard import guarded_protocol

    http = settings.http
    guard = guard or ConnectionGuard("http", total=http.max_connections, per_address=http.max_connections_per_address)
    tls: dict = {}
    if http.tls_cert or http.tls_key or http.client_ca:
        if not (http.tls_cert and http.tls_key):
            raise ConfigError("http.tls_cert and http.tls_key are both needed for TLS / mTLS", detail="http.tls")
        tls = {"ssl_certfile": str(http.tls_cert), "ssl_keyfile": str(http.tls_key)}
        if http.client_ca:
            tls.update(ssl_ca_certs=str(http.client_ca), ssl_cert_reqs=ssl.CERT_REQUIRED)
    return uvicorn.Config(
        app,
        host=http.host,
        port=http.port,
        lifespan="off",
        log_config=None,  # gateway.runtime configures logging
        access_log=False,
        server_header=False,
        proxy_headers=False,
        http=guarded_protocol(guard, http.header_seconds),
        timeout_keep_alive=max(1, int(round(http.idle_seconds))),
        limit_concurrency=http.max_connections + 1,  # uvicorn's own 503 for tasks; connections: the guard
        backlog=max(128, min(4096, http.max_connections * 4)),
        timeout_graceful_shutdown=None,  # PortalDoor.stop bounds it
        **tls,
    )


class PortalDoor:
    def __init__(self, settings, engine) -> None:
        from gateway.publish.app import create_app

        self.settings = settings
        self.app = create_app(settings, engine)
        http = settings.http
        self.guard = ConnectionGuard("http", total=http.max_connections, per_address=http.max_connections_per_address)
        self.config = server_config(settings, self.app, self.guard)
        self.server = uvicorn.Server(self.config)
        self._loop_task: asyncio.Task | None = None

    @property
    def port(self) -> int:
        return self.server.servers[0].sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        scheme = "https" if self.config.is_ssl else "http"
        host = self.settings.http.host
        host = f"[{host}]" if ":" in host else host
        return f"{scheme}://{host}:{self.port}"

    async def start(self) -> list[str]:
        config = self.config
        if not config.loaded:
            config.load()
        self.server.lifespan = config.lifespan_class(config)
        try:
            sock = _listen(config.host, config.port, config.backlog)
        except OSError as exc:
            raise ConfigError(
                f"HTTP: cannot listen on {config.host}:{config.port}: {exc.strerror}", detail=f"http {config.host}:{config.port}"
            ) from None
        await self.server.startup(sockets=[sock])
        self._loop_task = asyncio.create_task(self.server.main_loop(), name="kyso-http")
        mtls = " + mTLS" if self.settings.http.client_ca else ""
        return [f"HTTP (cổng thông tin / portal hook{mtls}): {self.url}/v1/documents:sign"]

    async def stop(self, grace: float = 30.0) -> None:
        """Stop accepting, let requests in flight (and their documents) finish within `grace`, then return."""
        if self._loop_task is None:
            return
        self.server.should_exit = True
        await self._loop_task
        self._loop_task = None
        self.server.config.timeout_graceful_shutdown = max(1, int(grace))
        await self.server.shutdown()


def _listen(host: str, port: int, backlog: int) -> socket.socket:
    """Our own listening socket, so a busy port is a clear error rather than uvicorn's sys.exit.

    proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY only on sockets that say so, and without it every
    keep-alive response waits ~40 ms for a delayed ACK (Nagle).
    """
    family, kind, proto, _, addr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(addr)
        sock.listen(backlog)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(False)
    return sock


def build(settings, engine) -> PortalDoor | None:
    if not settings.http.enabled:
        return None
    return PortalDoor(settings, engine)
