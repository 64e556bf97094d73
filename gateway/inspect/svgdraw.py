"""SVG drawn as a person sees it: librsvg's `rsvg-convert` makes a PDF of it, which the PDF reader reads.

An SVG shows what its drawing draws, and its text is only part of that: a stamp's letters given as paths
("TỐI MẬT" in outlines), pictures, shapes. The text reader reads an SVG's text; what the drawing shows is read
from the PDF (outlines and pictures by OCR, text by geometry). Every SVG document is drawn, and every <svg>
element of HTML (a mail client draws it in place). The drawing is fitted into a square of A3's long side (a
small drawing a viewer zooms into is read large), made in an empty directory of its own (librsvg loads no
file outside the SVG's directory, and nothing from the network), within a time limit. Not drawn
(rsvg-convert absent, failing, too slow, too large a result): the document is not read completely.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from gateway.inspect import programs

PROGRAM = "rsvg-convert"  # librsvg2-bin
SIZE_PX = 1587  # the square the drawing is fitted into, at 96 px per inch: A3's long side (420 mm)
SECONDS = 30.0
MAX_PDF_BYTES = 64 * 1024 * 1024
MAX_FRAGMENTS = 50  # <svg> elements drawn per HTML document; more: not read completely

_SVG_TAG = re.compile(r"(?i)<(/?)svg\b[^>]*>")
_SVG_NS = "http://www.w3.org/2000/svg"


class TooManyDrawings(Exception):
    pass


def fragments(markup: str) -> list[bytes]:
    """Each outermost <svg> element of `markup` (HTML), standalone: namespaces declared as HTML implies them."""
    out: list[bytes] = []
    depth, start = 0, 0
    for m in _SVG_TAG.finditer(markup):
        closing, self_closed = m.group(1) == "/", m.group(0).endswith("/>")
        if not closing and not self_closed:
            if depth == 0:
                start = m.start()
            depth += 1
        elif closing and depth:
            depth -= 1
            if depth == 0:
                out.append(_standalone(markup[start:m.end()]).encode("utf-8"))
                if len(out) > MAX_FRAGMENTS:
                    raise TooManyDrawings(f"over {MAX_FRAGMENTS} SVG drawings")
    if depth:  # an <svg> never closed: a browser draws it to the end of the document
        out.append(_standalone(markup[start:] + "</svg>" * depth).encode("utf-8"))
    return out


_SVG_FONT = re.compile(rb"(?i)<(?:[\w.-]+:)?(?:glyph|missing-glyph|altGlyph|glyphRef|font-face-src)\b")


def has_svg_font(svg: bytes) -> bool:
    """Does `svg` define an SVG font (<font> with <glyph>s)? Safari draws text in it from the glyphs' paths."""
    return _SVG_FONT.search(svg) is not None


def _standalone(fragment: str) -> str:
    tag_end = fragment.index(">")
    opening = fragment[:tag_end]
    extra = ""
    if "xmlns=" not in opening:
        extra += f' xmlns="{_SVG_NS}"'
    if "xlink:" in fragment and "xmlns:xlink" not in opening:
        extra += ' xmlns:xlink="http://www.w3.org/1999/xlink"'
    if opening.endswith("/"):
        return opening[:-1] + extra + "/" + fragment[tag_end:]
    return opening + extra + fragment[tag_end:]


def draw(svg: bytes, outdir: Path) -> tuple[Path | None, str | None]:
    """`svg` drawn as a PDF in `outdir` (an empty directory): (its path, None), or (None, what went wrong)."""
    binary = shutil.which(PROGRAM)
    if binary is None:
        return None, "rsvg-convert (librsvg2-bin) not installed"
    src, dst = outdir / "drawing.svg", outdir / "drawing.pdf"
    src.write_bytes(svg)
    cmd = [binary, "--format", "pdf", "--width", str(SIZE_PX), "--height", str(SIZE_PX), "--keep-aspect-ratio",
           "--output", str(dst), str(src)]
    problem = programs.run(cmd, SECONDS, name="rsvg-convert", cwd=outdir)
    if problem or not dst.exists():
        return None, problem or "rsvg-convert made nothing"
    if dst.stat().st_size > MAX_PDF_BYTES:
        return None, f"drawing over {MAX_PDF_BYTES // (1024 * 1024)} MB"
    return dst, None
