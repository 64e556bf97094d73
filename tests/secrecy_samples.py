"""Vietnamese positive and negative secrecy-mark sample PDFs, generated at test time (reportlab, Liberation Serif).

Positives place the mark the way Decree 30 Phụ lục I does: a red, bold, upper-case stamp in a box in the top-left
area (box 10a) under the number line; plus NFD text, letter-spaced stamps, a two-line narrow box, and marks only
in the metadata (Info, XMP). Negatives carry the same letters as ordinary words, a "GIẢI MẬT" stamp, upper-case
headings where MẬT is part of a phrase, and metadata about security. Each sample states what inspection must find.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from gateway.model import SecrecyLevel

FONT_DIR = Path("/usr/share/fonts/truetype/liberation")
RED = (0.85, 0.05, 0.05)
A4 = (595.28, 841.89)


def _fonts() -> tuple[str, str]:
    from util import _register_fonts

    return _register_fonts()


def _page(
    path: Path,
    *,
    stamp: list[str] | None = None,
    stamp_char_space: float = 0.0,
    body: list[str] = (),
    heading: list[str] = (),
    info: dict[str, str] | None = None,
    extra_pages: int = 0,
) -> None:
    """An A4 letter in the Decree 30 layout: agency + number top-left, optional boxed red stamp under it (10a)."""
    from reportlab.pdfgen import canvas

    regular, bold = _fonts()
    c = canvas.Canvas(str(path), pagesize=A4, pageCompression=0)
    info = info or {}
    c.setTitle(info.get("Title", "Công văn"))
    if "Subject" in info:
        c.setSubject(info["Subject"])
    if "Keywords" in info:
        c.setKeywords(info["Keywords"])
    w, h = A4
    c.setFont(regular, 13)
    c.drawString(60, h - 60, "UBND TỈNH THỬ NGHIỆM")
    c.drawString(360, h - 60, "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM")
    c.drawString(360, h - 78, "Độc lập - Tự do - Hạnh phúc")
    c.drawString(60, h - 100, "Số: 123/UBND-VP")
    c.drawString(360, h - 100, "Hà Nội, ngày 15 tháng 01 năm 2025")
    if stamp:
        # box 10a: a red rectangle with the mark in bold capitals, under the number
        lines = stamp
        box_w = max(c.stringWidth(s, bold, 14) + stamp_char_space * len(s) for s in lines) + 16
        box_h = 20 * len(lines) + 8
        top = h - 118
        c.setStrokeColorRGB(*RED)
        c.setFillColorRGB(*RED)
        c.setLineWidth(1.5)
        c.rect(60, top - box_h, box_w, box_h, stroke=1, fill=0)
        for i, s in enumerate(lines):
            t = c.beginText(68, top - 20 - 20 * i)
            t.setFont(bold, 14)
            t.setCharSpace(stamp_char_space)
            t.textLine(s)
            c.drawText(t)
        c.setFillColorRGB(0, 0, 0)
    y = h - 210
    c.setFont(bold, 14)
    for line in heading:
        c.drawCentredString(w / 2, y, line)
        y -= 20
    c.setFont(regular, 13)
    for line in body:
        c.drawString(60, y, line)
        y -= 18
    c.showPage()
    for n in range(extra_pages):
        c.setFont(regular, 13)
        c.drawString(60, h - 80, f"Trang {n + 2}")
        c.showPage()
    c.save()


def _with_xmp(path: Path, properties: str) -> None:
    """Add an XMP packet (dc / custom properties) to an existing PDF."""
    from pypdf import PdfReader, PdfWriter
    from pypdf.generic import DecodedStreamObject, NameObject

    xmp = (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:pdf="http://ns.adobe.com/pdf/1.3/" xmlns:vn="urn:example:vn-classification:1.0">'
        f"{properties}</rdf:Description></rdf:RDF></x:xmpmeta>"
        '<?xpacket end="w"?>'
    ).encode("utf-8")
    writer = PdfWriter(clone_from=PdfReader(path))
    stream = DecodedStreamObject()
    stream.set_data(xmp)
    stream[NameObject("/Type")] = NameObject("/Metadata")
    stream[NameObject("/Subtype")] = NameObject("/XML")
    writer._root_object[NameObject("/Metadata")] = writer._add_object(stream)
    with open(path, "wb") as fh:
        writer.write(fh)


BODY = [
    "Kính gửi: Sở Thông tin và Truyền thông.",
    "Thực hiện kế hoạch năm 2025, Ủy ban nhân dân tỉnh báo cáo như sau:",
]


@dataclass(frozen=True)
class Sample:
    name: str
    level: SecrecyLevel | None  # the highest mark inspection must report (None: none)
    build: Callable[[Path], None]
    recall: bool = False
    internal: bool = False
    where: str | None = None  # prefix the finding's `where` must start with (positives)


def _xmp_title(path: Path) -> None:
    _page(path, body=BODY)
    _with_xmp(path, '<dc:title><rdf:Alt><rdf:li xml:lang="x-default">TỐI MẬT</rdf:li></rdf:Alt></dc:title>')


def _xmp_classification(path: Path) -> None:
    _page(path, body=BODY)
    _with_xmp(path, "<vn:classification>tuyet-mat</vn:classification>")


def _xmp_security_words(path: Path) -> None:
    _page(path, body=BODY)
    _with_xmp(
        path,
        '<dc:title><rdf:Alt><rdf:li xml:lang="x-default">Quy chế bảo mật thông tin</rdf:li></rdf:Alt></dc:title>'
        "<dc:subject><rdf:Bag><rdf:li>bảo mật</rdf:li><rdf:li>mật khẩu</rdf:li><rdf:li>GIẢI MẬT</rdf:li>"
        "</rdf:Bag></dc:subject>",
    )


def _nfd(s: str) -> str:
    return unicodedata.normalize("NFD", s)


POSITIVE: tuple[Sample, ...] = (
    Sample("boxed-mat", SecrecyLevel.MAT, lambda p: _page(p, stamp=["MẬT"], body=BODY), where="text:page1"),
    Sample("boxed-toi-mat", SecrecyLevel.TOI_MAT, lambda p: _page(p, stamp=["TỐI MẬT"], body=BODY), where="text:page1"),
    Sample(
        "boxed-tuyet-mat", SecrecyLevel.TUYET_MAT, lambda p: _page(p, stamp=["TUYỆT MẬT"], body=BODY), where="text:page1"
    ),
    Sample("nfd-toi-mat", SecrecyLevel.TOI_MAT, lambda p: _page(p, stamp=[_nfd("TỐI MẬT")], body=BODY)),
    Sample("spaced-letters", SecrecyLevel.MAT, lambda p: _page(p, stamp=["M Ậ T"], body=BODY)),
    Sample("spaced-two-words", SecrecyLevel.TUYET_MAT, lambda p: _page(p, stamp=["T U Y Ệ T   M Ậ T"], body=BODY)),
    Sample("char-spacing", SecrecyLevel.TOI_MAT, lambda p: _page(p, stamp=["TỐI MẬT"], stamp_char_space=6, body=BODY)),
    Sample("narrow-box-two-lines", SecrecyLevel.TOI_MAT, lambda p: _page(p, stamp=["TỐI", "MẬT"], body=BODY)),
    Sample("with-urgency", SecrecyLevel.MAT, lambda p: _page(p, stamp=["MẬT", "HỎA TỐC"], body=BODY)),
    Sample("label-and-mark", SecrecyLevel.TOI_MAT, lambda p: _page(p, body=["ĐỘ MẬT: TỐI MẬT", *BODY])),
    Sample(
        "info-subject-only",
        SecrecyLevel.MAT,
        lambda p: _page(p, body=BODY, info={"Title": "Báo cáo", "Subject": "MẬT"}),
        where="info:Subject",
    ),
    Sample(
        "info-keywords-only",
        SecrecyLevel.TOI_MAT,
        lambda p: _page(p, body=BODY, info={"Keywords": "báo cáo, toi mat, 2025"}),
        where="info:Keywords",
    ),
    Sample("xmp-title-only", SecrecyLevel.TOI_MAT, _xmp_title, where="xmp"),
    Sample("xmp-classification-only", SecrecyLevel.TUYET_MAT, _xmp_classification, where="xmp"),
    Sample(
        "recall-and-mat",
        SecrecyLevel.MAT,
        lambda p: _page(p, stamp=["MẬT"], body=[*BODY, "", "TÀI LIỆU THU HỒI"]),
        recall=True,
    ),
)

NEGATIVE: tuple[Sample, ...] = (
    Sample(
        "ordinary-words",
        None,
        lambda p: _page(
            p,
            body=[
                "Đề nghị các đơn vị giữ bí mật thông tin cá nhân, tăng cường bảo mật hệ thống,",
                "thay đổi mật khẩu định kỳ; mật độ dân số tăng; quan hệ mật thiết; Mật ong rừng.",
                "Người dùng phải giữ bí",
                "mật.",
            ],
        ),
    ),
    Sample("declassified-stamp", None, lambda p: _page(p, stamp=["GIẢI MẬT"], body=BODY)),
    Sample("declassified-spaced", None, lambda p: _page(p, stamp=["G I Ả I   M Ậ T"], body=BODY)),
    Sample("lowercase-sentence", None, lambda p: _page(p, body=["Văn bản này không có nội dung mật.", *BODY])),
    Sample("title-mat-do", None, lambda p: _page(p, heading=["BÁO CÁO", "MẬT ĐỘ DÂN SỐ NĂM 2025"], body=BODY)),
    Sample(
        "title-bao-ve-bi-mat",
        None,
        lambda p: _page(p, heading=["QUY CHẾ", "BẢO VỆ BÍ MẬT NHÀ NƯỚC", "TRONG CÔNG TÁC BẢO", "MẬT"], body=BODY),
    ),
    Sample("title-tai-lieu-mat", None, lambda p: _page(p, heading=["DANH MỤC TÀI LIỆU MẬT"], body=BODY)),
    Sample("title-mat-khau", None, lambda p: _page(p, heading=["HƯỚNG DẪN ĐẶT MẬT KHẨU"], body=BODY)),
    Sample(
        "info-security-words",
        None,
        lambda p: _page(p, body=BODY, info={"Title": "Quy chế bảo mật", "Keywords": "bảo mật, mật khẩu, giải mật"}),
    ),
    Sample("xmp-security-words", None, _xmp_security_words),
    Sample("internal-circulation", None, lambda p: _page(p, stamp=["LƯU HÀNH NỘI BỘ"], body=BODY), internal=True),
    Sample("recall-only", None, lambda p: _page(p, body=[*BODY, "TÀI LIỆU THU HỒI"]), recall=True),
)


def generate(directory: Path, samples=POSITIVE + NEGATIVE) -> dict[str, Path]:
    """Write every sample PDF into `directory`; returns name -> path."""
    directory.mkdir(parents=True, exist_ok=True)
    out = {}
    for s in samples:
        path = directory / f"{s.name}.pdf"
        s.build(path)
        out[s.name] = path
    return out


def image_only_stamp(path: Path) -> None:
    """A red box with crude strokes (no text, no letters): OCR reads nothing in it."""
    from reportlab.pdfgen import canvas

    c = canvas.Canvas(str(path), pagesize=A4)
    w, h = A4
    c.setStrokeColorRGB(*RED)
    c.rect(60, h - 150, 60, 28)
    # crude letters as strokes
    c.lines([(66, h - 145, 72, h - 127), (72, h - 127, 78, h - 140), (78, h - 140, 84, h - 127), (84, h - 127, 90, h - 145)])
    c.showPage()
    c.save()
