"""Decree 30 documents generated at test time (reportlab, Liberation Serif): issued documents of many types,
appendices, copies and ordinary correspondence, on A4, A5, landscape and rotated pages, as text PDFs and as
scans (rendered by pdftoppm and wrapped as image-only PDFs). Each sample states the kind inspection must find.

The layout follows Nghị định 30/2020/NĐ-CP Phụ lục I: issuing body top left, motto top right, number under the
issuing body, place and date under the motto, the type name and title centred, the body, "Nơi nhận" bottom
left, the signature block bottom right (authority, title, space for the signature, name).
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from gateway.model import DocKind

A4 = (595.28, 841.89)
A5 = (419.53, 595.28)


def _fonts() -> tuple[str, str]:
    from util import _register_fonts

    return _register_fonts()


@dataclass(frozen=True)
class Spec:
    """What to draw. `header`/`closing` False leave those parts out (correspondence, appendices)."""

    doc_type: str | None = "QUYẾT ĐỊNH"  # None: công văn (a "V/v" line instead)
    number: str = "12/QĐ-UBND"
    title: str = "Về việc phê duyệt kế hoạch cải cách hành chính năm 2025"
    issuer: tuple[str, ...] = ("ỦY BAN NHÂN DÂN", "TỈNH THỬ NGHIỆM")
    place_date: str = "Thử Nghiệm, ngày 15 tháng 01 năm 2025"
    body: tuple[str, ...] = (
        "Căn cứ Luật Tổ chức chính quyền địa phương ngày 19 tháng 6 năm 2015;",
        "Căn cứ Nghị định số 30/2020/NĐ-CP ngày 05 tháng 3 năm 2020 của Chính phủ về công tác văn thư;",
        "Theo đề nghị của Chánh Văn phòng Ủy ban nhân dân tỉnh.",
        "Điều 1. Phê duyệt kế hoạch cải cách hành chính năm 2025 kèm theo Quyết định này.",
        "Điều 2. Quyết định này có hiệu lực kể từ ngày ký.",
        "Điều 3. Chánh Văn phòng, Thủ trưởng các sở, ban, ngành chịu trách nhiệm thi hành Quyết định này.",
    )
    signer: tuple[str, ...] = ("KT. CHỦ TỊCH", "PHÓ CHỦ TỊCH")
    name: str = "Nguyễn Văn An"
    recipients: tuple[str, ...] = ("- Như Điều 3;", "- Lưu: VT, VP.")
    header: bool = True
    closing: bool = True
    top_lines: tuple[str, ...] = ()  # drawn centred at the top instead of the header (appendix headings)
    copy_block: tuple[str, ...] = ()  # a copy form block after the closing: ("SAO Y", "Số: 05/SY-VP", ...)
    pagesize: tuple[float, float] = A4
    landscape: bool = False
    rotate: int = 0  # /Rotate of the page (content drawn so that it reads upright when displayed)
    extra_pages: tuple[tuple[str, ...], ...] = ()  # further pages, centred lines (an appendix inside)


def draw(path: Path, spec: Spec) -> Path:
    from reportlab.pdfgen import canvas

    regular, bold = _fonts()
    w, h = spec.pagesize
    if spec.landscape:
        w, h = h, w
    path.parent.mkdir(parents=True, exist_ok=True)
    c = canvas.Canvas(str(path), pagesize=(w, h), pageCompression=0)
    scale = w / A4[0] if not spec.landscape else h / A4[0]
    fs = 13 * min(1.0, max(0.75, scale))
    left_c = 60 + 110 * scale  # centre of the left column
    right_c = w - 40 - 150 * scale  # centre of the right column
    y = h - 57 - fs  # the top margin of Phụ lục I: 20 mm
    step = fs * 1.35

    def centred(text: str, x: float, font=regular, size=fs) -> None:
        c.setFont(font, size)
        c.drawCentredString(x, y, text)

    if spec.header:
        centred(spec.issuer[0], left_c)
        centred("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", right_c, bold, fs * 0.92)
        y -= step
        if len(spec.issuer) > 1:
            centred(spec.issuer[1], left_c, bold)
        centred("Độc lập - Tự do - Hạnh phúc", right_c, bold)
        y -= step * 1.5
        centred(f"Số: {spec.number}", left_c)
        c.setFont(regular, fs)
        c.drawCentredString(right_c, y, spec.place_date)
        y -= step
        if spec.doc_type is None:
            centred(f"V/v {spec.title[:40]}", left_c, regular, fs * 0.9)
            y -= step * 1.5
        else:
            y -= step
            centred(spec.doc_type, w / 2, bold, fs * 1.05)
            y -= step
            centred(spec.title, w / 2, bold)
            y -= step * 1.6
    for line in spec.top_lines:
        centred(line, w / 2, bold if line.isupper() else regular)
        y -= step
    c.setFont(regular, fs)
    x_body = 60 * scale + 20
    for line in spec.body:
        c.drawString(x_body, y, line[: int((w - x_body - 30) / (fs * 0.45))])
        y -= step
    if spec.closing:
        y -= step
        top = y
        c.setFont(bold, fs * 0.9)
        c.drawString(x_body, y, "Nơi nhận:")
        c.setFont(regular, fs * 0.8)
        for r in spec.recipients:
            y -= step * 0.8
            c.drawString(x_body, y, r)
        y = top
        for s in spec.signer:
            centred(s, right_c, bold)
            y -= step
        y -= step * 3  # room for the signature
        centred(spec.name, right_c, bold)
        y -= step * 2
    if spec.copy_block:
        c.setDash(2, 2)
        c.line(x_body, y, w - 40, y)
        c.setDash()
        y -= step * 1.4
        for line in spec.copy_block:
            x = left_c if line.startswith(("Số", "ỦY", "VĂN", "SỞ", "UBND")) else w / 2
            centred(line, x, bold if line.isupper() else regular)
            y -= step
    c.showPage()
    for page in spec.extra_pages:
        y = h - 60
        for line in page:
            centred(line, w / 2, bold if line.isupper() else regular)
            y -= step
        c.showPage()
    c.save()
    if spec.rotate:
        _rotate(path, spec.rotate)
    return path


def _rotate(path: Path, degrees: int) -> None:
    """Rewrite every page so that /Rotate `degrees` shows it as drawn (content turned the other way)."""
    from pypdf import PdfWriter, Transformation

    writer = PdfWriter(clone_from=str(path))
    for page in writer.pages:
        w, h = float(page.mediabox.width), float(page.mediabox.height)
        if degrees == 90:
            t = Transformation().rotate(90).translate(h, 0)
            size = (h, w)
        elif degrees == 270:
            t = Transformation().rotate(270).translate(0, w)
            size = (h, w)
        else:
            t = Transformation().rotate(180).translate(w, h)
            size = (w, h)
        page.add_transformation(t)
        page.mediabox.lower_left = (0, 0)
        page.mediabox.upper_right = size
        page.cropbox = page.mediabox
        page.rotation = degrees
    with open(path, "wb") as fh:
        writer.write(fh)


def scan(src: Path, dst: Path, dpi: int = 200) -> Path:
    """An image-only PDF of `src` as a scanner makes it (grey, no text layer)."""
    from PIL import Image

    prefix = dst.with_suffix("")
    subprocess.run(["pdftoppm", "-r", str(dpi), "-gray", "-png", str(src), str(prefix)], check=True)
    pages = sorted(prefix.parent.glob(prefix.name + "-*.png"))
    images = [Image.open(p).convert("L") for p in pages]
    images[0].save(dst, "PDF", resolution=dpi, save_all=True, append_images=images[1:])
    for p in pages:
        p.unlink()
    return dst


def ocr_lines(pdf: Path, dpi: int = 200):
    """Lines of an image-only PDF by Tesseract (vie), with boxes in points (the Line contract of reading.py).

    A stand-in for the readers' OCR in tests of the form recogniser alone; the pipeline uses the reader's."""
    from gateway.inspect.reading import Line

    tess = shutil.which("tesseract")
    if tess is None:
        raise RuntimeError("tesseract not installed")
    tmp = pdf.with_suffix(".ocr")
    tmp.mkdir(exist_ok=True)
    subprocess.run(["pdftoppm", "-r", str(dpi), "-gray", "-png", str(pdf), str(tmp / "p")], check=True)
    out = []
    for page_ix, png in enumerate(sorted(tmp.glob("p-*.png"))):
        tsv = subprocess.run([tess, str(png), "-", "-l", "vie", "--psm", "4", "tsv"], capture_output=True, check=True).stdout
        rows: dict[tuple, list] = {}
        for raw in tsv.decode("utf-8").splitlines()[1:]:
            cols = raw.split("\t")
            if len(cols) < 12 or cols[0] != "5" or not cols[11].strip():
                continue
            key = (int(cols[2]), int(cols[3]), int(cols[4]))
            rows.setdefault(key, []).append((int(cols[6]), int(cols[7]), int(cols[8]), int(cols[9]), cols[11]))
        k = 72 / dpi
        for key in sorted(rows, key=lambda r: (min(w[1] for w in rows[r]), r)):
            words = sorted(rows[key])
            text = ""
            prev_end = None
            for x, y, ww, hh, t in words:
                gap = (x - prev_end) if prev_end is not None else 0
                text += ("     " if gap > 60 else " ") + t if text else t  # a wide gap: another column
                prev_end = x + ww
            x0 = min(w[0] for w in words) * k
            y0 = min(w[1] for w in words) * k
            x1 = max(w[0] + w[2] for w in words) * k
            y1 = max(w[1] + w[3] for w in words) * k
            out.append(Line(text, f"ocr:page{page_ix + 1}", page_ix, (x0, y0, x1, y1)))
        png.unlink()
    tmp.rmdir()
    return out


# --- the set -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    name: str
    kind: DocKind
    spec: Spec
    scanned: bool = False
    note: str = ""


def _issued() -> list[Sample]:
    out = [
        Sample("qd-kt-a4", DocKind.ISSUED, Spec()),
        Sample("qd-tm-a4", DocKind.ISSUED, Spec(signer=("TM. ỦY BAN NHÂN DÂN", "CHỦ TỊCH"), name="Trần Thị Bình")),
        Sample("cv-q-a4", DocKind.ISSUED, Spec(doc_type=None, number="345/UBND-VP", signer=("Q. CHÁNH VĂN PHÒNG",),
                                               title="Về việc triển khai chữ ký số chuyên dùng", name="Lê Văn Cường")),
        Sample("tb-tl", DocKind.ISSUED, Spec(doc_type="THÔNG BÁO", number="56/TB-UBND", title="Kết luận của Chủ tịch",
                                             signer=("TL. CHỦ TỊCH", "CHÁNH VĂN PHÒNG"))),
        Sample("kh-a4", DocKind.ISSUED, Spec(doc_type="KẾ HOẠCH", number="78/KH-SNV", title="Chuyển đổi số năm 2025",
                                             issuer=("UBND TỈNH THỬ NGHIỆM", "SỞ NỘI VỤ"), signer=("GIÁM ĐỐC",),
                                             name="Phạm Minh Đức")),
        Sample("bc-tuq", DocKind.ISSUED, Spec(doc_type="BÁO CÁO", number="90/BC-UBND", title="Tình hình quản lý chứng thư số",
                                              signer=("TUQ. CHỦ TỊCH", "GIÁM ĐỐC SỞ NỘI VỤ"))),
        Sample("ttr", DocKind.ISSUED, Spec(doc_type="TỜ TRÌNH", number="11/TTr-SNV", title="Đề nghị phê duyệt đề án",
                                           issuer=("UBND TỈNH THỬ NGHIỆM", "SỞ NỘI VỤ"), signer=("GIÁM ĐỐC",))),
        Sample("gm", DocKind.ISSUED, Spec(doc_type="GIẤY MỜI", number="21/GM-UBND", title="Dự hội nghị tổng kết",
                                          signer=("TL. CHỦ TỊCH", "KT. CHÁNH VĂN PHÒNG", "PHÓ CHÁNH VĂN PHÒNG"))),
        Sample("ct", DocKind.ISSUED, Spec(doc_type="CHỈ THỊ", number="03/CT-UBND", title="Về tăng cường kỷ cương hành chính",
                                          signer=("CHỦ TỊCH",), name="Hoàng Văn Em")),
        Sample("nq", DocKind.ISSUED, Spec(doc_type="NGHỊ QUYẾT", number="15/NQ-HĐND", issuer=("HỘI ĐỒNG NHÂN DÂN", "TỈNH THỬ NGHIỆM"),
                                          title="Về dự toán ngân sách năm 2025", signer=("CHỦ TỊCH",))),
        Sample("hd", DocKind.ISSUED, Spec(doc_type="HƯỚNG DẪN", number="07/HD-STTTT", title="Sử dụng chữ ký số",
                                          issuer=("UBND TỈNH THỬ NGHIỆM", "SỞ THÔNG TIN VÀ TRUYỀN THÔNG"),
                                          signer=("KT. GIÁM ĐỐC", "PHÓ GIÁM ĐỐC"))),
        Sample("bb", DocKind.ISSUED, Spec(doc_type="BIÊN BẢN", number="02/BB-VP", title="Họp giao ban tháng 01",
                                          issuer=("UBND TỈNH THỬ NGHIỆM", "VĂN PHÒNG"), signer=("CHÁNH VĂN PHÒNG",))),
        Sample("qd-a5", DocKind.ISSUED, Spec(pagesize=A5, body=Spec().body[:3])),
        Sample("qd-landscape", DocKind.ISSUED, Spec(landscape=True, body=Spec().body[:2])),
        Sample("qd-rotated", DocKind.ISSUED, Spec(landscape=True, rotate=90, body=Spec().body[:2])),
        Sample("qd-draft-nonumber", DocKind.ISSUED, Spec(number="     /QĐ-UBND")),
        Sample("qd-with-appendix-inside", DocKind.ISSUED, Spec(extra_pages=(
            ("PHỤ LỤC", "(Kèm theo Quyết định số 12/QĐ-UBND ngày 15/01/2025)", "1. Nhiệm vụ thứ nhất"),))),
        Sample("cv-a5", DocKind.ISSUED, Spec(doc_type=None, number="88/SNV-VP", pagesize=A5, body=Spec().body[:2],
                                             issuer=("UBND TỈNH THỬ NGHIỆM", "SỞ NỘI VỤ"), signer=("GIÁM ĐỐC",))),
    ]
    return out


def _appendices() -> list[Sample]:
    common = dict(header=False, closing=False, body=("1. Rà soát thủ tục hành chính.", "2. Triển khai chữ ký số.",
                                                      "3. Báo cáo kết quả thực hiện."))
    return [
        Sample("pl-qd", DocKind.ATTACHMENT, Spec(top_lines=("PHỤ LỤC", "DANH MỤC NHIỆM VỤ",
                                                             "(Kèm theo Quyết định số 12/QĐ-UBND ngày 15/01/2025 của UBND tỉnh)"), **common)),
        Sample("pl-i-kh", DocKind.ATTACHMENT, Spec(top_lines=("PHỤ LỤC I", "CHỈ TIÊU CHUYỂN ĐỔI SỐ",
                                                               "(Kèm theo Kế hoạch số 78/KH-SNV ngày 20/02/2025 của Sở Nội vụ)"), **common)),
        Sample("pl-two-lines", DocKind.ATTACHMENT, Spec(top_lines=("PHỤ LỤC 02", "(Kèm theo Công văn số",
                                                                    "345/UBND-VP ngày 01/3/2025 của UBND tỉnh)"), **common)),
        Sample("pl-landscape", DocKind.ATTACHMENT, Spec(landscape=True, top_lines=(
            "PHỤ LỤC", "(Kèm theo Thông báo số 56/TB-UBND ngày 10/3/2025)"), **common)),
        Sample("pl-a5", DocKind.ATTACHMENT, Spec(pagesize=A5, top_lines=(
            "PHỤ LỤC", "(Kèm theo Quyết định số 9/QĐ-SNV)"), **common)),
        Sample("pl-rotated", DocKind.ATTACHMENT, Spec(landscape=True, rotate=90, top_lines=(
            "PHỤ LỤC III", "(Kèm theo Báo cáo số 90/BC-UBND ngày 30/6/2025)"), **common)),
    ]


def _copies() -> list[Sample]:
    block = ("ỦY BAN NHÂN DÂN TỈNH", "SAO Y", "Số: 05/SY-VP", "Thử Nghiệm, ngày 20 tháng 01 năm 2025",
             "TL. CHỦ TỊCH", "CHÁNH VĂN PHÒNG", "Lê Văn Cường")
    return [
        Sample("sy-qd", DocKind.COPY, Spec(body=Spec().body[:2], copy_block=block)),
        Sample("sl-cv", DocKind.COPY, Spec(doc_type=None, number="345/UBND-VP", body=Spec().body[:2],
                                           copy_block=tuple(x.replace("SAO Y", "SAO LỤC").replace("SY", "SL") for x in block))),
        Sample("ts-kh", DocKind.COPY, Spec(doc_type="KẾ HOẠCH", number="78/KH-SNV", body=Spec().body[:1],
                                           copy_block=tuple(x.replace("SAO Y", "TRÍCH SAO").replace("SY", "TS") for x in block))),
        Sample("sy-a5", DocKind.COPY, Spec(pagesize=A5, body=(), copy_block=block[1:3] + block[4:])),
    ]


def _correspondence() -> list[Sample]:
    plain = dict(header=False, closing=False)
    return [
        Sample("letter", DocKind.CORRESPONDENCE, Spec(body=("Kính gửi anh chị,", "Xin gửi tài liệu họp tuần sau.",
                                                            "Trân trọng."), **plain)),
        Sample("news-quoting", DocKind.CORRESPONDENCE, Spec(body=(
            "Bản tin nội bộ tháng 3.", "Ngày 15/01/2025 UBND tỉnh ban hành Quyết định số 12/QĐ-UBND về cải cách hành chính.",
            "Theo Công văn số 345/UBND-VP, các sở triển khai chữ ký số.", "Số: 12/QĐ-UBND được đăng trên cổng."), **plain)),
        Sample("header-only", DocKind.CORRESPONDENCE, Spec(doc_type=None, closing=False, body=("Nội dung trao đổi.",))),
        Sample("heading-only", DocKind.CORRESPONDENCE, Spec(top_lines=("KẾ HOẠCH CÔNG TÁC THÁNG 4",),
                                                            body=("1. Họp giao ban.", "2. Tập huấn."), **plain)),
        Sample("minutes-free", DocKind.CORRESPONDENCE, Spec(top_lines=("Ghi chép cuộc họp",), body=(
            "Thành phần: phòng Hành chính.", "Nội dung: chuẩn bị hội nghị.", "Người ghi: Nguyễn Văn An"), **plain)),
        Sample("english", DocKind.CORRESPONDENCE, Spec(top_lines=("MEMORANDUM",), body=(
            "To: partners", "Subject: schedule", "Signed: J. Smith"), **plain)),
        Sample("table-sheet", DocKind.CORRESPONDENCE, Spec(top_lines=("DANH SÁCH CÁN BỘ",), body=(
            "STT   Họ và tên   Chức vụ", "1   Nguyễn Văn An   Chuyên viên", "2   Trần Thị Bình   Chuyên viên"), **plain)),
        Sample("appendix-word-in-body", DocKind.CORRESPONDENCE, Spec(body=(
            "Ghi chú trao đổi.", "Xem phụ lục kèm theo Quyết định số 12/QĐ-UBND.", "Hết."), **plain)),
        Sample("sao-y-in-prose", DocKind.CORRESPONDENCE, Spec(body=(
            "Hướng dẫn: bản sao y phải có số và ký hiệu riêng.", "Thí dụ: sao y bản chính."), **plain)),
    ]


def samples() -> list[Sample]:
    """Every text sample, and a scanned twin of most (OCR must find the same kind)."""
    text = _issued() + _appendices() + _copies() + _correspondence()
    scanned = [Sample(s.name + "-scan", s.kind, s.spec, True) for s in text if s.name not in {"english"}]
    return text + scanned


def build(sample: Sample, directory: Path) -> Path:
    """The sample's PDF in `directory` (cached by name: the set is deterministic)."""
    directory.mkdir(parents=True, exist_ok=True)
    base = directory / f"{sample.name.removesuffix('-scan')}.pdf"
    if not base.exists():
        draw(base, sample.spec)
    if not sample.scanned:
        return base
    out = directory / f"{sample.name}.pdf"
    if not out.exists():
        scan(base, out)
    return out
