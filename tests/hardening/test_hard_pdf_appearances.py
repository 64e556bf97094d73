"""Annotation appearances a viewer shows at a reader's gesture (gateway/inspect/appearances.py).

A push button whose rollover (/R) or down (/D) appearance draws "TOI MAT", a check box or radio button whose
other state draws it: the page shows nothing until the pointer is over it or it is clicked. Flattening draws
only the current normal appearance, so each was signed before. Now every appearance is read like the page."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from gateway.model import Channel, Document, Outcome
from gateway.pipeline import Pipeline
from hostile import stream, write_pdf

MARK = b"BT /F1 28 Tf 10 12 Td (TOI MAT) Tj ET"
TICK = b"BT /ZaDb 20 Tf 10 12 Td (4) Tj ET"


def _form(annot: bytes, mark: bytes = MARK) -> dict[int, bytes]:
    """One page, one widget (8); appearance streams: 6 draws `mark`, 7 draws nothing, 9 a tick."""
    form = b"/Type /XObject /Subtype /Form /BBox [0 0 200 50] "
    return {
        1: b"<< /Type /Catalog /Pages 2 0 R /AcroForm << /Fields [8 0 R] >> >>",
        2: b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        3: b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Annots [8 0 R] "
           b"/Resources << /Font << /F1 5 0 R >> >> >>",
        4: stream(b"BT /F1 12 Tf 72 780 Td (UBND TINH - Cong van so 12/UBND) Tj ET"),
        5: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        6: stream(mark, form + b"/Resources << /Font << /F1 5 0 R >> >> "),
        7: stream(b"", form),
        9: stream(TICK, form + b"/Resources << /Font << /ZaDb 10 0 R >> >> "),
        10: b"<< /Type /Font /Subtype /Type1 /BaseFont /ZapfDingbats >>",
        8: b"<< /Type /Annot /Subtype /Widget /Rect [300 700 500 750] /F 4 /P 3 0 R /T (b) " + annot + b" >>",
    }


GESTURES = {
    "rollover": b"/FT /Btn /Ff 65536 /AP << /N 7 0 R /R 6 0 R >>",
    "down": b"/FT /Btn /Ff 65536 /AP << /N 7 0 R /D 6 0 R >>",
    "check-box-ticked": b"/FT /Btn /V /Off /AS /Off /AP << /N << /Yes 6 0 R /Off 7 0 R >> >>",
    "radio-other-state": b"/FT /Btn /Ff 32768 /V /A /AS /A /AP << /N << /A 9 0 R /B 6 0 R /Off 7 0 R >> >>",
    "rollover-of-a-state": b"/FT /Btn /V /Yes /AS /Yes /AP << /N << /Yes 9 0 R /Off 7 0 R >> "
                           b"/R << /Yes 9 0 R /Off 6 0 R >> >>",
}


@pytest.fixture(scope="module")
def pipeline(dev_settings):
    with Pipeline(dev_settings) as p:
        yield p


def _encrypted(src: Path, dst: Path) -> Path:
    from pypdf import PdfReader, PdfWriter

    w = PdfWriter(clone_from=PdfReader(src))
    w.encrypt(user_password="", owner_password="chủ", algorithm="AES-128")
    with open(dst, "wb") as fh:
        w.write(fh)
    return dst


@pytest.mark.parametrize("gesture", GESTURES)
def test_a_mark_shown_only_at_a_gesture_is_read(gesture, tmp_path, pipeline):
    path = write_pdf(tmp_path / f"{gesture}.pdf", _form(GESTURES[gesture]))
    for doc in (path, _encrypted(path, tmp_path / f"{gesture}-encrypted.pdf")):  # an update keeps /Encrypt
        res = pipeline.check(Document(Channel.SMTP, doc.name, path=doc))
        assert res.outcome is Outcome.BLOCK, (doc.name, res.decision)
        assert {(r.code, r.args.get("where")) for r in res.decision.reasons} == {
            ("SECRET_MARKED", "text:appearance:page1")}, res.decision


def test_a_form_whose_other_states_draw_no_mark_is_signed(tmp_path, pipeline):
    """Check boxes with tick and empty states, a button with a rollover: nothing is refused for them."""
    path = write_pdf(tmp_path / "form.pdf", _form(b"/FT /Btn /V /Off /AS /Off /AP << /N << /Yes 9 0 R /Off 7 0 R >> "
                                                  b"/D << /Yes 9 0 R /Off 7 0 R >> /R 9 0 R >>"))
    res = pipeline.check(Document(Channel.SMTP, path.name, path=path))
    assert res.outcome is Outcome.SIGN, res.decision


@pytest.mark.parametrize("flags", [b"/F 5", b"/F 6", b"/F 3"])
def test_an_annotation_flattening_leaves_out_is_read(flags, tmp_path, pipeline):
    """PDFium's flattening leaves out an annotation flagged Invisible (1) or Hidden (2). poppler draws a
    standard annotation flagged Invisible (pdftoppm renders "TOI MAT" exactly as without the flag), and a /Hide
    action, no script needed, shows a hidden one at a click: each was signed before, now it is read."""
    path = write_pdf(tmp_path / "unflattened.pdf", _form(b"/FT /Btn /Ff 65536 /AP << /N 6 0 R >>"))
    path.write_bytes(path.read_bytes().replace(b"/F 4 /P 3 0 R", flags + b" /P 3 0 R"))  # same length
    res = pipeline.check(Document(Channel.SMTP, path.name, path=path))
    assert res.outcome is Outcome.BLOCK, res.decision
    assert {r.args.get("where") for r in res.decision.reasons} == {"text:appearance:page1"}, res.decision


def test_a_hidden_annotation_shown_by_a_hide_action(tmp_path, pipeline):
    """A link whose /Hide action shows a hidden stamp: the stamp's appearance is read."""
    objs = _form(b"/FT /Btn /Ff 65536 /AP << /N 7 0 R >>")
    objs[3] = objs[3].replace(b"/Annots [8 0 R]", b"/Annots [8 0 R 11 0 R 12 0 R]")
    objs[11] = b"<< /Type /Annot /Subtype /Stamp /Rect [72 500 272 550] /F 6 /AP << /N 6 0 R >> >>"
    objs[12] = b"<< /Type /Annot /Subtype /Link /Rect [72 700 200 720] /A << /S /Hide /T 11 0 R /H false >> >>"
    path = write_pdf(tmp_path / "hide.pdf", objs)
    res = pipeline.check(Document(Channel.SMTP, path.name, path=path))
    assert res.outcome is Outcome.BLOCK, res.decision


def test_unflattened_annotations_that_draw_no_mark_are_signed(tmp_path, pipeline):
    """Hidden and invisible annotations that show an empty box or a tick: nothing is refused for them."""
    objs = _form(b"/FT /Btn /V /Off /AS /Off /AP << /N << /Yes 9 0 R /Off 7 0 R >> >>")
    objs[8] = objs[8].replace(b"/F 4", b"/F 2")
    objs[3] = objs[3].replace(b"/Annots [8 0 R]", b"/Annots [8 0 R 11 0 R]")
    objs[11] = b"<< /Type /Annot /Subtype /Stamp /Rect [72 500 272 550] /F 1 /AP << /N 9 0 R >> >>"
    path = write_pdf(tmp_path / "quiet.pdf", objs)
    assert pipeline.check(Document(Channel.SMTP, path.name, path=path)).outcome is Outcome.SIGN


def _made_by_the_viewer(pipeline, tmp_path, annot: bytes) -> bool:
    """Is the one-widget form blocked when the viewer is asked to make the widget's appearance itself?"""
    objs = _form(annot)
    objs[1] = b"<< /Type /Catalog /Pages 2 0 R /AcroForm << /Fields [8 0 R] /NeedAppearances true >> >>"
    path = write_pdf(tmp_path / "made.pdf", objs)
    res = pipeline.check(Document(Channel.SMTP, path.name, path=path))
    return res.outcome is Outcome.BLOCK


@pytest.mark.parametrize("mk", [b"/MK << /CA (TOI MAT) >>", b"/MK << /CA (Gui) /RC (TOI MAT) >>",
                                b"/MK << /CA (Gui) /AC (TOI MAT) >>"])
def test_a_buttons_caption_is_read(mk, tmp_path, pipeline):
    """A push button without an appearance: a viewer draws its caption (poppler's pdftoppm draws "TOI MAT" on
    an otherwise empty page), and its rollover and down captions when pointed at or pressed."""
    assert _made_by_the_viewer(pipeline, tmp_path, b"/FT /Btn /Ff 65536 /DA (/F1 18 Tf 0 g) " + mk)


def test_an_appearance_that_inflates_too_far_is_not_read_nor_released(tmp_path, pipeline):
    """A rollover appearance that inflates to 2 GiB: PDFium would inflate it whole in the worker. Not read
    (SECRECY_SCAN_INCOMPLETE), and the worker's memory stays bounded."""
    from hostile import deflate_zeros

    objs = _form(GESTURES["rollover"])
    objs[6] = stream(deflate_zeros(2 << 30), b"/Type /XObject /Subtype /Form /BBox [0 0 200 50] /Filter /FlateDecode ")
    path = write_pdf(tmp_path / "bomb.pdf", objs)
    res = pipeline.check(Document(Channel.SMTP, path.name, path=path))
    assert res.outcome is Outcome.REJECT, res.decision
    assert any("appearance" in r.args.get("detail", "") for r in res.decision.reasons), res.decision


def test_a_normal_appearance_that_inflates_too_far_is_not_read_nor_released(tmp_path, dev_settings):
    """The same bomb as an annotation's normal appearance, which flattening draws: the page is not given to
    PDFium (it took the page's content streams only before), in a child with bounded memory."""
    from hostile import decide_in_child, deflate_zeros

    objs = _form(b"/FT /Btn /Ff 65536 /AP << /N 6 0 R >>")
    objs[6] = stream(deflate_zeros(2 << 30), b"/Type /XObject /Subtype /Form /BBox [0 0 200 50] /Filter /FlateDecode ")
    path = write_pdf(tmp_path / "normal-bomb.pdf", objs)
    r = decide_in_child([path], dev_settings.var_dir)["normal-bomb.pdf"]
    assert r["outcome"] == "reject" and "SECRECY_SCAN_INCOMPLETE" in r["reasons"], r
    assert r["peak_rss_mib"] < 1500, r


@pytest.mark.parametrize("redact", [b"/OverlayText (TOI MAT)", b"/RO 6 0 R"])
def test_a_redactions_overlay_is_read(redact, tmp_path, pipeline):
    """A redaction annotation draws its overlay text or form once the recipient applies it."""
    objs = _form(GESTURES["rollover"])
    objs[3] = objs[3].replace(b"/Annots [8 0 R]", b"/Annots [8 0 R 11 0 R]")
    objs[8] = objs[8].replace(b"/R 6 0 R", b"")  # the button shows nothing at any gesture now
    objs[11] = b"<< /Type /Annot /Subtype /Redact /Rect [72 600 300 640] /QuadPoints [72 640 300 640 72 600 300 600] " + redact + b" >>"
    path = write_pdf(tmp_path / "redact.pdf", objs)
    res = pipeline.check(Document(Channel.SMTP, path.name, path=path))
    assert res.outcome is Outcome.BLOCK, res.decision


@pytest.mark.parametrize("opt", [b"[(Binh thuong) (TOI MAT)]", b"[[(1) (Binh thuong)] [(2) (TOI MAT)]]"])
def test_a_list_boxs_items_are_read(opt, tmp_path, pipeline):
    """A list box shows its items on the page (a combo box when opened), whatever its value."""
    assert _made_by_the_viewer(pipeline, tmp_path, b"/FT /Ch /Ff 0 /V (Binh thuong) /DA (/F1 12 Tf 0 g) /Opt " + opt)


def test_a_text_fields_rich_value_is_read(tmp_path, pipeline):
    """A rich-text field shows its /RV (XHTML) when the viewer makes its appearance."""
    assert _made_by_the_viewer(pipeline, tmp_path, b"/FT /Tx /Ff 33554432 /V (Binh thuong) /DA (/F1 12 Tf 0 g) /RV "
                               b"(<?xml version=\"1.0\"?><body xmlns=\"http://www.w3.org/1999/xhtml\"><p>T<b>OI</b> MAT</p></body>)")


def test_an_annotation_whose_rectangle_and_flags_are_objects_of_their_own(tmp_path, pipeline):
    """/Rect and /F given as references (allowed: any value may be): read the same."""
    objs = _form(GESTURES["rollover"])
    objs[8] = objs[8].replace(b"/Rect [300 700 500 750] /F 4", b"/Rect 12 0 R /F 13 0 R")
    objs[12], objs[13] = b"[300 700 500 750]", b"4"
    path = write_pdf(tmp_path / "refs.pdf", objs)
    assert pipeline.check(Document(Channel.SMTP, path.name, path=path)).outcome is Outcome.BLOCK


@pytest.mark.parametrize("rc", [b"<p>T&#x1ED0;I M&#x1EAC;T</p>", b"<p>T<span style=\"font-weight:bold\">OI</span> MAT</p>",
                                b"<p>T&#193;I</p><p>&#x54;OI&nbsp;MAT</p>"])
def test_an_annotations_rich_text_is_read_as_shown(rc, tmp_path, pipeline):
    """A FreeText's /RC (XHTML) is what Acrobat draws and its pop-up shows: character references are the
    characters they name ("T&#x1ED0;I M&#x1EAC;T" was signed before), inline tags join letters."""
    objs = _form(b"/FT /Btn /Ff 65536 /AP << /N 7 0 R >>")
    objs[3] = objs[3].replace(b"/Annots [8 0 R]", b"/Annots [8 0 R 11 0 R]")
    objs[11] = (b"<< /Type /Annot /Subtype /FreeText /Rect [72 600 300 640] /DA (/Helv 14 Tf 0 g) /Contents (Ghi chu) "
                b"/RC (<?xml version=\"1.0\"?><body xmlns=\"http://www.w3.org/1999/xhtml\">" + rc + b"</body>) >>")
    path = write_pdf(tmp_path / "rc.pdf", objs)
    res = pipeline.check(Document(Channel.SMTP, path.name, path=path))
    assert res.outcome is Outcome.BLOCK, res.decision


def _geometry_pdf(path: Path, annots: list[bytes]) -> Path:
    objs = {1: b"<< /Type /Catalog /Pages 2 0 R >>", 2: b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            4: stream(b"BT /F1 12 Tf 72 780 Td (UBND TINH - Cong van so 12/UBND) Tj ET"),
            5: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"}
    refs = []
    for n, annot in enumerate(annots, 6):
        objs[n] = annot
        refs.append(b"%d 0 R" % n)
    objs[3] = (b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Annots [" + b" ".join(refs)
               + b"] /Resources << /Font << /F1 5 0 R >> >> >>")
    return write_pdf(path, objs)


def _strokes(words: str) -> list[str]:
    from office_samples import glyph_contours

    return ["[" + " ".join(f"{80 + x * 0.04:.1f} {500 + y * 0.04:.1f}" for x, y in c + c[:1]) + "]"
            for glyph in glyph_contours(words) for c in glyph]


@pytest.mark.parametrize("kind", ["ink", "polygon"])
def test_an_annotation_drawn_from_its_geometry_is_read(kind, tmp_path, pipeline):
    """An /Ink without an appearance: poppler (Evince, Okular) draws its /InkList, here the outlines of
    "TỐI MẬT" (Tesseract reads pdftoppm's page so); PDFium's flattening draws only appearances, and the PDF was
    signed. Polygons (/Vertices) the same. Now they are drawn from their geometry and read by OCR."""
    strokes = _strokes("TỐI MẬT")
    if kind == "ink":
        annots = [b"<< /Type /Annot /Subtype /Ink /Rect [50 450 500 620] /C [1 0 0] /BS << /W 2 >> /F 4 /InkList ["
                  + " ".join(strokes).encode() + b"] >>"]
    else:
        annots = [b"<< /Type /Annot /Subtype /Polygon /Rect [50 450 500 620] /C [1 0 0] /IC [1 0 0] /F 4 /Vertices "
                  + s.encode() + b" >>" for s in strokes]
    path = _geometry_pdf(tmp_path / f"{kind}.pdf", annots)
    seen = subprocess.run(["pdftoppm", "-r", "100", "-gray", "-singlefile", str(path), str(tmp_path / "p")], check=True)
    seen = subprocess.run(["tesseract", str(tmp_path / "p.pgm"), "-", "-l", "vie"], capture_output=True, text=True).stdout
    assert "ẬT" in seen, seen  # the premise: a viewer shows it (OCR reads hollow strokes in part)
    res = pipeline.check(Document(Channel.SMTP, path.name, path=path))
    assert res.outcome is Outcome.BLOCK, res.decision


def test_annotations_drawn_from_geometry_that_spell_nothing_are_signed(tmp_path, pipeline):
    """A scribbled ink signature, a box and a line, without appearances: read, nothing found, signed."""
    annots = [b"<< /Type /Annot /Subtype /Ink /Rect [300 100 500 160] /InkList [[310 120 330 150 350 110 370 150 "
              b"390 115 420 140 460 125 490 130]] >>",
              b"<< /Type /Annot /Subtype /Square /Rect [60 600 300 700] /C [0 0 1] >>",
              b"<< /Type /Annot /Subtype /Line /Rect [60 560 300 580] /L [60 570 300 570] >>"]
    path = _geometry_pdf(tmp_path / "plain.pdf", annots)
    assert pipeline.check(Document(Channel.SMTP, path.name, path=path)).outcome is Outcome.SIGN


@pytest.mark.parametrize("annot", [
    b"<< /Type /Annot /Subtype /Ink /Rect [0 0 10 10] /InkList [[] [5]] >>",
    b"<< /Type /Annot /Subtype /PolyLine /Rect [0 0 10 10] /Vertices [0 0 1e300 1e300] >>",
    b"<< /Type /Annot /Subtype /Line /Rect [0 0 10 10] /L (x) >>",
])
def test_odd_geometry_gets_an_answer(annot, tmp_path, pipeline):
    """Empty strokes, coordinates no drawing can hold, a line that is not numbers: a decision, never a crash;
    what cannot be drawn is not read, so not released."""
    path = _geometry_pdf(tmp_path / "odd.pdf", [annot])
    res = pipeline.check(Document(Channel.SMTP, path.name, path=path))
    assert res.outcome in (Outcome.SIGN, Outcome.REJECT), res.decision
    if res.outcome is Outcome.REJECT:
        assert {r.code for r in res.decision.reasons} & {"SECRECY_SCAN_INCOMPLETE", "DOCUMENT_UNREADABLE"}
