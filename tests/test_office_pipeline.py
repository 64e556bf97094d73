"""Office files through the pipeline and through a door (the CLI): a stamped one is BLOCKed, a clean one
gets a detached CAdES .p7s that `openssl cms -verify` accepts (SMTP: non_pdf = "cades"), an unreadable one
is refused with its reason. Real SoftHSM token; openssl as the independent verifier."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from gateway.audit import AuditLog
from gateway.cli import main
from gateway.model import Channel, DocKind, Document, Outcome, SignFormat
from gateway.pipeline import Pipeline

pytestmark = pytest.mark.hsm
FIX = Path(__file__).parent / "fixtures" / "office"


def _doc(path: Path, channel=Channel.SMTP) -> Document:
    return Document(channel=channel, name=path.name, path=path, kind=DocKind.CORRESPONDENCE)


def _verify(p7s: Path, content: Path, settings) -> subprocess.CompletedProcess:
    pki = settings.paths.pki
    return subprocess.run(
        ["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", str(p7s), "-content", str(content),
         "-CAfile", str(pki / "root.pem"), "-certfile", str(pki / "ca.pem"), "-out", "/dev/null"],
        capture_output=True, timeout=60,
    )


@pytest.mark.parametrize("name", ["text-header.docx", "text-footer.odt", "text-comment.rtf", "sheet-hiddensheet.xlsx",
                                  "slides-notes.pptx", "text-textbox.docx", "text-custom.odt"])
def test_stamped_office_file_is_blocked(pipeline, tmp_path, name):
    res = pipeline.process(_doc(FIX / name), out_dir=tmp_path)
    assert res.outcome is Outcome.BLOCK and res.output is None
    assert {r.code for r in res.decision.reasons} >= {"SECRET_MARKED"}
    assert list(tmp_path.iterdir()) == []
    rec = pipeline.audit.get(res.record_id)
    assert rec.outcome == "block"


@pytest.mark.parametrize("name", ["text-clean.docx", "text-clean.odt", "text-clean.rtf", "sheet-clean.xlsx",
                                  "slides-clean.pptx"])
def test_clean_office_file_gets_a_p7s_openssl_accepts(pipeline, dev_settings, tmp_path, name):
    src = tmp_path / name
    shutil.copy(FIX / name, src)
    res = pipeline.process(_doc(src), out_dir=tmp_path / "out")
    assert res.outcome is Outcome.SIGN and res.decision.sign_format is SignFormat.CADES, res.decision.reasons
    assert res.output.detached
    ok = _verify(res.output.path, src, dev_settings)
    assert ok.returncode == 0, ok.stderr
    tampered = tmp_path / "t"
    tampered.write_bytes(src.read_bytes() + b"\0")
    assert _verify(res.output.path, tampered, dev_settings).returncode != 0


def _picture_docx(tmp_path: Path, text: str) -> Path:
    import docx
    from PIL import Image, ImageDraw, ImageFont

    import office_samples

    img = tmp_path / "trang.png"  # a scanned page: A4 at 200 dpi
    im = Image.new("RGB", (1654, 2339), "white")
    font = next(Path("/usr/share/fonts").rglob("LiberationSerif-Bold.ttf"))
    draw = ImageDraw.Draw(im)
    draw.text((150, 200), text, fill="black", font=ImageFont.truetype(str(font), 60))
    draw.text((150, 400), "Kính gửi: Sở Tư pháp tỉnh", fill="black", font=ImageFont.truetype(str(font), 40))
    im.save(img, dpi=(200, 200))
    d = docx.Document()
    d.add_paragraph(office_samples.BODY)
    d.add_picture(str(img))
    raw = tmp_path / "raw.docx"
    d.save(raw)
    return office_samples.strip_parts(raw, tmp_path / "co-anh.docx", lambda n: n.startswith("docProps/thumbnail"))


@pytest.mark.skipif(shutil.which("tesseract") is None, reason="OCR (tesseract) not installed")
def test_picture_inside_a_docx_is_read_as_a_member(pipeline, dev_settings, tmp_path):
    stamped = _picture_docx(tmp_path, "TỐI MẬT")
    res = pipeline.process(_doc(stamped), out_dir=tmp_path / "out")
    assert res.outcome is Outcome.BLOCK and res.output is None, res.decision.reasons
    clean_dir = tmp_path / "clean"
    clean_dir.mkdir()
    clean = _picture_docx(clean_dir, "Quy hoạch 2030")
    res = pipeline.process(_doc(clean), out_dir=tmp_path / "out2")
    assert res.outcome is Outcome.SIGN and res.decision.sign_format is SignFormat.CADES, res.decision.reasons
    assert _verify(res.output.path, clean, dev_settings).returncode == 0


def test_unreadable_office_file_is_refused(pipeline, tmp_path):
    import msoffcrypto.format.ooxml as ooxml

    enc = tmp_path / "bao-cao.docx"
    with open(FIX / "text-clean.docx", "rb") as fh, open(enc, "wb") as out:
        ooxml.OOXMLFile(fh).encrypt("mật khẩu", out)
    res = pipeline.process(_doc(enc), out_dir=tmp_path / "out")
    assert res.outcome is Outcome.REJECT and res.output is None
    assert "OFFICE_ENCRYPTED" in {r.code for r in res.decision.reasons}


def test_encrypted_office_file_passes_unread_only_for_allowed_senders(dev_settings, tmp_path):
    import msoffcrypto.format.ooxml as ooxml
    from container_support import policy_with
    from gateway.model import Origin

    enc = tmp_path / "bao-cao.xlsx"
    with open(FIX / "sheet-clean.xlsx", "rb") as fh, open(enc, "wb") as out:
        ooxml.OOXMLFile(fh).encrypt("mật khẩu", out)
    d = Document(Channel.SMTP, enc.name, path=enc, origin=Origin(sender="ke.toan@so.gov.vn", recipients=("a@bo.gov.vn",)))
    with Pipeline(dev_settings, policies=policy_with(options={"allow_unreadable_from": ["@so.gov.vn"]}),
                  audit=AuditLog.at(tmp_path / "l.sqlite3")) as p:
        res = p.process(d)
        assert res.outcome is Outcome.PASS and [r.code for r in res.decision.reasons] == ["UNREADABLE_ALLOWED"]
    with Pipeline(dev_settings, policies=policy_with(options={"allow_unreadable_from": ["@khac.gov.vn"]}),
                  audit=AuditLog.at(tmp_path / "l.sqlite3")) as p:
        res = p.process(d)
        assert res.outcome is Outcome.REJECT and "OFFICE_ENCRYPTED" in {r.code for r in res.decision.reasons}


def test_cli_door_agrees(dev_settings, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("KYSO_CONFIG", raising=False)
    monkeypatch.setenv("GATEWAY_VAR_DIR", str(dev_settings.var_dir))
    monkeypatch.setenv("GATEWAY_AUDIT__PATH", str(tmp_path / "log" / "audit.sqlite3"))
    marked = tmp_path / "bao-cao.docx"
    shutil.copy(FIX / "text-footer.docx", marked)
    assert main(["check", str(marked)]) != 0
    out = capsys.readouterr().out
    assert "SECRET_MARKED" in out
    unreadable = tmp_path / "ghi-chu.rtf"
    unreadable.write_bytes(b"{\\rtf1\\ansi Xin chao{\\object{\\*\\objdata 0105000002000000}}\\par}")
    assert main(["check", str(unreadable)]) != 0
    out = capsys.readouterr().out
    # the embedded object is a member of its own (role embedded), an unknown type: refused, and the RTF with it
    assert "TỪ CHỐI / REJECT" in out and "object-1" in out
    records = AuditLog.at(tmp_path / "log" / "audit.sqlite3").query()
    outcomes = [r.outcome for r in records]
    assert "block" in outcomes and outcomes[-1] == "reject"  # (the member has a record of its own too)
