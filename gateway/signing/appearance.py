"""Where and how the organisation signature shows (Decree 30/2020, Phụ lục I and Phần II).

- SEAL (issued document, Phụ lục I II.8.a): the seal image, red, real size (appearance.seal_width_mm), on the
  page of the competent person's signature, overlapping about the LEFT THIRD of that signature's widget.
- TEXT (attachment sent as its own file, II.8.b; copies, Phần II; correspondence): no image; a text block at
  the top right of page 1: number and symbol (or copy form and copying agency) and the signing time in
  ISO 8601 with +07:00; a Times-compatible serif with Vietnamese letters, 10 pt, black.
- INVISIBLE: no widget on any page.
"""

from __future__ import annotations

import os
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path

from gateway.model import VN_TZ, Appearance, DocKind, Reason

PT_PER_MM = 72 / 25.4

# Serif fonts with full Vietnamese coverage, best first (Liberation 1.x lacks the precomposed letters).
FONT_CANDIDATES = (
    Path("/usr/share/fonts/truetype/liberation2/LiberationSerif-Regular.ttf"),
    Path("/usr/share/texmf/fonts/opentype/public/tex-gyre/texgyretermes-regular.otf"),
    Path("/usr/share/fonts/opentype/tex-gyre/texgyretermes-regular.otf"),
    Path("/usr/share/fonts/truetype/liberation/LiberationSerif-Regular.ttf"),
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf"),
)
VIETNAMESE_PROBE = "ẮẰẲẴẶấầẩẫậếềểễệốồổỗộứừửữựỳỷỹỵđĐơư"

# Text block size and margins (points): 10 pt lines, top-right of page 1.
TEXT_MARGIN_RIGHT = 28
TEXT_MARGIN_TOP = 20


@dataclass(frozen=True)
class Placement:
    """Where the widget goes: None page/box means an invisible signature."""

    page: int | None
    box: tuple[float, float, float, float] | None
    text: str | None = None  # text for TEXT appearance
    image: Path | None = None  # seal image for SEAL appearance
    font_size: float | None = None  # real points (the text block may be shrunk to fit, down to 7 pt)
    rotate: int = 0  # the page's /Rotate: the appearance is turned so that it reads upright as displayed
    user_unit: float = 1.0  # the page's /UserUnit: real sizes are divided by it
    warning: "Reason | None" = None  # why a visible appearance could not be placed


def vn_time(t: datetime) -> str:
    """ISO 8601 with the Vietnam offset, seconds precision: 2025-03-01T09:30:00+07:00."""
    if t.tzinfo is None:
        raise ValueError("signing_time must be timezone-aware")
    return t.astimezone(VN_TZ).replace(microsecond=0).isoformat()


@lru_cache(maxsize=8)
def _covers_vietnamese(path: str) -> bool:
    from fontTools.ttLib import TTFont

    try:
        with TTFont(path, lazy=True) as f:
            cmap = f.getBestCmap() or {}
    except Exception:  # noqa: BLE001 - unreadable font file: not usable
        return False
    return all(ord(c) in cmap for c in VIETNAMESE_PROBE)


def vietnamese_font(preferred: Path | None) -> Path:
    """The configured font if it has every Vietnamese letter, else the first candidate that has."""
    for cand in ((preferred,) if preferred else ()) + FONT_CANDIDATES:
        if cand and Path(cand).is_file() and _covers_vietnamese(str(cand)):
            return Path(cand)
    raise FileNotFoundError("no serif font with Vietnamese letters found (install fonts-liberation2)")


def pdf_font(settings) -> Path:
    """The Vietnamese font rescaled to 1000 units per em, cached under var/fonts.

    pyHanko 0.38 writes glyph widths (/W) and metrics in the font's own units, which PDF reads as 1/1000 em:
    a 2048-unit font (Liberation, DejaVu) comes out letter-spaced. Rescaling the font makes them agree.
    """
    return font_1000upem(vietnamese_font(settings.appearance.font), Path(settings.var_dir) / "fonts")


# What the text block can contain: Latin (with Vietnamese letters), combining marks, punctuation.
_TEXT_BLOCK_UNICODES = [
    *range(0x20, 0x7F), *range(0xA0, 0x250), *range(0x300, 0x370), *range(0x1E00, 0x1F00),
    *range(0x2010, 0x2070), 0x20AB, 0x2116,
]


def font_1000upem(src: Path, out_dir: Path) -> Path:
    """A copy of font `src` scaled to 1000 units per em (see pdf_font), cut down, cached in out_dir.

    pyHanko subsets the font again for every signature; on the full font (layout tables of thousands of
    glyphs) that cost ~150 ms a document, more than the signature itself. Cutting it once to the Latin and
    Vietnamese letters and dropping GSUB/GPOS (precomposed NFC Vietnamese needs no shaping) makes the
    per-signature subset cheap.
    """
    st = src.stat()
    out = out_dir / f"{src.stem}-{int(st.st_mtime)}-{st.st_size}-1000upem-vn.ttf"
    if out.exists():
        return out
    from fontTools import subset
    from fontTools.ttLib import TTFont
    from fontTools.ttLib.scaleUpem import scale_upem

    with TTFont(str(src)) as f:
        if f["head"].unitsPerEm != 1000:
            scale_upem(f, 1000)
        options = subset.Options()
        options.layout_features = []
        options.drop_tables += ["GSUB", "GPOS", "GDEF", "kern", "FFTM", "DSIG"]
        options.name_IDs = ["*"]
        options.notdef_outline = True
        subsetter = subset.Subsetter(options)
        subsetter.populate(unicodes=_TEXT_BLOCK_UNICODES)
        subsetter.subset(f)
        out_dir.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(f".{os.getpid()}.tmp")
        f.save(str(tmp))
    os.replace(tmp, out)  # atomic: worker processes may race here
    return out


def text_lines(request, organisation: str) -> list[str]:
    """The lines of the TEXT block (Phụ lục I II.8.b; Phần II for copies: form, copying agency, the copy's
    number when known, time)."""
    when = vn_time(request.signing_time)
    if request.kind is DocKind.COPY:
        lines = [request.copy_form or "SAO Y", request.copying_agency or organisation]
        if request.number:
            lines.append(f"Số: {request.number}")
    else:
        lines = [organisation]
        if request.number:
            lines.append(f"Số: {request.number}")
    lines.append(f"Thời gian ký: {when}")
    # NFC: the cut-down font has no shaping tables to place combining marks (see font_1000upem).
    return [unicodedata.normalize("NFC", line) for line in lines]


def seal_box(
    anchor: tuple[float, float, float, float], page_box: tuple[float, float, float, float], width_mm: float,
    user_unit: float = 1.0,
) -> tuple[float, float, float, float]:
    """Seal rectangle of real size whose right part covers the left third of the anchor widget."""
    ax1, ay1, ax2, ay2 = _norm(anchor)
    px1, py1, px2, py2 = _norm(page_box)
    side = width_mm * PT_PER_MM / user_unit
    right = ax1 + (ax2 - ax1) / 3  # seal reaches to one third into the signature
    cy = (ay1 + ay2) / 2
    x1, y1 = right - side, cy - side / 2
    # keep it on the page (a signature near the edge pushes the seal inwards)
    x1 = min(max(x1, px1), px2 - side)
    y1 = min(max(y1, py1), py2 - side)
    return (x1, y1, x1 + side, y1 + side)


# pyHanko's text box keeps 10 pt padding inside the widget; our layout rule adds 2 pt.
TEXT_PADDING = 12
# Where the glyphs are inside the widget (measured: 11-16 pt from each edge): the blank-space search checks the
# widget less this on each side (plus placement.CLEARANCE around content). The widget itself draws nothing.
TEXT_INK_INSET = 9


def text_width(text: str, font: Path, size: float) -> float:
    """Advance width of one line in points (cmap + hmtx; close enough to the shaped width for layout)."""
    widths = _advances(str(font))
    upem, cmap, hmtx = widths
    return sum(hmtx.get(cmap.get(ord(ch), ".notdef"), (upem // 2, 0))[0] for ch in text) * size / upem


@lru_cache(maxsize=4)
def _advances(path: str):
    from fontTools.ttLib import TTFont

    with TTFont(path) as f:
        return f["head"].unitsPerEm, dict(f.getBestCmap()), dict(f["hmtx"].metrics)


def text_box(
    page_box: tuple[float, float, float, float], lines: list[str], font: Path, font_size: float
) -> tuple[float, float, float, float]:
    """Top-right block sized to its text at full size (no shrinking: 10 pt stays 10 pt)."""
    px1, py1, px2, py2 = _norm(page_box)
    width = max(text_width(line, font, font_size) for line in lines) + 2 * TEXT_PADDING + 4
    height = len(lines) * round(font_size * 1.2) + 2 * TEXT_PADDING
    x2 = px2 - TEXT_MARGIN_RIGHT
    y2 = py2 - TEXT_MARGIN_TOP
    return (max(px1, x2 - width), y2 - height, x2, y2)


def _norm(r) -> tuple[float, float, float, float]:
    x1, y1, x2, y2 = (float(v) for v in r)
    return (min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2))


def _seal_image(path: Path):
    """The seal image cut to what it shows (its alpha's bounding box): the configured size is the seal's own
    diameter, not the picture's with a transparent border (a 2.5 % border made 36 mm print as 34 mm)."""
    from PIL import Image

    img = Image.open(path)
    img.load()
    if img.mode in ("RGBA", "LA") or "transparency" in img.info:
        rgba = img.convert("RGBA")
        bbox = rgba.getchannel("A").getbbox()
        if bbox:
            img = rgba.crop(bbox)
    return img


def stamp_style(placement: Placement, settings):
    """pyHanko stamp style for a placement: no hidden margins (the seal fills its box exactly), turned with
    the page's /Rotate so that it reads upright as displayed."""
    from pyhanko.pdf_utils.images import PdfImage
    from pyhanko.pdf_utils.layout import AxisAlignment, InnerScaling, Margins, SimpleBoxLayoutRule
    from pyhanko.pdf_utils.text import TextBoxStyle

    text_cls, static_cls = _rotating_styles()
    if placement.image is not None:
        # pyHanko's default background layout keeps a 5 pt margin: 36 mm printed as 30.9 mm. None here.
        exact = SimpleBoxLayoutRule(
            x_align=AxisAlignment.ALIGN_MID, y_align=AxisAlignment.ALIGN_MID, margins=Margins(0, 0, 0, 0),
            inner_content_scaling=InnerScaling.STRETCH_FILL,
        )
        return static_cls(background=PdfImage(_seal_image(placement.image)), background_opacity=1.0, border_width=0,
                          background_layout=exact, rotate=placement.rotate)
    font = pdf_font(settings)
    size = (placement.font_size or settings.appearance.font_size) / (placement.user_unit or 1.0)
    return text_cls(
        stamp_text="%(kyso_text)s",
        text_box_style=TextBoxStyle(
            font=shared_font_factory(str(font), int(round(size))),
            font_size=int(round(size)),
            leading=int(round(size * 1.2)),
            text_color=(0, 0, 0),
        ),
        inner_content_layout=SimpleBoxLayoutRule(
            x_align=AxisAlignment.ALIGN_MIN,
            y_align=AxisAlignment.ALIGN_MAX,
            margins=Margins(2, 2, 2, 2),
            inner_content_scaling=InnerScaling.NO_SCALING,
        ),
        border_width=0,
        background=None,
        rotate=placement.rotate,
    )


# The appearance's form XObject turned by the page's /Rotate (its /Matrix): the reader maps the turned box onto
# the widget's /Rect, so the block reads upright on the displayed page. The stamp is laid out in the displayed
# width x height (swapped for 90 / 270).
_MATRIX = {90: (0, 1, -1, 0, 0, 0), 180: (-1, 0, 0, -1, 0, 0), 270: (0, -1, 1, 0, 0, 0)}


@lru_cache(maxsize=1)
def _rotating_styles():
    from dataclasses import dataclass as _dc

    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.layout import BoxConstraints
    from pyhanko.stamp import StaticStampStyle, TextStampStyle

    def turned(stamp, rotate: int):
        if rotate not in _MATRIX:
            return stamp
        plain = stamp.as_form_xobject

        def as_form_xobject():
            xobj = plain()
            xobj["/Matrix"] = generic.ArrayObject(generic.NumberObject(v) for v in _MATRIX[rotate])
            return xobj

        stamp.as_form_xobject = as_form_xobject
        return stamp

    def box_for(box, rotate: int):
        if rotate in (90, 270) and box.width_defined and box.height_defined:
            return BoxConstraints(width=box.height, height=box.width)
        return box

    @_dc(frozen=True)
    class RotatingTextStampStyle(TextStampStyle):
        rotate: int = 0

        def create_stamp(self, writer, box, text_params):
            return turned(super().create_stamp(writer, box_for(box, self.rotate), text_params), self.rotate)

    @_dc(frozen=True)
    class RotatingStaticStampStyle(StaticStampStyle):
        rotate: int = 0

        def create_stamp(self, writer, box, text_params):
            return turned(super().create_stamp(writer, box_for(box, self.rotate), text_params), self.rotate)

    return RotatingTextStampStyle, RotatingStaticStampStyle


def text_block_size(lines: list[str], font: Path, font_size: float) -> tuple[float, float]:
    """Width and height (real points) of the TEXT widget for these lines at this size."""
    width = max(text_width(line, font, font_size) for line in lines) + 2 * TEXT_PADDING + 4
    height = len(lines) * round(font_size * 1.2) + 2 * TEXT_PADDING
    return width, height


def placement_for(request, settings, page_boxes: list[tuple[float, ...]], anchor, views=None) -> Placement:
    """Decide the widget's page and rectangle.

    `anchor` is (page, rect) of the competent person's signature widget (from the request, else the last
    visible signature in the file), or None. `views` maps a page index to its `placement.PageView` (the page
    as displayed: what is blank, its /Rotate, CropBox and /UserUnit); without a view of page 1 the text block
    is put at the top right as before (callers that cannot render).
    """
    from gateway.signing import placement as pl

    views = views or {}
    appearance = request.appearance
    if settings.appearance.invisible or appearance is Appearance.INVISIBLE:
        return Placement(None, None)
    if appearance is Appearance.SEAL:
        image = Path(settings.appearance.seal_image)
        block = getattr(request, "signature_block", None)
        if anchor is not None:
            page, rect = anchor
        elif block is not None and block[0] in views:
            # The competent person's signature is invisible: the seal goes on the signature block the text
            # shows (title and name, Phụ lục I box 7), over its left third, like the paper seal.
            page = block[0]
            v = views[page]
            rect = pl.to_user(block[1], v.crop, v.rotate)
        else:
            return Placement(None, None, warning=Reason.of("SEAL_NO_ANCHOR"))
        v = views.get(page)
        unit = v.user_unit if v else 1.0
        box = seal_box(rect, page_boxes[page], settings.appearance.seal_width_mm, unit)
        return Placement(page, box, image=image, rotate=v.rotate if v else 0, user_unit=unit)
    lines = text_lines(request, settings.organisation)
    font = pdf_font(settings)
    v = views.get(0)
    if v is None:
        box = text_box(page_boxes[0], lines, font, settings.appearance.font_size)
        return Placement(0, box, text="\n".join(lines))
    full = float(settings.appearance.font_size)
    sizes = [full] + [s for s in pl.SIZES if s < full]
    # Top right first, full size then shrunk (Phụ lục I); then the nearest blank area anywhere at the top.
    for right in (True, False):
        for size in sizes:
            w, h = text_block_size(lines, font, size)
            w, h = w / v.user_unit, h / v.user_unit
            rect = pl.free_rect(v, w, h, margin_right=TEXT_MARGIN_RIGHT / v.user_unit,
                                margin_top=TEXT_MARGIN_TOP / v.user_unit, right=right,
                                inset=TEXT_INK_INSET / v.user_unit)
            if rect is not None:
                return Placement(0, pl.to_user(rect, v.crop, v.rotate), text="\n".join(lines), font_size=size,
                                 rotate=v.rotate, user_unit=v.user_unit)
    # Nothing blank at the top (a full-page scan, a page filled to its edges): no visible block rather than one
    # over the document's own text; the decision records why.
    return Placement(None, None, warning=Reason.of("STAMP_NO_FREE_SPACE"))


# --- the seal font, parsed once per process -------------------------------------------------------------
#
# pyHanko's GlyphAccumulatorFactory opens and parses the font file for every signature (TTFont + HarfBuzz
# face, glyph names from the cmap, the whole glyf table) and subsets it again with fontTools (~10-25 ms a
# document, more than the rest of the pipeline together). The font never changes and the text block uses a
# small repertoire, so: parse once, and keep the subset font programs by glyph set (the glyphs of the
# timestamp are always included, so the signing time never makes a new subset). The accumulator below is
# pyHanko 0.38's GlyphAccumulator with those two things shared; on any other pyHanko version, or if the
# font is not a plain TrueType font, pyHanko's own factory is used.

_ALWAYS_GLYPHS = "0123456789:+-T/. "
_SUBSETS_MAX = 64


class _SharedFont:
    def __init__(self, path: str) -> None:
        import uharfbuzz as hb
        from fontTools import ttLib

        data = Path(path).read_bytes()
        self.path = path
        self.data = data
        self.hb_font = hb.Font(hb.Face(data))
        self.tt = tt = ttLib.TTFont(__import__("io").BytesIO(data))
        for tag in ("head", "hhea", "hmtx", "maxp", "cmap", "name", "OS/2", "post"):
            if tag in tt:
                tt[tag]  # parsed now, not in the middle of a signature; outlines stay packed until used
        self.glyph_set = tt.getGlyphSet(preferCFF=True)
        cmap = tt.getBestCmap() or {}
        order = {name: i for i, name in enumerate(tt.getGlyphOrder())}
        self.always = frozenset(order[cmap[ord(c)]] for c in _ALWAYS_GLYPHS if ord(c) in cmap)
        self.subsets: dict[frozenset, bytes] = {}
        self.lock = __import__("threading").Lock()

    def subset_program(self, gids) -> bytes:
        """The Flate-compressed TrueType program of the font cut to `gids` (GIDs kept), cached."""
        key = frozenset(gids) | self.always
        with self.lock:
            hit = self.subsets.get(key)
        if hit is None:
            # On disk too (beside the cut-down font): other workers and restarts reuse it, and a process that
            # only ever meets known glyph sets never loads fontTools.subset (~13 MB resident).
            import hashlib

            digest = hashlib.sha256(self.data + b"\0" + ",".join(map(str, sorted(key))).encode()).hexdigest()
            cached = Path(self.path).parent / "subsets" / f"{digest[:40]}.ttf.z"
            try:
                hit = cached.read_bytes()
            except OSError:
                hit = self._make_subset(key)
                try:
                    cached.parent.mkdir(parents=True, exist_ok=True)
                    tmp = cached.with_suffix(f".{os.getpid()}.tmp")
                    tmp.write_bytes(hit)
                    os.replace(tmp, cached)
                except OSError:
                    pass  # a cache, not a requirement
            with self.lock:
                if len(self.subsets) >= _SUBSETS_MAX:
                    self.subsets.pop(next(iter(self.subsets)))
                self.subsets[key] = hit
        return hit

    def _make_subset(self, key: frozenset) -> bytes:
        import io
        import zlib

        from fontTools import subset, ttLib

        tt = ttLib.TTFont(io.BytesIO(self.data))
        options = subset.Options(layout_closure=False)  # what pyHanko's _extract_subset uses
        options.drop_tables += ["GPOS", "GDEF", "GSUB"]
        options.retain_gids = True
        subsetter = subset.Subsetter(options=options)
        subsetter.populate(gids=sorted(key))
        subsetter.subset(tt)
        buf = io.BytesIO()
        tt.save(buf)
        return zlib.compress(buf.getvalue())


@lru_cache(maxsize=4)
def _shared_font(path: str, mtime_ns: int) -> _SharedFont:
    return _SharedFont(path)


def shared_font(path: str) -> _SharedFont:
    return _shared_font(path, os.stat(path).st_mtime_ns)


@lru_cache(maxsize=1)  # the installed version cannot change under a running process; reading it costs ~1 ms
def _shared_accumulator_supported() -> bool:
    try:
        from importlib.metadata import version

        from pyhanko.pdf_utils.font import opentype
    except Exception:  # noqa: BLE001
        return False
    return version("pyhanko") == "0.38.0" and hasattr(opentype.GlyphAccumulator, "_extract_subset")


def shared_font_factory(path: str, size: int):
    """A pyHanko font engine factory for `path` that shares the parsed font (see above)."""
    from pyhanko.pdf_utils.font.opentype import GlyphAccumulatorFactory

    if not _shared_accumulator_supported():
        return GlyphAccumulatorFactory(path, font_size=size)
    font = shared_font(path)
    if "glyf" not in font.tt:
        return GlyphAccumulatorFactory(path, font_size=size)
    return _factory_class()(path, font_size=size)


@lru_cache(maxsize=1)
def _factory_class():
    from dataclasses import dataclass as _dc

    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.font.api import FontEngine
    from pyhanko.pdf_utils.font.opentype import CIDFontType2, GlyphAccumulator, GlyphAccumulatorFactory

    class SharedCIDFontType2(CIDFontType2):
        def __init__(self, tt, base_ps_name, subset_prefix, accumulator) -> None:
            super().__init__(tt, base_ps_name, subset_prefix)
            self._accumulator = accumulator

        def set_font_file(self, writer):
            program = self._accumulator.font_program
            stream = generic.StreamObject(
                {generic.pdf_name("/Filter"): generic.pdf_name("/FlateDecode")}, encoded_data=program
            )
            ref = writer.add_object(stream)
            self._font_descriptor[generic.pdf_name("/FontFile2")] = ref
            return ref

    class SharedGlyphAccumulator(GlyphAccumulator):
        # Same state as GlyphAccumulator.__init__ (pyHanko 0.38), with the parsed font shared.
        def __init__(self, writer, font: _SharedFont, font_size, obj_stream=None) -> None:
            tt = font.tt
            base_ps_name = _ps_name(tt)
            FontEngine.__init__(self, writer, base_ps_name, embedded_subset=True, obj_stream=obj_stream,
                                font_size=font_size)
            self.hb_font = font.hb_font
            self.tt = tt
            self._shared = font
            self.font_program = b""
            self._font_ref = writer.allocate_placeholder()
            self.cff_charset = None
            self.use_raw_gids = True
            self.cidfont_obj = SharedCIDFontType2(tt, base_ps_name, self.subset_prefix, self)
            self.features = None
            self.units_per_em = tt["head"].unitsPerEm
            self._glyphs = {}
            self._glyph_set = font.glyph_set
            self._cid_to_unicode = {}
            self._GlyphAccumulator__reverse_cmap = None
            self.ot_language_tag = None
            self.ot_script_tag = None
            self.writing_direction = None
            self.bcp47_lang_code = None
            self._subset_created = self._write_prepared = False

        def _extract_subset(self, options=None):
            # never subset the shared font in place (pyHanko's version is destructive)
            self.font_program = self._shared.subset_program(self._glyphs.keys())

    @_dc(frozen=True)
    class SharedGlyphAccumulatorFactory(GlyphAccumulatorFactory):
        def create_font_engine(self, writer, obj_stream=None):
            if obj_stream is None and writer.stream_xrefs and self.create_objstream_if_needed:
                obj_stream = writer.prepare_object_stream()
            return SharedGlyphAccumulator(writer, shared_font(self.font_file), self.font_size, obj_stream)

    return SharedGlyphAccumulatorFactory


def _ps_name(tt) -> str:
    from pyhanko.pdf_utils.font.opentype import _read_ps_name

    return _read_ps_name(tt)
