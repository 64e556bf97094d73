"""Pages with secrecy stamps drawn out of their usual shape (issue 13), shared by the tests that pin each case
(tests/hardening/test_hard_ocr_shapes.py, test_hard_ocr_ink.py) and the bench that counts the variants
(bench/bench_stamps.py): a text page with a word drawn on it, hollow lettering, a boxed stamp picture, a whole
page scanned with a stamp askew on it (over the body text or a table's rules), and a page scanned again as a
scanner would.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
DEJAVU_BOLD = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
SERIF_BOLD = "/usr/share/fonts/truetype/liberation2/LiberationSerif-Bold.ttf"
BODY = [
    "ỦY BAN NHÂN DÂN TỈNH",
    "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
    "Độc lập - Tự do - Hạnh phúc",
    "Số: 123/UBND-VP",
    "Kính gửi: Các sở, ban, ngành tỉnh.",
    "Ủy ban nhân dân tỉnh đề nghị các cơ quan, đơn vị triển khai thực hiện",
    "các nhiệm vụ trọng tâm theo kế hoạch đã được phê duyệt.",
]


def outline_ops(text: str, size: float, x: float = 0.0, y: float = 0.0, font: str = DEJAVU_BOLD) -> str:
    """PDF path operators (no painting operator) of `text`'s glyph outlines in `font` (DejaVu Sans Bold)."""
    from fontTools.pens.basePen import BasePen
    from fontTools.ttLib import TTFont

    ft = TTFont(font)
    cmap, glyphs, k = ft.getBestCmap(), ft.getGlyphSet(), size / ft["head"].unitsPerEm
    ops: list[str] = []
    dx = [0.0]

    class Pen(BasePen):
        def at(self, p):
            return f"{x + p[0] * k + dx[0]:.2f} {y + p[1] * k:.2f}"

        def _moveTo(self, p):
            ops.append(self.at(p) + " m")

        def _lineTo(self, p):
            ops.append(self.at(p) + " l")

        def _curveToOne(self, a, b, c):
            ops.append(f"{self.at(a)} {self.at(b)} {self.at(c)} c")

        def _closePath(self):
            ops.append("h")

    for ch in unicodedata.normalize("NFC", text):
        name = cmap.get(ord(ch))
        if name is None:
            dx[0] += size * 0.5
            continue
        glyphs[name].draw(Pen(glyphs))
        dx[0] += glyphs[name].width * k
    return "\n".join(ops)


def text_page(path: Path, draw) -> Path:
    """A text page (Vietnamese body in DejaVu Sans) on which `draw(canvas)` adds the word under test."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.pdfgen import canvas

    try:
        pdfmetrics.getFont("SHP-DV")
    except KeyError:
        pdfmetrics.registerFont(TTFont("SHP-DV", FONT))
    c = canvas.Canvas(str(path), pagesize=(595, 842))
    y = 600
    for line in BODY:
        c.setFont("SHP-DV", 12)
        c.drawString(70, y, line)
        y -= 22
    draw(c)
    c.showPage()
    c.save()
    return path


def stamp_picture(text: str, font: str, rgb=(0, 0, 0), frame: bool = True):
    from PIL import Image, ImageDraw, ImageFont

    f = ImageFont.truetype(font, 64)
    l, t, r, b = f.getbbox(text)
    im = Image.new("RGB", (r - l + 42, b - t + 42), "white")
    d = ImageDraw.Draw(im)
    d.text((21 - l, 21 - t), text, font=f, fill=rgb)
    if frame:
        d.rectangle([2, 2, im.size[0] - 3, im.size[1] - 3], outline=rgb, width=4)
    return im


def hollow(path: Path, word: str, font: str, size: float, pen: float) -> Path:
    ops = outline_ops(word, size, 70, 700, font=font)
    return text_page(path, lambda c: c._code.append(f"q 0 0 0 RG {pen} w 1 j " + ops + " S Q"))


def askew_scan(path: Path, word: str, font: str, angle: float, rgb, table: bool = False,
                stamps: list | None = None, at: tuple[int, int] = (700, 160)) -> Path:
    """A page scanned at 150 dpi (a PDF of one picture, no text layer) with a boxed stamp of `word` in `rgb`
    turned `angle` degrees, its top left `at` (pixels; the body text starts at y 700); `table`: the stamp
    stands on a ruled table; `stamps`: more stamps, (word, angle, (x, y)) each."""
    from PIL import Image, ImageChops, ImageDraw, ImageFont
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    f = ImageFont.truetype(FONT, 30)
    page = Image.new("RGB", (1240, 1754), "white")
    d = ImageDraw.Draw(page)
    for i, line in enumerate(BODY):
        d.text((140, 700 + 56 * i), line, font=f, fill=(0, 0, 0))
    if table:  # rules every 90 px across the stamp's corner: the stamp touches them
        for y in range(100, 500, 90):
            d.line([(600, y), (1180, y)], fill=(0, 0, 0), width=3)
        for x in (600, 890, 1180):
            d.line([(x, 100), (x, 460)], fill=(0, 0, 0), width=3)
    for w, a, (x, y) in [(word, angle, at)] + (stamps or []):
        stamp = stamp_picture(w, font, rgb).rotate(a, expand=True, resample=Image.BICUBIC,
                                                    fillcolor=(255, 255, 255))
        box = (x, y, x + stamp.size[0], y + stamp.size[1])
        page.paste(ImageChops.darker(page.crop(box), stamp), box)  # printed over what is there
    c = canvas.Canvas(str(path), pagesize=(595, 842))
    c.drawImage(ImageReader(page), 0, 0, 595, 842)
    c.showPage()
    c.save()
    return path


def noisy(pdf: Path, out: Path, dpi: int) -> Path:
    """`pdf` scanned again as a scanner would (1-3 degrees of skew, noise, grey; bench/secrecy_corpus.scan)."""
    from bench import secrecy_corpus

    secrecy_corpus.scan(pdf, out, "pdf", seed=dpi, dpi=dpi)
    return out
