"""`gateway verify` checks what the gateway produces (issue 16 §4): a document with its detached CAdES .p7s, and a
mail (.eml) as it leaves the SMTP door: the S/MIME signature of the whole message and every signed attachment,
with the Thông tư 15/2025 fields. Real outputs of the gateway's own signers and door; `openssl cms` agrees."""

from __future__ import annotations

import email.policy
import json
import os
import subprocess
import sys
from email.message import EmailMessage
from pathlib import Path

import pytest

from gateway.cli import main
from gateway.engine import Engine
from gateway.signing import OrgSigner
from smtp_support import Gateway, loop, smtp_settings  # noqa: F401  (fixture)
from util import make_pdf

pytestmark = pytest.mark.hsm


@pytest.fixture()
def env(dev_settings, monkeypatch):
    monkeypatch.setenv("GATEWAY_VAR_DIR", str(dev_settings.var_dir))
    monkeypatch.delenv("KYSO_CONFIG", raising=False)
    return dev_settings


def _verify(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gateway", "verify", *args], capture_output=True, text=True,
                          timeout=120, env={**os.environ})


# --- a document and its detached CAdES signature ------------------------------------------------------------


@pytest.fixture(scope="module")
def detached(dev_settings, tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("cades")
    doc = d / "ghi-chu.txt"
    doc.write_text("Kính gửi: Sở Nội vụ\nGhi chú kèm công văn 12/UBND-VP.\n", encoding="utf-8")
    with OrgSigner(dev_settings) as signer:
        signer.sign_detached(doc, d / "ghi-chu.txt.p7s")
    return doc


def test_detached_signature_from_either_file(env, detached, capsys):
    for target in (detached, detached.with_name("ghi-chu.txt.p7s")):
        assert main(["verify", str(target)]) == 0, capsys.readouterr()
        out = capsys.readouterr().out
        assert "HỢP LỆ / VALID" in out and "Cơ quan thử nghiệm Kyso (DEV)" in out
        assert "Thời điểm ký / Signing time: 20" in out and "+07:00" in out  # TT 15 fields, Vietnam time
        assert "tin cậy / trusted" in out and "chưa bị thu hồi / not revoked" in out
    # openssl agrees it is a valid detached signature over that file
    pki = env.paths.pki
    ok = subprocess.run(["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", str(detached) + ".p7s",
                         "-content", str(detached), "-CAfile", str(pki / "root.pem"), "-certfile",
                         str(pki / "ca.pem"), "-purpose", "any", "-out", "/dev/null"], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr


def test_detached_signature_tampered_missing_or_named(env, detached, tmp_path, capsys):
    changed = tmp_path / "ghi-chu.txt"
    changed.write_bytes(detached.read_bytes().replace(b"12/UBND", b"13/UBND"))
    (tmp_path / "ghi-chu.txt.p7s").write_bytes(detached.with_name("ghi-chu.txt.p7s").read_bytes())
    assert main(["verify", str(changed)]) == 3
    assert "ALTERED OR BROKEN" in capsys.readouterr().out
    alone = tmp_path / "alone" / "x.txt.p7s"
    alone.parent.mkdir()
    alone.write_bytes(detached.with_name("ghi-chu.txt.p7s").read_bytes())
    assert main(["verify", str(alone)]) == 3
    assert "VERIFY_DOCUMENT_MISSING" in capsys.readouterr().out
    assert main(["verify", str(alone), "--document", str(detached)]) == 0
    capsys.readouterr()
    assert main(["verify", str(alone), "--document", str(tmp_path / "nothing.txt")]) == 2
    plain = tmp_path / "plain.txt"
    plain.write_text("không ký")
    assert main(["verify", str(plain)]) == 3
    assert "VERIFY_NO_SIGNATURE_FOUND" in capsys.readouterr().out


# --- a mail as the SMTP door sends it on ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def engine(dev_settings):
    # whole-message S/MIME is decided in the pipeline (policy option smime; smtp.smime_sign sets it)
    with Engine(smtp_settings(dev_settings, smime_sign=True), workers=1) as eng:
        yield eng


def _mail(pdf: bytes, note: bytes) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "van.thu@so-a.gov.vn", "nhan@so-b.gov.vn", "Công văn gửi Sở"
    msg.set_content("Kính gửi Sở B,\nXin gửi công văn kèm theo.\n")
    msg.add_attachment(pdf, maintype="application", subtype="pdf", filename="Công văn 12.pdf")
    msg.add_attachment(note, maintype="text", subtype="plain", filename="ghi-chu.txt")
    return msg.as_bytes(policy=email.policy.SMTP)


@pytest.fixture(scope="module")
def sent(loop, dev_settings, engine, tmp_path_factory) -> tuple[Path, Path]:  # noqa: F811
    import smtplib

    d = tmp_path_factory.mktemp("mail")
    raw = _mail(make_pdf(d / "cv.pdf").read_bytes(), "Ghi chú kèm công văn.\n".encode())
    (d / "input.eml").write_bytes(raw)
    # Whole-message S/MIME is decided by the pipeline's policy (smtp.smime_sign = true: option smime = "sign"
    # for smtp), so the engine is the one that must carry the setting, not only the door.
    from smtp_support import smtp_settings

    from gateway.engine import Engine

    settings = smtp_settings(dev_settings, smime_sign=True)
    with Engine(settings, workers=1) as smime_engine:
        g = Gateway(loop, settings, smime_engine, d / "sink")
        try:
            with smtplib.SMTP("127.0.0.1", g.port, timeout=60) as c:
                assert c.sendmail("van.thu@so-a.gov.vn", ["nhan@so-b.gov.vn"], raw) == {}
            (out,) = g.sink.messages()
        finally:
            g.close()
    return out, d / "input.eml"


def test_mail_out_of_the_gateway_verifies(env, sent):
    out, _ = sent
    p = _verify(str(out))
    assert p.returncode == 0, p.stdout + p.stderr
    text = p.stdout
    assert "S/MIME" in text and "Công văn 12.pdf" in text and "ghi-chu.txt" in text
    assert "ghi-chu.txt + ghi-chu.txt.p7s" in text or "also signs: ghi-chu.txt" in text
    assert "Tiêu đề / Subject: Công văn gửi Sở" in text
    assert text.count("HỢP LỆ / VALID") >= 3 and "KHÔNG HỢP LỆ" not in text
    j = json.loads(_verify("--json", str(out)).stdout)
    assert j["valid"] and j["kind"] == "mail"
    kinds = sorted(i["kind"] for i in j["items"])
    # the text attachment: its own .p7s, or (as the SMTP door does today) signed by the message's S/MIME
    smime = next(i for i in j["items"] if i["kind"] == "smime")
    assert kinds == ["cades", "pdf", "smime"] or (kinds == ["pdf", "smime"] and smime["covers"] == ["ghi-chu.txt"])
    assert all(s["valid"] and s["signer"] == "Cơ quan thử nghiệm Kyso (DEV)" for s in j["signatures"])


def test_mail_changed_or_unsigned_is_invalid(env, sent, tmp_path):
    out, original = sent
    raw = out.read_bytes()
    changed = tmp_path / "changed.eml"
    changed.write_bytes(raw.replace(b'filename="ghi-chu.txt"', b'filename="ghi-chu-2.txt"', 1))  # inside S/MIME
    assert changed.read_bytes() != raw
    p = _verify(str(changed))
    assert p.returncode == 3, p.stdout
    assert "ALTERED OR BROKEN" in p.stdout
    p = _verify("--json", str(original))  # what the sender wrote, before the gateway: nothing is signed
    assert p.returncode == 3
    j = json.loads(p.stdout)
    problems = {i["label"]: i["problem"]["code"] for i in j["items"] if i["problem"]}
    assert problems == {"Công văn 12.pdf": "VERIFY_NO_SIGNATURE", "ghi-chu.txt": "VERIFY_ATTACHMENT_UNSIGNED"}
