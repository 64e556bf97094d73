"""SVG read as drawn: a stamp given as paths, in an SVG file or in an <svg> inside a mail's HTML body.

The text reader reads an SVG's <text>; "TỐI MẬT" drawn as the outlines of its letters has no text, and an .svg
attachment or an HTML body with such an <svg> was signed (CAdES) and sent. Now every SVG, and every <svg> of
HTML, is drawn by librsvg as a PDF and read like one (outlines by OCR). The premise is checked with another
renderer: LibreOffice draws the same file and Tesseract reads the mark off its picture.
"""

from __future__ import annotations

import email.policy
import smtplib
import subprocess
from email.message import EmailMessage

import pytest

import office_samples as samples
from office_samples import outlines
from gateway.engine import Engine
from gateway.model import Channel, Document, Outcome
from gateway.pipeline import Pipeline
from smtp_support import Gateway, loop  # noqa: F401 - loop is a fixture

pytestmark = pytest.mark.hsm


@pytest.fixture(scope="module")
def pipeline(dev_settings):
    with Pipeline(dev_settings) as p:
        yield p


def test_libreoffice_shows_the_outlines_as_the_mark(tmp_path):
    svg = tmp_path / "stamp.svg"
    svg.write_text(outlines("TỐI MẬT"))
    samples.convert([svg], "png", tmp_path / "png", samples.shared_profile())
    seen = subprocess.run(["tesseract", str(tmp_path / "png" / "stamp.png"), "-", "-l", "vie"],
                          capture_output=True, text=True, check=True).stdout
    assert "TỐI MẬT" in seen, seen
    assert "TỐI" not in svg.read_text()  # no text for a text reader to find


def test_an_svg_stamp_in_outlines_is_read(tmp_path, pipeline):
    """As an attachment (the portal and the folder read it the same way: one reader serves every door)."""
    path = tmp_path / "stamp.svg"
    path.write_text(outlines("TỐI MẬT"))
    res = pipeline.check(Document(Channel.SMTP, path.name, path=path))
    assert res.outcome is Outcome.BLOCK, res.decision


def test_an_svg_without_a_mark_is_signed(tmp_path, pipeline):
    """A logo: shapes and the agency's name in outlines: signed."""
    path = tmp_path / "logo.svg"
    path.write_text(outlines("UBND TỈNH", fill="#003399").replace('<rect', '<circle cx="0" cy="0" r="300" fill="red"/><rect', 1))
    assert pipeline.check(Document(Channel.SMTP, path.name, path=path)).outcome is Outcome.SIGN


def test_an_svg_that_cannot_be_drawn_is_not_released(tmp_path, pipeline, monkeypatch):
    from gateway.inspect import svgdraw

    path = tmp_path / "stamp.svg"
    path.write_text(outlines("THÔNG BÁO"))
    monkeypatch.setattr(svgdraw, "PROGRAM", "rsvg-convert-absent")  # as on a machine without librsvg2-bin
    res = pipeline.check(Document(Channel.SMTP, path.name, path=path))
    assert res.outcome is Outcome.REJECT and "DOCUMENT_UNREADABLE" in {r.code for r in res.decision.reasons}


def test_inline_svg_fragments_are_made_standalone():
    from gateway.inspect import svgdraw

    html = ('<p>x</p><svg width="10"><svg><path d="M0 0"/></svg><use xlink:href="#a"/></svg><b>y</b>'
            '<SVG viewBox="0 0 1 1"/><svg><circle r="1"/>')
    got = [f.decode() for f in svgdraw.fragments(html)]
    assert got == ['<svg width="10" xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink">'
                   '<svg><path d="M0 0"/></svg><use xlink:href="#a"/></svg>',
                   '<svg xmlns="http://www.w3.org/2000/svg"><circle r="1"/></svg>']


@pytest.fixture(scope="module")
def engine(dev_settings):
    with Engine(dev_settings, workers=1) as eng:
        yield eng


def _html_mail(svg: str) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "van.thu@so-a.gov.vn", "nhan@so-b.gov.vn", "Thông báo"
    msg.set_content("Kính gửi Sở B.\n")
    msg.add_alternative(f"<html><body><p>Kính gửi Sở B.</p>{svg}</body></html>", subtype="html")
    return msg.as_bytes(policy=email.policy.SMTP)


def test_the_mail_door_refuses_an_html_body_with_an_svg_stamp(loop, dev_settings, engine, tmp_path):
    """An <svg> in the HTML body (a mail client draws it in place): 550, nothing reaches the next hop; the
    same body with an <svg> logo is relayed."""
    gw = Gateway(loop, dev_settings, engine, tmp_path / "sink")
    try:
        with pytest.raises(smtplib.SMTPDataError) as ei:
            with smtplib.SMTP("127.0.0.1", gw.port, timeout=60) as c:
                c.sendmail("van.thu@so-a.gov.vn", ["nhan@so-b.gov.vn"], _html_mail(outlines("TỐI MẬT")))
        assert ei.value.smtp_code == 550 and b"SECRET_MARKED" in ei.value.smtp_error
        assert gw.sink.messages() == []
        with smtplib.SMTP("127.0.0.1", gw.port, timeout=60) as c:
            c.sendmail("van.thu@so-a.gov.vn", ["nhan@so-b.gov.vn"], _html_mail(outlines("UBND TỈNH")))
        assert len(gw.sink.messages()) == 1
    finally:
        gw.close()


def test_an_svg_picture_in_a_word_document_is_read_as_drawn(tmp_path, pipeline):
    """Word 2016 and later draw a picture's SVG (`asvg:svgBlip`), not its PNG fallback: the SVG part was read as
    XML text only, and a stamp in outlines there was signed. Now it is a member, drawn like any SVG."""
    marked = samples.docx_with_svg(tmp_path / "marked.docx", outlines("TỐI MẬT"))
    res = pipeline.check(Document(Channel.SMTP, marked.name, path=marked))
    assert res.outcome is Outcome.BLOCK, res.decision


def test_text_in_an_svg_font_is_not_released(tmp_path, pipeline):
    """An SVG font's glyphs are paths of its own: Safari (iPhone mail) draws "abc dea" set in one whose a, b, c,
    d, e are the outlines of T, Ố, I, M, Ậ as "TỐI MẬT"; librsvg draws no SVG font. Not read: refused."""
    from fontTools.pens.svgPathPen import SVGPathPen
    from fontTools.ttLib import TTFont

    font = TTFont(samples.BOLD)
    glyphs, cmap = font.getGlyphSet(), font.getBestCmap()
    defs = ""
    for letter, drawn in samples.LIE.items():
        pen = SVGPathPen(glyphs)
        glyphs[cmap[ord(drawn)]].draw(pen)
        defs += f'<glyph unicode="{letter}" horiz-adv-x="{glyphs[cmap[ord(drawn)]].width}" d="{pen.getCommands()}"/>'
    path = tmp_path / "font.svg"
    path.write_text('<svg xmlns="http://www.w3.org/2000/svg" width="600" height="200"><defs><font id="f" '
                    'horiz-adv-x="1400"><font-face font-family="Lie" units-per-em="2048"/>' + defs + '</font></defs>'
                    f'<text x="10" y="120" font-family="Lie" font-size="80">{samples.COVER}</text></svg>')
    res = pipeline.check(Document(Channel.SMTP, path.name, path=path))
    assert res.outcome is Outcome.REJECT, res.decision
    assert any(r.code == "DOCUMENT_UNREADABLE" and "SVG font" in r.args.get("detail", "") for r in res.decision.reasons)
