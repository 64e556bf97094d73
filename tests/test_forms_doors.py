"""Nghị định 30/2020 Điều 32.2.d at every door: an unsigned issued document, with no declaration at all (and with
a less strict one), is refused by the mail, folder, portal and CLI doors; signed by the competent person it gets
the seal. Real doors, real Engine and SoftHSM token, pdfsig as the independent verifier."""

from __future__ import annotations

import email.policy
import email.utils
import json
import shutil
import smtplib
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest

import forms_samples as fs
from folder_support import Dirs, files, folder_settings, run_door, wait_until
from publish_support import RunningDoor, http_settings
from smtp_support import Gateway, loop  # noqa: F401 - loop is a fixture
from util import pdfsig, sign_as_person

from gateway.cli import main
from gateway.engine import Engine

pytestmark = pytest.mark.hsm

CODE = "ISSUED_NEEDS_PERSONAL_SIGNATURE"


@pytest.fixture(scope="module")
def engine(dev_settings):
    with Engine(dev_settings, workers=1) as eng:
        yield eng


@pytest.fixture(scope="module")
def decision(tmp_path_factory) -> Path:
    """An unsigned Quyết định in the Decree 30 layout (KT. CHỦ TỊCH / PHÓ CHỦ TỊCH), nothing declared."""
    return fs.draw(tmp_path_factory.mktemp("qd") / "quyet-dinh.pdf", fs.Spec())


@pytest.fixture(scope="module")
def cong_van(tmp_path_factory) -> Path:
    spec = fs.Spec(doc_type=None, number="345/UBND-VP", signer=("TL. CHỦ TỊCH", "CHÁNH VĂN PHÒNG"))
    return fs.draw(tmp_path_factory.mktemp("cv") / "cong-van.pdf", spec)


def _mail(pdf: bytes, headers: dict | None = None) -> bytes:
    msg = EmailMessage()
    msg["From"] = "van.thu@so-a.gov.vn"
    msg["To"] = "nhan@so-b.gov.vn"
    msg["Subject"] = "Gửi văn bản"
    msg["Message-ID"] = email.utils.make_msgid(domain="so-a.gov.vn")
    for k, v in (headers or {}).items():
        msg[k] = v
    msg.set_content("Kính gửi Sở B.\n")
    msg.add_attachment(pdf, maintype="application", subtype="pdf", filename="van-ban.pdf")
    return msg.as_bytes(policy=email.policy.SMTP)


@pytest.mark.parametrize("headers", [None, {"X-Kyso-Kind": "correspondence"}], ids=["undeclared", "declared-letter"])
def test_mail_door_refuses_an_unsigned_issued_document(loop, dev_settings, engine, decision, tmp_path, headers):
    gw = Gateway(loop, dev_settings, engine, tmp_path / "sink")
    try:
        with pytest.raises(smtplib.SMTPDataError) as ei:
            with smtplib.SMTP("127.0.0.1", gw.port, timeout=60) as c:
                c.sendmail("van.thu@so-a.gov.vn", ["nhan@so-b.gov.vn"], _mail(decision.read_bytes(), headers))
        assert ei.value.smtp_code in (550, 554) and CODE in ei.value.smtp_error.decode()
        assert gw.sink.messages() == []  # nothing relayed
    finally:
        gw.close()


def test_folder_door_refuses_without_and_with_a_sidecar(dev_settings, engine, decision, cong_van, tmp_path):
    s = folder_settings(dev_settings, tmp_path)
    d = Dirs(s)

    async def scenario(door):
        await wait_until(lambda: door.scans >= 1, 10, "the initial scan")
        shutil.copy(decision, d.inbox / "qd.pdf")
        shutil.copy(cong_van, d.inbox / "cv.pdf")
        (d.inbox / "cv.pdf.meta.json").write_text(json.dumps({"kind": "correspondence"}), encoding="utf-8")
        await wait_until(lambda: {"qd.pdf", "cv.pdf"} <= set(files(d.rejected)), 60, "both refused")

    run_door(s, engine, scenario)
    assert files(d.signed) == []
    for name in ("qd.pdf", "cv.pdf"):
        data = json.loads((d.rejected / f"{name}.decision.json").read_text(encoding="utf-8"))
        assert data["outcome"] == "reject" and CODE in [r["code"] for r in data["reasons"]], data


def test_portal_door_refuses_without_and_with_a_declaration(dev_settings, engine, decision, tmp_path):
    settings = http_settings(dev_settings, tmp_path)
    door = RunningDoor(settings, engine)
    try:
        with httpx.Client(base_url=door.url, headers=door.headers, timeout=60) as client:
            for extra in ({}, {"X-Kyso-Kind": "correspondence"}, {"X-Kyso-Kind": "attachment"}):
                r = client.post("/v1/documents:sign", content=decision.read_bytes(),
                                headers={"Content-Type": "application/pdf", **extra})
                assert r.status_code == 422, r.text
                assert CODE in [x["code"] for x in r.json()["reasons"]]
            r = client.post("/v1/documents:sign", files={"file": ("qd.pdf", decision.read_bytes(), "application/pdf")},
                            data={"kind": "copy", "copy_form": "SAO Y"})
            assert r.status_code == 422  # a born-digital unsigned decision is not a copy of a paper original
            r = client.post("/v1/documents:sign", content=decision.read_bytes(),
                            headers={"Content-Type": "application/pdf", "X-Kyso-Copy-Form": "sao-y", "X-Kyso-Kind": "issued"})
            assert r.status_code == 400  # a contradiction is refused, never dropped
    finally:
        door.stop()


def test_cli_refuses_and_check_shows_the_evidence(dev_settings, decision, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GATEWAY_VAR_DIR", str(dev_settings.var_dir))
    assert main(["sign", str(decision), "-o", str(tmp_path / "out.pdf")]) == 3
    assert main(["sign", str(decision), "-o", str(tmp_path / "out.pdf"), "--kind", "correspondence"]) == 3
    assert not (tmp_path / "out.pdf").exists()
    capsys.readouterr()
    assert main(["check", str(decision), "--json"]) == 3
    out = capsys.readouterr().out
    assert CODE in out and "Quyết định 12/QĐ-UBND" in out


def test_signed_by_the_competent_person_it_gets_the_seal(dev_settings, engine, decision, tmp_path, monkeypatch):
    person = sign_as_person(decision, tmp_path / "qd-ky.pdf", dev_settings)
    monkeypatch.setenv("GATEWAY_VAR_DIR", str(dev_settings.var_dir))
    assert main(["sign", str(person), "-o", str(tmp_path / "out.pdf")]) == 0
    sigs = pdfsig(tmp_path / "out.pdf", dev_settings.paths.nssdb)
    assert len(sigs) == 2 and all(s["valid"] and s["trusted"] for s in sigs)


def test_a_scanned_unsigned_decision_is_refused_too(dev_settings, tmp_path, monkeypatch):
    """The form is read from the OCR of a scan (image-only PDF): still an issued document."""
    scan = fs.scan(fs.draw(tmp_path / "qd.pdf", fs.Spec()), tmp_path / "qd-scan.pdf")
    monkeypatch.setenv("GATEWAY_VAR_DIR", str(dev_settings.var_dir))
    assert main(["sign", str(scan), "-o", str(tmp_path / "out.pdf")]) == 3
    assert not (tmp_path / "out.pdf").exists()


def _mail_part_declared(pdf: bytes, part_headers: dict) -> bytes:
    msg = EmailMessage()
    msg["From"] = "van.thu@so-a.gov.vn"
    msg["To"] = "nhan@so-b.gov.vn"
    msg["Subject"] = "Gửi văn bản"
    msg["Message-ID"] = email.utils.make_msgid(domain="so-a.gov.vn")
    msg.set_content("Kính gửi Sở B.\n")
    msg.add_attachment(pdf, maintype="application", subtype="pdf", filename="van-ban.pdf")
    part = list(msg.iter_attachments())[-1]
    for k, v in part_headers.items():
        part[k] = v
    return msg.as_bytes(policy=email.policy.SMTP)


@pytest.mark.parametrize("headers, code", [
    ({"X-Kyso-Kind": "issued"}, CODE),  # a letter declared issued on its own part: the stricter kind holds
    ({"X-Kyso-Kind": "memo"}, "KIND_DECLARATION_INVALID"),  # never dropped silently
], ids=["part-issued", "part-invalid"])
def test_mail_declares_per_attachment(loop, dev_settings, engine, tmp_path, headers, code):
    letter = fs.draw(tmp_path / "thu.pdf", fs.Spec(header=False, closing=False, body=("Kính gửi anh chị,", "Trân trọng.")))
    gw = Gateway(loop, dev_settings, engine, tmp_path / "sink")
    try:
        with pytest.raises(smtplib.SMTPDataError) as ei:
            with smtplib.SMTP("127.0.0.1", gw.port, timeout=60) as c:
                c.sendmail("van.thu@so-a.gov.vn", ["nhan@so-b.gov.vn"], _mail_part_declared(letter.read_bytes(), headers))
        assert ei.value.smtp_code in (550, 554) and code in ei.value.smtp_error.decode()
        assert gw.sink.messages() == []
    finally:
        gw.close()
