"""Pre-sign certificate check (Decree 68 Điều 29, 31) with real certificates on a private token."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from util import make_pdf

from gateway.devinit import issue_org_certificate, signing_usage
from gateway.errors import SigningCertificateInvalid
from gateway.settings import load_settings
from gateway.signing import OrgSigner
from gateway.signing.certcheck import CertChecker


def _now():
    return dt.datetime.now(dt.timezone.utc)


@pytest.mark.parametrize(
    "kwargs,code",
    [
        ({"not_before": _now() - dt.timedelta(days=400), "not_after": _now() - dt.timedelta(days=1)}, "ORG_CERT_EXPIRED"),
        ({"not_before": _now() + dt.timedelta(days=2), "not_after": _now() + dt.timedelta(days=400)}, "ORG_CERT_NOT_YET_VALID"),
        ({"revoked": True}, "ORG_CERT_REVOKED"),
        ({"key_usage": signing_usage(digital_signature=False, non_repudiation=False, key_encipherment=True)}, "ORG_CERT_KEY_USAGE"),
    ],
)
def test_bad_org_certificate_refused(private_dev_settings, tmp_path, kwargs, code):
    s = private_dev_settings
    issue_org_certificate(s, **kwargs)
    signer = OrgSigner(s)
    with pytest.raises(SigningCertificateInvalid) as ei:
        signer.sign_pdf(make_pdf(tmp_path / "in.pdf"), tmp_path / "out.pdf")
    assert ei.value.code == code
    assert not (tmp_path / "out.pdf").exists()
    assert signer.health()["code"] == code


def test_untrusted_root(dev_settings, tmp_path):
    """The organisation certificate checked against some other root is untrusted."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Other root (TEST)")])
    other = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(1).not_valid_before(_now() - dt.timedelta(days=1)).not_valid_after(_now() + dt.timedelta(days=9))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    (tmp_path / "other.pem").write_bytes(other.public_bytes(Encoding.PEM))
    s = load_settings(var_dir=dev_settings.var_dir, trust={"roots": [str(tmp_path / "other.pem")]})
    der = (dev_settings.paths.pki / "org.pem").read_bytes()
    with pytest.raises(SigningCertificateInvalid) as ei:
        CertChecker(s).check(x509.load_pem_x509_certificate(der).public_bytes(_DER))
    assert ei.value.code == "ORG_CERT_UNTRUSTED"


def test_revocation_unchecked_warns_or_refuses(dev_settings):
    der = x509.load_pem_x509_certificate((dev_settings.paths.pki / "org.pem").read_bytes()).public_bytes(_DER)
    missing = str(dev_settings.paths.pki / "missing.crl")
    soft = load_settings(var_dir=dev_settings.var_dir, trust={"crls": [missing]})
    status = CertChecker(soft).check(der)
    assert [w.code for w in status.warnings] == ["REVOCATION_UNCHECKED"]
    hard = load_settings(var_dir=dev_settings.var_dir, trust={"crls": [missing], "sign_without_revocation": False})
    with pytest.raises(SigningCertificateInvalid) as ei:
        CertChecker(hard).check(der)
    assert ei.value.code == "ORG_CERT_REVOCATION_UNCHECKED"
    good = CertChecker(dev_settings).check(der)
    assert good.warnings == () and good.revocation.value == "good"


def test_expiry_while_running_stops_signing(dev_settings):
    """The check is evaluated at a given moment: the same certificate one day after not_after fails."""
    cert = x509.load_pem_x509_certificate((dev_settings.paths.pki / "org.pem").read_bytes())
    checker = CertChecker(dev_settings)
    checker.check(cert.public_bytes(_DER))
    with pytest.raises(SigningCertificateInvalid) as ei:
        checker.check(cert.public_bytes(_DER), now=cert.not_valid_after_utc + dt.timedelta(days=1))
    assert ei.value.code == "ORG_CERT_EXPIRED"


from cryptography.hazmat.primitives.serialization import Encoding  # noqa: E402

_DER = Encoding.DER


def test_ocsp_answer_about_another_certificate_is_not_taken_as_good(dev_settings, monkeypatch):
    """A signed OCSP "good" for some other serial (replayed, or a mixed-up responder) must not vouch for ours."""
    import httpx
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509 import ocsp
    from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID

    pki = dev_settings.paths.pki
    ca = x509.load_pem_x509_certificate((pki / "ca.pem").read_bytes())
    ca_key = serialization.load_pem_private_key((pki / "private" / "ca.key").read_bytes(), None)
    now = dt.datetime.now(dt.timezone.utc)

    def leaf(cn):
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        aia = x509.AuthorityInformationAccess(
            [x509.AccessDescription(AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier("http://ocsp.test/"))]
        )
        return (
            x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
            .issuer_name(ca.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
            .add_extension(aia, critical=False).sign(ca_key, hashes.SHA256())
        )

    ours, other = leaf("ours"), leaf("other")

    def answer(cert):
        return (
            ocsp.OCSPResponseBuilder()
            .add_response(cert=cert, issuer=ca, algorithm=hashes.SHA1(), cert_status=ocsp.OCSPCertStatus.GOOD,
                          this_update=now, next_update=now + dt.timedelta(hours=1), revocation_time=None,
                          revocation_reason=None)
            .responder_id(ocsp.OCSPResponderEncoding.HASH, ca).sign(ca_key, hashes.SHA256())
            .public_bytes(serialization.Encoding.DER)
        )

    body = {}
    monkeypatch.setattr(httpx, "post", lambda *a, **k: httpx.Response(200, content=body["der"]))
    checker = CertChecker(dev_settings)
    body["der"] = answer(other)
    problems: list[str] = []
    assert checker._ocsp(ours, ca, problems) is None and problems
    body["der"] = answer(ours)
    assert checker._ocsp(ours, ca, []) == "good"


def test_delegated_ocsp_responder_needs_the_ocsp_signing_eku():
    """RFC 6960 §4.2.2.2: any certificate the CA issued is not an OCSP responder; only id-kp-OCSPSigning is."""
    import datetime as dt

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    from gateway.signing.certcheck import _ocsp_signing_eku

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "responder")])
    now = dt.datetime.now(dt.timezone.utc)

    def cert(eku):
        b = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
             .serial_number(1).not_valid_before(now).not_valid_after(now + dt.timedelta(days=1)))
        if eku:
            b = b.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
        return b.sign(key, hashes.SHA256())

    assert _ocsp_signing_eku(cert([ExtendedKeyUsageOID.OCSP_SIGNING]))
    assert not _ocsp_signing_eku(cert([ExtendedKeyUsageOID.CODE_SIGNING]))
    assert not _ocsp_signing_eku(cert(None))
