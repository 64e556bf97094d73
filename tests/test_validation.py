"""Validation of signatures already in a PDF, against the real dev PKI and private PKIs made here."""

from __future__ import annotations

import datetime as dt
import http.server
import socket
import threading
from pathlib import Path

import pytest

from gateway.errors import TemporaryError
from gateway.model import Revocation, SignerType
from gateway.settings import load_settings
from gateway.validation import Validator

from util import make_pdf, pdfsig, sign_as_person


# --- helpers ---------------------------------------------------------------------------------------------


def _signer_for(cert, key, chain=()):
    """A pyHanko signer from a cryptography certificate + key (keys in software, like a person's token)."""
    from asn1crypto import keys as akeys
    from asn1crypto import x509 as ax509
    from cryptography.hazmat.primitives import serialization as ser
    from pyhanko.sign import signers
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    def a(c):
        return ax509.Certificate.load(c.public_bytes(ser.Encoding.DER))

    return signers.SimpleSigner(
        signing_cert=a(cert),
        signing_key=akeys.PrivateKeyInfo.load(
            key.private_bytes(ser.Encoding.DER, ser.PrivateFormat.PKCS8, ser.NoEncryption())
        ),
        cert_registry=SimpleCertificateStore.from_certs([a(c) for c in chain]),
    )


def _sign_with(signer, src: Path, dst: Path, field: str = "Sig1") -> Path:
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers

    with open(src, "rb") as inf, open(dst, "wb") as out:
        w = IncrementalPdfFileWriter(inf, strict=False)
        meta = signers.PdfSignatureMetadata(field_name=field, md_algorithm="sha256", subfilter=fields.SigSeedSubFilter.PADES)
        signers.PdfSigner(meta, signer, new_field_spec=fields.SigFieldSpec(field, on_page=0, box=(50, 50, 200, 100))).sign_pdf(
            w, output=out
        )
    return dst


def _rsa():
    from cryptography.hazmat.primitives.asymmetric import rsa

    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def person_signed(dev_settings, tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("val")
    src = make_pdf(d / "in.pdf")
    return sign_as_person(src, d / "person.pdf", dev_settings, person=1)


@pytest.fixture(scope="module")
def validator(dev_settings) -> Validator:
    return Validator(dev_settings)


# --- the dev PKI -----------------------------------------------------------------------------------------


def test_person_signature_is_valid_and_placed(person_signed, validator, dev_settings):
    (sig,) = validator.validate_pdf(person_signed)
    assert sig.intact and sig.trusted and sig.valid
    assert sig.revocation is Revocation.GOOD and sig.warnings == ()
    assert sig.signer_type is SignerType.PERSON
    assert sig.signer_common_name == "Nguyễn Văn An (DEV)"
    assert "CA phục vụ các cơ quan Nhà nước (DEV)" in sig.issuer_subject
    assert sig.covers_whole_document and sig.modification_level == "NONE"
    assert sig.cert_valid_at_signing and sig.not_valid_before < sig.signing_time < sig.not_valid_after
    assert sig.page == 0 and sig.rect == (330.0, 80.0, 540.0, 170.0)
    assert sig.docmdp_level is None
    # the independent verifier agrees
    (ps,) = pdfsig(person_signed, dev_settings.paths.nssdb)
    assert ps["valid"] and ps["trusted"]


def test_organisation_after_person(person_signed, validator, dev_settings, tmp_path):
    from gateway.model import Appearance, DocKind
    from gateway.signing import OrgSigner, PdfSignRequest

    (person,) = validator.validate_pdf(person_signed)
    import hashlib

    signer = OrgSigner(dev_settings)
    try:
        org_fingerprint = hashlib.sha256(signer.certificate.dump()).hexdigest()
        out = tmp_path / "org.pdf"
        signer.sign_pdf(
            person_signed,
            out,
            PdfSignRequest(
                appearance=Appearance.SEAL,
                kind=DocKind.ISSUED,
                anchor_field=person.field_name,
                anchor_page=person.page,
                anchor_rect=person.rect,
            ),
        )
    finally:
        signer.close()
    first, second = validator.validate_pdf(out)
    assert first.signer_type is SignerType.PERSON and first.valid
    # a later signature is a legitimate change: the person's signature still counts as covering
    assert first.covers_whole_document and first.modification_level == "FORM_FILLING"
    assert second.signer_type is SignerType.ORGANISATION and second.valid
    assert second.covers_whole_document and second.revocation is Revocation.GOOD
    assert second.signer_sha256 == org_fingerprint


def test_changed_after_signing_is_not_covering(person_signed, validator, tmp_path):
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    out = tmp_path / "changed.pdf"
    with open(person_signed, "rb") as inf:
        w = IncrementalPdfFileWriter(inf)
        stream = w.add_object(generic.StreamObject(stream_data=b"1 0 0 RG 50 700 m 500 700 l S"))
        w.add_stream_to_page(0, stream)
        with open(out, "wb") as fh:
            w.write(fh)
    (sig,) = validator.validate_pdf(out)
    assert sig.intact  # the signed bytes themselves are untouched ...
    assert not sig.covers_whole_document  # ... but the page changed after signing
    assert sig.modification_level == "OTHER"


def test_bytes_changed_inside_signed_range(person_signed, validator, tmp_path):
    data = bytearray(person_signed.read_bytes())
    i = data.index(b"595.27")
    data[i + 5] = ord("8") if data[i + 5] != ord("8") else ord("9")
    out = tmp_path / "tampered.pdf"
    out.write_bytes(bytes(data))
    (sig,) = validator.validate_pdf(out)
    assert not sig.intact and not sig.valid and not sig.covers_whole_document


def test_foreign_self_signed_ca_is_untrusted(validator, tmp_path):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.timezone.utc)
    ca_key, key = _rsa(), _rsa()
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Foreign Root")])
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(1).not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Mallory"), x509.NameAttribute(NameOID.SURNAME, "M")]))
        .issuer_name(ca_name).public_key(key.public_key()).serial_number(2)
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
        .sign(ca_key, hashes.SHA256())
    )
    out = _sign_with(_signer_for(leaf, key, [ca]), make_pdf(tmp_path / "in.pdf"), tmp_path / "foreign.pdf")
    (sig,) = validator.validate_pdf(out)
    assert sig.intact and not sig.trusted and not sig.valid
    assert sig.signer_common_name == "Mallory" and sig.signer_type is SignerType.PERSON


# --- a private PKI: revocation ---------------------------------------------------------------------------


@pytest.fixture()
def private_pki(tmp_path):
    """A PKI of our own (dev CA helpers), two persons signed a document each; person B is revoked."""
    from gateway.devinit import Pki, _Log, person_subject

    var = tmp_path / "var"
    pki = Pki(var / "pki")
    pki.ensure(_Log())
    docs = {}
    for who in ("A", "B"):
        key = _rsa()
        cert = pki.issue(person_subject(f"Người {who} (DEV)", "Chuyên viên", "Cơ quan X (DEV)"), key.public_key())
        docs[who] = _sign_with(_signer_for(cert, key, [pki.ca]), make_pdf(tmp_path / f"{who}.pdf"), tmp_path / f"{who}-s.pdf")
        if who == "B":
            pki.write_crl(revoke=cert.serial_number)
    return var, pki, docs


def test_revoked_person_certificate(private_pki):
    var, _, docs = private_pki
    v = Validator(load_settings(var_dir=var))
    (good,) = v.validate_pdf(docs["A"])
    (bad,) = v.validate_pdf(docs["B"])
    assert good.revocation is Revocation.GOOD and good.valid
    assert bad.revocation is Revocation.REVOKED and not bad.valid and not bad.trusted
    assert bad.intact  # revoked is not tampered


@pytest.mark.parametrize("override", [{"trust": {"revocation": "offline"}}, {"policy": {"offline": True}}])
def test_offline_mode_does_not_check_and_warns(private_pki, override):
    var, _, docs = private_pki
    v = Validator(load_settings(var_dir=var, **override))
    (sig,) = v.validate_pdf(docs["B"])  # revoked, but offline cannot know
    assert sig.revocation is Revocation.NOT_CHECKED
    assert [w.code for w in sig.warnings] == ["REVOCATION_UNCHECKED"]
    assert sig.warnings[0].args["subject"] == "Người B (DEV)"


def test_crl_replaced_on_disk_is_reread(private_pki):
    var, pki, docs = private_pki
    v = Validator(load_settings(var_dir=var))
    assert v.validate_pdf(docs["A"])[0].revocation is Revocation.GOOD
    import os

    a_serial = int(v.validate_pdf(docs["A"])[0].signer_serial, 16)
    pki.write_crl(revoke=a_serial)
    os.utime(pki.crl, (1, 1))  # a different mtime even within the same clock tick
    assert v.validate_pdf(docs["A"])[0].revocation is Revocation.REVOKED


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_crl_over_http_and_unreachable_source(private_pki):
    var, pki, docs = private_pki
    crl_bytes = pki.crl.read_bytes()
    hits = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            hits.append(self.path)
            self.send_response(200)
            self.send_header("Content-Length", str(len(crl_bytes)))
            self.end_headers()
            self.wfile.write(crl_bytes)

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        url = f"http://127.0.0.1:{srv.server_address[1]}/ca.crl"
        v = Validator(load_settings(var_dir=var, trust={"crls": [url], "revocation": "hard-fail"}))
        assert v.validate_pdf(docs["B"])[0].revocation is Revocation.REVOKED
        assert v.validate_pdf(docs["A"])[0].revocation is Revocation.GOOD
        assert hits == ["/ca.crl"]  # fetched once, cached until nextUpdate
    finally:
        srv.shutdown()
        srv.server_close()

    down = f"http://127.0.0.1:{_free_port()}/ca.crl"
    hard = Validator(load_settings(var_dir=var, trust={"crls": [down], "revocation": "hard-fail", "fetch_timeout_seconds": 2}))
    with pytest.raises(TemporaryError) as exc:
        hard.validate_pdf(docs["A"])
    assert exc.value.code == "REVOCATION_SOURCE_UNAVAILABLE"
    soft = Validator(load_settings(var_dir=var, trust={"crls": [down], "fetch_timeout_seconds": 2}))
    (sig,) = soft.validate_pdf(docs["A"])
    assert sig.revocation is Revocation.UNKNOWN
    assert {w.code for w in sig.warnings} == {"CRL_UNUSABLE", "REVOCATION_UNCHECKED"}


def test_an_unusable_crl_is_logged_once_not_once_a_document(private_pki, tmp_path, caplog):
    var, _, docs = private_pki
    v = Validator(load_settings(var_dir=var, trust={"crls": [str(tmp_path / "gone.crl")]}))
    with caplog.at_level("WARNING", logger="gateway.validation"):
        for _ in range(3):
            (sig,) = v.validate_pdf(docs["A"])
            assert "CRL_UNUSABLE" in {w.code for w in sig.warnings}  # each document still says so
    assert sum("unusable" in r.getMessage() for r in caplog.records) == 1


def test_signer_type_from_subject(private_pki, tmp_path):
    from gateway.devinit import org_subject, person_subject

    var, pki, _ = private_pki
    v = Validator(load_settings(var_dir=var))
    from asn1crypto import x509 as ax509
    from cryptography.hazmat.primitives import serialization as ser

    def a(c):
        return ax509.Certificate.load(c.public_bytes(ser.Encoding.DER))

    key = _rsa()
    org = pki.issue(org_subject("Sở Thử nghiệm (DEV)"), key.public_key())
    person = pki.issue(person_subject("Lê Văn C", "Giám đốc", "Sở Thử nghiệm (DEV)"), key.public_key())
    assert v.signer_type(a(org)) is SignerType.ORGANISATION
    assert v.signer_type(a(person)) is SignerType.PERSON


# --- robustness and speed --------------------------------------------------------------------------------


def test_never_raises_on_garbage(validator, tmp_path):
    junk = tmp_path / "junk.pdf"
    junk.write_bytes(b"%PDF-1.7\n1 0 obj <</ByteRange [0 1 2 3] /Contents <zz>>> endobj\n%%EOF")
    (sig,) = validator.validate_pdf(junk)
    assert not sig.intact and sig.warnings[0].code == "SIGNATURE_UNREADABLE"
    assert validator.validate_pdf(make_pdf(tmp_path / "plain.pdf")) == ()


def test_inside_an_event_loop(person_signed, validator):
    import asyncio

    async def door():
        return validator.validate_pdf(person_signed)

    (sig,) = asyncio.run(door())
    assert sig.valid


def test_repeated_validation_gives_the_same_answer(person_signed, validator):
    """The cached CRL and validation context (what makes it fast; bench/bench_validation.py measures it) do
    not change the answer from one validation to the next."""
    first = validator.validate_pdf(person_signed)
    again = [validator.validate_pdf(person_signed) for _ in range(3)]
    assert first and first[0].valid and all(a == first for a in again)


def test_validity_at_signing_trusts_a_timestamp_not_a_claim():
    from datetime import datetime, timedelta, timezone

    from gateway.validation import valid_at_signing

    nb = datetime(2024, 1, 1, tzinfo=timezone.utc)
    na = datetime(2025, 1, 1, tzinfo=timezone.utc)
    now = datetime(2026, 6, 1, tzinfo=timezone.utc)
    inside = datetime(2024, 6, 1, tzinfo=timezone.utc)
    assert valid_at_signing(nb, na, inside, None, now)  # a trusted timestamp proves the time
    assert not valid_at_signing(nb, na, None, inside, now)  # a backdated claim does not, once expired
    assert valid_at_signing(nb, na, None, inside, inside + timedelta(days=1))  # valid now and then
    assert not valid_at_signing(nb, na, None, datetime(2023, 1, 1, tzinfo=timezone.utc), inside)
    assert not valid_at_signing(nb, na, datetime(2025, 2, 1, tzinfo=timezone.utc), None, inside)
