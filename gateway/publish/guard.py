"""The portal door's connection limits and its request-header deadline, in uvicorn's h11 protocol.

uvicorn bounds neither connections per client nor the time to send a request's headers: a connection that
sends nothing, or a header line a minute, holds a descriptor forever. ~1,100 of them from one address took
every descriptor the process had and stopped all three doors. Here:
- over `http.max_connections` open connections, or `http.max_connections_per_address` from one address,
  a new connection is answered 503 (Retry-After) and closed at once: it holds nothing;
- a request's headers must be complete `http.header_seconds` after its first byte (after the connection
  opens, for the first request): else 408 and the connection is closed (slowloris);
- between requests uvicorn's keep-alive timeout (`http.idle_seconds`) closes an idle connection;
- the body has its own limits in gateway.publish.uploads (whole request, and idle time between chunks).
"""

from __future__ import annotations

import asyncio
import logging

from uvicorn.protocols.http.h11_impl import H11Protocol

from gateway.admission import ConnectionGuard

log = logging.getLogger("gateway.publish")

_BUSY = (b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\nContent-Type: text/plain; charset=utf-8\r\n"
         b"Content-Length: %d\r\nConnection: close\r\n\r\n%s")
_BUSY_TEXT = "Quá nhiều kết nối; hãy thử lại sau / too many connections, try again later [BUSY]\n".encode()
_SLOW = (b"HTTP/1.1 408 Request Timeout\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\n"
         b"Connection: close\r\n\r\n%s")
_SLOW_TEXT = "Tiêu đề yêu cầu gửi quá chậm / request headers too slow [REQUEST_TIMEOUT]\n".encode()


def guarded_protocol(guard: ConnectionGuard, header_seconds: float) -> type[H11Protocol]:
    """An H11Protocol class that counts its connections in `guard` and enforces the header deadline."""

    class GuardedH11Protocol(H11Protocol):
        _addr: str | None = None
        _refused = False
        _header_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport) -> None:  # type: ignore[override]
            self._addr = guard.admit(transport.get_extra_info("peername"))
            if self._addr is None:
                self._refused = True
                transport.write(_BUSY % (len(_BUSY_TEXT), _BUSY_TEXT))
                transport.close()
                return
            super().connection_made(transport)
            self._arm()

        def connection_lost(self, exc) -> None:
            if self._refused:
                return
            self._disarm()
            guard.release(self._addr)
            self._addr = None
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            if self._refused:
                return
            if self._waiting_for_request():
                self._arm()
            super().data_received(data)
            if not self._waiting_for_request():
                self._disarm()

        def on_response_complete(self) -> None:
            super().on_response_complete()  # arms uvicorn's keep-alive (idle) timer
            self._disarm()

        # -- the header deadline ---------------------------------------------------------------------

        def _waiting_for_request(self) -> bool:
            return self.cycle is None or self.cycle.response_complete

        def _arm(self) -> None:
            if self._header_timer is None:
                self._header_timer = self.loop.call_later(header_seconds, self._too_slow)

        def _disarm(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _too_slow(self) -> None:
            self._header_timer = None
            if self.transport is None or self.transport.is_closing() or not self._waiting_for_request():
                return
            self.transport.write(_SLOW % (len(_SLOW_TEXT), _SLOW_TEXT))
            self.transport.close()

    return GuardedH11Protocol
