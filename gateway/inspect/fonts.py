"""What each font draws for the letters its map claims: the lying-font check for lines of prose.

`claimed.py` reads short lines by eye; a long line is believed as its text layer says, and reading every line
by eye costs three to five times a page's text reading. A lie, though, is the font's, not the line's: the map
sends a code to a letter, the font draws that code. PDFium gives the outline a font draws for a claimed letter
(`FPDFFont_GetGlyphPath` maps the letter back to its code); each (font, letter) of a page's long lines is
drawn once from its outline, the new ones set in rows with wide gaps and read by one Tesseract call (each
letter it finds given to the glyph under it), and a long line whose glyphs, read so, spell more words of a
mark than its text layer says is read by eye like a short line (claimed.py), and its text as drawn is read
for marks too (the eye may misread a long line: "TUYỆT MẬTT"). Signs are checked like letters (a glyph said
to be "#" may draw an "M").

The map read in reverse gives one code per letter, and a Type 3 font has no outlines at all. So each glyph
is also checked where it stands: the box of the ink it draws there (PDFium's character box, in the font's
own space) must be the box of the outline (to TOLERANCE_EM). Where it is not, or where there is no outline,
or where one glyph stands for several letters (a ligature), what is drawn there is cut from the page
rendered and read the same way, once per (font, letters, box).
What a glyph was read as is kept by its outline's bytes (or its picture's), in this process (the same fonts
in every letter of an agency: read once).

Read by eye besides (`small_marks`, `twinned`, `gapped`), whatever each glyph looks like:
- a line saying a word spelled like a word of a mark but not as the mark writes it ("mật", "MẠT", "tới"):
  a lie in case or accents alone changes no letter, and one letter read alone does not show its case;
- a line saying a character its font's map gives two codes (twins.py): which code a glyph is, PDFium does
  not tell, and a second code may draw a glyph of the same box ("T" for "Z" in Liberation Sans, 0.009 em);
- a line with ink between two of its letters where no letter is: a glyph said to be a space draws there.
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
MAX_NEW_GLYPHS = 600  # glyphs not read before on one page, read one by one at most; more: their lines by eye
WIDE_EM = 1.5  # a glyph wider than this many ems may draw several letters: all read under it are kept
WIDEST_EM = 16  # a glyph wider than this many ems is not read as one (nor is one taller than 4)
CUT_DPI = 300  # what is drawn where a letter's ink is not its outline's: rendered at most this fine
CUT_PIXELS = 12_000_000  # ... and in at most this many pixels
INK_BELOW = 160  # a grey level darker than this is ink
_SAME = [set("iIl1|!¡jJ"), set("oO0"), set("sS5"), set("zZ2")]  # one shape to a reader of one glyph
_READ: "collections.OrderedDict[bytes, str]" = collections.OrderedDict()
_READ_MAX = 20_000
_LOCK = threading.Lock()


def suspects(text, lines: list[Line], page) -> list[tuple[Line, str]]:
    """The lines among `lines` (upright lines of a `pdftext.PageText`, its page loaded as `page`) that, with
    the letters their fonts draw in place of those they claim, hold more words of a mark than their text layer
    says, each with that text as drawn. Honest glyphs Tesseract misreads alone ("g" as "U") rarely spell a
    mark. Paths are asked for on every page: a font handle's address may be another font's once its page is
    closed.

    Each letter is checked where it stands, not only by the font's map: its ink box (`PageText.inks`) must be
    the box of the outline the font gives for the letter. Where it is not (a second code claiming the same
    letter and drawing another glyph; one glyph for several letters; a Type 3 font, which gives no outline),
    what is drawn there is cut from the page rendered and read like an outline, once per (font, letters,
    box)."""
    import pypdfium2.raw as raw

    outlines: dict[tuple[int, str], tuple | None] = {}
    cuts: dict[tuple, tuple] = {}  # key -> (displayed box, em in points) of one place it is drawn
    units: dict[Line, list[tuple[tuple | None, str]]] = {}  # line -> [(key, letters)] per glyph drawn
    by_eye: list[Line] = []  # turned lines with a glyph to cut: a glyph cut turned is not read; the line is
    for line in lines:
        turned = line in text.turns
        glyphs, faces, inks = text.glyphs.get(line, ()), text.faces.get(line, ()), text.inks.get(line, ())
        seq: list[tuple[tuple | None, str]] = []
        k, n = 0, len(glyphs)
        while k < n:
            font = faces[k] if k < len(faces) else 0
            ink = inks[k] if k < len(inks) else None
            j = k + 1
            while ink is not None and j < n and j < len(inks) and inks[j] is not None and inks[j][0] == ink[0]:
                j += 1  # one glyph for several letters (a ligature): PDFium gives each the glyph's box
            letters = "".join(g[0] for g in glyphs[k:j])
            key = None
            if font and letters.strip():  # signs too: a glyph said to be "#" may draw an "M"
                if j - k == 1:
                    if (font, letters) not in outlines:
                        handle = text.fonts.get(font)
                        outlines[(font, letters)] = _path(raw, handle, letters) if handle else None
                    path = outlines[(font, letters)]
                    if path and (ink is None or turned or _fits(ink[1], path[2])):
                        key = ("outline", font, letters)  # turned: its box is not compared (a turn by
                        # other than quarter turns has none in the font's space); its outline is read
                if key is None and ink is not None and turned:
                    by_eye.append(line)
                elif key is None and ink is not None:
                    key = ("cut", font, letters, _rounded(ink, line.size))
                    cuts.setdefault(key, (ink[0], line.size))
            seq.append((key, letters))
            k = j
        units[line] = seq
    # in the order they are drawn: what one sheet holds, and where, is the same on every run (Tesseract reads
    # a glyph with its neighbours on the sheet)
    keys = list(dict.fromkeys(key for seq in units.values() for key, _ in seq if key is not None))
    eye = [(line, line.text) for line in dict.fromkeys(by_eye)]
    if not keys:
        return eye
    pictures: dict[tuple, bytes] = {}  # unit key -> the key of its picture in _READ
    new: dict[bytes, object] = {}
    for key in keys:
        if key[0] == "outline":
            path = outlines[(key[1], key[2])]
            pictures[key] = hashlib.sha256(path[0]).digest()
            new.setdefault(pictures[key], path)
    wanted = [k for k in keys if k[0] == "cut"]
    if wanted:
        for key, picture in zip(wanted, _cut(page, text, [cuts[k] for k in wanted])):
            digest = hashlib.sha256(b"cut" + (picture.tobytes() + repr(picture.shape).encode()
                                              if picture is not None else b"")).digest()
            pictures[key] = digest
            new.setdefault(digest, picture)
    with _LOCK:
        new = {k: v for k, v in new.items() if k not in _READ}
    if len(new) > MAX_NEW_GLYPHS:  # a script of thousands of signs (a CJK page): its lines by eye, a bounded cost
        unread = {key for key, digest in pictures.items() if digest in new}
        return eye + [(line, line.text) for line, seq in units.items()
                      if line not in by_eye and any(key in unread for key, _ in seq)]
    if new:
        todo = list(new)
        read = _read([_picture(_contours(new[d])) if isinstance(new[d], tuple) else new[d] for d in todo])
        with _LOCK:
            for d, r in zip(todo, read):
                _READ[d] = r
            while len(_READ) > _READ_MAX:
                _READ.popitem(last=False)
    other: dict[tuple, str] = {}
    unread: set[tuple] = set()  # glyphs claiming letters or signs that no letter was read in
    with _LOCK:
        for key, digest in pictures.items():
            seen = _READ.get(digest, "")
            letters = key[2]
            if _other_letter(seen, letters) if len(letters) == 1 else _other_letters(seen, letters):
                other[key] = _base(seen)  # its accents as read alone are not to be trusted: "TUYÊT" for
                # "TUYỆT"; without them the marks rule still reads the mark ("TUYET MAT")
            elif letters.strip() and not any(c.isalpha() for c in seen):
                unread.add(key)  # a sign too: a glyph said to be "#" may draw an "M"
    if not other and not unread:
        return eye
    out = list(eye)
    for line, seq in units.items():
        if line in by_eye or not any(key in other or key in unread for key, _ in seq):
            continue
        shown = _as_drawn(line, seq, other)
        if _mark_words(shown) > _mark_words(line.text):
            out.append((line, shown))
        elif any(key in unread for key, _ in seq) and (
                _mark_words(_as_drawn(line, seq, other, unread), unknown="?") > _mark_words(line.text)):
            # a glyph read as nothing draws what is not known (a glyph's reading depends on what else is on its
            # sheet: "Ậ" was read as nothing beside glyphs of an earlier document). When some letter there
            # would make the line spell a mark ("M?T"), it is read by eye whole
            out.append((line, line.text))
    return out


def _as_drawn(line: Line, seq, other: dict, unread=frozenset()) -> str:
    """`line`'s text with one piece per glyph: what was read for a glyph drawing another letter (the rest of a
    ligature's letters empty), "?" for each letter of a glyph in `unread`, else the letters the text layer says."""
    pieces = iter([p for key, letters in seq
                   for p in ([other[key]] + [""] * (len(letters) - 1) if key in other
                             else ["?"] * len(letters) if key in unread else letters)])
    return "".join(next(pieces, c) if not c.isspace() else c for c in line.text)


TOLERANCE_EM = 0.02  # a letter's ink box and its outline's box differ by more: another glyph is drawn there.
# Honest letters differ by up to 0.015 (PDFium's boxes come from hinted metrics): on the labelled set's 104,867
# honest letters in eight families none beyond; on the shared corpus, ligatures, Arabic forms and substituted
# fonts. A lie by a glyph whose box is the claimed letter's to 0.02 em is not seen here (docs/secrecy.md).


def _fits(shape, box) -> bool:
    """Is a letter's ink box (ems, the font's space) its outline's box? None (a glyph turned other than by
    quarter turns, or skewed): cannot tell, no."""
    return shape is not None and max(abs(a - b) for a, b in zip(shape, box)) <= TOLERANCE_EM


def _rounded(ink, size: float) -> tuple:
    """What tells one drawn glyph from another of the same font and letters: its box in ems, to 0.02."""
    box, shape = ink
    if shape is not None:
        return tuple(round(v * 50) for v in shape)
    x0, y0, x1, y1 = box
    return ("box",) + tuple(round(v * 50 / max(size, 1e-3)) for v in (x1 - x0, y1 - y0))


def _other_letters(read: str, claimed: str) -> bool:
    """`_other_letter` for one glyph claiming several letters (a ligature: "fi")."""
    seen = [c for c in _base(read) if c.isalpha()]
    want = [c for c in _base(claimed) if c.isalpha()]
    if not seen:
        return False
    if len(seen) != len(want):
        return True
    return any(_other_letter(a, b) for a, b in zip(seen, want))


def small_marks(lines: list[Line]) -> list[Line]:
    """The lines among `lines` that say a word spelled like a word of a mark but not as the mark writes it
    ("bí mật", "tối đa", "Mật", "MẠT", "tới"): read by eye. A font may draw capitals for the small letters it
    claims, or other accents on the same letters: every letter is then the one it says but for its case or
    accent, which an outline or a box read alone does not show reliably; a whole line read with its
    neighbours does."""
    out = []
    for line in lines:
        for word in _WORDS.findall(line.text):
            if word not in _MARK_SPELLING and _MARK_WORD.fullmatch(_base(word).upper()):
                out.append(line)
                break
    return out


def gapped(text, lines: list[Line], ink, scale: float) -> list[Line]:
    """The upright lines among `lines` with ink between two of their letters where no letter is (`ink`: the
    page's dark pixels at `scale` pixels per point, pictures hidden): a glyph that says it is a space (a space
    drawing "M": the text layer says "TỐI ẬT") draws there. Read by eye. A rule or an underline crossing the
    gap (a row inked from side to side) is not a letter."""
    if ink is None:
        return []
    rows, cols = ink.shape
    out = []
    for line in lines:
        glyphs = text.glyphs.get(line)
        if not glyphs or line.box is None or line in text.turns:
            continue
        y0 = max(0, int(line.box[1] * scale))
        y1 = min(rows, int(line.box[3] * scale) + 1)
        boxes = sorted(box for _, box in glyphs)
        right = boxes[0][2]
        for box in boxes[1:]:
            if box[0] - right > GAP_PT:
                c0, c1 = int((right + 1) * scale) + 1, min(cols, int((box[0] - 1) * scale))
                if c1 > c0 and y1 > y0:
                    gap = ink[y0:y1, c0:c1]
                    across = gap.all(axis=1)  # a rule's row, not a letter's
                    if int(gap[~across].sum()) >= GAP_INK:
                        out.append(line)
                        break
            right = max(right, box[2])
    return out


GAP_PT = 4.0  # a gap between two letters wider than this (points) is looked into
GAP_INK = 3  # dark pixels in it (at 50 dpi) that make a letter there


def twinned(text, lines: list[Line]) -> list[Line]:
    """The lines among `lines` that say a character in a font whose map gives that character two codes
    (`PageText.twins`, twins.py): which glyph is drawn there no outline or box tells; read by eye. A sign
    ("-", "$") counts only where its glyph is as tall as a letter (`LETTER_EM`): a letter drawn where a hyphen
    is said has another box than the hyphen's outline, and the box check (`suspects`) reads it."""
    if not text.twins:
        return []
    from gateway.inspect.twins import ANY

    out = []
    for line in lines:
        inks = text.inks.get(line, ())
        for k, ((ch, _), font) in enumerate(zip(text.glyphs.get(line, ()), text.faces.get(line, ()))):
            letters = text.twins.get(font)
            if not letters or (ch not in letters and ANY not in letters):
                continue
            ink = inks[k] if k < len(inks) else None
            shape = ink[1] if ink is not None else None
            if ch.isalnum() or shape is None or shape[3] - shape[1] >= LETTER_EM:
                out.append(line)
                break
    return out


LETTER_EM = 0.3  # a glyph this tall (ems) may be a letter: "-" is 0.07, "x" 0.45, "." 0.1


_MARK_SPELLING = {"MẬT", "TỐI", "TUYỆT"}  # as the marks rule reads them (NFC: PDFium's text is composed)
_WORDS = re.compile(r"\w+")
_MARK_WORD = re.compile(r"(?<![A-Z])(MAT|TOI|TUYET)(?![A-Z])")


def _mark_words(text: str, unknown: str | None = None) -> int:
    """How many words of a mark ("MẬT", "TỐI", "TUYỆT", any case, accents aside) `text` holds; with `unknown`,
    a character standing for any letter, how many it may hold."""
    if unknown is None:
        return len(_MARK_WORD.findall(_base(text).upper()))
    pattern = "|".join("".join(f"[{c}{re.escape(unknown)}]" for c in word) for word in ("MAT", "TOI", "TUYET"))
    return len(re.findall(rf"(?<![A-Z{re.escape(unknown)}])(?:{pattern})(?![A-Z{re.escape(unknown)}])",
                          _base(text).upper()))


def forget() -> None:
    with _LOCK:
        _READ.clear()


def _path(raw, font, ch: str) -> tuple | None:
    """The path `font` draws for the letter `ch`, as (its points' bytes, for a key; [(kind, x, y, closes)];
    its box (x0, y0, x1, y1)): em units, y up. None if it has none (a Type 3 font, a letter its map does not
    claim)."""
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
    if not segments:
        return None
    xs, ys = [p[1] for p in segments], [p[2] for p in segments]
    return points.tobytes(), segments, (min(xs), min(ys), max(xs), max(ys))


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
    if w > WIDEST_EM * GLYPH_PX or h > 4 * GLYPH_PX:
        return None  # not a letter's size, nor a word's
    filled = np.zeros((h, w), dtype=bool)
    for c in contours:
        mask = Image.new("1", (w, h), 0)
        ImageDraw.Draw(mask).polygon([((px - x0) * GLYPH_PX + 1, (y1 - py) * GLYPH_PX + 1) for px, py in c], fill=1)
        filled ^= np.asarray(mask, dtype=bool)
    return np.where(filled, 0, 255).astype(np.uint8)


def _read(pictures) -> list[str]:
    """What Tesseract reads each picture of a glyph as (dark on white, GLYPH_PX to the em; None: nothing):
    the glyphs set in rows with wide gaps on one sheet, read by one call, each letter Tesseract finds given to
    the glyph under its middle (a letter alone is read poorly: among others it has its neighbours' context).
    A glyph as wide as several letters (one glyph drawing a word) is read as all the letters under it."""
    import numpy as np
    from PIL import Image

    from gateway.inspect import ocr

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
    under: dict[int, list[tuple[float, float, str]]] = {}
    for symbol in ocr.recognise(Image.fromarray(sheet, "L"), block=True, symbols=True):
        cx, cy = (symbol.box[0] + symbol.box[2]) / 2, (symbol.box[1] + symbol.box[3]) / 2
        for x0, y0, x1, y1, i in places:
            if x0 <= cx < x1 and y0 <= cy < y1:
                under.setdefault(i, []).append((abs(cx - (x0 + x1) / 2), cx, symbol.text))
                break
    for i, found in under.items():
        if pictures[i].shape[1] > WIDE_EM * GLYPH_PX:
            out[i] = "".join(t for _, _, t in sorted(found, key=lambda f: f[1]))
        else:  # Tesseract may split a glyph ("m" as "rn"): the piece in its middle
            out[i] = min(found)[2]
    return out


def _cut(page, text, places: list[tuple[tuple[float, float, float, float], float]]) -> list:
    """Pictures (as `_read` takes them) of what is drawn in each (displayed box, em in points) of `places`:
    their part of the page, rendered once at GLYPH_PX to the em of the middle size (at most CUT_DPI), each
    scaled to GLYPH_PX to its own em. None where nothing dark is drawn."""
    import numpy as np
    from PIL import Image

    from gateway.inspect.ocr import margins
    from gateway.inspect.pixels import darkest

    x0 = max(0.0, min(b[0] for b, _ in places) - 2)
    y0 = max(0.0, min(b[1] for b, _ in places) - 2)
    x1 = min(text.width, max(b[2] for b, _ in places) + 2)
    y1 = min(text.height, max(b[3] for b, _ in places) + 2)
    out: list = [None] * len(places)
    if x1 <= x0 or y1 <= y0:
        return out
    em = sorted(size for _, size in places)[len(places) // 2]
    scale = min(CUT_DPI / 72.0, max(1.0, GLYPH_PX / max(em, 1e-3)))
    scale = min(scale, (CUT_PIXELS / ((x1 - x0) * (y1 - y0))) ** 0.5)
    bitmap = page.render(scale=scale, crop=margins((x0, y0, x1, y1), (text.width, text.height)),
                         may_draw_forms=True)
    grey = darkest(bitmap.to_numpy())
    for n, ((bx0, by0, bx1, by1), size) in enumerate(places):
        r0, c0 = max(0, int((by0 - y0) * scale)), max(0, int((bx0 - x0) * scale))
        r1, c1 = int(np.ceil((by1 - y0) * scale)) + 1, int(np.ceil((bx1 - x0) * scale)) + 1
        piece = grey[r0:r1, c0:c1]
        if piece.size == 0 or piece.min() > INK_BELOW:
            continue
        factor = GLYPH_PX / (max(size, 1e-3) * scale)
        w, h = max(1, round(piece.shape[1] * factor)), max(1, round(piece.shape[0] * factor))
        if w > WIDEST_EM * GLYPH_PX or h > 4 * GLYPH_PX:
            continue  # not a letter's size, nor a word's (the line is read by eye when short: claimed.py)
        out[n] = np.asarray(Image.fromarray(piece).resize((w, h), Image.BILINEAR))
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
