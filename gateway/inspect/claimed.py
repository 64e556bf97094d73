"""Short text lines checked against what the page shows: a text layer may lie.

A font's `/ToUnicode` map (or its own cmap, glyph names or Type 3 procedures) says which letters its glyphs
are, and nothing makes that true: a font whose glyph for "q" draws "M" shows "MẬT" on the page while the
text layer says "qwz". A secrecy mark is a stamp, a short line standing on its own (Decree 30, box 10a), so
every short line of a text page (no wider than CLAIM_EMS times its height) is rendered and read by OCR, and
what OCR reads is scanned for marks like the text layer (in the line's box, so the layout rules see the same
neighbours). The lines of a page are cropped, stacked on a sheet and read by one Tesseract call (about 7 ms a
line); a line whose pixels were read before in this process (a header on every page, a template's
letterhead) is not read again.

Not covered: a lying word inside a long line of prose ("tài liệu MẬT này" drawn by a lying font). The layout
rule's stamp is a short line; reading every line of every page by OCR would cost a second a page.
"""

from __future__ import annotations

import bisect
import collections
import hashlib
import threading
import time

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

# What OCR read in a line, by the line's exact pixels, in this process (like `ocr._READ`: a letterhead, a
# signature block, the header of every page and every letter of a template are read once). Only the few
# words read are kept, for the last _READ_MAX lines; never written anywhere.
_READ: "collections.OrderedDict[tuple, list[tuple[str, float, float]]]" = collections.OrderedDict()
_READ_MAX = 20_000
_LOCK = threading.Lock()


def candidates(text) -> list[Line]:
    """The lines of a `pdftext.PageText` that may be a stamp: short, and of a size a person reads."""
    out = []
    for line in text.lines:
        if line.box is None or not line.where.startswith("page"):
            continue
        x0, y0, x1, y1 = line.box
        height = max(y1 - y0, line.size or 0.0)  # the larger of the two: a small nominal size hides nothing
        if height < CLAIM_MIN_PT:
            continue
        if x1 - x0 <= CLAIM_EMS * height:
            out.append(line)
    return out


class OutOfTime(Exception):
    """The document's time ran out before every short line was read."""


def read(page, text, lines: list[Line], deadline: float) -> list[Line]:
    """What OCR reads in `lines` (from `candidates`) on the loaded PDFium `page` where it differs from what
    the text layer says: Lines where="ocr:pageN", each in the box of the line it was read in (its horizontal
    extent as read). A line whose pixels were read before in this process is not read again. Raises
    OutOfTime past `deadline` (time.monotonic()), or what rendering or OCR raises (the caller reports both
    as unread)."""
    from gateway.inspect import ocr
    from gateway.inspect.pixels import darkest

    where = f"ocr:page{text.index + 1}"
    out: list[Line] = []
    todo: list[tuple[tuple, Line, float, float, object]] = []  # (memo key, line, scale, x0, image)
    for n, line in enumerate(lines):
        if n % 64 == 0 and time.monotonic() > deadline:
            raise OutOfTime()
        x0, y0, x1, y1 = line.box
        height = max(y1 - y0, 1.0)
        pad_x, pad_y = 0.3 * height, 0.12 * height
        box = ocr._clip((x0 - pad_x, y0 - pad_y, x1 + pad_x, y1 + pad_y), text.width, text.height)
        if box[2] - box[0] < 1 or box[3] - box[1] < 1:
            continue
        scale = min(MAX_DPI, max(MIN_DPI, 72.0 * LINE_PX / height)) / 72.0
        crop = page.render(scale=scale, crop=ocr.margins(box, (text.width, text.height)), may_draw_forms=True)
        image = _unframed(darkest(crop.to_numpy()))  # a new array: the bitmap may go
        key = (hashlib.sha256(image.tobytes()).digest(), image.size)
        with _LOCK:
            known = _READ.get(key)
            if known is not None:
                _READ.move_to_end(key)
        if known is not None:
            out += _placed(known, line, scale, box[0], where, text.index)
        else:
            todo.append((key, line, scale, box[0], image))
    for k in range(0, len(todo), SHEET_LINES):
        if time.monotonic() > deadline:
            raise OutOfTime()
        chunk = todo[k:k + SHEET_LINES]
        for (key, line, scale, x0, _), read_ in zip(chunk, _read_sheet([t[4] for t in chunk])):
            with _LOCK:
                _READ[key] = read_
                while len(_READ) > _READ_MAX:
                    _READ.popitem(last=False)
            out += _placed(read_, line, scale, x0, where, text.index)
    return out


def forget() -> None:
    """Drop what was read (benchmarks time the reading, not the memo)."""
    with _LOCK:
        _READ.clear()


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


def _placed(read_, line: Line, scale: float, x0: float, where: str, page: int) -> list[Line]:
    """Lines read in `line`'s crop (`_read_sheet`), in its box on the page; a reading that says what the text
    layer says adds nothing (the mark, if any, is found already) and is left out."""
    if len(read_) == 1 and _letters(read_[0][0]) == _letters(line.text):
        return []
    return [
        Line(t, where, page, (round(x0 + a / scale, 2), line.box[1], round(x0 + b / scale, 2), line.box[3]),
             line.size, None, line.framed)
        for t, a, b in read_
    ]


def _letters(text: str) -> str:
    """`text` without accents and blanks, case kept (an upper-case MẬT is a mark where "mật" may not be); the
    marks rule reads accents loosely ("MẶT" alone is a mark too), so a reading that differs only in them
    finds nothing the text layer does not."""
    import unicodedata

    from gateway.inspect.marks import normalise

    value = unicodedata.normalize("NFD", normalise(text))
    return "".join(c for c in value if not unicodedata.combining(c) and not c.isspace()).replace("đ", "d").replace("Đ", "D")


def _unframed(grey):
    """`grey` (rendered, so never skewed) without its frames and rules (Tesseract reads a frame's side as a
    letter): `ocr.unframe` without its skew search, which costs more than the reading here. Grey is kept, so
    pale ink is Tesseract's to binarise (a light-grey stamp is ink to a person)."""
    from PIL import Image

    from gateway.inspect import ocr

    ink = grey < 224
    h, w = ink.shape
    # a frame's top or bottom: longer than any letter's stroke; its side: the crop's height (no stem is)
    rules = ocr.long_runs(ink, max(3 * LINE_PX // 2, w // 10)) | ocr.long_runs(ink.T, max(8, h * 9 // 10)).T
    grey[rules] = 255
    return Image.fromarray(grey, "L")
