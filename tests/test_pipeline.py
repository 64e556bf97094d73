"""The pipeline end to end: real SoftHSM token, real PDFs, pdfsig as the independent verifier."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from util import make_pdf, pdfsig, sign_as_person

from gateway.audit import AuditLog
from gateway.errors import AuditUnavailable, SignerUnavailable, TemporaryError
from gateway.model import Appearance, Channel, Declared, DocKind, Document, Origin, Outcome
from gateway.pipeline import Pipeline
from gateway.signing.check import OutputRejected, check_pdf

pytestmark = pytest.mark.hsm


def doc_for(path: Path, kind=DocKind.ATTACHMENT, channel=Channel.FOLDER, **kw) -> Document:
    return Document(channel=channel, name=path.name, path=path, kind=kind,
                    origin=Origin(path=str(path)), declared=Declared(number="123/UBND-VP"), **kw)


def test_attachment_is_signed_and_verifies(pipeline, dev_settings, tmp_path):
    src = make_pdf(tmp_path / "phu-luc.pdf")
    before = src.read_bytes()
    res = pipeline.process(doc_for(src), out_dir=tmp_path / "out")
    assert res.outcome is Outcome.SIGN and res.decision.appearance is Appearance.TEXT
    out = res.output.path
    assert out.parent == tmp_path / "out" and out.read_bytes().startswith(before)
    sigs = pdfsig(out, dev_settings.paths.nssdb)
    assert len(sigs) == 1 and sigs[0]["valid"] and sigs[0]["trusted"] and sigs[0]["total_document"]
    rec = pipeline.audit.get(res.record_id)
    assert rec.outcome == "sign" and rec.data["sha256_after"] == res.output.sha256
    assert rec.data["sha256_before"] != rec.data["sha256_after"]
    assert rec.data["signer"]["serial"] and rec.data["policy"]["id"] == "kyso-default"
    assert src.read_bytes() == before  # the original is never touched


def test_content_document_is_signed(pipeline, dev_settings, tmp_path):
    data = make_pdf(tmp_path / "c.pdf").read_bytes()
    res = pipeline.process(Document(Channel.SMTP, "c.pdf", content=data, kind=DocKind.CORRESPONDENCE))
    try:
        assert res.outcome is Outcome.SIGN
        assert pdfsig(res.output.path, dev_settings.paths.nssdb)[0]["valid"]
        assert not list(res.output.path.parent.glob(".*src*"))  # temp copy of the bytes removed
    finally:
        res.output.path.unlink()


def test_issued_without_person_signature_is_rejected(pipeline, tmp_path):
    src = make_pdf(tmp_path / "qd.pdf")
    res = pipeline.process(doc_for(src, DocKind.ISSUED), out_dir=tmp_path / "out")
    assert res.outcome is Outcome.REJECT and res.output is None
    assert [r.code for r in res.decision.reasons] == ["ISSUED_NEEDS_PERSONAL_SIGNATURE"]
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_issued_with_person_signature_gets_the_seal(pipeline, dev_settings, tmp_path):
    src = sign_as_person(make_pdf(tmp_path / "qd.pdf"), tmp_path / "qd-person.pdf", dev_settings)
    res = pipeline.process(doc_for(src, DocKind.ISSUED), out_dir=tmp_path / "out")
    assert res.outcome is Outcome.SIGN, res.decision
    assert res.decision.appearance is Appearance.SEAL and res.decision.anchor_field == "NguoiKy1"
    sigs = pdfsig(res.output.path, dev_settings.paths.nssdb)
    assert len(sigs) == 2 and all(s["valid"] and s["trusted"] for s in sigs)


def test_already_org_signed_passes_unchanged(pipeline, tmp_path):
    src = make_pdf(tmp_path / "a.pdf")
    first = pipeline.process(doc_for(src), out_dir=tmp_path / "o1")
    again = pipeline.process(doc_for(first.output.path), out_dir=tmp_path / "o2")
    assert again.outcome is Outcome.PASS and again.output is None
    assert [r.code for r in again.decision.reasons] == ["ALREADY_SIGNED_BY_ORGANISATION"]


def test_secret_marked_is_blocked_and_nothing_written(pipeline, dev_settings, tmp_path, caplog):
    src = make_pdf(tmp_path / "mat.pdf", lines=["ỦY BAN NHÂN DÂN TỈNH (DEV)", "Số: 9/UBND", "MẬT", "Nội dung bí mật 424242"])
    out = tmp_path / "out"
    work = Path(dev_settings.var_dir) / "work"
    before = set(work.rglob("*")) if work.exists() else set()
    with caplog.at_level(logging.WARNING, logger="gateway.pipeline"):
        res = pipeline.process(doc_for(src, channel=Channel.SMTP), out_dir=out)
    assert res.outcome is Outcome.BLOCK and res.output is None
    assert res.decision.reasons[0].code == "SECRET_MARKED"
    assert not out.exists() or not any(out.iterdir())
    assert (set(work.rglob("*")) if work.exists() else set()) == before
    assert any("BLOCKED" in r.getMessage() for r in caplog.records)
    assert not any("424242" in r.getMessage() for r in caplog.records)
    rec = pipeline.audit.get(res.record_id)
    assert rec.alert and rec.outcome == "block" and "424242" not in str(rec.as_dict())


def test_dry_run_never_signs(pipeline, tmp_path):
    src = make_pdf(tmp_path / "a.pdf")
    res = pipeline.process(doc_for(src), dry_run=True, out_dir=tmp_path / "out")
    assert res.outcome is Outcome.SIGN and res.output is None and res.dry_run
    assert pipeline.audit.get(res.record_id).data["dry_run"] is True
    assert not (tmp_path / "out").exists()


def test_non_pdf_rejected_on_portal_and_cades_on_smtp(pipeline, tmp_path):
    f = tmp_path / "ghi-chu.txt"
    f.write_text("Kính gửi các đơn vị: lịch họp tuần sau.\n", encoding="utf-8")
    assert pipeline.process(doc_for(f, channel=Channel.PORTAL)).decision.reasons[0].code == "UNSUPPORTED_TYPE"
    res = pipeline.process(doc_for(f, channel=Channel.SMTP), out_dir=tmp_path / "out")
    assert res.outcome is Outcome.SIGN and res.output.detached and res.output.path.suffix == ".p7s"


def test_what_the_gateway_cannot_read_it_does_not_sign(pipeline, tmp_path):
    # A "Word file" the gateway cannot read (no reader understands these bytes) used to get a .p7s by mail.
    f = tmp_path / "bao-cao.docx"
    f.write_bytes(b"PK\x03\x04" + b"\x00" * 200)
    res = pipeline.process(doc_for(f, channel=Channel.SMTP), out_dir=tmp_path / "out")
    assert res.outcome is Outcome.REJECT and res.output is None


def test_broken_pdf_rejected(pipeline, tmp_path):
    f = tmp_path / "broken.pdf"
    f.write_bytes(b"%PDF-1.7\n1 0 obj <<>>\ngarbage\n")
    res = pipeline.process(doc_for(f))
    assert res.outcome is Outcome.REJECT and res.decision.reasons


def test_too_large_is_rejected_without_reading(dev_settings, tmp_path):
    settings = dev_settings.model_copy(deep=True)
    settings.limits.max_document_bytes = 1000
    with Pipeline(settings, audit=AuditLog.at(tmp_path / "l.sqlite3")) as p:
        res = p.process(doc_for(make_pdf(tmp_path / "a.pdf")))
        assert res.outcome is Outcome.REJECT and res.decision.reasons[0].code == "TOO_LARGE"
        assert "sha256_before" not in p.audit.get(res.record_id).data
        # declared secret but oversize: still BLOCK (alert), never a plain "too large"
        secret = Document(Channel.PORTAL, "k.pdf", path=make_pdf(tmp_path / "k.pdf"),
                          declared=Declared(classification="TỐI MẬT"))
        res = p.process(secret)
        assert res.outcome is Outcome.BLOCK and "SECRET_MARKED" in {r.code for r in res.decision.reasons}
        assert p.audit.get(res.record_id).alert


class _ExplodingSigner:
    last_status = None
    calls = 0

    def sign_pdf(self, src, dst, request):
        self.calls += 1
        Path(dst).write_bytes(b"half")
        raise RuntimeError("boom")

    def close(self):
        pass


class _GarbageSigner(_ExplodingSigner):
    """Pretends to sign but writes a PDF whose signature does not verify (a fault in the signer)."""

    def __init__(self, real):
        self.real = real

    def sign_pdf(self, src, dst, request):
        out = self.real.sign_pdf(src, dst, request)
        data = bytearray(Path(dst).read_bytes())
        data[50] ^= 0x01  # one bit inside the signed range
        Path(dst).write_bytes(bytes(data))
        return out


def test_unexpected_signer_failure_is_retried_once_then_refused_for_good(dev_settings, tmp_path):
    """Issue 17 §4: an exception nothing classified is the document's after one retry: a permanent refusal
    with a reason, never an endless 'try again'; nothing half-written is left or released."""
    audit = AuditLog.at(tmp_path / "l.sqlite3")
    signer = _ExplodingSigner()
    with Pipeline(dev_settings, signer=signer, audit=audit) as p:
        res = p.process(doc_for(make_pdf(tmp_path / "a.pdf")), out_dir=tmp_path / "out")
    assert signer.calls == 2
    assert res.outcome is Outcome.REJECT and res.output is None
    assert [r.code for r in res.decision.reasons] == ["PDF_UNSUPPORTED"]
    assert res.decision.reasons[0].args["detail"] == "internal: RuntimeError"
    assert not any((tmp_path / "out").iterdir())
    assert audit.query()[-1].outcome == "reject"


class _TokenDownSigner(_ExplodingSigner):
    def sign_pdf(self, src, dst, request):
        self.calls += 1
        raise SignerUnavailable("token absent", detail="token absent")


def test_system_fault_stays_temporary_and_is_not_retried_here(dev_settings, tmp_path):
    audit = AuditLog.at(tmp_path / "l.sqlite3")
    signer = _TokenDownSigner()
    with Pipeline(dev_settings, signer=signer, audit=audit) as p:
        with pytest.raises(TemporaryError) as exc:
            p.process(doc_for(make_pdf(tmp_path / "a.pdf")), out_dir=tmp_path / "out")
    assert exc.value.code == "TOKEN_UNAVAILABLE" and signer.calls == 1
    assert audit.query()[-1].outcome == "temporary"


def test_output_that_does_not_verify_is_never_released(pipeline, dev_settings, tmp_path):
    # Issue 17: a bad output is the document's fault: refused for good (never "try again"), nothing released.
    audit = AuditLog.at(tmp_path / "l.sqlite3")
    with Pipeline(dev_settings, signer=_GarbageSigner(pipeline.signer), audit=audit) as p:
        res = p.process(doc_for(make_pdf(tmp_path / "a.pdf")), out_dir=tmp_path / "out")
    assert res.outcome is Outcome.REJECT and res.output is None
    assert [r.code for r in res.decision.reasons] == ["PDF_OUTPUT_INVALID"]
    assert not any((tmp_path / "out").iterdir())
    assert audit.query()[-1].outcome == "reject"


def test_output_check_catches_a_flipped_bit(pipeline, tmp_path):
    src = make_pdf(tmp_path / "a.pdf")
    res = pipeline.process(doc_for(src), out_dir=tmp_path / "out")
    check_pdf(res.output.path, src)
    data = bytearray(res.output.path.read_bytes())
    data[-200] ^= 0x20
    res.output.path.write_bytes(bytes(data))
    with pytest.raises(OutputRejected):
        check_pdf(res.output.path, src)


def test_log_failure_deletes_output_and_raises(pipeline, dev_settings, tmp_path):
    audit = AuditLog.at(tmp_path / "l.sqlite3")
    with Pipeline(dev_settings, signer=pipeline.signer, audit=audit) as p:
        p._own_audit = False
        audit.storage._conn.close()  # the log goes away (disk, permissions)
        with pytest.raises(AuditUnavailable):
            p.process(doc_for(make_pdf(tmp_path / "a.pdf")), out_dir=tmp_path / "out")
    assert not any((tmp_path / "out").iterdir())


def test_valid_person_signature_is_learned_into_the_inventory(pipeline, dev_settings, tmp_path):
    from gateway.certs import Inventory

    src = sign_as_person(make_pdf(tmp_path / "qd.pdf"), tmp_path / "qd-p2.pdf", dev_settings, person=2)
    res = pipeline.process(doc_for(src, DocKind.ISSUED), out_dir=tmp_path / "out")
    assert res.outcome is Outcome.SIGN
    with Inventory(pipeline.audit.path) as inv:
        learned = [c for c in inv.all() if "Trần Thị Bình" in c.common_name]
    assert len(learned) == 1 and learned[0].source == "learned"


def test_secret_marked_is_blocked_even_when_inspection_ran_over_time(dev_settings, tmp_path):
    settings = dev_settings.model_copy(deep=True)
    settings.limits.document_seconds = 1e-6  # every inspection is "too slow"
    with Pipeline(settings, audit=AuditLog.at(tmp_path / "l.sqlite3")) as p:
        doc = Document(channel=Channel.FOLDER, name="a.pdf", path=make_pdf(tmp_path / "a.pdf"),
                       declared=Declared(classification="MẬT"))
        res = p.process(doc)
        assert res.outcome is Outcome.BLOCK and res.decision.reasons[0].code == "SECRET_MARKED"
        assert p.audit.get(res.record_id).alert
