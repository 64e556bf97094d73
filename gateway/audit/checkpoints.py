"""Checkpoints: the chain head, signed with the organisation's HSM key, kept in the log and exported.

Why: a hash chain alone is self-consistent: whoever can write the file can rewrite every record after the
one they change, renumber, cut the tail and fix the head row, and the chain still verifies. A checkpoint is
a statement "log L had N records and the N-th hashed H at time T", signed by the organisation key in the
HSM (a detached CMS/CAdES signature over the statement's canonical JSON). Nobody without the token can make
one, so a rewritten chain no longer matches the checkpoints signed before the rewrite.

- The statement: canonical JSON {"format": "kyso-audit-checkpoint/1", "log_id", "seq", "hash", "time",
  "organisation"}; the signature: DER CMS SignedData, detached, by the organisation certificate.
- When: every `audit.checkpoint_records` records or `audit.checkpoint_seconds`, whichever comes first, and
  at shutdown (`gateway run`), and on demand (`gateway log checkpoint`). Only when the head moved.
- Who signs: a signing worker process (gateway.engine), like every other use of the token: python-pkcs11 and
  SoftHSM allow one signing at a time per process.
- Where: the log's own `audit_checkpoint` table, and the anchor (`Anchor`): a directory meant to be out of
  reach of whoever can rewrite the log (another host's share, an append-only file: see docs/security.md).
  It holds `checkpoints.jsonl` (one line per checkpoint, appended, never rewritten), `latest.json` +
  `latest.json.p7s` (the newest statement and its signature, for `openssl cms -verify`) and `log.json` (the
  identity of the log it anchors, written when the log is created: a log that goes missing is never
  silently replaced by a new empty one).
- Verifying (`gateway log verify`, gateway.audit.log.AuditLog.verify): every checkpoint's signature, its
  signer pinned to the organisation's own certificates (trust.organisation_certs), and the record it names
  present in the chain with that very hash.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Callable, Sequence

from gateway.audit.records import RecordInvalid, canonical_json, parse_canonical, time_text, utc_now
from gateway.audit.storage import StoredCheckpoint

log = logging.getLogger("gateway.audit")

FORMAT = "kyso-audit-checkpoint/1"
JOURNAL = "checkpoints.jsonl"
LATEST = "latest.json"
LOG_IDENTITY = "log.json"


class CheckpointInvalid(ValueError):
    """A checkpoint whose statement, signature or signer does not hold."""


@dataclass(frozen=True)
class Statement:
    log_id: str
    seq: int
    hash: str
    time: str
    organisation: str

    def text(self) -> str:
        return canonical_json({"format": FORMAT, "log_id": self.log_id, "seq": self.seq, "hash": self.hash,
                               "time": self.time, "organisation": self.organisation})

    @classmethod
    def parse(cls, text: str) -> "Statement":
        try:
            v = parse_canonical(text)
        except RecordInvalid as exc:
            raise CheckpointInvalid(f"statement: {exc}") from None
        if not isinstance(v, dict) or v.get("format") != FORMAT or set(v) != {
                "format", "log_id", "seq", "hash", "time", "organisation"}:
            raise CheckpointInvalid("statement is not a Kyso checkpoint")
        if type(v["seq"]) is not int or not isinstance(v["hash"], str) or not isinstance(v["log_id"], str):
            raise CheckpointInvalid("statement fields have the wrong types")
        return cls(v["log_id"], v["seq"], v["hash"], str(v["time"]), str(v["organisation"]))


@dataclass(frozen=True)
class Signer:
    subject: str
    sha256: str  # of the certificate DER


# --- the signature ------------------------------------------------------------------------------------


def verify_signature(statement: str, der: bytes, trusted: Sequence[bytes] | None) -> Signer:
    """Check the detached CMS over the statement's UTF-8 bytes; the signer must be one of `trusted`
    (certificate DER). `trusted=None` checks the mathematics only (the caller says so to people)."""
    from asn1crypto import cms
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

    try:
        info = cms.ContentInfo.load(der)
        sd = info["content"]
        si = sd["signer_infos"][0]
        algo = si["digest_algorithm"]["algorithm"].native
        attrs = si["signed_attrs"]
        md = next(a["values"][0].native for a in attrs if a["type"].native == "message_digest")
        certs = [c.chosen for c in sd["certificates"] if c.name == "certificate"]
        sid = si["sid"]
        if sid.name == "issuer_and_serial_number":
            want = sid.chosen
            cert = next(c for c in certs if c.serial_number == want["serial_number"].native
                        and c["tbs_certificate"]["issuer"].dump() == want["issuer"].dump())
        else:
            cert = next(c for c in certs if c.key_identifier == sid.chosen.native)
        h = {"sha256": hashes.SHA256(), "sha384": hashes.SHA384(), "sha512": hashes.SHA512()}[algo]
        sig_algo = si["signature_algorithm"]["algorithm"].native
        signed, sig = attrs.untag().dump(), si["signature"].native
    except (ValueError, KeyError, TypeError, StopIteration) as exc:
        raise CheckpointInvalid(f"signature unreadable ({type(exc).__name__})") from None
    if md != hashlib.new(algo, statement.encode("utf-8")).digest():
        raise CheckpointInvalid("signature is over other bytes (message digest differs)")
    cert_der = cert.dump()
    key = x509.load_der_x509_certificate(cert_der).public_key()
    try:
        if isinstance(key, rsa.RSAPublicKey):
            pad = padding.PSS(padding.MGF1(h), padding.PSS.AUTO) if sig_algo == "rsassa_pss" else padding.PKCS1v15()
            key.verify(sig, signed, pad, h)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(sig, signed, ec.ECDSA(h))
        else:
            raise CheckpointInvalid(f"unexpected key type {type(key).__name__}")
    except InvalidSignature:
        raise CheckpointInvalid("signature does not verify") from None
    fp = hashlib.sha256(cert_der).hexdigest()
    if trusted is not None and not trusted:
        raise CheckpointInvalid("no organisation certificate to check the signer against "
                                "(trust.organisation_certs, <var>/pki/org.pem, or --org-cert)")
    if trusted is not None and fp not in {hashlib.sha256(t).hexdigest() for t in trusted}:
        raise CheckpointInvalid(f"signed by a certificate that is not the organisation's ({fp[:16]}…)")
    return Signer(cert.subject.human_friendly, fp)


def organisation_certs(settings) -> list[bytes]:
    """The organisation's own certificates (DER): trust.organisation_certs, else <var>/pki/org.pem."""
    from cryptography.hazmat.primitives import serialization

    from gateway.signing.certcheck import _load_certs

    paths = [Path(p) for p in (settings.trust.organisation_certs or [settings.paths.pki / "org.pem"])]
    return [c.public_bytes(serialization.Encoding.DER) for c in _load_certs([p for p in paths if p.exists()])]


# --- the anchor: a second place --------------------------------------------------------------------------


def _append_line(path: Path, line: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        os.write(fd, line.encode("utf-8") + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)


def _replace(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


class Anchor:
    """The second place checkpoints go (settings.audit.anchor_dir)."""

    def __init__(self, directory: Path) -> None:
        self.dir = Path(directory)

    def _ensure(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)

    def identity(self) -> dict | None:
        """The log this anchor belongs to ({"log_id", "path", "created"}), or None."""
        try:
            return json.loads((self.dir / LOG_IDENTITY).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return {"log_id": "?", "unreadable": True}

    def holds_a_log(self) -> bool:
        return self.identity() is not None or (self.dir / JOURNAL).exists()

    def register(self, log_id: str, path: Path) -> None:
        """Written once, when the log is created; never overwritten."""
        self._ensure()
        text = canonical_json({"log_id": log_id, "path": str(path), "created": time_text(utc_now())})
        try:
            fd = os.open(self.dir / LOG_IDENTITY, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        except FileExistsError:
            return
        try:
            os.write(fd, text.encode("utf-8") + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)

    def export(self, cp: StoredCheckpoint) -> None:
        self._ensure()
        line = canonical_json({"statement": cp.statement, "signature": base64.b64encode(cp.signature).decode()})
        _append_line(self.dir / JOURNAL, line)
        _replace(self.dir / (LATEST + ".p7s"), cp.signature)
        _replace(self.dir / LATEST, cp.statement.encode("utf-8"))


def read_anchor(path: Path) -> list[StoredCheckpoint]:
    """Checkpoints from an anchor: its directory, a checkpoints.jsonl, or one statement file with its .p7s
    beside it (what an auditor keeps). CheckpointInvalid when it cannot be read as one."""
    path = Path(path)
    if path.is_dir():
        journal = path / JOURNAL
        if journal.exists():
            return read_anchor(journal)
        if (path / LATEST).exists():
            return read_anchor(path / LATEST)
        return []
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CheckpointInvalid(f"cannot read {path}: {exc}") from None
    if path.suffix == ".jsonl":
        out = []
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
                st = Statement.parse(item["statement"])
                sig = base64.b64decode(item["signature"], validate=True)
            except (ValueError, KeyError, TypeError) as exc:
                raise CheckpointInvalid(f"{path}:{n}: not a checkpoint line ({exc})") from None
            out.append(StoredCheckpoint(st.seq, st.hash, st.time, item["statement"], sig))
        return out
    sig_path = path.with_name(path.name + ".p7s")
    try:
        sig = sig_path.read_bytes()
    except OSError:
        raise CheckpointInvalid(f"signature file {sig_path} missing") from None
    st = Statement.parse(text.strip())
    return [StoredCheckpoint(st.seq, st.hash, st.time, text.strip(), sig)]


# --- making them ---------------------------------------------------------------------------------------


class Checkpointer:
    """Signs the chain head when due. `sign(statement_bytes) -> DER CMS` runs in a signing worker."""

    def __init__(self, audit, sign: Callable[[bytes], bytes], *, organisation: str, every_records: int,
                 every_seconds: float, anchor: Anchor | None) -> None:
        self.audit = audit
        self.sign = sign
        self.organisation = organisation
        self.every_records = every_records
        self.every_seconds = every_seconds
        self.anchor = anchor
        last = audit.last_checkpoint()
        self._last_seq = last.seq if last else 0
        self._last_time = time.monotonic()
        self._failed_at = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.made = 0

    def due(self) -> bool:
        head = self.audit.head_seq()
        if head <= self._last_seq:
            return False
        return (head - self._last_seq >= self.every_records
                or time.monotonic() - self._last_time >= self.every_seconds)

    def make(self) -> StoredCheckpoint | None:
        """A checkpoint of the current head (None when it has not moved since the last one)."""
        head = self.audit.head()
        if head is None or head[0] <= self._last_seq:
            self._last_time = time.monotonic()
            return None
        seq, digest = head
        st = Statement(self.audit.log_id, seq, digest, time_text(utc_now()), self.organisation)
        text = st.text()
        der = self.sign(text.encode("utf-8"))
        cp = StoredCheckpoint(seq, digest, st.time, text, der)
        self.audit.add_checkpoint(cp)
        if self.anchor is not None:
            self.anchor.export(cp)
        self._last_seq, self._last_time = seq, time.monotonic()
        self.made += 1
        # The journal (journald, syslog) is a third copy of the head, for free.
        log.info("decision log checkpoint: log %s record #%d hash %s (signed by the organisation key)",
                 st.log_id, seq, digest)
        return cp

    def _tick(self) -> None:
        try:
            if self.due():
                self.make()
        except Exception as exc:  # noqa: BLE001 - a failed checkpoint is retried; it never stops the doors
            now = time.monotonic()
            if now - self._failed_at >= 60:
                self._failed_at = now
                log.error("decision log checkpoint not made (%s: %s); retrying",
                          type(exc).__name__, getattr(exc, "code", "") or str(exc)[:200])

    def start(self) -> None:
        poll = max(0.2, min(5.0, self.every_seconds / 4))

        def loop() -> None:
            while not self._stop.wait(poll):
                self._tick()

        self._thread = threading.Thread(target=loop, name="kyso-checkpoints", daemon=True)
        self._thread.start()

    def stop(self, *, final: bool = True) -> StoredCheckpoint | None:
        """Stop the timer; with `final`, sign the head once more (shutdown)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)
            self._thread = None
        if not final:
            return None
        try:
            return self.make()
        except Exception as exc:  # noqa: BLE001
            log.error("decision log checkpoint at shutdown not made (%s: %s)", type(exc).__name__,
                      getattr(exc, "code", "") or str(exc)[:200])
            return None


def parse_time(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None
