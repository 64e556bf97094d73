"""Access to the organisation's key in a PKCS#11 token (SoftHSM2 in development).

Facts this module is built around (measured with SoftHSM 2.6.1 / python-pkcs11 0.9.5):
- python-pkcs11 initialises the module without locking callbacks: two threads calling into the module at the
  same time crash SoftHSM even on separate sessions. Every token call in this process goes through `TOKEN_LOCK`.
- A PKCS#11 module is initialised once per process; SoftHSM reads SOFTHSM2_CONF (its token directory) and scans
  its tokens only in C_Initialize. So there is one module object per path per process (`_Module`), and finding a
  token that appeared later, or switching configuration (tests with private tokens), means finalize + initialize.
  Sessions opened before such a reset are dead; `generation` tells their owners to reopen.
- A wrong or locked PIN is never retried: real tokens lock after three wrong PINs and a locked device is an
  incident (Quy chế Điều 7.2). The first rejection latches the `TokenKey`; it never calls C_Login again.
- Login state is per process: a second session in a process where the user is already logged in gets
  CKR_USER_ALREADY_LOGGED_IN, which is fine (the session inherits the login).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from gateway.errors import PinRejected, SignerUnavailable

log = logging.getLogger("gateway.signing.keys")

# The one lock serialising every call into any PKCS#11 module in this process.
TOKEN_LOCK = threading.RLock()


@dataclass
class _Module:
    path: str
    conf: str | None
    lib: object
    generation: int = 0


_MODULES: dict[str, _Module] = {}  # never dropped: unloading a lib object finalises the module for everyone


def _set_conf(conf: str | None) -> None:
    if conf:
        os.environ["SOFTHSM2_CONF"] = conf


def module(path: Path | str, conf: Path | str | None) -> _Module:
    """The loaded module for `path`, initialised with configuration `conf`. Caller holds TOKEN_LOCK."""
    import pkcs11

    path = str(path)
    conf = str(Path(conf).resolve()) if conf else None
    m = _MODULES.get(path)
    if m is None:
        if not Path(path).is_file():
            raise SignerUnavailable(f"PKCS#11 module not found: {path}", detail="module")
        _set_conf(conf)
        try:
            lib = pkcs11.lib(path)
        except (pkcs11.PKCS11Error, OSError) as exc:
            raise SignerUnavailable(f"cannot load PKCS#11 module {path}: {exc}", detail="module") from None
        m = _MODULES[path] = _Module(path, conf, lib)
    elif conf and conf != m.conf:
        _reinitialize(m, conf)
    elif not m.lib.initialized:
        _reinitialize(m, m.conf)
    return m


def _reinitialize(m: _Module, conf: str | None) -> None:
    import pkcs11

    m.generation += 1  # every session opened before is gone
    try:
        if m.lib.initialized:
            m.lib.finalize()
    except pkcs11.PKCS11Error:
        pass
    _set_conf(conf)
    m.conf = conf
    try:
        m.lib.initialize()
    except pkcs11.PKCS11Error as exc:
        raise SignerUnavailable(f"cannot initialise PKCS#11 module: {type(exc).__name__}", detail="module") from None


def reset(path: Path | str, conf: Path | str | None) -> None:
    """Finalize and initialize the module again (rescans tokens). Caller holds TOKEN_LOCK."""
    m = module(path, conf)
    _reinitialize(m, m.conf)


def find_token(path: Path | str, conf: Path | str | None, label: str, attempts: int = 1):
    """The token with `label`; rescans (module reset) and retries briefly before giving up."""
    import pkcs11

    last = "not found"
    for attempt in range(max(1, attempts)):
        m = module(path, conf)
        try:
            tokens = list(m.lib.get_tokens(token_label=label))
        except pkcs11.PKCS11Error as exc:
            tokens, last = [], type(exc).__name__
        if len(tokens) == 1:
            return tokens[0]
        if len(tokens) > 1:
            raise SignerUnavailable(f"{len(tokens)} tokens labelled {label!r}", detail="token ambiguous")
        if attempt + 1 < attempts:
            time.sleep(0.1 * (attempt + 1))  # another process may be initialising or logging in
            _reinitialize(m, m.conf)
    raise SignerUnavailable(f"token {label!r} not present ({last})", detail="token absent")


def open_user_session(ts, *, rw: bool = False):
    """A logged-in session on the configured token, for tools and dev-init (caller holds TOKEN_LOCK)."""
    import pkcs11.exceptions as e

    token = find_token(ts.module, ts.softhsm2_conf, ts.token_label, ts.discovery_attempts)
    try:
        return token.open(rw=rw, user_pin=ts.read_pin())
    except e.UserAlreadyLoggedIn:
        return token.open(rw=rw)  # this process is logged in already; the session shares that


def _session_lost_errors():
    import pkcs11.exceptions as e

    return (
        e.SessionHandleInvalid,
        e.SessionClosed,
        e.DeviceRemoved,
        e.DeviceError,
        e.TokenNotPresent,
        e.TokenNotRecognised,
        e.UserNotLoggedIn,
        e.ObjectHandleInvalid,
        e.KeyHandleInvalid,
        e.GeneralError,
        e.FunctionFailed,
        e.SlotIDInvalid,
        e.DeviceMemory,
        e.HostMemory,
    )


def _not_initialized(exc: BaseException) -> bool:
    # CKR_CRYPTOKI_NOT_INITIALIZED has no class of its own in python-pkcs11.
    return "CRYPTOKI_NOT_INITIALIZED" in repr(exc) or "0x190" in repr(exc)


class PinLatch:
    """Remembers, for every process of the gateway, a PIN the token rejected.

    Each worker process has its own TokenKey; without this, N workers would each try a wrong PIN once at
    every start. The latch holds a digest of (token label, PIN) — never the PIN — so configuring a new PIN
    tries once, and the same wrong PIN is never presented again. Logins are serialised across processes by
    an flock on a companion file, so two workers starting together cannot both try.
    """

    def __init__(self, path: Path | None, label: str) -> None:
        self.path = Path(path) if path else None
        self.label = label

    def _digest(self, pin: str) -> str:
        import hashlib

        return hashlib.sha256(f"kyso-pin-latch\0{self.label}\0{pin}".encode()).hexdigest()

    @contextlib.contextmanager
    def held(self):
        if self.path is None:
            yield
            return
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path.with_name(self.path.name + ".lock"), os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock

    def rejected(self, pin: str) -> str | None:
        """The reason code if this PIN was rejected before, else None."""
        if self.path is None or not self.path.exists():
            return None
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return "PIN_INCORRECT"  # unreadable latch: stay on the safe side, an operator looks at it
        if data.get("token_label") == self.label and data.get("pin_digest") == self._digest(pin):
            return str(data.get("code") or "PIN_INCORRECT")
        return None

    def record(self, pin: str, code: str) -> None:
        if self.path is None:
            return
        data = {"token_label": self.label, "pin_digest": self._digest(pin), "code": code,
                "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        tmp = self.path.with_name(self.path.name + f".{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh)
        os.replace(tmp, self.path)


class TokenKey:
    """The organisation's private key and certificate on the token, used under TOKEN_LOCK.

    One per OrgSigner (one per process). Opens its session lazily and once; reopens after a lost session.
    """

    def __init__(self, token_settings) -> None:
        self._ts = token_settings
        self._session = None
        self._key = None
        self._generation = -1
        self._latched: PinRejected | None = None
        self.login_attempts = 0  # C_Login calls made; a test checks a wrong PIN is tried once

    @property
    def latched(self) -> PinRejected | None:
        return self._latched

    # -- session ----------------------------------------------------------------------------------

    def _open(self):
        """A logged-in session and the private key handle. Caller holds TOKEN_LOCK."""
        import pkcs11
        import pkcs11.exceptions as e

        if self._latched is not None:
            raise self._latched
        ts = self._ts
        m = module(ts.module, ts.softhsm2_conf)
        if self._session is not None and self._generation == m.generation:
            return self._session, self._key
        self._session = self._key = None
        token = find_token(ts.module, ts.softhsm2_conf, ts.token_label, ts.discovery_attempts)
        m = module(ts.module, ts.softhsm2_conf)
        pin = ts.read_pin()
        latch = PinLatch(getattr(ts, "pin_latch_file", None), ts.token_label)
        try:
            with latch.held():
                code = latch.rejected(pin)
                if code is not None:  # another process (or an earlier run) was refused this very PIN
                    self._latched = PinRejected("PIN rejected earlier (latch file); not tried again", code=code)
                    log.error("token %s: this PIN was rejected before; not presenting it again (%s)",
                              ts.token_label, latch.path)
                    raise self._latched
                session = self._login(token, pin, latch)
        finally:
            del pin
        try:
            key = session.get_key(
                object_class=pkcs11.ObjectClass.PRIVATE_KEY, label=ts.key_label
            )
        except (e.NoSuchKey, e.MultipleObjectsReturned) as exc:
            _close_quietly(session)
            raise SignerUnavailable(
                f"private key {ts.key_label!r}: {type(exc).__name__}", detail="key missing"
            ) from None
        self._session, self._key, self._generation = session, key, m.generation
        return session, key

    def _login(self, token, pin: str, latch: PinLatch):
        """C_Login once. A refused PIN is latched here, in the latch file, and never presented again."""
        import pkcs11
        import pkcs11.exceptions as e

        label = self._ts.token_label
        try:
            self.login_attempts += 1
            return token.open(user_pin=pin)
        except e.UserAlreadyLoggedIn:
            return token.open()  # logged in already in this process: the session shares the login
        except (e.PinIncorrect, e.PinInvalid, e.PinLenRange) as exc:
            # PinInvalid / PinLenRange: the token refused the PIN's form; counts as rejected too.
            code, what = "PIN_INCORRECT", type(exc).__name__
        except (e.PinLocked, e.PinExpired) as exc:
            code, what = "PIN_LOCKED", type(exc).__name__
        except pkcs11.PKCS11Error as exc:
            raise SignerUnavailable(f"cannot open session: {type(exc).__name__}", detail="session") from None
        latch.record(pin, code)
        self._latched = PinRejected(f"token refused the PIN ({what}); latched", code=code)
        log.error("token %s refused the PIN (%s); signing stopped, no retry", label, code)
        raise self._latched

    def _drop(self) -> None:
        if self._session is not None:
            _close_quietly(self._session)
        self._session = self._key = None

    def _call(self, fn):
        """Run fn(session, key) under the lock; one reopen on a lost session, else SignerUnavailable."""
        import pkcs11

        with TOKEN_LOCK:
            for attempt in (0, 1):
                session, key = self._open()
                try:
                    return fn(session, key)
                except _session_lost_errors() as exc:
                    self._lost(exc, attempt)
                except pkcs11.PKCS11Error as exc:
                    if not _not_initialized(exc):
                        raise SignerUnavailable(f"token error {type(exc).__name__}", detail="token") from None
                    self._lost(exc, attempt)
        raise AssertionError("unreachable")

    def _lost(self, exc: BaseException, attempt: int) -> None:
        log.warning("token session lost (%s); reopening", type(exc).__name__)
        self._session = self._key = None  # the handle is dead; do not close a possibly reused number
        try:
            reset(self._ts.module, self._ts.softhsm2_conf)
        except SignerUnavailable:
            pass
        if attempt:
            raise SignerUnavailable(f"token session lost: {type(exc).__name__}", detail="session lost") from None

    # -- operations -------------------------------------------------------------------------------

    def sign(self, data: bytes, *, pss: bool = False, digest: str = "sha256", salt_len: int | None = None) -> bytes:
        """RSA signature over `data` (the token hashes): PKCS#1 v1.5 or PSS (salt: given, else digest length)."""
        from pkcs11 import MGF, Mechanism

        mech, param = _mechanism(digest, pss, Mechanism, MGF)
        if pss and salt_len is not None:
            param = (param[0], param[1], salt_len)
        return self._call(lambda s, k: k.sign(data, mechanism=mech, mechanism_param=param))

    def certificate_der(self) -> bytes | None:
        """The certificate stored beside the key (label cert_label or key_label), or None."""
        import pkcs11
        from pkcs11 import Attribute, ObjectClass

        label = self._ts.cert_label or self._ts.key_label

        def get(session, _key):
            for obj in session.get_objects({Attribute.CLASS: ObjectClass.CERTIFICATE, Attribute.LABEL: label}):
                return bytes(obj[Attribute.VALUE])
            return None

        try:
            return self._call(get)
        except pkcs11.PKCS11Error as exc:  # pragma: no cover - mapped in _call
            raise SignerUnavailable(type(exc).__name__) from None

    def token_flags(self) -> int:
        """Current token flags (CKF_USER_PIN_COUNT_LOW etc.), without logging in."""
        with TOKEN_LOCK:
            tok = find_token(self._ts.module, self._ts.softhsm2_conf, self._ts.token_label, 1)
            return int(tok.flags)

    def ping(self) -> None:
        """Raises unless the session works (a cheap attribute read of the key)."""
        from pkcs11 import Attribute

        self._call(lambda s, k: k[Attribute.KEY_TYPE])

    def close(self) -> None:
        with TOKEN_LOCK:
            if self._session is not None:
                try:
                    m = module(self._ts.module, self._ts.softhsm2_conf)
                    if m.generation == self._generation:
                        _close_quietly(self._session)
                except SignerUnavailable:
                    pass
            self._session = self._key = None


def _close_quietly(session) -> None:
    try:
        session.close()
    except Exception:  # noqa: BLE001 - closing a dead session is not an error worth raising
        pass


def _mechanism(digest: str, pss: bool, Mechanism, MGF):
    table = {
        "sha256": (Mechanism.SHA256_RSA_PKCS, Mechanism.SHA256_RSA_PKCS_PSS, Mechanism.SHA256, MGF.SHA256, 32),
        "sha384": (Mechanism.SHA384_RSA_PKCS, Mechanism.SHA384_RSA_PKCS_PSS, Mechanism.SHA384, MGF.SHA384, 48),
        "sha512": (Mechanism.SHA512_RSA_PKCS, Mechanism.SHA512_RSA_PKCS_PSS, Mechanism.SHA512, MGF.SHA512, 64),
    }
    v15, pss_mech, h, mgf, salt = table[digest]
    if pss:
        return pss_mech, (h, mgf, salt)
    return v15, None
