"""PDF content a viewer shows that the reading once missed (found by an adversarial pass, 2026-12-04): a stamp
picture inside a form XObject or a stamp annotation's appearance, content in optional-content layers
(hidden by default, hidden by an auto-state or a usage only PDFium applies, or by a membership dictionary),
and the text beside the pages (bookmark titles, page labels). Each hostile file must BLOCK; a control built
the same way with honest content must SIGN (so each test can fail)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont
from pypdf import PdfReader, PdfWriter
from pypdf.generic import ArrayObject, DictionaryObject, NameObject, NumberObject, StreamObject, TextStringObject

from gateway.model import Channel, DocKind, Document
from gateway.pipeline import Pipeline
from util import make_pdf

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"


def N(v):  # noqa: N802 - a PDF name
    return NameObject(v)


def num(*vs):
    return ArrayObject([NumberObject(v) for v in vs])


def stamp_image(text: str) -> Image.Image:
    font = ImageFont.truetype(FONT, 64)
    l, t, r, b = font.getbbox(text)
    im = Image.new("RGB", (r - l + 40, b - t + 40), "white")
    d = ImageDraw.Draw(im)
    d.rectangle((3, 3, im.size[0] - 4, im.size[1] - 4), outline=(200, 0, 0), width=5)
    d.text((20 - l, 20 - t), text, font=font, fill=(200, 0, 0))
    return im


def image_xobject(w: PdfWriter, im: Image.Image):
    s = StreamObject()
    s._data = im.tobytes()
    s.update({N("/Type"): N("/XObject"), N("/Subtype"): N("/Image"), N("/Width"): NumberObject(im.size[0]),
              N("/Height"): NumberObject(im.size[1]), N("/ColorSpace"): N("/DeviceRGB"),
              N("/BitsPerComponent"): NumberObject(8)})
    return w._add_object(s)


def form_xobject(w: PdfWriter, content: bytes, bbox, resources: dict):
    s = StreamObject()
    s._data = content
    s.update({N("/Type"): N("/XObject"), N("/Subtype"): N("/Form"), N("/BBox"): num(*bbox),
              N("/Resources"): DictionaryObject(resources)})
    return w._add_object(s)


def with_page_content(base: Path, dst: Path, build) -> Path:
    """`base` with content appended to its first page: build(writer) -> (content bytes, resources)."""
    w = PdfWriter(clone_from=PdfReader(base))
    page = w.pages[0]
    ops, xobjects, extra = build(w)
    res = page[N("/Resources")].get_object()
    xo = res.get("/XObject")
    xo = xo.get_object() if xo is not None else DictionaryObject()
    xo.update(xobjects)
    res[N("/XObject")] = xo
    for k, v in extra.get("resources", {}).items():
        res[N(k)] = v
    s = StreamObject()
    s._data = ops
    contents = page.get("/Contents")
    arr = ArrayObject(list(contents.get_object()) if isinstance(contents.get_object(), ArrayObject) else [contents])
    arr.append(w._add_object(s))
    page[N("/Contents")] = arr
    for k, v in extra.get("catalog", {}).items():
        w._root_object[N(k)] = v
    w.write(dst)
    return dst


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("pdf-reading")
    return make_pdf(d / "base.pdf", title="Công văn số 12/UBND-VP")


@pytest.fixture(scope="module")
def pipe(dev_settings):
    p = Pipeline(dev_settings)
    yield p
    close = getattr(p, "close", None)
    if close:
        close()


def outcome(pipe, path: Path) -> tuple[str, list[str]]:
    r = pipe.check(Document(channel=Channel.FOLDER, name=path.name, path=path, kind=DocKind.CORRESPONDENCE,
                            media_type="application/pdf"))
    return str(r.decision.outcome), [x.code for x in r.decision.reasons]


def in_form(text: str):
    def build(w):
        pic = stamp_image(text)
        wpt, hpt = pic.size[0] // 2, pic.size[1] // 2  # 144 dpi, its own proportions
        im = image_xobject(w, pic)
        fm = form_xobject(w, b"q %d 0 0 %d 0 0 cm /Im Do Q" % (wpt, hpt), (0, 0, wpt, hpt),
                          {N("/XObject"): DictionaryObject({N("/Im"): im})})
        return b"q 1 0 0 1 400 740 cm /Fm Do Q", {N("/Fm"): fm}, {}
    return build


@pytest.mark.parametrize("text,expected", [("TỐI MẬT", "block"), ("MẬT", "block"), ("KHẨN", "sign")])
def test_stamp_picture_inside_a_form_xobject(pipe, base, tmp_path, text, expected):
    # PDFium gives a nested object's bounds in the form's space: the picture was looked for at the page corner
    got = outcome(pipe, with_page_content(base, tmp_path / "form.pdf", in_form(text)))
    assert got[0] == expected, got


def test_stamp_annotation_whose_appearance_is_a_picture(pipe, base, tmp_path):
    w = PdfWriter(clone_from=PdfReader(base))
    pic = stamp_image("MẬT")
    wpt, hpt = pic.size[0] // 2, pic.size[1] // 2
    im = image_xobject(w, pic)
    ap = form_xobject(w, b"q %d 0 0 %d 0 0 cm /Im Do Q" % (wpt, hpt), (0, 0, wpt, hpt),
                      {N("/XObject"): DictionaryObject({N("/Im"): im})})
    annot = DictionaryObject({N("/Type"): N("/Annot"), N("/Subtype"): N("/Stamp"),
                              N("/Rect"): num(400, 740, 400 + wpt, 740 + hpt),
                              N("/F"): NumberObject(4), N("/AP"): DictionaryObject({N("/N"): ap})})
    w.pages[0][N("/Annots")] = ArrayObject([w._add_object(annot)])
    dst = tmp_path / "annot.pdf"
    w.write(dst)
    assert outcome(pipe, dst)[0] == "block"


def layered(text: str, how: str):
    """The stamp picture in a layer: "off" (off by default), "usage" (on, but its /Usage says the view state
    is off and an auto-state applies it: PDFium hides it, poppler shows it), "ocmd" (governed by a membership
    dictionary that shows it only while the layer is off), "on" (a plain visible layer)."""
    def build(w):
        ocg = DictionaryObject({N("/Type"): N("/OCG"), N("/Name"): TextStringObject("Dau")})
        if how == "usage":
            ocg[N("/Usage")] = DictionaryObject({N("/View"): DictionaryObject({N("/ViewState"): N("/OFF")})})
        ocg_ref = w._add_object(ocg)
        config = DictionaryObject({N("/Order"): ArrayObject([ocg_ref]),
                                   N("/OFF"): ArrayObject([ocg_ref] if how == "off" else [])})
        if how == "usage":
            config[N("/AS")] = ArrayObject([DictionaryObject({N("/Event"): N("/View"), N("/OCGs"): ArrayObject([ocg_ref]),
                                                              N("/Category"): ArrayObject([N("/View")])})])
        props = DictionaryObject({N("/OCGs"): ArrayObject([ocg_ref]), N("/D"): config})
        member = ocg_ref
        if how == "ocmd":
            member = w._add_object(DictionaryObject({N("/Type"): N("/OCMD"), N("/OCGs"): ocg_ref, N("/P"): N("/AllOff")}))
        im = image_xobject(w, stamp_image(text))
        ops = b"/OC /L0 BDC q 160 0 0 50 400 740 cm /Im Do Q EMC"
        return ops, {N("/Im"): im}, {"resources": {"/Properties": DictionaryObject({N("/L0"): member})},
                                     "catalog": {"/OCProperties": props}}
    return build


@pytest.mark.parametrize("how", ["off", "usage", "ocmd"])
def test_mark_in_a_layer_a_viewer_shows_or_a_recipient_can_switch_on(pipe, base, tmp_path, how):
    got = outcome(pipe, with_page_content(base, tmp_path / f"layer-{how}.pdf", layered("TỐI MẬT", how)))
    assert got[0] == "block", got


def test_honest_layers_sign(pipe, base, tmp_path):
    got = outcome(pipe, with_page_content(base, tmp_path / "layer-honest.pdf", layered("KHẨN", "off")))
    assert got[0] == "sign", got


@pytest.mark.parametrize("where,text,expected", [
    ("outline", "TỐI MẬT", "block"), ("label", "TỐI MẬT - ", "block"), ("outline", "Mục lục", "sign")])
def test_bookmarks_and_page_labels_are_read(pipe, base, tmp_path, where, text, expected):
    w = PdfWriter(clone_from=PdfReader(base))
    if where == "outline":
        w.add_outline_item(title=text, page_number=0)
    else:
        w._root_object[N("/PageLabels")] = DictionaryObject({N("/Nums"): ArrayObject([
            NumberObject(0), DictionaryObject({N("/S"): N("/D"), N("/P"): TextStringObject(text)})])})
    dst = tmp_path / f"{where}.pdf"
    w.write(dst)
    got = outcome(pipe, dst)
    assert got[0] == expected, got


def _panel(w: PdfWriter, where: str, text: str) -> None:
    """`text` in one place a viewer lists beside the pages (or heads a comment's pop-up), nowhere else."""
    t = TextStringObject(text)
    root = w._root_object
    if where in ("layer", "layer-label"):
        ocg = w._add_object(DictionaryObject({N("/Type"): N("/OCG"), N("/Name"): t if where == "layer" else
                                              TextStringObject("Lớp 1")}))
        order = ArrayObject([ocg]) if where == "layer" else ArrayObject([ArrayObject([t, ocg])])
        root[N("/OCProperties")] = DictionaryObject({N("/OCGs"): ArrayObject([ocg]), N("/D"): DictionaryObject({
            N("/Order"): order, N("/ON"): ArrayObject([ocg])})})
        root[N("/PageMode")] = N("/UseOC")  # the layers panel open at start
    elif where == "destination":
        w.add_named_destination(text, 0)
    elif where == "article":
        thread = w._add_object(DictionaryObject({N("/Type"): N("/Thread"), N("/I"): DictionaryObject({N("/Title"): t})}))
        root[N("/Threads")] = ArrayObject([thread])
    elif where == "portfolio":
        root[N("/Collection")] = DictionaryObject({N("/Type"): N("/Collection"), N("/View"): N("/D"), N("/Schema"):
            DictionaryObject({N("/a"): DictionaryObject({N("/Type"): N("/CollectionField"), N("/Subtype"): N("/S"),
                                                         N("/N"): t})})})
    else:  # a sticky note whose author (/T) or subject (/Subj) is the text
        key = "/T" if where == "author" else "/Subj"
        w.pages[0][N("/Annots")] = ArrayObject([w._add_object(DictionaryObject({
            N("/Type"): N("/Annot"), N("/Subtype"): N("/Text"), N("/Rect"): num(300, 700, 320, 720), N("/F"): NumberObject(4),
            N(key): t, N("/Contents"): TextStringObject("Ghi chú")}))])


@pytest.mark.parametrize("where", ["layer", "layer-label", "destination", "article", "portfolio", "author", "subject"])
def test_names_a_viewer_lists_beside_the_pages_are_read(pipe, base, tmp_path, where):
    """Acrobat lists layers (open at start here), named destinations, article threads and a portfolio's columns
    in its side panels, and heads a comment's pop-up with its author (signed before: only bookmarks and page
    labels were read there). An honest name in the same place still signs."""
    for text, expected in (("TỐI MẬT", "block"), ("Mục lục", "sign")):
        w = PdfWriter(clone_from=PdfReader(base))
        _panel(w, where, text)
        dst = tmp_path / f"{where}-{expected}.pdf"
        w.write(dst)
        got = outcome(pipe, dst)
        assert got[0] == expected, (text, got)
