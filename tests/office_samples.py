"""Office documents made by real tools for the office reader's tests: each variant carries a MẬT / TỐI MẬT
stamp in one place only (header, footer, text box, comment, footnote, hidden text, a tracked deletion, a
property, a hidden sheet, a sheet name, a cell comment, slide notes ...), and "clean" variants carry only
the words that look like marks and are not ("bí mật", "bảo mật", "mật khẩu", "GIẢI MẬT").

The sources are flat ODF XML written here; LibreOffice (headless, Debian) converts them to .odt/.docx/.doc/
.rtf, .ods/.xlsx/.xls and .odp/.pptx/.ppt in one run per target format. `build(dir)` returns
{(variant, ext): path}. python-docx, openpyxl and python-pptx make a few more (see `library_samples`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import zipfile
from pathlib import Path

NS = (
    'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
    'xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0" '
    'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
    'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
    'xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0" '
    'xmlns:fo="urn:oasis:names:tc:opendocument:xmlns:xsl-fo-compatible:1.0" '
    'xmlns:svg="urn:oasis:names:tc:opendocument:xmlns:svg-compatible:1.0" '
    'xmlns:dc="http://purl.org/dc/elements/1.1/" '
    'xmlns:meta="urn:oasis:names:tc:opendocument:xmlns:meta:1.0" '
    'xmlns:presentation="urn:oasis:names:tc:opendocument:xmlns:presentation:1.0" '
)
BODY = "Kính gửi: Sở Tư pháp tỉnh. Báo cáo tình hình thực hiện nhiệm vụ quý III."
NEGATIVE = "Tài liệu không chứa bí mật nhà nước; bảo mật thông tin; đổi mật khẩu định kỳ; văn bản đã GIẢI MẬT."


def _p(text: str) -> str:
    return f"<text:p>{text}</text:p>"


def _fodt(body: str = "", header: str = "", footer: str = "", title: str = "", custom: str = "",
          extra_styles: str = "", tracked: str = "") -> str:
    meta = ""
    if title or custom:
        meta = "<office:meta>"
        meta += f"<dc:title>{title}</dc:title>" if title else ""
        meta += f'<meta:user-defined meta:name="Độ mật">{custom}</meta:user-defined>' if custom else ""
        meta += "</office:meta>"
    page = ""
    if header or footer:
        page = (
            '<office:master-styles><style:master-page style:name="Standard" style:page-layout-name="pm1">'
            + (f"<style:header>{_p(header)}</style:header>" if header else "")
            + (f"<style:footer>{_p(footer)}</style:footer>" if footer else "")
            + "</style:master-page></office:master-styles>"
        )
        layout = ('<office:automatic-styles><style:page-layout style:name="pm1"><style:page-layout-properties/>'
                  "<style:header-style/><style:footer-style/></style:page-layout></office:automatic-styles>")
    else:
        layout = ""
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<office:document {NS} office:version="1.3" '
        'office:mimetype="application/vnd.oasis.opendocument.text">'
        f"{meta}<office:styles>{extra_styles}</office:styles>{layout}{page}"
        f"<office:body><office:text>{tracked}{_p(BODY)}{body}</office:text></office:body></office:document>"
    )


_HIDDEN_STYLE = ('<style:style style:name="Hidden" style:family="text">'
                 '<style:text-properties text:display="none"/></style:style>')
_FRAME = ('<text:p><draw:frame draw:name="Frame1" text:anchor-type="paragraph" svg:width="6cm" svg:height="2cm">'
          "<draw:text-box><text:p>{}</text:p></draw:text-box></draw:frame></text:p>")
_TRACKED = ('<text:tracked-changes><text:changed-region text:id="ct1"><text:deletion><office:change-info>'
            "<dc:creator>Reviewer</dc:creator><dc:date>2026-01-05T10:00:00</dc:date></office:change-info>"
            "<text:p>{}</text:p></text:deletion></text:changed-region></text:tracked-changes>")

TEXT_VARIANTS: dict[str, str] = {
    "body": _fodt(body=_p("TỐI MẬT")),
    "header": _fodt(header="MẬT"),
    "footer": _fodt(footer="TỐI MẬT"),
    "textbox": _fodt(body=_FRAME.format("TỐI MẬT")),
    "comment": _fodt(body="<text:p>Xem ý kiến<office:annotation><dc:creator>A</dc:creator>"
                          "<text:p>TỐI MẬT</text:p></office:annotation></text:p>"),
    "footnote": _fodt(body='<text:p>Căn cứ<text:note text:id="n1" text:note-class="footnote"><text:note-citation>1'
                           "</text:note-citation><text:note-body><text:p>MẬT</text:p></text:note-body></text:note></text:p>"),
    "endnote": _fodt(body='<text:p>Căn cứ<text:note text:id="n2" text:note-class="endnote"><text:note-citation>i'
                          "</text:note-citation><text:note-body><text:p>TỐI MẬT</text:p></text:note-body></text:note></text:p>"),
    "hidden": _fodt(body='<text:p>Nội dung <text:span text:style-name="Hidden">TỐI MẬT</text:span></text:p>',
                    extra_styles=_HIDDEN_STYLE),
    "deleted": _fodt(body='<text:p>Sau sửa đổi<text:change text:change-id="ct1"/></text:p>',
                     tracked=_TRACKED.format("TỐI MẬT")),
    "title": _fodt(title="TỐI MẬT"),
    "custom": _fodt(custom="TỐI MẬT"),
    "clean": _fodt(body=_p(NEGATIVE), header="Bảo mật thông tin", footer="Mật khẩu: đổi định kỳ",
                   title="Báo cáo đã giải mật"),
}


def _fods(sheets: list[tuple[str, list[str], bool]], header: str = "") -> str:
    styles = ('<office:automatic-styles><style:style style:name="hid" style:family="table">'
              '<style:table-properties table:display="false"/></style:style>'
              '<style:style style:name="vis" style:family="table"><style:table-properties table:display="true"/>'
              "</style:style></office:automatic-styles>")
    page = ""
    if header:
        page = ('<office:master-styles><style:master-page style:name="Default">'
                f"<style:header>{_p(header)}</style:header></style:master-page></office:master-styles>")
    tables = ""
    for name, cells, hidden in sheets:
        rows = "".join(f'<table:table-row><table:table-cell office:value-type="string">{c}</table:table-cell>'
                       "</table:table-row>" for c in cells)
        tables += f'<table:table table:name="{name}" table:style-name="{"hid" if hidden else "vis"}">{rows}</table:table>'
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<office:document {NS} office:version="1.3" '
        f'office:mimetype="application/vnd.oasis.opendocument.spreadsheet">{styles}{page}'
        f"<office:body><office:spreadsheet>{tables}</office:spreadsheet></office:body></office:document>"
    )


SHEET_VARIANTS: dict[str, str] = {
    "cell": _fods([("Dữ liệu", [_p("Số liệu"), _p("TỐI MẬT")], False)]),
    "hiddensheet": _fods([("Dữ liệu", [_p("Số liệu")], False), ("Ẩn", [_p("MẬT")], True)]),
    "sheetname": _fods([("Dữ liệu", [_p("Số liệu")], False), ("TỐI MẬT", [_p("1")], False)]),
    "cellcomment": _fods([("Dữ liệu", ["<office:annotation><dc:creator>A</dc:creator><text:p>TỐI MẬT</text:p>"
                                       "</office:annotation>" + _p("Số liệu")], False)]),
    "clean": _fods([("Dữ liệu", [_p(NEGATIVE), _p("Bảo mật")], False)]),
}


def _fodp(slide: str, notes: str = "") -> str:
    notes_xml = (f"<presentation:notes><draw:frame presentation:class=\"notes\" svg:width=\"16cm\" svg:height=\"8cm\" "
                 f'svg:x="2cm" svg:y="14cm"><draw:text-box>{_p(notes)}</draw:text-box></draw:frame></presentation:notes>'
                 if notes else "")
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<office:document {NS} office:version="1.3" '
        'office:mimetype="application/vnd.oasis.opendocument.presentation">'
        '<office:master-styles><style:master-page style:name="Default"/></office:master-styles>'
        '<office:body><office:presentation><draw:page draw:name="Trang1" draw:master-page-name="Default">'
        '<draw:frame svg:width="20cm" svg:height="3cm" svg:x="2cm" svg:y="2cm"><draw:text-box>'
        f"{_p(slide)}</draw:text-box></draw:frame>{notes_xml}</draw:page></office:presentation></office:body>"
        "</office:document>"
    )


SLIDE_VARIANTS: dict[str, str] = {
    "slide": _fodp("TỐI MẬT"),
    "notes": _fodp(BODY, notes="TỐI MẬT"),
    "clean": _fodp(NEGATIVE, notes="Bảo mật; mật khẩu"),
}

TARGETS = {
    "fodt": ("odt", "docx", "doc", "rtf"),
    "fods": ("ods", "xlsx", "xls"),
    "fodp": ("odp", "pptx", "ppt"),
}


def soffice() -> str | None:
    return shutil.which("soffice") or shutil.which("libreoffice")


def shared_profile() -> Path:
    """One LibreOffice profile for this test process: making a fresh one costs seconds per conversion."""
    import tempfile

    return Path(tempfile.gettempdir()) / f"kyso-test-lo-profile-{os.getpid()}"


def convert(sources: list[Path], ext: str, outdir: Path, profile: Path) -> None:
    outdir.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [soffice(), "--headless", "--norestore", f"-env:UserInstallation={profile.as_uri()}", "--convert-to", ext,
         "--outdir", str(outdir), *map(str, sources)],
        check=True, capture_output=True, timeout=300, env=dict(os.environ, SAL_USE_VCLPLUGIN="svp"),
    )


def build(root: Path) -> dict[tuple[str, str], Path]:
    """Every variant in every format; {(kind-variant, ext): path}. Needs LibreOffice."""
    src = root / "src"
    src.mkdir(parents=True, exist_ok=True)
    out: dict[tuple[str, str], Path] = {}
    groups = {"fodt": ("text", TEXT_VARIANTS), "fods": ("sheet", SHEET_VARIANTS), "fodp": ("slides", SLIDE_VARIANTS)}
    profile = (root / "lo-profile").resolve()
    for flat, (kind, variants) in groups.items():
        files = []
        for name, xml in variants.items():
            p = src / f"{kind}-{name}.{flat}"
            p.write_text(xml, encoding="utf-8")
            files.append(p)
            out[(f"{kind}-{name}", flat)] = p
        for ext in TARGETS[flat]:
            convert(files, ext, root / ext, profile)
            for p in files:
                made = root / ext / f"{p.stem}.{ext}"
                assert made.exists(), f"LibreOffice did not make {made.name}"
                out[(p.stem, ext)] = made
    return out


def strip_parts(path: Path, dest: Path, drop) -> Path:
    """A copy of an OOXML/ODF package without the parts `drop(name)` selects (e.g. a template's thumbnail)."""
    with zipfile.ZipFile(path) as zin, zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            if not drop(info.filename):
                zout.writestr(info, zin.read(info.filename))
    return dest


def library_samples(root: Path) -> dict[str, Path]:
    """Variants that the maintained Python libraries write directly (python-docx, openpyxl, python-pptx)."""
    import docx
    import openpyxl
    from openpyxl.comments import Comment
    from pptx import Presentation

    root.mkdir(parents=True, exist_ok=True)
    out: dict[str, Path] = {}
    no_thumb = lambda n: n.startswith("docProps/thumbnail")  # noqa: E731 - python-docx's template ships one

    def word(name, build_doc):
        d = docx.Document()
        d.add_paragraph(BODY)
        build_doc(d)
        raw = root / f"raw-{name}.docx"
        d.save(raw)
        out[name] = strip_parts(raw, root / f"{name}.docx", no_thumb)

    word("docx-comment", lambda d: d.add_comment(d.paragraphs[0].runs, text="TỐI MẬT", author="A"))
    word("docx-header", lambda d: setattr(d.sections[0].header.paragraphs[0], "text", "MẬT"))
    word("docx-footer", lambda d: setattr(d.sections[0].footer.paragraphs[0], "text", "TỐI MẬT"))
    word("docx-keywords", lambda d: setattr(d.core_properties, "keywords", "Tối mật"))
    word("docx-clean", lambda d: (d.add_paragraph(NEGATIVE), setattr(d.sections[0].header.paragraphs[0], "text", "Bảo mật")))

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Dữ liệu"
    ws["A1"] = "Số liệu"
    hidden = wb.create_sheet("Ẩn")
    hidden["B2"] = "TỐI MẬT"
    hidden.sheet_state = "veryHidden"
    wb.save(root / "xlsx-veryhidden.xlsx")
    out["xlsx-veryhidden"] = root / "xlsx-veryhidden.xlsx"

    wb = openpyxl.Workbook()
    ws = wb.active
    ws["A1"] = "Số liệu"
    ws["A1"].comment = Comment("TỐI MẬT", "A")
    wb.save(root / "xlsx-comment.xlsx")
    out["xlsx-comment"] = root / "xlsx-comment.xlsx"

    wb = openpyxl.Workbook()
    ws = wb.active
    ws["A1"] = "Số liệu"
    ws["A2"] = '="TỐI "&"MẬT"'  # a formula whose cached value is absent: its text is read from the formula
    wb.save(root / "xlsx-formula.xlsx")
    out["xlsx-formula"] = root / "xlsx-formula.xlsx"

    wb = openpyxl.Workbook()
    ws = wb.active
    ws["A1"] = NEGATIVE
    wb.save(root / "xlsx-clean.xlsx")
    out["xlsx-clean"] = root / "xlsx-clean.xlsx"

    prs = Presentation()
    slide = prs.slides.add_slide(prs.slide_layouts[1])
    slide.shapes.title.text = "Báo cáo quý III"
    slide.notes_slide.notes_text_frame.text = "TỐI MẬT"
    prs.save(root / "pptx-notes.pptx")
    out["pptx-notes"] = root / "pptx-notes.pptx"

    prs = Presentation()
    slide = prs.slides.add_slide(prs.slide_layouts[1])
    slide.shapes.title.text = NEGATIVE
    prs.save(root / "pptx-clean.pptx")
    out["pptx-clean"] = root / "pptx-clean.pptx"
    return out


# --- embedded fonts and pictures -------------------------------------------------------------------------

LIE = {"a": "T", "b": "\u1ed0", "c": "I", "d": "M", "e": "\u1eac"}  # "abc dea" drawn as "TỐI MẬT"
COVER = "abc dea"
BOLD = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"


def font(family: str, swap: dict[str, str] | None = None) -> bytes:
    """DejaVu Sans Bold renamed `family` (a font no machine has, so Word and LibreOffice draw with the
    embedded copy), its letters `swap`ped: each key drawn with the glyph of its value."""
    import io

    from fontTools.ttLib import TTFont

    f = TTFont(BOLD)
    best = f.getBestCmap()
    for table in f["cmap"].tables:
        if table.isUnicode():
            for k, v in (swap or {}).items():
                table.cmap[ord(k)] = best[ord(v)]
    for rec in f["name"].names:
        if rec.nameID in (1, 4, 6, 16):
            rec.string = family
    buf = io.BytesIO()
    f.save(buf)
    return buf.getvalue()


def docx_with_font(path: Path, family: str, data: bytes, text: str = COVER) -> Path:
    """A python-docx document whose second paragraph is set in `family`, embedded as Word embeds a font: an
    obfuscated part (ECMA-376 Part 2 §17.8.1: the first 32 bytes XORed with the reversed GUID key)."""
    import io
    import re
    import uuid

    from docx import Document
    from docx.shared import Pt

    d = Document()
    d.add_paragraph("UBND TỈNH - Công văn số 12/UBND")
    run = d.add_paragraph().add_run(text)
    run.font.name, run.font.size = family, Pt(28)
    buf = io.BytesIO()
    d.save(buf)
    guid = str(uuid.uuid4()).upper()
    key = bytes.fromhex(guid.replace("-", ""))[::-1]
    obfuscated = bytearray(data)
    for i in range(32):
        obfuscated[i] ^= key[i % 16]
    rels = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Relationships xmlns="http://schemas.'
            'openxmlformats.org/package/2006/relationships"><Relationship Id="rIdF1" Type="http://schemas.openxml'
            'formats.org/officeDocument/2006/relationships/font" Target="fonts/font1.odttf"/></Relationships>')
    with zipfile.ZipFile(buf) as zin, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            part = zin.read(info.filename).decode() if info.filename.endswith(".xml") else zin.read(info.filename)
            if info.filename == "word/fontTable.xml":
                if "xmlns:r=" not in part:
                    part = part.replace("<w:fonts ", '<w:fonts xmlns:r="http://schemas.openxmlformats.org/'
                                                   'officeDocument/2006/relationships" ', 1)
                part = part.replace("</w:fonts>", f'<w:font w:name="{family}"><w:charset w:val="00"/>'
                                    f'<w:embedRegular r:id="rIdF1" w:fontKey="{{{guid}}}"/></w:font></w:fonts>')
            elif info.filename == "word/settings.xml":
                part = re.sub(r"(<w:settings[^>]*>)", r"\1<w:embedTrueTypeFonts/>", part, count=1)
            elif info.filename == "[Content_Types].xml":
                part = part.replace("</Types>", '<Default Extension="odttf" ContentType="application/vnd.'
                                                'openxmlformats-officedocument.obfuscatedFont"/></Types>')
            zout.writestr(info, part)
        zout.writestr("word/_rels/fontTable.xml.rels", rels)
        zout.writestr("word/fonts/font1.odttf", bytes(obfuscated))
    return path


def odt_with_font(path: Path, family: str, data: bytes, text: str = COVER) -> Path:
    """An .odt whose second paragraph is set in `family`, embedded as LibreOffice embeds a font (Fonts/)."""
    content = (f'<?xml version="1.0" encoding="UTF-8"?><office:document-content {NS} '
               'xmlns:xlink="http://www.w3.org/1999/xlink" office:version="1.3"><office:font-face-decls>'
               f'<style:font-face style:name="{family}" svg:font-family="{family}"><svg:font-face-src>'
               f'<svg:font-face-uri xlink:href="Fonts/{family}.ttf" xlink:type="simple"><svg:font-face-format '
               'svg:string="truetype"/></svg:font-face-uri></svg:font-face-src></style:font-face>'
               '</office:font-face-decls><office:automatic-styles><style:style style:name="P1" '
               f'style:family="paragraph"><style:text-properties style:font-name="{family}" fo:font-size="28pt"/>'
               '</style:style></office:automatic-styles><office:body><office:text>'
               f'{_p("UBND TỈNH - Công văn số 12/UBND")}<text:p text:style-name="P1">{text}</text:p>'
               '</office:text></office:body></office:document-content>')
    manifest = ('<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest="urn:oasis:names:tc:'
                'opendocument:xmlns:manifest:1.0" manifest:version="1.3"><manifest:file-entry manifest:full-path="/" '
                'manifest:media-type="application/vnd.oasis.opendocument.text"/><manifest:file-entry '
                'manifest:full-path="content.xml" manifest:media-type="text/xml"/><manifest:file-entry '
                f'manifest:full-path="Fonts/{family}.ttf" manifest:media-type="application/x-font-ttf"/>'
                '</manifest:manifest>')
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.text")
        z.writestr("content.xml", content, zipfile.ZIP_DEFLATED)
        z.writestr(f"Fonts/{family}.ttf", data, zipfile.ZIP_DEFLATED)
        z.writestr("META-INF/manifest.xml", manifest, zipfile.ZIP_DEFLATED)
    return path


def docx_with_picture(path: Path, words: str) -> Path:
    """A python-docx document with a picture of a red stamp reading `words`."""
    import io

    from docx import Document
    from docx.shared import Inches
    from PIL import Image, ImageDraw, ImageFont

    im = Image.new("RGB", (800, 200), "white")
    draw = ImageDraw.Draw(im)
    draw.rectangle([5, 5, 795, 195], outline="red", width=6)
    draw.text((60, 40), words, font=ImageFont.truetype(BOLD, 90), fill="red")
    png = io.BytesIO()
    im.save(png, "PNG")
    png.seek(0)
    d = Document()
    d.add_paragraph("UBND TỈNH - Công văn số 12/UBND")
    d.add_picture(png, width=Inches(3))
    d.save(path)
    return path


def outlines(words: str, fill: str = "#d00000") -> str:
    """An <svg> drawing `words` as the outlines of DejaVu Sans Bold's glyphs: no text anywhere."""
    from fontTools.pens.svgPathPen import SVGPathPen

    drawn = list(_pens(words, SVGPathPen))
    paths = [f'<path transform="translate({x},0)" d="{pen.getCommands()}"/>' for x, pen, _ in drawn]
    x = sum(width for _, _, width in drawn)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="400" height="120" viewBox="-100 -2300 {x + 200} 2800">'
            f'<rect x="-100" y="-2300" width="{x + 200}" height="2800" fill="white"/>'
            f'<g transform="scale(1,-1)" fill="{fill}">{"".join(paths)}</g></svg>')


def metafiles(root: Path, words: dict[str, str], ext: str) -> dict[str, Path]:
    """{key: an .emf or .wmf (`ext`) LibreOffice made of `outlines(words[key])`}: vector pictures as Word
    keeps an embedded object's preview."""
    src = root / "svg"
    src.mkdir(parents=True, exist_ok=True)
    for key, text in words.items():
        (src / f"{key}.svg").write_text(outlines(text))
    convert(sorted(src.glob("*.svg")), ext, root / ext, shared_profile())
    return {key: root / ext / f"{key}.{ext}" for key in words}


def docx_with_metafiles(path: Path, pictures: list[Path]) -> Path:
    """A python-docx document showing `pictures` (EMF/WMF): PNG placeholders swapped for them, as Word stores
    an embedded object's preview (word/media/imageN.emf)."""
    import io

    from docx import Document
    from docx.shared import Inches
    from PIL import Image

    png = io.BytesIO()
    Image.new("RGB", (8, 8), "white").save(png, "PNG")
    d = Document()
    d.add_paragraph("UBND TỈNH - Báo cáo quý III")
    for i, _ in enumerate(pictures):
        png.seek(0)
        d.add_picture(io.BytesIO(png.getvalue() + bytes([i])), width=Inches(3))  # distinct: one part each
    buf = io.BytesIO()
    d.save(buf)
    with zipfile.ZipFile(buf) as zin, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zout:
        media = sorted(n for n in zin.namelist() if n.startswith("word/media/"))
        swap = {n: (n.rsplit(".", 1)[0] + p.suffix, p) for n, p in zip(media, pictures)}
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename in swap:
                zout.writestr(swap[info.filename][0], swap[info.filename][1].read_bytes())
                continue
            if info.filename == "word/_rels/document.xml.rels":
                for old, (new, _) in swap.items():
                    data = data.replace(old.split("/", 1)[1].encode(), new.split("/", 1)[1].encode())
            elif info.filename == "[Content_Types].xml":
                data = data.replace(b"</Types>", b'<Default Extension="emf" ContentType="image/x-emf"/>'
                                                 b'<Default Extension="wmf" ContentType="image/x-wmf"/></Types>')
            zout.writestr(info, data)
    return path


def docx_with_svg(path: Path, svg: str) -> Path:
    """A python-docx document whose picture is an SVG, as Word 2016 and later keep one: a PNG (blank here) for
    older readers and the SVG beside it (`asvg:svgBlip`), which Word draws."""
    import io
    import re

    from docx import Document
    from docx.shared import Inches
    from PIL import Image

    png = io.BytesIO()
    Image.new("RGB", (8, 8), "white").save(png, "PNG")
    png.seek(0)
    d = Document()
    d.add_paragraph("UBND TỈNH - Công văn số 12/UBND")
    d.add_picture(png, width=Inches(3))
    buf = io.BytesIO()
    d.save(buf)
    svg_blip = ('<a:extLst><a:ext uri="{96DAC541-7B7A-43D3-8B79-37D633B846F1}"><asvg:svgBlip xmlns:asvg='
                '"http://schemas.microsoft.com/office/drawing/2016/SVG/main" r:embed="rIdSvg1"/></a:ext></a:extLst>')
    with zipfile.ZipFile(buf) as zin, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename == "word/document.xml":
                data, n = re.subn(rb'(<a:blip r:embed="rId\d+")\s*/>', rb"\1>" + svg_blip.encode() + rb"</a:blip>", data)
                assert n == 1
            elif info.filename == "word/_rels/document.xml.rels":
                data = data.replace(b"</Relationships>", b'<Relationship Id="rIdSvg1" Type="http://schemas.openxml'
                                    b'formats.org/officeDocument/2006/relationships/image" Target="media/image9.svg"/>'
                                    b"</Relationships>")
            elif info.filename == "[Content_Types].xml":
                data = data.replace(b"</Types>", b'<Default Extension="svg" ContentType="image/svg+xml"/></Types>')
            elif info.filename.startswith("docProps/thumbnail"):
                continue
            zout.writestr(info, data)
        zout.writestr("word/media/image9.svg", svg)
    return path


def glyph_contours(words: str) -> list[list[list[tuple[float, float]]]]:
    """Per glyph of `words` in DejaVu Sans Bold (font units, y up), its contours as polygons (curves flattened)."""
    from fontTools.pens.basePen import BasePen

    class Flat(BasePen):
        def __init__(self, glyphs):
            super().__init__(glyphs)
            self.contours: list[list[tuple[float, float]]] = []

        def _moveTo(self, p):
            self.contours.append([p])

        def _lineTo(self, p):
            self.contours[-1].append(p)

        def _qCurveToOne(self, p1, p2):
            p0 = self.contours[-1][-1]
            for i in range(1, 7):
                t = i / 6
                self.contours[-1].append(tuple((1 - t) ** 2 * a + 2 * (1 - t) * t * b + t * t * c
                                               for a, b, c in zip(p0, p1, p2)))

        def _curveToOne(self, p1, p2, p3):
            self._qCurveToOne(p2, p3)  # DejaVu's outlines are quadratic: not reached

    return [[[(px + x, py) for px, py in c] for c in pen.contours] for x, pen, _ in _pens(words, Flat) if pen.contours]


def _pens(words: str, make_pen):
    """(x, a pen made by `make_pen(glyph set)` that drew the glyph, its advance) for each letter of `words` in
    DejaVu Sans Bold, x in font units from the first letter's origin."""
    from fontTools.ttLib import TTFont

    font = TTFont(BOLD)
    glyphs, cmap = font.getGlyphSet(), font.getBestCmap()
    x = 0
    for ch in words:
        pen = make_pen(glyphs)
        glyphs[cmap[ord(ch)]].draw(pen)
        yield x, pen, glyphs[cmap[ord(ch)]].width
        x += glyphs[cmap[ord(ch)]].width


def pptx_with_freeforms(path: Path, words: str) -> Path:
    """A slide with a text box and `words` drawn as freeform shapes (custom geometry), one per letter, as
    PowerPoint's "Merge Shapes > Fragment" leaves text: outlines, no text."""
    from pptx import Presentation
    from pptx.dml.color import RGBColor
    from pptx.util import Emu

    prs = Presentation()
    slide = prs.slides.add_slide(prs.slide_layouts[6])
    box = slide.shapes.add_textbox(Emu(500000), Emu(300000), Emu(6000000), Emu(500000))
    box.text_frame.text = "UBND TỈNH - Thông báo"
    for glyph in glyph_contours(words):
        contours = [[(int(1000000 + px * 300), int(2500000 - py * 300)) for px, py in c] for c in glyph]
        builder = slide.shapes.build_freeform(*contours[0][0], scale=1.0)
        builder.add_line_segments(contours[0][1:], close=True)
        for c in contours[1:]:
            builder.move_to(*c[0])
            builder.add_line_segments(c[1:], close=True)
        shape = builder.convert_to_shape()
        shape.fill.solid()
        shape.fill.fore_color.rgb = RGBColor(0xD0, 0, 0)
        shape.line.fill.background()
    prs.save(path)
    return path
