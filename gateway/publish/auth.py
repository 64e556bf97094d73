"""Who is calling: per-client bearer tokens, stored only as SHA-256 hashes.

Clients come from settings.http.clients and the clients file (settings.http.clients_file, written by
dev-init: `[[clients]] name = "...", token_sha256 = "..."`). The presented token is hashed and compared with
hmac.compare_digest against EVERY stored hash, so the time taken does not depend on which client matched or
how much of a token was right. The file is re-read when it changes, so adding a client needs no restart.
Optional mTLS is enforced by the TLS layer (see gateway.publish.server_config).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from gateway.errors import ConfigError
from gateway.publish.problems import AuthenticationFailed, AuthRequired
from gateway.settings import HttpClient

log = logging.getLogger("gateway.publish.auth")


OPERATOR = "operator"


@dataclass(frozen=True)
class Client:
    name: str
    token_sha256: bytes  # raw 32 bytes
    role: str = "client"  # "client": its own decisions only; "operator": all (settings.HttpClient.role)

    @property
    def operator(self) -> bool:
        return self.role == OPERATOR


def hash_token(token: str) -> str:
    """The hex SHA-256 kept in configuration for a bearer token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _clients(entries: Iterable[HttpClient]) -> list[Client]:
    return [Client(e.name, bytes.fromhex(e.token_sha256), e.role) for e in entries]


def read_clients_file(path: Path) -> list[Client]:
    """Clients from a TOML file; a missing file is no clients, a broken one is a configuration error."""
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        return []
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read HTTP clients file {path}: {exc}", detail=f"http clients file {path}") from None
    try:
        return _clients(HttpClient(**entry) for entry in data.get("clients", []))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"bad entry in HTTP clients file {path}: {exc}", detail=f"http clients file {path}") from None


class Authenticator:
    """Bearer-token check for every request but /healthz."""

    def __init__(self, configured: Iterable[Client] = (), clients_file: Path | None = None) -> None:
        self._configured = list(configured)
        self._file = clients_file
        self._file_stamp: tuple[int, int] | None = None
        self._from_file: list[Client] = []
        self._reload(strict=True)

    @classmethod
    def from_settings(cls, settings) -> "Authenticator":
        return cls(_clients(settings.http.clients), settings.http.clients_file)

    @property
    def clients(self) -> list[Client]:
        self._reload()
        return self._configured + self._from_file

    def _reload(self, strict: bool = False) -> None:
        if self._file is None:
            return
        try:
            st = os.stat(self._file)
            stamp = (st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            stamp = None
        if stamp == self._file_stamp:
            return
        try:
            self._from_file = read_clients_file(self._file) if stamp else []
        except ConfigError as exc:
            if strict:
                raise
            # A half-written file while running: keep the clients we had, say so once.
            log.error("%s; keeping the previous client list", exc)
        self._file_stamp = stamp

    def authenticate(self, authorization: str | None) -> str:
        """The client's name for an Authorization header value, or AuthenticationFailed."""
        return self.identify(authorization).name

    def identify(self, authorization: str | None) -> Client:
        """The client (name and role) for an Authorization header value, or AuthenticationFailed."""
        if not authorization:
            raise AuthRequired("no bearer token")
        scheme, _, token = authorization.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise AuthenticationFailed("not a bearer token")
        presented = hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()
        found: Client | None = None
        for client in self.clients:  # no early exit: constant work whichever client matches
            if hmac.compare_digest(presented, client.token_sha256) and found is None:
                found = client
        if found is None:
            raise AuthenticationFailed("unknown bearer token")
        return found
