"""Every reason code the code raises has Vietnamese and English text; rendering never fails."""

from __future__ import annotations

import re
from pathlib import Path

from gateway.model import Reason
from gateway.reasons import CATALOG, render

GATEWAY = Path(__file__).resolve().parents[1] / "gateway"
# Reason.of("CODE", ...), Reason("CODE"...), code="CODE", code = "CODE"
PATTERNS = (
    re.compile(r'Reason\.of\(\s*"([A-Z][A-Z0-9_]+)"'),
    re.compile(r'Reason\(\s*"([A-Z][A-Z0-9_]+)"'),
    re.compile(r'\bcode\s*=\s*"([A-Z][A-Z0-9_]+)"'),
)


def codes_used() -> dict[str, str]:
    found: dict[str, str] = {}
    for path in GATEWAY.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for pat in PATTERNS:
            for m in pat.finditer(text):
                found.setdefault(m.group(1), str(path.relative_to(GATEWAY)))
    return found


def test_every_code_used_has_text():
    used = codes_used()
    assert len(used) > 10  # the scan itself works
    missing = {c: where for c, where in used.items() if c not in CATALOG}
    assert not missing, f"reason codes without text in gateway/reasons.py: {missing}"


def test_every_entry_is_bilingual():
    for code, text in CATALOG.items():
        assert text.vi.strip() and text.en.strip(), code
        assert text.vi != text.en, code  # Vietnamese first, not a copy of the English


def test_render_fills_parameters_and_survives_missing_ones():
    r = render(Reason.of("TOO_LARGE", size=int(10.2 * 2**20), max=int(5.5 * 2**20)))
    assert "(10 MB, tối đa 5,5 MB)" in r.vi and "(10 MB, at most 5.5 MB)" in r.en and r.code == "TOO_LARGE"
    partial = render(Reason.of("TOO_LARGE", size=10))
    assert "{max_h}" in partial.en  # a missing parameter shows, rather than crashing the door
    unknown = render(Reason.of("NO_SUCH_CODE"))
    assert unknown.code == "NO_SUCH_CODE"
    assert render(Reason.of("SECRET_MARKED", level="MẬT", where="x")).line().startswith("Tài liệu mang dấu")


def test_sizes_for_people_and_the_real_attachment_limit():
    """Sizes in MB, and a mail's limit said also as what fits in attachments after base64 (issue 16)."""
    r = render(Reason.of("MESSAGE_TOO_LARGE", max=50 * 2**20))
    assert "50 MB" in r.en and "37 MB" in r.en and "37 MB" in r.vi  # 50 / (4/3 · 78/76) = 36.5
    assert "byte" not in r.line()
    big = render(Reason.of("TOO_LARGE", size=">536870912", max=536870912))
    assert "> 512 MB" in big.en and "512 MB" in big.vi
    assert "KB" in render(Reason.of("MESSAGE_TOO_LARGE", max=4096)).en


def test_unsupported_type_says_what_to_do():
    r = render(Reason.of("UNSUPPORTED_TYPE",
                         media_type="application/vnd.openxmlformats-officedocument.wordprocessingml.document"))
    assert "Word (.docx)" in r.vi and "lưu thành PDF" in r.vi and "gửi lại" in r.vi
    assert "save it as PDF" in r.en and "send it again" in r.en
    assert "application/x-odd" in render(Reason.of("UNSUPPORTED_TYPE", media_type="application/x-odd")).en


def test_citations_carry_numbers_and_the_law_in_force_on_the_day():
    """Issue 14: laws by their numbers; the state-secret law in force on the decision's date; no technical
    locations inside the Vietnamese sentence; 'chưa có hiệu lực' for a certificate not valid yet."""
    from datetime import date

    from gateway.reasons import state_secret_law

    secret = Reason.of("SECRET_MARKED", level="MẬT", where="ocr:page2")
    assert "29/2018/QH14" in render(secret, date(2026, 2, 28)).basis
    assert "117/2025/QH15" in render(secret, date(2026, 3, 1)).basis
    assert state_secret_law(date(2026, 3, 1)).endswith("số 117/2025/QH15")
    r = render(secret)
    assert "trang 2" in r.vi and "ocr:" not in r.vi and "page 2" in r.en
    assert "info:" not in render(Reason.of("SECRET_MARKED", level="MẬT", where="info:Subject")).vi
    # a finding in lines says "text:" + the lines' place, as the marks scan writes it: the place is named
    for where, vi in (("text:ocr:page2", "trang 2, phần ảnh quét"), ("text:annotation:page1", "chú thích trên trang 1"),
                      ("text:appearance:page3", "trang 3, hiện khi di chuột, bấm vào")):
        r = render(Reason.of("SECRET_MARKED", level="MẬT", where=where))
        assert vi in r.vi and "text:" not in r.vi + r.en, r
    assert "20/2023/QH15" in render(Reason.of("SIGNATURE_BROKEN", field="A")).basis
    assert "735/QĐ-UBND-HC" in render(Reason.of("SIGN_ORGANISATION")).basis
    assert "chưa có hiệu lực" in render(Reason.of("SIGNATURE_CERT_NOT_YET_VALID", field="A", signer="B")).vi
    assert "chưa có hiệu lực" in render(Reason.of("ORG_CERT_NOT_YET_VALID", not_before="x")).vi
    for text in CATALOG.values():
        assert "không chuỗi" not in text.vi


def test_where_a_mark_stands_reads_as_words_and_a_mail_header_is_not_a_page_header():
    from gateway.inspect import marks
    from gateway.reasons import place

    assert place("header:Subject") == ("dòng «Subject» trong phần đầu thư", "the mail header 'Subject'")
    assert place("header:mime:1.2 X-Classification")[1] == "the mail header 'X-Classification'"
    assert place("header")[1] == "the page header"  # an Office document's page header
    # a subject and its "[MẬT]" tag are one place: one finding, not two identical lines for the clerk
    found = marks.scan_metadata({"Subject": "[MẬT] báo cáo", "Subject tag classification": "MẬT"}, "header")
    assert [(f.level.value, f.where) for f in found.secrecy] == [("MẬT", "header:Subject")]


def test_a_members_reason_says_where_it_is_a_named_file_or_a_part_of_the_message():
    """A mail's text part has no file name: the clerk reads "Phần 1 của thư", never «?» or a bare code."""
    from gateway.rules import in_member

    secret = Reason.of("SECRET_MARKED", level="MẬT", where="text:body")
    body = render(in_member(secret, "mime:1"))
    assert body.vi.startswith("Phần 1 của thư: ") and body.en.startswith("Part 1 of the message: ")
    assert render(in_member(secret, "mime:0")).vi.startswith("Nội dung thư: ")
    named = render(in_member(in_member(secret, "b.pdf"), "a.zip"))
    assert named.vi.startswith("Tệp «a.zip/b.pdf» bên trong: ") and "?" not in named.vi
