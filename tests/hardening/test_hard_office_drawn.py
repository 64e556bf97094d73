"""Office documents whose text is not what a person sees: embedded fonts, and pictures inside one-file XML.

A font embedded in a .docx or .odt draws what it likes for each letter: "abc dea" set in a font whose a, b, c,
d, e draw T, Ố, I, M, Ậ shows "TỐI MẬT" in Word and LibreOffice. The text was read, the fonts skipped, and
the document signed (CAdES) and sent. Now a package with embedded fonts is also drawn by LibreOffice and the
PDF read like any PDF (its lying font by eye).

A one-file ODF (.fodt) written by LibreOffice keeps a picture as base64 in office:binary-data, wrapped in short
lines: the check for "binary data" (a base64 line over 2,000 characters) missed it, and a picture of a
"TỐI MẬT" stamp was signed. Now any binary-data element is found, LibreOffice packages the file, and the
package is read (pictures by OCR).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

import office_samples as samples
from gateway.model import Channel, Document, Outcome
from gateway.pipeline import Pipeline
from gateway.settings import load_settings

pytestmark = pytest.mark.skipif(samples.soffice() is None, reason="LibreOffice not installed (make test installs it)")


@pytest.fixture(scope="module")
def pipeline(dev_settings):
    with Pipeline(dev_settings) as p:
        yield p


def _check(pipeline, path: Path, channel: Channel = Channel.SMTP):
    return pipeline.check(Document(channel, path.name, path=path))


@pytest.fixture(scope="module")
def lying(tmp_path_factory):
    root = tmp_path_factory.mktemp("fonts")
    data = samples.font("KysoLie", samples.LIE)
    return {"docx": samples.docx_with_font(root / "lie.docx", "KysoLie", data),
            "odt": samples.odt_with_font(root / "lie.odt", "KysoLie", data)}


def test_libreoffice_draws_the_lying_font_as_the_mark(lying, tmp_path):
    """The premise, seen by independent readers: LibreOffice's drawing of the .docx says "abc dea" in its text
    layer (pdftotext) and shows "TỐI MẬT" (poppler's picture, read by Tesseract)."""
    samples.convert([lying["docx"]], "pdf", tmp_path, samples.shared_profile())
    pdf = tmp_path / "lie.pdf"
    layer = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert samples.COVER in layer and "TỐI" not in layer
    subprocess.run(["pdftoppm", "-r", "150", "-gray", "-singlefile", str(pdf), str(tmp_path / "page")], check=True)
    seen = subprocess.run(["tesseract", str(tmp_path / "page.pgm"), "-", "-l", "vie"], capture_output=True,
                          text=True, check=True).stdout
    assert "TỐI MẬT" in seen, seen


def test_a_lying_embedded_font_is_read_as_drawn(lying, pipeline):
    """The .odt here, the .docx through the CLI below."""
    res = _check(pipeline, lying["odt"])
    assert res.outcome is Outcome.BLOCK, res.decision
    assert "SECRET_MARKED" in {r.code for r in res.decision.reasons}, res.decision


def test_a_lying_embedded_font_through_the_cli(lying, dev_settings, tmp_path, monkeypatch, capsys):
    from gateway.cli import main

    monkeypatch.delenv("KYSO_CONFIG", raising=False)
    monkeypatch.setenv("GATEWAY_VAR_DIR", str(dev_settings.var_dir))
    monkeypatch.setenv("GATEWAY_AUDIT__PATH", str(tmp_path / "audit.sqlite3"))
    assert main(["check", "--channel", "smtp", str(lying["docx"])]) == 3  # BLOCK
    assert "TỐI MẬT" in capsys.readouterr().out


def test_an_honest_embedded_font_is_signed(tmp_path, pipeline):
    """A font embedded as it is, its letters its own: the drawing says what the text says; signed."""
    path = samples.docx_with_font(tmp_path / "ok.docx", "KysoThat", samples.font("KysoThat"), "Kính gửi Sở Tư pháp")
    res = _check(pipeline, path)
    assert res.outcome is Outcome.SIGN, res.decision


def test_without_libreoffice_embedded_fonts_are_not_released(lying, tmp_path):
    settings = load_settings(var_dir=tmp_path, office={"soffice": ""})
    with Pipeline(settings) as p:
        res = _check(p, lying["odt"])
    assert res.outcome is Outcome.REJECT, res.decision
    assert any(r.code == "DOCUMENT_UNREADABLE" and "embedded fonts" in r.args.get("detail", "")
               for r in res.decision.reasons), res.decision


@pytest.fixture(scope="module")
def flat(tmp_path_factory):
    """LibreOffice's one-file XML of a .docx with a picture of a stamp (marked) or of a plain heading."""
    root = tmp_path_factory.mktemp("flat")
    profile = samples.shared_profile()
    marked = samples.docx_with_picture(root / "marked.docx", "TỐI MẬT")
    plain = samples.docx_with_picture(root / "plain.docx", "THÔNG BÁO")
    samples.convert([marked, plain], "fodt", root / "fodt", profile)
    samples.convert([plain], "xml:MS Word 2003 XML", root / "xml", profile)
    return root


def test_a_picture_in_a_one_file_document_is_read(flat, pipeline):
    """A .fodt (Word 2003 XML goes the same way: below, a plain one signs)."""
    path = flat / "fodt/marked.fodt"
    assert b"binary-data" in path.read_bytes() or b"binData" in path.read_bytes()
    res = _check(pipeline, path)
    assert res.outcome is Outcome.BLOCK, res.decision


def test_a_plain_picture_in_a_one_file_document_is_signed(flat, pipeline):
    """Word 2003 XML with a picture was refused before (OFFICE_EMBEDDED_UNREAD); read now, it is signed."""
    res = _check(pipeline, flat / "xml/plain.xml")
    assert res.outcome is Outcome.SIGN, res.decision


def test_without_libreoffice_a_picture_in_a_one_file_document_is_not_released(flat, tmp_path):
    settings = load_settings(var_dir=tmp_path, office={"soffice": ""})
    with Pipeline(settings) as p:
        res = _check(p, flat / "fodt/plain.fodt")
    assert res.outcome is Outcome.REJECT and "OFFICE_EMBEDDED_UNREAD" in {r.code for r in res.decision.reasons}


def test_a_presentations_embedded_font_is_not_released(tmp_path, pipeline):
    """PowerPoint embeds fonts as Embedded OpenType (.fntdata), which LibreOffice here does not load: it would
    draw another font where PowerPoint draws the embedded one. Not read completely: refused."""
    import zipfile

    from pptx import Presentation

    prs = Presentation()
    slide = prs.slides.add_slide(prs.slide_layouts[5])
    slide.shapes.title.text = samples.COVER
    plain = tmp_path / "plain.pptx"
    prs.save(plain)
    assert _check(pipeline, plain).outcome is Outcome.SIGN
    path = tmp_path / "fonts.pptx"
    with zipfile.ZipFile(plain) as zin, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            part = zin.read(info.filename)
            if info.filename == "[Content_Types].xml":
                part = part.replace(b"</Types>", b'<Default Extension="fntdata" ContentType="application/x-fontdata"/></Types>')
            zout.writestr(info, part)
        zout.writestr("ppt/fonts/font1.fntdata", samples.font("KysoLie", samples.LIE))
    res = _check(pipeline, path)
    assert res.outcome is Outcome.REJECT, res.decision
    assert any(r.code == "DOCUMENT_UNREADABLE" and "PowerPoint" in r.args.get("detail", "")
               for r in res.decision.reasons), res.decision


# --- number formats that write letters around a cell's text ------------------------------------------------

TEXT_FORMATS = {"quoted": '"TỐI M"@', "escaped": "\\T\\Ố\\I\\ \\M@", "fourth-section": '0;-0;0;"TỐI M"@'}


def _sheet(path: Path, fmt: str, value: str = "ẬT") -> Path:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws["A1"] = "UBND TỈNH - Báo cáo quý III"
    ws["B3"] = value
    ws["B3"].number_format = fmt
    ws["C3"] = 1250000
    ws["C3"].number_format = '#,##0 "đồng"'
    wb.save(path)
    return path


def test_libreoffice_shows_a_cell_through_its_text_format(tmp_path):
    path = _sheet(tmp_path / "fmt.xlsx", TEXT_FORMATS["quoted"])
    samples.convert([path], "pdf", tmp_path, samples.shared_profile())
    shown = subprocess.run(["pdftotext", str(tmp_path / "fmt.pdf"), "-"], capture_output=True, text=True, check=True).stdout
    assert "TỐI MẬT" in shown, shown


@pytest.mark.parametrize("fmt", TEXT_FORMATS)
def test_a_cell_shown_through_a_text_format_is_read_as_shown(fmt, tmp_path, pipeline):
    """A cell "ẬT" under the format `"TỐI M"@` shows "TỐI MẬT": the cell and the format's literal were read
    apart, and the workbook signed."""
    res = _check(pipeline, _sheet(tmp_path / f"{fmt}.xlsx", TEXT_FORMATS[fmt]))
    assert res.outcome is Outcome.BLOCK, res.decision


def test_an_odf_text_style_is_read_as_shown(tmp_path, pipeline):
    """The same through LibreOffice's .ods, made as a sender would: the cell's own text "ẬT" (LibreOffice writes
    what it shows, "TỐI MẬT"), no thumbnail."""
    import zipfile

    samples.convert([_sheet(tmp_path / "fmt.xlsx", TEXT_FORMATS["quoted"])], "ods", tmp_path / "ods",
                    samples.shared_profile())
    src, path = tmp_path / "ods" / "fmt.ods", tmp_path / "crafted.ods"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            if info.filename.startswith("Thumbnails/"):
                continue
            data = zin.read(info.filename)
            if info.filename == "content.xml":
                assert "<text:p>TỐI MẬT</text:p>".encode() in data
                data = data.replace("<text:p>TỐI MẬT</text:p>".encode(), "<text:p>ẬT</text:p>".encode())
            elif info.filename == "META-INF/manifest.xml":
                data = data.replace(b'<manifest:file-entry manifest:full-path="Thumbnails/thumbnail.png" '
                                    b'manifest:media-type="image/png"/>', b"")
            zout.writestr(info, data)
    res = _check(pipeline, path)
    assert res.outcome is Outcome.BLOCK, res.decision


def test_formats_that_write_no_mark_are_signed(tmp_path, pipeline):
    path = _sheet(tmp_path / "plain.xlsx", '"Số: "@', value="12/UBND-VP")
    assert _check(pipeline, path).outcome is Outcome.SIGN


# --- EMF and WMF pictures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def metafiles(tmp_path_factory):
    root = tmp_path_factory.mktemp("metafiles")
    return {**samples.metafiles(root, {"plain": "UBND TỈNH"}, "emf"),
            **samples.metafiles(root, {"marked": "TỐI MẬT"}, "wmf")}


def test_a_documents_emf_and_wmf_pictures_are_read(metafiles, tmp_path, pipeline):
    """A .docx holding EMF or WMF pictures (as Word keeps an embedded workbook's or equation's preview): refused
    before whatever they showed; now drawn in one LibreOffice run, the plain one signs, the marked one blocks."""
    plain = samples.docx_with_metafiles(tmp_path / "plain.docx", [metafiles["plain"]])
    assert _check(pipeline, plain).outcome is Outcome.SIGN
    marked = samples.docx_with_metafiles(tmp_path / "marked.docx", [metafiles["plain"], metafiles["marked"]])
    res = _check(pipeline, marked)
    assert res.outcome is Outcome.BLOCK, res.decision


def test_without_libreoffice_emf_and_wmf_pictures_are_not_released(metafiles, tmp_path):
    """In a document, and alone (an attachment, a picture of an RTF: drawn the same way, one by one)."""
    settings = load_settings(var_dir=tmp_path, office={"soffice": ""})
    with Pipeline(settings) as p:
        res = _check(p, samples.docx_with_metafiles(tmp_path / "plain.docx", [metafiles["plain"]]))
        assert res.outcome is Outcome.REJECT and "OFFICE_EMBEDDED_UNREAD" in {r.code for r in res.decision.reasons}
        res = _check(p, metafiles["marked"])
        assert res.outcome is Outcome.REJECT, res.decision
        assert any(r.code == "DOCUMENT_UNREADABLE" and "EMF/WMF" in r.args.get("detail", "")
                   for r in res.decision.reasons), res.decision


# --- freeform shapes and ink -----------------------------------------------------------------------------------


def test_libreoffice_shows_freeform_letters_as_the_mark(tmp_path):
    path = samples.pptx_with_freeforms(tmp_path / "shapes.pptx", "TỐI MẬT")
    samples.convert([path], "pdf", tmp_path, samples.shared_profile())
    layer = subprocess.run(["pdftotext", str(tmp_path / "shapes.pdf"), "-"], capture_output=True, text=True).stdout
    assert "TỐI" not in layer
    subprocess.run(["pdftoppm", "-r", "100", "-gray", "-singlefile", str(tmp_path / "shapes.pdf"), str(tmp_path / "p")],
                   check=True)
    seen = subprocess.run(["tesseract", str(tmp_path / "p.pgm"), "-", "-l", "vie"], capture_output=True,
                          text=True, check=True).stdout
    assert "TỐI MẬT" in seen, seen


def test_letters_drawn_as_freeform_shapes_are_read(tmp_path, pipeline):
    """A slide whose "TỐI MẬT" is freeform shapes (no text): signed before; now the document is drawn and read,
    also as LibreOffice keeps it in an .odp (custom shapes of a non-primitive path; its thumbnail, which showed
    the mark, left out as a sender would). The same construction writing the agency's name signs."""
    import zipfile

    marked = samples.pptx_with_freeforms(tmp_path / "marked.pptx", "TỐI MẬT")
    res = _check(pipeline, marked)
    assert res.outcome is Outcome.BLOCK, res.decision
    samples.convert([marked], "odp", tmp_path / "odp", samples.shared_profile())
    odp = tmp_path / "marked.odp"
    with zipfile.ZipFile(tmp_path / "odp" / "marked.odp") as zin, zipfile.ZipFile(odp, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            if not info.filename.startswith("Thumbnails/"):
                data = zin.read(info.filename)
                if info.filename == "META-INF/manifest.xml":
                    data = data.replace(b'<manifest:file-entry manifest:full-path="Thumbnails/thumbnail.png" '
                                        b'manifest:media-type="image/png"/>', b"")
                zout.writestr(info, data)
    assert b"non-primitive" in zipfile.ZipFile(odp).read("content.xml")
    res = _check(pipeline, odp)
    assert res.outcome is Outcome.BLOCK, res.decision
    assert _check(pipeline, samples.pptx_with_freeforms(tmp_path / "plain.pptx", "UBND")).outcome is Outcome.SIGN


def test_handwriting_is_not_released(tmp_path, pipeline):
    """Ink (InkML traces) Office draws as handwriting, whatever its picture fallback shows: not read."""
    import zipfile

    from pptx import Presentation

    prs = Presentation()
    prs.slides.add_slide(prs.slide_layouts[6])
    plain = tmp_path / "plain.pptx"
    prs.save(plain)
    path = tmp_path / "ink.pptx"
    with zipfile.ZipFile(plain) as zin, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename == "[Content_Types].xml":
                data = data.replace(b"</Types>", b'<Override PartName="/ppt/ink/ink1.xml" ContentType="application/'
                                                 b'inkml+xml"/></Types>')
            zout.writestr(info, data)
        zout.writestr("ppt/ink/ink1.xml", '<inkml:ink xmlns:inkml="http://www.w3.org/2003/InkML"><inkml:trace>'
                                          "0 0, 10 10, 20 0</inkml:trace></inkml:ink>")
    res = _check(pipeline, path)
    assert res.outcome is Outcome.REJECT, res.decision
    assert any(r.code == "DOCUMENT_UNREADABLE" and "ink" in r.args.get("detail", "") for r in res.decision.reasons)


def test_a_package_already_refused_is_not_handed_to_libreoffice(lying, tmp_path, pipeline):
    """Macros refuse the document (OFFICE_MACROS) before anything is drawn: LibreOffice never opens a file
    with code in it, and the drawing could not release it anyway."""
    import zipfile

    path = tmp_path / "macros.docx"
    with zipfile.ZipFile(lying["docx"]) as zin, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            zout.writestr(info, zin.read(info.filename))
        zout.writestr("word/vbaProject.bin", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504)
    res = _check(pipeline, path)
    assert res.outcome is Outcome.REJECT, res.decision
    assert {r.code for r in res.decision.reasons} >= {"OFFICE_MACROS"}
    assert "SECRET_MARKED" not in {r.code for r in res.decision.reasons}  # the drawing was not made


def test_a_damaged_picture_part_is_refused_with_its_reason(metafiles, tmp_path, pipeline):
    """An EMF part whose bytes do not match their CRC (its head reads, the rest does not): refused as a part
    not read (OFFICE_EMBEDDED_UNREAD), not an unexpected error refused after a retry."""
    import zipfile

    padded = tmp_path / "padded.emf"  # long enough that the sniffed head does not reach the damage
    padded.write_bytes(metafiles["plain"].read_bytes() + b"\0" * 65536)
    src = samples.docx_with_metafiles(tmp_path / "plain.docx", [padded])
    path = tmp_path / "damaged.docx"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(path, "w") as zout:
        for info in zin.infolist():  # stored: the picture's bytes lie in the file as they are
            zout.writestr(zipfile.ZipInfo(info.filename, info.date_time), zin.read(info.filename))
    data = bytearray(path.read_bytes())
    at = data.find(metafiles["plain"].read_bytes()[:600]) + 40000
    data[at] ^= 0xFF
    path.write_bytes(bytes(data))
    res = _check(pipeline, path)
    assert res.outcome is Outcome.REJECT, res.decision
    assert "OFFICE_EMBEDDED_UNREAD" in {r.code for r in res.decision.reasons}, res.decision
