"""Annotation appearances a viewer shows at a reader's gesture, read like the page.

Flattening (pdftext.read_page) draws each annotation's normal appearance in its current state. A viewer also
shows an annotation's other appearances: a check box or radio button in its other states (a click ticks it),
the rollover appearance (/R: the pointer over it), the down appearance (/D: pressed) and a redaction's
overlay (/RO: once the recipient applies it). Any of them may draw "TỐI MẬT" where the page shows nothing.

They are read from a copy of the document with pages appended (an incremental update, read and discarded,
never released): for each page that has such appearances, one page per alternate k, the page's size, holding
each of its annotations that has a k-th alternate as a plain annotation in the same place showing it. Those
pages go through the same page reader (text by geometry, lying fonts, OCR of what no text layer says).
Flattening also leaves out what a viewer may show all the same: an annotation flagged Invisible (poppler draws
a standard annotation whatever that flag says), one flagged Hidden (a /Hide action, which needs no script,
shows it at a click) and a pop-up's own appearance. Their appearances, the normal one in its current state
included, are read here too.
"""

from __future__ import annotations

from typing import BinaryIO

from gateway.inspect import update

MAX_ALTERNATES = 2_000  # alternate appearances read per document; more: not read completely
UNFLATTENED = 1 | 2  # annotation flags Invisible and Hidden: PDFium's flattening leaves the annotation out


class AppearancesUnread(Exception):
    """The appearances could not be laid out for reading (too many, a page tree that cannot be extended)."""


def alternates(reader) -> dict[int, list[tuple[object, list]]]:
    """{page index: [(annotation rectangle, [references to the appearance streams it shows only at a gesture])]}
    for the pages of a pypdf `reader` that have any."""
    from pypdf.generic import IndirectObject, StreamObject

    out: dict[int, list[tuple[object, list]]] = {}
    total = 0
    for i, page in enumerate(reader.pages):
        annots = page.get("/Annots")
        annots = annots.get_object() if annots is not None else None
        for annot in annots if isinstance(annots, list) else ():
            a = annot.get_object()
            if not hasattr(a, "get") or _value(a, "/Rect") is None:
                continue
            unflattened = bool(int(_value(a, "/F") or 0) & UNFLATTENED) or _value(a, "/Subtype") == "/Popup"
            ap = _value(a, "/AP")
            state = _value(a, "/AS")
            found: list = []
            for key in ("/N", "/R", "/D"):
                if not hasattr(ap, "raw_get") or key not in ap:
                    continue
                value = ap.raw_get(key)
                states = value.get_object()
                if isinstance(states, StreamObject):
                    entries = [(None, value)]
                elif hasattr(states, "raw_get"):
                    entries = [(name, states.raw_get(name)) for name in states]
                else:
                    continue
                for name, ref in entries:
                    shown = key == "/N" and (name is None or name == state) and not unflattened
                    if shown or not isinstance(ref, IndirectObject) or ref in found:
                        continue
                    if isinstance(ref.get_object(), StreamObject):
                        found.append(ref)
            overlay = a.raw_get("/RO") if _value(a, "/Subtype") == "/Redact" and "/RO" in a else None
            if isinstance(overlay, IndirectObject) and isinstance(overlay.get_object(), StreamObject):
                found.append(overlay)  # a redaction's overlay, drawn once the recipient applies it
            if found:
                total += len(found)
                if total > MAX_ALTERNATES:
                    raise AppearancesUnread(f"over {MAX_ALTERNATES} alternate appearances")
                out.setdefault(i, []).append((_value(a, "/Rect"), found))
    return out


def _value(d, key: str):
    """`d[key]` resolved (a direct or indirect value), None when absent."""
    value = d.get(key)
    return value.get_object() if value is not None else None


def laid_out(fh: BinaryIO, reader, found: dict[int, list[tuple[object, list]]], dst: BinaryIO) -> dict[int, int]:
    """Write to `dst` the file `fh` with the alternate appearances `found` on pages appended; returns
    {appended page index: the page index it shows the appearances of}."""
    from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject, NameObject, NumberObject

    ref = reader.trailer.raw_get("/Root")
    pages_ref = ref.get_object().raw_get("/Pages") if isinstance(ref, IndirectObject) else None
    if not isinstance(pages_ref, IndirectObject):
        raise AppearancesUnread("the page tree is not an object of its own")
    pages = pages_ref.get_object()
    used = [n for ns in reader.xref.values() for n in ns] + list(reader.xref_objStm)
    number = max([int(reader.trailer.get("/Size", 0))] + [n + 1 for n in used])
    objects: list[tuple[int, object]] = []
    kids, shows = [], {}
    original = len(reader.pages)
    for index, annots in sorted(found.items()):
        page = reader.pages[index]
        for k in range(max(len(refs) for _, refs in annots)):
            refs = []
            for rect, alts in annots:
                if k < len(alts):
                    annot = DictionaryObject({
                        NameObject("/Type"): NameObject("/Annot"), NameObject("/Subtype"): NameObject("/Stamp"),
                        NameObject("/Rect"): ArrayObject(rect), NameObject("/F"): NumberObject(4),
                        NameObject("/AP"): DictionaryObject({NameObject("/N"): alts[k]}),
                    })
                    objects.append((number, annot))
                    refs.append(IndirectObject(number, 0, reader))
                    number += 1
            new_page = DictionaryObject({
                NameObject("/Type"): NameObject("/Page"), NameObject("/Parent"): pages_ref,
                NameObject("/MediaBox"): ArrayObject(page.mediabox), NameObject("/CropBox"): ArrayObject(page.cropbox),
                NameObject("/Rotate"): NumberObject(page.rotation), NameObject("/Resources"): DictionaryObject(),
                NameObject("/Annots"): ArrayObject(refs),
            })
            objects.append((number, new_page))
            kids.append(IndirectObject(number, 0, reader))
            shows[original + len(kids) - 1] = index
            number += 1
    tree = DictionaryObject({NameObject(k): v for k, v in pages.items() if k not in ("/Kids", "/Count")})
    tree[NameObject("/Kids")] = ArrayObject(list(pages.get("/Kids") or []) + kids)
    tree[NameObject("/Count")] = NumberObject(int(pages.get("/Count", original) or original) + len(kids))
    try:
        update.appended(fh, reader, dst, [(pages_ref.idnum, pages_ref.generation, tree)]
                        + [(n, 0, value) for n, value in objects], number)
    except update.UpdateUnwritable as exc:
        raise AppearancesUnread(str(exc)) from exc
    return shows


# --- annotations without an appearance: drawn from their geometry -----------------------------------------

GEOMETRY = ("/Ink", "/Polygon", "/PolyLine", "/Line", "/Square", "/Circle")
MAX_POINTS = 200_000  # points drawn per document; more: not read completely
PX_PER_PT = 4.0  # ~288 dpi, as OCR reads a scan
MAX_SIDE_PX = 6000


def geometry_shapes(reader) -> dict[int, list[tuple[str, list[list[tuple[float, float]]], float, bool]]]:
    """{page index: [(kind, point lists, line width, filled)]} of the annotations a viewer draws from their
    geometry because they have no appearance of their own (poppler draws an /Ink's /InkList, a /Polygon's
    /Vertices ...; PDFium's flattening draws only appearances): letters stroked or filled there are on the page."""
    out: dict[int, list] = {}
    points = 0
    for i, page in enumerate(reader.pages):
        annots = _value(page, "/Annots")
        for annot in annots if isinstance(annots, list) else ():
            a = annot.get_object()
            if not hasattr(a, "get") or _value(a, "/Subtype") not in GEOMETRY:
                continue
            ap = _value(a, "/AP")
            if hasattr(ap, "get") and ap.get("/N") is not None:
                continue  # it has an appearance: flattening (or the gesture pages) draw it
            kind = str(_value(a, "/Subtype"))
            lists = [pts for pts in _geometry(a, kind) if pts]
            points += sum(len(p) for p in lists)
            if points > MAX_POINTS:
                raise AppearancesUnread(f"over {MAX_POINTS} points in annotations without appearance")
            bs = _value(a, "/BS")
            width = float(_value(bs, "/W") if hasattr(bs, "get") and _value(bs, "/W") is not None else 1.0)
            filled = _value(a, "/IC") is not None
            if lists:
                out.setdefault(i, []).append((kind, lists, width, filled))
    return out


def _geometry(a, kind: str) -> list[list[tuple[float, float]]]:
    def pairs(values) -> list[tuple[float, float]]:
        nums = [float(v.get_object()) for v in (values.get_object() if values is not None else [])]
        return list(zip(nums[0::2], nums[1::2]))

    if kind == "/Ink":
        ink = _value(a, "/InkList")
        return [pairs(stroke) for stroke in (ink if isinstance(ink, list) else [])]
    if kind in ("/Polygon", "/PolyLine"):
        vertices = pairs(a.get("/Vertices"))
        return [vertices + vertices[:1] if kind == "/Polygon" else vertices]
    if kind == "/Line":
        return [pairs(a.get("/L"))]
    x0, y0, x1, y1 = (float(v) for v in _value(a, "/Rect"))
    if kind == "/Square":
        return [[(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]]
    import math  # a circle: its ellipse as a polygon

    cx, cy, rx, ry = (x0 + x1) / 2, (y0 + y1) / 2, abs(x1 - x0) / 2, abs(y1 - y0) / 2
    return [[(cx + rx * math.cos(t * math.pi / 32), cy + ry * math.sin(t * math.pi / 32)) for t in range(65)]]


def drawn(shapes: list) -> object:
    """The `shapes` of one page drawn black on white (a PIL image), their box at PX_PER_PT (less for a
    large box), y down."""
    from PIL import Image, ImageDraw

    xs = [x for _, lists, _, _ in shapes for pts in lists for x, _ in pts]
    ys = [y for _, lists, _, _ in shapes for pts in lists for _, y in pts]
    margin = 10.0
    x0, y0, x1, y1 = min(xs) - margin, min(ys) - margin, max(xs) + margin, max(ys) + margin
    scale = min(PX_PER_PT, MAX_SIDE_PX / max(x1 - x0, y1 - y0, 1.0))
    image = Image.new("L", (max(1, int((x1 - x0) * scale)), max(1, int((y1 - y0) * scale))), 255)
    draw = ImageDraw.Draw(image)
    for kind, lists, width, filled in shapes:
        for pts in lists:
            xy = [((x - x0) * scale, (y1 - y) * scale) for x, y in pts]
            if filled and kind in ("/Polygon", "/Square", "/Circle") and len(xy) > 2:
                draw.polygon(xy, fill=0)
            elif len(xy) > 1:
                draw.line(xy, fill=0, width=max(2, int(width * scale)), joint="curve")
    return image
