"""Pre-sign check of the organisation certificate (Decree 68/2024 Điều 29, 31).

Before signing, the certificate must be within its validity period, allow digital signatures, chain to a
configured trust root (through the configured intermediates) and not be revoked (CRL from a file or URL in
settings.trust.crls, OCSP when settings.trust.ocsp). When revocation cannot be checked, signing goes on only
if settings.trust.sign_without_revocation (and revocation mode is not hard-fail), with the warning
REVOCATION_UNCHECKED. The result is cached briefly (CACHE_SECONDS) so a certificate that expires or is revoked
while the gateway runs stops signing within that time.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509 import ocsp

from gateway.errors import SigningCertificateInvalid
from gateway.model import Reason, Revocation
from gateway.pyhanko_runtime import run_sync

log = logging.getLogger("gateway.signing.certcheck")

CACHE_SECONDS = 60.0


@dataclass(frozen=True)
class CertStatus:
    """A passed check: revocation status and warnings to record."""

    checked_at: dt.datetime
    revocation: Revocation
    warnings: tuple[Reason, ...] = ()
    source: str = ""  # which CRL/OCSP answered


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _fmt(t: dt.datetime) -> str:
    from gateway.signing.appearance import VN_TZ

    return t.astimezone(VN_TZ).replace(microsecond=0).isoformat()


def _load_certs(paths) -> list[x509.Certificate]:
    out: list[x509.Certificate] = []
    for p in paths:
        data = Path(p).read_bytes()
        if b"-----BEGIN" in data:
            out.extend(x509.load_pem_x509_certificates(data))
        else:
            out.append(x509.load_der_x509_certificate(data))
    return out


def _within_validity(der: bytes) -> bool:
    cert = x509.load_der_x509_certificate(der)
    return cert.not_valid_before_utc <= _now() <= cert.not_valid_after_utc


def subject_text(cert: x509.Certificate) -> str:
    return cert.subject.rfc4514_string()


class CertChecker:
    def __init__(self, settings) -> None:
        self._s = settings
        self._lock = threading.Lock()
        self._cache: tuple[bytes, float, CertStatus | SigningCertificateInvalid] | None = None

    def check(self, cert_der: bytes, *, now: dt.datetime | None = None, use_cache: bool = True) -> CertStatus:
        """Raises SigningCertificateInvalid (code ORG_CERT_*) or returns the status with its warnings."""
        with self._lock:
            if use_cache and now is None and self._cache is not None:
                der, at, res = self._cache
                # Never past the validity period: an expiry is known in advance, not discovered late.
                if der == cert_der and time.monotonic() - at < CACHE_SECONDS and _within_validity(der):
                    if isinstance(res, SigningCertificateInvalid):
                        raise res
                    return res
            try:
                res = self._check(cert_der, now or _now())
            except SigningCertificateInvalid as exc:
                if now is None:
                    self._cache = (cert_der, time.monotonic(), exc)
                raise
            if now is None:
                self._cache = (cert_der, time.monotonic(), res)
            return res

    def invalidate(self) -> None:
        with self._lock:
            self._cache = None

    # -- the check --------------------------------------------------------------------------------

    def _check(self, der: bytes, now: dt.datetime) -> CertStatus:
        cert = x509.load_der_x509_certificate(der)
        if now < cert.not_valid_before_utc:
            raise SigningCertificateInvalid(
                "organisation certificate not yet valid", code="ORG_CERT_NOT_YET_VALID",
                not_before=_fmt(cert.not_valid_before_utc),
            )
        if now > cert.not_valid_after_utc:
            raise SigningCertificateInvalid(
                "organisation certificate expired", code="ORG_CERT_EXPIRED", not_after=_fmt(cert.not_valid_after_utc)
            )
        try:
            ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
            ok_usage = ku.digital_signature or ku.content_commitment
        except x509.ExtensionNotFound:
            ok_usage = True  # no keyUsage extension: any usage (RFC 5280 4.2.1.3)
        if not ok_usage:
            raise SigningCertificateInvalid("no digitalSignature key usage", code="ORG_CERT_KEY_USAGE")
        issuer = self._validate_chain(cert, now)
        return self._revocation(cert, issuer, now)

    def _validate_chain(self, cert: x509.Certificate, now: dt.datetime) -> x509.Certificate:
        """Path to a trust root via pyhanko-certvalidator; returns the issuer certificate."""
        from asn1crypto import x509 as ax509
        from pyhanko_certvalidator import CertificateValidator, ValidationContext
        from pyhanko_certvalidator import errors as cverr

        t = self._s.trust
        try:
            roots = _load_certs(t.roots)
            inter = _load_certs(p for p in t.intermediates if Path(p).exists())
        except (OSError, ValueError) as exc:
            raise SigningCertificateInvalid(
                f"trust roots unreadable: {exc}", code="ORG_CERT_UNTRUSTED"
            ) from None
        if not roots:
            raise SigningCertificateInvalid("no trust roots configured", code="ORG_CERT_UNTRUSTED")

        def a(c: x509.Certificate):
            return ax509.Certificate.load(c.public_bytes(serialization.Encoding.DER))

        vc = ValidationContext(
            trust_roots=[a(c) for c in roots],
            other_certs=[a(c) for c in inter],
            moment=now,
            allow_fetching=False,
            revocation_mode="soft-fail",  # leaf revocation is checked below, with its own sources
        )
        validator = CertificateValidator(a(cert), validation_context=vc)
        try:
            path = run_sync(validator.async_validate_path())
        except cverr.RevokedError:
            raise SigningCertificateInvalid("chain certificate revoked", code="ORG_CERT_REVOKED") from None
        except cverr.ExpiredError as exc:
            raise SigningCertificateInvalid(f"chain expired: {exc}", code="ORG_CERT_UNTRUSTED") from None
        except (cverr.PathBuildingError, cverr.PathValidationError, cverr.ValidationError) as exc:
            raise SigningCertificateInvalid(f"untrusted: {exc}", code="ORG_CERT_UNTRUSTED") from None
        del path  # validated; the issuer is one of our configured certificates
        for c in inter + roots:
            if c.subject == cert.issuer:
                return c
        raise SigningCertificateInvalid("issuer not found", code="ORG_CERT_UNTRUSTED")

    def _revocation(self, cert: x509.Certificate, issuer: x509.Certificate, now: dt.datetime) -> CertStatus:
        t = self._s.trust
        problems: list[str] = []
        for src in t.crls:
            try:
                crl = self._load_crl(src)
            except Exception as exc:  # noqa: BLE001 - a source that cannot answer is just that
                problems.append(f"{src}: {type(exc).__name__}")
                continue
            if crl.issuer != issuer.subject:
                continue
            if not crl.is_signature_valid(issuer.public_key()):
                problems.append(f"{src}: bad signature")
                continue
            if crl.next_update_utc is not None and crl.next_update_utc < now:
                problems.append(f"{src}: stale")
                continue
            if crl.get_revoked_certificate_by_serial_number(cert.serial_number) is not None:
                raise SigningCertificateInvalid("organisation certificate revoked (CRL)", code="ORG_CERT_REVOKED")
            return CertStatus(now, Revocation.GOOD, (), source=str(src))
        if t.ocsp and t.revocation != "offline":
            status = self._ocsp(cert, issuer, problems)
            if status == "revoked":
                raise SigningCertificateInvalid("organisation certificate revoked (OCSP)", code="ORG_CERT_REVOKED")
            if status == "good":
                return CertStatus(now, Revocation.GOOD, (), source="ocsp")
        warning = Reason.of("REVOCATION_UNCHECKED", subject=subject_text(cert))
        if t.sign_without_revocation and t.revocation != "hard-fail":
            log.warning("revocation of the organisation certificate not checked: %s", "; ".join(problems) or "no source")
            return CertStatus(now, Revocation.UNKNOWN, (warning,), source="")
        raise SigningCertificateInvalid(
            "revocation not checkable and policy forbids signing", code="ORG_CERT_REVOCATION_UNCHECKED",
            subject=subject_text(cert),
        )

    def _load_crl(self, src: str) -> x509.CertificateRevocationList:
        if src.startswith(("http://", "https://")):
            if self._s.trust.revocation == "offline":
                raise ConnectionError("offline")
            import httpx

            data = httpx.get(src, timeout=self._s.trust.fetch_timeout_seconds, follow_redirects=True).raise_for_status().content
        else:
            path = Path(src[7:] if src.startswith("file://") else src)
            data = path.read_bytes()
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_crl(data)
        return x509.load_der_x509_crl(data)

    def _ocsp(self, cert: x509.Certificate, issuer: x509.Certificate, problems: list[str]) -> str | None:
        import httpx

        try:
            aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
        except x509.ExtensionNotFound:
            problems.append("no OCSP URL")
            return None
        urls = [d.access_location.value for d in aia if d.access_method == x509.oid.AuthorityInformationAccessOID.OCSP]
        req = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA1()).build()
        body = req.public_bytes(serialization.Encoding.DER)
        for url in urls:
            try:
                r = httpx.post(
                    url, content=body, headers={"Content-Type": "application/ocsp-request"},
                    timeout=self._s.trust.fetch_timeout_seconds,
                )
                resp = ocsp.load_der_ocsp_response(r.content)
            except Exception as exc:  # noqa: BLE001
                problems.append(f"{url}: {type(exc).__name__}")
                continue
            if resp.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL or not _ocsp_signed_ok(resp, issuer):
                problems.append(f"{url}: unusable response")
                continue
            # The answer must be about this certificate (a "good" for another serial says nothing) and current.
            if (resp.serial_number, resp.issuer_name_hash, resp.issuer_key_hash) != (
                req.serial_number, req.issuer_name_hash, req.issuer_key_hash
            ) or (resp.next_update_utc is not None and resp.next_update_utc < _now()):
                problems.append(f"{url}: response not for this certificate or stale")
                continue
            if resp.certificate_status == ocsp.OCSPCertStatus.REVOKED:
                return "revoked"
            if resp.certificate_status == ocsp.OCSPCertStatus.GOOD:
                return "good"
        return None


def _ocsp_signing_eku(cert: x509.Certificate) -> bool:
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return False
    return x509.oid.ExtendedKeyUsageOID.OCSP_SIGNING in eku


def _ocsp_signed_ok(resp, issuer: x509.Certificate) -> bool:
    """The response is signed by the issuer, or by a responder certificate the issuer signed."""
    candidates = [issuer] + [c for c in resp.certificates if c.issuer == issuer.subject]
    for signer in candidates:
        if signer is not issuer:
            try:
                signer.verify_directly_issued_by(issuer)
            except Exception:  # noqa: BLE001
                continue
            if not _ocsp_signing_eku(signer):  # RFC 6960 §4.2.2.2: a delegated responder needs id-kp-OCSPSigning
                continue
        key = signer.public_key()
        try:
            if isinstance(key, rsa.RSAPublicKey):
                key.verify(resp.signature, resp.tbs_response_bytes, padding.PKCS1v15(), resp.signature_hash_algorithm)
            else:
                from cryptography.hazmat.primitives.asymmetric import ec

                key.verify(resp.signature, resp.tbs_response_bytes, ec.ECDSA(resp.signature_hash_algorithm))
            return True
        except Exception:  # noqa: BLE001
            continue
    return False
