"""The organisation signer: one per process, one token session, every token call under one process lock.

    signer = OrgSigner(settings)
    signer.sign_pdf(src, dst, PdfSignRequest(appearance=Appearance.SEAL, kind=DocKind.ISSUED, ...))
    signer.sign_detached(src, dst_p7s)
    signed_mail = signer.sign_smime(mime_bytes)

Before every signature the organisation certificate is checked (Decree 68 Điều 29, 31; cached 60 s), so an
expired, not-yet-valid or revoked certificate stops signing. Errors: SignerUnavailable (temporary: token
absent, session lost), PinRejected (latched, never retried), SigningCertificateInvalid, InputRejected.
Worker processes (spawn) each create their own OrgSigner.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from pathlib import Path

from gateway.errors import SignerUnavailable
from gateway.pyhanko_runtime import defer_pyhanko_http, run_sync
from gateway.model import Reason, SignedOutput
from gateway.signing.certcheck import CertChecker, CertStatus
from gateway.signing.keys import TokenKey
from gateway.signing.pades import PdfSignRequest

__all__ = ["OrgSigner", "PdfSignRequest", "CertStatus"]

log = logging.getLogger("gateway.signing")


def _sha256_file(path: Path, chunk: int) -> tuple[str, int]:
    h = hashlib.sha256()
    n = 0
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
            n += len(block)
    return h.hexdigest(), n


class OrgSigner:
    def __init__(self, settings) -> None:
        defer_pyhanko_http()
        self.settings = settings
        self._key = TokenKey(settings.token)
        self._checker = CertChecker(settings)
        self._cert_lock = threading.Lock()
        self._cert_der: bytes | None = None
        # Built once per certificate (a signer, its registry and the parsed chain cost ~3 % per document).
        self._built: tuple[bytes, object, list, object] | None = None  # (cert DER, cert, chain, pyHanko signer)
        self.last_status: CertStatus | None = None
        self.last_repairs: tuple[Reason, ...] = ()  # what sign_pdf had to repair in the last input (warnings)
        # the repaired copy the last output extends (beside it; the caller checks against it, then deletes it)
        self.last_source: Path | None = None
        # False: sign_pdf leaves SignedOutput.sha256 empty; the caller hashes the output in its own check (the
        # pipeline does: one read of a 200 MB output instead of two).
        self.hash_output = True

    # -- certificate ------------------------------------------------------------------------------

    def _load_cert_der(self, refresh: bool = False) -> bytes:
        with self._cert_lock:
            if self._cert_der is None or refresh:
                der = self._key.certificate_der()
                if der is None:
                    raise SignerUnavailable("no certificate on the token beside the key", detail="certificate missing")
                if der != self._cert_der:
                    self._checker.invalidate()
                    self._built = None
                self._cert_der = der
            return self._cert_der

    def _parts(self) -> tuple[bytes, object, list, object]:
        der = self._load_cert_der()
        built = self._built
        if built is None or built[0] != der:
            from asn1crypto import x509

            from gateway.signing.pades import TokenPdfSigner

            cert = x509.Certificate.load(der)
            chain = self.chain()
            signer = TokenPdfSigner(self._key, cert, chain, pss=self.settings.signing.rsa_pss)
            built = self._built = (der, cert, chain, signer)
        return built

    @property
    def certificate(self):
        """The organisation certificate (asn1crypto) as stored on the token."""
        return self._parts()[1]

    def chain(self) -> list:
        """Intermediates and roots (asn1crypto), embedded in signatures so verifiers can build the path."""
        from asn1crypto import x509
        from cryptography.hazmat.primitives import serialization

        from gateway.signing.certcheck import _load_certs

        paths = [p for p in [*self.settings.trust.intermediates, *self.settings.trust.roots] if Path(p).exists()]
        return [x509.Certificate.load(c.public_bytes(serialization.Encoding.DER)) for c in _load_certs(paths)]

    def check_certificate(self) -> tuple[Reason, ...]:
        """Decree 68 Điều 29/31 check; raises SigningCertificateInvalid, returns warnings to record."""
        status = self._checker.check(self._load_cert_der())
        if status is not self.last_status:
            self._built = None  # re-checked (at most every CACHE_SECONDS): chain files re-read with it
        self.last_status = status
        return status.warnings

    def _pyhanko_signer(self):
        return self._parts()[3]

    def _output(self, path: Path, media_type: str, detached: bool = False, hashed: bool = True) -> SignedOutput:
        if hashed:
            sha, size = _sha256_file(path, self.settings.signing.chunk_size)
        else:
            sha, size = "", Path(path).stat().st_size
        cert = self.certificate
        return SignedOutput(
            path=Path(path),
            sha256=sha,
            size=size,
            media_type=media_type,
            signer_sha256=hashlib.sha256(cert.dump()).hexdigest(),
            signer_serial=format(cert.serial_number, "x"),
            detached=detached,
        )

    # -- signing ----------------------------------------------------------------------------------

    def sign_pdf(self, src: Path, dst: Path, request: PdfSignRequest | None = None) -> SignedOutput:
        """PAdES-sign src into dst (incremental update). Warnings of the certificate check: `last_status`."""
        from gateway.signing import pades

        self.check_certificate()
        self.last_repairs, self.last_source = (), None
        done = pades.sign_pdf(
            Path(src), Path(dst), request or PdfSignRequest(), pdf_signer=self._pyhanko_signer(),
            settings=self.settings, validation_context=self._validation_context(),
        )
        self.last_repairs = done.repairs
        self.last_source = done.source if done.repaired else None
        return self._output(Path(dst), "application/pdf", hashed=self.hash_output)

    def sign_detached(self, src: Path, dst: Path) -> SignedOutput:
        """CAdES detached signature (.p7s, DER) over src's bytes."""
        from gateway.signing import cms

        self.check_certificate()
        cms.sign_detached(
            Path(src), Path(dst), pdf_signer=self._pyhanko_signer(), digest=self.settings.signing.digest,
            chunk_size=self.settings.signing.chunk_size,
        )
        return self._output(Path(dst), "application/pkcs7-signature", detached=True)

    def sign_smime(self, mime_bytes: bytes) -> bytes:
        """The message as S/MIME multipart/signed (detached CMS, SHA-256 by default)."""
        from gateway.signing import cms

        self.check_certificate()
        return cms.sign_smime(mime_bytes, pdf_signer=self._pyhanko_signer(), digest=self.settings.signing.digest)

    def sign_statement(self, data: bytes) -> bytes:
        """Detached CMS (DER) over `data` with the organisation key: the decision log's checkpoints
        (gateway.audit.checkpoints). Small data, in memory."""

        self.check_certificate()
        ci = run_sync(self._pyhanko_signer().async_sign_general_data(
            bytes(data), self.settings.signing.digest, detached=True, use_cades=True))
        return ci.dump()

    def _validation_context(self):
        """For B-LT: what to embed (roots, intermediates, local CRLs)."""
        if (self.settings.signing.level != "B-LT"):
            return None
        from asn1crypto import crl as acrl
        from pyhanko_certvalidator import ValidationContext

        crls = []
        for src in self.settings.trust.crls:
            p = Path(src[7:] if src.startswith("file://") else src)
            if p.exists():
                data = p.read_bytes()
                if b"-----BEGIN" in data:
                    from cryptography import x509 as cx509
                    from cryptography.hazmat.primitives import serialization

                    data = cx509.load_pem_x509_crl(data).public_bytes(serialization.Encoding.DER)
                crls.append(acrl.CertificateList.load(data))
        chain = self.chain()
        # asn1crypto's self_signed is "no" / "maybe" / "yes": a string, truthy even when "no".
        roots = [c for c in chain if c.self_signed != "no"]
        others = [c for c in chain if c.self_signed == "no"]
        return ValidationContext(
            trust_roots=roots, other_certs=others, crls=crls, allow_fetching=self.settings.trust.revocation != "offline",
            revocation_mode="soft-fail",
        )

    # -- operations -------------------------------------------------------------------------------

    @property
    def login_attempts(self) -> int:
        return self._key.login_attempts

    def token_flags(self) -> int:
        return self._key.token_flags()

    def health(self) -> dict:
        """{'ok': bool, 'code': reason code or None, 'certificate': {...}} — for /health and the CLI."""
        from gateway.errors import GatewayError

        out: dict = {"ok": False, "code": None, "token": self.settings.token.token_label}
        try:
            self._key.ping()
            der = self._load_cert_der(refresh=True)
            warnings = self.check_certificate()
            from cryptography import x509 as cx509

            c = cx509.load_der_x509_certificate(der)
            out["certificate"] = {
                "subject": c.subject.rfc4514_string(),
                "serial": format(c.serial_number, "x"),
                "not_after": c.not_valid_after_utc.isoformat(),
            }
            out["warnings"] = [w.code for w in warnings]
            out["ok"] = True
        except GatewayError as exc:
            out["code"] = exc.code
        return out

    def close(self) -> None:
        self._key.close()

    def __enter__(self) -> "OrgSigner":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
