"""CAdES detached and S/MIME signatures, verified with `openssl cms -verify`."""

from __future__ import annotations

import email
import os
import subprocess

import pytest

from gateway.signing import OrgSigner


@pytest.fixture(scope="module")
def signer(dev_settings):
    with OrgSigner(dev_settings) as s:
        yield s


def _verify(args, settings, **kw):
    pki = settings.paths.pki
    return subprocess.run(
        ["openssl", "cms", "-verify", "-CAfile", str(pki / "root.pem"), "-certfile", str(pki / "ca.pem"), *args],
        capture_output=True, timeout=60, **kw,
    )


def test_detached_p7s(signer, dev_settings, tmp_path):
    src = tmp_path / "bao-cao.docx"
    src.write_bytes(os.urandom(3 * 1024 * 1024 + 17))
    out = signer.sign_detached(src, tmp_path / "bao-cao.docx.p7s")
    assert out.detached and out.media_type == "application/pkcs7-signature"
    ok = _verify(["-binary", "-inform", "DER", "-in", str(out.path), "-content", str(src), "-out", "/dev/null"], dev_settings)
    assert ok.returncode == 0, ok.stderr
    src.write_bytes(src.read_bytes()[:-1] + b"X")  # one byte changed: must fail
    bad = _verify(["-binary", "-inform", "DER", "-in", str(out.path), "-content", str(src), "-out", "/dev/null"], dev_settings)
    assert bad.returncode != 0


MESSAGE = (
    "From: =?utf-8?b?VsSDbiB0aMawIERFVg==?= <vanthu@kyso.invalid>\n"
    "To: nhan@example.invalid\n"
    "Subject: =?utf-8?b?Q8O0bmcgdsSDbg==?=\n"
    "Message-ID: <abc@kyso.invalid>\n"
    "MIME-Version: 1.0\n"
    'Content-Type: multipart/mixed; boundary="XYZ"\n'
    "\n"
    "--XYZ\n"
    "Content-Type: text/plain; charset=utf-8\n"
    "Content-Transfer-Encoding: base64\n"
    "\n"
    "VsSDbiBi4bqjbiDEkcOtbmgga8OobQ==\n"
    "--XYZ\n"
    'Content-Type: application/pdf; name="a.pdf"\n'
    "Content-Transfer-Encoding: base64\n"
    "\n"
    "JVBERi0xLjQK\n"
    "--XYZ--\n"
).encode()


def test_smime_multipart_signed(signer, dev_settings, tmp_path):
    signed = signer.sign_smime(MESSAGE)
    msg = email.message_from_bytes(signed)
    assert msg.get_content_type() == "multipart/signed"
    assert msg.get_param("protocol") == "application/pkcs7-signature" and msg.get_param("micalg") == "sha-256"
    assert msg["Subject"] == "=?utf-8?b?Q8O0bmcgdsSDbg==?=" and msg["Message-ID"] == "<abc@kyso.invalid>"
    first, sig = msg.get_payload()
    assert first.get_content_type() == "multipart/mixed" and sig.get_content_type() == "application/pkcs7-signature"
    (tmp_path / "m.eml").write_bytes(signed)
    ok = _verify(["-in", str(tmp_path / "m.eml"), "-out", str(tmp_path / "content")], dev_settings)
    assert ok.returncode == 0, ok.stderr
    assert b"VsSDbiBi4bqjbiDEkcOtbmgga8OobQ==" in (tmp_path / "content").read_bytes()
    tampered = signed.replace(b"JVBERi0xLjQK", b"JVBERi0xLjUK")
    (tmp_path / "t.eml").write_bytes(tampered)
    bad = _verify(["-in", str(tmp_path / "t.eml"), "-out", "/dev/null"], dev_settings)
    assert bad.returncode != 0
