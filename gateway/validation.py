"""Validate the signatures already in a PDF (and detached CMS ones: `validate_cms` for a CAdES .p7s with its
document or an S/MIME signature, with the same trust handling): integrity, trust, revocation, signer type,
coverage, widget.

`Validator(settings).validate_pdf(path) -> tuple[SignatureFacts, ...]`, one per filled signature field, in
signing order. Never raises for a bad document: a signature that cannot be read or checked becomes a
SignatureFacts with intact=False and a SIGNATURE_UNREADABLE warning. The one exception on purpose is
TemporaryError (REVOCATION_SOURCE_UNAVAILABLE) when revocation is "hard-fail" and a configured CRL URL cannot
be fetched: the decision must wait, not be made without it.

Trust: settings.trust.roots (+ intermediates, + certificates embedded in the signature). Revocation: the CRLs
configured in settings.trust.crls (files re-read when changed, URLs fetched and cached until nextUpdate; each CRL's
signature is checked against its issuer), OCSP through pyHanko when settings.trust.ocsp. Offline mode
(trust.revocation = "offline" or policy.offline) consults no source at all: Revocation.NOT_CHECKED with a
REVOCATION_UNCHECKED warning (Thông tư 15/2025: verifiers must warn when OCSP/CRL cannot be checked).

covers_whole_document is True when the signature covers the whole file, or when everything after its revision is
of the kinds a signed PDF legitimately grows by: further signatures, form filling, DSS/timestamps (pyHanko's
ModificationLevel up to FORM_FILLING, and DocMDP respected). Annotations or content changes after it -> False;
`modification_level` keeps pyHanko's finer answer.

Signer type: ORGANISATION when the certificate is one of ours (fingerprint in trust.organisation_certs, default
var/pki/org.pem) or its subject names no person (no title / givenName / surname / pseudonym, and CN == O, which
is how organisation certificates of the specialised CA are shaped); otherwise PERSON.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import BinaryIO

from gateway.errors import TemporaryError
from gateway.model import Reason, Revocation, SignatureFacts, SignerType

log = logging.getLogger(__name__)

_PERSONAL_ATTRS = ("title", "given_name", "surname", "pseudonym")
_CRL_URL_TTL = timedelta(hours=1)  # when a fetched CRL names no nextUpdate
_CLOCK_SKEW = timedelta(minutes=5)


class RevocationSourceUnavailable(TemporaryError):
    """A configured revocation source could not be reached and revocation is hard-fail."""

    code = "REVOCATION_SOURCE_UNAVAILABLE"


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _load_certs(paths) -> list:
    """asn1crypto certificates from PEM (one or many) or DER files; unreadable files are logged and skipped."""
    from asn1crypto import pem, x509

    out = []
    for p in paths:
        try:
            data = Path(p).read_bytes()
            if pem.detect(data):
                out.extend(x509.Certificate.load(der) for _, _, der in pem.unarmor(data, multiple=True))
            else:
                out.append(x509.Certificate.load(data))
        except (OSError, ValueError) as exc:
            log.warning("trust: cannot load certificate file %s: %s", p, exc)
    return out


def _sha256(cert) -> str:
    return hashlib.sha256(cert.dump()).hexdigest()


def _name_attr(name, attr: str) -> str:
    try:
        value = name.native.get(attr)
    except Exception:  # noqa: BLE001 - hostile DER in a subject must not stop validation
        return ""
    if isinstance(value, list):
        value = value[-1] if value else ""
    return str(value or "")


def _human(name) -> str:
    try:
        return name.human_friendly
    except Exception:  # noqa: BLE001
        return "?"


@dataclass
class _Crl:
    source: str
    issuer_der: bytes  # issuer Name, DER, for matching certificates
    this_update: datetime | None
    next_update: datetime | None
    revoked: dict[int, datetime | None]  # serial -> revocation date
    asn1: object  # asn1crypto CertificateList, for pyHanko
    verified: bool = False  # signature checked against a known issuer
    loaded_at: datetime = field(default_factory=_now)
    mtime: float | None = None


@dataclass(frozen=True)
class _RevocationResult:
    status: Revocation
    warnings: tuple[Reason, ...] = ()


class Validator:
    """One per process (or per pipeline). Trust material and CRLs are loaded lazily and cached."""

    def __init__(self, settings) -> None:
        from gateway.pyhanko_runtime import defer_pyhanko_http

        defer_pyhanko_http()  # offline validation never needs aiohttp resident
        self.settings = settings
        self._lock = threading.Lock()
        self._roots: list | None = None
        self._intermediates: list = []
        self._org_fingerprints: frozenset[str] = frozenset()
        self._crls: dict[str, _Crl] = {}
        self._crl_failures: dict[str, Reason] = {}

    # --- configuration ----------------------------------------------------------------------------

    @property
    def offline(self) -> bool:
        return self.settings.policy.offline or self.settings.trust.revocation == "offline"

    def _trust(self) -> tuple[list, list]:
        with self._lock:
            return self._trust_unlocked()

    def crls(self) -> list[_Crl]:
        """The configured CRLs, (re)loaded as needed. Offline: none."""
        if self.offline:
            return []
        with self._lock:
            for source in self.settings.trust.crls:
                try:
                    self._refresh(source)
                    self._crl_failures.pop(source, None)
                except RevocationSourceUnavailable:
                    raise
                except Exception as exc:  # noqa: BLE001 - a bad CRL file is a warning, not a crash
                    reason = Reason.of("CRL_UNUSABLE", source=source, detail=str(exc)[:200])
                    if self._crl_failures.get(source) != reason:  # said once, not once a document
                        log.warning("revocation: CRL %s unusable: %s", source, exc)
                    self._crl_failures[source] = reason
            return [c for c in self._crls.values()]

    def _refresh(self, source: str) -> None:
        cached = self._crls.get(source)
        is_url = source.startswith(("http://", "https://"))
        if is_url:
            if cached and _now() < (cached.next_update or cached.loaded_at + _CRL_URL_TTL):
                return
            try:
                with urllib.request.urlopen(source, timeout=self.settings.trust.fetch_timeout_seconds) as resp:
                    data = resp.read(64 * 1024 * 1024)
            except Exception as exc:  # noqa: BLE001
                if self.settings.trust.revocation == "hard-fail":
                    raise RevocationSourceUnavailable(f"CRL fetch failed: {source}: {exc}", source=source) from None
                if cached:  # soft-fail: an older copy is better than nothing; warn
                    self._crl_failures[source] = Reason.of("CRL_UNUSABLE", source=source, detail="fetch failed")
                    return
                raise
            self._crls[source] = self._parse(source, data, None)
        else:
            path = Path(source[7:] if source.startswith("file://") else source)
            mtime = path.stat().st_mtime
            if cached and cached.mtime == mtime:
                return
            self._crls[source] = self._parse(source, path.read_bytes(), mtime)

    def _parse(self, source: str, data: bytes, mtime: float | None) -> _Crl:
        from asn1crypto import crl as asn1_crl
        from asn1crypto import pem

        if pem.detect(data):
            _, _, data = pem.unarmor(data)
        c = asn1_crl.CertificateList.load(data)
        tbs = c["tbs_cert_list"]
        revoked: dict[int, datetime | None] = {}
        for entry in tbs["revoked_certificates"]:
            revoked[int(entry["user_certificate"].native)] = entry["revocation_date"].native
        nu = tbs["next_update"].native
        crl = _Crl(source, tbs["issuer"].dump(), tbs["this_update"].native, nu, revoked, c, mtime=mtime)
        crl.verified = self._verify_crl(data, tbs["issuer"])
        return crl

    def _verify_crl(self, der: bytes, issuer_name) -> bool:
        from cryptography import x509 as cx509

        roots, inter = self._trust_unlocked()
        crl = cx509.load_der_x509_crl(der)
        for cert in roots + inter:
            if cert.subject.dump() == issuer_name.dump():
                try:
                    if crl.is_signature_valid(cx509.load_der_x509_certificate(cert.dump()).public_key()):
                        return True
                except Exception:  # noqa: BLE001
                    continue
        return False

    def _trust_unlocked(self) -> tuple[list, list]:
        if self._roots is None:
            t = self.settings.trust
            self._roots = _load_certs(t.roots)
            self._intermediates = _load_certs(t.intermediates)
            org = t.organisation_certs or [self.settings.paths.pki / "org.pem"]
            self._org_fingerprints = frozenset(_sha256(c) for c in _load_certs(p for p in org if Path(p).exists()))
            if not self._roots:
                log.warning("trust: no trust root could be loaded; every signature will be untrusted")
        return self._roots, self._intermediates

    # --- revocation --------------------------------------------------------------------------------

    def revocation(self, cert, crls: list[_Crl], *, pyhanko_revoked: bool = False, vc=None) -> _RevocationResult:
        """Revocation status of one certificate from the configured sources (and pyHanko's own findings)."""
        subject = _name_attr(cert.subject, "common_name") or _human(cert.subject)
        unchecked = Reason.of("REVOCATION_UNCHECKED", subject=subject)
        if pyhanko_revoked:
            return _RevocationResult(Revocation.REVOKED)
        if self.offline:
            return _RevocationResult(Revocation.NOT_CHECKED, (unchecked,))
        issuer = cert.issuer.dump()
        serial = int(cert.serial_number)
        now = _now()
        warnings: list[Reason] = []
        covered = False
        for crl in crls:
            if crl.issuer_der != issuer:
                continue
            if not crl.verified:
                warnings.append(Reason.of("CRL_UNUSABLE", source=crl.source, detail="signature not verified"))
                continue
            if serial in crl.revoked:
                return _RevocationResult(Revocation.REVOKED)
            if crl.next_update is not None and crl.next_update + _CLOCK_SKEW < now:
                warnings.append(Reason.of("CRL_UNUSABLE", source=crl.source, detail="expired (nextUpdate passed)"))
                continue
            covered = True
        if covered:
            return _RevocationResult(Revocation.GOOD, tuple(warnings))
        ocsp = self._ocsp_status(cert, vc)
        if ocsp is not None:
            return _RevocationResult(ocsp, tuple(warnings))
        warnings.extend(self._crl_failures.values())
        status = Revocation.UNKNOWN if (self.settings.trust.crls or self.settings.trust.ocsp) else Revocation.NOT_CHECKED
        return _RevocationResult(status, (*warnings, unchecked))

    def _ocsp_status(self, cert, vc) -> Revocation | None:
        """What an OCSP response fetched by pyHanko says about `cert`, if any was fetched."""
        if vc is None or not self.settings.trust.ocsp:
            return None
        serial = int(cert.serial_number)
        for resp in vc.ocsps:
            try:
                for single in resp["response_bytes"]["response"].parsed["tbs_response_data"]["responses"]:
                    if int(single["cert_id"]["serial_number"].native) != serial:
                        continue
                    name = single["cert_status"].name
                    if name == "good":
                        return Revocation.GOOD
                    if name == "revoked":
                        return Revocation.REVOKED
            except Exception:  # noqa: BLE001
                continue
        return None

    # --- validation ---------------------------------------------------------------------------------

    def validation_context(self, crls: list[_Crl]):
        from pyhanko_certvalidator import ValidationContext

        roots, inter = self._trust()
        fetch = bool(self.settings.trust.ocsp and not self.offline)
        return ValidationContext(
            trust_roots=list(roots),
            other_certs=list(inter),
            crls=[c.asn1 for c in crls if c.verified],
            allow_fetching=fetch,
            revocation_mode="soft-fail",  # the gateway judges revocation itself, see revocation()
        )

    def validate_pdf(self, source: Path | str | BinaryIO, *,
                     byte_range_seen: bool | None = None) -> tuple[SignatureFacts, ...]:
        """Every filled signature field of the PDF at `source` (path or seekable binary file), validated.
        `byte_range_seen`: whether the caller saw a /ByteRange in the file's bytes or its object streams
        (gateway.inspect: the pages' widgets are searched only then); None: they are searched."""
        crls = self.crls()  # may raise RevocationSourceUnavailable (hard-fail), before any work
        from gateway.pyhanko_runtime import run_sync

        # this thread's own loop, kept between documents; inside a running loop (a door): a helper thread
        return run_sync(self._validate_all(source, crls, byte_range_seen))

    async def _validate_all(self, source, crls: list[_Crl],
                            byte_range_seen: bool | None = None) -> tuple[SignatureFacts, ...]:
        from pyhanko.pdf_utils.reader import PdfFileReader

        own = None
        if isinstance(source, (str, Path)):
            own = fh = open(source, "rb")
        else:
            fh = source
        try:
            try:
                widgets = True if byte_range_seen is None else byte_range_seen
                fh.seek(0)
                reader = PdfFileReader(fh, strict=False)
                found = find_signatures(reader, widgets=widgets)
            except Exception as exc:  # noqa: BLE001 - the file itself is unreadable to pyHanko
                return (_unreadable("", exc),)
            pages = _PageIndex(reader)
            out = []
            for fq_name, value, field_ref in found:
                try:
                    sig_type = value.get_object().get("/Type")
                    if sig_type == "/DocTimeStamp":
                        continue  # a document timestamp is evidence, not a signer
                    out.append(await self._one(reader, fq_name, field_ref, crls, pages))
                except RevocationSourceUnavailable:
                    raise
                except Exception as exc:  # noqa: BLE001 - one bad signature never stops the others
                    log.info("validation: signature %r unreadable: %s", fq_name, exc)
                    out.append(_unreadable(str(fq_name), exc))
            return tuple(out)
        finally:
            if own is not None:
                own.close()

    async def _one(self, reader, fq_name: str, field_ref, crls: list[_Crl], pages: "_PageIndex") -> SignatureFacts:
        from pyhanko.sign.diff_analysis import ModificationLevel
        from pyhanko.sign.validation import async_validate_pdf_signature
        from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
        from pyhanko.sign.validation.settings import KeyUsageConstraints
        from pyhanko.sign.validation.status import SignatureCoverageLevel

        emb = EmbeddedPdfSignature(reader, field_ref, fq_name)
        vc = self.validation_context(crls)
        status = await async_validate_pdf_signature(
            emb,
            signer_validation_context=vc,
            key_usage_settings=KeyUsageConstraints(key_usage={"digital_signature", "non_repudiation"}),
        )
        cert = status.signing_cert
        ts = status.timestamp_validity
        ts_time = ts.timestamp if ts is not None and ts.valid and ts.trusted else None
        signing_time = status.signer_reported_dt
        nb, na = cert.not_valid_before, cert.not_valid_after
        warnings: list[Reason] = []

        rev = self.revocation(cert, crls, pyhanko_revoked=status.revoked, vc=vc)
        warnings.extend(rev.warnings)

        level = status.modification_level
        coverage = status.coverage
        covers = coverage == SignatureCoverageLevel.ENTIRE_FILE or (
            coverage == SignatureCoverageLevel.ENTIRE_REVISION
            and level is not None
            and level <= ModificationLevel.FORM_FILLING
            and status.docmdp_ok is not False
        )
        docmdp = emb.docmdp_level
        page, rect = pages.widget(emb.sig_field, field_ref)
        trusted = bool(status.trusted) or bool(
            # pyHanko says "not trusted" for a path that is fine but expired *now*; the question here is trust
            # in the chain, validity at signing time is its own fact.
            status.validation_path is not None and status.intact and status.valid and _only_expired(status)
        )
        return SignatureFacts(
            field_name=str(fq_name),
            signer_subject=_human(cert.subject),
            signer_common_name=_name_attr(cert.subject, "common_name"),
            signer_serial=format(int(cert.serial_number), "x"),
            signer_sha256=_sha256(cert),
            issuer_subject=_human(cert.issuer),
            signer_type=self.signer_type(cert),
            signing_time=signing_time,
            timestamp_time=ts_time,
            intact=bool(status.intact and status.valid),
            trusted=trusted and rev.status is not Revocation.REVOKED,
            revocation=rev.status,
            cert_valid_at_signing=valid_at_signing(nb, na, ts_time, signing_time, _now()),
            covers_whole_document=bool(covers and status.intact and status.valid),
            modification_level=level.name if level is not None else None,
            docmdp_level=int(docmdp.value) if docmdp is not None and emb.sig_object.get("/Reference") else None,
            page=page,
            rect=rect,
            not_valid_before=nb,
            not_valid_after=na,
            warnings=tuple(dict.fromkeys(warnings)),
        )

    # --- detached CMS: CAdES .p7s beside a document, S/MIME (issue 16) ----------------------------------

    def validate_cms(self, signature: bytes, content: bytes | Path | str, *, name: str = "") -> SignatureFacts:
        """A detached CMS signature (DER or PEM: a CAdES .p7s, an S/MIME smime.p7s) over `content` (the signed
        bytes, or the path of the signed file), validated with the same trust roots, CRLs and revocation
        judgement as signatures in PDFs. Never raises for a bad signature (intact=False + SIGNATURE_UNREADABLE);
        RevocationSourceUnavailable as validate_pdf."""
        crls = self.crls()
        from gateway.pyhanko_runtime import run_sync

        return run_sync(self._cms(signature, content, crls, name))

    async def _cms(self, signature: bytes, content, crls: list[_Crl], name: str) -> SignatureFacts:
        from asn1crypto import cms, pem
        from pyhanko.sign.validation.generic_cms import async_validate_detached_cms
        from pyhanko.sign.validation.settings import KeyUsageConstraints

        try:
            der = pem.unarmor(signature)[2] if pem.detect(signature) else signature
            info = cms.ContentInfo.load(der)
            if info["content_type"].native != "signed_data":
                raise ValueError(f"not a CMS SignedData ({info['content_type'].native})")
            signed_data = info["content"]
            signed_data["signer_infos"][0]  # noqa: B018 - one signer at least, parsed now
        except Exception as exc:  # noqa: BLE001 - anything unreadable is a fact, not a crash
            return _unreadable(name, exc)
        vc = self.validation_context(crls)
        own = open(content, "rb") if isinstance(content, (str, Path)) else None
        try:
            status = await async_validate_detached_cms(
                own if own is not None else content, signed_data, signer_validation_context=vc,
                key_usage_settings=KeyUsageConstraints(key_usage={"digital_signature", "non_repudiation"}),
            )
        except RevocationSourceUnavailable:
            raise
        except Exception as exc:  # noqa: BLE001
            log.info("validation: CMS signature %r unreadable: %s", name, exc)
            return _unreadable(name, exc)
        finally:
            if own is not None:
                own.close()
        cert = status.signing_cert
        ts = status.timestamp_validity
        ts_time = ts.timestamp if ts is not None and ts.valid and ts.trusted else None
        signing_time = status.signer_reported_dt
        nb, na = cert.not_valid_before, cert.not_valid_after
        rev = self.revocation(cert, crls, pyhanko_revoked=status.revoked, vc=vc)
        intact = bool(status.intact and status.valid)
        trusted = bool(status.trusted) or bool(
            status.validation_path is not None and intact and _only_expired(status)
        )
        return SignatureFacts(
            field_name=name,
            signer_subject=_human(cert.subject),
            signer_common_name=_name_attr(cert.subject, "common_name"),
            signer_serial=format(int(cert.serial_number), "x"),
            signer_sha256=_sha256(cert),
            issuer_subject=_human(cert.issuer),
            signer_type=self.signer_type(cert),
            signing_time=signing_time,
            timestamp_time=ts_time,
            intact=intact,
            trusted=trusted and rev.status is not Revocation.REVOKED,
            revocation=rev.status,
            cert_valid_at_signing=valid_at_signing(nb, na, ts_time, signing_time, _now()),
            covers_whole_document=intact,  # a detached signature covers exactly the bytes it was checked over
            not_valid_before=nb,
            not_valid_after=na,
            warnings=tuple(dict.fromkeys(rev.warnings)),
        )

    def signer_type(self, cert) -> SignerType:
        self._trust()
        if _sha256(cert) in self._org_fingerprints:
            return SignerType.ORGANISATION
        subject = cert.subject
        if any(_name_attr(subject, a) for a in _PERSONAL_ATTRS):
            return SignerType.PERSON
        cn, org = _name_attr(subject, "common_name"), _name_attr(subject, "organization_name")
        if cn and org and cn.strip().casefold() == org.strip().casefold():
            return SignerType.ORGANISATION
        return SignerType.PERSON


MAX_WIDGET_PAGES = 100_000


MAX_WIDGET_ANNOTATIONS = 20_000


def find_signatures(reader, *, widgets: bool = True) -> list[tuple[str, object, object]]:
    """Every filled signature a PDF carries, as (name, signature value, field reference): one discovery for
    the pipeline's inspection and `gateway verify` alike (issue 17 §3).

    The form's signature fields (pyHanko's walk of /AcroForm, widget-less fields included), and signature
    widgets that sit on a page's /Annots while the form does not list them (viewers and pdfsig show those
    too; a policy that missed them signed such files as unsigned)."""
    from pyhanko.sign.fields import enumerate_sig_fields

    found = list(enumerate_sig_fields(reader, filled_status=True))
    if not widgets:
        return found
    known = {_ref_key(ref) for _n, _v, ref in found}
    scanned = 0
    try:
        root = reader.root["/Pages"]
    except Exception:  # noqa: BLE001 - no page tree: the form's fields are all there is
        return found
    stack, seen, page_no = [root], set(), 0
    while stack and page_no < MAX_WIDGET_PAGES:
        node_ref = stack.pop()
        node = node_ref.get_object() if hasattr(node_ref, "get_object") else node_ref
        key = _ref_key(node_ref)
        if key is not None:
            if key in seen:
                continue
            seen.add(key)
        if not hasattr(node, "get"):
            continue
        if node.get("/Type") == "/Pages" or "/Kids" in node:
            stack.extend(reversed(list(node.get("/Kids") or [])))
            continue
        page_no += 1
        annots = node.get("/Annots") or []
        for i, annot_ref in enumerate(annots.get_object() if hasattr(annots, "get_object") else annots):
            scanned += 1
            if scanned > MAX_WIDGET_ANNOTATIONS:  # fail closed: a signature may hide among them
                raise ValueError(f"more than {MAX_WIDGET_ANNOTATIONS} annotations to search for signatures")
            field_ref, field = annot_ref, annot_ref.get_object()
            if not hasattr(field, "get") or field.get("/Subtype") != "/Widget":
                continue
            for _ in range(32):  # the field a widget belongs to: itself, or up its /Parent chain
                if "/V" in field or "/FT" in field or "/Parent" not in field:
                    break
                field_ref = field.raw_get("/Parent")
                field = field_ref.get_object()
            if field.get("/FT") != "/Sig" or field.get("/V") is None:
                continue
            if _ref_key(field_ref) in known:
                continue
            known.add(_ref_key(field_ref))
            name = str(field.get("/T") or f"page{page_no}-widget{i + 1}")
            found.append((name, field.raw_get("/V"), field_ref))
    return found


def valid_at_signing(not_before, not_after, timestamp, claimed, now) -> bool:
    """Was the certificate valid when the document was signed?

    A trusted timestamp proves the time. Without one, the time the signer wrote is only a claim (a backdated
    claim would make an expired certificate look valid, and expired certificates drop off CRLs), so the
    certificate must also be valid now, when the gateway relies on it.
    """

    def within(t) -> bool:
        return not_before - _CLOCK_SKEW <= t <= not_after + _CLOCK_SKEW

    if timestamp is not None:
        return within(timestamp)
    return within(now) and (claimed is None or within(claimed))


def _only_expired(status) -> bool:
    indic = status.trust_problem_indic
    return indic is not None and getattr(indic, "name", "") in ("OUT_OF_BOUNDS_NO_POE", "EXPIRED")


def _unreadable(fq_name: str, exc: BaseException) -> SignatureFacts:
    from gateway.errors import exc_detail

    detail = exc_detail(exc, 200)
    return SignatureFacts(
        field_name=fq_name,
        signer_subject="",
        signer_common_name="",
        signer_serial="",
        signer_sha256="",
        issuer_subject="",
        signer_type=SignerType.UNKNOWN,
        signing_time=None,
        timestamp_time=None,
        intact=False,
        trusted=False,
        revocation=Revocation.UNKNOWN,
        cert_valid_at_signing=False,
        covers_whole_document=False,
        warnings=(Reason.of("SIGNATURE_UNREADABLE", field=fq_name or "?", detail=detail),),
    )


class _PageIndex:
    """Which page holds a widget: /P when present and right, else a walk over the pages' /Annots (once)."""

    MAX_PAGES = 100_000

    def __init__(self, reader) -> None:
        self.reader = reader
        self._by_ref: dict[tuple[int, int], int] | None = None
        self._page_refs: dict[tuple[int, int], int] | None = None

    def _build(self) -> None:
        self._by_ref, self._page_refs = {}, {}
        try:
            root = self.reader.root["/Pages"]
        except Exception:  # noqa: BLE001
            return
        stack, seen, index = [root], set(), 0
        while stack and index < self.MAX_PAGES:
            node_ref = stack.pop()
            node = node_ref.get_object() if hasattr(node_ref, "get_object") else node_ref
            key = _ref_key(node_ref)
            if key is not None:
                if key in seen:
                    continue
                seen.add(key)
            if node.get("/Type") == "/Pages" or "/Kids" in node:
                stack.extend(reversed(list(node.get("/Kids", []))))
                continue
            if key is not None:
                self._page_refs[key] = index
            for annot in node.get("/Annots", []) or []:
                k = _ref_key(annot)
                if k is not None:
                    self._by_ref[k] = index
            index += 1

    def widget(self, sig_field, field_ref) -> tuple[int | None, tuple[float, float, float, float] | None]:
        try:
            widget, widget_ref = sig_field, field_ref
            if "/Rect" not in sig_field and "/Kids" in sig_field:
                widget_ref = sig_field.raw_get("/Kids")[0]
                widget = widget_ref.get_object()
            rect = None
            if "/Rect" in widget:
                x1, y1, x2, y2 = (float(v) for v in widget["/Rect"])
                rect = (min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2))
            if self._by_ref is None:
                self._build()
            page = self._by_ref.get(_ref_key(widget_ref)) if self._by_ref else None
            if page is None and "/P" in widget:
                page = self._page_refs.get(_ref_key(widget.raw_get("/P"))) if self._page_refs else None
            return page, rect
        except Exception:  # noqa: BLE001 - placement is a hint; never fail validation for it
            return None, None


def _ref_key(obj) -> tuple[int, int] | None:
    ref = getattr(obj, "reference", None)
    if ref is None:
        return None
    return (ref.idnum, ref.generation)


def measure(validator: Validator, path: Path, rounds: int = 5) -> float:
    """Milliseconds per signature (best of `rounds`), for benchmarks and the performance test."""
    best = float("inf")
    n = 1
    for _ in range(rounds):
        t0 = time.perf_counter()
        n = max(1, len(validator.validate_pdf(path)))
        best = min(best, (time.perf_counter() - t0) * 1000 / n)
    return best
