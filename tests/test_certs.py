"""Certificate inventory: import (PEM/DER/PKCS#7, token), types, status, revocation (Điều 17), learning."""

from __future__ import annotations

import json
import multiprocessing
import os
import stat
import subprocess
from datetime import datetime, timedelta, timezone

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from gateway.certs import (
    GROUNDS, VN_TZ, CertStatus, CertType, Inventory, Source, learn_from_signatures, load_certificates,
    parse_when,
)
from gateway.cli import main
from gateway.errors import InputRejected, PermanentError
from gateway.model import Revocation, SignatureFacts, SignerType
from gateway.settings import load_settings

_CA_KEY = ec.generate_private_key(ec.SECP256R1())
_CA_NAME = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test CA chuyên dùng"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Ban Cơ yếu (TEST)")])


def make_cert(cn: str, *, nb: datetime, na: datetime, title: str | None = None, org: str = "Sở Thử nghiệm",
              serial: int | None = None, ca: bool = False, eku=None) -> x509.Certificate:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn), x509.NameAttribute(NameOID.ORGANIZATION_NAME, org)]
    if title:
        attrs.append(x509.NameAttribute(NameOID.TITLE, title))
    key = ec.generate_private_key(ec.SECP256R1())
    b = (x509.CertificateBuilder().subject_name(x509.Name(attrs)).issuer_name(_CA_NAME)
         .public_key(key.public_key()).serial_number(serial or x509.random_serial_number())
         .not_valid_before(nb).not_valid_after(na)
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if eku:
        b = b.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
    return b.sign(_CA_KEY, hashes.SHA256())


def pem(*certs) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def at(y, m, d, hh=0, mm=0, ss=0) -> datetime:
    return datetime(y, m, d, hh, mm, ss, tzinfo=VN_TZ)


@pytest.fixture()
def settings(tmp_path, monkeypatch):
    monkeypatch.setenv("GATEWAY_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("KYSO_CONFIG", raising=False)
    (tmp_path / "var").mkdir()  # the CLI never makes a data folder on its own (issue 16: no stray logs)
    return load_settings()


def test_import_formats_types_and_duplicates(settings, tmp_path, capsys):
    nb, na = at(2026, 1, 1), at(2028, 1, 1)
    head = make_cert("Nguyễn Văn An", title="Giám đốc", nb=nb, na=na)
    clerk = make_cert("Lê Thị Cúc", nb=nb, na=na)
    org = make_cert("Sở Thử nghiệm", nb=nb, na=na)
    dev = make_cert("portal.sotn.gov.vn", nb=nb, na=na, eku=[ExtendedKeyUsageOID.SERVER_AUTH])
    ca = make_cert("Sub CA", nb=nb, na=na, ca=True)
    (tmp_path / "bundle.pem").write_bytes(pem(head, clerk, ca))
    (tmp_path / "org.cer").write_bytes(org.public_bytes(serialization.Encoding.DER))
    (tmp_path / "dev.pem").write_bytes(pem(dev))
    p7 = subprocess.run(["openssl", "crl2pkcs7", "-nocrl", "-certfile", str(tmp_path / "bundle.pem"),
                         "-certfile", str(tmp_path / "dev.pem"), "-outform", "DER"], capture_output=True, check=True)
    (tmp_path / "bundle.p7b").write_bytes(p7.stdout)
    assert len(load_certificates(p7.stdout)) == 4

    assert main(["certs", "import", str(tmp_path / "bundle.pem"), str(tmp_path / "org.cer"),
                 str(tmp_path / "dev.pem")]) == 0
    assert "added 4, updated 0, skipped 1" in capsys.readouterr().out
    # The PKCS#7 bundle holds the same certificates: updated, not duplicated.
    assert main(["certs", "import", str(tmp_path / "bundle.p7b")]) == 0
    assert "added 0, updated 3, skipped 1" in capsys.readouterr().out
    with Inventory.from_settings(settings) as inv:
        recs = {r.common_name: r for r in inv.all()}
    assert len(recs) == 4
    assert recs["Nguyễn Văn An"].cert_type is CertType.THAM_QUYEN and recs["Nguyễn Văn An"].title == "Giám đốc"
    assert recs["Lê Thị Cúc"].cert_type is CertType.CA_NHAN
    assert recs["Sở Thử nghiệm"].cert_type is CertType.TO_CHUC
    assert recs["portal.sotn.gov.vn"].cert_type is CertType.THIET_BI
    assert all(r.source is Source.IMPORTED and not r.type_confirmed for r in recs.values())
    assert recs["Lê Thị Cúc"].serial == format(clerk.serial_number, "x")
    assert recs["Lê Thị Cúc"].sha256 == clerk.fingerprint(hashes.SHA256()).hex()
    assert stat.S_IMODE(os.stat(settings.audit.path).st_mode) == 0o600


def test_not_a_certificate(settings, tmp_path, capsys):
    (tmp_path / "x.pem").write_text("hello")
    assert main(["certs", "import", str(tmp_path / "x.pem")]) == 3
    assert "CERT_FILE_INVALID" in capsys.readouterr().err


def test_status_boundaries():
    c = make_cert("A", nb=at(2026, 1, 1), na=at(2026, 12, 31, 23, 59, 59))
    from gateway.certs import parse_certificate, CertRecord

    p = parse_certificate(c)
    r = CertRecord(p.issuer, p.serial, p.subject, p.common_name, CertType.CA_NHAN, False, p.not_before,
                   p.not_after, Source.IMPORTED)
    assert r.status(at(2025, 12, 31, 23, 59, 59)) is CertStatus.NOT_YET_VALID
    assert r.status(at(2026, 1, 1)) is CertStatus.IN_USE
    assert r.status(at(2026, 12, 31, 23, 59, 59)) is CertStatus.IN_USE  # notAfter is inclusive
    assert r.status(at(2027, 1, 1)) is CertStatus.EXPIRED
    rv = r.__class__(**{**r.__dict__, "revoked_at": at(2026, 7, 1), "revocation_reason": "retired"})
    assert rv.status(at(2026, 6, 30, 23, 59, 59)) is CertStatus.IN_USE
    assert rv.status(at(2026, 7, 1)) is CertStatus.REVOKED
    assert rv.status(at(2027, 6, 1)) is CertStatus.REVOKED  # revoked wins over expired


def test_revoke_set_type_list_and_expiry_warning(settings, tmp_path, capsys):
    now = datetime.now(timezone.utc)
    soon = make_cert("Phạm Văn Dũng", title="Phó Giám đốc", nb=now - timedelta(days=300), na=now + timedelta(days=20))
    later = make_cert("Hoàng Thị Em", nb=now - timedelta(days=10), na=now + timedelta(days=700))
    (tmp_path / "c.pem").write_bytes(pem(soon, later))
    assert main(["certs", "import", str(tmp_path / "c.pem")]) == 0
    capsys.readouterr()

    assert main(["certs", "list", "--json"]) == 0
    out = capsys.readouterr()
    listed = json.loads(out.out)
    assert [c["status"] for c in listed["certificates"]] == ["in_use", "in_use"]
    assert [w["serial"] for w in listed["warnings"]] == [format(soon.serial_number, "x")]
    assert listed["warnings"][0]["code"] == "ORG_CERT_EXPIRING"
    assert "ORG_CERT_EXPIRING" in out.err and "Phạm Văn Dũng" in out.err and "Hoàng Thị Em" not in out.err

    s_later = format(later.serial_number, "X")  # any case, leading zeros or colons accepted
    assert main(["certs", "revoke", s_later, "--reason", "resigned", "--date", "2026-03-15"]) == 0
    with pytest.raises(SystemExit) as usage:
        main(["certs", "revoke", s_later, "--reason", "no-such-ground"])  # argparse choices
    assert usage.value.code == 2
    assert main(["certs", "revoke", "abcdef", "--reason", "retired"]) == 2  # names nothing: usage (issue 16)
    assert "CERT_NOT_FOUND" in capsys.readouterr().err
    assert main(["certs", "set-type", format(soon.serial_number, "x"), "ca_nhan"]) == 0
    # Re-import keeps a type a person set.
    assert main(["certs", "import", str(tmp_path / "c.pem")]) == 0
    capsys.readouterr()
    with Inventory.from_settings(settings) as inv:
        r_soon = inv.find(format(soon.serial_number, "x"))[0]
        r_later = inv.find(format(later.serial_number, "x"))[0]
        with pytest.raises(InputRejected):
            inv.revoke(r_soon.serial, "bogus", at(2026, 1, 1))
    assert r_soon.cert_type is CertType.CA_NHAN and r_soon.type_confirmed
    assert r_later.revoked_at == at(2026, 3, 15) and r_later.revocation_reason == "resigned"
    assert main(["certs", "list"]) == 0
    text = capsys.readouterr().out
    assert "đã thu hồi / revoked" in text and GROUNDS["resigned"].vi in text


def test_parse_when():
    assert parse_when("2026-07-01") == at(2026, 7, 1)
    assert parse_when("2026-06-30T17:00:00Z") == at(2026, 7, 1)
    assert parse_when("2026-06-30T23:59:59") == at(2026, 6, 30, 23, 59, 59)
    with pytest.raises(InputRejected):
        parse_when("30/06/2026")


@pytest.mark.hsm
def test_import_from_token(dev_settings, monkeypatch, capsys):
    monkeypatch.setenv("GATEWAY_VAR_DIR", str(dev_settings.var_dir))
    assert main(["certs", "import", "--token"]) == 0
    capsys.readouterr()
    org = x509.load_pem_x509_certificate((dev_settings.paths.pki / "org.pem").read_bytes())
    with Inventory.from_settings(dev_settings) as inv:
        recs = inv.find(format(org.serial_number, "x"))
    assert len(recs) == 1
    assert recs[0].source is Source.TOKEN and recs[0].cert_type is CertType.TO_CHUC
    assert recs[0].sha256 == org.fingerprint(hashes.SHA256()).hex()


def facts_for(cert: x509.Certificate, *, valid=True, signer_type=SignerType.PERSON) -> SignatureFacts:
    cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    return SignatureFacts(
        field_name="Sig1", signer_subject=cert.subject.rfc4514_string({NameOID.TITLE: "title"}),
        signer_common_name=cn, signer_serial=format(cert.serial_number, "x"),
        signer_sha256=cert.fingerprint(hashes.SHA256()).hex(), issuer_subject=cert.issuer.rfc4514_string(),
        signer_type=signer_type, signing_time=None, timestamp_time=None, intact=valid, trusted=True,
        revocation=Revocation.GOOD, cert_valid_at_signing=True, covers_whole_document=True,
        not_valid_before=cert.not_valid_before_utc, not_valid_after=cert.not_valid_after_utc,
    )


def test_learning_from_signatures(settings, tmp_path):
    nb, na = at(2026, 1, 1), at(2028, 1, 1)
    head = make_cert("Đỗ Văn Giang", title="Chủ tịch", nb=nb, na=na)
    staff = make_cert("Vũ Thị Hoa", nb=nb, na=na)
    broken = make_cert("Bùi Văn Ích", nb=nb, na=na)
    org = make_cert("Sở Thử nghiệm", nb=nb, na=na)
    facts = [facts_for(head), facts_for(staff), facts_for(broken, valid=False),
             facts_for(org, signer_type=SignerType.ORGANISATION)]
    # Several processes learn the same signatures at once: one record each, no error.
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(3) as pool:
        counts = pool.starmap(learn_from_signatures, [(settings, facts)] * 3)
    assert sum(counts) == 2
    assert learn_from_signatures(settings, facts) == 0
    with Inventory.from_settings(settings) as inv:
        recs = {r.common_name: r for r in inv.all()}
        assert set(recs) == {"Đỗ Văn Giang", "Vũ Thị Hoa"}
        assert recs["Đỗ Văn Giang"].cert_type is CertType.THAM_QUYEN and recs["Đỗ Văn Giang"].title == "Chủ tịch"
        assert recs["Vũ Thị Hoa"].cert_type is CertType.CA_NHAN
        assert all(r.source is Source.LEARNED for r in recs.values())
        # Importing the same certificate later matches by issuer+serial and upgrades the source.
        res = inv.import_certificates([staff])
        assert (res.added, res.updated) == (0, 1)
        assert inv.find(recs["Vũ Thị Hoa"].serial)[0].source is Source.IMPORTED


def test_learning_never_raises(tmp_path):
    s = load_settings(var_dir=tmp_path / "var", audit={"path": tmp_path / "nodir" / "x" / "\0bad"})
    assert learn_from_signatures(s, [facts_for(make_cert("X", nb=at(2026, 1, 1), na=at(2027, 1, 1)))]) == 0


def test_ambiguous_serial(settings):
    nb, na = at(2026, 1, 1), at(2028, 1, 1)
    a = make_cert("A", nb=nb, na=na, serial=0x1234)
    with Inventory.from_settings(settings) as inv:
        inv.import_certificates([a])
        p = inv.find("1234")[0]
        # Same serial from another issuer.
        # (another certificate: another fingerprint too, or the import would find this one by it)
        inv._connect().execute("UPDATE cert_inventory SET issuer='CN=Other', sha256=NULL WHERE serial='1234'")
        inv.import_certificates([a])
        with pytest.raises(PermanentError) as e:
            inv.set_type("00:12:34", CertType.THIET_BI)
        assert e.value.code == "CERT_AMBIGUOUS"
        assert inv.set_type("1234", CertType.THIET_BI, issuer=p.issuer).cert_type is CertType.THIET_BI
