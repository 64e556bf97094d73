"""What each font draws for the letters its map claims: the lying-font check for lines of prose.

`claimed.py` reads short lines by eye; a long line is believed as its text layer says, and reading every line
by eye costs three to five times a page's text reading. A lie, though, is the font's, not the line's: the map
sends a code to a letter, the font draws that code. PDFium gives the outline a font draws for a claimed letter
(`FPDFFont_GetGlyphPath` maps the letter back to its code); each (font, letter) of a page's long lines is
drawn once from its outline, the new ones set in rows with wide gaps and read by one Tesseract call (each
letter it finds given to the glyph under it), and a long line whose glyphs, read so, spell more words of a
mark than its text layer says is read by eye like a short line (claimed.py), and its text as drawn is read
for marks too (the eye may misread a long line: "TUYỆT MẬTT").
What an outline was read as is kept by the outline's bytes, in this process (the same fonts in every letter
of an agency: read once).

Not covered: a font whose map sends two codes to one letter (one honest, one drawing another letter: PDFium
gives one outline per letter); Type 3 fonts (no outlines: their long lines are believed).
"""

from __future__ import annotations

import collections
import ctypes
import hashlib
import re
import threading

from gateway.inspect.reading import Line

GLYPH_PX = 64  # an em drawn this many pixels high (x-height ~30 px: Tesseract reads one letter poorly smaller)
GAP_PX = 48  # white between two glyphs of a row: each letter Tesseract finds falls under one glyph
ROW_GLYPHS = 30  # glyphs per row
_SAME = [set("iIl1|!¡jJ"), set("oO0"), set("sS5"), set("zZ2")]  # one shape to a reader of one glyph
_READ: "collections.OrderedDict[bytes, str]" = collections.OrderedDict()
_READ_MAX = 20_000
_LOCK = threading.Lock()


def suspects(text, lines: list[Line]) -> list[tuple[Line, str]]:
    """The lines among `lines` (upright lines of a `pdftext.PageText`, its page loaded) that, with the letters
    their fonts draw in place of those they claim, hold more words of a mark than their text layer says, each
    with that text as drawn. Honest glyphs Tesseract misreads alone ("g" as "U") rarely spell a mark. Paths
    are asked for on every page: a font handle's address may be another font's once its page is closed."""
    import pypdfium2.raw as raw

    users: dict[tuple[int, str], list[Line]] = {}
    for line in lines:
        for (ch, _), font in zip(text.glyphs.get(line, ()), text.faces.get(line, ())):
            if font and ch.isalnum():
                users.setdefault((font, ch), []).append(line)
    if not users:
        return []
    drawn: dict[tuple[int, str], bytes] = {}
    paths: dict[bytes, tuple] = {}
    for font, ch in users:
        handle = text.fonts.get(font)
        path = _path(raw, handle, ch) if handle else None
        if path:
            key = hashlib.sha256(path[0]).digest()
            drawn[(font, ch)] = key
            paths[key] = path
    with _LOCK:
        new = [k for k in paths if k not in _READ]
    if new:
        read = _read([_contours(paths[k]) for k in new])
        with _LOCK:
            for k, r in zip(new, read):
                _READ[k] = r
            while len(_READ) > _READ_MAX:
                _READ.popitem(last=False)
    other: dict[tuple[int, str], str] = {}
    with _LOCK:
        for pair, key in drawn.items():
            seen = _READ.get(key, "")
            if _other_letter(seen, pair[1]):
                other[pair] = _base(seen)  # its accents as read alone are not to be trusted: "TUYÊT" for "TUYỆT";
                # without them the marks rule still reads the mark ("TUYET MAT")
    if not other:
        return []
    out = []
    touched = dict.fromkeys(line for pair in other for line in users[pair])
    for line in touched:
        glyphs = text.glyphs.get(line, ())
        letters = iter(other.get((font, ch), ch) for (ch, _), font in zip(glyphs, text.faces.get(line, ())))
        shown = "".join(next(letters, c) if not c.isspace() else c for c in line.text)
        if _mark_words(shown) > _mark_words(line.text):
            out.append((line, shown))
    return out


_MARK_WORD = re.compile(r"(?<![A-Z])(MAT|TOI|TUYET)(?![A-Z])")


def _mark_words(text: str) -> int:
    """How many words of a mark ("MẬT", "TỐI", "TUYỆT", any case, accents aside) `text` holds."""
    return len(_MARK_WORD.findall(_base(text).upper()))


def forget() -> None:
    with _LOCK:
        _READ.clear()


def _path(raw, font, ch: str) -> tuple | None:
    """The path `font` draws for the letter `ch`, as (its points' bytes, for a key; [(kind, x, y, closes)]):
    em units, y up. None if it has none (a Type 3 font, a letter its map does not claim)."""
    import array

    path = raw.FPDFFont_GetGlyphPath(font, ord(ch), 1.0)
    if not path:
        return None
    x, y = ctypes.c_float(), ctypes.c_float()
    points = array.array("f")
    segments = []
    for i in range(raw.FPDFGlyphPath_CountGlyphSegments(path)):
        segment = raw.FPDFGlyphPath_GetGlyphPathSegment(path, i)
        if not segment or not raw.FPDFPathSegment_GetPoint(segment, x, y):
            continue
        kind, closes = raw.FPDFPathSegment_GetType(segment), bool(raw.FPDFPathSegment_GetClose(segment))
        points.extend((x.value, y.value, kind + 8 * closes))
        segments.append((kind, x.value, y.value, closes))
    return (points.tobytes(), segments) if segments else None


def _contours(path) -> list:
    """`_path`'s segments as contours (lists of points; a cubic Bézier, which comes as three segments,
    flattened to six)."""
    import pypdfium2.raw as raw

    contours: list[list[tuple[float, float]]] = []
    current: list[tuple[float, float]] = []
    curve: list[tuple[float, float]] = []
    for kind, px, py, closes in path[1]:
        point = (px, py)
        if kind == raw.FPDF_SEGMENT_MOVETO:
            if current:
                contours.append(current)
            current, curve = [point], []
        elif kind == raw.FPDF_SEGMENT_BEZIERTO:
            curve.append(point)
            if len(curve) == 3 and current:
                (ax, ay), (b, c, d) = current[-1], curve
                for k in range(1, 7):
                    t = k / 6
                    u = 1 - t
                    current.append((u ** 3 * ax + 3 * u * u * t * b[0] + 3 * u * t * t * c[0] + t ** 3 * d[0],
                                    u ** 3 * ay + 3 * u * u * t * b[1] + 3 * u * t * t * c[1] + t ** 3 * d[1]))
                curve = []
        else:
            current.append(point)
        if closes and current:
            contours.append(current)
            current, curve = [], []
    if current:
        contours.append(current)
    return [c for c in contours if len(c) > 2]


def _picture(contours):
    """The glyph filled (even-odd), GLYPH_PX to the em, dark on white, cut to its ink."""
    import numpy as np
    from PIL import Image, ImageDraw

    xs = [p[0] for c in contours for p in c]
    ys = [p[1] for c in contours for p in c]
    if not xs:
        return None
    x0, y1 = min(xs), max(ys)
    w = int((max(xs) - x0) * GLYPH_PX) + 3
    h = int((y1 - min(ys)) * GLYPH_PX) + 3
    if w > 4 * GLYPH_PX or h > 4 * GLYPH_PX:
        return None  # not a letter's size
    filled = np.zeros((h, w), dtype=bool)
    for c in contours:
        mask = Image.new("1", (w, h), 0)
        ImageDraw.Draw(mask).polygon([((px - x0) * GLYPH_PX + 1, (y1 - py) * GLYPH_PX + 1) for px, py in c], fill=1)
        filled ^= np.asarray(mask, dtype=bool)
    return np.where(filled, 0, 255).astype(np.uint8)


def _read(outlines) -> list[str]:
    """What Tesseract reads each outline as: the glyphs set in rows with wide gaps on one sheet, read by one
    call, each letter Tesseract finds given to the glyph under its middle (a letter alone is read poorly:
    among others it has its neighbours' context)."""
    import numpy as np
    from PIL import Image

    from gateway.inspect import ocr

    pictures = [_picture(c) for c in outlines]
    out = [""] * len(pictures)
    slots = [i for i, p in enumerate(pictures) if p is not None]
    if not slots:
        return out
    rows = [slots[k:k + ROW_GLYPHS] for k in range(0, len(slots), ROW_GLYPHS)]
    row_h = max(pictures[i].shape[0] for i in slots) + GAP_PX
    width = max(sum(pictures[i].shape[1] + GAP_PX for i in row) for row in rows) + GAP_PX
    sheet = np.full((row_h * len(rows) + GAP_PX, width), 255, dtype=np.uint8)
    places = []  # (x0, y0, x1, y1, glyph)
    for r, row in enumerate(rows):
        x, base = GAP_PX, GAP_PX + r * row_h + row_h - GAP_PX  # letters on one line at the row's foot
        for i in row:
            p = pictures[i]
            top = base - p.shape[0]
            sheet[top:top + p.shape[0], x:x + p.shape[1]] = p
            places.append((x - GAP_PX // 2, base - row_h + GAP_PX // 2, x + p.shape[1] + GAP_PX // 2, base + GAP_PX // 2, i))
            x += p.shape[1] + GAP_PX
    best: dict[int, float] = {}
    for symbol in ocr.recognise(Image.fromarray(sheet, "L"), block=True, symbols=True):
        cx, cy = (symbol.box[0] + symbol.box[2]) / 2, (symbol.box[1] + symbol.box[3]) / 2
        for x0, y0, x1, y1, i in places:
            if x0 <= cx < x1 and y0 <= cy < y1:
                off = abs(cx - (x0 + x1) / 2)  # Tesseract may split a glyph: the piece in its middle
                if i not in best or off < best[i]:
                    best[i], out[i] = off, symbol.text
                break
    return out


def _base(text: str) -> str:
    from gateway.inspect.marks import unaccented

    return unaccented(text)


def _other_letter(read: str, claimed: str) -> bool:
    """Was a glyph claiming `claimed` read as another letter? Accents and case aside (the marks rule reads
    accents loosely; one letter alone does not show its case reliably: "y" is read "Y"), and shapes a single
    glyph shares ("l", "I", "1")."""
    seen = [c for c in _base(read) if c.isalpha()]
    if not seen:
        return False  # nothing legible as a letter: a symbol, a digit, a script Tesseract does not read
    want = _base(claimed)
    for c in seen:
        if c.lower() == want.lower():  # case aside: one letter alone does not show it reliably ("y" read "Y")
            continue
        if any(c in group and want in group for group in _SAME):
            continue
        return True
    return False
