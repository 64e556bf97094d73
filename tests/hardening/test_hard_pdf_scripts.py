"""What a viewer runs or draws beside the pages: JavaScript wherever an action may be, and XFA forms.

A script may show what the pages the gateway read do not say: here each one sets an empty field to "TỐI MẬT"
when the page opens (Acrobat runs it). Before, only a script in the catalogue's own actions, or written plainly
in the file's uncompressed bytes, was seen: the same action on a page, on a field, after another action (/Next),
compressed into an object stream or with its names #-escaped went unseen, and the document was signed without a
word, on the portal too, whose policy refuses JavaScript. Now every one is seen, and refused by default
(PDF_JAVASCRIPT, option `javascript`). An XFA form is drawn by Adobe Reader from its XML: not read, so refused
(DOCUMENT_UNREADABLE)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from gateway.inspect import hints, inspect
from gateway.model import Channel, Document, Outcome
from gateway.pipeline import Pipeline
from gateway.validation import Validator
from hostile import stream, write_pdf

SCRIPT = rb"(this.getField\('f'\).value = 'T\\u1ed0I M\\u1eacT';)"
PLAIN = b"/S /JavaScript /JS " + SCRIPT
ESCAPED = {  # names a viewer reads as /S /JavaScript and /JS
    "escaped-subtype": b"/S /Java#53cript /J#53 " + SCRIPT,
    "escaped-key": b"/#53 /JavaScript /JS " + SCRIPT,
}


def _objects(where: str, action: bytes) -> dict[int, bytes]:
    """A page with an empty text field (8) and the script at `where`."""
    page_extra = field_extra = catalog_extra = form_extra = b""
    objs: dict[int, bytes] = {9: b"<< " + action + b" >>"}
    if where == "page-open":
        page_extra = b"/AA << /O 9 0 R >>"
    elif where == "field-calculation":
        field_extra, form_extra = b"/AA << /C 9 0 R >>", b"/CO [8 0 R]"
    elif where == "next-action":
        objs[10] = b"<< /S /GoTo /D [3 0 R /Fit] /Next 9 0 R >>"
        catalog_extra = b"/OpenAction 10 0 R"
    elif where == "link":
        objs[10] = b"<< /Type /Annot /Subtype /Link /Rect [72 600 200 620] /A 9 0 R >>"
    annots = b"[8 0 R 10 0 R]" if where == "link" else b"[8 0 R]"
    objs.update({
        1: b"<< /Type /Catalog /Pages 2 0 R /AcroForm 7 0 R " + catalog_extra + b" >>",
        2: b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        3: b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Annots " + annots
           + b" /Resources << /Font << /F1 5 0 R >> >> " + page_extra + b" >>",
        4: stream(b"BT /F1 12 Tf 72 780 Td (UBND TINH - Cong van so 12/UBND) Tj ET"),
        5: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        7: b"<< /Fields [8 0 R] /DA (/Helv 0 Tf 0 g) " + form_extra + b" >>",
        8: b"<< /FT /Tx /T (f) /Type /Annot /Subtype /Widget /Rect [300 700 500 740] /F 4 /P 3 0 R "
           b"/DA (/Helv 18 Tf 0 g) " + field_extra + b" >>",
    })
    return objs


def _compressed(src: Path, dst: Path) -> Path:
    """The same PDF with its objects in object streams (qpdf writes names plainly)."""
    subprocess.run(["qpdf", "--object-streams=generate", "--compress-streams=y", str(src), str(dst)], check=True)
    assert b"JavaScript" not in dst.read_bytes()  # nothing for a search of the file's bytes to find
    return dst


WHERE = ("page-open", "field-calculation", "next-action", "link")
CASES = ([(w, "plain") for w in WHERE] + [(w, "object-stream") for w in WHERE]
         + [(w, how) for w in ("page-open", "field-calculation") for how in ESCAPED])


def _build(tmp_path: Path, where: str, how: str) -> Path:
    path = write_pdf(tmp_path / f"{where}-{how}.pdf", _objects(where, ESCAPED.get(how, PLAIN)))
    return _compressed(path, tmp_path / f"{where}-{how}-os.pdf") if how == "object-stream" else path


@pytest.fixture(scope="module")
def pipeline(dev_settings):
    with Pipeline(dev_settings) as p:
        yield p


@pytest.mark.skipif(shutil.which("qpdf") is None, reason="qpdf (make deps) not installed")
@pytest.mark.parametrize("where,how", CASES)
def test_a_script_anywhere_is_seen_and_refused(where, how, tmp_path, dev_settings, pipeline):
    path = _build(tmp_path, where, how)
    facts = inspect(Document(Channel.CLI, path.name, path=path), dev_settings, Validator(dev_settings))
    assert facts.javascript and not facts.broken, facts
    for channel in (Channel.SMTP, Channel.PORTAL, Channel.FOLDER):
        res = pipeline.check(Document(channel, path.name, path=path))
        assert res.outcome is Outcome.REJECT and "PDF_JAVASCRIPT" in {r.code for r in res.decision.reasons}, res


def test_escaped_names_that_are_no_script_are_not_taken_for_one(tmp_path, dev_settings, pipeline):
    """A font name with escaped blanks, and a name that only starts like one: no script."""
    objs = _objects("page-open", b"/S /GoTo /D [3 0 R /Fit]")
    objs[5] = b"<< /Type /Font /Subtype /Type1 /BaseFont /Times#20New#20Roman /JavaScriptX 1 /J#53X 2 >>"
    path = write_pdf(tmp_path / "plain.pdf", objs)
    facts = inspect(Document(Channel.CLI, path.name, path=path), dev_settings, Validator(dev_settings))
    assert not facts.javascript, facts
    assert pipeline.check(Document(Channel.SMTP, path.name, path=path)).outcome is Outcome.SIGN


def test_hint_patterns():
    found = lambda data: list(hints.found(data))  # noqa: E731
    assert found(b"<</S /Java#53cript /JS (x)>>") == [hints.SCRIPT]
    assert found(b"<</#53/JavaScript/J#53(x)>>") == [hints.SCRIPT]
    assert found(b"/S/JavaScript") == [hints.SCRIPT] and found(b"/S /JavaScriptX") == []
    assert found(b"/Names << /Java#53cript 5 0 R >>") == [hints.SCRIPT]
    assert found(b"/ByteRange [0 1 2 3] /Byte#52ange") == [hints.SIGNATURE, hints.SIGNATURE]
    assert found(b"/Times#20New#20Roman /JSX /J#53X") == []
    assert found(b"/Alternates [5 0 R] /Alternate#73 6 0 R") == [hints.ALTERNATE, hints.ALTERNATE]
    assert found(b"[/ICCBased << /N 3 /Alternate /DeviceRGB >>] /AlternatesX") == []
    # what ASCII85 image data holds by chance (an 8 MB image carried "/#53("): no script
    assert found(b"j9*7]8!H%gG1B).@IEk0/#53(Pe%6:Y@h<.:,Cu!<LY /J#53)Q /#4a#53[") == []
    # NUL is whitespace to a PDF reader: the name ends there
    assert found(b"/S /JavaScript\x00/JS (x)") == [hints.SCRIPT]
    assert found(b"/S /Java#53cript\x00") == [hints.SCRIPT]
    # a file specification's embedded files: /EF before a dictionary or a reference (comments between)
    assert found(b"/EF << /F 5 0 R >> /EF 6 0 R /EF%x\n<< >> /EF\x00<< >> /E#46 7 0 R") == [hints.FILE_SPEC] * 5
    assert found(b"/EF /x /EFX << /EF) /EF /EF 12 /EF 1 0 /EF1 0 R") == []


def test_ascii85_image_data_is_not_taken_for_a_script(tmp_path, dev_settings):
    """Image data encoded in ASCII85 holds every printable character: what looks like "/#53(" there is no
    action (the engine's test document was refused as JavaScript, 2 runs in 3)."""
    import base64
    import os

    noise = base64.a85encode(os.urandom(1 << 20)) + b"/#53(/J#53)~>"
    objs = {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        2: b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        3: b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
           b"/Resources << /Font << /F1 5 0 R >> /XObject << /Im1 6 0 R >> >> >>",
        4: stream(b"q 40 0 0 40 500 40 cm /Im1 Do Q BT /F1 12 Tf 72 780 Td (UBND TINH) Tj ET"),
        5: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        6: stream(noise, b"/Type /XObject /Subtype /Image /Width 1 /Height 1 /ColorSpace /DeviceGray "
                         b"/BitsPerComponent 8 /Filter /ASCII85Decode "),
    }
    path = write_pdf(tmp_path / "a85.pdf", objs)
    facts = inspect(Document(Channel.CLI, path.name, path=path), dev_settings, Validator(dev_settings))
    assert not facts.javascript, facts


XFA_TEMPLATE = ('<template xmlns="http://www.xfa.org/schema/xfa-template/3.3/"><subform name="form1">'
                '<draw name="mark"><value><text>TỐI MẬT</text></value></draw></subform></template>').encode()


@pytest.mark.parametrize("dynamic", [True, False])
def test_an_xfa_form_is_not_released(dynamic, tmp_path, pipeline):
    """Adobe Reader draws the form from its XML ("TỐI MẬT" here), the page says only that Adobe Reader is needed."""
    objs = _objects("link", b"/S /GoTo /D [3 0 R /Fit]")
    objs[4] = stream(b"BT /F1 12 Tf 72 780 Td (Please wait... this document requires Adobe Reader) Tj ET")
    objs[1] = b"<< /Type /Catalog /Pages 2 0 R /AcroForm 7 0 R " + (b"/NeedsRendering true" if dynamic else b"") + b" >>"
    objs[7] = b"<< /Fields [8 0 R] /DA (/Helv 0 Tf 0 g) /XFA [(template) 11 0 R] >>"
    objs[11] = stream(XFA_TEMPLATE)
    path = write_pdf(tmp_path / "xfa.pdf", objs)
    for channel in (Channel.SMTP, Channel.CLI):
        res = pipeline.check(Document(channel, path.name, path=path))
        assert res.outcome is Outcome.REJECT, res
        assert any(r.code == "DOCUMENT_UNREADABLE" and "XFA" in r.args.get("detail", "") for r in res.decision.reasons), res


RENDITION_SCRIPT = b"/S /Rendition /OP 4 /JS " + SCRIPT  # a rendition action's script: no name /JavaScript


@pytest.mark.skipif(shutil.which("qpdf") is None, reason="qpdf (make deps) not installed")
@pytest.mark.parametrize("where", WHERE + ("bookmark",))
@pytest.mark.parametrize("how", ["plain", "object-stream", "escaped"])
def test_a_rendition_actions_script_is_javascript(where, how, tmp_path, dev_settings, pipeline):
    """/S /Rendition with /JS runs the script as /S /JavaScript would, and carries no /JavaScript for the raw
    search to find: it was signed before."""
    action = RENDITION_SCRIPT.replace(b"/S /Rendition", b"/#53 /Renditio#6e") if how == "escaped" else RENDITION_SCRIPT
    objs = _objects("page-open" if where == "bookmark" else where, action)
    if where == "bookmark":
        objs[3] = objs[3].replace(b"/AA << /O 9 0 R >>", b"")
        objs[1] = objs[1].replace(b"/AcroForm", b"/Outlines 11 0 R /AcroForm")
        objs[11] = b"<< /Type /Outlines /First 12 0 R /Last 13 0 R /Count 2 >>"
        objs[12] = b"<< /Title (Muc 1) /Parent 11 0 R /Next 13 0 R /Dest [3 0 R /Fit] >>"
        objs[13] = b"<< /Title (Muc 2) /Parent 11 0 R /Prev 12 0 R /A 9 0 R >>"
    path = write_pdf(tmp_path / f"rendition-{where}.pdf", objs)
    if how == "object-stream":
        path = _compressed(path, tmp_path / f"rendition-{where}-os.pdf")
    assert not hints.has_script(path.read_bytes())
    facts = inspect(Document(Channel.CLI, path.name, path=path), dev_settings, Validator(dev_settings))
    assert facts.javascript and not facts.broken, facts
    res = pipeline.check(Document(Channel.SMTP, path.name, path=path))
    assert "PDF_JAVASCRIPT" in {r.code for r in res.decision.reasons}, res


MEDIA = {  # an annotation or an action a viewer plays: what it shows or sounds is in no page
    "screen": (b"/Subtype /Screen", None),
    "sound-annotation": (b"/Subtype /Sound /Sound 14 0 R", None),
    "movie": (b"/Subtype /Movie /Movie << /F (clip.mpg) >>", None),
    "rich-media": (b"/Subtype /RichMedia /RichMediaContent << >>", None),
    "3d": (b"/Subtype /3D /3DD 14 0 R", None),
    "3d-indirect-subtype": (b"/Subtype 15 0 R /3DD 14 0 R", b"/3D"),
    "sound-action": (None, b"<< /S /Sound /Sound 14 0 R >>"),
    "rendition-action": (None, b"<< /S /Rendition /OP 0 /AN 8 0 R /R << /S /MR /C << /S /MCD /D << /F (a.mp4) >> >> >> >>"),
    "3d-view-action": (None, b"<< /S /GoTo3DView /TA 8 0 R /V /F >>"),
    "escaped-next": (None, b"<< /S /GoTo /D [3 0 R /Fit] /Next [<< /#53 /#53ound /Sound 14 0 R >>] >>"),
}


@pytest.mark.parametrize("kind", MEDIA)
def test_media_a_viewer_plays_is_not_released(kind, tmp_path, pipeline):
    """A video, a sound or a 3D model may show or say "TỐI MẬT" where no page does: not read, so refused
    (DOCUMENT_UNREADABLE), at the doors and in the CLI's dry run."""
    annot, action = MEDIA[kind]
    objs = _objects("link", b"/S /GoTo /D [3 0 R /Fit]")
    objs[14] = stream(b"\x00" * 64, b"/Type /Sound /R 8000 /C 1 /B 8 /E /Raw ")
    if annot is not None:
        objs[10] = b"<< /Type /Annot " + annot + b" /Rect [72 600 200 620] /AP << /N 16 0 R >> >>"
        objs[16] = stream(b"", b"/Type /XObject /Subtype /Form /BBox [0 0 128 20] ")
    if action is not None:
        objs[3] = objs[3].replace(b"/Resources", b"/AA << /O 9 0 R >> /Resources")
        objs[9] = action
    if kind == "3d-indirect-subtype":
        objs[15] = b"/3D"
    path = write_pdf(tmp_path / f"{kind}.pdf", objs)
    for channel in (Channel.SMTP, Channel.PORTAL, Channel.CLI):
        res = pipeline.check(Document(channel, path.name, path=path))
        assert res.outcome is Outcome.REJECT, (channel, res.decision)
        assert any(r.code == "DOCUMENT_UNREADABLE" and "media" in r.args.get("detail", "")
                   for r in res.decision.reasons), res.decision


def test_links_and_actions_that_play_nothing_are_signed(tmp_path, pipeline):
    """Go-to, URI and hide actions, a chain of them, a bookmark: no media, no script: signed."""
    objs = _objects("link", b"/S /URI /URI (https://example.gov.vn/) /Next [<< /S /GoTo /D [3 0 R /Fit] >> "
                            b"<< /S /Hide /T 8 0 R /H false >>]")
    objs[1] = objs[1].replace(b"/AcroForm", b"/Outlines 11 0 R /OpenAction [3 0 R /Fit] /AcroForm")
    objs[11] = b"<< /Type /Outlines /First 12 0 R /Last 12 0 R /Count 1 >>"
    objs[12] = b"<< /Title (Muc 1) /Parent 11 0 R /A 9 0 R >>"
    path = write_pdf(tmp_path / "links.pdf", objs)
    assert pipeline.check(Document(Channel.SMTP, path.name, path=path)).outcome is Outcome.SIGN


@pytest.mark.parametrize("key", [b"/Alternates", b"/Alternate#73"])
def test_an_image_printed_other_than_shown_is_not_released(key, tmp_path, pipeline):
    """An image's /Alternates names another image Acrobat prints (/DefaultForPrinting): the page shows a blank
    picture, the paper "TỐI MẬT". Not read, so refused (DOCUMENT_UNREADABLE); it was signed before."""
    gray = b"/Type /XObject /Subtype /Image /Width 8 /Height 8 /ColorSpace /DeviceGray /BitsPerComponent 8 "
    objs = _objects("link", b"/S /GoTo /D [3 0 R /Fit]")
    objs[3] = objs[3].replace(b"/Font << /F1 5 0 R >>", b"/Font << /F1 5 0 R >> /XObject << /Im1 11 0 R >>")
    objs[4] = stream(b"q 200 0 0 50 72 600 cm /Im1 Do Q BT /F1 12 Tf 72 780 Td (UBND TINH - Cong van so 12/UBND) Tj ET")
    objs[11] = stream(b"\xff" * 64, gray + key + b" [<< /Image 12 0 R /DefaultForPrinting true >>] ")
    objs[12] = stream(b"\x00" * 64, gray)
    path = write_pdf(tmp_path / "alternates.pdf", objs)
    for channel in (Channel.SMTP, Channel.FOLDER):
        res = pipeline.check(Document(channel, path.name, path=path))
        assert res.outcome is Outcome.REJECT, res.decision
        assert any(r.code == "DOCUMENT_UNREADABLE" and "alternates" in r.args.get("detail", "")
                   for r in res.decision.reasons), res.decision
