"""The Decree 30 form and the kind (gateway.inspect.forms, gateway.kinds): unit cases, the rule between declared
and inferred kinds, and the generated set (tests/forms_samples.py) through the real readers, with its
confusion table printed (the full set with every scan: bench/bench_forms.py)."""

from __future__ import annotations

import shutil
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest

import forms_samples as fs
from gateway.inspect import forms
from gateway.inspect.reading import Line
from gateway.kinds import resolve
from gateway.model import (
    Channel, Declared, DocKind, Document, Facts, Revocation, SignatureFacts, SignerType,
)

QD = """ỦY BAN NHÂN DÂN          CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM
TỈNH THỬ NGHIỆM          Độc lập - Tự do - Hạnh phúc
Số: 12/QĐ-UBND          Hà Nội, ngày 15 tháng 01 năm 2025
QUYẾT ĐỊNH
Về việc phê duyệt kế hoạch
CHỦ TỊCH ỦY BAN NHÂN DÂN TỈNH
Căn cứ Luật Tổ chức chính quyền địa phương;
QUYẾT ĐỊNH:
Điều 1. Phê duyệt.
Nơi nhận:          KT. CHỦ TỊCH
- Như Điều 3;          PHÓ CHỦ TỊCH
- Lưu: VT.
Nguyễn Văn An"""


def lines(text: str, where: str = "page1") -> list[Line]:
    return [Line(t, where, 0) for t in text.splitlines()]


def test_issued_decision_fields_are_found_with_their_place():
    f = forms.recognise(lines(QD))
    assert f.kind is DocKind.ISSUED and f.basis == "issued-form"
    assert (f.doc_type, f.number) == ("QUYẾT ĐỊNH", "12/QĐ-UBND")
    assert (f.signer_authority, f.signer_name) == ("KT.", "Nguyễn Văn An")
    assert "PHÓ CHỦ TỊCH" in f.signer_title
    names = {x.name for x in f.fields}
    assert {"issuer", "motto", "number", "place_date", "type", "title", "recipients", "signature"} <= names
    assert all(x.where == "page1" for x in f.fields)


def test_positions_order_the_lines_and_anchor_the_signature_block():
    # Lines arrive out of order (a reader's column order); boxes put them right, and the block keeps its box.
    ls = [
        Line("Nguyễn Văn An", "page1", 0, (380, 700, 470, 712)),
        Line("KT. CHỦ TỊCH", "page1", 0, (380, 620, 470, 632)),
        Line("PHÓ CHỦ TỊCH", "page1", 0, (380, 636, 470, 648)),
        Line("Nơi nhận:", "page1", 0, (70, 620, 130, 632)),
        Line("QUYẾT ĐỊNH", "page1", 0, (260, 150, 340, 162)),
        Line("Số: 7/QĐ-SNV", "page1", 0, (80, 100, 180, 112)),
        Line("SỞ NỘI VỤ", "page1", 0, (90, 60, 170, 72)),
    ]
    f = forms.recognise(ls)
    assert f.kind is DocKind.ISSUED and f.number == "7/QĐ-SNV"
    assert f.signature_block.page == 0 and f.signature_block.box == (380, 620, 470, 712)


def test_appendix_names_its_parent_document():
    f = forms.recognise(lines("PHỤ LỤC II\nDANH MỤC\n(Kèm theo Kế hoạch số\n78/KH-SNV ngày 20/02/2025 của Sở Nội vụ)\n1. A"))
    assert f.kind is DocKind.ATTACHMENT and f.parent_number == "78/KH-SNV" and f.parent_type == "KẾ HOẠCH"


def test_appendix_inside_an_issued_document_does_not_make_it_an_attachment():
    text = QD + "\nPHỤ LỤC\n(Kèm theo Quyết định số 12/QĐ-UBND)"
    assert forms.recognise(lines(text)).kind is DocKind.ISSUED


def test_copy_form_with_its_own_number():
    text = QD + "\nSAO Y\nSố: 05/SY-VP\nTL. CHỦ TỊCH\nCHÁNH VĂN PHÒNG\nLê Văn Cường"
    f = forms.recognise(lines(text))
    assert f.kind is DocKind.COPY and (f.copy_form, f.copy_number, f.number) == ("SAO Y", "05/SY-VP", "12/QĐ-UBND")


@pytest.mark.parametrize("text", [
    "Bản tin: UBND tỉnh ban hành Quyết định số 12/QĐ-UBND.\nSố: 12/QĐ-UBND được đăng.\nHết.",
    "Hướng dẫn: bản sao y phải có số riêng.\nsao y bản chính",
    "ỦY BAN NHÂN DÂN TỈNH\nCỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM\nSố: 123/UBND-VP\nV/v thử nghiệm",  # header only
    "KẾ HOẠCH CÔNG TÁC THÁNG 4\n1. Họp giao ban.\n2. Tập huấn.",
])
def test_ordinary_text_is_correspondence(text):
    assert forms.recognise(lines(text)).kind is DocKind.CORRESPONDENCE


def test_ocr_lookalikes_and_lost_blanks():
    text = QD.replace("12/QĐ-UBND", "12⁄QĐ-UBND") + "\nSAOY\nSố: 05/SY-VP\nLê Văn Cường"
    f = forms.recognise(lines(text, "ocr:page1"))
    assert f.kind is DocKind.COPY and f.number == "12/QĐ-UBND" and f.scanned


def test_evidence_keeps_places_and_metadata_not_content():
    ev = forms.evidence(forms.recognise(lines(QD)))
    assert ev["kind"] == "issued" and ev["basis"] == "issued-form"
    by_name = {f["name"]: f for f in ev["fields"]}
    assert by_name["number"]["value"] == "12/QĐ-UBND" and by_name["number"]["where"] == "page1"
    assert "value" not in by_name["title"] and "value" not in by_name["signature"]  # content stays out


# --- declared vs inferred (gateway.kinds) ---------------------------------------------------------------------


def _facts(text: str, where: str = "page1", person: bool = False) -> Facts:
    sigs = ()
    if person:
        sigs = (SignatureFacts("NguoiKy1", "CN=A", "A", "01", "ab", "CN=CA", SignerType.PERSON, None, None,
                               True, True, Revocation.GOOD, True, True),)
    return Facts("application/pdf", 10, "00", form=forms.recognise(lines(text, where)), signatures=sigs)


def _doc(kind: DocKind | None = None) -> Document:
    return Document(Channel.SMTP, "a.pdf", content=b"%PDF", declared=Declared(kind=kind))


@pytest.mark.parametrize("declared", [None, DocKind.CORRESPONDENCE, DocKind.ATTACHMENT])
def test_a_less_strict_declaration_does_not_dodge_article_32(declared):
    choice = resolve(_doc(declared), _facts(QD))
    assert choice.kind is DocKind.ISSUED
    if declared is not None:
        assert choice.warning.code == "KIND_DECLARATION_OVERRIDDEN" and choice.basis == "inferred-stricter"
        assert choice.warning.args["type_number"] == ": Quyết định 12/QĐ-UBND"


def test_a_stricter_or_equal_declaration_wins():
    letter = _facts("Kính gửi anh chị,\nTrân trọng.")
    assert resolve(_doc(DocKind.ISSUED), letter).kind is DocKind.ISSUED
    appendix = _facts("PHỤ LỤC\n(Kèm theo Quyết định số 12/QĐ-UBND)")
    assert resolve(_doc(DocKind.COPY), appendix).kind is DocKind.COPY  # equal strictness: the sender knows
    assert resolve(_doc(), letter).kind is DocKind.CORRESPONDENCE


def test_copy_of_an_issued_document_only_from_paper_or_a_signed_original():
    assert resolve(_doc(DocKind.COPY), _facts(QD)).kind is DocKind.ISSUED  # born digital, unsigned
    scanned = resolve(_doc(DocKind.COPY), _facts(QD, "ocr:page1"))
    assert scanned.kind is DocKind.COPY and scanned.basis == "copy-of-paper-original"
    signed = resolve(_doc(DocKind.COPY), _facts(QD, person=True))
    assert signed.kind is DocKind.COPY and signed.basis == "copy-of-signed-original"


def test_the_door_kind_counts_as_a_declaration():
    doc = replace(_doc(), kind=DocKind.ATTACHMENT)
    assert resolve(doc, _facts("Kính gửi,\nTrân trọng.")).kind is DocKind.ATTACHMENT


# --- the generated set through the readers ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("forms-samples")


def _confusion(rows) -> str:
    kinds = [DocKind.ISSUED, DocKind.ATTACHMENT, DocKind.COPY, DocKind.CORRESPONDENCE]
    table = Counter(rows)
    out = ["expected \\ inferred".ljust(20) + "".join(k.value[:12].ljust(14) for k in kinds)]
    for e in kinds:
        out.append(e.value.ljust(20) + "".join(str(table[(e, g)]).ljust(14) for g in kinds))
    return "\n".join(out)


def test_generated_text_documents_get_their_kind(sample_dir, dev_settings, capsys):
    from gateway.inspect import inspect

    rows, wrong = [], []
    for s in fs.samples():
        if s.scanned:
            continue
        path = fs.build(s, sample_dir)
        facts = inspect(Document(Channel.CLI, path.name, path=path), dev_settings)
        rows.append((s.kind, facts.form.kind))
        if facts.form.kind is not s.kind:
            wrong.append(s.name)
    with capsys.disabled():
        print(f"\nkind inference, {len(rows)} generated text documents:\n" + _confusion(rows))
    assert len(rows) >= 35 and not wrong


@pytest.mark.skipif(shutil.which("tesseract") is None, reason="tesseract not installed")
@pytest.mark.parametrize("name", ["qd-kt-a4-scan", "pl-two-lines-scan", "sl-cv-scan", "news-quoting-scan"])
def test_scanned_documents_get_their_kind_from_ocr(name, sample_dir):
    sample = next(s for s in fs.samples() if s.name == name)
    form = forms.recognise(fs.ocr_lines(fs.build(sample, sample_dir)))
    assert form.kind is sample.kind
    assert form.scanned or sample.kind is DocKind.CORRESPONDENCE  # the evidence says it came from OCR


def test_a_signature_made_before_its_certificate_began_is_not_yet_valid_not_expired():
    from datetime import datetime, timezone

    from gateway.rules import RULES, RuleContext

    t = datetime(2025, 1, 1, tzinfo=timezone.utc)
    early = SignatureFacts("A", "CN=A", "A", "01", "ab", "CN=CA", SignerType.PERSON, t, None, True, True,
                           Revocation.GOOD, False, True, not_valid_before=datetime(2025, 6, 1, tzinfo=timezone.utc))
    late = replace(early, field_name="B", not_valid_before=None)
    facts = Facts("application/pdf", 10, "00", signatures=(early, late))
    hit = RULES["signature_cert_invalid"].check(_doc(), facts, RuleContext("p"))
    assert sorted(r.code for r in hit.reasons) == ["SIGNATURE_CERT_EXPIRED", "SIGNATURE_CERT_NOT_YET_VALID"]
