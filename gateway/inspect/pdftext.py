"""The text of a PDF as a person sees it: characters with their positions (PDFium), grouped into lines by
geometry, on every page.

Why geometry: the content stream's order is whatever the producer wrote. A mark drawn one glyph per text
object, letter-spaced, kerned, rotated or stacked vertically is one word to a reader; extract_text-style
readers return it in stream order, split or glued to its neighbours. Here every character has its origin,
its box and its direction; lines are rebuilt from those, whatever the order in the file:

1. Characters are grouped by writing direction (the text matrix, after the page's /Rotate): horizontal,
   rotated 90/180/270 or any angle, each group read in its own frame (u along the line, v across it).
2. In a frame, characters whose baselines lie within a fraction of their size are one line; the line is
   sorted along u. A gap wider than a quarter of the size is a space; a gap wider than `COLUMN_GAP` sizes
   starts a separate `Line` (two columns on one baseline, a stamp beside the number, are two lines).
   The same glyph drawn twice at (nearly) the same place (fake bold) is kept once.
3. Single letters stacked in a column (one upright letter per line, read top to bottom) are also given as
   one line: that is how a vertical stamp reads.

Annotations (Stamp, FreeText, widgets ...) are flattened into the page before reading, so their appearance
streams are read with positions like the page; annotations' /Contents and a Stamp's standard /Name are
returned beside them (a person opens them). Boxes are in the displayed orientation, top-left origin, points
(see reading.py). Every piece of text is read, visible or not (invisible OCR layers, white or tiny text):
reading more than a person sees can only block, never release.

For the OCR decision (ocr.py) each page also lists what carries ink without text: image objects and
vector paths complex enough to be glyph outlines, with their boxes.

PDFium is not thread-safe: one document at a time per process (`_LOCK`). `python -m gateway.inspect.pdftext
FILE` prints the lines (a debugging aid).
"""

from __future__ import annotations

import ctypes
import math
import threading
import time
import unicodedata
from dataclasses import dataclass, field

from gateway.inspect import legacy
from gateway.inspect.reading import Line
from gateway.model import Reason

_LOCK = threading.RLock()

SPACE_GAP = 0.22  # of the font size: a wider gap between two glyphs is a word space
COLUMN_GAP = 2.5  # of the font size: a wider gap starts a separate line (another column, a stamp beside)
BASELINE_TOLERANCE = 0.45  # of the font size: baselines closer than this are one line
UPRIGHT_DEG = 3  # a line turned less than this reads as upright (OCR reads through a slight slant)
CHILD_MEMORY_BYTES = 3 << 30  # address space of the child that reads large or suspicious files
MAX_UNMAPPED_OBJECTS = 400  # text objects with unmapped glyphs OCR'd by regions; more: the page whole
MAX_PATHS = 20_000  # path objects examined per page for frames and outlines (more: the page is "complex")
OUTLINE_SEGMENTS = 6  # a filled path with at least this many segments may be glyphs ("T" has 8, "I" 4: a word
OUTLINE_LETTER = 150.0  # is found by its other letters) when letter-sized (points) or of several subpaths

_GENERATED = {" ", "\r", "\n", "\x02", "\ufffe"}


@dataclass(frozen=True)
class Ink:
    """Something drawn on a page that is not text: an image, or vector outlines that may be glyphs."""

    kind: str  # "image", "outline", "unmapped" (a text object with glyphs the text layer gives no letter), or
    # "pen" (hollow lettering, `PageText.pens`: ocr.py makes these regions)
    box: tuple[float, float, float, float]  # displayed orientation, top-left origin, points
    pixels: tuple[int, int] | None = None  # an image's own width, height


@dataclass
class PageText:
    index: int  # 0-based
    width: float
    height: float
    lines: list[Line] = field(default_factory=list)
    chars: int = 0  # characters with a position (text layer), visible or not
    ink: list[Ink] = field(default_factory=list)
    # the page is OCR'd whole: too many objects to examine, or too many text objects whose glyphs the text
    # layer does not map to letters (a font without /ToUnicode: "TỐI MẬT" extracts as "T\x01I MT")
    complex: bool = False
    # the glyphs of each line read from the text layer: Line -> ((letter, box), ...) (claimed.py checks them)
    glyphs: dict = field(default_factory=dict)
    # lines that do not run left to right: Line -> Turn (claimed.py reads them turned upright)
    turns: dict = field(default_factory=dict)
    # lines with letters drawn as outlines only (claimed.py: Tesseract reads them poorly)
    hollow: set = field(default_factory=set)
    # the font of each glyph of a line (aligned with `glyphs`), and the fonts by key: PDFium handles, valid
    # while the page is loaded (fonts.py asks them what they draw for the letters they claim)
    faces: dict = field(default_factory=dict)
    fonts: dict = field(default_factory=dict)
    # the letters a font's map gives two codes (twins.py), by font key: PDFium cannot tell which code a glyph
    # is, so lines saying them are read by eye
    twins: dict = field(default_factory=dict)
    # the ink of each glyph of a line (aligned with `glyphs`; None: none drawn, or a blank): what the
    # glyph drawn there covers, as (displayed box, (x0, y0, x1, y1) in ems from its origin in the font's own
    # space or None when its matrix is not a quarter turn). fonts.py compares it with the outline the font
    # gives for the letter: a font that draws another glyph for the same letter elsewhere shows here
    inks: dict = field(default_factory=dict)
    # displayed boxes of glyph-like paths drawn with a pen, not filled in their pen's colour: hollow lettering,
    # which OCR reads poorly however thick the pen (ocr.py reads their regions again with the paths filled)
    pens: list = field(default_factory=list)


@dataclass(frozen=True)
class Turn:
    """How a line runs when not left to right: rotated `deg` degrees clockwise as displayed, `length` points
    along that direction; or a column of upright letters read top to bottom (`stacked`, deg 0)."""

    deg: int
    length: float
    stacked: bool = False
    colour: tuple[int, int, int] | None = None  # its first glyph's ink (RGB 0-255; hollow: the stroke), if known
    centre: tuple[float, float] | None = None  # the middle of its glyphs, displayed points (from their origins)


@dataclass
class DocText:
    pages: list[PageText] = field(default_factory=list)
    extra: list[Line] = field(default_factory=list)  # annotation contents, stamp names (no geometry)
    incomplete: list[Reason] = field(default_factory=list)  # what could not be read (fail closed)


# --- geometry helpers ---------------------------------------------------------------------------------------


class _Affine:
    """Page space (PDF user space) -> displayed space (after /Rotate and the CropBox, top-left origin)."""

    def __init__(self, raw, page, width: float, height: float) -> None:
        scale = 64  # PageToDevice answers integers: work in 1/64 pt
        sx, sy = int(round(width * scale)), int(round(height * scale))
        dx, dy = ctypes.c_int(), ctypes.c_int()

        def dev(x: float, y: float) -> tuple[float, float]:
            raw.FPDF_PageToDevice(page, 0, 0, sx, sy, 0, x, y, dx, dy)
            return dx.value / scale, dy.value / scale

        ox, oy = dev(0.0, 0.0)
        ax, ay = dev(1000.0, 0.0)
        bx, by = dev(0.0, 1000.0)
        self.a, self.b = (ax - ox) / 1000.0, (ay - oy) / 1000.0
        self.c, self.d = (bx - ox) / 1000.0, (by - oy) / 1000.0
        self.e, self.f = ox, oy

    def point(self, x: float, y: float) -> tuple[float, float]:
        return self.a * x + self.c * y + self.e, self.b * x + self.d * y + self.f

    def vector(self, x: float, y: float) -> tuple[float, float]:
        return self.a * x + self.c * y, self.b * x + self.d * y

    def box(self, left: float, bottom: float, right: float, top: float) -> tuple[float, float, float, float]:
        pts = [self.point(left, bottom), self.point(right, top), self.point(left, top), self.point(right, bottom)]
        xs = [p[0] for p in pts]
        ys = [p[1] for p in pts]
        return min(xs), min(ys), max(xs), max(ys)


@dataclass
class _Char:
    ch: str
    u: float  # along the line (start of the glyph)
    u1: float  # end of the glyph along the line
    v: float  # across: the baseline's position
    size: float
    box: tuple[float, float, float, float]
    bold: bool
    obj: int
    colour: tuple[int, int, int] | None = None
    hollow: bool = False
    font: int = 0
    o: float = 0.0  # along the line: the glyph's origin (exact, where u and u1 come from a box upright)
    at: tuple[float, float] = (0.0, 0.0)  # the glyph's origin, displayed points
    ink: int = -1  # a letter's own ink: its index in `_chars`'s `inks` (PageText.inks), -1: none


@dataclass
class _Obj:
    direction: tuple[float, float]
    size: float
    bold: bool
    encoding: str | None = None  # a legacy Vietnamese font (legacy.py): "tcvn3", "tcvn3-caps", "vni"
    symbol: bool = False  # a symbol font (Wingdings bullets): its private-use codes are its own, not unmapped
    colour: tuple[int, int, int] | None = None  # its ink (RGB 0-255: fill; stroke when hollow), if PDFium tells
    hollow: bool = False  # drawn as outlines only (text render mode stroke)
    font: int = 0  # its font's key (the PDFium handle's address; 0: none)
    # page space -> the font's glyph space in ems (the inverse of its matrix over the font size), when it
    # turns glyphs by quarter turns only, unmirrored: then a glyph's ink box there is its outline's box
    to_em: tuple[float, float, float, float] | None = None


# --- reading a document -------------------------------------------------------------------------------------


def open_document(source):
    """A PDFium document from a path or bytes (the caller holds `_LOCK` while using it)."""
    import pypdfium2 as pdfium

    return pdfium.PdfDocument(source)


def _scan_incomplete(detail: str) -> Reason:
    return Reason.of("SECRECY_SCAN_INCOMPLETE", detail=detail[:200])


def read(
    source, *, deadline: float, max_chars: int = 50_000_000, password: str | None = None, ocr: bool = True,
    skip=frozenset(), twins: dict | None = None,
) -> DocText:
    """Every page's lines (and ink without text) of the PDF at `source` (path or bytes), with OCR of what
    the text layer does not say (ocr.py) unless `ocr` is False.

    Stops at `deadline` (time.monotonic()) or after `max_chars` characters, saying so in `incomplete`:
    the caller never releases a document on a partial reading. Raises what PDFium raises on a file it
    cannot open at all (the caller maps that to "broken"). Pages in `skip` (0-based; the caller found them
    too big to load, and reports them) are not loaded. `twins`: twins.by_page of the same file.
    """
    import pypdfium2 as pdfium

    out = DocText()
    seen: dict = {}  # images already read (the same letterhead or stamp on every page: read once)
    with _LOCK:
        pdf = pdfium.PdfDocument(source, password=password)
        try:
            _read_pages(pdf, out, deadline, max_chars, ocr, seen, frozenset(skip), twins or {})
        finally:
            pdf.close()
    return out


def _read_pages(pdf, out: DocText, deadline: float, max_chars: int, ocr: bool, seen: dict, skip,
                twins: dict) -> None:
    from gateway.inspect.limits import Timeout, acknowledge

    total = 0
    n = len(pdf)
    try:
        for i in range(n):
            if i in skip:
                continue
            if time.monotonic() > deadline:
                out.incomplete.append(_scan_incomplete(f"time budget, page {i + 1} of {n}"))
                break
            try:
                page, handle = read_page(pdf, i, out.extra, twins.get(i))
            except Exception as exc:  # noqa: BLE001 - one bad page is unread, not a crash: fail closed
                out.incomplete.append(_scan_incomplete(f"page {i + 1}: {type(exc).__name__}: {exc}"))
                continue
            try:
                total += page.chars
                out.pages.append(page)
                if total > max_chars:
                    out.incomplete.append(_scan_incomplete(f"over {max_chars} characters of text, page {i + 1} of {n}"))
                    break
                if ocr:  # a text page too: what is drawn beyond its text and pictures (`ocr._unaccounted`)
                    _ocr_page(handle, page, deadline, seen, out)
            finally:
                handle.close()
    except Timeout as exc:
        # the document's alarm (limits.time_limit) rang inside a page: what was read is kept (a mark seen
        # already BLOCKs), the rest is unread
        out.incomplete.append(_scan_incomplete(f"time budget, page {len(out.pages) + 1} of {n}"))
        acknowledge(exc)


def _ocr_page(handle, page: PageText, deadline: float, seen: dict, out: DocText) -> None:
    from gateway.inspect import ocr

    lines, problems = ocr.pdf_page(handle, page, deadline, seen)
    page.lines.extend(lines)
    out.incomplete.extend(problems)


def read_page(pdf, index: int, extra: list[Line] | None = None, twins: dict | None = None):
    """One page: annotations read and flattened in, then lines by geometry, then ink without text. Returns the
    PageText and the loaded page (annotations flattened in), which the caller OCRs and closes: loading a page
    costs as much as reading its text. `twins`: the page's entry of twins.by_page."""
    import pypdfium2.raw as raw

    page = pdf[index]
    try:
        if raw.FPDFPage_GetAnnotCount(page) > 0:
            if extra is not None:
                extra.extend(_annotation_texts(raw, page, index))
            if raw.FPDFPage_Flatten(page, raw.FLAT_NORMALDISPLAY) == raw.FLATTEN_SUCCESS:
                page.close()  # the flattened content is seen by a page loaded again
                page = pdf[index]
        width, height = page.get_size()  # displayed size (after /Rotate)
        affine = _Affine(raw, page, width, height)
        result = PageText(index, width, height)
        textpage = page.get_textpage()
        unmapped = _Unmapped()
        letters: list = []
        try:
            chars = _chars(raw, textpage, affine, unmapped, result.fonts, letters)
        finally:
            textpage.close()
        result.chars = sum(len(group) for group in chars.values())
        if twins:
            result.twins = _twinned_fonts(raw, result.fonts, twins)
        frames, ink, complex_page, result.pens = _page_objects(raw, page, affine)
        # text whose glyphs the layer gives no letters for is read as a person reads it: by OCR of the text
        # objects that hold them (the page whole when there are many)
        result.lines = _lines(chars, frames, index, result.glyphs, result.turns, result.hollow, result.faces,
                              result.inks, _letter_inks(letters, affine))
        regions = _unmapped_regions(unmapped.boxes(), result.lines) if len(unmapped) <= MAX_UNMAPPED_OBJECTS else []
        result.ink = ink + [Ink("unmapped", box) for box in regions]
        result.complex = complex_page or len(unmapped) > MAX_UNMAPPED_OBJECTS
        return result, page
    except BaseException:
        page.close()
        raise


def _unmapped(ch: str, obj: "_Obj") -> bool:
    """A glyph the text layer gives no letter for: a control code, U+FFFD, or a private-use code outside a
    symbol font."""
    c = ord(ch[0])
    if c == 0xFFFD or (c < 0x20 and ch not in "\t\n\r") or 0x7F <= c < 0xA0:
        return True
    return not obj.symbol and (0xE000 <= c <= 0xF8FF or c >= 0xF0000)


class _Unmapped:
    """The text objects holding glyphs without a letter, and where they are. PDFium gives an object inside a
    form XObject its bounds in the form's space, its glyphs' boxes in page space: an object whose glyphs lie
    outside its bounds is nested, and is where its glyphs are."""

    def __init__(self) -> None:
        self.bounds: dict[int, tuple[float, float, float, float] | None] = {}
        self.glyphs: dict[int, tuple[float, float, float, float]] = {}

    def __len__(self) -> int:
        return len(self.bounds)

    def note(self, raw, handle, affine: "_Affine", tp, index: int) -> None:
        key = ctypes.cast(handle, ctypes.c_void_p).value or 0
        if not key:
            return
        if key not in self.bounds:
            l, b, r, t = ctypes.c_float(), ctypes.c_float(), ctypes.c_float(), ctypes.c_float()
            ok = raw.FPDFPageObj_GetBounds(handle, l, b, r, t)
            self.bounds[key] = affine.box(l.value, b.value, r.value, t.value) if ok else None
        rect = raw.FS_RECTF()
        if raw.FPDFText_GetLooseCharBox(tp, index, rect):
            g = affine.box(rect.left, rect.bottom, rect.right, rect.top)
            u = self.glyphs.get(key)
            self.glyphs[key] = g if u is None else (min(u[0], g[0]), min(u[1], g[1]), max(u[2], g[2]), max(u[3], g[3]))

    def boxes(self) -> list[tuple[float, float, float, float]]:
        out = []
        for key, b in self.bounds.items():
            g = self.glyphs.get(key)
            if b is None or (g is not None and not (b[0] - 2 <= g[0] and g[2] <= b[2] + 2
                                                    and b[1] - 2 <= g[1] and g[3] <= b[3] + 2)):
                b = g
            if b is not None:
                out.append(tuple(round(v, 2) for v in b))
        return out


_SYMBOL_FONTS = ("symbol", "wingdings", "webdings", "dingbats", "mt extra", "marlett", "bookshelf")


def _chars(raw, textpage, affine: _Affine, unmapped: "_Unmapped | None" = None,
           fonts: dict | None = None, inks: list | None = None) -> dict[tuple[int, int], list[_Char]]:
    """Characters grouped by writing direction (rounded to a degree) -> chars in that direction's frame.
    `unmapped` gets the box of every text object with a glyph without a letter (`_unmapped`, or no Unicode);
    `fonts` the PDFium handle of every font, by `_Obj.font`; `inks` each letter's ink box and origin in page
    space and its glyph matrix's inverse (`_letter_inks`), by `_Char.ink`."""
    unmapped = _Unmapped() if unmapped is None else unmapped
    fonts = {} if fonts is None else fonts
    tp = textpage.raw
    n = raw.FPDFText_CountChars(tp)
    groups: dict[tuple[int, int], list[_Char]] = {}
    if n <= 0:
        return groups
    left, right, bottom, top = ctypes.c_double(), ctypes.c_double(), ctypes.c_double(), ctypes.c_double()
    ox, oy = ctypes.c_double(), ctypes.c_double()
    rect = raw.FS_RECTF()
    objs: dict[int, _Obj] = {}
    last: _Char | None = None
    for i in range(n):
        code = raw.FPDFText_GetUnicode(tp, i)
        if code == 0:
            if raw.FPDFText_IsGenerated(tp, i) != 1:
                unmapped.note(raw, raw.FPDFText_GetTextObject(tp, i), affine, tp, i)
            continue
        try:
            ch = chr(code)
        except ValueError:
            continue
        if ch in _GENERATED and raw.FPDFText_IsGenerated(tp, i) == 1:
            continue
        handle = raw.FPDFText_GetTextObject(tp, i)
        key = ctypes.cast(handle, ctypes.c_void_p).value or 0
        obj = objs.get(key)
        if obj is None:
            obj = objs[key] = _object_info(raw, tp, i, handle, affine)
            if obj.font:
                fonts.setdefault(obj.font, raw.FPDFTextObj_GetFont(handle))
        if obj.encoding is not None:
            if obj.encoding == "vni":
                ch = legacy.vni_char(ch)
            else:
                ch = legacy.tcvn3_char(ch, caps=obj.encoding == "tcvn3-caps")
        if _unmapped(ch, obj):
            unmapped.note(raw, handle, affine, tp, i)
            continue
        if unicodedata.combining(ch[0]) and last is not None:
            last.ch = unicodedata.normalize("NFC", last.ch + ch)  # a combining mark belongs to the letter
            continue  # before it in the file, whatever its box
        if not raw.FPDFText_GetLooseCharBox(tp, i, rect):
            continue
        box = affine.box(rect.left, rect.bottom, rect.right, rect.top)
        ink = -1
        if raw.FPDFText_GetCharOrigin(tp, i, ox, oy):
            px, py = affine.point(ox.value, oy.value)
            if inks is not None and not ch.isspace() and raw.FPDFText_GetCharBox(tp, i, left, right, bottom, top):
                ink = len(inks)
                inks.append((left.value, bottom.value, right.value, top.value, ox.value, oy.value, obj.to_em))
        else:
            px, py = box[0], box[3]
        dx, dy = obj.direction
        nx, ny = -dy, dx  # across the line, pointing "down" in displayed space
        # along-line extent of the box: project its corners on the direction
        corners = ((box[0], box[1]), (box[2], box[1]), (box[0], box[3]), (box[2], box[3]))
        us = [cx * dx + cy * dy for cx, cy in corners]
        u0, u1 = min(us), max(us)
        if ch.isspace():
            u1 = u0  # a space glyph's width says nothing about the next word's start
        deg = int(round(math.degrees(math.atan2(dy, dx)))) % 360
        last = _Char(ch, u0, u1, px * nx + py * ny, obj.size, box, obj.bold, key, obj.colour, obj.hollow,
                     obj.font, px * dx + py * dy, (px, py), ink)
        groups.setdefault((deg, 0), []).append(last)
    return groups


def _object_info(raw, tp, i: int, handle, affine: _Affine) -> _Obj:
    m = raw.FS_MATRIX()
    size = float(raw.FPDFText_GetFontSize(tp, i)) or 1.0
    direction = (1.0, 0.0)
    scale = 1.0
    to_em = None
    if raw.FPDFText_GetMatrix(tp, i, m):
        to_em = _to_em(m.a, m.b, m.c, m.d, size)
        vx, vy = affine.vector(m.a, m.b)
        norm = math.hypot(vx, vy)
        if norm > 1e-9:
            direction = (vx / norm, vy / norm)
        wx, wy = affine.vector(m.c, m.d)
        scale = math.hypot(wx, wy) or 1.0
    if scale > 0 and abs(scale - 1.0) > 1e-6:
        size *= scale
    weight = raw.FPDFText_GetFontWeight(tp, i)
    name = font_name(raw, handle) if handle else ""
    bold = weight >= 600 or any(w in name.lower() for w in ("bold", "black", "heavy", "semibold", "demi"))
    symbol = any(w in name.lower() for w in _SYMBOL_FONTS)
    mode = raw.FPDFTextObj_GetTextRenderMode(handle) if handle else raw.FPDF_TEXTRENDERMODE_FILL
    hollow = mode in (raw.FPDF_TEXTRENDERMODE_STROKE, raw.FPDF_TEXTRENDERMODE_STROKE_CLIP)
    rgba = [ctypes.c_uint() for _ in range(4)]
    colour_of = raw.FPDFPageObj_GetStrokeColor if hollow else raw.FPDFPageObj_GetFillColor
    colour = tuple(v.value for v in rgba[:3]) if handle and colour_of(handle, *rgba) else None
    font = ctypes.cast(raw.FPDFTextObj_GetFont(handle), ctypes.c_void_p).value or 0 if handle else 0
    return _Obj(direction, abs(size) or 1.0, bold, legacy.font_encoding(name), symbol, colour, hollow, font, to_em)


def _to_em(a: float, b: float, c: float, d: float, size: float) -> tuple[float, float, float, float] | None:
    """The inverse of a glyph's matrix over its font size (page space -> ems in the font's space), when the
    matrix turns by quarter turns and does not mirror (a box there is the outline's box); else None."""
    det = a * d - b * c
    big = max(abs(a), abs(b), abs(c), abs(d))
    if size <= 0 or det <= 1e-9 * big * big or not (max(abs(b), abs(c)) <= 1e-3 * big or max(abs(a), abs(d)) <= 1e-3 * big):
        return None
    k = det * size
    return d / k, -c / k, -b / k, a / k


def _letter_inks(letters: list, affine: _Affine) -> list:
    """`PageText.inks`'s (displayed box, shape in ems or None) of each of `_chars`'s `inks` (None where the
    glyph draws no ink), computed for all letters of a page at once (per letter in Python it cost a text page
    a third more)."""
    import numpy as np

    if not letters:
        return []
    nan = (float("nan"),) * 4
    raw = np.array([v[:6] for v in letters], dtype=float)
    em = np.array([v[6] or nan for v in letters], dtype=float)
    left, bottom, right, top, ox, oy = raw.T
    corners = ((left, bottom), (right, top), (left, top), (right, bottom))
    gx = [em[:, 0] * (x - ox) + em[:, 1] * (y - oy) for x, y in corners]
    gy = [em[:, 2] * (x - ox) + em[:, 3] * (y - oy) for x, y in corners]
    shapes = np.stack([np.minimum.reduce(gx), np.minimum.reduce(gy), np.maximum.reduce(gx), np.maximum.reduce(gy)], 1)
    dx = [affine.a * x + affine.c * y + affine.e for x, y in corners]
    dy = [affine.b * x + affine.d * y + affine.f for x, y in corners]
    boxes = np.stack([np.minimum.reduce(dx), np.minimum.reduce(dy), np.maximum.reduce(dx), np.maximum.reduce(dy)], 1)
    drawn = ((right > left) & (top > bottom)).tolist()
    known = ~np.isnan(shapes).any(axis=1)
    return [((tuple(b), tuple(sh) if k else None) if d else None)
            for b, sh, k, d in zip(boxes.tolist(), shapes.tolist(), known.tolist(), drawn)]


def font_name(raw, textobj) -> str:
    font = raw.FPDFTextObj_GetFont(textobj)
    return _base_font_name(raw, font) if font else ""


def _base_font_name(raw, font) -> str:
    """A PDFium font's name: its /BaseFont without a subset tag ("" for none)."""
    buf = ctypes.create_string_buffer(256)
    n = raw.FPDFFont_GetBaseFontName(font, buf, 256)
    from gateway.inspect.twins import untagged

    return untagged(buf.raw[: max(0, n - 1)].decode("latin-1", "replace") if n > 0 else "")


def _twinned_fonts(raw, fonts: dict, twins: dict) -> dict:
    """`PageText.twins` from the page's twins.by_page entry, by PDFium font key. Letters of a font named
    there that no font of the page is named like (a name PDFium spells otherwise) go to every font of the
    page: a name not matched is no reason to believe a map."""
    from gateway.inspect.twins import letters_for

    out: dict = {}
    names = {key: _base_font_name(raw, handle) for key, handle in fonts.items()}
    unmatched = frozenset().union(*(letters for name, letters in twins.items() if name not in names.values()))
    for key, name in names.items():
        letters = letters_for(twins, name) | unmatched
        if letters:
            out[key] = letters
    return out


# --- grouping into lines ------------------------------------------------------------------------------------


def _lines(groups: dict, frames: list, page: int, glyphs: dict | None = None, turns: dict | None = None,
           hollow: set | None = None, faces: dict | None = None, inks: dict | None = None,
           letter_inks: list | None = None) -> list[Line]:
    """The lines of `groups` (`_chars`); their glyphs, turns, hollow lines, glyphs' fonts and letters' ink
    (from `letter_inks`, by `_Char.ink`) noted in the dicts given."""
    hollow_boxes = set()  # a column of hollow letters is hollow
    out: list[Line] = []
    singles: list[tuple[str, tuple[float, float, float, float], float, bool]] = []
    for (deg, _), chars in groups.items():
        upright = min(deg, 360 - deg) <= UPRIGHT_DEG
        chars.sort(key=lambda c: c.v)
        rows: list[list[_Char]] = []
        row_v = None
        row_size = 0.0
        for c in chars:
            if row_v is not None and abs(c.v - row_v) <= BASELINE_TOLERANCE * max(row_size, c.size):
                rows[-1].append(c)
                continue
            rows.append([c])
            row_v, row_size = c.v, c.size
        for row in rows:
            for text, seg in _segments(row):
                box = _union([c.box for c in seg])
                size = max(c.size for c in seg)
                bold = sum(c.bold for c in seg if not c.ch.isspace()) * 2 >= sum(1 for c in seg if not c.ch.isspace())
                framed = _framed(box, size, frames)
                line = Line(text, f"page{page + 1}", page, box, round(size, 2), bold, framed)
                out.append(line)
                if glyphs is not None:
                    glyphs[line] = tuple((c.ch, c.box) for c in seg)
                if faces is not None:
                    faces[line] = tuple(c.font for c in seg)
                if inks is not None and letter_inks is not None:
                    inks[line] = tuple(letter_inks[c.ink] if c.ink >= 0 else None for c in seg)
                if turns is not None and not upright:
                    turns[line] = _turn(deg, seg)
                if hollow is not None and any(c.hollow for c in seg):
                    hollow.add(line)
                    hollow_boxes.add(box)
                if len(text) == 1 and text.isalpha():
                    singles.append((text, box, size, bold))
    for line, column in _stacks(singles, frames, page):
        out.append(line)
        if hollow is not None and any(box in hollow_boxes for _, box, _, _ in column):
            hollow.add(line)
        if glyphs is not None:
            glyphs[line] = tuple((ch, box) for ch, box, _, _ in column)
        if turns is not None:
            turns[line] = Turn(0, round(line.box[3] - line.box[1], 2), stacked=True)
    out.sort(key=lambda l: (round(l.box[1] / 2) if l.box else 0, l.box[0] if l.box else 0))
    return out


def _turn(deg: int, seg: list[_Char]) -> Turn:
    """How a turned line lies, from its glyphs' origins: its length from the first origin to the last and a
    glyph more (the mean pitch), and its middle half an x-height above its baseline. Not from the glyphs'
    boxes: those are upright boxes around turned glyphs, a glyph's height longer at each end at 45
    degrees (a frame's side would be in the line), and PDFium's are not centred on a turned glyph."""
    first, last = min(c.o for c in seg), max(c.o for c in seg)
    n = len(seg)
    size = max(c.size for c in seg)
    pitch = (last - first) / (n - 1) if n > 1 else 0.6 * size
    length = last - first + pitch
    a, b = min(seg, key=lambda c: c.o).at, max(seg, key=lambda c: c.o).at
    dx, dy = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    up = 0.35 * size  # from the baseline to the glyphs' middle, against (-dy, dx) which points "down"
    centre = (round((a[0] + b[0] + pitch * dx) / 2 + up * dy, 2), round((a[1] + b[1] + pitch * dy) / 2 - up * dx, 2))
    return Turn(deg, round(length, 2), colour=seg[0].colour, centre=centre)


def _segments(row: list[_Char]):
    """A row of characters sorted along the line, deduplicated, split into (text, chars) at column gaps.

    Word spaces: a space character in the file, or a gap wider than the segment's own letter spacing (its
    median gap: tracking, kerning) plus `SPACE_GAP` sizes; evenly letter-spaced text stays one word.
    """
    row.sort(key=lambda c: (c.u, c.u1))
    glyphs: list[tuple[_Char, bool]] = []  # (glyph, a space character stood before it)
    space = False
    for c in row:
        if c.ch.isspace():
            space = True
            continue
        if glyphs:
            p = glyphs[-1][0]
            if c.ch == p.ch and abs(c.u - p.u) < 0.15 * c.size:
                continue  # the same glyph drawn again at the same place (fake bold, shadow)
        glyphs.append((c, space))
        space = False
    segment: list[tuple[_Char, bool, float]] = []  # (glyph, space before, gap before)
    end = None
    for c, sp in glyphs:
        gap = 0.0 if end is None else c.u - end
        prev = segment[-1][0] if segment else None
        restyled = prev is not None and gap > SPACE_GAP * c.size and (
            prev.bold != c.bold or not 0.87 <= prev.size / c.size <= 1.15
        )  # a stamp beside body text: another face or size after a gap is another line
        if end is not None and (gap > COLUMN_GAP * c.size or restyled) and segment:
            yield _words(segment), [g for g, _, _ in segment]
            segment = []
        segment.append((c, sp, gap if segment else 0.0))
        end = max(c.u1, c.u + 0.1 * c.size)
    if segment:
        yield _words(segment), [g for g, _, _ in segment]


def _words(segment: list[tuple[_Char, bool, float]]) -> str:
    gaps = sorted(gap for _, sp, gap in segment[1:] if not sp)
    tracking = gaps[len(gaps) // 2] if len(gaps) >= 2 else 0.0
    every = sorted(gap for _, _, gap in segment[1:])
    pitch = every[len(every) // 2] if every else 0.0
    spaced = len(every) >= 2 and pitch > SPACE_GAP * segment[0][0].size  # letter-spaced: "M Ậ T"
    out: list[str] = []
    for k, (c, sp, gap) in enumerate(segment):
        if k and spaced and gap > 1.6 * pitch + 0.1 * c.size:
            out.append("   ")  # a wider gap between letter-spaced words: "T Ố I   M Ậ T"
        elif k and (sp or gap > max(0.0, min(tracking, c.size)) + SPACE_GAP * c.size):
            out.append(" ")
        out.append(c.ch)
    return "".join(out)


def _stacks(singles, frames, page: int) -> list[tuple[Line, list]]:
    """Single letters stacked in a column, top to bottom, read as one word (a vertical stamp): (the Line,
    its letters as given in `singles`)."""
    out: list[tuple[Line, list]] = []
    singles = sorted(singles, key=lambda s: s[1][1])
    used = [False] * len(singles)
    for i, (ch, box, size, bold) in enumerate(singles):
        if used[i]:
            continue
        column = [i]
        cx = (box[0] + box[2]) / 2
        last = box
        for j in range(i + 1, len(singles)):
            if used[j]:
                continue
            _, b2, s2, _ = singles[j]
            if abs((b2[0] + b2[2]) / 2 - cx) > 0.6 * max(size, s2):
                continue
            gap = b2[1] - last[3]
            if gap > 1.2 * max(size, s2):
                break
            if gap >= -0.3 * s2:
                column.append(j)
                last = b2
        if len(column) >= 2:
            for j in column:
                used[j] = True
            boxes = [singles[j][1] for j in column]
            text = "".join(singles[j][0] for j in column)
            box_all = _union(boxes)
            size_all = max(singles[j][2] for j in column)
            line = Line(text, f"page{page + 1}", page, box_all, round(size_all, 2), bold,
                        _framed(box_all, size_all, frames))
            out.append((line, [singles[j] for j in column]))
    return out


def _union(boxes) -> tuple[float, float, float, float]:
    return (
        round(min(b[0] for b in boxes), 2),
        round(min(b[1] for b in boxes), 2),
        round(max(b[2] for b in boxes), 2),
        round(max(b[3] for b in boxes), 2),
    )


def _framed(box, size: float, frames) -> bool:
    """Drawn inside a rectangle that hugs it (a boxed stamp): not a page border, not a table's outer frame."""
    if not frames:
        return False
    x0, y0, x1, y1 = box
    area = max((x1 - x0) * (y1 - y0), 1.0)
    margin = 3.0 * size
    for fx0, fy0, fx1, fy1 in frames:
        if fx0 <= x0 + 1 and fy0 <= y0 + 1 and fx1 >= x1 - 1 and fy1 >= y1 - 1:
            if x0 - fx0 <= margin and fx1 - x1 <= margin and y0 - fy0 <= margin and fy1 - y1 <= margin:
                if (fx1 - fx0) * (fy1 - fy0) <= 12 * area:
                    return True
    return False


# --- page objects: frames, images, outlines -----------------------------------------------------------------


def _page_objects(raw, page, affine: _Affine):
    """Rectangles that may frame a line, ink without text (images, glyph-like outlines), whether the page has
    too many objects to examine, and the boxes of glyph-like paths drawn hollow (`pen_drawn`)."""
    frames: list[tuple[float, float, float, float]] = []
    ink: list[Ink] = []
    pens: list[tuple[float, float, float, float]] = []
    left, bottom, right, top = ctypes.c_float(), ctypes.c_float(), ctypes.c_float(), ctypes.c_float()
    w, h = ctypes.c_uint(), ctypes.c_uint()
    seen = 0
    complex_page = False
    for obj in page.get_objects(filter=(raw.FPDF_PAGEOBJ_PATH, raw.FPDF_PAGEOBJ_IMAGE), max_depth=8):
        seen += 1
        if seen > MAX_PATHS:
            complex_page = True
            break
        handle = obj.raw
        if not raw.FPDFPageObj_GetBounds(handle, left, bottom, right, top):
            continue
        box = affine.box(*_in_page_space(obj, left.value, bottom.value, right.value, top.value))
        if box[2] - box[0] < 0.5 and box[3] - box[1] < 0.5:
            continue
        if obj.type == raw.FPDF_PAGEOBJ_IMAGE:
            px = None
            if raw.FPDFImageObj_GetImagePixelSize(handle, w, h):
                px = (int(w.value), int(h.value))
            ink.append(Ink("image", box, px))
            continue
        segments = raw.FPDFPath_CountSegments(handle)
        if segments >= 4:
            frames.append(box)
        if segments >= OUTLINE_SEGMENTS:
            fill, pen = _draw_mode(raw, handle)
            letter = box[2] - box[0] <= OUTLINE_LETTER and box[3] - box[1] <= OUTLINE_LETTER
            # a background box or a rounded frame is one big subpath; glyphs are small, or many subpaths
            if (fill or pen) and (letter or _subpaths(raw, handle, segments) >= 3):
                if fill:
                    ink.append(Ink("outline", box))
                if pen:
                    pens.append(box)
    return frames, _merge_outlines(ink), complex_page, _unframed(pens)


def _draw_mode(raw, handle) -> tuple[bool, bool]:
    """(filled, drawn hollow): drawn hollow is a pen stroke around a shape not filled in the pen's colour
    (not filled at all, or filled white under a black pen)."""
    fillmode, stroke = ctypes.c_int(), ctypes.c_int()
    raw.FPDFPath_GetDrawMode(handle, fillmode, stroke)
    if not stroke.value:
        return bool(fillmode.value), False
    if not fillmode.value:
        return False, True
    return True, _colour(raw.FPDFPageObj_GetFillColor, handle) != _colour(raw.FPDFPageObj_GetStrokeColor, handle)


def _colour(get, handle) -> tuple[int, int, int] | None:
    c = rgba(get, handle)
    return None if c is None else c[:3]


def rgba(get, handle) -> tuple[int, int, int, int] | None:
    """A path's fill or pen colour (`get`: FPDFPageObj_GetFillColor or ...StrokeColor) as RGBA, or None."""
    r, g, b, a = ctypes.c_uint(), ctypes.c_uint(), ctypes.c_uint(), ctypes.c_uint()
    return (r.value, g.value, b.value, a.value) if get(handle, r, g, b, a) else None


def _unframed(boxes: list) -> list:
    """`boxes` less frames: a box larger than another that holds most of that other (a frame drawn around
    hollow letters, or across them, stays a frame: filled, it would cover them)."""
    if len(boxes) > 2000:  # quadratic below; a page of that many hollow shapes is read as drawn
        return boxes

    def area(b) -> float:
        return max(0.0, b[2] - b[0]) * max(0.0, b[3] - b[1])

    def frames(b, o) -> bool:
        w, h = min(b[2], o[2]) - max(b[0], o[0]), min(b[3], o[3]) - max(b[1], o[1])
        return area(b) > area(o) and w > 0 and h > 0 and w * h >= 0.5 * area(o)

    return [b for b in boxes if not any(o is not b and frames(b, o) for o in boxes)]


def pen_drawn(page, width: float, height: float, boxes) -> list:
    """The path objects of a loaded page whose displayed boxes (as `_page_objects` found them) are among
    `boxes`."""
    import pypdfium2.raw as raw

    affine = _Affine(raw, page, width, height)
    want = {tuple(round(v, 2) for v in b) for b in boxes}
    left, bottom, right, top = ctypes.c_float(), ctypes.c_float(), ctypes.c_float(), ctypes.c_float()
    out = []
    for n, obj in enumerate(page.get_objects(filter=(raw.FPDF_PAGEOBJ_PATH,), max_depth=8)):
        if n >= MAX_PATHS:
            break
        if not raw.FPDFPageObj_GetBounds(obj.raw, left, bottom, right, top):
            continue
        box = affine.box(*_in_page_space(obj, left.value, bottom.value, right.value, top.value))
        if tuple(round(v, 2) for v in box) in want:
            out.append(obj)
    return out


def _in_page_space(obj, left: float, bottom: float, right: float, top: float) -> tuple[float, float, float, float]:
    """An object's bounds in page space. PDFium gives an object inside a form XObject its bounds in the form's
    own space: a stamp picture placed by a form (as producers and flattened annotations draw them) would be
    looked for at the page's corner. Each enclosing form's matrix maps it out."""
    form = obj.container
    while form is not None:
        left, bottom, right, top = form.get_matrix().on_rect(left, bottom, right, top)
        form = form.container
    return left, bottom, right, top


def _subpaths(raw, handle, segments: int) -> int:
    n = 0
    for k in range(min(segments, 400)):
        seg = raw.FPDFPath_GetPathSegment(handle, k)
        if seg and raw.FPDFPathSegment_GetType(seg) == raw.FPDF_SEGMENT_MOVETO:
            n += 1
    return n


def _merge_outlines(ink: list[Ink]) -> list[Ink]:
    """Glyph outlines come one path per letter: merge neighbours into regions (one OCR call per word).
    Images that touch or overlap are one picture to a person (a scan cut into strips or tiles, a stamp pasted
    over a scan): one region, read as rendered (no own pixels: `pixels` None)."""
    images = _touching_images([i for i in ink if i.kind == "image"])
    return images + [Ink("outline", b) for b in merge_boxes([i.box for i in ink if i.kind == "outline"])]


IMAGE_GAP = 1.5  # points: images this close are one picture (tiles meet edge to edge, give or take rounding)


MAX_SEPARATE_IMAGES = 300  # more images than this on a page are read as one region (their union): the
# pairwise merge below is quadratic


def _touching_images(images: list[Ink]) -> list[Ink]:
    if len(images) > MAX_SEPARATE_IMAGES:
        boxes = [i.box for i in images]
        union = (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))
        return [Ink("image", tuple(round(v, 2) for v in union))]
    groups: list[list] = []  # [box as list, the Ink when alone]
    for ink in images:
        box, alone = list(ink.box), ink
        joined = True
        while joined:
            joined = False
            for g in groups:
                b = g[0]
                if (box[0] <= b[2] + IMAGE_GAP and b[0] <= box[2] + IMAGE_GAP
                        and box[1] <= b[3] + IMAGE_GAP and b[1] <= box[3] + IMAGE_GAP):
                    box = [min(b[0], box[0]), min(b[1], box[1]), max(b[2], box[2]), max(b[3], box[3])]
                    alone = None
                    groups.remove(g)
                    joined = True
                    break
        groups.append([box, alone])
    return [alone if alone is not None else Ink("image", tuple(round(v, 2) for v in box)) for box, alone in groups]


def _unmapped_regions(boxes, lines: list[Line]) -> list[tuple[float, float, float, float]]:
    """What to OCR for glyphs without letters: each with the whole text line it stands in (the letters the
    layer does map are part of the same word: "T?I M?T"), neighbours merged."""
    out = []
    for ub in boxes:
        bx, h = list(ub), ub[3] - ub[1]
        for line in lines:
            lb = line.box
            if lb is None:
                continue
            overlap = min(ub[3], lb[3]) - max(ub[1], lb[1])
            if overlap >= 0.5 * min(h, lb[3] - lb[1]) and lb[0] <= ub[2] + 2 * h and ub[0] <= lb[2] + 2 * h:
                bx = [min(bx[0], lb[0]), min(bx[1], lb[1]), max(bx[2], lb[2]), max(bx[3], lb[3])]
        out.append(bx)
    return merge_boxes(out)


def merge_boxes(boxes) -> list[tuple[float, float, float, float]]:
    """Boxes that touch or nearly touch (a letter's gap, a line's leading) merged into one."""
    boxes = [list(b) for b in boxes]
    merged = True
    while merged and len(boxes) > 1:
        merged = False
        out: list[list[float]] = []
        for b in boxes:
            for m in out:
                pad = max(4.0, 0.6 * min(b[3] - b[1], m[3] - m[1]))
                if b[0] <= m[2] + pad and m[0] <= b[2] + pad and b[1] <= m[3] + pad and m[1] <= b[3] + pad:
                    m[0], m[1], m[2], m[3] = min(m[0], b[0]), min(m[1], b[1]), max(m[2], b[2]), max(m[3], b[3])
                    merged = True
                    break
            else:
                out.append(list(b))
        boxes = out
    return [tuple(round(v, 2) for v in b) for b in boxes]


# --- annotations --------------------------------------------------------------------------------------------


def _annotation_texts(raw, page, index: int) -> list[Line]:
    """/Contents of every annotation (a person opens them), a comment's author and subject, and a Stamp's
    standard /Name."""
    out: list[Line] = []
    n = raw.FPDFPage_GetAnnotCount(page)
    for k in range(min(n, 10_000)):
        annot = raw.FPDFPage_GetAnnot(page, k)
        if not annot:
            continue
        try:
            subtype = raw.FPDFAnnot_GetSubtype(annot)
            if subtype in (raw.FPDF_ANNOT_LINK, raw.FPDF_ANNOT_POPUP):
                continue
            keys = ("Contents", "RC", "TU", "V", "OverlayText")  # OverlayText: a redaction's, drawn once applied
            if subtype != raw.FPDF_ANNOT_WIDGET:  # a comment's author (/T) heads its pop-up and the comments list,
                keys += ("T", "Subj")  # its subject too; a widget's /T is a field's internal name
            for key in keys:
                text = _annot_string(raw, annot, key)
                if text:
                    where = f"annotation:page{index + 1}"
                    out.extend(Line(t, where, index) for t in text.splitlines() if t.strip())
            if subtype == raw.FPDF_ANNOT_STAMP:
                name = _annot_name(raw, annot)
                if name:
                    out.append(Line(name, f"stamp:page{index + 1}", index))
        finally:
            raw.FPDFPage_CloseAnnot(annot)
    return out


def _annot_string(raw, annot, key: str) -> str:
    k = key.encode("ascii")
    if not raw.FPDFAnnot_HasKey(annot, k):
        return ""
    n = raw.FPDFAnnot_GetStringValue(annot, k, None, 0)
    if n <= 2:
        return ""
    buf = ctypes.create_string_buffer(n)
    raw.FPDFAnnot_GetStringValue(annot, k, ctypes.cast(buf, ctypes.POINTER(raw.FPDF_WCHAR)), n)
    text = buf.raw[: n - 2].decode("utf-16-le", "replace")
    if key == "RC":  # rich text (XHTML): shown as a viewer shows it, entities and inline tags included
        from gateway.inspect.text import rich_text

        text = rich_text(text)
    return text


def _annot_name(raw, annot) -> str:
    """A Stamp's /Name (Confidential, TopSecret, ...): viewers draw the standard stamp when there is no /AP."""
    if raw.FPDFAnnot_GetValueType(annot, b"Name") != raw.FPDF_OBJECT_NAME:
        return ""
    return _annot_string(raw, annot, "Name")


# --- rendering, for OCR -------------------------------------------------------------------------------------


# --- a child process, for large files ----------------------------------------------------------------------


def to_json(doc: DocText) -> dict:
    def line(l: Line) -> list:
        return [l.text, l.where, l.page, list(l.box) if l.box else None, l.size, l.bold, l.framed]

    return {
        "pages": [
            {"index": p.index, "width": p.width, "height": p.height, "chars": p.chars, "complex": p.complex,
             "lines": [line(l) for l in p.lines], "ink": [[i.kind, list(i.box), i.pixels] for i in p.ink]}
            for p in doc.pages
        ],
        "extra": [line(l) for l in doc.extra],
        "incomplete": [[r.code, list(map(list, r.params))] for r in doc.incomplete],
    }


def from_json(data: dict) -> DocText:
    def line(v: list) -> Line:
        return Line(str(v[0]), str(v[1]), v[2], tuple(v[3]) if v[3] else None, v[4], v[5], bool(v[6]))

    doc = DocText(
        extra=[line(v) for v in data["extra"]],
        incomplete=[Reason(str(code), tuple((str(k), str(v)) for k, v in params)) for code, params in data["incomplete"]],
    )
    for p in data["pages"]:
        page = PageText(int(p["index"]), float(p["width"]), float(p["height"]), chars=int(p["chars"]),
                        complex=bool(p["complex"]))
        page.lines = [line(v) for v in p["lines"]]
        page.ink = [Ink(k, tuple(b), tuple(px) if px else None) for k, b, px in p["ink"]]
        doc.pages.append(page)
    return doc


def read_in_child(path: str, *, deadline: float, max_chars: int, password: str | None = None, skip=(),
                  twins: dict | None = None) -> DocText:
    """`read` in a child process killed at the deadline: a large file's pages and images occupy the child's
    memory, not the worker's. Whatever goes wrong there is a page text not read (fail closed)."""
    import json
    import subprocess
    import sys

    args = [sys.executable, "-m", "gateway.inspect.pdftext", "--json", "--max-chars", str(max_chars)]
    if password is not None:
        args += ["--password", password]
    if skip:
        args += ["--skip", ",".join(str(i) for i in sorted(skip))]
    args += ["--twins-stdin"]
    given = json.dumps({str(i): {name: sorted(letters) for name, letters in fonts.items()}
                        for i, fonts in (twins or {}).items()}).encode()
    timeout = max(0.5, deadline - time.monotonic())

    def bounded() -> None:  # a hostile file makes PDFium allocate without end: the child dies, not the worker
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (CHILD_MEMORY_BYTES, CHILD_MEMORY_BYTES))

    try:
        proc = subprocess.run([*args, "--seconds", f"{timeout:.3f}", path], input=given, capture_output=True,
                              timeout=timeout + 5, preexec_fn=bounded)
    except subprocess.TimeoutExpired:
        return DocText(incomplete=[_scan_incomplete("time budget (page text in a child process)")])
    if proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [f"exit {proc.returncode}"]
        return DocText(incomplete=[_scan_incomplete(f"page text in a child process: {err[0][:160]}")])
    return from_json(json.loads(proc.stdout))


def main(argv=None) -> int:  # debugging aid, and the child process of `read_in_child`
    import argparse
    import json
    import sys

    ap = argparse.ArgumentParser(prog="python -m gateway.inspect.pdftext")
    ap.add_argument("paths", nargs="+")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--seconds", type=float, default=600.0)
    ap.add_argument("--max-chars", type=int, default=50_000_000)
    ap.add_argument("--password", default=None)
    ap.add_argument("--no-ocr", action="store_true")
    ap.add_argument("--skip", default="", help="0-based pages not to load (comma list)")
    ap.add_argument("--twins-stdin", action="store_true", help="twins.by_page as JSON on stdin")
    a = ap.parse_args(argv)
    twins = None
    if a.twins_stdin:
        twins = {int(i): {name: frozenset(letters) for name, letters in fonts.items()}
                 for i, fonts in json.load(sys.stdin).items()}
    for path in a.paths:
        skip = {int(x) for x in a.skip.split(",") if x.strip()}
        doc = read(path, deadline=time.monotonic() + a.seconds, max_chars=a.max_chars, password=a.password,
                   ocr=not a.no_ocr, skip=skip, twins=twins)
        if a.json:
            json.dump(to_json(doc), sys.stdout, ensure_ascii=False)
            continue
        for p in doc.pages:
            print(f"--- page {p.index + 1} ({p.width:.0f}x{p.height:.0f}) chars={p.chars} ink={len(p.ink)}")
            for line in p.lines:
                flags = ("B" if line.bold else "") + ("F" if line.framed else "")
                print(f"{line.box} {line.size} {flags:2} {line.text}")
        for line in doc.extra:
            print(f"[{line.where}] {line.text}")
        for what in doc.incomplete:
            print(f"INCOMPLETE {what.code} {what.args}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
