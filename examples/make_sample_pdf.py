"""Makes examples/tai-lieu-mau.pdf, the sample document the README's commands send through the gateway.

    .venv/bin/python examples/make_sample_pdf.py [OUT.pdf]

An unsigned one-page A4 PDF with Vietnamese text (Liberation Serif, embedded): an annex-like working document,
so every door signs it with the organisation key (no state-secret mark, no number and signature block that
would make it an issued document needing the competent person's signature first). Written by us, free to use.
"""

from __future__ import annotations

import sys
from pathlib import Path

from reportlab.lib.pagesizes import A4
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas

FONTS = Path("/usr/share/fonts/truetype/liberation2")
OUT = Path(__file__).resolve().parent / "tai-lieu-mau.pdf"

LINES = (
    "Tài liệu này dùng để thử cổng ký số Kyso: gửi qua thư điện tử, thả vào thư mục xuất bản,",
    "hoặc đăng lên cổng thông tin điện tử. Cổng ký số ký số tài liệu bằng chứng thư số của cơ quan,",
    "tổ chức; kiểm tra lại bằng: .venv/bin/gateway verify <tệp đã ký>.",
    "",
    "1. Thư điện tử: swaks ... --attach-name tai-lieu-mau.pdf --attach @examples/tai-lieu-mau.pdf",
    "2. Thư mục: cp examples/tai-lieu-mau.pdf var/folders/inbox/",
    "3. Cổng thông tin: curl ... --data-binary @examples/tai-lieu-mau.pdf",
    "",
    "This document is for trying Kyso Gateway: send it by mail, drop it into the watched folder, or",
    "publish it through the portal hook. The gateway signs it with the organisation's certificate;",
    "check the result with: .venv/bin/gateway verify <signed file>.",
)


def make(out: Path = OUT) -> Path:
    pdfmetrics.registerFont(TTFont("KysoSerif", str(FONTS / "LiberationSerif-Regular.ttf")))
    pdfmetrics.registerFont(TTFont("KysoSerifBold", str(FONTS / "LiberationSerif-Bold.ttf")))
    c = canvas.Canvas(str(out), pagesize=A4, invariant=1)  # invariant: the same bytes every time
    c.setTitle("Tài liệu mẫu thử cổng ký số / Kyso Gateway sample document")
    c.setAuthor("Kyso Gateway")
    w, h = A4
    c.setFont("KysoSerifBold", 14)
    c.drawCentredString(w / 2, h - 90, "TÀI LIỆU MẪU THỬ CỔNG KÝ SỐ")
    c.setFont("KysoSerif", 12)
    c.drawCentredString(w / 2, h - 110, "Kyso Gateway sample document")
    y = h - 160
    for line in LINES:
        c.drawString(70, y, line)
        y -= 20
    c.setFont("KysoSerif", 9)
    c.drawCentredString(w / 2, 40, "Trang 1/1")
    c.showPage()
    c.save()
    return out


if __name__ == "__main__":
    print(make(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT))
