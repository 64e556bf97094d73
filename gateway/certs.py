"""Certificate inventory: the certificates issued to the agency's subscribers, for the regulation's report.

Each certificate has a type from the report template (Quy chế, Điều 10.5 and its appendix), a status that is
computed for a given moment (in use / expired / revoked), and — when revoked — a date and one of the
revocation grounds of Decree 68/2024/NĐ-CP Điều 17.

Storage: own tables in the decision log's SQLite file (settings.audit.path), own connection (WAL,
busy_timeout), so several gateway processes may learn certificates at once. Certificates are public data:
the DER is kept when we have it; no key, no PIN, no document content is ever stored here.

Type guessing (decided here, changeable with `gateway certs set-type`, and a type set by a person is never
overwritten by learning or re-import):
  - a CA certificate is not a subscriber certificate and is skipped on import;
  - server/device certificates (CN looks like a host name, or only TLS/code-signing usages) -> thiet_bi;
  - organisation certificates (from the token; CN equal to O or an OU; signer classified as organisation)
    -> to_chuc;
  - a person whose certificate carries a title (X.520 `title`, chức danh) -> tham_quyen: the specialised CA
    writes the post into the certificates of people who sign with authority (heads, deputies); other
    persons -> ca_nhan.
"""

from __future__ import annotations

import enum
import logging
import re
import sqlite3
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from gateway.errors import ConfigError, InputRejected, PermanentError, SignerUnavailable, StorageUnavailable
from gateway.model import VN_TZ

log = logging.getLogger("gateway.certs")



class CertType(enum.StrEnum):
    """Rows 1-4 of the report template."""

    TO_CHUC = "to_chuc"
    CA_NHAN = "ca_nhan"
    THAM_QUYEN = "tham_quyen"
    THIET_BI = "thiet_bi"

    @property
    def label_vi(self) -> str:
        return _TYPE_LABELS[self][0]

    @property
    def label_en(self) -> str:
        return _TYPE_LABELS[self][1]


_TYPE_LABELS = {
    CertType.TO_CHUC: ("Chứng thư số tổ chức", "Organisation certificates"),
    CertType.CA_NHAN: ("Chứng thư số cá nhân", "Personal certificates"),
    CertType.THAM_QUYEN: ("Chứng thư số người có thẩm quyền", "Certificates of competent persons"),
    CertType.THIET_BI: ("Chứng thư số thiết bị, dịch vụ, phần mềm", "Device, service and software certificates"),
}


class CertStatus(enum.StrEnum):
    IN_USE = "in_use"
    EXPIRED = "expired"
    REVOKED = "revoked"
    NOT_YET_VALID = "not_yet_valid"

    @property
    def label(self) -> str:
        return _STATUS_LABELS[self]


_STATUS_LABELS = {
    CertStatus.IN_USE: "đang sử dụng / in use",
    CertStatus.EXPIRED: "hết hạn / expired",
    CertStatus.REVOKED: "đã thu hồi / revoked",
    CertStatus.NOT_YET_VALID: "chưa có hiệu lực / not yet valid",
}


class Source(enum.StrEnum):
    IMPORTED = "imported"
    TOKEN = "token"
    LEARNED = "learned"


@dataclass(frozen=True)
class RevocationGround:
    code: str
    vi: str  # short label, as written in the report's "Lý do thu hồi" column
    en: str


# Decree 68/2024/NĐ-CP Điều 17: the grounds on which a certificate is revoked (wording is our summary).
REVOCATION_GROUNDS: tuple[RevocationGround, ...] = (
    RevocationGround("expired", "Hết hạn sử dụng", "Expired"),
    RevocationGround("key_compromise", "Khóa bí mật bị lộ hoặc nghi bị lộ", "Private key exposed or suspected"),
    RevocationGround(
        "device_unsafe", "Thiết bị lưu khóa bị hư hỏng, thất lạc hoặc không an toàn", "Key device damaged, lost or unsafe"
    ),
    RevocationGround(
        "prosecution_request", "Theo yêu cầu của cơ quan tiến hành tố tụng, cơ quan công an",
        "Request of a prosecuting body or the police",
    ),
    RevocationGround("managing_agency_request", "Theo yêu cầu của cơ quan quản lý", "Request of the managing agency"),
    RevocationGround("changed_post", "Thay đổi vị trí công tác", "Holder changed post"),
    RevocationGround("retired", "Nghỉ hưu", "Holder retired"),
    RevocationGround("resigned", "Thôi việc", "Holder resigned"),
    RevocationGround("deceased", "Từ trần", "Holder died"),
    RevocationGround("org_dissolved", "Tổ chức giải thể", "Organisation dissolved"),
    RevocationGround("org_split", "Tổ chức chia, tách", "Organisation split"),
    RevocationGround("org_merged", "Tổ chức sáp nhập, hợp nhất", "Organisation merged"),
    RevocationGround(
        "service_stopped", "Thiết bị, dịch vụ, phần mềm ngừng hoạt động", "Device, service or software stopped operating"
    ),
)
GROUNDS: dict[str, RevocationGround] = {g.code: g for g in REVOCATION_GROUNDS}
EXPIRED = "expired"


def ground(code: str) -> RevocationGround:
    try:
        return GROUNDS[code]
    except KeyError:
        raise InputRejected(
            f"unknown revocation reason {code!r}", code="CERT_REASON_UNKNOWN", reason=code,
            known=", ".join(GROUNDS),
        ) from None


@dataclass(frozen=True)
class CertRecord:
    """One certificate in the inventory. Times are aware datetimes (UTC as stored)."""

    issuer: str  # RFC 4514
    serial: str  # lower-case hex, no leading zeros
    subject: str  # RFC 4514
    common_name: str
    cert_type: CertType
    type_confirmed: bool  # True once a person set the type; learning then never changes it
    not_before: datetime
    not_after: datetime
    source: Source
    sha256: str | None = None
    title: str | None = None
    revoked_at: datetime | None = None
    revocation_reason: str | None = None
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    der: bytes | None = None

    def status(self, at: datetime) -> CertStatus:
        """Status at a moment: revoked from its revocation time on; expired after notAfter (inclusive bound)."""
        if self.revoked_at is not None and self.revoked_at <= at:
            return CertStatus.REVOKED
        if self.not_after < at:
            return CertStatus.EXPIRED
        if self.not_before > at:
            return CertStatus.NOT_YET_VALID
        return CertStatus.IN_USE

    def days_left(self, at: datetime) -> float:
        return (self.not_after - at).total_seconds() / 86400

    def as_dict(self, at: datetime | None = None) -> dict:
        d = {
            "issuer": self.issuer,
            "serial": self.serial,
            "subject": self.subject,
            "common_name": self.common_name,
            "title": self.title,
            "type": self.cert_type.value,
            "type_label": self.cert_type.label_vi,
            "type_confirmed": self.type_confirmed,
            "not_before": iso(self.not_before),
            "not_after": iso(self.not_after),
            "source": self.source.value,
            "sha256": self.sha256,
            "revoked_at": iso(self.revoked_at) if self.revoked_at else None,
            "revocation_reason": self.revocation_reason,
            "first_seen": iso(self.first_seen) if self.first_seen else None,
            "last_seen": iso(self.last_seen) if self.last_seen else None,
        }
        if at is not None:
            d["status"] = self.status(at).value
        return d


def iso(t: datetime) -> str:
    return t.astimezone(VN_TZ).isoformat()


def _utc(t: datetime) -> str:
    if t.tzinfo is None:
        raise ValueError("naive datetime")
    return t.astimezone(timezone.utc).isoformat()


def _parse(s: str | None) -> datetime | None:
    return datetime.fromisoformat(s) if s else None


def norm_serial(serial: str | int) -> str:
    """Serial numbers compare as integers: accept int, hex with or without colons/0x, any case."""
    if isinstance(serial, int):
        return format(serial, "x")
    s = serial.strip().lower().replace(":", "").replace(" ", "")
    if s.startswith("0x"):
        s = s[2:]
    if not s or any(c not in "0123456789abcdef" for c in s):
        raise InputRejected(f"bad serial {serial!r}", code="CERT_SERIAL_INVALID", serial=serial)
    return s.lstrip("0") or "0"


def parse_when(text: str) -> datetime:
    """A CLI date: YYYY-MM-DD (start of that day, Vietnam time) or ISO 8601 (naive = Vietnam time)."""
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            return datetime.combine(date.fromisoformat(text), time(0), VN_TZ)
        t = datetime.fromisoformat(text)
    except ValueError:
        raise InputRejected(f"bad date {text!r}", code="BAD_REQUEST", detail=f"ngày / date {text!r}") from None
    return t if t.tzinfo else t.replace(tzinfo=VN_TZ)


# --- reading certificates --------------------------------------------------------------------------

_OID_TITLE = "2.5.4.12"
_HOST_RE = re.compile(r"^(\*\.)?([a-z0-9-]+\.)+[a-z]{2,}$", re.I)
_ORG_WORDS = (
    "ubnd", "ủy ban", "uỷ ban", "sở ", "văn phòng", "ban ", "bộ ", "cục ", "chi cục", "trung tâm", "phòng ",
    "công ty", "trường ", "bệnh viện", "hội đồng", "cơ quan",
)


@dataclass(frozen=True)
class ParsedCert:
    """What the inventory keeps of a certificate read from a file or the token."""

    issuer: str
    serial: str
    subject: str
    common_name: str
    title: str | None
    not_before: datetime
    not_after: datetime
    sha256: str
    der: bytes
    is_ca: bool
    guessed_type: CertType


def load_certificates(data: bytes, name: str = "") -> list:
    """cryptography Certificates from PEM (several), DER, or a PKCS#7 bundle (PEM or DER)."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import pkcs7

    certs: list = []
    if b"-----BEGIN" in data:
        if b"-----BEGIN CERTIFICATE-----" in data or b"-----BEGIN X509 CERTIFICATE-----" in data:
            certs += x509.load_pem_x509_certificates(data.replace(b"X509 CERTIFICATE", b"CERTIFICATE"))
        for m in re.finditer(rb"-----BEGIN PKCS7-----.*?-----END PKCS7-----", data, re.S):
            certs += pkcs7.load_pem_pkcs7_certificates(m.group(0))
        if certs:
            return certs
    else:
        for loader in (x509.load_der_x509_certificate, pkcs7.load_der_pkcs7_certificates):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # BER bundles (unsorted SET OF) are common; accepted
                    got = loader(data)
            except Exception:  # not this encoding; try the next
                continue
            return list(got) if isinstance(got, list) else [got]
    raise InputRejected(f"no certificate in {name}", code="CERT_FILE_INVALID", name=name or "-")


def parse_certificate(cert) -> ParsedCert:
    """cryptography Certificate (or DER bytes / asn1crypto Certificate) -> ParsedCert with a guessed type."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    if isinstance(cert, (bytes, bytearray)):
        cert = x509.load_der_x509_certificate(bytes(cert))
    elif not isinstance(cert, x509.Certificate):  # asn1crypto
        cert = x509.load_der_x509_certificate(cert.dump())
    der = cert.public_bytes(serialization.Encoding.DER)

    def attr(name, oid) -> str | None:
        vals = name.get_attributes_for_oid(oid)
        return str(vals[0].value) if vals else None

    subj = cert.subject
    cn = attr(subj, NameOID.COMMON_NAME) or subj.rfc4514_string()
    title = attr(subj, NameOID.TITLE)
    org = attr(subj, NameOID.ORGANIZATION_NAME)
    ous = [str(a.value) for a in subj.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)]
    try:
        is_ca = bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        is_ca = False
    try:
        ekus = set(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    except x509.ExtensionNotFound:
        ekus = set()
    device_ekus = {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CODE_SIGNING}
    person_ekus = {ExtendedKeyUsageOID.EMAIL_PROTECTION, ExtendedKeyUsageOID.CLIENT_AUTH}
    if _HOST_RE.match(cn) or (ekus and ekus & device_ekus and not ekus & person_ekus):
        guess = CertType.THIET_BI
    else:
        guess = guess_type(cn, title, org, ous)
    return ParsedCert(
        issuer=cert.issuer.rfc4514_string(),
        serial=norm_serial(cert.serial_number),
        subject=subj.rfc4514_string(),
        common_name=cn,
        title=title,
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        sha256=cert.fingerprint(hashes.SHA256()).hex(),
        der=der,
        is_ca=is_ca,
        guessed_type=guess,
    )


def guess_type(cn: str, title: str | None, org: str | None = None, ous: Sequence[str] = (),
               organisation: bool | None = None) -> CertType:
    """The report row a certificate most likely belongs to (see the module docstring)."""
    if _HOST_RE.match(cn or ""):
        return CertType.THIET_BI
    low = (cn or "").casefold()
    if organisation is None:
        organisation = bool(
            (org and low == org.casefold()) or any(low == o.casefold() for o in ous)
            or (not title and low.startswith(_ORG_WORDS))
        )
    if organisation:
        return CertType.TO_CHUC
    return CertType.THAM_QUYEN if title else CertType.CA_NHAN


def _title_from_subject(subject: str) -> str | None:
    """The title (2.5.4.12) of a subject written as RFC 4514 ("T=Chủ tịch") or as the validator's
    human-friendly form ("Title: Chủ tịch"): learned certificates have no DER to read it from."""
    return dict(name_attributes(subject)).get("T")


# Attribute names as RFC 4514 / OpenSSL / asn1crypto's human_friendly write them -> one short name.
_ATTR = {
    "cn": "CN", "common name": "CN", "2.5.4.3": "CN",
    "o": "O", "organization": "O", "organisation": "O", "organization name": "O", "2.5.4.10": "O",
    "ou": "OU", "organizational unit": "OU", "organization unit": "OU", "organizational unit name": "OU", "2.5.4.11": "OU",
    "c": "C", "country": "C", "country name": "C", "2.5.4.6": "C",
    "l": "L", "locality": "L", "locality name": "L", "2.5.4.7": "L",
    "st": "ST", "s": "ST", "state/province": "ST", "state or province name": "ST", "2.5.4.8": "ST",
    "t": "T", "title": "T", "2.5.4.12": "T",
    "e": "E", "email address": "E", "emailaddress": "E", "1.2.840.113549.1.9.1": "E",
    "serialnumber": "SERIALNUMBER", "serial number": "SERIALNUMBER", "2.5.4.5": "SERIALNUMBER",
    "uid": "UID", "user id": "UID", "userid": "UID", "0.9.2342.19200300.100.1.1": "UID",
    "street": "STREET", "street address": "STREET", "2.5.4.9": "STREET",
    "dc": "DC", "domain component": "DC", "0.9.2342.19200300.100.1.25": "DC",
    "gn": "GN", "given name": "GN", "givenname": "GN", "2.5.4.42": "GN",
    "sn": "SN", "surname": "SN", "2.5.4.4": "SN",
}
_ATTR_ORDER = ("CN", "T", "SERIALNUMBER", "UID", "E", "OU", "O", "STREET", "L", "ST", "C", "DC", "GN", "SN")
_HUMAN_PAIR = re.compile(r"(?:^|,\s*|;\s*)([A-Za-z][A-Za-z0-9 ./]*?):\s*")


def name_attributes(name: str | None) -> list[tuple[str, str]]:
    """(short attribute name, value) pairs of a distinguished name in any of the string forms seen here."""
    text = (name or "").strip()
    if not text:
        return []
    import unicodedata

    pairs: list[tuple[str, str]] = []
    if "=" not in text or re.match(r"^[A-Za-z][A-Za-z .]*:\s", text):
        # asn1crypto human_friendly: "Common Name: X, Organization: Y" (values unescaped)
        marks = list(_HUMAN_PAIR.finditer(text))
        for i, m in enumerate(marks):
            end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
            pairs.append((m.group(1), text[m.end():end]))
    else:
        # RFC 4514 (also "/"-separated OpenSSL one-liners): split on unescaped separators
        sep = "/" if text.startswith("/") else ","
        parts, cur, esc = [], "", False
        for ch in text.lstrip("/"):
            if esc:
                cur, esc = cur + ch, False
            elif ch == "\\":
                esc = True
            elif ch in (sep, "+", ";"):
                parts.append(cur)
                cur = ""
            else:
                cur += ch
        parts.append(cur)
        for part in parts:
            if "=" in part:
                k, v = part.split("=", 1)
                pairs.append((k, v))
    out = []
    for k, v in pairs:
        key = _ATTR.get(k.strip().lower(), k.strip().upper())
        value = re.sub(r"\s+", " ", unicodedata.normalize("NFC", v)).strip()
        if value:
            out.append((key, value))
    return out


def canonical_name(name: str | None) -> str:
    """One string for one distinguished name, whatever form it came in (RFC 4514 from an imported file, the
    validator's human-friendly text from a signature): attributes by a fixed order, values NFC with single
    blanks, RFC 4514 escaping. The inventory stores issuers in this form (a certificate learned from a
    signature and the same one imported later are one row)."""
    attrs = name_attributes(name)
    if not attrs:
        return (name or "").strip()
    order = {k: i for i, k in enumerate(_ATTR_ORDER)}
    attrs.sort(key=lambda kv: (order.get(kv[0], len(order)), kv[0], kv[1]))

    def esc(v: str) -> str:
        v = re.sub(r'([,+"\\<>;=])', r"\\\1", v)
        return ("\\" + v if v[:1] in "# " else v)

    return ",".join(f"{k}={esc(v)}" for k, v in attrs)


# --- the store ------------------------------------------------------------------------------------

_SCHEMA = """
CREATE TABLE IF NOT EXISTS cert_inventory (
    id INTEGER PRIMARY KEY,
    issuer TEXT NOT NULL,
    serial TEXT NOT NULL,
    subject TEXT NOT NULL,
    common_name TEXT NOT NULL,
    title TEXT,
    cert_type TEXT NOT NULL,
    type_confirmed INTEGER NOT NULL DEFAULT 0,
    not_before TEXT NOT NULL,
    not_after TEXT NOT NULL,
    source TEXT NOT NULL,
    sha256 TEXT,
    der BLOB,
    revoked_at TEXT,
    revocation_reason TEXT,
    first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    UNIQUE (issuer, serial)
);
CREATE INDEX IF NOT EXISTS cert_inventory_sha256 ON cert_inventory (sha256);
CREATE INDEX IF NOT EXISTS cert_inventory_serial ON cert_inventory (serial);
"""

_COLS = (
    "issuer, serial, subject, common_name, title, cert_type, type_confirmed, not_before, not_after, source, "
    "sha256, der, revoked_at, revocation_reason, first_seen, last_seen"
)


@dataclass(frozen=True)
class ImportResult:
    added: int = 0
    updated: int = 0
    skipped_ca: int = 0
    records: tuple[CertRecord, ...] = ()


def _canonicalise(conn: sqlite3.Connection) -> None:
    """Inventories written before issuers had one form: rewrite them, and merge the rows that were one
    certificate (same fingerprint, or same canonical issuer and serial), keeping the stronger source, a
    confirmed type and a revocation."""
    rows = conn.execute("SELECT id, issuer, serial, sha256, source, cert_type, type_confirmed, revoked_at, "
                        "revocation_reason, der FROM cert_inventory").fetchall()
    if all(canonical_name(r["issuer"]) == r["issuer"] for r in rows):
        groups: dict = {}
        for r in rows:
            groups.setdefault(r["sha256"] or ("-", r["id"]), []).append(r)
        if all(len(g) == 1 for g in groups.values()):
            return
    rank = {Source.LEARNED.value: 0, Source.IMPORTED.value: 1, Source.TOKEN.value: 2}
    conn.execute("BEGIN IMMEDIATE")
    try:
        groups = {}
        for r in rows:
            key = ("sha", r["sha256"]) if r["sha256"] else ("name", canonical_name(r["issuer"]), r["serial"])
            groups.setdefault(key, []).append(r)
        by_name: dict = {}
        for members in groups.values():
            by_name.setdefault((canonical_name(members[0]["issuer"]), members[0]["serial"]), []).extend(members)
        for (issuer, _serial), members in by_name.items():
            members.sort(key=lambda r: (rank.get(r["source"], 0), r["der"] is not None), reverse=True)
            keep, drop = members[0], members[1:]
            confirmed = next((r for r in members if r["type_confirmed"]), None)
            revoked = next((r for r in members if r["revoked_at"]), None)
            for r in drop:
                conn.execute("DELETE FROM cert_inventory WHERE id=?", (r["id"],))
            conn.execute(
                "UPDATE cert_inventory SET issuer=?, cert_type=?, type_confirmed=?, revoked_at=?, revocation_reason=? "
                "WHERE id=?",
                (issuer, (confirmed or keep)["cert_type"], int(confirmed is not None),
                 (revoked or keep)["revoked_at"], (revoked or keep)["revocation_reason"], keep["id"]),
            )
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _row(r: sqlite3.Row) -> CertRecord:
    return CertRecord(
        issuer=r["issuer"],
        serial=r["serial"],
        subject=r["subject"],
        common_name=r["common_name"],
        title=r["title"],
        cert_type=CertType(r["cert_type"]),
        type_confirmed=bool(r["type_confirmed"]),
        not_before=_parse(r["not_before"]),
        not_after=_parse(r["not_after"]),
        source=Source(r["source"]),
        sha256=r["sha256"],
        der=r["der"],
        revoked_at=_parse(r["revoked_at"]),
        revocation_reason=r["revocation_reason"],
        first_seen=_parse(r["first_seen"]),
        last_seen=_parse(r["last_seen"]),
    )


class Inventory:
    """The certificate inventory in SQLite. One instance per process/thread; cheap to create."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._conn: sqlite3.Connection | None = None

    @classmethod
    def from_settings(cls, settings) -> "Inventory":
        if settings.audit.backend != "sqlite":
            # PostgreSQL belongs to the decision log's backend; the inventory follows when it exists.
            raise ConfigError("audit.backend: the certificate inventory needs 'sqlite'", detail="audit.backend")
        return cls(settings.audit.path)

    # connection ------------------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            from gateway.audit import AuditLog

            try:
                # The decision log creates the file (0600 in a 0700 directory) and hands out a connection
                # with its pragmas (WAL, busy_timeout); our tables live beside its own.
                with AuditLog.at(self.path) as audit:
                    conn = audit.connect()
                conn.row_factory = sqlite3.Row
                conn.executescript(_SCHEMA)
                _canonicalise(conn)
            except (OSError, sqlite3.Error) as exc:
                raise StorageUnavailable(f"inventory: {exc}") from None
            self._conn = conn
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> "Inventory":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    # queries -----------------------------------------------------------------------------------------
    def all(self) -> list[CertRecord]:
        rows = self._connect().execute(f"SELECT {_COLS} FROM cert_inventory ORDER BY cert_type, not_before, serial")
        return [_row(r) for r in rows]

    def find(self, serial: str, issuer: str | None = None) -> list[CertRecord]:
        s = norm_serial(serial)
        sql, args = f"SELECT {_COLS} FROM cert_inventory WHERE serial = ?", [s]
        if issuer:
            sql, args = sql + " AND issuer = ?", args + [canonical_name(issuer)]
        return [_row(r) for r in self._connect().execute(sql, args)]

    def _one(self, serial: str, issuer: str | None) -> CertRecord:
        found = self.find(serial, issuer)
        if not found:
            raise PermanentError(f"no certificate {serial}", code="CERT_NOT_FOUND", serial=serial)
        if len(found) > 1:
            raise PermanentError(
                f"serial {serial} is ambiguous", code="CERT_AMBIGUOUS", serial=serial,
                issuers="; ".join(r.issuer for r in found),
            )
        return found[0]

    # changes -----------------------------------------------------------------------------------------
    def upsert(self, p: ParsedCert, source: Source, *, cert_type: CertType | None = None,
               now: datetime | None = None) -> tuple[CertRecord, bool]:
        """Add or update by issuer+serial. Returns (record, added). A confirmed type is kept."""
        now = now or datetime.now(timezone.utc)
        ctype = cert_type or p.guessed_type
        p = replace(p, issuer=canonical_name(p.issuer))
        with self._tx() as c:
            # the same certificate, however its issuer was written when it was learned: fingerprint first
            old = c.execute("SELECT id, type_confirmed, source FROM cert_inventory WHERE sha256=?",
                            (p.sha256.lower(),)).fetchone() if p.sha256 else None
            if old is None:
                old = c.execute("SELECT id, type_confirmed, source FROM cert_inventory WHERE issuer=? AND serial=?",
                                (p.issuer, p.serial)).fetchone()
            if old is None:
                c.execute(
                    f"INSERT INTO cert_inventory ({_COLS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,NULL,NULL,?,?)",
                    (p.issuer, p.serial, p.subject, p.common_name, p.title, ctype.value, int(cert_type is not None),
                     _utc(p.not_before), _utc(p.not_after), source.value, p.sha256, p.der, _utc(now), _utc(now)),
                )
            else:
                keep_type = bool(old["type_confirmed"]) and cert_type is None
                # A learned record upgraded by an import keeps the stronger source (token > imported > learned).
                rank = {Source.LEARNED: 0, Source.IMPORTED: 1, Source.TOKEN: 2}
                src = source if rank[source] >= rank[Source(old["source"])] else Source(old["source"])
                c.execute(
                    "UPDATE cert_inventory SET issuer=?, subject=?, common_name=?, title=?, not_before=?, not_after=?, "
                    "sha256=?, der=COALESCE(?, der), source=?, last_seen=?"
                    + ("" if keep_type else ", cert_type=?, type_confirmed=?")
                    + " WHERE id=?",
                    (p.issuer, p.subject, p.common_name, p.title, _utc(p.not_before), _utc(p.not_after), p.sha256,
                     p.der, src.value, _utc(now))
                    + (() if keep_type else (ctype.value, int(cert_type is not None)))
                    + (old["id"],),
                )
        rec = self.find(p.serial, p.issuer)[0]
        return rec, old is None

    def import_certificates(self, certs: Iterable, source: Source = Source.IMPORTED, *,
                            cert_type: CertType | None = None) -> ImportResult:
        added = updated = skipped = 0
        recs = []
        for cert in certs:
            p = parse_certificate(cert)
            if p.is_ca:
                skipped += 1  # issuers are not subscriber certificates
                continue
            rec, new = self.upsert(p, source, cert_type=cert_type)
            added += new
            updated += not new
            recs.append(rec)
        return ImportResult(added, updated, skipped, tuple(recs))

    def import_files(self, paths: Iterable[Path], *, cert_type: CertType | None = None) -> ImportResult:
        certs = []
        for path in paths:
            path = Path(path)
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise InputRejected(f"cannot read {path}", code="CERT_FILE_INVALID", name=f"{path}: {exc.strerror}") from None
            certs += load_certificates(data, str(path))
        return self.import_certificates(certs, Source.IMPORTED, cert_type=cert_type)

    def revoke(self, serial: str, reason: str, when: datetime, *, issuer: str | None = None) -> CertRecord:
        ground(reason)
        rec = self._one(serial, issuer)
        with self._tx() as c:
            c.execute("UPDATE cert_inventory SET revoked_at=?, revocation_reason=? WHERE issuer=? AND serial=?",
                      (_utc(when), reason, rec.issuer, rec.serial))
        return replace(rec, revoked_at=when, revocation_reason=reason)

    def set_type(self, serial: str, cert_type: CertType, *, issuer: str | None = None) -> CertRecord:
        rec = self._one(serial, issuer)
        with self._tx() as c:
            c.execute("UPDATE cert_inventory SET cert_type=?, type_confirmed=1 WHERE issuer=? AND serial=?",
                      (cert_type.value, rec.issuer, rec.serial))
        return replace(rec, cert_type=cert_type, type_confirmed=True)

    def learn_from_signatures(self, signature_facts: Iterable, *, now: datetime | None = None) -> int:
        """Record the certificates behind valid personal signatures. Returns how many were new.

        One short IMMEDIATE transaction per certificate, matched by fingerprint first (issuer strings from
        validation may be written differently from ours), then by issuer+serial: safe from several processes.
        """
        from gateway.model import SignerType

        now = now or datetime.now(timezone.utc)
        new = 0
        for sf in signature_facts:
            if sf.signer_type is not SignerType.PERSON or not sf.valid:
                continue
            if sf.not_valid_before is None or sf.not_valid_after is None:
                continue  # cannot place it in any report period
            serial = norm_serial(sf.signer_serial)
            issuer = canonical_name(sf.issuer_subject)
            title = _title_from_subject(sf.signer_subject)
            guess = guess_type(sf.signer_common_name, title, organisation=False)
            with self._tx() as c:
                old = None
                if sf.signer_sha256:
                    old = c.execute("SELECT id FROM cert_inventory WHERE sha256=?", (sf.signer_sha256.lower(),)).fetchone()
                if old is None:
                    old = c.execute("SELECT id FROM cert_inventory WHERE issuer=? AND serial=?",
                                    (issuer, serial)).fetchone()
                if old is not None:
                    c.execute("UPDATE cert_inventory SET last_seen=? WHERE id=?", (_utc(now), old["id"]))
                    continue
                c.execute(
                    f"INSERT INTO cert_inventory ({_COLS}) VALUES (?,?,?,?,?,?,0,?,?,?,?,NULL,NULL,NULL,?,?)",
                    (issuer, serial, sf.signer_subject, sf.signer_common_name, title, guess.value,
                     _utc(sf.not_valid_before), _utc(sf.not_valid_after), Source.LEARNED.value,
                     (sf.signer_sha256 or "").lower() or None, _utc(now), _utc(now)),
                )
                new += 1
        return new

    def expiring(self, at: datetime, days: int) -> list[CertRecord]:
        """Certificates in use at `at` whose notAfter falls within `days` days (renewal: Quy chế Điều 6)."""
        limit = at + timedelta(days=days)
        return [r for r in self.all() if r.status(at) is CertStatus.IN_USE and r.not_after <= limit]


def learn_from_signatures(settings, signature_facts: Iterable) -> int:
    """For the pipeline: learn the certificates of valid personal signatures that pass through.

    Never raises: a problem with the inventory must not change a signing decision; it is logged instead.
    """
    try:
        with Inventory.from_settings(settings) as inv:
            return inv.learn_from_signatures(signature_facts)
    except Exception as exc:  # the inventory is a by-product; the document's fate does not depend on it
        log.warning("certificate inventory not updated: %s", type(exc).__name__)
        return 0


def token_certificates(settings) -> list:
    """DER certificates stored as public objects on the organisation's token (no login, no PIN).

    Through gateway.signing.keys, the one loader of the PKCS#11 module: it holds the process-wide token
    lock and re-initialises the module when the configuration changed (SoftHSM reads it once per load).
    """
    from gateway.signing import keys

    t = settings.token
    try:
        from pkcs11 import Attribute, ObjectClass

        with keys.TOKEN_LOCK:
            token = keys.find_token(t.module, t.softhsm2_conf, t.token_label, t.discovery_attempts)
            with token.open() as session:
                return [bytes(o[Attribute.VALUE])
                        for o in session.get_objects({Attribute.CLASS: ObjectClass.CERTIFICATE})]
    except SignerUnavailable:
        raise
    except Exception as exc:  # any PKCS#11 failure: the token is not usable now
        raise SignerUnavailable(f"token certificates: {type(exc).__name__}: {exc}") from None
