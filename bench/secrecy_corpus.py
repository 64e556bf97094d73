"""The labelled secrecy set (issue 13): Decree 30 documents with and without marks, in every variant the gateway
must see through, generated deterministically and cached outside the repository.

    python -m bench.secrecy_corpus [--dir DIR] [--small]     # build (or reuse) the set, print its classes

Each `Sample` says what a reader must find: the highest secrecy level (None for negatives), the box-11
marks, the variant class, and whether a person reads the mark at normal zoom (`readable`; hidden text is
labelled apart). Layouts: Quyết định, Công văn, Báo cáo, Tờ trình, Kế hoạch, Phụ lục; A4 portrait and
landscape, A5; Liberation and DejaVu fonts; legacy TCVN3 (.VnTimeH) and VNI fonts built from Liberation with
fontTools; scanned variants rendered with noise, 1-3° skew, 150-300 dpi, wrapped as image-only PDFs or
image files.

The cache directory (default: $KYSO_SECRECY_CORPUS, else ~/.cache/kyso-gateway/secrecy-<version>) holds one
file per sample and a manifest; a changed generator version builds a new directory. Tests use `small()`
(one sample per class) in a temporary directory.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import unicodedata
from dataclasses import asdict, dataclass, field
from pathlib import Path

VERSION = "11"
RED = (0.85, 0.05, 0.05)
A4 = (595.28, 841.89)
A5 = (419.53, 595.28)
LIB = Path("/usr/share/fonts/truetype/liberation2")
LIB_OLD = Path("/usr/share/fonts/truetype/liberation")
DEJAVU = Path("/usr/share/fonts/truetype/dejavu")

MAT, TOI, TUYET = "MẬT", "TỐI MẬT", "TUYỆT MẬT"


@dataclass
class Sample:
    name: str
    cls: str  # variant class
    level: str | None  # highest secrecy level expected (None: a negative)
    marks: tuple[str, ...] = ()  # CirculationMark values expected
    readable: bool = True  # a person reads the mark at normal zoom
    kind: str = "pdf"  # pdf, png, jpeg, tiff
    scanned: bool = False
    pages: int = 1
    spec: dict = field(default_factory=dict)
    grainy: bool = False  # grain or noise: the gateway may refuse it as too grainy (SCAN_TOO_GRAINY), never sign it

    @property
    def filename(self) -> str:
        return f"{self.name}.{ {'jpeg': 'jpg'}.get(self.kind, self.kind) }"


# --- fonts --------------------------------------------------------------------------------------------------


def _font_file(name: str) -> Path:
    for d in (LIB, LIB_OLD, DEJAVU):
        p = d / name
        if p.exists():
            return p
    raise FileNotFoundError(name)


FAMILIES = {
    "LiberationSerif": ("LiberationSerif-Regular.ttf", "LiberationSerif-Bold.ttf"),
    "LiberationSans": ("LiberationSans-Regular.ttf", "LiberationSans-Bold.ttf"),
    "DejaVuSerif": ("DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf"),
    "DejaVuSans": ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf"),
}


def families() -> list[str]:
    out = []
    for fam, files in FAMILIES.items():
        try:
            [_font_file(f) for f in files]
            out.append(fam)
        except FileNotFoundError:
            pass
    return out


def _register(fam: str) -> tuple[str, str]:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    names = (f"K{fam}", f"K{fam}Bold")
    for name, file in zip(names, FAMILIES[fam]):
        try:
            pdfmetrics.getFont(name)
        except KeyError:
            pdfmetrics.registerFont(TTFont(name, str(_font_file(file))))
    return names


_LEGACY_FONTS: dict[str, str] = {}


def _legacy_font(encoding: str, cache: Path, fontname: str | None = None) -> str:
    """A TrueType font whose Latin-1 code points draw Vietnamese letters as the legacy encoding does
    ("tcvn3", "tcvn3-caps", "vni"), registered with reportlab; returns its reportlab name."""
    from fontTools.ttLib import TTFont as FT
    from fontTools.ttLib.tables._g_l_y_f import Glyph, GlyphComponent
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    from gateway.inspect import legacy

    psname = fontname or {"tcvn3": ".VnTime", "tcvn3-caps": ".VnTimeH", "vni": "VNI-Times"}[encoding]
    key = f"{encoding}:{psname}"
    if key in _LEGACY_FONTS:
        return _LEGACY_FONTS[key]
    out = cache / "fonts" / f"{encoding}-{psname.strip('.')}.ttf"
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        f = FT(str(_font_file("LiberationSerif-Bold.ttf")))
        cmap = f.getBestCmap()
        glyf = f["glyf"]
        hmtx = f["hmtx"]
        order = f.getGlyphOrder()
        mapping: dict[int, str] = {}
        if encoding.startswith("tcvn3"):
            for code, uni in legacy.TCVN3.items():
                target = uni.upper() if encoding == "tcvn3-caps" else uni
                if len(target) == 1 and ord(target) in cmap:
                    mapping[ord(code)] = cmap[ord(target)]
            if encoding == "tcvn3-caps":
                for c in "abcdefghijklmnopqrstuvwxyz":
                    mapping[ord(c)] = cmap[ord(c.upper())]
        else:
            for code, uni in legacy._VNI_LETTERS.items():
                if ord(uni) in cmap:
                    mapping[ord(code)] = cmap[ord(uni)]
            for code, marks in legacy._VNI_MARKS.items():
                name = f"vnimark{ord(code):04X}"
                g = Glyph()
                g.numberOfContours = -1
                g.components = []
                raise_caps = 330 if code.isupper() else 0
                for k, m in enumerate(marks):
                    comp = GlyphComponent()
                    comp.glyphName = cmap[ord(m)]
                    above = m != "\u0323"
                    comp.x, comp.y = 0, (raise_caps if above else 0) + (260 if above and k and marks[0] in "\u0302\u0306" else 0)
                    comp.flags = 0x4
                    g.components.append(comp)
                glyf.glyphs[name] = g
                order.append(name)
                hmtx.metrics[name] = (0, 0)
                mapping[ord(code)] = name
            f.setGlyphOrder(order)
            for t in ("hdmx", "LTSH", "VDMX", "kern", "GPOS", "GSUB"):
                if t in f:
                    del f[t]
        for table in f["cmap"].tables:
            if table.isUnicode():
                table.cmap.update(mapping)
        for rec in f["name"].names:
            if rec.nameID in (1, 4, 6):
                rec.string = psname
        f["maxp"].numGlyphs = len(order)
        f.save(str(out))
    rl = f"Legacy{encoding.replace('-', '')}{abs(hash(psname)) % 10000}"
    pdfmetrics.registerFont(TTFont(rl, str(out)))
    _LEGACY_FONTS[key] = rl
    return rl


_FAKE_LETTERS = "qwzxjkvbgpyf"  # what a lying font's text layer says instead of the stamp's letters


def _lying_text(text: str) -> str:
    """`text` with each distinct letter replaced by one of _FAKE_LETTERS (blanks kept)."""
    table: dict[str, str] = {}
    for ch in text:
        if not ch.isspace() and ch not in table:
            table[ch] = _FAKE_LETTERS[len(table)]
    return "".join(table.get(ch, ch) for ch in text)


def _lying_font(text: str, family: str, cache: Path, lie: bool = True, fake: str | None = None) -> str:
    """A copy of `family`'s bold face under a PostScript name of its own (reportlab writes one font per
    name), whose cmap sends each fake letter of `_lying_text(text)` to the glyph of the real letter:
    reportlab writes /ToUnicode from the cmap, so the text layer says the fake letters while the page shows
    `text` (font program and map lie alike). With lie=False the copy is honest and named "StampFace..."
    (`_lie_to_unicode` rewrites its map afterwards); `fake`: other letters to say instead (one a letter of
    `text`, letters the font draws elsewhere honestly). Returns its reportlab name."""
    from fontTools.ttLib import TTFont as FT
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    fake = fake or _lying_text(text)
    digest = hashlib.sha256(f"{family}:{text}:{lie}:{fake}".encode()).hexdigest()[:12]
    key = f"lying:{digest}"
    if key in _LEGACY_FONTS:
        return _LEGACY_FONTS[key]
    psname = f"{'Lying' if lie else 'StampFace'}{digest}"
    out = cache / "fonts" / f"{psname}.ttf"
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        f = FT(str(_font_file(FAMILIES[family][1])))
        if lie:
            for table in f["cmap"].tables:
                if table.isUnicode():
                    real = dict(table.cmap)
                    for a, b in zip(fake, text):
                        if not b.isspace() and ord(b) in real:
                            table.cmap[ord(a)] = real[ord(b)]
        for rec in f["name"].names:
            if rec.nameID in (1, 4, 6):
                rec.string = psname
        f.save(str(out))
    pdfmetrics.registerFont(TTFont(psname, str(out)))
    _LEGACY_FONTS[key] = psname
    return psname


_TWIN_PROSE = "Đây là tài liệu "  # the honest letters a twin code claims are drawn first, in the same font
_TWIN_BOX_PROSE = "Zalo: đây là tài liệu "  # ... and an honest "Z", whose box is a "T"'s in Liberation Sans Bold
_TWIN_BOX = {"T": "Z"}  # to 0.019 em: the box check passes it, only the map's two codes for "Z" show it


def _signs(text: str) -> str:
    """`text` with each distinct letter replaced by a sign ("TỐI MẬT" -> "#%& *@#"), blanks kept."""
    table: dict[str, str] = {}
    for ch in text:
        if not ch.isspace() and ch not in table:
            table[ch] = "#%&*@+=~"[len(table)]
    return "".join(table.get(ch, ch) for ch in text)


def _other_accents(text: str) -> str:
    """`text` with every accented letter given another accent on the same letter ("TUYỆT MẬT" -> "TUYÊT MẠT")."""
    swap = {"Ậ": "Ạ", "Ố": "Ô", "Ệ": "Ê", "Ỏ": "Ó", "Ừ": "Ư", "Ị": "Í"}
    return "".join(swap.get(c, c) for c in text)


def _twin_letters(text: str) -> dict[str, str]:
    """Each distinct letter of `text` -> a letter the prose before it draws honestly (`_TWIN_PROSE`), cyclically:
    the font then has two codes for that letter, the first honest."""
    honest = [c for c in dict.fromkeys(_TWIN_PROSE) if c.isalpha()]
    out: dict[str, str] = {}
    for ch in text:
        if ch.isalpha() and ch not in out:
            out[ch] = honest[len(out) % len(honest)]
    return out


_TYPE3 = "KysoType3"  # the page's name for the Type 3 font `_add_type3` adds


def _type3_sentence(text: str) -> tuple[str, list[str]]:
    """The sentence a Type 3 lying font draws (the mark inside prose) and its distinct characters, whose
    1-based position is each one's code."""
    sentence = _TWIN_PROSE + text + " của cơ quan, đề nghị không phổ biến."
    return sentence, list(dict.fromkeys(sentence))


def _add_type3(path: Path, doc: "Doc") -> None:
    """Add, in place, to page 1's fonts the Type 3 font `_stamp` drew the sentence in ("lying-type3"): each
    glyph a procedure filling the outline of `doc.family`'s bold letter; its /ToUnicode honest for the prose
    and lying for the mark's letters (`_lying_text`). A Type 3 font has no outlines a reader can ask for."""
    from fontTools.pens.basePen import BasePen
    from fontTools.ttLib import TTFont as FT
    from pypdf import PdfReader, PdfWriter
    from pypdf.generic import (ArrayObject, DecodedStreamObject, DictionaryObject, FloatObject, NameObject,
                               NumberObject)

    sentence, chars = _type3_sentence(doc.stamp)
    fake = dict(zip(doc.stamp, _lying_text(doc.stamp)))
    tt = FT(str(_font_file(FAMILIES[doc.family][1])))
    glyphs, cmap, k = tt.getGlyphSet(), tt.getBestCmap(), 1000.0 / tt["head"].unitsPerEm

    class Ops(BasePen):
        def __init__(self):
            super().__init__(glyphs)
            self.ops: list[str] = []

        def _moveTo(self, pt):
            self.ops.append(f"{pt[0] * k:.1f} {pt[1] * k:.1f} m")

        def _lineTo(self, pt):
            self.ops.append(f"{pt[0] * k:.1f} {pt[1] * k:.1f} l")

        def _curveToOne(self, a, b, c):
            self.ops.append(" ".join(f"{v * k:.1f}" for pt in (a, b, c) for v in pt) + " c")

        def _closePath(self):
            self.ops.append("h")

    w = PdfWriter(clone_from=PdfReader(str(path)))
    procs, names, widths = DictionaryObject(), ArrayObject([NumberObject(1)]), ArrayObject()
    cmap_lines = []
    for code, ch in enumerate(chars, 1):
        name = f"g{code}"
        pen = Ops()
        gname = cmap.get(ord(ch))
        width = glyphs[gname].width * k if gname else 250
        if gname and not ch.isspace():
            glyphs[gname].draw(pen)
        body = f"{width:.0f} 0 d0\n" + "\n".join(pen.ops) + ("\nf" if pen.ops else "")
        stream = DecodedStreamObject()
        stream.set_data(body.encode("ascii"))
        procs[NameObject("/" + name)] = w._add_object(stream)
        names.append(NameObject("/" + name))
        widths.append(FloatObject(round(width)))
        said = fake.get(ch, ch)
        cmap_lines.append(f"<{code:02X}> <{said.encode('utf-16-be').hex().upper()}>")
    to_unicode = DecodedStreamObject()
    to_unicode.set_data((
        "/CIDInit /ProcSet findresource begin 12 dict begin begincmap /CIDSystemInfo << /Registry (Adobe) "
        "/Ordering (UCS) /Supplement 0 >> def /CMapName /Kyso-UCS def /CMapType 2 def 1 begincodespacerange "
        f"<00> <FF> endcodespacerange {len(cmap_lines)} beginbfchar\n" + "\n".join(cmap_lines)
        + "\nendbfchar endcmap CMapName currentdict /CMap defineresource pop end end").encode("ascii"))
    font = DictionaryObject({
        NameObject("/Type"): NameObject("/Font"), NameObject("/Subtype"): NameObject("/Type3"),
        NameObject("/FontBBox"): ArrayObject([NumberObject(v) for v in (-200, -300, 1200, 1100)]),
        NameObject("/FontMatrix"): ArrayObject([FloatObject(v) for v in (0.001, 0, 0, 0.001, 0, 0)]),
        NameObject("/CharProcs"): procs,
        NameObject("/Encoding"): DictionaryObject({NameObject("/Type"): NameObject("/Encoding"),
                                                   NameObject("/Differences"): names}),
        NameObject("/FirstChar"): NumberObject(1), NameObject("/LastChar"): NumberObject(len(chars)),
        NameObject("/Widths"): widths, NameObject("/Resources"): DictionaryObject(),
        NameObject("/ToUnicode"): w._add_object(to_unicode),
    })
    page = w.pages[0]
    page["/Resources"]["/Font"][NameObject("/" + _TYPE3)] = w._add_object(font)
    w.write(str(path))


def _lie_to_unicode(path: Path, text: str, fake: dict[str, str] | None = None) -> None:
    """Rewrite, in place, the /ToUnicode map of the font that drew the stamp (`StampFace`): each glyph
    of `text` is said to be a fake letter (`_lying_text`, or `fake`); the font program is left honest."""
    import re

    from pypdf import PdfReader, PdfWriter
    from pypdf.generic import DecodedStreamObject, NameObject

    fake = fake if fake is not None else dict(zip(text, _lying_text(text)))
    w = PdfWriter(clone_from=PdfReader(str(path)))
    for page in w.pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            if "StampFace" not in str(font.get("/BaseFont", "")):
                continue
            old = font["/ToUnicode"].get_object().get_data().decode("latin-1")

            def swap(m):
                ch = bytes.fromhex(m.group(2)).decode("utf-16-be")
                return f"{m.group(1)}<{fake.get(ch, ch).encode('utf-16-be').hex().upper()}>"

            new = re.sub(r"(<[0-9A-Fa-f]+>\s*)<([0-9A-Fa-f]{4})>", swap, old)
            stream = DecodedStreamObject()
            stream.set_data(new.encode("latin-1"))
            font[NameObject("/ToUnicode")] = w._add_object(stream)
    w.write(str(path))


# --- the Decree 30 document ---------------------------------------------------------------------------------

AGENCIES = ["ỦY BAN NHÂN DÂN TỈNH HÀ GIANG", "SỞ TÀI CHÍNH TỈNH NAM ĐỊNH", "UBND HUYỆN ĐÔNG ANH",
            "BAN QUẢN LÝ DỰ ÁN ĐẦU TƯ XÂY DỰNG", "SỞ NỘI VỤ THÀNH PHỐ ĐÀ NẴNG"]
TYPES = {
    "quyet-dinh": ("QUYẾT ĐỊNH", "Về việc phê duyệt kế hoạch kiểm tra năm 2025", "QĐ-UBND"),
    "cong-van": (None, "V/v triển khai thực hiện nhiệm vụ năm 2025", "UBND-VP"),
    "bao-cao": ("BÁO CÁO", "Tình hình thực hiện nhiệm vụ 6 tháng đầu năm", "BC-STC"),
    "to-trinh": ("TỜ TRÌNH", "Về việc đề nghị phê duyệt dự toán kinh phí", "TTr-SNV"),
    "ke-hoach": ("KẾ HOẠCH", "Triển khai công tác chuyển đổi số năm 2025", "KH-UBND"),
    "phu-luc": ("PHỤ LỤC", "Danh mục các dự án đầu tư công trung hạn", "PL-BQL"),
}
SENTENCES = [
    "Căn cứ Luật Tổ chức chính quyền địa phương ngày 19 tháng 6 năm 2015;",
    "Thực hiện chỉ đạo của Ủy ban nhân dân tỉnh về việc tăng cường công tác quản lý;",
    "Các cơ quan, đơn vị có trách nhiệm tổ chức triển khai thực hiện nghiêm túc.",
    "Giao Sở Tài chính chủ trì, phối hợp với các đơn vị liên quan hướng dẫn thực hiện.",
    "Kinh phí thực hiện được bố trí từ nguồn ngân sách nhà nước năm 2025.",
    "Trong quá trình thực hiện, nếu có vướng mắc, đề nghị báo cáo về Văn phòng.",
    "Kết quả đạt được trong kỳ báo cáo cơ bản hoàn thành các chỉ tiêu đề ra.",
    "Tổng số hồ sơ tiếp nhận là 1.245 hồ sơ, đã giải quyết đúng hạn 1.198 hồ sơ.",
    "Đề nghị các đơn vị gửi báo cáo trước ngày 15 hằng tháng để tổng hợp.",
    "Quyết định này có hiệu lực kể từ ngày ký ban hành.",
]
TRICKY = [
    "Đề nghị các đơn vị giữ bí mật thông tin cá nhân của người dân theo quy định.",
    "Tăng cường bảo mật hệ thống thông tin, thay đổi mật khẩu định kỳ ba tháng một lần.",
    "Mật độ dân số toàn tỉnh năm 2024 đạt 312 người trên một kilômét vuông.",
    "Quan hệ hợp tác mật thiết giữa hai địa phương tiếp tục được củng cố.",
    "Sản phẩm mật ong rừng được công nhận sản phẩm OCOP bốn sao.",
    "Công tác cơ yếu, mật mã được thực hiện theo đúng quy định của ngành.",
    "Tài liệu đã được GIẢI MẬT theo Quyết định số 12/QĐ-BCA ngày 02/3/2024.",
    "Lực lượng công an đã tiếp nhận mật báo của quần chúng nhân dân.",
]


@dataclass
class Doc:
    """What goes on the pages; `build_pdf` draws it."""

    type: str = "cong-van"
    size: tuple[float, float] = A4
    landscape: bool = False
    family: str = "LiberationSerif"
    seed: int = 0
    pages: int = 1
    body: list[str] = field(default_factory=list)
    heading_extra: list[str] = field(default_factory=list)  # title lines after the type line
    stamp: str | None = None  # the box 10a mark text
    stamp_style: str = "boxed"  # boxed, plain, spaced, glyphs, kerned, rotated90, rotated270, angled, vertical,
    # annot-stamp, annot-freetext, annot-contents, field, field-noap, outlines, image, white, tiny,
    # tcvn3, tcvn3-named, vni, over-title, title-case, lying-font, lying-tounicode, lying-rotated, lying-vertical,
    # lying-inverse, lying-prose
    stamp_page: int = 0
    stamp_where: str = "10a"  # 10a (under the number), top-right, bottom, middle
    footer_mark: str | None = None  # box-11 mark text (bottom left)
    info: dict = field(default_factory=dict)
    xmp: str | None = None
    outline_page: bool = False  # the whole page as vector outlines (no text layer)


def _font_names(doc: Doc) -> tuple[str, str]:
    return _register(doc.family)


def build_pdf(doc: Doc, path: Path, cache: Path) -> None:
    from reportlab.pdfgen import canvas

    regular, bold = _font_names(doc)
    size = (doc.size[1], doc.size[0]) if doc.landscape else doc.size
    c = canvas.Canvas(str(path), pagesize=size, pageCompression=1)
    rnd = random.Random(doc.seed)
    c.setTitle(doc.info.get("Title", TYPES[doc.type][1]))
    if "Subject" in doc.info:
        c.setSubject(doc.info["Subject"])
    if "Keywords" in doc.info:
        c.setKeywords(doc.info["Keywords"])
    if "Author" in doc.info:
        c.setAuthor(doc.info["Author"])
    w, h = size
    scale = w / A4[0] if not doc.landscape else h / A4[0]
    fs = 13 * max(0.8, min(1.0, scale + 0.1))
    for pno in range(doc.pages):
        draw = _Drawer(c, doc, cache, regular, bold, fs, w, h, outlines=doc.outline_page)
        if pno == 0:
            _page_one(draw, doc, rnd)
        else:
            y = h - 70
            draw.text(60, y, f"{pno + 1}", regular, 11)
            y -= 30
            for s in rnd.sample(SENTENCES, 6):
                y = draw.wrap(60, y, s, regular, fs, w - 120)
        if doc.stamp and doc.stamp_page == pno and doc.stamp_where != "10a":
            x, y = {"top-right": (w - 200, h - 150), "bottom": (70, 120), "middle": (w / 2 - 50, h / 2)}[doc.stamp_where]
            _stamp(draw, doc, x, y, cache)
        if doc.footer_mark and pno == doc.pages - 1:
            draw.text(60, 60, doc.footer_mark, bold, 12)
        c.showPage()
    c.save()
    if doc.xmp:
        _with_xmp(path, doc.xmp)
    if doc.stamp_style in ("annot-stamp", "annot-freetext", "annot-contents", "field", "field-noap"):
        _add_annotation(path, doc)
    if doc.stamp_style == "lying-tounicode":
        _lie_to_unicode(path, doc.stamp)
    if doc.stamp_style == "lying-twin":
        _lie_to_unicode(path, doc.stamp, _twin_letters(doc.stamp))
    if doc.stamp_style == "lying-twin-box":
        _lie_to_unicode(path, doc.stamp, _TWIN_BOX)
    if doc.stamp_style == "lying-type3":
        _add_type3(path, doc)


class _Drawer:
    """Text, or the same text as vector outlines (no text layer)."""

    def __init__(self, c, doc, cache, regular, bold, fs, w, h, outlines=False):
        self.c, self.doc, self.cache = c, doc, cache
        self.regular, self.bold, self.fs, self.w, self.h = regular, bold, fs, w, h
        self.outlines = outlines

    def text(self, x, y, s, font, size, centred=False):
        c = self.c
        if centred:
            x = x - c.stringWidth(s, font, size) / 2
        if self.outlines:
            _outline_text(c, x, y, s, font, size)
        else:
            c.setFont(font, size)
            c.drawString(x, y, s)

    def wrap(self, x, y, s, font, size, width):
        words = s.split()
        line = ""
        for word in words:
            trial = f"{line} {word}".strip()
            if self.c.stringWidth(trial, font, size) > width and line:
                self.text(x, y, line, font, size)
                y -= size * 1.45
                line = word
            else:
                line = trial
        if line:
            self.text(x, y, line, font, size)
            y -= size * 1.45
        return y


def _page_one(d: _Drawer, doc: Doc, rnd: random.Random) -> None:
    c, w, h, fs, regular, bold = d.c, d.w, d.h, d.fs, d.regular, d.bold
    agency = AGENCIES[doc.seed % len(AGENCIES)]
    title, subject, code = TYPES[doc.type]
    left_x, right_x = 45, w * 0.48
    small = fs * 0.9
    d.text(left_x + 100, h - 50, agency[:34], bold, small * 0.9, centred=True)
    d.text(right_x + 120, h - 50, "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", bold, small * 0.9, centred=True)
    d.text(right_x + 120, h - 66, "Độc lập - Tự do - Hạnh phúc", bold, small, centred=True)
    d.text(left_x + 100, h - 92, f"Số: {10 + doc.seed % 400}/{code}", regular, small, centred=True)
    d.text(right_x + 120, h - 92, f"Hà Nội, ngày {1 + doc.seed % 28} tháng {1 + doc.seed % 12} năm 2025", regular,
           small, centred=True)
    y = h - 112
    if doc.type == "cong-van":
        d.text(left_x + 100, y, subject, regular, small * 0.9, centred=True)
        y -= 16
    if doc.stamp and doc.stamp_page == 0 and doc.stamp_where == "10a":
        if doc.stamp_style == "over-title":
            y_title = h - 178
            _stamp(d, doc, w / 2 - c.stringWidth(doc.stamp, bold, 14) / 2 - 8, y_title + 20, d.cache)
        else:
            _stamp(d, doc, left_x + 40, y - 8, d.cache)
    y = h - 178
    if title:
        d.text(w / 2, y, title, bold, fs + 1, centred=True)
        y -= fs * 1.5
        d.text(w / 2, y, subject, bold, fs, centred=True)
        y -= fs * 1.5
    for line in doc.heading_extra:
        d.text(w / 2, y, line, bold, fs, centred=True)
        y -= fs * 1.5
    y -= 10
    body = doc.body or rnd.sample(SENTENCES, 5)
    for s in body:
        y = d.wrap(60, y, s, regular, fs, w - 120)
        if y < 150:
            break
    d.text(w - 170, max(y - 20, 120), "CHỦ TỊCH", bold, fs, centred=True)
    d.text(w - 170, max(y - 80, 70), "Nguyễn Văn An", bold, fs, centred=True)
    d.text(60, max(y - 30, 110), "Nơi nhận:", regular, 11)
    d.text(60, max(y - 44, 96), "- Như trên;", regular, 10)
    d.text(60, max(y - 58, 82), "- Lưu: VT.", regular, 10)


def _stamp(d: _Drawer, doc: Doc, x: float, y: float, cache: Path) -> None:
    """The mark at (x, y) (baseline of its first line) in `doc.stamp_style`."""
    c, text, style = d.c, doc.stamp, doc.stamp_style
    bold = d.bold
    size = 14
    c.saveState()
    c.setFillColorRGB(*RED)
    c.setStrokeColorRGB(*RED)
    lines = text.split("\n")
    width = max(c.stringWidth(s, bold, size) for s in lines)
    if style in ("boxed", "glyphs", "kerned", "spaced", "title-case", "over-title", "homoglyph"):
        extra = 6 * len(text) if style == "spaced" else 0
        c.setLineWidth(1.4)
        c.rect(x - 8, y - 8 - 18 * (len(lines) - 1), width + 16 + extra, 26 + 18 * (len(lines) - 1), stroke=1, fill=0)
    if style in ("boxed", "plain", "title-case", "over-title", "homoglyph"):
        for i, s in enumerate(lines):
            c.setFont(bold, size)
            c.drawString(x, y - 18 * i, s)
    elif style == "spaced":
        t = c.beginText(x, y)
        t.setFont(bold, size)
        t.setCharSpace(6)
        t.textLine(text)
        c.drawText(t)
        t = c.beginText(0, 0)
        t.setCharSpace(0)
        c.drawText(t)
    elif style in ("glyphs", "kerned"):
        rnd = random.Random(doc.seed + 7)
        positions = []
        cx = x
        for ch in text:
            positions.append((cx, ch))
            gap = rnd.uniform(-0.8, 2.5) if style == "kerned" else rnd.uniform(0.0, 1.2)
            cx += c.stringWidth(ch, bold, size) + gap
        rnd.shuffle(positions)  # content-stream order unrelated to reading order
        for px, ch in positions:
            c.setFont(bold, size)
            c.drawString(px, y, ch)
    elif style in ("rotated90", "rotated270", "angled", "lying-rotated", "lying-inverse"):
        angle = {"rotated90": 90, "rotated270": 270, "angled": 30}.get(style)
        if angle is None:
            angle = (90, 270, 30, 150)[doc.seed % 4] if style == "lying-rotated" else (0, 90, 30)[doc.seed % 3]
        lying = style.startswith("lying")
        font, shown = (_lying_font(text, doc.family, cache), _lying_text(text)) if lying else (bold, text)
        c.translate(x + (20 if angle == 90 else 60), y - (40 if angle == 270 else 0))
        c.rotate(angle)
        if style == "lying-inverse":  # white letters on a red box
            c.rect(-6, -6, width + 12, 24, stroke=0, fill=1)
            c.setFillColorRGB(1, 1, 1)
        c.setFont(font, size)
        c.drawString(0, 0, shown)
        c.setLineWidth(1.2)
        c.rect(-6, -6, width + 12, 24, stroke=1, fill=0)
    elif style in ("vertical", "lying-vertical"):
        letters = "".join(ch for ch in text if not ch.isspace())
        font, shown = (_lying_font(letters, doc.family, cache), _lying_text(letters)) if style == "lying-vertical" else (bold, letters)
        x, y = 24, d.h - 120  # in the left margin, clear of the text
        c.setLineWidth(1.2)
        c.rect(x - 6, y - 18 * (len(letters) - 1) - 6, 24, 18 * len(letters) + 4, stroke=1, fill=0)
        for i, ch in enumerate(shown):
            c.setFont(font, size)
            c.drawString(x, y - 18 * i, ch)
    elif style == "outlines":
        c.setLineWidth(1.4)
        c.rect(x - 8, y - 8, width + 16, 26, stroke=1, fill=0)
        _outline_text(c, x, y, text, bold, size)
    elif style == "image":
        img = _stamp_image(text, doc.family)
        from reportlab.lib.utils import ImageReader

        iw, ih = img.size
        c.drawImage(ImageReader(img), x - 8, y - 10, width=iw * 72 / 200, height=ih * 72 / 200, mask="auto")
    elif style in ("white", "tiny"):
        if style == "white":
            c.setFillColorRGB(1, 1, 1)
        c.setFont(bold, size if style == "white" else 1.5)
        c.drawString(x, y, text)
    elif style in ("lying-font", "lying-tounicode"):
        if style == "lying-font":
            font, shown = _lying_font(text, doc.family, cache), _lying_text(text)
        else:  # the bold face again under its own name: a font object of its own, its map rewritten after
            font, shown = _lying_font(text, doc.family, cache, lie=False), text
        c.setLineWidth(1.4)
        c.rect(x - 8, y - 8, c.stringWidth(shown, font, size) + 16, 26, stroke=1, fill=0)
        c.setFont(font, size)
        c.drawString(x, y, shown)
    elif style in ("lying-twin", "lying-twin-box"):  # a sentence in one honest face whose map also sends the
        # mark's glyphs to letters drawn honestly before them (two codes, one letter: the font's reverse map
        # finds the honest one); "-box": a "T" said "Z", whose boxes are one to 0.019 em
        box = style == "lying-twin-box"
        font = _lying_font(text, "LiberationSans" if box else doc.family, cache, lie=False)
        t = c.beginText(60, y)
        t.setFont(font, 11)
        t.textOut((_TWIN_BOX_PROSE if box else _TWIN_PROSE) + text + " của cơ quan, đề nghị không phổ biến.")
        c.drawText(t)
    elif style == "lying-type3":  # the sentence in a Type 3 font (`_add_type3` adds it to the page afterwards)
        sentence, chars = _type3_sentence(text)
        codes = "".join(f"{chars.index(ch) + 1:02X}" for ch in sentence)
        c.setFillColorRGB(0, 0, 0)
        c._code.append(f"BT /{_TYPE3} 11 Tf 1 0 0 1 60 {y:.2f} Tm <{codes}> Tj ET")
    elif style == "lying-space":  # inside a sentence, the mark's "M" drawn by a glyph its map calls a space
        head, _, tail = text.rpartition("M")
        font = _lying_font("M", doc.family, cache, fake=" ")
        t = c.beginText(60, y)
        t.setFont(bold, 11)
        t.textOut("Đây là tài liệu " + head)
        t.setFont(font, 11)
        t.textOut(" " + tail)
        t.setFont(bold, 11)
        t.textOut(" của cơ quan, đề nghị không phổ biến.")
        c.drawText(t)
    elif style in ("lying-prose", "lying-case", "lying-accent", "lying-punct"):  # the mark inside a sentence,
        # in a lying copy of the sentence's own face; it says other letters ("qwz"), the same in small letters
        # ("lying-case"), with other accents ("lying-accent": "MẠT" for "MẬT"), or signs ("lying-punct": "#%&")
        said = {"lying-case": text.lower(), "lying-accent": _other_accents(text),
                "lying-punct": _signs(text)}.get(style) or _lying_text(text)
        font = _lying_font(text, doc.family, cache, fake=said)
        t = c.beginText(60, y)
        t.setFont(bold, 11)
        t.textOut("Đây là tài liệu ")
        t.setFont(font, 11)
        t.textOut(said)
        t.setFont(bold, 11)
        t.textOut(" của cơ quan, đề nghị không phổ biến.")
        c.drawText(t)
    elif style in ("tcvn3", "tcvn3-named", "vni"):
        enc = {"tcvn3": "tcvn3-caps", "tcvn3-named": "tcvn3-caps", "vni": "vni"}[style]
        name = "Times-Legacy" if style == "tcvn3-named" else None
        font = _legacy_font(enc, cache, name)
        encoded = _encode_legacy(text, enc)
        c.setLineWidth(1.4)
        c.rect(x - 8, y - 8, c.stringWidth(encoded, font, size) + 16, 26, stroke=1, fill=0)
        c.setFont(font, size)
        c.drawString(x, y, encoded)
    c.restoreState()


def _encode_legacy(text: str, enc: str) -> str:
    from gateway.inspect import legacy

    if enc.startswith("tcvn3"):
        back = {v: k for k, v in legacy.TCVN3.items() if len(v) == 1}
        out = []
        for ch in text:
            low = ch.lower() if enc == "tcvn3-caps" else ch
            out.append(back.get(low, low) if not ch.isascii() else (ch.lower() if enc == "tcvn3-caps" else ch))
        return "".join(out)
    marks_back = {v: k for k, v in legacy._VNI_MARKS.items()}
    letters_back = {v: k for k, v in legacy._VNI_LETTERS.items()}
    out = []
    for ch in text:
        if ch in letters_back:
            out.append(letters_back[ch])
            continue
        d = unicodedata.normalize("NFD", ch)
        base, marks = d[0], d[1:]
        if base in "Đđ":
            out.append(letters_back.get(base, base))
            continue
        if not marks:
            out.append(ch)
            continue
        # VNI writes ơ/ư as letters of their own, then the tone mark
        horn = "\u031b" in marks
        marks = marks.replace("\u031b", "")
        if horn:
            base = letters_back[unicodedata.normalize("NFC", base + "\u031b")]
        code = [k for k, v in legacy._VNI_MARKS.items() if v == _order(marks) and k.isupper() == base.isupper()]
        out.append(base + (code[0] if code else ""))
    return "".join(out)


def _order(marks: str) -> str:
    """Circumflex / breve first, then the tone (VNI's order)."""
    shape = "".join(m for m in marks if m in "\u0302\u0306")
    return shape + "".join(m for m in marks if m not in "\u0302\u0306")


def _outline_text(c, x: float, y: float, s: str, font: str, size: float) -> None:
    """Draw `s` as filled glyph outlines (no text)."""
    from fontTools.pens.basePen import BasePen
    from fontTools.pens.transformPen import TransformPen

    class PathPen(BasePen):  # glyph outlines onto a reportlab canvas path
        def __init__(self, glyphset, path):
            super().__init__(glyphset)
            self.path = path

        def _moveTo(self, p):
            self.path.moveTo(*p)

        def _lineTo(self, p):
            self.path.lineTo(*p)

        def _curveToOne(self, p1, p2, p3):
            self.path.curveTo(*p1, *p2, *p3)

        def _closePath(self):
            self.path.close()
    from fontTools.ttLib import TTFont as FT
    from reportlab.pdfbase import pdfmetrics

    rl = pdfmetrics.getFont(font)
    ft = _FT_CACHE.get(rl.face.filename)
    if ft is None:
        ft = _FT_CACHE[rl.face.filename] = FT(rl.face.filename)
    glyphs = ft.getGlyphSet()
    cmap = ft.getBestCmap()
    upm = ft["head"].unitsPerEm
    k = size / upm
    path = c.beginPath()
    cx = x
    for ch in unicodedata.normalize("NFC", s):
        name = cmap.get(ord(ch))
        if name is None:
            cx += size * 0.5
            continue
        pen = PathPen(glyphs, path)
        glyphs[name].draw(TransformPen(pen, (k, 0, 0, k, cx, y)))
        cx += glyphs[name].width * k
    c.drawPath(path, stroke=0, fill=1, fillMode=1)


_FT_CACHE: dict = {}


def _stamp_image(text: str, family: str):
    """A red rubber stamp picture (transparent outside the ink), 200 dpi."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(str(_font_file(FAMILIES[family][1])), 40)
    bbox = font.getbbox(text)
    w, h = bbox[2] + 40, bbox[3] + 30
    img = Image.new("RGBA", (w, h), (255, 255, 255, 0))
    dr = ImageDraw.Draw(img)
    dr.rectangle([2, 2, w - 3, h - 3], outline=(210, 20, 20, 255), width=4)
    dr.text((20, 12), text, font=font, fill=(210, 20, 20, 255))
    return img


def _with_xmp(path: Path, properties: str) -> None:
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


def _add_annotation(path: Path, doc: Doc) -> None:
    """A Stamp / FreeText annotation (with an appearance stream), an annotation with only /Contents, or a
    form field (with or without an appearance) carrying the mark."""
    from pypdf import PdfReader, PdfWriter
    from pypdf.generic import (ArrayObject, DecodedStreamObject, DictionaryObject, FloatObject, NameObject,
                               NumberObject, TextStringObject)

    w = PdfWriter(clone_from=PdfReader(path))
    page = w.pages[doc.stamp_page]
    box = page.mediabox
    x0, y1 = float(box.left) + 80, float(box.top) - 130
    rect = ArrayObject([FloatObject(x0), FloatObject(y1 - 30), FloatObject(x0 + 130), FloatObject(y1)])
    text = doc.stamp
    font = DictionaryObject({NameObject("/Type"): NameObject("/Font"), NameObject("/Subtype"): NameObject("/Type1"),
                             NameObject("/BaseFont"): NameObject("/Helvetica-Bold"),
                             NameObject("/Encoding"): NameObject("/WinAnsiEncoding")})
    font_ref = w._add_object(font)
    ap_text = unicodedata.normalize("NFD", text)
    ascii_text = "".join(ch for ch in ap_text if ord(ch) < 128)  # Helvetica WinAnsi: the letters, no marks
    ap = DecodedStreamObject()
    ap.set_data(f"1 0 0 RG 2 w 1 1 128 28 re S 1 0 0 rg BT /F1 16 Tf 8 9 Td ({ascii_text}) Tj ET".encode("latin-1"))
    ap.update({NameObject("/Type"): NameObject("/XObject"), NameObject("/Subtype"): NameObject("/Form"),
               NameObject("/BBox"): ArrayObject([FloatObject(0), FloatObject(0), FloatObject(130), FloatObject(30)]),
               NameObject("/Resources"): DictionaryObject({NameObject("/Font"): DictionaryObject({NameObject("/F1"): font_ref})})})
    annot = DictionaryObject({NameObject("/Type"): NameObject("/Annot"), NameObject("/Rect"): rect,
                              NameObject("/F"): NumberObject(4)})
    style = doc.stamp_style
    if style == "annot-stamp":
        annot[NameObject("/Subtype")] = NameObject("/Stamp")
        annot[NameObject("/Contents")] = TextStringObject(text)
        annot[NameObject("/AP")] = DictionaryObject({NameObject("/N"): w._add_object(ap)})
    elif style == "annot-freetext":
        annot[NameObject("/Subtype")] = NameObject("/FreeText")
        annot[NameObject("/DA")] = TextStringObject("/Helv 16 Tf 1 0 0 rg")
        annot[NameObject("/Contents")] = TextStringObject(text)
    elif style == "annot-contents":
        annot[NameObject("/Subtype")] = NameObject("/Square")
        annot[NameObject("/Contents")] = TextStringObject(text)
        annot[NameObject("/AP")] = DictionaryObject({NameObject("/N"): w._add_object(ap)})
    else:
        annot[NameObject("/Subtype")] = NameObject("/Widget")
        annot[NameObject("/FT")] = NameObject("/Tx")
        annot[NameObject("/T")] = TextStringObject("DoMat")
        annot[NameObject("/V")] = TextStringObject(text)
        annot[NameObject("/DA")] = TextStringObject("/Helv 14 Tf 1 0 0 rg")
        annot[NameObject("/P")] = page.indirect_reference
        if style == "field":
            annot[NameObject("/AP")] = DictionaryObject({NameObject("/N"): w._add_object(ap)})
    ref = w._add_object(annot)
    page[NameObject("/Annots")] = ArrayObject([ref])
    if style in ("field", "field-noap"):
        form = DictionaryObject({NameObject("/Fields"): ArrayObject([ref]),
                                 NameObject("/DA"): TextStringObject("/Helv 0 Tf 0 g")})
        if style == "field-noap":
            from pypdf.generic import BooleanObject

            form[NameObject("/NeedAppearances")] = BooleanObject(True)
        w._root_object[NameObject("/AcroForm")] = w._add_object(form)
    with open(path, "wb") as fh:
        w.write(fh)


# --- scanned variants ---------------------------------------------------------------------------------------


def scan(pdf: Path, out: Path, kind: str, seed: int, dpi: int, store: str | None = None, grain: float = 0.0,
         noise_ground: bool = False, tiles: tuple[int, int] = (1, 1)) -> None:
    """Render `pdf` like a scanner would: `dpi`, 1-3° skew, noise, grey; as an image-only PDF or image file.
    With `store`, page 1 as a grey image stored that way ("raw", "flate0": zlib's stored blocks, "flate") on
    a page that also has a line of text (a scanner's page footer), whole or in `tiles`; `grain`: the deviation of heavy grain on a
    darker ground (a poor photocopy); `noise_ground`: the white ground replaced by random noise."""
    import numpy as np
    import pypdfium2 as pdfium
    from PIL import Image, ImageFilter

    rnd = random.Random(seed)
    doc = pdfium.PdfDocument(str(pdf))
    frames = []
    for i in range(len(doc)):
        img = doc[i].render(scale=dpi / 72).to_pil().convert("RGB")
        angle = rnd.choice([-1, 1]) * rnd.uniform(1.0, 3.0)
        img = img.rotate(angle, resample=Image.BICUBIC, expand=False, fillcolor=(255, 255, 255))
        a = np.asarray(img).astype(np.int16)
        noise = np.random.default_rng(seed + i).normal(0, 14, a.shape[:2])[..., None]
        a = np.clip(a * rnd.uniform(0.9, 1.0) + noise + rnd.uniform(-8, 4), 0, 255).astype(np.uint8)
        img = Image.fromarray(a).filter(ImageFilter.GaussianBlur(0.5))
        if grain or noise_ground:
            img = _grained(img.convert("L"), np.random.default_rng(seed + 100 + i), grain, noise_ground)
        frames.append(img)
    doc.close()
    if store is not None:
        _scan_on_text_page(frames[0].convert("L"), out, store, tiles)
    elif kind == "pdf":
        frames[0].save(out, "PDF", resolution=dpi, save_all=True, append_images=frames[1:], quality=80)
    elif kind == "tiff":
        frames[0].save(out, "TIFF", dpi=(dpi, dpi), save_all=True, append_images=frames[1:], compression="tiff_lzw")
    elif kind == "jpeg":
        frames[0].save(out, "JPEG", dpi=(dpi, dpi), quality=80)
    else:
        frames[0].convert("L").save(out, "PNG", dpi=(dpi, dpi))


def _grained(gray, rng, grain: float, noise_ground: bool):
    import numpy as np
    from PIL import Image

    a = np.asarray(gray).astype(np.float32)
    if noise_ground:
        a = np.where(a < 128, a, rng.integers(0, 256, a.shape))
    if grain:
        a = a * 0.75 + rng.normal(0, grain, a.shape)
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8), "L")


def _scan_on_text_page(gray, out: Path, store: str, tiles: tuple[int, int] = (1, 1)) -> None:
    """A one-page PDF: `gray` as 8-bit DeviceGray images filling an A4 page (one, or `tiles` rows x columns
    of them edge to edge, as some scanners write a page), stored as `store` says, and a line of text under
    it. Written by hand: the libraries here always compress."""
    import zlib

    rows, cols = tiles
    tw, th = gray.size[0] // cols, gray.size[1] // rows
    w, h = (842, 595) if gray.size[0] > gray.size[1] else (595, 842)  # A4 (an A5 scan has the same shape)
    sx, sy = w / (tw * cols), h / (th * rows)
    ops, images = b"", []
    for r in range(rows):
        for c in range(cols):
            data = gray.crop((c * tw, r * th, (c + 1) * tw, (r + 1) * th)).tobytes()
            filt = b""
            if store == "flate0":
                data, filt = zlib.compress(data, 0), b" /Filter /FlateDecode"
            elif store == "flate":
                data, filt = zlib.compress(data, 6), b" /Filter /FlateDecode"
            n = len(images)
            ops += b"q %.4f 0 0 %.4f %.4f %.4f cm /Im%d Do Q " % (tw * sx, th * sy, c * tw * sx, h - (r + 1) * th * sy, n)
            images.append(b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray "
                          b"/BitsPerComponent 8%s /Length %d >>\nstream\n" % (tw, th, filt, len(data)) + data
                          + b"\nendstream")
    ops += b"BT /F1 8 Tf 260 12 Td (Trang 1/1) Tj ET"
    xobjects = b" ".join(b"/Im%d %d 0 R" % (i, 6 + i) for i in range(len(images)))
    bodies = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [4 0 R] /Count 1 >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %d %d] /Contents 5 0 R "
        b"/Resources << /Font << /F1 3 0 R >> /XObject << %s >> >> >>" % (w, h, xobjects),
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(ops), ops),
        *images,
    ]
    from bench.common import write_pdf

    write_pdf(out, bodies)


# --- the set ------------------------------------------------------------------------------------------------

LEVELS = [MAT, TOI, TUYET]


def samples() -> list[Sample]:
    """Every sample of the set, deterministic."""
    fams = families()
    out: list[Sample] = []
    types = list(TYPES)
    sizes = [("a4", A4, False), ("a4-landscape", A4, True), ("a5", A5, False)]

    def add(cls, level, n, style, **kw):
        for k in range(n):
            seed = len(out) * 7 + 3
            t = types[(seed // 7) % len(types)]
            sname, size, land = sizes[(seed // 7) % len(sizes)] if kw.get("sizes", True) else sizes[0]
            fam = fams[(seed // 7) % len(fams)]
            lv = level if level != "any" else LEVELS[k % 3]
            stamp_text = kw.get("text", lv)
            if callable(stamp_text):
                stamp_text = stamp_text(k, lv)
            spec = dict(type=t, size=list(size), landscape=land, family=fam, seed=seed, stamp=stamp_text,
                        stamp_style=style, pages=kw.get("pages", 1), stamp_page=kw.get("stamp_page", 0),
                        stamp_where=kw.get("where", "10a"), body=kw.get("body"), heading_extra=kw.get("heading", []),
                        footer_mark=kw.get("footer"), info=kw.get("info", {}), xmp=kw.get("xmp"),
                        outline_page=kw.get("outline_page", False))
            for key in ("store", "grain", "noise_ground", "tiles"):  # how a scan is made (`scan`)
                if key in kw:
                    spec[key] = kw[key][k % len(kw[key])] if isinstance(kw[key], tuple) else kw[key]
            expected = kw.get("expect", lv)
            out.append(Sample(f"{cls}-{k:02d}-{t}-{sname}", cls, expected, tuple(kw.get("marks", ())),
                              kw.get("readable", True), kw.get("kind", "pdf"), kw.get("scanned", False),
                              kw.get("pages", 1), spec, bool(kw.get("grain") or kw.get("noise_ground"))))

    # positives: text layer
    add("stamp-boxed", "any", 18, "boxed")
    add("stamp-plain", "any", 6, "plain", where="top-right")
    add("glyphs-shuffled", "any", 9, "glyphs")
    add("kerned-uneven", "any", 9, "kerned")
    add("letter-spaced", "any", 6, "spaced")
    add("rotated", "any", 9, "rotated90")
    add("rotated-270", "any", 3, "rotated270")
    add("angled", "any", 3, "angled")
    add("vertical", "any", 6, "vertical")
    add("homoglyph", "any", 9, "homoglyph", text=lambda k, lv: _homoglyph(lv, k))
    add("title-case", "any", 3, "title-case", text=lambda k, lv: lv.capitalize() if k % 2 else lv.lower())
    add("later-page", "any", 6, "boxed", pages=6, stamp_page=4, where="middle")
    add("over-title", MAT, 6, "over-title")
    add("annot-stamp", "any", 3, "annot-stamp")
    add("annot-freetext", "any", 3, "annot-freetext")
    add("annot-contents", "any", 3, "annot-contents")
    add("form-field", "any", 3, "field")
    add("form-field-noap", "any", 3, "field-noap")
    add("info-subject", "any", 3, "none", text=None, info={"Subject": "Tối mật"}, expect=TOI)
    add("info-custom", "any", 2, "none", text=None, info={"Author": "MẬT"}, expect=MAT)
    add("xmp", "any", 2, "none", text=None, xmp="<vn:classification>tuyet-mat</vn:classification>", expect=TUYET)
    add("tcvn3", "any", 6, "tcvn3")
    add("tcvn3-unnamed", "any", 3, "tcvn3-named")
    add("vni", "any", 6, "vni")
    add("lying-font", "any", 6, "lying-font")
    add("lying-tounicode", "any", 6, "lying-tounicode")
    add("outline-stamp", "any", 6, "outlines")
    add("outline-page", "any", 3, "boxed", outline_page=True)
    add("image-stamp", "any", 9, "image")
    add("scanned-pdf", "any", 12, "boxed", scanned=True)
    add("scanned-image", "any", 6, "boxed", scanned=True, kind="png")
    add("scanned-jpeg", "any", 3, "boxed", scanned=True, kind="jpeg")
    add("scanned-tiff", "any", 3, "boxed", scanned=True, kind="tiff")
    add("hidden-white", "any", 3, "white", readable=False)
    add("hidden-tiny", "any", 3, "tiny", readable=False)
    # box-11 marks (not secret)
    add("circulation", None, 3, "none", text=None, footer="LƯU HÀNH NỘI BỘ", marks=("internal_circulation",))
    add("circulation-recall", None, 2, "none", text=None, footer="TÀI LIỆU THU HỒI", marks=("recall",))
    add("circulation-return", None, 2, "none", text=None, footer="XEM XONG TRẢ LẠI", marks=("return_after_reading",))
    add("circulation-meeting", None, 2, "none", text=None, footer="TRẢ LẠI SAU KHI HỌP (HỘI NGHỊ)",
        marks=("return_after_meeting",))
    add("circulation-and-mark", MAT, 2, "boxed", footer="TÀI LIỆU THU HỒI", marks=("recall",))
    # negatives
    add("neg-plain", None, 12, "none", text=None)
    add("neg-tricky-words", None, 12, "none", text=None, body=TRICKY)
    add("neg-declassified", None, 4, "boxed", text="GIẢI MẬT", expect=None)
    add("neg-urgency", None, 3, "boxed", text="HỎA TỐC", expect=None)
    add("neg-lying-font", None, 3, "lying-font", text="HỎA TỐC", expect=None)  # read by eye: nothing secret
    add("neg-headings", None, 6, "none", text=None,
        heading=lambda: None)
    add("neg-regulation", None, 6, "none", text=None, body=REGULATION)
    add("neg-wrapped", None, 4, "none", text=None, body=WRAPPED)
    add("neg-mat-bao", None, 3, "none", text=None, heading=["MẬT", "BÁO VỀ TÌNH HÌNH AN NINH"], expect=None)
    add("neg-scanned", None, 6, "none", text=None, body=TRICKY, scanned=True)
    # a scan on a page with a line of text, however its image is stored; grain and noise a person reads through
    add("scan-on-text-page", "any", 6, "boxed", scanned=True, store=("raw", "flate0", "flate"))
    add("grainy-scan", "any", 6, "boxed", scanned=True, grain=45.0, store=(None, "raw", "flate"))
    add("noise-ground", "any", 3, "boxed", scanned=True, noise_ground=True, store=("raw", None, "flate"))
    add("neg-grainy-scan", None, 3, "none", text=None, body=TRICKY, scanned=True, grain=45.0, store=("raw", None))
    add("neg-noise-ground", None, 3, "none", text=None, body=TRICKY, scanned=True, noise_ground=True,
        store=("raw", "flate"))
    # a scan cut into strips or tiles edge to edge on a page with a line of text: one picture to a person
    add("scan-in-strips", "any", 3, "boxed", scanned=True, store=("flate", "raw"), tiles=((40, 1), (100, 1), (16, 1)))
    add("scan-in-tiles", "any", 3, "boxed", scanned=True, store=("flate",), tiles=((8, 8), (20, 20), (4, 6)))
    # a lying font turned (90, 270, 30 and 150 degrees) or stacked in a column: read by eye turned upright
    add("lying-rotated", "any", 8, "lying-rotated")
    add("lying-vertical", "any", 4, "lying-vertical")
    add("neg-lying-rotated", None, 4, "lying-rotated", text="HỎA TỐC", expect=None)
    add("lying-inverse", "any", 3, "lying-inverse")  # white on a red box, upright, 90 and 30 degrees
    add("lying-prose", "any", 6, "lying-prose")  # inside a sentence: a long line
    add("neg-lying-prose", None, 3, "lying-prose", text="HỎA TỐC", expect=None)
    # two codes for one letter: the map's first code for it is honest, a second draws the mark's letter
    add("lying-twin", "any", 6, "lying-twin")
    add("neg-lying-twin", None, 3, "lying-twin", text="HỎA TỐC", expect=None)
    add("lying-twin-box", "any", 3, "lying-twin-box")
    add("lying-space", "any", 3, "lying-space")
    add("lying-punct", "any", 3, "lying-punct")  # the mark's letters said to be signs: "#%&"  # the "M" drawn by a glyph the text layer calls a space  # the second code's glyph has the claimed letter's box
    # a Type 3 font (glyphs drawn by procedures: no outline to ask for) lying inside a sentence
    add("lying-type3", "any", 4, "lying-type3")
    add("neg-lying-type3", None, 2, "lying-type3", text="HỎA TỐC", expect=None)
    # a lie in case alone: "mật" said, "MẬT" drawn (every letter the one it says)
    add("lying-case", "any", 3, "lying-case")
    add("neg-lying-case", None, 2, "lying-case", text="HỎA TỐC", expect=None)
    add("lying-accent", "any", 3, "lying-accent")  # another accent said: "MẠT", "TÔI", "TUYÊT"
    for s in out:
        if s.cls == "neg-headings":
            s.spec["heading_extra"] = HEADINGS[int(s.name.split("-")[2]) % len(HEADINGS)]
        if s.spec.get("stamp") is None or s.spec["stamp_style"] == "none":
            s.spec["stamp"] = None
        if s.cls == "neg-mat-bao":
            # "MẬT" directly above "BÁO VỀ ...": one title, the word "mật báo" (same block, same size)
            s.level = None
    return out


HEADINGS = [
    ["MẬT ĐỘ DÂN SỐ NĂM 2025"],
    ["DANH MỤC TÀI LIỆU MẬT"],
    ["QUY CHẾ BẢO VỆ BÍ MẬT NHÀ NƯỚC"],
    ["HƯỚNG DẪN ĐẶT MẬT KHẨU"],
    ["TRONG CÔNG TÁC BẢO", "MẬT"],
    ["VỀ CÔNG TÁC GIỮ GÌN BÍ", "MẬT NHÀ NƯỚC"],
]
REGULATION = [
    'Điều 5. Dấu chỉ độ mật gồm "TUYỆT MẬT", "TỐI MẬT", "MẬT" theo mẫu tại Phụ lục kèm theo.',
    "Tài liệu có độ mật TUYỆT MẬT, TỐI MẬT hoặc MẬT phải được đóng dấu theo quy định.",
    "Cơ quan soạn thảo đề xuất độ mật của văn bản (MẬT/TỐI MẬT/TUYỆT MẬT) khi trình ký.",
    "Việc sao, chụp tài liệu bí mật nhà nước độ «Tối mật» phải được người có thẩm quyền cho phép.",
]
WRAPPED = [
    "Người được giao quản lý hồ sơ có trách nhiệm giữ bí",
    "mật.",
    "Thông tin tài khoản và mật",
    "khẩu phải được thay đổi định kỳ.",
]


def _homoglyph(level: str, k: int) -> str:
    swaps = [
        {"M": "М", "T": "Т"},  # Cyrillic
        {"M": "Μ", "T": "Τ"},  # Greek
        {"M": "М", "T": "Τ", "Ậ": "A\u0323\u0302"},  # Cyrillic, Greek and a combining sequence together
        {" ": "\u00a0", "T": "T\u200b"},  # no-break space, zero width
        {"Ậ": "A\u0323\u0302"},  # combining sequence
    ]
    s = swaps[k % len(swaps)]
    return "".join(s.get(ch, ch) for ch in level)


def build(sample: Sample, directory: Path) -> Path:
    path = directory / sample.filename
    if path.exists():
        return path
    spec = dict(sample.spec)
    spec["size"] = tuple(spec["size"])
    heading = spec.pop("heading_extra") or []
    body = spec.pop("body")
    doc = Doc(**{k: v for k, v in spec.items() if k in Doc.__dataclass_fields__}, heading_extra=heading,
              body=body or [])
    tmp = path.with_suffix(".tmp.pdf")
    build_pdf(doc, tmp, directory)
    if sample.scanned:
        dpi = (150, 200, 300)[spec["seed"] % 3]
        scan(tmp, path.with_suffix(".scan.tmp"), sample.kind, spec["seed"], dpi, spec.get("store"),
             spec.get("grain", 0.0), spec.get("noise_ground", False), tuple(spec.get("tiles", (1, 1))))
        path.with_suffix(".scan.tmp").replace(path)
        tmp.unlink()
    else:
        tmp.replace(path)
    return path


def default_dir() -> Path:
    env = os.environ.get("KYSO_SECRECY_CORPUS")
    if env:
        return Path(env)
    return Path.home() / ".cache" / "kyso-gateway" / f"secrecy-{VERSION}"


def generate(directory: Path | None = None, only: list[Sample] | None = None) -> list[tuple[Sample, Path]]:
    directory = directory or default_dir()
    directory.mkdir(parents=True, exist_ok=True)
    chosen = only if only is not None else samples()
    out = [(s, build(s, directory)) for s in chosen]
    (directory / "manifest.json").write_text(json.dumps([asdict(s) for s, _ in out], ensure_ascii=False, indent=1))
    return out


def small() -> list[Sample]:
    """One sample per class (the tests' subset)."""
    seen: dict[str, Sample] = {}
    for s in samples():
        seen.setdefault(s.cls, s)
    return list(seen.values())


# The bench's --smoke set: a few classes of each kind (text layer, lying font, metadata, scan, grain, negatives),
# enough to run every figure; tests/test_secrecy_variants.py reads one document of every class.
SMOKE_CLASSES = ("stamp-boxed", "glyphs-shuffled", "rotated", "tcvn3", "later-page", "over-title", "info-subject",
                 "lying-font", "hidden-white", "circulation-recall", "scanned-pdf", "grainy-scan", "neg-plain",
                 "neg-tricky-words", "neg-scanned", "neg-lying-font")


def smoke() -> list[Sample]:
    """The bench's smoke subset (one sample of each of SMOKE_CLASSES)."""
    return [s for s in small() if s.cls in SMOKE_CLASSES]


def main(argv=None) -> int:
    import argparse
    from collections import Counter

    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", type=Path, default=None)
    ap.add_argument("--small", action="store_true")
    a = ap.parse_args(argv)
    got = generate(a.dir, small() if a.small else None)
    counts = Counter(s.cls for s, _ in got)
    pos = sum(1 for s, _ in got if s.level)
    print(f"{len(got)} samples ({pos} with a secrecy mark) in {a.dir or default_dir()}")
    for cls, n in counts.items():
        print(f"  {cls:24} {n}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
