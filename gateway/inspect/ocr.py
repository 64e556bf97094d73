"""OCR: what a person sees on a page or in an image that no text layer says (Tesseract, Vietnamese data).

Where it runs: inside the inspection, so in the signing worker processes (the engine's pool) or in the
child process that reads a large PDF; never on a door's event loop. One Tesseract engine per process,
loaded on first use, limited to one thread (OMP_THREAD_LIMIT=1: the pool already uses the cores).

What is read (pdf pages, via `pdf_page`):
- a page with no text layer (a scan, or text turned into vector outlines): the whole page at 300 dpi;
- on a page with text, each image of legible size (a stamp pasted onto the page, a scanned part) and each
  group of filled vector paths that may be glyph outlines: that region at 300 dpi. Whether an image holds
  writing is judged from its decoded pixels, never from how it is stored. An image whose background is not
  uniform even when averaged over a few pixels (pure noise, a photograph) holds no legible writing unless it
  carries red ink: then the red ink alone is read (secrecy stamps are red, TT 24/2020). An image shown
  through a mask (its /SMask or /Mask, a soft mask in its graphics state: `_masked`) is judged as rendered
  instead. Writing on grain or noise is read from the averaged image, as a person sees it. The same image
  drawn on several pages is read once.
- on a page with text, also whatever the page at 50 dpi shows that neither its text layer nor a picture or
  outline accounts for (`_unaccounted`: a form nested deeper than the object walk goes, a pattern's cell, a
  shading), rules, frames and fills left out: that region at 300 dpi;
- an image document (PNG, JPEG, TIFF (every frame), GIF, BMP, WebP: `read_image`): the whole image as viewers
  show it (EXIF orientation applied, transparency over white and, where it varies, over black: `_as_shown`),
  and the preview in its EXIF (`_thumbnail`). A picture stored upside down without a tag is not read upright.
How a region is prepared (`_prepare`): binarised with frames and rules taken away (`unframe`); a small image is
read with them too (a 20-25 pt letter's stem is as long as a stamp's frame); light ink on a clean background
(grey 0.8, yellow, light blue: `_light_ink`) is contrast-stretched, pale ink beside dark writing (a grey stamp
or watermark under the text: `_pale`) is read as a layer of its own, like red ink; thin outlines enclosing
shapes (hollow, stroked letters) are read filled too (`shapes.filled`; a thick pen's, up to
shapes.THICK_STROKE, filled and thinned); a stamp-sized region, red ink and the pale layer are read turned
upright too when askew by 6-45 degrees (`shapes.upright`, the angle from the ink); on a whole page (a scan, an
image document) each stamp-sized blob of ink askew so is cut out and read upright (stamps.py); the one line of
large letters of a stamp-sized region is read with its letters at a capital's width too, as one block
(`_reproportioned`: a stamp picture squashed or stretched).
Each recognised line becomes a `Line` with where="ocr:pageN" (or "ocr:image"), its box in page points;
a line read from a small image or outline group on a text page is marked `framed` (it is a stamp).

Fail closed: no Tesseract or no Vietnamese data when something needs reading (OCR_UNAVAILABLE), an error
or an image that cannot be decoded (OCR_FAILED), the time budget or the pixel limit (SECRECY_SCAN_INCOMPLETE)
are reasons in `incomplete`: the document is not released.
"""

from __future__ import annotations

import collections
import glob
import hashlib
import logging
import os
import re
import threading
import time
from dataclasses import dataclass

from gateway.errors import exc_detail
from gateway.inspect import marks, shapes
from gateway.inspect.reading import Line, Reading
from gateway.model import Reason, SignFormat

log = logging.getLogger(__name__)

PAGE_DPI = 300  # a page without text is read at this resolution
REGION_DPI = 300  # a region (stamp, outlines) on a text page
# vector outlines over LARGE_REGION square inches (a figure) and lines of glyphs without letters: crisp, so
# enough for 8 pt text at half the cost. An image is read at REGION_DPI whatever its size: a scanned page
# with a line of text on it is a scan (at 200 dpi a boxed 14 pt "MẬT" of a 212 ppi scan was read "|mar|")
LARGE_REGION_DPI = 200
LARGE_REGION = 12.0
MIN_REGION_PT = (18.0, 7.0)  # smaller than this (w, h in points) holds no legible word at normal zoom
MAX_IMAGE_PIXELS = 120_000_000  # an image document above this is not decoded (a decompression bomb)
MAX_ANALYSED_PIXELS = 16_000_000  # an image's own pixels are examined up to this; above, its region is rendered
STAMP_AREA = 0.12  # a region smaller than this share of the page, read on a text page, is a stamp
LANG = "vie"
MARGIN = 24  # white pixels around an image given to Tesseract
REDUCTIONS = (4, 16)  # the pyramid of `_pyramid`
MIN_REDUCED_SIDE = 32  # a reduction smaller than this (pixels) holds no line of large writing
MIN_REDUCED_LINE = 16  # a line read at a reduction is kept from this height (pixels, reduced) up
FALLBACK_SIDE = 1600  # an image without legible background is read reduced to this long side (pixels)

_LOCK = threading.Lock()
# What Tesseract read in this process, by the exact pixels (mode and resolution) read: deterministic for the
# same input, so a picture met again is not read again. Only the lines are kept (usually under a KB each), for
# the last _READ_MAX pictures (a line of text read apart is a picture too; the shared corpus makes ~460); the
# worker holds the documents themselves while it reads them anyway.
_READ: "collections.OrderedDict[tuple, tuple[OcrLine, ...]]" = collections.OrderedDict()
_READ_MAX = 2048
_ENGINE: "_Engine | None" = None
_UNAVAILABLE: str | None = None


class OcrUnavailable(Exception):
    """Tesseract or its Vietnamese data is not installed."""


@dataclass(frozen=True)
class OcrLine:
    text: str
    box: tuple[float, float, float, float]  # pixels of the image given
    confidence: float


LEPT_SEVERITY_NONE = 6  # leptonica's L_SEVERITY_NONE
_LEPT_NAMES = ("liblept.so", "libleptonica")  # Debian's and a wheel's bundled copy


def _quiet_leptonica() -> None:
    """Leptonica (under Tesseract) prints its internal errors to the process's stderr ("Error in
    pixScaleAreaMap: pixd too small" on some crops): English lines in a clerk's `gateway check` output and the
    service's journal, for steps Tesseract recovers from. Silenced in the copy loaded in this process; what OCR
    reads, and its failures (raised), are unchanged."""
    import ctypes

    try:
        with open("/proc/self/maps", encoding="ascii", errors="replace") as maps:
            paths = {line.split()[-1] for line in maps if any(n in line.rsplit("/", 1)[-1] for n in _LEPT_NAMES)}
        for path in paths:  # the copy Tesseract uses (a wheel bundles its own): loaded already, not again
            ctypes.CDLL(path).setMsgSeverity(LEPT_SEVERITY_NONE)
    except (OSError, AttributeError):  # no /proc, or not leptonica: its messages stay, nothing else changes
        pass


class _Engine:
    def __init__(self, tessdata: str) -> None:
        import tesserocr

        self.tesserocr = tesserocr
        self.tessdata = tessdata
        self.api = tesserocr.PyTessBaseAPI(path=tessdata, lang=LANG, psm=tesserocr.PSM.AUTO)
        self.osd = None  # the orientation detector, loaded on first use
        _quiet_leptonica()

    def lines(self, image, sparse: bool, block: bool = False, symbols: bool = False) -> list[OcrLine]:
        tesserocr = self.tesserocr
        api = self.api
        # AUTO reads a boxed stamp that SPARSE_TEXT misses; `sparse` is kept for callers that want it; a sheet
        # of lines stacked one under another (claimed.py) is one block: no page layout to find (30 % faster)
        psm = tesserocr.PSM.SINGLE_BLOCK if block else tesserocr.PSM.SPARSE_TEXT if sparse else tesserocr.PSM.AUTO
        api.SetPageSegMode(psm)
        api.SetImage(image)
        if not api.Recognize():
            raise RuntimeError("tesseract: recognition failed")
        out: list[OcrLine] = []
        level = tesserocr.RIL.SYMBOL if symbols else tesserocr.RIL.TEXTLINE
        it = api.GetIterator()
        if it is None:
            return out
        for r in tesserocr.iterate_level(it, level):
            try:
                text = (r.GetUTF8Text(level) or "").strip()
            except RuntimeError:  # "No text returned": an empty line
                continue
            box = r.BoundingBox(level)
            if not text or box is None:
                continue
            out.append(OcrLine(undoubled(text), tuple(float(v) for v in box), float(r.Confidence(level))))
        api.Clear()
        return out

    def orientation(self, image) -> int:
        """How far `image`'s writing is turned, in degrees counter-clockwise to set it upright (0, 90, 180,
        270): Tesseract's orientation detection (osd.traineddata, Debian's tesseract-ocr-osd). 0 when it cannot
        tell (too few letters). Raises OcrUnavailable without the data."""
        tesserocr = self.tesserocr
        if self.osd is None:
            try:
                self.osd = tesserocr.PyTessBaseAPI(path=self.tessdata, lang="osd", psm=tesserocr.PSM.OSD_ONLY)
            except RuntimeError as exc:
                raise OcrUnavailable(f"tesseract orientation data (tesseract-ocr-osd): {exc}") from exc
        self.osd.SetImage(image)
        try:
            found = self.osd.DetectOrientationScript() or {}
        except RuntimeError:  # too few letters to tell
            return 0
        finally:
            self.osd.Clear()
        deg = int(found.get("orient_deg") or 0)
        return deg if deg in (90, 180, 270) and float(found.get("orient_conf") or 0) >= ORIENT_CONFIDENCE else 0


def undoubled(text: str) -> str:
    """`text` without the doubled letters Tesseract writes for one letter it is unsure of: of two letters side
    by side with the same base letter and both accented, the second is kept ("TUYẾỆT", "MậẬT": no Vietnamese
    word has two such letters side by side; "ưu", "xoong": one bare); and a word with a Vietnamese accent that
    ends in the same consonant twice ends in it once ("MẬTT": no Vietnamese word does; "MATT", unaccented,
    stays)."""
    import unicodedata

    def parts(ch: str) -> tuple[str, bool]:
        d = unicodedata.normalize("NFD", ch)
        return d[:1].lower(), len(d) > 1

    out: list[str] = []
    for ch in unicodedata.normalize("NFC", text):
        if out and ch.isalpha() and out[-1].isalpha():
            (a, marked_a), (b, marked_b) = parts(out[-1]), parts(ch)
            if a == b and marked_a and marked_b:
                out[-1] = ch
                continue
        out.append(ch)
    accented = lambda m: m.group(1) if any(parts(c)[1] or c in "đĐ" for c in m.group(1)) else m.group(0)  # noqa: E731
    return _DOUBLED_END.sub(accented, "".join(out))


_DOUBLED_END = re.compile(r"(\w*?([^\W\daeiouyAEIOUY]))\2(?!\w)")  # a word ending in a consonant twice


def tessdata_dir() -> str | None:
    """Where the Vietnamese traineddata is: TESSDATA_PREFIX, else Debian's and the usual places."""
    candidates = []
    if os.environ.get("TESSDATA_PREFIX"):
        candidates.append(os.environ["TESSDATA_PREFIX"])
    candidates += sorted(glob.glob("/usr/share/tesseract-ocr/*/tessdata"), reverse=True)
    candidates += ["/usr/share/tessdata", "/usr/local/share/tessdata", "/usr/share/tesseract-ocr/tessdata"]
    for d in candidates:
        if os.path.isfile(os.path.join(d, f"{LANG}.traineddata")):
            return d.rstrip("/") + "/"
    return None


def engine() -> _Engine:
    """This process's Tesseract (loaded once). Raises OcrUnavailable."""
    global _ENGINE, _UNAVAILABLE
    if _ENGINE is not None:
        return _ENGINE
    if _UNAVAILABLE is not None:
        raise OcrUnavailable(_UNAVAILABLE)
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")  # one core per worker: the pool has the others
    try:
        import tesserocr  # noqa: F401
    except ImportError as exc:
        _UNAVAILABLE = f"tesserocr: {exc}"
        raise OcrUnavailable(_UNAVAILABLE) from exc
    tessdata = tessdata_dir()
    if tessdata is None:
        _UNAVAILABLE = f"no {LANG}.traineddata (Debian: tesseract-ocr-{LANG})"
        raise OcrUnavailable(_UNAVAILABLE)
    try:
        _ENGINE = _Engine(tessdata)
    except Exception as exc:  # noqa: BLE001
        log.error("OCR unavailable: tesseract could not start with %s: %s", tessdata, exc)  # the operator's clue
        _UNAVAILABLE = f"tesseract: {exc_detail(exc)}"
        raise OcrUnavailable(_UNAVAILABLE) from exc
    return _ENGINE


def recognise(image, *, sparse: bool = False, block: bool = False, symbols: bool = False) -> list[OcrLine]:
    """The text lines (`symbols`: the letters, each with its box) of a PIL image (one engine per process, one call at a time). The
    same pixels were read before in this process (a letterhead, a logo, a form's printed frame in every
    document of a template): the lines read then, without Tesseract (~0.5 s a page)."""
    eng = engine()
    # the resolution goes to Tesseract with the pixels (its source resolution): part of what was read
    key = (hashlib.sha256(image.tobytes()).digest(), image.size, image.mode, repr(image.info.get("dpi")), sparse, block,
           symbols)
    with _LOCK:
        seen = _READ.get(key)
        if seen is not None:
            _READ.move_to_end(key)
            return list(seen)
        lines = eng.lines(image, sparse, block, symbols)
        if not block and not symbols:
            lines += _turned(eng, image, lines)
        _READ[key] = tuple(lines)
        while len(_READ) > _READ_MAX:
            _READ.popitem(last=False)
        return lines


# Writing upside down or on its side: a page fed into the scanner the wrong way round, a stamp pressed upside down.
# A person turns the paper and reads it; Tesseract reads only upright writing (an upside-down "TỐI MẬT" stamp reads
# "LVN IQL" at confidence 51, a whole upside-down page reads nothing worth a line).
TURNED_CONFIDENCE = 70.0  # a line read below this may be writing turned over: read again turned 180 degrees
TURNED_MIN_PX = 16  # lower than this, no line a person reads at normal zoom
MAX_TURNED = 8  # such lines read again per image, the tallest first (a stamp's letters are large)
ORIENT_SIDE = 1800  # pixels: a page is asked which way its writing runs at about this long side (0.2 s)
ORIENT_CONFIDENCE = 2.0  # Tesseract's orientation confidence: below this, a guess (an upright page scores 12-14)


def turned_page(image) -> tuple[int, list[OcrLine]]:
    """A whole page or picture (PIL) whose writing runs sideways or upside down (a sheet fed into the scanner
    the wrong way round; Tesseract reads only upright writing, and reads a page on its side as confident
    nonsense): (degrees it was turned counter-clockwise to read it, the lines read so, in `image`'s own
    pixels), or (0, []) when it is upright or too bare to tell. Asked of Tesseract's orientation detection
    once per page, on the page reduced to about ORIENT_SIDE pixels."""
    factor = max(1, -(-max(image.size) // ORIENT_SIDE))  # at most ORIENT_SIDE: a 2300 px photo took 1.2 s
    small = image.convert("L").reduce(factor) if factor > 1 else image.convert("L")
    eng = engine()
    with _LOCK:
        deg = eng.orientation(small)
    if not deg:
        return 0, []
    w, h = image.size
    return deg, [OcrLine(ol.text, _unturned(ol.box, deg, w, h), ol.confidence)
                 for ol in recognise(image.rotate(deg, expand=True))]


def _turned(eng: _Engine, image, lines: list[OcrLine]) -> list[OcrLine]:
    """Each doubtful line of `image` (read below TURNED_CONFIDENCE: a stamp pressed upside down) read again
    turned over, in `image`'s pixels. Called with the engine's lock held. (A whole page or picture turned is
    `turned_page`.)"""
    out: list[OcrLine] = []
    w, h = image.size
    doubtful = sorted((ol for ol in lines if ol.confidence < TURNED_CONFIDENCE and ol.box[3] - ol.box[1] >= TURNED_MIN_PX),
                      key=lambda ol: ol.box[1] - ol.box[3])[:MAX_TURNED]
    for ol in doubtful:
        x0, y0, x1, y1 = ol.box
        pad = 0.25 * (y1 - y0)
        c0, r0, c1, r1 = max(0, int(x0 - pad)), max(0, int(y0 - pad)), min(w, int(x1 + pad) + 1), min(h, int(y1 + pad) + 1)
        crop = image.crop((c0, r0, c1, r1)).rotate(180)
        for again in eng.lines(crop, False, block=True):
            a0, b0, a1, b1 = _unturned(again.box, 180, c1 - c0, r1 - r0)
            out.append(OcrLine(again.text, (a0 + c0, b0 + r0, a1 + c0, b1 + r0), again.confidence))
    return out


def _unturned(box, deg: int, w: int, h: int) -> tuple[float, float, float, float]:
    """A box read in an image of `w` x `h` turned `deg` degrees counter-clockwise (PIL's rotate, expand), in the
    image's own pixels."""
    x0, y0, x1, y1 = box
    if deg == 180:
        return (w - x1, h - y1, w - x0, h - y0)
    if deg == 90:
        return (w - y1, x0, w - y0, x1)
    if deg == 270:
        return (y0, h - x1, y1, h - x0)
    return (x0, y0, x1, y1)


def forget() -> None:
    """Drop what was read (benchmarks time Tesseract itself, not the memo)."""
    from gateway.inspect import claimed, fonts, memo

    with _LOCK:
        _READ.clear()
    claimed.forget()
    fonts.forget()
    memo.forget()


# --- what needs reading -------------------------------------------------------------------------------------


def grey_counts(gray):
    """How many pixels of `gray` (a PIL "L" image or 2-D uint8 pixels) have each of the 256 grey levels (numpy),
    counted on every other pixel each way above 1 Mpixel: the statistics do not need every pixel (noise on
    that grid: `_through_grain`). PIL counts 3x faster than numpy's bincount (which widens every pixel first)."""
    import numpy as np
    from PIL import Image

    a = np.asarray(gray, dtype=np.uint8)
    if a.ndim != 2 or a.size == 0:
        return np.bincount(a.ravel(), minlength=256)
    if a.size > 1_000_000:
        a = a[::2, ::2]
    return np.asarray(Image.fromarray(np.ascontiguousarray(a), "L").histogram(), dtype=np.int64)


def legible(gray, min_ink: int = 0, counts=None) -> str | None:
    """Can this image hold writing a person reads? "ink" (dark on a uniform background), "inverted" (light on
    dark), or None (blank, or no uniform background: noise, grain, a photograph; see `_through_grain`).
    `min_ink`: fewer pixels far from the background than this are blank whatever the image's size. `counts`:
    `grey_counts(gray)` when the caller has them (`gray` is not looked at then)."""
    hist = grey_counts(gray) if counts is None else counts
    size = int(hist.sum())
    if size == 0:
        return None
    mode = int(hist.argmax())
    near = hist[max(0, mode - 24) : mode + 25].sum() / size
    if near < 0.45:
        return None
    dark, light = hist[: max(0, mode - 70)].sum(), hist[mode + 71 :].sum()
    if dark + light < max(0.0005 * size, min_ink):
        return None  # blank (or nearly): nothing written
    # which side the writing is on, not how bright the background is: on a mid-grey background (grain
    # averaged out) the mode alone says little
    return "ink" if dark >= light else "inverted"


GRAIN_CELL = 4  # pixels averaged to see through grain: 4 x 4 at 300 dpi is about what a screen shows at 100 %
GRAIN_MIN_INK = 24  # pixels of the averaged image: less is chance, not writing
LIGHT_CELL = 32  # the scale of uneven light (a photographed page): far coarser than a stroke
GRAINY = 8.0  # median distance (grey levels) of a pixel from its 5 x 5 neighbourhood: clean scans 1-4, a
# poor photocopy's grain 13-19, noise 24-34 (the labelled set at 150-300 dpi, rendered at 300)


def grain(gray) -> float:
    """How grainy `gray` is: the median distance of a pixel from the mean of its 5 x 5 neighbourhood (wide
    enough that a 150 dpi scan rendered at 300 still shows its grain). Uneven light does not count (it is
    smooth); noise and a poor photocopy's grain do."""
    import numpy as np
    from PIL import ImageFilter

    if gray.size[0] * gray.size[1] > 4_000_000:
        gray = gray.crop((0, 0, gray.size[0], gray.size[1] // 2))  # half the page says as much
    a = np.asarray(gray, dtype=np.int16)
    b = np.asarray(gray.filter(ImageFilter.BoxBlur(2)), dtype=np.int16)
    # on the background only (where the smoothed image is near its commonest grey): along the strokes of
    # crisp writing every pixel differs from its neighbourhood, and a small picture of text is mostly strokes
    ground = int(np.bincount(b.ravel(), minlength=256).argmax())
    d = np.abs(a - b)[np.abs(b - ground) <= 40]
    if d.size == 0:
        return 0.0
    counts = np.bincount(d, minlength=256)  # the median from counts: a sort costs 10x
    return float(np.searchsorted(np.cumsum(counts), (d.size + 1) / 2))


def _through_grain(gray, grainy: bool | None = None):
    """Writing a person still reads where the background is not uniform: on grain or noise (a poor scan, a
    dithered picture, noise laid over a page on purpose), which averages out at normal zoom while strokes
    stay, or under uneven light (a photographed page), which the eye discounts. (the image evened out and
    smoothed, its kind) when the evened, averaged image shows writing, else None: pure noise averages out to
    a blank grey and stays unread."""
    from PIL import ImageFilter

    if min(gray.size) < 2 * LIGHT_CELL:
        return None
    # cheap: a sixteenth of the pixels. Averaged noise strays that far from its mean in about 1 pixel of 7000:
    # a small picture of pure noise would show a few "ink" pixels by chance, a word shows hundreds
    seen = legible(_evened(gray.reduce(GRAIN_CELL), LIGHT_CELL // GRAIN_CELL), min_ink=GRAIN_MIN_INK)
    if seen is None:
        return None
    if grain(gray) >= GRAINY if grainy is None else grainy:  # averaged, not divided: a division stretches noise
        even = _evened(gray, LIGHT_CELL).filter(ImageFilter.GaussianBlur(1.2))
    else:
        even = _evened(gray, LIGHT_CELL, divide=True)
    return even, legible(even) or seen


def _evened(gray, cell: int, divide: bool = False):
    """`gray` with uneven light taken away: its background (the image averaged over `cell` pixels)
    subtracted, for the test of whether anything is written (a division stretches noise into something that
    looks like ink), or divided out, for reading (it keeps the contrast of ink in the shade)."""
    import numpy as np
    from PIL import Image

    ground = np.asarray(gray.reduce(cell).resize(gray.size, Image.BILINEAR), dtype=np.float32)
    a = np.asarray(gray, dtype=np.float32)
    even = a / np.maximum(ground, 1.0) * 200.0 if divide else a - ground + 200.0
    return Image.fromarray(np.clip(even, 0, 255).astype(np.uint8), "L")


def red_ink(rgb):
    """A black-on-white image of the red ink in `rgb` (None when there is almost none)."""
    import numpy as np
    from PIL import Image

    full = np.asarray(rgb.convert("RGB"))

    def mask_of(a):
        a = a.astype(np.int16)
        r, g, b = a[..., 0], a[..., 1], a[..., 2]
        return (r > 120) & (r - g > 60) & (r - b > 50)

    if mask_of(full[::4, ::4]).mean() < 0.0005:  # a quick look first: most pages have no red at all
        return None
    mask = mask_of(full)
    if _scattered(mask):
        return None
    return Image.fromarray(np.where(mask, 0, 255).astype(np.uint8), "L")


def _scattered(mask) -> bool:
    """Red pixels that are noise (a random or grainy image, a JPEG's colour blocks), not strokes: ink is drawn
    in strokes several pixels wide, so most red pixels have a red neighbour; in noise hardly more than the red
    share does."""
    pairs = int((mask[:, 1:] & mask[:, :-1]).sum()) + int((mask[1:, :] & mask[:-1, :]).sum())
    red = int(mask[:, :-1].sum()) + int(mask[:-1, :].sum())
    return red > 0 and pairs / red < max(0.45, 2 * float(mask.mean()))


def _prepare(img, clean: bool = True, grey=None, grainy: bool | None = None, stamp: bool = False):
    """The images to read for one region: the grey image when it is legible, plus its red ink if any; each
    binarised with ruled lines and frames removed (Tesseract reads a boxed stamp as a picture otherwise),
    with a white margin, at every level of the pyramid: [(image, reduction)]. With clean=False, the bare
    legible images (a test of whether anything is written). `grey`: the grey pixels as a numpy array when the
    caller has them (a PIL image gives numpy its pixels only by copying them through an encoder); `grainy`:
    whether the grey image is grainy, when the caller measured it already (`grain` costs tens of ms a page).
    `stamp`: a stamp-sized region, whose writing may be askew (a rubber stamp, a tilted watermark): read
    upright too (`shapes.upright`); red ink is a stamp wherever it is."""
    from PIL import ImageFilter, ImageOps

    gray = img.convert("L")
    out = []
    pale = None
    counts = grey_counts(gray if grey is None else grey)
    kind = legible(gray, counts=counts)
    if kind is None:
        # light ink is looked for in the darkest channel: the same pixels as `gray` unless in colour
        same = grey is not None or img.mode == "L"
        light = None if grainy else _light_ink(img, grey, counts if same else None)
        if light is not None:
            gray, kind = light, "ink"
        else:
            gray, kind = _through_grain(gray, grainy) or (gray, None)
    elif clean and (grain(gray) >= GRAINY if grainy is None else grainy):
        gray = gray.filter(ImageFilter.GaussianBlur(1.2))  # speckle left after binarising hides a boxed stamp
    if kind == "ink":
        out.append(gray)
        pale = _pale(gray) if clean and not grainy else None
        if pale is not None:
            out.append(pale)
    elif kind == "inverted":
        out.append(ImageOps.invert(gray))
    tilted, red = [], None
    if img.mode not in ("L", "1", "LA", "I", "I;16"):
        red = red_ink(img)
        if red is not None:
            out.append(red)
            if clean:
                tilted.append(red)
    if not clean:
        return out
    if stamp and out and out[0] is not red:
        tilted.append(out[0])
    if pale is not None:
        tilted.append(pale)
    for i in list(out):
        if i.size[0] * i.size[1] <= HOLLOW_PIXELS:
            solid = shapes.filled(i, thick=stamp)
            if solid is not None:
                out.append(solid)
                if any(i is t for t in tilted):
                    tilted.append(solid)
    for i in tilted:
        turned = shapes.upright(i)
        if turned is not None:
            out.append(turned)
    prepared = []
    for i in out:
        prepared += _levels(i)
    if stamp and out:
        prepared += _reproportioned(out[0])
    return prepared


RESHAPE_HEIGHT = 96  # pixels: the line of letters is read this high (Tesseract's best; and cheap)
RESHAPE_MIN_BAND = 40  # pixels: a line of letters lower than this is not a stamp's large letters
RESHAPE_WIDE = 1.3  # letters that all touch (one run of inked columns) wider than this are stretched
RESHAPE_TO = 0.5  # a capital's width against its band (accents included) as drawn: what a reshape restores
RESHAPE_LETTERS = 12  # runs of inked columns (letters, or letters that touch): more is a line of text, not a
# stamp's word or two (a page's narrow-lettered lines are read as they are)


def _reproportioned(gray):
    """[(image, (x factor, y factor))]: the one line of large letters of a stamp-sized `gray` (ink dark on
    white) without its frame, read at other proportions too: a stamp picture drawn squashed or stretched
    (letters narrowed or widened 2-3x) is read by Tesseract as other letters. Empty unless the ink, its frame
    left out, is one band of letters RESHAPE_MIN_BAND high or more in an image up to BOTH_READINGS_PIXELS: a
    few small Tesseract calls, on stamps only."""
    import numpy as np
    from PIL import Image, ImageOps

    a = np.asarray(gray, dtype=np.uint8)
    if a.size > BOTH_READINGS_PIXELS or a.size == 0:
        return []
    ink = a < 128
    h, w = ink.shape
    # only the frame goes (runs over most of a side): a large letter's stem is kept
    frame = shapes.long_runs(ink, max(8, int(0.6 * w))) | shapes.long_runs(ink.T, max(8, int(0.6 * h))).T
    ink &= ~shapes.grown(frame, 2)
    rows = np.nonzero(ink.sum(axis=1) > 0)[0]
    if rows.size == 0:
        return []
    band = int(rows[-1] - rows[0] + 1)
    if band < RESHAPE_MIN_BAND or int(np.diff(rows).max(initial=1)) > band // 3 or not _one_line(ink, rows):
        return []  # small writing, or several lines (a gap wider than a third of the band), or a drawing
    # the letters' width against their height: the median run of inked columns (a letter, or letters that
    # touch); every such line is read reshaped, as one block (Tesseract's page layout reads a lone large word,
    # even hardly squashed, as nothing)
    widths = _runs(ink.any(axis=0))
    if not 1 <= widths.size <= RESHAPE_LETTERS:
        return []
    wide = float(np.median(widths)) / band
    # one reading with the letters brought back to a capital's width; letters that all touch (one run) are
    # as many as the run is long: read at two widths (one narrow run is a stroke, not a word)
    factors = [RESHAPE_TO / wide] if widths.size > 1 else [0.25, 0.4] if wide > RESHAPE_WIDE else []
    fy = band / RESHAPE_HEIGHT
    letters = Image.fromarray(np.where(ink, 0, 255).astype(np.uint8), "L")
    out = []
    for k in factors:
        fx = fy / k
        size = (max(1, round(w / fx)), max(1, round(h / fy)))
        if size[0] > 4000:
            continue
        out.append((ImageOps.expand(letters.resize(size, Image.BOX), MARGIN, fill=255), (fx, fy)))
    return out


def _one_line(ink, rows) -> bool:
    """Is the ink between `rows` one line of letters? Its rows dense with ink (a quarter of the densest or more)
    make one run over 40 % of the band or more (the letters' bodies; accents above and below are sparse), and no
    other run of a quarter of the band: lines of text stacked close, a diagram's labels and curves, are not."""
    profile = ink[rows[0]: rows[-1] + 1].sum(axis=1)
    band = profile.size
    runs = _runs(profile >= 0.25 * profile.max())
    return int((runs >= 0.25 * band).sum()) == 1 and int(runs.max()) >= 0.4 * band


def _runs(flags):
    """The lengths of the runs of True in the 1-D boolean array `flags`, in order."""
    import numpy as np

    padded = np.zeros(flags.size + 2, dtype=np.int8)
    padded[1:-1] = flags
    edges = np.diff(padded)
    return np.nonzero(edges == -1)[0] - np.nonzero(edges == 1)[0]


def _levels(gray, halved: bool = False):
    """[(image, reduction)]: `gray` at every level of the pyramid, binarised without its frames and rules (and
    with them, when some were taken away from a small image), with a white margin. `halved`: at half size too,
    two ways (a stamp cut out askew: see `_askew_placed`): reduced, then binarised; and binarised at full size,
    then reduced (its edges grey: Tesseract binarises it its own way). Each read a serif stamp the other missed."""
    from PIL import ImageOps

    halved = halved and min(gray.size) >= 2 * MIN_REDUCED_SIDE
    out = []
    pyramid = list(_pyramid(gray))
    if halved:
        pyramid.insert(1, (gray.reduce(2), 2))
    for level, f in pyramid:
        stripped, whole = _unframed_both(level)
        readings = [(i, f) for i in (stripped, whole) if i is not None]
        if halved and f == 1:
            readings += [(i.convert("L").reduce(2), 2) for i, _ in readings]
        out += [(ImageOps.expand(i, MARGIN, fill=255), g) for i, g in readings]
    return out


BOTH_READINGS_PIXELS = 1_500_000  # a region up to this (a stamp, a line of large letters) is read with and without
# its long strokes when some were taken away: the stems and bars of 20-25 pt letters at 300 dpi are 60-100 px


def _unframed_both(gray):
    """(`gray` binarised without its frames and rules, the same binarised with them when some were taken away
    from a small image, else None): what was taken for a rule may be a large letter's stem, and the reading
    that finds a mark wins."""
    from PIL import Image

    stripped, ink, lines = unframe(gray, parts=True)
    if lines is None or not lines.any() or ink.size > BOTH_READINGS_PIXELS:
        return stripped, None
    import numpy as np

    return stripped, Image.fromarray(np.where(ink, 0, 255).astype(np.uint8), "L")


LIGHT_GROUND = 12  # grey levels: a clean background stays this close to its commonest grey
LIGHT_INK = 32  # grey levels from the background (darkest channel): light ink a person still reads (grey 0.8
# on white is 51 away, yellow ~255, light blue 77); noise of a clean render or scan stays within a few levels


def _light_ink(img, grey=None, counts=None):
    """Light ink (a pale grey, yellow or light blue mark) on a clean uniform background, which `legible`
    takes for blank: the darkest channel (yellow on white is dark there) contrast-stretched so the ink is
    black and the background white, or None. Only on a clean background (most pixels within LIGHT_GROUND of
    its grey) and for ink drawn in strokes (`_scattered` is noise): grain is not stretched into writing."""
    import numpy as np
    from PIL import Image

    from gateway.inspect.pixels import darkest

    def pixels():
        if grey is not None:
            return np.asarray(grey, dtype=np.uint8)
        if img.mode in ("L", "1", "I", "I;16", "LA"):
            return np.asarray(img.convert("L"), dtype=np.uint8)
        return darkest(np.asarray(img.convert("RGB")))

    a = None
    if counts is None:  # else the caller counted these pixels (`grey_counts`): most images stop at the counts
        a = pixels()
        if a.ndim != 2 or a.size == 0:
            return None
        counts = grey_counts(a)
    size = int(counts.sum())
    mode = int(counts.argmax())
    if mode < 2 * LIGHT_INK or counts[max(0, mode - LIGHT_GROUND): mode + LIGHT_GROUND + 1].sum() < 0.6 * size:
        return None
    if counts[: mode - LIGHT_INK].sum() < max(0.0005 * size, 24):
        return None
    a = pixels() if a is None else a
    mask = a < mode - LIGHT_INK
    if _scattered(mask):
        return None
    level = float(np.median(a[mask]))
    out = np.clip((a.astype(np.float32) - level) * 255.0 / max(mode - level, 1.0), 0, 255).astype(np.uint8)
    return Image.fromarray(out, "L")


HOLLOW_PIXELS = 3_000_000  # an image up to this is looked at for hollow letters (`shapes.filled`)
ASKEW_MANY = "askew"  # `_region_images`: more stamp-sized blobs askew than are read (not read completely)


def _askew_placed(img, grainy: bool, scale: float):
    """(`_placed` readings of the stamps askew on a whole page or image (`stamps.askew`), each where it is;
    whether the page has more of them than are read)."""
    if grainy:  # a grainy page's blobs are its grain; its stamp is read through the grain or refused
        return [], False
    from gateway.inspect import stamps

    out = []
    found, more = stamps.askew(img, scale * 72.0)
    for turned, (x, y) in found:
        # also at half size: a stamp's letters 60-100 px high, broken by the writing it was printed over, are
        # read by Tesseract from fewer, larger gaps' worth of pixels (a serif stamp over text was missed)
        levels = _levels(turned, halved=True)
        # read as one block too (f as a pair): a stamp is a word or two, and Tesseract's sparse reading took
        # large letters (a thick pen's, filled) for nothing
        out += _placed(levels + [(i, (f, f)) for i, f in levels], scale, (x / scale, y / scale), cut=True)
    return out, more


PALE_DARK = 96  # grey levels: darker is the page's writing; between this and LIGHT_INK below the background,
# a pale ink (a grey or yellow stamp, a watermark under the text) that thresholding for the writing drops


def _pale(gray):
    """The pale ink of `gray` (dark writing on a light background) as black on white, or None: pixels between
    PALE_DARK and LIGHT_INK below the background that are not the soft edge of the dark writing (within 2 px
    of it), drawn in strokes (not scattered grain)."""
    import numpy as np
    from PIL import Image

    a = np.asarray(gray, dtype=np.uint8)
    s = a[::4, ::4]
    hist = np.bincount(s.ravel(), minlength=256)
    mode = int(hist.argmax())
    if mode - LIGHT_INK <= PALE_DARK or hist[PALE_DARK: mode - LIGHT_INK].sum() < max(0.0005 * s.size, 20):
        return None
    band = (a >= PALE_DARK) & (a < mode - LIGHT_INK)
    dark = a < PALE_DARK
    near = shapes.grown(dark, 2)
    layer = band & ~near
    if layer.sum() < max(300, 0.0005 * a.size) or _scattered(layer):
        return None
    return Image.fromarray(np.where(layer, 0, 255).astype(np.uint8), "L")


def _pyramid(gray):
    """`gray` and its reductions by 4 and 16. Tesseract reads writing about 20-80 px high; larger letters are
    read at a reduction (and `unframe` would take their stems for frames at full size): a 96 px "TỐI MẬT"
    across a small image was read as nothing. A reduction costs a sixteenth of the full read."""
    from PIL import Image

    yield gray, 1
    for f in REDUCTIONS:
        w, h = gray.size[0] // f, gray.size[1] // f
        if min(w, h) < MIN_REDUCED_SIDE:
            break
        yield gray.resize((w, h), Image.BOX), f


def _unprepared(img):
    """An image that shows no writing on a uniform background and no red ink (a photograph) is still read,
    as a person might read a photographed page: grey, at most FALLBACK_SIDE pixels on its long side (at full
    size the grain of a large JPEG kept Tesseract busy for minutes; reduced, it costs under a second)."""
    from PIL import Image, ImageOps

    gray = img.convert("L")
    f = max(max(gray.size) / FALLBACK_SIDE, 1)
    if f > 1:
        gray = gray.resize((max(1, round(gray.size[0] / f)), max(1, round(gray.size[1] / f))), Image.BOX)
    return [(ImageOps.expand(gray, MARGIN, fill=255), f)]  # the margin `_placed` accounts for


def _legible_lines(lines: list[OcrLine], reduction: float) -> list[OcrLine]:
    """What a pyramid level adds: lines of writing that was large before the reduction (normal body text
    reduced is an illegible remnant that Tesseract reads as noise)."""
    if reduction not in REDUCTIONS:
        return lines
    return [ol for ol in lines if ol.box[3] - ol.box[1] >= MIN_REDUCED_LINE]


def unframe(gray, parts: bool = False):
    """`gray` binarised (ink black on white) without its long horizontal and vertical strokes (frames, rules,
    underlines): longer than a third of an inch at 300 dpi, and longer than a tenth of the image's side."""
    import numpy as np
    from PIL import Image

    a = np.asarray(gray, dtype=np.uint8)
    hist = np.bincount(a.ravel(), minlength=256)
    mode = int(hist.argmax())
    ink = a < max(mode - 70, mode // 2)
    angle = shapes.skew(ink)
    if abs(angle) >= 0.3:  # a scan's skew: straighten, or frames stay steps of short runs
        straight = Image.fromarray((ink * 255).astype(np.uint8), "L").rotate(angle, resample=Image.NEAREST,
                                                                             expand=True, fillcolor=0)
        ink = np.asarray(straight) > 127
    h, w = ink.shape
    lines = shapes.long_runs(ink, max(60, w // 10)) | shapes.long_runs(ink.T, max(60, h // 10)).T
    # a frame's stroke is a few pixels thick: widen what was found by one pixel each way
    grown = lines.copy()
    grown[1:, :] |= lines[:-1, :]
    grown[:-1, :] |= lines[1:, :]
    grown[:, 1:] |= lines[:, :-1]
    grown[:, :-1] |= lines[:, 1:]
    out = Image.fromarray(np.where(ink & ~grown, 0, 255).astype(np.uint8), "L")
    return (out, ink, lines) if parts else out





def pdf_page(page, text, deadline: float, seen: dict | None = None) -> tuple[list[Line], list[Reason]]:
    """OCR lines of one PDFium page given its `pdftext.PageText`: the whole page when it has no text layer,
    else its images and glyph-like outlines. Returns (lines, what could not be read)."""
    from gateway.inspect import claimed, fonts, stamps

    seen = {} if seen is None else seen
    where = f"ocr:page{text.index + 1}"
    lines: list[Line] = []
    problems: list[Reason] = []
    if text.chars == 0 or text.complex:
        if not text.ink and not text.complex and not _has_ink(page, text):
            return lines, problems
        regions = [(None, False)] + _ink_regions(text, _pens(text))
    else:
        regions = []
        page_area = text.width * text.height
        regions = _ink_regions(text, list(text.ink) + _pens(text))
        page_ink = None
        try:
            page_ink = _render_without_images(page, UNACCOUNTED_DPI / 72.0) < 200
            beyond = _unaccounted(page, text, page_ink.copy())
        except Exception as exc:  # noqa: BLE001 - the page could not be looked at whole: unread, not passed
            log.info("ocr: page %d: %s", text.index + 1, exc)
            problems.append(Reason.of("OCR_FAILED", detail=f"page {text.index + 1}: {exc_detail(exc, 180)}"))
            beyond = []
        for box in beyond:
            stamp = (box[2] - box[0]) * (box[3] - box[1]) < STAMP_AREA * page_area
            regions.append((box, stamp, None))
        short = claimed.candidates(text, page_ink, UNACCOUNTED_DPI / 72.0)
        spelt: list[Line] = []
        try:  # a long line is read by eye too when its fonts draw a mark its text layer does not say
            chosen = set(short)
            prose = [l for l in text.lines if l.box is not None and l.where.startswith("page") and l not in chosen]
            for line, shown in fonts.suspects(text, prose, page):
                short.append(line)
                if shown != line.text:
                    lines.append(Line(shown, where, text.index, line.box, line.size, None, line.framed))
            # a case or accent lie, a character its font maps twice, ink where a space is said: read by eye
            # even where each glyph looks like its letter
            spelt = (fonts.small_marks(prose) + fonts.twinned(text, text.lines)
                     + fonts.gapped(text, prose, page_ink, UNACCOUNTED_DPI / 72.0))
            short.extend(line for line in dict.fromkeys(spelt) if line not in short)
        except OcrUnavailable as exc:
            problems.append(Reason.of("OCR_UNAVAILABLE", detail=str(exc)))
        except Exception as exc:  # noqa: BLE001 - the fonts could not be looked at: unread, not passed
            log.info("ocr: page %d: fonts: %s", text.index + 1, exc)
            problems.append(Reason.of("OCR_FAILED", detail=f"page {text.index + 1}: {exc_detail(exc, 180)}"))
        if short:
            unsure: list[Line] = []
            try:
                lines.extend(claimed.read(page, text, short, deadline, unsure, frozenset(spelt)))
                if unsure:  # letters drawn as outlines that OCR does not read as the text layer says
                    problems.append(Reason.of("SECRECY_SCAN_INCOMPLETE",
                                              detail=f"page {text.index + 1}: hollow letters not read"))
            except claimed.OutOfTime:
                problems.append(Reason.of("SECRECY_SCAN_INCOMPLETE", detail=f"OCR time budget, page {text.index + 1}"))
            except OcrUnavailable as exc:
                problems.append(Reason.of("OCR_UNAVAILABLE", detail=str(exc)))
            except Exception as exc:  # noqa: BLE001 - the short lines could not be looked at: unread, not passed
                log.info("ocr: page %d: %s", text.index + 1, exc)
                problems.append(Reason.of("OCR_FAILED", detail=f"page {text.index + 1}: {exc_detail(exc, 180)}"))
    if text.chars == 0 or text.complex:  # a scanned page may lie sideways or upside down: read it turned too
        try:
            lines += _turned_lines(page, text, where)
        except OcrUnavailable as exc:
            problems.append(Reason.of("OCR_UNAVAILABLE", detail=str(exc)))
        except Exception as exc:  # noqa: BLE001 - which way the page runs could not be told: unread
            log.info("ocr: page %d: orientation: %s", text.index + 1, exc)
            problems.append(Reason.of("OCR_FAILED", detail=f"page {text.index + 1}: {exc_detail(exc, 180)}"))
    for region in regions:
        if time.monotonic() > deadline:
            problems.append(Reason.of("SECRECY_SCAN_INCOMPLETE", detail=f"OCR time budget, page {text.index + 1}"))
            break
        box, stamp = region[0], region[1]
        ink = region[2] if len(region) > 2 else None
        try:
            images, unsure = _region_images(page, text, box, ink, seen)
            cut_texts: list[str] = []
            for img, scale, origin, f, cut in images:
                for ol in _legible_lines(recognise(img, block=isinstance(f, tuple)), f):
                    lines.append(_to_line(ol, scale, origin, where, text.index, stamp))
                    if cut:
                        cut_texts.append(ol.text)
            problems += _half_read(cut_texts, f"page {text.index + 1}")
            if unsure == ASKEW_MANY:
                problems.append(Reason.of("SECRECY_SCAN_INCOMPLETE",
                                          detail=f"page {text.index + 1}: over {stamps.BLOB_MAX} stamps askew"))
            elif unsure:  # a mark read BLOCKs all the same
                problems.append(Reason.of("SCAN_TOO_GRAINY", detail=f"page {text.index + 1}"))
        except OcrUnavailable as exc:
            problems.append(Reason.of("OCR_UNAVAILABLE", detail=str(exc)))
            break
        except Exception as exc:  # noqa: BLE001 - an image that cannot be decoded or read is unread
            log.info("ocr: page %d: %s", text.index + 1, exc)
            problems.append(Reason.of("OCR_FAILED", detail=f"page {text.index + 1}: {exc_detail(exc, 180)}"))
    return lines, problems


def _turned_lines(page, text, where: str) -> list[Line]:
    """The lines of a scanned page read turned upright when its writing runs sideways or upside down
    (`turned_page`), placed on the page."""
    img = _render(page, text, None, REGION_DPI)
    _, read = turned_page(img)
    scale = img.size[0] / max(text.width, 1.0)  # pixels per point (the render may be capped below REGION_DPI)
    return [_to_line(ol, scale, (0.0, 0.0), where, text.index, False) for ol in read]


def _pens(text) -> list:
    """Hollow lettering (`pdftext.PageText.pens`), words merged, as ink: its regions are read as drawn and
    filled (`_region_images`)."""
    from gateway.inspect.pdftext import Ink, merge_boxes

    return [Ink("pen", box) for box in merge_boxes(text.pens)]


def _ink_regions(text, inks) -> list:
    """[(box, stamp, ink)]: the regions of `inks` on a text page (clipped to it) large enough to hold a word a
    person reads, less shapes the text layer is written on; small ones are stamps."""
    regions = []
    page_area = text.width * text.height
    for ink in inks:
        x0, y0, x1, y1 = _clip(ink.box, text.width, text.height)
        if x1 - x0 < MIN_REGION_PT[0] and y1 - y0 < MIN_REGION_PT[0] or min(x1 - x0, y1 - y0) < MIN_REGION_PT[1]:
            continue
        if ink.kind == "outline" and _under_text((x0, y0, x1, y1), text.lines) > 0.4:
            continue  # a shape the text layer is written on (a shaded box, a code cell): the text says it
        # a small region is a stamp; text read for glyphs without letters is the page's text, not a stamp
        stamp = (x1 - x0) * (y1 - y0) < STAMP_AREA * page_area and ink.kind != "unmapped"
        regions.append(((x0, y0, x1, y1), stamp, ink))
    return regions


UNACCOUNTED_DPI = 50  # the whole text page at this resolution: is anything drawn that nothing else accounts for?
UNACCOUNTED_CELL = 6  # pixels (about 9 pt): the grid the leftover ink is gathered on
UNACCOUNTED_RUN = 20  # pixels (about 29 pt): a longer straight run is a rule, a frame or a fill, not writing


def _unaccounted(page, text, ink=None) -> list[tuple[float, float, float, float]]:
    """Boxes (page points, displayed orientation) of ink on the rendered text page that neither its text
    layer nor a picture or outline found by the object walk accounts for: what a person sees drawn some way
    the walk does not reach (a form nested deeper than it goes, a pattern's cell, a shading). Rules, frames and
    fills (long straight runs) are left out: they hold no writing. `ink`: the page's ink at UNACCOUNTED_DPI
    with its pictures hidden, when rendered already (changed here)."""
    import numpy as np

    from gateway.inspect.pdftext import merge_boxes

    scale = UNACCOUNTED_DPI / 72.0
    if ink is None:
        ink = _render_without_images(page, scale) < 200
    rows, cols = ink.shape
    known = np.zeros_like(ink)
    lines = [l.box for l in text.lines if l.box is not None and l.where.startswith("page")]
    for x0, y0, x1, y1 in lines + [i.box for i in text.ink] + list(text.pens):
        r0, r1 = max(0, int((y0 - 2) * scale)), min(rows, int(np.ceil((y1 + 2) * scale)))
        c0, c1 = max(0, int((x0 - 2) * scale)), min(cols, int(np.ceil((x1 + 2) * scale)))
        if r1 > r0 and c1 > c0:
            known[r0:r1, c0:c1] = True
    if (ink & ~known).sum() < 8:
        return []  # most pages: nothing beyond the text and the pictures
    # rules, frames and fills left out on the whole page first: once the text is masked, a table's rules are short
    runs = (shapes.long_runs(ink, UNACCOUNTED_RUN) | shapes.long_runs(ink.T, UNACCOUNTED_RUN).T) & ~known
    ink &= ~runs & ~known
    k = UNACCOUNTED_CELL
    gr, gc = -(-rows // k), -(-cols // k)
    padded = np.zeros((gr * k, gc * k), dtype=bool)
    padded[:rows, :cols] = ink
    counts = padded.reshape(gr, k, gc, k).sum(axis=(1, 3))
    cells = [(c * k / scale, r * k / scale, (c + 1) * k / scale, (r + 1) * k / scale)
             for r, c in zip(*np.nonzero(counts >= 3))]
    if not cells:
        return []
    out = []
    for x0, y0, x1, y1 in merge_boxes(cells):
        x0, y0, x1, y1 = (v / scale for v in _along_runs(runs, tuple(v * scale for v in (x0, y0, x1, y1))))
        out.append(_clip((x0 - 4, y0 - 4, x1 + 4, y1 + 4), text.width, text.height))
    return out


def _along_runs(runs, box):
    """`box` (pixels) grown on each side while the long strokes left out of the writing (`runs`) go on from it
    thicker than a rule (3 pixels or more across the side), up to 2 x UNACCOUNTED_RUN: a large letter's bar or
    stem (a thick pen's hollow T) is as long as a rule, and a region cut at it reads the word cut short."""
    import numpy as np

    rows, cols = runs.shape
    c0, r0 = max(0, int(box[0])), max(0, int(box[1]))
    c1, r1 = min(cols, int(np.ceil(box[2]))), min(rows, int(np.ceil(box[3])))
    if c1 <= c0 or r1 <= r0 or not runs.any():
        return box
    limit = 2 * UNACCOUNTED_RUN
    e0, e1, f0, f1 = c0, c1, r0, r1
    while e0 > 0 and c0 - e0 < limit and runs[f0:f1, e0 - 1].sum() >= 3:
        e0 -= 1
    while e1 < cols and e1 - c1 < limit and runs[f0:f1, e1].sum() >= 3:
        e1 += 1
    while f0 > 0 and r0 - f0 < limit and runs[f0 - 1, e0:e1].sum() >= 3:
        f0 -= 1
    while f1 < rows and f1 - r1 < limit and runs[f1, e0:e1].sum() >= 3:
        f1 += 1
    if (e0, e1, f0, f1) == (c0, c1, r0, r1):
        return box
    return (min(box[0], e0), min(box[1], f0), max(box[2], e1), max(box[3], f1))


def _render_without_images(page, scale: float):
    """The page's grey pixels (the darkest channel: pale coloured ink counts) with the images the object walk
    found left out (their boxes are accounted for; a
    1 Mpixel scan costs 2 ms to scale down, hidden 0.2 ms): each hidden by a zero matrix, then restored.
    Images the walk does not reach (a pattern's cell, a form nested deeper) are other objects: still drawn."""
    import pypdfium2 as pdfium
    import pypdfium2.raw as raw

    from gateway.inspect.pixels import darkest

    hidden = []
    try:
        for obj in page.get_objects(filter=(raw.FPDF_PAGEOBJ_IMAGE,), max_depth=8):
            hidden.append((obj, obj.get_matrix()))
            obj.set_matrix(pdfium.PdfMatrix(0, 0, 0, 0, 0, 0))
        bitmap = page.render(scale=scale, may_draw_forms=True)
        return darkest(bitmap.to_numpy())  # a new array, made while the bitmap lives
    finally:
        for obj, matrix in hidden:
            obj.set_matrix(matrix)  # the page is read on (its regions rendered for OCR)


def _under_text(box, lines) -> float:
    """The share of `box` covered by the boxes of the page's text lines."""
    x0, y0, x1, y1 = box
    area = max((x1 - x0) * (y1 - y0), 1e-6)
    covered = 0.0
    for line in lines:
        if line.box is None or not line.where.startswith("page"):
            continue
        lx0, ly0, lx1, ly1 = line.box
        w, h = min(x1, lx1) - max(x0, lx0), min(y1, ly1) - max(y0, ly0)
        if w > 0 and h > 0:
            covered += w * h
    return covered / area


def _has_ink(page, text) -> bool:
    """A page without text, images or outlines may still carry simple paths (thin-stroke lettering)."""
    img = _render(page, text, None, 50)
    return legible(img.convert("L")) is not None or red_ink(img) is not None  # cheap: 50 dpi


def _clip(box, w: float, h: float):
    return max(0.0, box[0]), max(0.0, box[1]), min(w, box[2]), min(h, box[3])


MAX_RENDER_PIXELS = 40_000_000  # a region is rendered at a lower resolution rather than above this (A0 plans)


def _render(page, text, box, dpi: float):
    x0, y0, x1, y1 = box if box is not None else (0.0, 0.0, text.width, text.height)
    area = max((x1 - x0) * (y1 - y0), 1.0) / (72.0 * 72.0)  # square inches
    dpi = min(dpi, (MAX_RENDER_PIXELS / area) ** 0.5)
    return render(page, box, dpi, (text.width, text.height))


def render(page, box: tuple[float, float, float, float] | None, dpi: float, page_size: tuple[float, float]):
    """A PIL image of the page (or of `box`, displayed coordinates) at `dpi`, annotations included."""
    crop = (0, 0, 0, 0) if box is None else margins(box, page_size)
    return page.render(scale=dpi / 72.0, crop=crop, may_draw_forms=True).to_pil()  # the image keeps its bitmap alive


def margins(box: tuple[float, float, float, float], page_size: tuple[float, float]) -> tuple[float, ...]:
    """PDFium's crop for `box` (displayed page points): the (left, bottom, right, top) margins to remove."""
    w, h = page_size
    x0, y0, x1, y1 = box
    return (max(0.0, x0), max(0.0, h - y1), max(0.0, w - x1), max(0.0, y0))


def _region_images(page, text, box, ink, seen: dict):
    """([(PIL image to read, pixels per point, (x0, y0) of the image in page points)], whether writing there
    is seen only through grain or noise) for one region."""
    if box is None:
        img = _render(page, text, None, PAGE_DPI)
        scale = img.size[0] / max(text.width, 1e-6)
        grainy = grain(img.convert("L")) >= GRAINY
        prepared = _prepare(img, grainy=grainy)
        unsure = _unsure(grainy, prepared, lambda: _pictures(page, text))
        askew, more = _askew_placed(img, grainy, scale)
        return _placed(prepared or _unprepared(img), scale, (0.0, 0.0)) + askew, unsure or (more and ASKEW_MANY)
    # An image's own pixels say whether it can hold writing (rendering would average noise into grey);
    # the region rendered at REGION_DPI is what is read (the page's transform, clipping and colours applied).
    native: list = []
    if ink is not None and ink.kind == "image" and ink.pixels and ink.pixels[0] * ink.pixels[1] <= MAX_ANALYSED_PIXELS:
        skip = _skipped_by_own_pixels(page, ink, box, seen, native)
        if skip is not None:
            return [], skip
    large = (box[2] - box[0]) * (box[3] - box[1]) / (72.0 * 72.0) > LARGE_REGION and not (ink and ink.kind == "image")
    # lines of text (glyphs without letters) are read like a large region: 200 dpi holds 8 pt text
    unmapped = ink is not None and ink.kind == "unmapped"
    img = _render(page, text, box, LARGE_REGION_DPI if large or unmapped else REGION_DPI)
    scale = img.size[0] / max(box[2] - box[0], 1e-6)  # pixels per point, as rendered
    grainy = grain(img.convert("L")) >= GRAINY
    stamp = (box[2] - box[0]) * (box[3] - box[1]) < STAMP_AREA * text.width * text.height
    prepared = _prepare(img, grainy=grainy, stamp=stamp)
    if ink is not None and ink.kind == "pen":
        solid = _pens_filled(page, text, box, LARGE_REGION_DPI if large else REGION_DPI)
        if solid is not None and solid.size == img.size:
            prepared += _prepare(solid, grainy=False, stamp=stamp)
    return _placed(prepared, scale, (box[0], box[1])), _unsure(grainy, prepared, lambda: native)


def _pens_filled(page, text, box, dpi: float):
    """The region `box` rendered with the hollow glyph-like paths in it (`pdftext.pen_drawn`) filled in their
    pen's colour, even-odd as a font fills its glyphs, and the pen lifted: the letters a person makes out in
    hollow lettering, solid. Tesseract reads hollow letters poorly, and a thick pen closes a serif's hairline
    (`shapes.filled` cannot fill it then). The paths are restored after (the page is read on). None: none there."""
    import ctypes

    import pypdfium2.raw as raw

    from gateway.inspect import pdftext

    inside = [b for b in text.pens if b[0] < box[2] and b[2] > box[0] and b[1] < box[3] and b[3] > box[1]]
    objs = pdftext.pen_drawn(page, text.width, text.height, inside) if inside else []
    if not objs:
        return None
    saved = []
    try:
        for obj in objs:
            h = obj.raw
            fillmode, stroke = ctypes.c_int(), ctypes.c_int()
            raw.FPDFPath_GetDrawMode(h, fillmode, stroke)
            fill, pen = pdftext.rgba(raw.FPDFPageObj_GetFillColor, h), pdftext.rgba(raw.FPDFPageObj_GetStrokeColor, h)
            saved.append((h, fillmode.value, stroke.value, fill))
            if pen is not None:
                raw.FPDFPageObj_SetFillColor(h, *pen)
            raw.FPDFPath_SetDrawMode(h, raw.FPDF_FILLMODE_ALTERNATE, False)
        return _render(page, text, box, dpi)
    finally:
        for h, fillmode, stroke, fill in saved:
            raw.FPDFPath_SetDrawMode(h, fillmode, stroke)
            if fill is not None:
                raw.FPDFPageObj_SetFillColor(h, *fill)


def _unsure(grainy: bool, prepared, native) -> str | bool:
    """Is writing in `img` seen only through grain or noise (True)? Then what OCR reads there is not sure
    enough to say no secrecy mark is on it (a boxed stamp on grain was read as nothing while the body was
    read), and the document is refused unless a mark is read. UNREAD: a grainy picture in which no writing
    could be made out at all, but whose own pixels (`native()`, decoded only then: a rendering smooths them)
    are noise with a pattern in it; pure noise and grainy photographs hold nothing and pass. `grainy`: the
    picture's `grain` (uneven light alone is evened out and read as clearly)."""
    if not prepared:
        return UNREAD if grainy and any(_hidden_in_noise(n) for n in native()) else False
    return grainy


def _pictures(page, text) -> list:
    """The own pixels of a page's pictures (up to MAX_ANALYSED_PIXELS each), for `_unsure`."""
    out = []
    for ink in text.ink:
        if ink.kind == "image" and ink.pixels and ink.pixels[0] * ink.pixels[1] <= MAX_ANALYSED_PIXELS:
            for obj in _image_objects(page, ink):
                own, grey = _image_pixels(obj)
                if own is not None:
                    out.append(own if grey is None else grey)
    return out


def _skipped_by_own_pixels(page, ink, box, seen: dict, native: list):
    """Whether the image drawn at `box` need not be rendered and read, from its own pixels (added to
    `native`): None when it must be read; else the `_unsure` answer for it (pure noise and blank pictures hold
    nothing; a picture met before on this document was read then). Judged for every image of its pixel size
    on the page (PDFium does not say which one is drawn at `box`; judging only the first let a blank twin
    hide a stamp). A picture shown through a mask (`_masked`) is judged by what is shown: its own samples may
    be uniform while the mask draws the writing, and the same samples under another mask show another thing."""
    objs = _image_objects(page, ink)
    pixels = [_image_pixels(obj) for obj in objs]
    if not pixels or any(own is None for own, _ in pixels):
        return None  # an image PDFium cannot decode is read as rendered
    native.extend(own if grey is None else grey for own, grey in pixels)
    if not any(_prepare(own, clean=False, grey=grey) for own, grey in pixels):
        if any(_masked(obj) for obj in objs):
            return None
        # pure noise holds nothing; noise with a pattern in it may hold writing the gateway cannot
        # see through (at 150 dpi, 4 x 4 pixels average strokes away with the noise)
        return next((u for u in map(_hidden_in_noise, native) if u), False)
    if len(objs) > 1 or _masked(objs[0]):
        return None  # which one is drawn here, or what its mask shows, is not known: read it
    own, grey = pixels[0]
    key = hashlib.sha256(own.tobytes() if grey is None else grey).hexdigest()
    key += repr((round(box[2] - box[0]), round(box[3] - box[1])))
    if key in seen:
        return False
    seen[key] = True
    return None


NOISE_CORRELATION = 0.5  # neighbouring pixels of noise with writing in it: 0.01-0.15; a photograph: 0.9
UNREAD = "unread"  # `_region_images`: a picture that may hold writing the gateway could not read at all


def _hidden_in_noise(gray) -> str | bool:
    """UNREAD when `gray` is noise with a pattern in it: neighbouring pixels of pure noise are uncorrelated
    (within a few 1/sqrt(n) of 0), strokes make them correlated; a photograph or a drawing is smooth (its
    neighbours correlate far more than noise with writing in it)."""
    import numpy as np

    a = np.asarray(gray if isinstance(gray, np.ndarray) else gray.convert("L"), dtype=np.float32)
    if a.ndim != 2 or a.shape[1] < 2:
        return False
    a = a.ravel()  # contiguous: neighbours along the rows (a row's last and the next row's first: 1/width)
    a -= a.mean()
    energy = float(np.dot(a, a))
    if energy == 0:
        return False
    corr = float(np.dot(a[:-1], a[1:])) / energy
    return UNREAD if max(0.01, 8 / a.size**0.5) < corr < NOISE_CORRELATION else False




def _placed(images, scale: float, at: tuple[float, float], cut: bool = False):
    """[(image, pixels per point of that image, (x0, y0) of its pixel 0 in page points, reduction, cut)]: the
    margin and the reduction accounted for, so a line's box lands where it is on the page; `cut`: a stamp cut
    out of the page (`_askew_placed`), whose reading is also judged whole (`_half_read`)."""
    out = []
    for img, f in images:
        if isinstance(f, tuple):  # read at other proportions (`_reproportioned`): a scale per axis
            s = (scale / f[0], scale / f[1])
            out.append((img, s, (at[0] - MARGIN / s[0], at[1] - MARGIN / s[1]), f, cut))
            continue
        s = scale / f
        out.append((img, s, (at[0] - MARGIN / s, at[1] - MARGIN / s), f, cut))
    return out


def _half_read(cut_texts: list[str], where: str) -> list[Reason]:
    """SECRECY_SCAN_INCOMPLETE when a cut-out stamp's "MẬT" was read without what stands with it
    (`marks.half_read`): a mark read on the page BLOCKs all the same."""
    if cut_texts and marks.half_read(cut_texts):
        return [Reason.of("SECRECY_SCAN_INCOMPLETE", detail=f"{where}: a stamp askew read in part")]
    return []


def _image_objects(page, ink) -> list:
    """The page's image objects (forms searched) of `ink`'s own pixel size."""
    import pypdfium2.raw as raw

    out = []
    for obj in page.get_objects(filter=(raw.FPDF_PAGEOBJ_IMAGE,), max_depth=8):
        try:
            if obj.get_px_size() == tuple(ink.pixels):
                out.append(obj)
        except Exception:  # noqa: BLE001 - an image without a size: not this one
            continue
    return out


def _image_pixels(obj):
    """(PIL image, its grey pixels as numpy or None when it is in colour) of an image object's own samples
    (its masks not applied), or (None, None) if PDFium cannot decode it."""
    try:
        bitmap = obj.get_bitmap(render=False)
        grey = bitmap.to_numpy().copy() if bitmap.n_channels == 1 else None  # a copy: the bitmap goes
        return bitmap.to_pil(), grey  # the image keeps its bitmap alive
    except Exception:  # noqa: BLE001 - an image PDFium cannot decode: read the rendered region instead
        return None, None


MASK_PROBE = 64  # pixels a side the image is drawn at to see its mask: PDFium averages the samples down, so
# a stroke 1/500 of the picture wide still lowers a probe pixel's cover (about 0.5 ms for a 1 Mpixel picture)


def _masked(obj) -> bool:
    """Is the image object shown through a mask: its own /SMask or /Mask (a stencil, a colour key), or a soft
    mask, an alpha or a blend mode in its graphics state or an enclosing form's? Then its own samples are not
    what a person sees. The graphics states are asked of PDFium; the image's masks show in the image drawn
    alone into a small transparent bitmap: any pixel less than fully covered. Unknown: masked (read it)."""
    import pypdfium2 as pdfium
    import pypdfium2.raw as raw

    holder = obj
    while holder is not None:
        if raw.FPDFPageObj_HasTransparency(holder.raw):
            return True
        holder = holder.container
    matrix = obj.get_matrix()
    try:
        obj.set_matrix(pdfium.PdfMatrix(MASK_PROBE, 0, 0, MASK_PROBE, 0, 0))
        alpha = obj.get_bitmap(render=True, scale_to_original=False).to_numpy()
        return alpha.ndim != 3 or alpha.shape[2] != 4 or bool((alpha[..., 3] < 255).any())
    except Exception:  # noqa: BLE001 - the mask could not be looked at: read the region as rendered
        return True
    finally:
        obj.set_matrix(matrix)  # the page is read on (its regions rendered for OCR)


def _to_line(ol: OcrLine, scale, origin, where: str, page: int | None, stamp: bool) -> Line:
    x0, y0, x1, y1 = ol.box
    sx, sy = scale if isinstance(scale, tuple) else (scale, scale)  # pixels per point along x and y
    box = (
        round(origin[0] + x0 / sx, 2),
        round(origin[1] + y0 / sy, 2),
        round(origin[0] + x1 / sx, 2),
        round(origin[1] + y1 / sy, 2),
    )
    size = round((y1 - y0) / sy, 2)
    return Line(ol.text, where, page, box, size, None, stamp)


# --- image documents ----------------------------------------------------------------------------------------

IMAGE_TYPES = ("image/png", "image/jpeg", "image/tiff", "image/gif", "image/bmp", "image/webp")


def read_image(fh, media: str, deadline: float) -> Reading:
    """An image document: every frame read with OCR as viewers show it (`_as_shown`), and the preview embedded
    in its EXIF (`_thumbnail`). Signable as a detached CAdES .p7s (the gateway reads it)."""
    from PIL import Image, ImageSequence

    lines: list[Line] = []
    incomplete: list[Reason] = []
    frames = 0
    try:
        Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
        with Image.open(fh) as im:
            for index, frame in enumerate(ImageSequence.Iterator(im)):
                frames += 1
                if time.monotonic() > deadline:
                    incomplete.append(Reason.of("SECRECY_SCAN_INCOMPLETE", detail=f"OCR time budget, frame {index + 1}"))
                    break
                exif = frame.getexif()  # of the file's frame: a copy loses a TIFF's tags
                dpi = frame.info.get("dpi", (300, 300))[0] or 300
                scale = float(dpi) / 72.0 if dpi else 300 / 72.0
                where = f"ocr:image{index + 1}" if index else "ocr:image"
                for shown in _as_shown(frame.copy(), exif):
                    _read_picture(shown, scale, where, index, f"frame {index + 1}", lines, incomplete)
                # a TIFF's next IFD is its next page, read as a frame; elsewhere it is the preview
                thumb = _thumbnail(frame, exif) if index == 0 and im.format != "TIFF" else None
                if thumb is not None and time.monotonic() <= deadline:
                    for shown in _as_shown(thumb, thumb.getexif()):
                        _read_picture(shown, 1.0, "ocr:thumbnail", index, "thumbnail", lines, incomplete)
    except OcrUnavailable as exc:
        incomplete.append(Reason.of("OCR_UNAVAILABLE", detail=str(exc)))
    except Image.DecompressionBombError:
        incomplete.append(Reason.of("SECRECY_SCAN_INCOMPLETE", detail=f"image over {MAX_IMAGE_PIXELS} pixels"))
    except Exception as exc:  # noqa: BLE001 - an image that cannot be decoded is unread
        incomplete.append(Reason.of("OCR_FAILED", detail=exc_detail(exc, 200)))
    return Reading(media_type=media, lines=tuple(lines), incomplete=tuple(incomplete), signable=SignFormat.CADES,
                   pages=frames or None)


def _read_picture(img, scale: float, where: str, index: int, label: str, lines: list, incomplete: list) -> None:
    """OCR one picture of an image document (a frame as shown, a preview) into `lines`, what could not be
    read into `incomplete`."""
    from gateway.inspect import stamps

    grainy = grain(img.convert("L")) >= GRAINY
    prepared = _prepare(img.convert("RGB"), grainy=grainy)
    placed = _placed(prepared or _unprepared(img), scale, (0.0, 0.0))
    askew, more = _askew_placed(img, grainy, scale)
    if more:
        incomplete.append(Reason.of("SECRECY_SCAN_INCOMPLETE", detail=f"{label}: over {stamps.BLOB_MAX} stamps askew"))
    cut_texts: list[str] = []
    for pic, s, origin, f, cut in placed + askew:
        for ol in _legible_lines(recognise(pic, block=isinstance(f, tuple)), f):
            lines.append(_to_line(ol, s, origin, where, index, False))
            if cut:
                cut_texts.append(ol.text)
    incomplete += _half_read(cut_texts, label)
    if prepared:  # writing a person could read (turned or not: `_prepare` does not mind which way it runs)
        _, turned = turned_page(img)  # a picture of a page lying sideways or upside down
        lines += [_to_line(ol, scale, (0.0, 0.0), where, index, False) for ol in turned]
    if _unsure(grainy, prepared, lambda: [img]):  # a mark read BLOCKs all the same
        incomplete.append(Reason.of("SCAN_TOO_GRAINY", detail=label))


ORIENTATION = 0x0112  # EXIF: how the stored pixels are turned or mirrored (1: as stored)


def _as_shown(img, exif) -> list:
    """The picture as viewers show it: turned and mirrored as its EXIF orientation says (every viewer does;
    the stored pixels may be mirrored text). With transparency, composited over white (browsers, mail
    clients, printing) and, where the alpha varies, over black too (a dark theme: white writing on a
    transparent ground shows only there); the colour under the alpha may be uniform while the alpha draws the
    writing. A picture without transparency or orientation costs nothing more."""
    from PIL import Image, ImageOps

    if exif.get(ORIENTATION, 1) in range(2, 9):
        img = ImageOps.exif_transpose(img)
    if not img.has_transparency_data:
        return [img]
    rgba = img.convert("RGBA")
    lo, hi = rgba.getchannel("A").getextrema()
    grounds = [(255, 255, 255, 255)] + ([(0, 0, 0, 255)] if lo != hi else [])
    return [Image.alpha_composite(Image.new("RGBA", rgba.size, ground), rgba).convert("RGB") for ground in grounds]


IFD1 = -1  # Pillow's key (ExifTags.IFD.IFD1) for the EXIF's second IFD: the thumbnail's
THUMBNAIL_JPEG, THUMBNAIL_JPEG_LENGTH, STRIP_OFFSETS = 0x0201, 0x0202, 0x0111
THUMBNAIL_SIDE = 640  # a preview (160 x 120 as written) is read enlarged to about this long side (pixels)


def _thumbnail(frame, exif):
    """The preview in the picture's EXIF (IFD1: a JPEG, or uncompressed strips), which file managers and
    mail clients show in place of the picture, enlarged for OCR; None when there is none. Raises when one is
    there but cannot be decoded: the document is then unread."""
    import io

    from PIL import Image

    if not exif:
        return None
    ifd1 = exif.get_ifd(IFD1)
    if THUMBNAIL_JPEG not in ifd1 and STRIP_OFFSETS not in ifd1:
        return None
    tiff = frame.info.get("exif") or b""
    tiff = tiff[6:] if tiff.startswith(b"Exif\x00\x00") else tiff
    if THUMBNAIL_JPEG in ifd1:
        start = int(ifd1[THUMBNAIL_JPEG])
        thumb = Image.open(io.BytesIO(tiff[start:start + int(ifd1.get(THUMBNAIL_JPEG_LENGTH, len(tiff)))]))
    else:
        thumb = Image.open(io.BytesIO(tiff))
        thumb.seek(1)  # the EXIF is a TIFF file: IFD1 is its second image
    thumb.load()
    factor = -(-THUMBNAIL_SIDE // max(1, max(thumb.size)))
    if factor > 1:
        thumb = thumb.resize((thumb.width * factor, thumb.height * factor), Image.Resampling.LANCZOS)
    return thumb
