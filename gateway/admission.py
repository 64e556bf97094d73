"""Bounded resources for the doors: how many connections, and how many message bytes in memory at once.

Measured under attack: ~1,100 half-open HTTP connections from one address took every file descriptor the
process had (the systemd default limit) and stopped all three doors; eight parallel 47 MB mails took the
gateway from 255 MB to 1.4 GB. Two small tools, used by the doors, deciding nothing about documents:

- `ConnectionGuard`: at most `total` open connections per door and `per_address` per client address. A
  connection over either limit is answered at once ("try again": SMTP 421, HTTP 503) and closed, so it holds
  no descriptor; one address cannot take every slot, and the others keep being served. Time limits (header,
  idle, body) live in each door, where the protocol is.
- `Budget`: bytes of messages held in memory at once (being received or being processed). A message that
  does not fit waits for room (its bytes meanwhile on disk, spooled) up to `wait_seconds`, then is answered
  "try again" (Busy). A single message larger than the whole budget still goes through — alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import time
from collections import Counter
from typing import AsyncIterator

from gateway.errors import Busy

log = logging.getLogger("gateway.admission")


def address_of(peer) -> str:
    """The client address a limit counts by: the IP (IPv4-mapped IPv6 as IPv4); '?' when unknown."""
    host = peer[0] if isinstance(peer, (tuple, list)) and peer else peer
    try:
        addr = ipaddress.ip_address(str(host).split("%", 1)[0])
    except ValueError:
        return str(host or "?")
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped:
        addr = addr.ipv4_mapped
    return str(addr)


class ConnectionGuard:
    """Counts open connections of one door (one event loop: no locking needed)."""

    def __init__(self, door: str, *, total: int, per_address: int) -> None:
        self.door = door
        self.total = total
        self.per_address = per_address
        self.open = 0
        self.by_address: Counter[str] = Counter()
        self.refused = 0
        self._last_warning = 0.0

    def admit(self, peer) -> str | None:
        """The address counted (call `release` with it later), or None: over a limit, refuse now."""
        addr = address_of(peer)
        if self.open >= self.total or self.by_address[addr] >= self.per_address:
            self.refused += 1
            now = time.monotonic()
            if now - self._last_warning >= 10:
                self._last_warning = now
                log.warning("%s: connection from %s refused (%d open, %d from that address; limits %d / %d); "
                            "%d refused so far", self.door, addr, self.open, self.by_address[addr], self.total,
                            self.per_address, self.refused)
            return None
        self.open += 1
        self.by_address[addr] += 1
        return addr

    def release(self, addr: str | None) -> None:
        if addr is None:
            return
        self.open -= 1
        self.by_address[addr] -= 1
        if self.by_address[addr] <= 0:
            del self.by_address[addr]


class Budget:
    """Bytes in memory at once, shared by every message of a door (one event loop)."""

    def __init__(self, max_bytes: int, *, wait_seconds: float) -> None:
        self.max_bytes = max_bytes
        self.wait_seconds = wait_seconds
        self.used = 0
        self.peak = 0
        self._changed = asyncio.Condition()

    def fits(self, n: int) -> bool:
        return self.used == 0 or self.used + n <= self.max_bytes

    def try_take(self, n: int) -> bool:
        """Take `n` bytes now if they fit (no waiting): a receiver that may spool instead."""
        if self.used + n > self.max_bytes:
            return False
        self._take(n)
        return True

    def _take(self, n: int) -> None:
        self.used += n
        self.peak = max(self.peak, self.used)

    async def give(self, n: int) -> None:
        self.used -= n
        async with self._changed:
            self._changed.notify_all()

    @contextlib.asynccontextmanager
    async def hold(self, n: int) -> AsyncIterator[None]:
        """Hold `n` bytes while the block runs; wait for room up to wait_seconds, else Busy (try again)."""
        async with self._changed:
            try:
                await asyncio.wait_for(self._changed.wait_for(lambda: self.fits(n)), self.wait_seconds)
            except TimeoutError:
                raise Busy(f"{self.used} of {self.max_bytes} bytes in flight; waited {self.wait_seconds:.0f} s")
            self._take(n)
        try:
            yield
        finally:
            await self.give(n)
