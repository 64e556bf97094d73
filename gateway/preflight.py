"""Before `gateway run` says "running": what signing and the chosen doors need, checked once, every cause named.

A gateway that prints "running" and then answers "try again" to every document, forever, because its
PKCS#11 module was never there, is worse than one that does not start. So at start:

- the data directory, the decision log, the spools, every watched folder: writable (the nearest existing
  folder is tried with a real file — permission bits say nothing to root or on a read-only mount);
- every listening address (SMTP, the development mail sink, HTTP): free;
- the PKCS#11 module loads, the token with the configured label is there (else: the labels that are),
  the PIN file is readable, the PIN opens a session (a refused PIN is latched as always: tried once),
  the private key and its certificate are on the token;
- the trust roots, intermediates and CRL files can be read, and the organisation certificate passes the
  same check as before every signature (Nghị định 68/2024 Điều 29, 31);
- the seal image and the font for visible signatures can be read.

`check(settings, doors)` returns every problem as a Reason (Vietnamese and English, a reason code, the key to
correct); `gateway run` stops with exit 2 listing them all. What goes wrong later, while running, stays a
temporary failure (the doors answer "try again").
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import tempfile
from pathlib import Path
from typing import Iterable

from gateway.errors import ConfigError, GatewayError
from gateway.model import Reason

log = logging.getLogger("gateway.preflight")

NONE_FOUND = "không có / none"


class StartupError(ConfigError):
    """The gateway cannot do its work with this configuration and environment; it does not start."""

    code = "CONFIG_INVALID"

    def __init__(self, problems: Iterable[Reason]) -> None:
        self.problems = tuple(problems)
        first = self.problems[0] if self.problems else Reason.of("CONFIG_INVALID", detail="start-up")
        super().__init__(f"{len(self.problems)} start-up problem(s)", code=first.code, **first.args)

    def __reduce__(self):
        return (StartupError, (self.problems,))


def enabled_doors(settings, only: set[str] | None) -> list[str]:
    """The doors `gateway run` would start (the registry's order), by `--only` and each section's `enabled`."""
    from gateway.doors import DOORS

    sections = {"smtp": settings.smtp, "folder": settings.folders, "http": settings.http}
    return [d.name for d in DOORS if (only is None or d.name in only) and getattr(sections.get(d.name), "enabled", True)]


def check(settings, doors: Iterable[str]) -> list[Reason]:
    """Every problem that keeps the gateway from signing or a chosen door from working, in reading order."""
    doors = list(doors)
    problems: list[Reason] = []
    problems += _folders(settings, doors)
    problems += _ports(settings, doors)
    problems += _files(settings)
    trust = _trust(settings)
    problems += trust
    problems += _token(settings, check_certificate=not trust)
    return problems


def ensure(settings, doors: Iterable[str]) -> None:
    """Raise StartupError naming every problem, or return when the gateway can start."""
    problems = check(settings, doors)
    if problems:
        raise StartupError(problems)


# --- folders ------------------------------------------------------------------------------------------


def _folders(settings, doors: list[str]) -> list[Reason]:
    from gateway.settings import environment_problem

    missing = environment_problem(settings)
    if missing is not None:
        return [missing]
    wanted: list[tuple[str, Path]] = [("var_dir", Path(settings.var_dir))]
    if settings.audit.backend == "sqlite" and settings.audit.path is not None:
        wanted.append(("audit.path", Path(settings.audit.path).parent))
    if settings.token.pin_latch_file is not None:
        wanted.append(("token.pin_latch_file", Path(settings.token.pin_latch_file).parent))
    if "smtp" in doors:
        wanted.append(("smtp.spool_dir", Path(settings.smtp.spool_dir)))
        if settings.smtp.sink_enabled:
            wanted.append(("smtp.sink_dir", Path(settings.smtp.sink_dir)))
    if "folder" in doors:
        wanted.append(("folders.work_dir", Path(settings.folders.work_dir)))
        for w in settings.folders.watches:
            for part in ("inbox", "signed", "rejected", "archive", "quarantine"):
                path = getattr(w, part)
                if path is not None:
                    wanted.append((f"folders.watches[{w.name}].{part}", Path(path)))
    if "http" in doors:
        wanted.append(("http.spool_dir", Path(settings.http.spool_dir)))
    out, seen = [], set()
    for key, path in wanted:
        if path in seen:
            continue
        seen.add(path)
        detail = unwritable(path)
        if detail:
            out.append(Reason.of("STARTUP_NOT_WRITABLE", path=str(path), key=key, detail=detail))
    return out


def unwritable(path: Path) -> str | None:
    """Why a file cannot be created in `path` (or, while it does not exist yet, in its nearest existing
    parent, where it will be made); None when one can. Tried with a real file."""
    p = Path(path).absolute()
    while not p.exists():
        if p.parent == p:
            return "không có / missing"
        p = p.parent
    if not p.is_dir():
        return f"{p}: không phải thư mục / not a directory"
    try:
        fd, name = tempfile.mkstemp(prefix=".kyso-probe-", dir=p)
    except OSError as exc:
        return exc.strerror or type(exc).__name__
    os.close(fd)
    os.unlink(name)
    return None


# --- ports --------------------------------------------------------------------------------------------


def listen_addresses(settings, doors: list[str]) -> list[tuple[str, str, str, int]]:
    """(door, settings key, host, port) for every address the chosen doors listen on; port 0 = any."""
    out = []
    if "smtp" in doors:
        out.append(("SMTP", "smtp.port", settings.smtp.host, settings.smtp.port))
        if settings.smtp.sink_enabled:
            out.append(("SMTP sink (dev)", "smtp.upstream_port", settings.smtp.upstream_host, settings.smtp.upstream_port))
    if "http" in doors:
        out.append(("HTTP", "http.port", settings.http.host, settings.http.port))
    return out


def address_text(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _ports(settings, doors: list[str]) -> list[Reason]:
    out = []
    for door, key, host, port in listen_addresses(settings, doors):
        if not port:
            continue
        problem = port_problem(host, port)
        if problem is None:
            continue
        code, detail = problem
        out.append(Reason.of(code, door=door, address=address_text(host, port), key=key, detail=detail))
    return out


def port_problem(host: str, port: int) -> tuple[str, str] | None:
    """(reason code, detail) when nothing could listen on host:port now, else None. Binds and lets go."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        return "STARTUP_PORT_UNAVAILABLE", str(exc.strerror or exc)
    for family, kind, proto, _, addr in infos[:1]:
        with socket.socket(family, kind, proto) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the doors do: TIME_WAIT is no conflict
            try:
                s.bind(addr)
                s.listen(1)
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    return "STARTUP_PORT_IN_USE", exc.strerror or "in use"
                return "STARTUP_PORT_UNAVAILABLE", exc.strerror or type(exc).__name__
    return None


def bind_error(door: str, exc: OSError) -> Reason:
    """A door that could not listen after all (another program was quicker than the check)."""
    code = "STARTUP_PORT_IN_USE" if exc.errno == errno.EADDRINUSE else "STARTUP_PORT_UNAVAILABLE"
    return Reason.of(code, door=door, address=_address_in(exc), key=door, detail=exc.strerror or str(exc))


def _address_in(exc: OSError) -> str:
    text = str(exc)
    start, end = text.find("("), text.find(")")
    if 0 <= start < end:  # asyncio: "error while attempting to bind on address ('127.0.0.1', 10025): ..."
        parts = [p.strip(" '") for p in text[start + 1 : end].split(",")]
        if len(parts) >= 2:
            return address_text(parts[0], int(parts[1])) if parts[1].isdigit() else ":".join(parts[:2])
    return "?"


# --- files --------------------------------------------------------------------------------------------


def _readable(path: Path) -> str | None:
    try:
        with open(path, "rb") as fh:
            fh.read(1)
    except OSError as exc:
        return exc.strerror or type(exc).__name__
    return None


def _files(settings) -> list[Reason]:
    out = []
    a = settings.appearance
    if not a.invisible:
        for key, path in (("appearance.seal_image", a.seal_image), ("appearance.font", a.font)):
            if path is not None and (detail := _readable(Path(path))):
                out.append(Reason.of("STARTUP_FILE_MISSING", path=str(path), key=key, detail=detail))
    t = settings.token
    if t.pin is None or not t.pin.get_secret_value():
        if t.pin_file is None:
            out.append(Reason.of("STARTUP_FILE_MISSING", path="-", key="token.pin_file", detail="không có / none"))
        elif detail := _readable(Path(t.pin_file)):
            out.append(Reason.of("STARTUP_FILE_MISSING", path=str(t.pin_file), key="token.pin_file", detail=detail))
    return out


def _trust(settings) -> list[Reason]:
    """Trust roots, intermediates and CRL files that cannot be read (URLs are fetched while running)."""
    from cryptography import x509

    from gateway.signing.certcheck import _load_certs

    out = []
    t = settings.trust
    for key, paths in (("trust.roots", t.roots), ("trust.intermediates", t.intermediates)):
        for p in paths:
            try:
                if not _load_certs([p]):
                    raise ValueError("không có chứng thư số / no certificate")
            except (OSError, ValueError) as exc:
                detail = getattr(exc, "strerror", None) or str(exc)[:120]
                out.append(Reason.of("STARTUP_TRUST_MISSING", path=str(p), key=key, detail=detail))
    for src in t.crls:
        if src.startswith(("http://", "https://")):
            continue
        p = Path(src[7:] if src.startswith("file://") else src)
        try:
            data = p.read_bytes()
            x509.load_pem_x509_crl(data) if b"-----BEGIN" in data else x509.load_der_x509_crl(data)
        except (OSError, ValueError) as exc:
            detail = getattr(exc, "strerror", None) or str(exc)[:120]
            out.append(Reason.of("STARTUP_CRL_MISSING", path=str(p), detail=detail))
    return out


# --- the token ----------------------------------------------------------------------------------------


def token_labels(ts) -> list[str]:
    """Labels of every token the module shows now (caller knows the module loads)."""
    from gateway.signing.keys import TOKEN_LOCK, module

    with TOKEN_LOCK:
        m = module(ts.module, ts.softhsm2_conf)
        return [str(tok.label).strip() for tok in m.lib.get_tokens()]


def _token(settings, *, check_certificate: bool) -> list[Reason]:
    from gateway.signing.keys import TokenKey

    ts = settings.token
    path = Path(ts.module)
    if not path.is_file():
        return [Reason.of("STARTUP_PKCS11_MODULE", module=str(path), detail="không có tệp / no such file")]
    try:
        labels = token_labels(ts)
    except GatewayError as exc:
        return [Reason.of("STARTUP_PKCS11_MODULE", module=str(path), detail=exc.message or exc.code)]
    except Exception as exc:  # noqa: BLE001 - a vendor module can fail in any way; say which
        return [Reason.of("STARTUP_PKCS11_MODULE", module=str(path), detail=type(exc).__name__)]
    if ts.token_label not in labels:
        return [Reason.of("STARTUP_TOKEN_NOT_FOUND", label=ts.token_label,
                          found=", ".join(f"«{x}»" for x in labels) or NONE_FOUND)]
    if ts.pin is None and ts.pin_file is not None and _readable(Path(ts.pin_file)):
        return []  # said under _files; logging in without a PIN would only repeat it
    key = TokenKey(ts)
    try:
        key.ping()  # a session, logged in (a refused PIN is latched: tried once), and the private key
        der = key.certificate_der()
        if der is None:
            return [Reason.of("STARTUP_CERT_NOT_FOUND", token=ts.token_label, label=ts.cert_label or ts.key_label)]
        if check_certificate:
            from gateway.signing.certcheck import CertChecker

            CertChecker(settings).check(der)  # the check before every signature: expired, revoked, untrusted
    except GatewayError as exc:
        return [_signer_reason(exc, ts)]
    finally:
        key.close()
    return []


def _signer_reason(exc: GatewayError, ts) -> Reason:
    detail = exc.params.get("detail", "")
    if detail == "key missing":
        return Reason.of("STARTUP_KEY_NOT_FOUND", token=ts.token_label, label=ts.key_label)
    if exc.code.startswith(("PIN_", "ORG_CERT_")):
        return exc.reason  # already says what happened and what to do
    return Reason.of("STARTUP_SIGNER", detail=f"{exc.code}: {exc.message or detail}"[:200])
