"""Where a visible organisation signature may go without covering anything on the page (issue 14).

The page is rendered in its displayed orientation (/Rotate and the CropBox applied, as a reader sees it) at a low
resolution with pypdfium2; every pixel that is not white is content: text, images, vector graphics, existing
annotations and signature appearances alike. Only the top band is searched, so only the top band (and the clearance
below it) is rendered: half the pixels, and for a page-size scan half the image resampling. The text block (Phụ lục I
II.8.b; Phần II for copies) then goes into blank space, searched in this order:
1. at the top right of page 1 at full size (10 pt), nearest the corner first;
2. the same, shrunk step by step down to 7 pt (still legible, TCVN / Decree 30 use 10-14 pt body text);
3. the nearest blank area anywhere in the top band (the upper 40 % of the page), full size first, then shrunk.
If none fits (a full-page scan, a page filled to the edges) the signature is made invisible and the decision
carries the warning STAMP_NO_FREE_SPACE: a signature that hides the document's text would be worse than one
that does not show (the signature itself, its time and signer are in the signature panel of every reader).

Coordinates: the renderer and the readers' `Line.box` use display points, origin at the top left of the visible
page, y down. `to_user` turns such a rectangle into the PDF user-space /Rect of a widget on that page, for any
/Rotate (0, 90, 180, 270) and CropBox origin; sizes in real points are divided by /UserUnit.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("gateway.signing.placement")

SCALE = 0.5  # pixels per point: A4 is 298 x 421 px, enough for 7 pt text, cheap to render
BLANK = 235  # grey level (0-255) from which a pixel counts as blank paper (scanner noise stays below)
CLEARANCE = 3.0  # points kept between the block and any content
EDGE = 6.0  # points kept from the page edge
TOP_BAND = 0.40  # the "top" of a page: its upper 40 %
SIZES = (10.0, 9.0, 8.0, 7.0)  # font sizes tried, full size first (7 pt: the legible floor)


@dataclass(frozen=True)
class PageView:
    """What a page looks like as displayed: blank-or-not pixels and how display points map to user space."""

    width: float  # display points
    height: float
    rotate: int  # /Rotate normalised to 0, 90, 180, 270
    crop: tuple[float, float, float, float]  # user space
    user_unit: float
    occupied: object | None  # numpy bool array [rows, cols] at SCALE of the top band and the clearance below it,
    # True = content; None: not rendered
    band: int = 0  # pixel rows of the top band (where a block may go); `occupied` has a few more below it
    integral: object | None = None  # summed-area table of `occupied` ([rows + 1, cols + 1]): any rectangle in O(1)


def inherited(page, key: str):
    """A page attribute, inherited from the page tree (ISO 32000-2 7.7.3.4: /MediaBox, /CropBox, /Rotate)."""
    node = page
    for _ in range(64):
        if key in node:
            return node[key]
        if "/Parent" not in node:
            return None
        node = node["/Parent"].get_object()
    return None


def rotation(page) -> int:
    try:
        r = int(inherited(page, "/Rotate") or 0)
    except (TypeError, ValueError):
        r = 0
    return r % 360 if r % 90 == 0 else 0


def user_unit(page) -> float:
    try:
        u = float(page.get("/UserUnit", 1.0))
    except (TypeError, ValueError):
        return 1.0
    return u if u > 0 else 1.0


def display_size(crop, rotate: int) -> tuple[float, float]:
    w, h = crop[2] - crop[0], crop[3] - crop[1]
    return (h, w) if rotate in (90, 270) else (w, h)


def to_user(rect, crop, rotate: int) -> tuple[float, float, float, float]:
    """A display rectangle (x0, top, x1, bottom; origin top left, y down) as a user-space rectangle."""
    cx1, cy1, cx2, cy2 = crop

    def point(x: float, y: float) -> tuple[float, float]:
        if rotate == 90:
            return cx1 + y, cy1 + x
        if rotate == 180:
            return cx2 - x, cy1 + y
        if rotate == 270:
            return cx2 - y, cy2 - x
        return cx1 + x, cy2 - y

    (ax, ay), (bx, by) = point(rect[0], rect[1]), point(rect[2], rect[3])
    return (min(ax, bx), min(ay, by), max(ax, bx), max(ay, by))


def to_display(rect, crop, rotate: int) -> tuple[float, float, float, float]:
    """The inverse of to_user."""
    cx1, cy1, cx2, cy2 = crop

    def point(x: float, y: float) -> tuple[float, float]:
        if rotate == 90:
            return y - cy1, x - cx1
        if rotate == 180:
            return cx2 - x, y - cy1
        if rotate == 270:
            return cy2 - y, cx2 - x
        return x - cx1, cy2 - y

    (ax, ay), (bx, by) = point(rect[0], rect[1]), point(rect[2], rect[3])
    return (min(ax, bx), min(ay, by), max(ax, bx), max(ay, by))


def view(src: Path, page_index: int, page, crop, *, render: bool = True) -> PageView:
    """Render the top band of page `page_index` of `src` (pypdfium2) and mark what is not blank. Never raises: a
    page that cannot be rendered has `occupied` None (the caller then shows no block). render=False: geometry only."""
    import numpy as np

    rot, unit = rotation(page), user_unit(page)
    width, height = display_size(crop, rot)
    if not render:
        return PageView(width, height, rot, tuple(crop), unit, None)
    band = int(np.ceil(height * SCALE) * TOP_BAND)
    # the band, plus the clearance below it: content just under the band keeps a block at its foot away
    keep = min(height, band / SCALE + 2 * CLEARANCE)
    try:
        if Path(src).stat().st_size > IN_PROCESS_BYTES:
            pixels = _render_in_child(src, page_index, height - keep)
        else:
            pixels = render_page(src, page_index, height - keep)
        occupied = pixels < BLANK
        # pdfium renders the CropBox in display orientation; its size must agree with ours
        rows, cols = occupied.shape
        if abs(cols - width * SCALE) > 3 or abs(rows - keep * SCALE) > 3 or rows < band:
            log.info("placement: rendered %dx%d px for a %.0fx%.0f pt page; sizes disagree", cols, rows, width, height)
            return PageView(width, height, rot, tuple(crop), unit, None)
    except Exception as exc:  # noqa: BLE001 - no picture of the page: no block (never over content)
        log.info("placement: page %d not rendered: %s", page_index + 1, type(exc).__name__)
        return PageView(width, height, rot, tuple(crop), unit, None)
    integral = np.zeros((rows + 1, cols + 1), dtype=np.int32)
    integral[1:, 1:] = occupied.astype(np.int32).cumsum(0).cumsum(1)
    return PageView(width, height, rot, tuple(crop), unit, occupied, band, integral)


# Files larger than this are rendered in a child process: the images of a 200 MB scan must not grow the signing
# worker (its peak RSS is what the large-file bench measures), and a hostile page must not kill it. (Looking at
# the images' sizes first would load their streams: pyHanko reads a stream object whole.)
IN_PROCESS_BYTES = 32 * 1024 * 1024
CHILD_SECONDS = 30
CHILD_MEMORY = 2 << 30


def render_page(src: Path, page_index: int, cut_bottom: float = 0.0):
    """Grey pixels (numpy uint8 [rows, cols]) of one page as displayed, at SCALE, less `cut_bottom` points at
    the foot of the displayed page."""
    import pypdfium2 as pdfium

    from gateway.inspect.pixels import darkest

    pdf = pdfium.PdfDocument(str(src))
    try:
        try:
            pdf.init_forms()  # form fields are drawn too (a field without /AP is drawn by readers from its value)
        except Exception:  # noqa: BLE001 - no form environment: the page's own content still renders
            pass
        pg = pdf[page_index]
        try:
            # pdfium's crop applies to the bitmap, after the page's rotation: display orientation, as wanted
            # colour, then the darkest channel: faster in pdfium than its grey mode, and stricter (pale yellow
            # ink counts as content)
            bitmap = pg.render(scale=SCALE, draw_annots=True, may_draw_forms=True,
                               crop=(0, max(0.0, cut_bottom), 0, 0))
            return darkest(bitmap.to_numpy())  # a new array: the bitmap's memory goes with the page
        finally:
            pg.close()
    finally:
        pdf.close()


def _render_in_child(src: Path, page_index: int, cut_bottom: float):
    import subprocess
    import sys

    import numpy as np

    code = (
        "import resource,sys\n"
        f"resource.setrlimit(resource.RLIMIT_AS, ({CHILD_MEMORY}, {CHILD_MEMORY}))\n"
        "from gateway.signing.placement import render_page\n"
        "import numpy as np\n"
        "p = render_page(sys.argv[1], int(sys.argv[2]), float(sys.argv[3]))\n"
        "sys.stdout.buffer.write(np.array(p.shape, dtype=np.int32).tobytes() + p.astype(np.uint8).tobytes())\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(src), str(page_index), repr(float(cut_bottom))],
                         capture_output=True, timeout=CHILD_SECONDS, check=True).stdout
    rows, cols = np.frombuffer(out[:8], dtype=np.int32)
    return np.frombuffer(out[8:], dtype=np.uint8).reshape(int(rows), int(cols))


def _content(pv: PageView, top, left, bottom, right):
    """Content pixels within CLEARANCE of the pixel rectangles [top, bottom) x [left, right) (numpy arrays of
    equal shape, or ints): the rectangles grown by the clearance, clipped to what was rendered. The same as
    the rectangles over the mask dilated by a square of the clearance, without building that mask."""
    import numpy as np

    r = int(round(CLEARANCE * SCALE)) or 1
    rows, cols = pv.occupied.shape
    t, b = np.clip(top - r, 0, rows), np.clip(bottom + r, 0, rows)
    lft, rgt = np.clip(left - r, 0, cols), np.clip(right + r, 0, cols)
    ii = pv.integral
    return ii[b, rgt] - ii[t, rgt] - ii[b, lft] + ii[t, lft]


def free_rect(pv: PageView, w: float, h: float, *, margin_right: float, margin_top: float, right: bool = False,
              inset: float = 0.0):
    """A display rectangle of w x h points in the top band nearest the top-right corner whose inside (the
    rectangle less `inset` on every side: where the widget draws) is blank, or None. right=True: only in the
    right half of the page (the top-right area of Phụ lục I)."""
    import numpy as np

    occ = pv.occupied
    if occ is None:
        return None
    cols = occ.shape[1]
    pw, ph = int(np.ceil(w * SCALE)), int(np.ceil(h * SCALE))
    edge = int(np.ceil(EDGE * SCALE))
    band = pv.band
    if pw + 2 * edge > cols or ph + edge > band:
        return None
    # every top-left position inside the band whose rectangle holds no content
    y0 = np.arange(edge, band - ph + 1)
    x0 = np.arange(max(edge, cols // 2 - pw // 2) if right else edge, cols - edge - pw + 1)
    if not len(y0) or not len(x0):
        return None
    Y, X = np.meshgrid(y0, x0, indexing="ij")
    k = int(np.floor(inset * SCALE))
    k = min(k, (pw - 1) // 2, (ph - 1) // 2)
    ok = _content(pv, Y + k, X + k, Y + ph - k, X + pw - k) == 0
    if not ok.any():
        return None
    # nearest the ideal place: right edge at the right margin, top at the top margin
    ideal_x = cols - margin_right * SCALE - pw
    ideal_y = margin_top * SCALE
    cost = np.abs(X - ideal_x) + 1.5 * np.abs(Y - ideal_y)
    cost = np.where(ok, cost, np.inf)
    iy, ix = np.unravel_index(np.argmin(cost), cost.shape)
    x, y = X[iy, ix] / SCALE, Y[iy, ix] / SCALE
    return (x, y, x + w, y + h)


def blank(pv: PageView, rect) -> bool:
    """True when the display rectangle holds no content (used for the seal's report, and by tests)."""
    import numpy as np

    if pv.occupied is None:
        return False
    x0, y0, x1, y1 = (int(np.floor(rect[0] * SCALE)), int(np.floor(rect[1] * SCALE)),
                      int(np.ceil(rect[2] * SCALE)), int(np.ceil(rect[3] * SCALE)))
    if y1 > pv.band:
        return False  # below the band nothing was rendered: not known to be blank
    return not _content(pv, y0, x0, y1, x1)
