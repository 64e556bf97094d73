"""Short text lines checked against what the page shows: a text layer may lie.

A font's `/ToUnicode` map (or its own cmap, glyph names or Type 3 procedures) says which letters its glyphs
are, and nothing makes that true: a font whose glyph for "q" draws "M" shows "MẬT" on the page while the
text layer says "qwz". A secrecy mark is a stamp, a short line standing on its own (Decree 30, box 10a), so
every short line of a text page (no wider than CLAIM_EMS times its height) is rendered and read by OCR, and
what OCR reads is scanned for marks like the text layer (in the line's box, so the layout rules see the same
neighbours). The lines of a page are cropped, stacked on a sheet and read by one Tesseract call (about 7 ms a
line); a line whose pixels were read before in this process (a header on every page, a template's
letterhead) is not read again. Each glyph of a word OCR read as its text layer says is learnt as a look for
the letter it claims (its ink at 8 x 10, its size): a later line whose every glyph looks like one learnt
for the same letter is not read (a long report is read by eye on its first pages, about half its short
lines). A lying glyph looks like the letter it draws, never like one learnt for the letter it claims.

A line that does not run left to right (`pdftext.Turn`: rotated any angle, or letters stacked in a column) is
short by its length along its own direction. It is read turned upright: its box rendered, only its own ink
kept (what lies in its glyphs' boxes, in its own fill colour: a red stamp laid across black text), turned
back by its angle (quarter turns move pixels; other angles are turned at twice the resolution) and cut to
the band along it; a column's letters are set side by side. Its reading is placed in the line's whole box.
Light letters on a dark ground (white on a red stamp), upright or turned, are turned over to ink on paper.
A line long by its text layer whose ink shows a short stretch (glyphs that draw nothing, or draw white,
padding a stamp) is short too (`candidates` with the page's ink).
Hollow letters (drawn as outlines only) Tesseract reads as doubled strokes: a hollow line not read as its
text layer says is unsure, and the caller refuses the document as not read completely.

Long lines are not read this way (three to five times the page's text reading): fonts.py reads what their
fonts draw for the letters they claim, and hands over the lines whose glyphs spell a mark.
"""

from __future__ import annotations

import bisect
import collections
import hashlib
import re
import threading
import time
import unicodedata

from gateway.inspect.reading import Line

# a line at most this wide (over its height) may be a stamp: "TRẢ LẠI SAU KHI HỌP (HỘI NGHỊ)" in bold capitals
# measures 14.7-15.5, "ĐỘ MẬT: TUYỆT MẬT" 10, "T Ố I   M Ậ T" 5.3. Its width, not its letters: a glyph may stand
# for any number of letters in the text layer.
CLAIM_EMS = 18.0
CLAIM_MIN_PT = 4.0  # lower than this (and its letters' size too) nobody reads it at normal zoom
SHEET_LINES = 120  # lines stacked on one sheet for one Tesseract call
LINE_PX = 40  # a line's box is rendered this high (Tesseract reads letters 20-80 px high best)
MIN_DPI, MAX_DPI = 4.0, 400.0  # so a crop is at most about 40 x 18 * 40 px (a bounded cost whatever the size)
GAP_PX = 24  # white between the lines on the sheet (and around it)
SHAPE = (8, 10)  # a glyph's ink is compared at this size (coarse: the same glyph rendered at another
# subpixel position keeps its shape; "M" and "N" do not share one)

# What OCR read in a line, by the line's exact pixels, in this process (like `ocr._READ`: a letterhead, a
# signature block, the header of every page and every letter of a template are read once). Only the few
# words read are kept, for the last _READ_MAX lines; never written anywhere.
_READ: "collections.OrderedDict[tuple, list[tuple[str, float, float]]]" = collections.OrderedDict()
_READ_MAX = 20_000
# Glyph looks seen on a line OCR read as its text layer says, by the letter each claims to be: a later line
# whose every glyph looks like one seen so with the same letter shows what its text layer says, and is not
# read again (a long report is read by eye on its first pages). A lying glyph (the look of "M" claiming "q")
# looks like nothing seen with that letter: its line is read.
_SEEN: dict = {}
_SEEN_MAX = 4096  # letters
SHAPES_PER_LETTER = 48  # looks kept per letter (fonts, sizes, bold)
SAME_SHAPE = 0.06  # mean grey difference (0-1) at SHAPE under which two glyph pictures are one look
_LOCK = threading.Lock()


def candidates(text, ink=None, scale: float = 0.0) -> list[Line]:
    """The lines of a `pdftext.PageText` that may be a stamp: short, and of a size a person reads. With the
    page's ink (`ink`: booleans at `scale` pixels a point), an upright line long by its text layer is short
    too when what it shows is: a stamp made long by glyphs that draw nothing, or draw white, after it."""
    out = []
    for line in text.lines:
        if line.box is None or not line.where.startswith("page"):
            continue
        x0, y0, x1, y1 = line.box
        turn = text.turns.get(line)
        if turn is None:
            along, height = x1 - x0, max(y1 - y0, line.size or 0.0)  # the larger: a small nominal size hides nothing
        elif turn.stacked:  # a column of letters, as long as a stamp set side by side may be (the letters
            # go side by side on the sheet: a column of hundreds would make every line's sheet as wide)
            along, height = len(line.text) * 0.7 * (line.size or 0.0), line.size or 0.0
        else:
            along, height = turn.length, line.size or 0.0
        if height < CLAIM_MIN_PT:
            continue
        if along <= CLAIM_EMS * height or turn is None and ink is not None and _shows_short(ink, scale, line.box, height):
            out.append(line)
    return out


def _shows_short(ink, scale: float, box, height: float) -> bool:
    """Does the line in `box` show a stretch no wider than CLAIM_EMS times its height, between blanks of at
    least a height and a half (wider than any gap between words), or at its ends?"""
    import numpy as np

    rows, cols = ink.shape
    r0, r1 = max(0, int(box[1] * scale)), min(rows, int(np.ceil(box[3] * scale)))
    c0, c1 = max(0, int(box[0] * scale)), min(cols, int(np.ceil(box[2] * scale)))
    if r1 <= r0 or c1 <= c0:
        return False
    shown = np.flatnonzero(ink[r0:r1, c0:c1].any(axis=0))
    if shown.size == 0:
        return False
    gap = max(1, int(1.5 * height * scale))
    limit = CLAIM_EMS * height * scale
    starts = np.concatenate(([0], np.flatnonzero(np.diff(shown) > gap) + 1))
    ends = np.concatenate((starts[1:] - 1, [shown.size - 1]))
    return bool(((shown[ends] - shown[starts] + 1) <= limit).any())


class OutOfTime(Exception):
    """The document's time ran out before every short line was read."""


def read(page, text, lines: list[Line], deadline: float, unsure: list[Line] | None = None,
         always=frozenset()) -> list[Line]:
    """What OCR reads in `lines` (from `candidates`) on the loaded PDFium `page` where it differs from what
    the text layer says: Lines where="ocr:pageN", each in the box of the line it was read in (its horizontal
    extent as read). A line whose pixels were read before in this process is not read again. Raises
    OutOfTime past `deadline` (time.monotonic()), or what rendering or OCR raises (the caller reports both
    as unread). A line of hollow letters (drawn as outlines only) that OCR does not read as its text layer
    says goes to `unsure`: Tesseract reads such letters poorly, so what it shows is not known (fail closed).
    The lines in `always` are read even when every glyph looks like one seen claiming its letter (an accent
    lie: "Ậ" drawn where "Ạ" is said looks like an "Ạ" at the size glyphs are compared)."""
    from gateway.inspect import ocr

    where = f"ocr:page{text.index + 1}"
    out: list[Line] = []
    todo: list[tuple] = []  # (memo key, line, (scale, x0, turn) of its crop, image, glyph looks)
    for n, line in enumerate(lines):
        if n % 64 == 0 and time.monotonic() > deadline:
            raise OutOfTime()
        turn = text.turns.get(line)
        if turn is not None:
            image = _upright(page, text, line, turn)
            if image is None:
                continue
            scale, x0, shapes = 0.0, 0.0, None  # placed in the line's box; glyph looks learnt upright only
        else:
            x0, y0, x1, y1 = line.box
            height = max(y1 - y0, 1.0)
            pad_x, pad_y = 0.3 * height, 0.12 * height
            box = ocr._clip((x0 - pad_x, y0 - pad_y, x1 + pad_x, y1 + pad_y), text.width, text.height)
            if box[2] - box[0] < 1 or box[3] - box[1] < 1:
                continue
            scale = _scale(height)
            grey = _render(page, text, box, scale)
            shapes = _shapes(grey, text.glyphs.get(line), scale, box)
            if shapes is not None and line not in always:
                with _LOCK:
                    if all(_known(k) for k in shapes):
                        continue  # every glyph looked, on a line read before, like the letter it says it is
            image, x0 = _unframed(_on_paper(grey)), box[0]
        key = (hashlib.sha256(image.tobytes()).digest(), image.size)
        with _LOCK:
            known = _READ.get(key)
            if known is not None:
                _READ.move_to_end(key)
        if known is not None:
            out += _placed(known, line, (scale, x0, turn), where, text.index)
            _learn(known, line, shapes)
            _check_hollow(known, line, text, unsure)
        else:
            todo.append((key, line, (scale, x0, turn), image, shapes))
    for k in range(0, len(todo), SHEET_LINES):
        if time.monotonic() > deadline:
            raise OutOfTime()
        chunk = todo[k:k + SHEET_LINES]
        for (key, line, crop, _, shapes), read_ in zip(chunk, _read_sheet([t[3] for t in chunk])):
            with _LOCK:
                _READ[key] = read_
                while len(_READ) > _READ_MAX:
                    _READ.popitem(last=False)
            out += _placed(read_, line, crop, where, text.index)
            _learn(read_, line, shapes)
            _check_hollow(read_, line, text, unsure)
    return out


def _check_hollow(read_, line: Line, text, unsure: list[Line] | None) -> None:
    if unsure is not None and line in text.hollow and not _agrees(read_, line):
        unsure.append(line)


def _learn(read_, line: Line, shapes) -> None:
    """The words OCR read as the text layer says them (the line read as one line, word for word in the same
    number of words): each of their glyphs looks like the letter it claims to be."""
    if shapes is None or len(read_) != 1:
        return
    said, seen = line.text.split(), read_[0][0].split()
    if len(said) != len(seen) or sum(len(w) for w in said) != len(shapes):
        return
    good = []
    k = 0
    for a, b in zip(said, seen):
        if _letters(a) == _letters(b):
            good += shapes[k:k + len(a)]
        k += len(a)
    with _LOCK:
        for shape in good:
            if not _known(shape):
                looks = _SEEN.get(shape[0])
                if looks is None:
                    looks = _SEEN[shape[0]] = _Looks()
                looks.add(*shape[1:])
        while len(_SEEN) > _SEEN_MAX:
            _SEEN.pop(next(iter(_SEEN)))


def _shapes(grey, glyphs, scale: float, box) -> list[tuple] | None:
    """Each glyph of a line as (letter it claims, height and width of its ink against the line's height,
    its ink's picture at SHAPE as grey levels 0-1): the ink inside the glyph's box on the rendered crop `grey`,
    cut to its own extent. None when the line's glyphs are not known, one lies outside the crop (rotated,
    clipped), or the crop holds ink outside every glyph's box: the line is read. A glyph with no ink in its box shows nothing there: (letter, 0, 0, None)."""
    import numpy as np

    from gateway.inspect.pixels import box_resize

    if not glyphs:
        return None
    rows, cols = grey.shape
    line_h = max(1.0, (box[3] - box[1]) * scale)
    out = []
    beyond = grey < 128  # ink in the crop that no glyph's box holds: drawn by something else, read
    for ch, glyph in glyphs:
        r0, r1, c0, c1 = _cell(glyph, box, scale, 0.0, (rows, cols))
        if c1 <= c0 or r1 <= r0:
            return None
        beyond[max(0, r0 - 1):r1 + 1, max(0, c0 - 1):c1 + 1] = False
        cell = grey[r0:r1, c0:c1]
        ink = cell < 128
        if not ink.any():
            out.append((ch, 0.0, 0.0, None))
            continue
        rs, cs = np.nonzero(ink.any(axis=1))[0], np.nonzero(ink.any(axis=0))[0]
        cell = cell[rs[0]:rs[-1] + 1, cs[0]:cs[-1] + 1]
        picture = box_resize(cell, SHAPE) / 255.0
        out.append((ch, cell.shape[0] / line_h, cell.shape[1] / line_h, picture.ravel()))
    if int(beyond.sum()) > 4:
        return None  # a frame, an underline, or something drawn over the line: the line is read whole
    return out


def _known(shape) -> bool:
    """Was a glyph of this look seen claiming the same letter on a line OCR read as its text layer says?
    Compared with a tolerance (the same glyph at another subpixel position differs by a few grey levels at
    its edges; "M" and "N", "T" and "I" differ by a stroke: far more than SAME_SHAPE)."""
    import numpy as np

    ch, h, w, picture = shape
    seen = _SEEN.get(ch)
    if seen is None:
        return False
    if picture is None:
        return seen.blank
    if not seen.n:
        return False
    n = seen.n
    close = (np.abs(seen.h[:n] - h) <= 0.12 * h + 0.03) & (np.abs(seen.w[:n] - w) <= 0.12 * w + 0.03)
    if not close.any():
        return False
    return bool((np.abs(seen.pictures[:n][close] - picture).mean(axis=1) <= SAME_SHAPE).any())


class _Looks:
    """The looks of one letter seen so far (a ring of SHAPES_PER_LETTER)."""

    def __init__(self) -> None:
        import numpy as np

        self.blank = False
        self.n = 0
        self.next = 0
        self.h = np.zeros(SHAPES_PER_LETTER, dtype=np.float32)
        self.w = np.zeros(SHAPES_PER_LETTER, dtype=np.float32)
        self.pictures = np.zeros((SHAPES_PER_LETTER, SHAPE[0] * SHAPE[1]), dtype=np.float32)

    def add(self, h: float, w: float, picture) -> None:
        if picture is None:
            self.blank = True
            return
        k = self.next
        self.h[k], self.w[k], self.pictures[k] = h, w, picture
        self.next = (k + 1) % SHAPES_PER_LETTER
        self.n = min(self.n + 1, SHAPES_PER_LETTER)


def _agrees(read_, line: Line) -> bool:
    """Does OCR read `line` as its text layer says (accents aside), with no more words of a mark written as
    the mark writes them ("MẬT" read where "MẠT" is said: inside a sentence the one is a mark, the other not)?"""
    if len(read_) != 1 or _letters(read_[0][0]) != _letters(line.text):
        return False
    return len(_MARK_SPELT.findall(read_[0][0])) <= len(_MARK_SPELT.findall(unicodedata.normalize("NFC", line.text)))


_MARK_SPELT = re.compile(r"(?<!\w)(?:MẬT|TỐI|TUYỆT)(?!\w)")  # OCR's text is composed (NFC)


def forget() -> None:
    """Drop what was read and learnt (benchmarks time the reading, not the memo)."""
    with _LOCK:
        _READ.clear()
        _SEEN.clear()


def _read_sheet(images) -> list[list[tuple[str, float, float]]]:
    """The images stacked on one sheet and read by one Tesseract call: per image, the lines read in it as
    (text, first column, last column) in its pixels."""
    from PIL import Image

    from gateway.inspect import ocr

    tops = []
    y = GAP_PX
    for im in images:
        tops.append(y)
        y += im.size[1] + GAP_PX
    sheet = Image.new("L", (max(im.size[0] for im in images) + 2 * GAP_PX, y), 255)
    for top, im in zip(tops, images):
        sheet.paste(im, (GAP_PX, top))
    out: list[list[tuple[str, float, float]]] = [[] for _ in images]
    for ol in ocr.recognise(sheet, block=True):
        middle = (ol.box[1] + ol.box[3]) / 2
        i = bisect.bisect_right(tops, middle) - 1
        if i >= 0 and middle < tops[i] + images[i].size[1]:
            out[i].append((ol.text, ol.box[0] - GAP_PX, ol.box[2] - GAP_PX))
    return out


def _placed(read_, line: Line, crop, where: str, page: int) -> list[Line]:
    """Lines read in `line`'s crop (`_read_sheet`), in its box on the page: their horizontal extent as read
    when the line runs left to right (`crop`: the crop's pixels per point and left edge, and the line's
    `pdftext.Turn` or None), else the whole box; a column of letters read as one word, like the text layer
    reads it. A reading that says what the text layer says adds nothing (the mark, if any, is found
    already) and is left out."""
    if _agrees(read_, line):
        return []
    scale, x0, turn = crop
    out = []
    for t, a, b in read_:
        if turn is None:
            box = (round(x0 + a / scale, 2), line.box[1], round(x0 + b / scale, 2), line.box[3])
        else:
            box, t = line.box, "".join(t.split()) if turn.stacked else t
        out.append(Line(t, where, page, box, line.size, None, line.framed))
    return out


def _own_ink(page, text, line: Line, turn, box, scale: float, margin: float):
    """`box` rendered at `scale` as grey levels, showing only the ink of `line`: what lies in its glyph boxes
    (widened by `margin` points), in its own colour. A turned stamp often lies across the page's text, whose
    strokes through the band would be read as letters; a person tells a red stamp from the black text under
    it. Ink outside every glyph box is not lost: `ocr._unaccounted` reads the page's ink its text does not
    explain. When its own colour shows far less ink than all colours (text drawn as a clip for a picture,
    a colour PDFium does not tell; not a quarter of it: at 45 degrees the glyphs' upright boxes take in
    much of the page's text), all colours are kept."""
    from gateway.inspect.pixels import darkest, inked

    bitmap = _bitmap(page, text, box, scale)
    pixels = bitmap.to_numpy()  # a view: `bitmap` is kept until both pictures are made
    keep = _glyph_mask(text.glyphs.get(line, ()), box, scale, margin, pixels.shape[:2])
    if not keep.any():
        keep[:] = True
    grey = _on_paper(darkest(pixels), keep)
    grey[~keep] = 255
    if turn.colour is not None:
        own = _on_paper(inked(pixels, turn.colour), keep)
        own[~keep] = 255
        if int((own < 128).sum()) >= 0.25 * int((grey < 128).sum()):
            return own
    return grey


def _scale(height: float) -> float:
    """Pixels per point that render a line `height` points high about LINE_PX pixels high."""
    return min(MAX_DPI, max(MIN_DPI, 72.0 * LINE_PX / height)) / 72.0


def _bitmap(page, text, box, scale: float):
    """`box` (displayed page points) of the loaded PDFium `page`, rendered at `scale` (a PDFium bitmap)."""
    from gateway.inspect import ocr

    return page.render(scale=scale, crop=ocr.margins(box, (text.width, text.height)), may_draw_forms=True)


def _render(page, text, box, scale: float):
    """`_bitmap` as grey levels (`pixels.darkest`)."""
    from gateway.inspect.pixels import darkest

    return darkest(_bitmap(page, text, box, scale).to_numpy())  # a new array: the bitmap may go


def _glyph_mask(glyphs, box, scale: float, margin: float, shape):
    """Booleans of a crop of `box` at `scale` (of `shape`): True inside the boxes of `glyphs` ((letter, box),
    ...), widened by `margin` points."""
    import numpy as np

    mask = np.zeros(shape, dtype=bool)
    for _, glyph in glyphs:
        r0, r1, c0, c1 = _cell(glyph, box, scale, margin, shape)
        mask[r0:r1, c0:c1] = True
    return mask


def _cell(glyph, box, scale: float, margin: float, shape) -> tuple[int, int, int, int]:
    """Rows and columns (r0, r1, c0, c1) of a crop of `box` at `scale` (of `shape`) that hold `glyph`'s box
    (displayed points), widened by `margin` points."""
    import math

    rows, cols = shape
    g0, h0, g1, h1 = glyph
    return (max(0, int((h0 - margin - box[1]) * scale)), min(rows, int(math.ceil((h1 + margin - box[1]) * scale))),
            max(0, int((g0 - margin - box[0]) * scale)), min(cols, int(math.ceil((g1 + margin - box[0]) * scale))))


def _upright(page, text, line: Line, turn):
    """A line that does not run left to right (`pdftext.Turn`), as a picture of it running left to right:
    a rotated line's box rendered and turned back by its angle, cut to the band along it (the page's other
    text inside its box left out); a column of letters as its letters side by side. None when it lies
    off the page."""
    import math

    import numpy as np
    from PIL import Image

    from gateway.inspect import ocr

    size = max(line.size or 0.0, CLAIM_MIN_PT)
    thick = 1.25 * size  # a line's height with its accents (an upright line's box: 1.1-1.3 sizes)
    scale = _scale(thick)
    x0, y0, x1, y1 = line.box
    pad = 0.4 * size
    box = ocr._clip((x0 - pad, y0 - pad, x1 + pad, y1 + pad), text.width, text.height)
    if box[2] - box[0] < 1 or box[3] - box[1] < 1:
        return None
    if turn.stacked:
        return _column(page, text, line, box, scale, 0.1 * size)
    fine = 1 if turn.deg % 90 == 0 else 2  # any other angle: turned at twice the resolution, then halved
    # (a bicubic turn at 40 px blurs the strokes Tesseract tells letters apart by)
    grey = _own_ink(page, text, line, turn, box, fine * scale, 0.1 * size)
    if fine == 1:  # a quarter turn moves pixels, no resampling
        turned = Image.fromarray(np.ascontiguousarray(np.rot90(grey, turn.deg // 90)), "L")
    else:
        turned = Image.fromarray(grey, "L").rotate(turn.deg, resample=Image.BICUBIC, expand=True, fillcolor=255)
    # the line's centre, in the crop, turned with it (about the picture's centre, counterclockwise)
    a = math.radians(turn.deg)
    rows, cols = grey.shape
    mx, my = turn.centre or ((x0 + x1) / 2, (y0 + y1) / 2)
    px, py = (mx - box[0]) * fine * scale - cols / 2, (my - box[1]) * fine * scale - rows / 2
    cx = px * math.cos(a) + py * math.sin(a) + turned.size[0] / 2
    cy = -px * math.sin(a) + py * math.cos(a) + turned.size[1] / 2
    # along: the glyphs and a little; across: a glyph's height (its font's ascent to descent, 1.1-1.2 sizes),
    # not the frame around it, whose sides Tesseract reads as letters
    half_w, half_h = (turn.length / 2 + 0.15 * size) * fine * scale, 0.62 * size * fine * scale
    band = turned.crop((int(max(0, cx - half_w)), int(max(0, cy - half_h)),
                        int(min(turned.size[0], cx + half_w + 1)), int(min(turned.size[1], cy + half_h + 1))))
    if band.size[0] < 2 * fine or band.size[1] < 2 * fine:
        return None
    if fine > 1:
        band = band.resize((band.size[0] // fine, band.size[1] // fine), Image.BOX)
    return _unframed(np.asarray(band, dtype=np.uint8).copy())


def _letters(text: str) -> str:
    """`text` without accents and blanks, case kept (an upper-case MẬT is a mark where "mật" may not be); the
    marks rule reads accents loosely ("MẶT" alone is a mark too), so a reading that differs only in them
    finds nothing the text layer does not."""
    from gateway.inspect.marks import normalise, unaccented

    return "".join(unaccented(normalise(text)).split())


def _column(page, text, line: Line, box, scale: float, margin: float):
    """A column of stacked letters (in `box`, rendered at `scale`) as its letters side by side, each cut to
    its glyph's box widened by `margin` points; None when none shows."""
    import numpy as np

    glyphs = text.glyphs.get(line, ())
    grey = _render(page, text, box, scale)
    inside = _glyph_mask(glyphs, box, scale, margin, grey.shape)
    grey = _on_paper(grey, inside if inside.any() else None)
    cells = []
    for _, glyph in glyphs:
        r0, r1, c0, c1 = _cell(glyph, box, scale, margin, grey.shape)
        if r1 > r0 and c1 > c0:
            cells.append(grey[r0:r1, c0:c1])
    if not cells:
        return None
    rows = max(c.shape[0] for c in cells)
    strip = np.full((rows, sum(c.shape[1] for c in cells)), 255, dtype=np.uint8)
    at = 0
    for cell in cells:
        top = (rows - cell.shape[0]) // 2
        strip[top:top + cell.shape[0], at:at + cell.shape[1]] = cell
        at += cell.shape[1]
    return _unframed(strip)


def _on_paper(grey, where=None):
    """`grey` as dark ink on a light ground: light letters on a dark ground (white on a red stamp) are
    turned over, judged by the median of `where` (a mask; the whole picture when None). Before anything
    outside the line is whitened: turned over after, that white would be black wedges read as marks."""
    import numpy as np

    ground = grey[where] if where is not None else grey
    return 255 - grey if ground.size and np.median(ground) < 110 else grey


def _unframed(grey):
    """`grey` (rendered, so never skewed) without its frames and rules (Tesseract reads a frame's side as a
    letter): `ocr.unframe` without its skew search, which costs more than the reading here. Grey is kept, so
    pale ink is Tesseract's to binarise (a light-grey stamp is ink to a person)."""
    from PIL import Image

    from gateway.inspect import shapes

    ink = grey < 224
    h, w = ink.shape
    # a frame's top or bottom: longer than any letter's stroke; its side: the crop's height (no stem is)
    rules = shapes.long_runs(ink, max(3 * LINE_PX // 2, w // 10)) | shapes.long_runs(ink.T, max(8, h * 9 // 10)).T
    grey[rules] = 255
    return Image.fromarray(grey, "L")
