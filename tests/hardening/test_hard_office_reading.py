"""Office reading fail-opens (adversarial review): text and pictures an office file shows but the reader skipped.

Each hostile construction carries a "MẬT" a person sees and must BLOCK; a control of the same construction
without the mark must still SIGN (so each test can fail). Prose with "bí mật" / "mật độ" / "bảo mật" signs.
"""

from __future__ import annotations

import io
import re

import pytest
from office_support import assert_pair, odf_package, outcome, parts_of, zipped

from gateway.model import Channel, DocKind, Document, Outcome

pytestmark = pytest.mark.hsm

BODY = "Công văn về việc họp giao ban."
W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"


def _docx(paragraphs=("",)) -> bytes:
    import docx

    d = docx.Document()
    for p in paragraphs:
        d.add_paragraph(p)
    out = io.BytesIO()
    d.save(out)
    return out.getvalue()


def _docx_body(body_xml: str) -> bytes:
    """A docx whose body is `body_xml` (w:, v:, o: prefixes bound by python-docx's template)."""
    files = parts_of(_docx())
    doc = files["word/document.xml"]
    s = doc.index(b"<w:body>") + len(b"<w:body>")
    e = doc.index(b"<w:sectPr")
    files["word/document.xml"] = doc[:s] + body_xml.encode() + doc[e:]
    return zipped(files)


def _para(text: str, rpr: str = "") -> str:
    return f"<w:p><w:r>{'<w:rPr>' + rpr + '</w:rPr>' if rpr else ''}<w:t>{text}</w:t></w:r></w:p>"


ODF_NS = ('xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
          'xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0" '
          'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
          'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
          'xmlns:number="urn:oasis:names:tc:opendocument:xmlns:datastyle:1.0" '
          'xmlns:fo="urn:oasis:names:tc:opendocument:xmlns:xsl-fo-compatible:1.0" '
          'xmlns:of="urn:oasis:names:tc:opendocument:xmlns:of:1.2" office:version="1.2"')
ODT = "application/vnd.oasis.opendocument.text"
ODS = "application/vnd.oasis.opendocument.spreadsheet"


def _odf(mt: str, auto: str, body: str) -> bytes:
    content = (f'<?xml version="1.0" encoding="UTF-8"?><office:document-content {ODF_NS}>'
               f"<office:automatic-styles>{auto}</office:automatic-styles><office:body>{body}</office:body>"
               "</office:document-content>")
    return odf_package(mt, content)


def _ods_rows(first_row: str, auto: str = "") -> bytes:
    row = ('<table:table-row><table:table-cell office:value-type="string"><text:p>Báo cáo tình hình</text:p>'
           "</table:table-cell></table:table-row>")
    return _odf(ODS, auto, f'<office:spreadsheet><table:table table:name="Sheet1">{first_row}{row}'
                           "</table:table></office:spreadsheet>")


# --- 1. parts chosen by name ---------------------------------------------------------------------------------


@pytest.mark.parametrize("newname", ["word/styles.xml", "word/document.ttf", "word/theme/theme9.xml"])
def test_main_part_under_a_skipped_name_is_read(pipeline, tmp_path, newname):
    def move(data: bytes) -> bytes:
        files = parts_of(data)
        doc = files.pop("word/document.xml")
        rels = files.pop("word/_rels/document.xml.rels")
        if newname == "word/styles.xml":
            files["word/styles2.xml"] = files.pop("word/styles.xml")
            rels = rels.replace(b'Target="styles.xml"', b'Target="styles2.xml"')
            files["[Content_Types].xml"] = files["[Content_Types].xml"].replace(b"/word/styles.xml", b"/word/styles2.xml")
        files[newname] = doc
        d, b = newname.rsplit("/", 1)
        if d != "word":
            rels = re.sub(rb'Target="(?!http)([^"]+)"', lambda m: b'Target="/word/' + m.group(1) + b'"', rels)
        files[f"{d}/_rels/{b}.rels"] = rels
        files["[Content_Types].xml"] = files["[Content_Types].xml"].replace(b"/word/document.xml", ("/" + newname).encode())
        files["_rels/.rels"] = files["_rels/.rels"].replace(b"word/document.xml", newname.encode())
        return zipped(files)

    assert_pair(pipeline, tmp_path, "moved.docx", move(_docx(["MẬT", BODY])), move(_docx([BODY])))


def _stamp_png(text: str) -> bytes:
    from PIL import Image, ImageDraw, ImageFont

    img = Image.new("RGB", (500, 200), "white")
    dr = ImageDraw.Draw(img)
    font = ImageFont.truetype("/usr/share/fonts/truetype/liberation2/LiberationSerif-Bold.ttf", 90)
    if text:
        dr.rectangle([20, 20, 480, 180], outline=(200, 0, 0), width=6)
        dr.text((250, 100), text, font=font, fill=(200, 0, 0), anchor="mm")
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


def test_picture_under_skipped_names_is_ocred(pipeline, tmp_path):
    """A stamp picture kept as the thumbnail, under word/fonts/, and as printerSettings1.bin."""
    def build(png: bytes) -> bytes:
        files = parts_of(_docx([BODY]))
        files.pop("docProps/thumbnail.jpeg", None)
        files["_rels/.rels"] = re.sub(rb"<Relationship [^>]*thumbnail[^>]*/>", b"", files["_rels/.rels"])
        files["docProps/thumbnail.png"] = png
        files["word/fonts/stamp.png"] = png
        files["word/printerSettings/printerSettings1.bin"] = png
        return zipped(files)

    assert_pair(pipeline, tmp_path, "pic.docx", build(_stamp_png("MẬT")), build(_stamp_png("")))


# --- 2. text kept in attributes ------------------------------------------------------------------------------


def test_vml_wordart_textpath_string(pipeline, tmp_path):
    def wordart(text):
        return _docx_body(
            '<w:p><w:r><w:pict><v:shape id="wa1" type="#_x0000_t136" style="width:150pt;height:50pt" fillcolor="red">'
            f'<v:textpath style="font-family:&quot;Times New Roman&quot;" string="{text}"/></v:shape></w:pict></w:r></w:p>'
            + _para(BODY))

    assert_pair(pipeline, tmp_path, "wordart.docx", wordart("MẬT"), wordart("Dự thảo"))


def test_wsym_characters(pipeline, tmp_path):
    def sym(chars):
        syms = "".join(f'<w:sym w:font="Times New Roman" w:char="{c}"/>' for c in chars)
        return _docx_body(f"<w:p><w:r>{syms}</w:r></w:p>" + _para(BODY))

    assert_pair(pipeline, tmp_path, "sym.docx", sym(["004D", "1EAC", "0054"]), sym(["0044", "1EF0"]))


def test_xlsx_number_format_literal(pipeline, tmp_path):
    import openpyxl

    def book(fmt):
        wb = openpyxl.Workbook()
        ws = wb.active
        ws["A1"] = 1
        ws["A1"].number_format = fmt
        ws["A2"] = "Báo cáo tình hình"
        return _saved(wb)

    assert_pair(pipeline, tmp_path, "numfmt.xlsx", book('"MẬT"'), book('#,##0" đồng"'))


@pytest.mark.parametrize("case", ["numstyle", "stringvalue", "numprefix"])
def test_odf_text_outside_paragraphs(pipeline, tmp_path, case):
    def build(word):
        if case == "numstyle":
            return _ods_rows(
                '<table:table-row><table:table-cell table:style-name="ce1" office:value-type="float" office:value="1"/>'
                "</table:table-row>",
                f'<number:number-style style:name="N99"><number:text>{word}</number:text></number:number-style>'
                '<style:style style:name="ce1" style:family="table-cell" style:data-style-name="N99"/>')
        if case == "stringvalue":
            return _ods_rows('<table:table-row><table:table-cell office:value-type="string" '
                             f'office:string-value="{word}"/></table:table-row>')
        return _odf(ODT, f'<text:list-style style:name="L1"><text:list-level-style-number text:level="1" '
                         f'style:num-prefix="{word}" style:num-format=""><style:list-level-properties/>'
                         "</text:list-level-style-number></text:list-style>",
                    '<office:text><text:list text:style-name="L1"><text:list-item><text:p></text:p></text:list-item>'
                    f"</text:list><text:p>{BODY}</text:p></office:text>")

    ext = "odt" if case == "numprefix" else "ods"
    assert_pair(pipeline, tmp_path, f"{case}.{ext}", build("MẬT"), build("Mục"))


# --- 3. capitals by formatting, and a lone mark word in any case ------------------------------------------


def test_docx_caps_run(pipeline, tmp_path):
    assert_pair(pipeline, tmp_path, "caps.docx",
                 _docx_body(_para("mật", "<w:b/><w:caps/>") + _para(BODY)),
                 _docx_body(_para("mục", "<w:b/><w:caps/>") + _para(BODY)))


def test_docx_caps_inside_prose_run(pipeline, tmp_path):
    """Only the run set in capitals is upper-cased: "mật" shown as MẬT after a colon is a mark."""
    assert_pair(pipeline, tmp_path, "capsrun.docx",
                 _docx_body('<w:p><w:r><w:t xml:space="preserve">Độ khẩn: thường. Độ mật: </w:t></w:r>'
                            '<w:r><w:rPr><w:caps/></w:rPr><w:t>mật</w:t></w:r></w:p>' + _para(BODY)),
                 _docx_body('<w:p><w:r><w:t xml:space="preserve">Đây là thông tin bảo </w:t></w:r>'
                            '<w:r><w:rPr><w:caps w:val="0"/></w:rPr><w:t>mật</w:t></w:r></w:p>' + _para(BODY)))


def test_odt_text_transform_style(pipeline, tmp_path):
    def build(word):
        return _odf(ODT, '<style:style style:name="T1" style:family="text"><style:text-properties '
                         'fo:text-transform="uppercase"/></style:style>',
                    f'<office:text><text:p>Trích yếu <text:span text:style-name="T1">{word}</text:span></text:p>'
                    f'<text:p>{BODY}</text:p></office:text>')

    # "Trích yếu MẬT": upper MẬT after lower-case words fires; the control's "MỤC" is no mark
    assert_pair(pipeline, tmp_path, "caps.odt", build("mật"), build("mục"))


def test_rtf_caps_and_upr(pipeline, tmp_path):
    body = r"\ql C\u244?ng v\u259?n v\u7873? vi\u7879?c h\u7885?p.\par}"
    head = r"{\rtf1\ansi\ansicpg1258\deff0{\fonttbl{\f0 Times New Roman;}}\f0\qc "
    assert_pair(pipeline, tmp_path, "caps.rtf", (head + r"{\b\caps m\u7853?t}\par" + body).encode(),
                 (head + r"{\b\caps m\u7909?c}\par" + body).encode())
    assert_pair(pipeline, tmp_path, "upr.rtf", (head + r"{\b\upr{M?T}{\*\ud{M\u7852?T}}}\par" + body).encode(),
                 (head + r"{\b\upr{M?C}{\*\ud{M\u7908?C}}}\par" + body).encode())


def test_lone_mark_word_any_case_blocks_prose_signs(pipeline, tmp_path):
    assert outcome(pipeline, tmp_path, "lone.docx", _docx(["mật", BODY])) is Outcome.BLOCK
    assert outcome(pipeline, tmp_path, "lone2.docx", _docx(["Tối mật", BODY])) is Outcome.BLOCK
    prose = _docx(["Giữ bí mật thông tin theo quy định.", "Mật độ dân số tăng.", "Công tác bảo mật được tăng cường.",
                   "bí", "mật", "độ dân số"])
    assert outcome(pipeline, tmp_path, "prose.docx", prose) is Outcome.SIGN


def test_docx_joined_to_another_zip_is_refused(pipeline, tmp_path):
    """An archive joined before the package: zipfile reads the package, 7-Zip shows the other archive's
    files. One file, two contents: refused (it was signed as the package alone)."""
    hidden = zipped({"secret.txt": "TỐI MẬT".encode()})
    path = tmp_path / "joined.docx"
    path.write_bytes(hidden + _docx(("Kính gửi các cơ quan.",)))
    res = pipeline.process(Document(channel=Channel.SMTP, name=path.name, path=path, kind=DocKind.CORRESPONDENCE),
                           out_dir=tmp_path / "out-joined")
    assert res.outcome is Outcome.REJECT and "OFFICE_MALFORMED" in [r.code for r in res.decision.reasons], res
    assert outcome(pipeline, tmp_path, "plain.docx", _docx(("Kính gửi các cơ quan.",))) is Outcome.SIGN


def _with_default_caps(data: bytes, caps: str) -> bytes:
    """`data` (a docx) whose document defaults (w:docDefaults/w:rPrDefault) set capitals: `caps` is the element."""
    files = parts_of(data)
    styles = files["word/styles.xml"].decode()
    m = re.search(r"<w:rPrDefault>\s*<w:rPr>", styles)
    assert m, "python-docx's template has run defaults"
    files["word/styles.xml"] = (styles[:m.end()] + caps + styles[m.end():]).encode()
    return zipped(files)


def test_docx_caps_by_document_defaults(pipeline, tmp_path):
    """Capitals set only by the document's defaults: every paragraph is shown in them."""
    body = _docx_body('<w:p><w:r><w:t xml:space="preserve">Độ khẩn: thường. Độ mật: mật</w:t></w:r></w:p>'
                      + _para(BODY))
    assert_pair(pipeline, tmp_path, "defaultcaps.docx", _with_default_caps(body, "<w:caps/>"),
                 _with_default_caps(body, '<w:caps w:val="0"/>'))


def _formula_book(formula: str, **cells) -> bytes:
    """A sheet as openpyxl writes it: the formula (A2) without a stored value, which the program works out;
    B1 = 84, B2 = 12 and `cells` beside it."""
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws["A1"] = "Báo cáo tình hình"
    ws["B1"], ws["B2"] = 84, 12
    ws["A2"] = formula
    for address, value in cells.items():
        ws[address] = value
    return _saved(wb)


def _saved(wb) -> bytes:
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


@pytest.mark.parametrize("formula", ['=UNICHAR(84)&UNICHAR(7888)&"I M"&UNICHAR(7852)&"T"', '=UPPER("tối mật")',
                                     '=SUBSTITUTE("TỐI XẬT","X","M")', '=CONCATENATE("TỐI"," ","MẬT")'])
def test_xlsx_formula_that_spells_a_mark(formula, pipeline, tmp_path):
    """Excel shows what the formula gives (signed before: the file holds the formula, not the mark)."""
    assert_pair(pipeline, tmp_path, "formula.xlsx", _formula_book(formula), _formula_book('=B1&" người"'))


def test_xlsx_defined_name_that_spells_a_mark(pipeline, tmp_path):
    """=MARK in a cell, MARK defined as =UNICHAR(77)&"ẬT": the cell shows "MẬT"."""
    import openpyxl
    from openpyxl.workbook.defined_name import DefinedName

    def book(formula: str) -> bytes:
        wb = openpyxl.Workbook()
        wb.active["A1"], wb.active["A2"] = "Báo cáo tình hình", "=MARK"
        wb.defined_names["MARK"] = DefinedName("MARK", attr_text=formula)
        return _saved(wb)

    assert_pair(pipeline, tmp_path, "name.xlsx", book('UNICHAR(77)&"ẬT"'), book('"Hà "&"Nội"'))


@pytest.mark.parametrize("formula", ['=UNICHAR(B1)&"ỐI MẬT"', '=UPPER(A3&" "&A4)', '=SUBSTITUTE(A5,"X","M")'])
def test_xlsx_formula_over_other_cells_that_spells_a_mark(formula, pipeline, tmp_path):
    """Worked out from the values of the cells it refers to (B1 = 84; A3, A4 = "tối", "mật"; A5 = "TỐI XẬT"),
    none of which is a mark itself."""
    def book(f: str) -> bytes:
        return _formula_book(f, A3="tối", A4="mật", A5="TỐI XẬT", B3="số", B4="liệu")

    assert outcome(pipeline, tmp_path, "cells.xlsx", book(formula)) is Outcome.BLOCK
    assert outcome(pipeline, tmp_path, "cells-ok.xlsx", book('=UPPER(B3&" "&B4)')) is Outcome.SIGN


def test_xlsx_formula_spelling_codes_from_elsewhere_is_not_released(pipeline, tmp_path):
    """=UNICHAR(Sheet2!B1)&... or over a range: not worked out here; letters from codes: not read completely."""
    assert outcome(pipeline, tmp_path, "codes.xlsx", _formula_book('=UNICHAR(Sheet2!B1)&"ỐI MẬT"')) is Outcome.REJECT
    assert outcome(pipeline, tmp_path, "sum.xlsx", _formula_book("=SUM(B1:B2)&CHAR(10)")) is Outcome.SIGN


def test_ods_formula_that_spells_a_mark(pipeline, tmp_path):
    """LibreOffice works out a cell's formula as Excel does: the same rule for ODF's table:formula."""
    def cell(formula: str) -> str:
        return (f'<table:table-row><table:table-cell table:formula="{formula}" office:value-type="string" '
                f'office:string-value="ok"><text:p>ok</text:p></table:table-cell></table:table-row>')

    assert_pair(pipeline, tmp_path, "formula.ods", _ods_rows(cell('of:=UNICHAR(77)&amp;&quot;ẬT&quot;')),
                 _ods_rows(cell('of:=SUM([.B1:.B2])&amp;&quot; người&quot;')))


_SHEET_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"


def _excel_book(a2: str, *, hidden: dict[str, str] | None = None, **cells: str) -> bytes:
    """A workbook as Excel saves one that asks to be recalculated on opening (`fullCalcOnLoad`, app.xml
    "Microsoft Excel"): A1 a title, B1 = 84, `cells` (inline strings) beside them, A2 a formula cell written
    `formula=>stored` (the value Excel kept with it, shown only until it recalculates), or a plain text;
    `hidden`: a hidden second sheet "Sheet2" of inline strings."""
    def c(ref: str, v: str) -> str:
        if "=>" in v:
            formula, stored = v.split("=>")
            return f'<c r="{ref}" t="str"><f>{formula}</f><v>{stored}</v></c>'
        return f'<c r="{ref}" t="inlineStr"><is><t>{v}</t></is></c>'

    def sheet(rows: dict[int, dict[str, str]]) -> str:
        body = "".join(f'<row r="{r}">' + "".join(c(ref, v) for ref, v in sorted(cs.items())) + "</row>"
                       for r, cs in sorted(rows.items()))
        return f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{_SHEET_NS}"><sheetData>{body}</sheetData></worksheet>'

    first = {1: {"A1": "Báo cáo tình hình", **{k: v for k, v in cells.items() if k.endswith("1")}},
             2: {"A2": a2, **{k: v for k, v in cells.items() if k.endswith("2")}}}
    first[1]["B1"] = "84"
    sheets = [("Sheet1", first, "")] + ([("Sheet2", {1: hidden}, ' state="hidden"')] if hidden else [])
    files = {
        "[Content_Types].xml": '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/'
        'package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
        'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook'
        '.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        + "".join(f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="application/vnd.openxmlformats-'
                  'officedocument.spreadsheetml.worksheet+xml"/>' for i in range(1, len(sheets) + 1))
        + '<Override PartName="/docProps/app.xml" ContentType="application/vnd.openxmlformats-officedocument.'
        'extended-properties+xml"/></Types>',
        "_rels/.rels": '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/'
        f'package/2006/relationships"><Relationship Id="rId1" Type="{_REL}/officeDocument" Target="xl/workbook.xml"/>'
        f'<Relationship Id="rId2" Type="{_REL}/extended-properties" Target="docProps/app.xml"/></Relationships>',
        "docProps/app.xml": '<?xml version="1.0" encoding="UTF-8"?><Properties xmlns="http://schemas.openxmlformats.org/'
        'officeDocument/2006/extended-properties"><Application>Microsoft Excel</Application></Properties>',
        "xl/workbook.xml": f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{_SHEET_NS}" xmlns:r="{_REL}"><sheets>'
        + "".join(f'<sheet name="{n}" sheetId="{i}" r:id="rId{i}"{state}/>' for i, (n, _, state) in enumerate(sheets, 1))
        + '</sheets><calcPr calcId="191029" fullCalcOnLoad="1"/></workbook>',
        "xl/_rels/workbook.xml.rels": '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.'
        'openxmlformats.org/package/2006/relationships">'
        + "".join(f'<Relationship Id="rId{i}" Type="{_REL}/worksheet" Target="worksheets/sheet{i}.xml"/>'
                  for i in range(1, len(sheets) + 1)) + "</Relationships>",
    }
    for i, (_, rows, _) in enumerate(sheets, 1):
        files[f"xl/worksheets/sheet{i}.xml"] = sheet(rows)
    return zipped({k: v.encode() for k, v in files.items()})


LYING_FORMULAS = {
    # a text literal in a function not worked out here
    "if": dict(a2='IF(B1&gt;0,"TỐI MẬT","")=>abc'),
    # a text function over a cell of another sheet, which is no stamp itself
    "substitute": dict(a2='SUBSTITUTE(Sheet2!A1,"x","")=>abc', hidden={"A1": "TxỐxI MxẬxT"}),
    # a range of a hidden sheet, its letters in cells of their own
    "concat-range": dict(a2="_xlfn.CONCAT(Sheet2!A1:C1)=>abc", hidden={"A1": "M", "B1": "Ậ", "C1": "T"}),
    # a number format given to TEXT()
    "text": dict(a2='TEXT(B1,"\\T\\Ố\\I \\M\\Ậ\\T")=>84'),
    # a chain: A2 worked out from C2's stored value, which lies too
    "chain": dict(a2='SUBSTITUTE(C2,"x","")=>abc', C2='Sheet2!A1&amp;""=>abc', hidden={"A1": "TxỐxI MxẬxT"}),
}


@pytest.mark.parametrize("case", sorted(LYING_FORMULAS))
def test_xlsx_formula_whose_stored_value_lies_is_read_as_recalculated(case, pipeline, tmp_path):
    """Excel recalculates a workbook that asks for it (or one an older or other program saved) and shows what
    the formula gives, not the value stored beside it: "TỐI MẬT" here, the file keeping "abc". These formulas
    (a range, another sheet, an unknown function, a chain) are not worked out by the gateway: the workbook was
    signed by its stored values. LibreOffice now recalculates it and that is read too. The control: a
    text formula ("Đạt"/"Không đạt") that recalculates to a plain word is signed."""
    kw = LYING_FORMULAS[case]
    assert_pair(pipeline, tmp_path, f"{case}.xlsx", _excel_book(**kw),
                 _excel_book(a2='IF(B1&gt;0,"Đạt","Không đạt")=>Đạt', C1="số liệu"))


def test_xlsx_formula_whose_stored_value_lies_through_the_cli(dev_settings, tmp_path, monkeypatch, capsys):
    """The same through `gateway check --channel smtp` (the CLI door): BLOCK (exit 3), the level said; the
    control is signable (exit 0)."""
    from gateway.cli import main

    monkeypatch.delenv("KYSO_CONFIG", raising=False)
    monkeypatch.setenv("GATEWAY_VAR_DIR", str(dev_settings.var_dir))
    monkeypatch.setenv("GATEWAY_AUDIT__PATH", str(tmp_path / "audit.sqlite3"))
    hostile, control = tmp_path / "bao-cao.xlsx", tmp_path / "ket-qua.xlsx"
    hostile.write_bytes(_excel_book(**LYING_FORMULAS["concat-range"]))
    control.write_bytes(_excel_book(a2='IF(B1&gt;0,"Đạt","Không đạt")=>Đạt'))
    assert main(["check", "--channel", "smtp", str(hostile)]) == 3
    assert "MẬT" in capsys.readouterr().out
    assert main(["check", "--channel", "smtp", str(control)]) == 0


def test_xlsx_stored_value_of_a_formula_is_read_as_its_cell_shows_it(pipeline, tmp_path):
    """A formula cell's stored value is what Excel shows until it recalculates; it was read joined to its
    formula ('TỐI MẬT B1&""') and so never stood alone as the stamp it is on the sheet."""
    def book(stored: str) -> bytes:
        return _excel_book(f'B1&amp;""=>{stored}').replace(b' fullCalcOnLoad="1"', b"")

    assert_pair(pipeline, tmp_path, "stored.xlsx", book("TỐI MẬT"), book("Đạt"))


def test_formula_libreoffice_does_not_know_is_not_released(pipeline, tmp_path):
    """What Excel shows for a function LibreOffice does not know (#NAME? there) is not known: not read
    completely, refused; a workbook of numbers only is not recalculated at all."""
    path = tmp_path / "unknown.xlsx"
    path.write_bytes(_excel_book("_xlfn.NOSUCHTEXT(B1)=>abc"))
    res = pipeline.process(Document(channel=Channel.SMTP, name=path.name, path=path, kind=DocKind.CORRESPONDENCE),
                           out_dir=tmp_path / "out")
    assert res.outcome is Outcome.REJECT and [r.code for r in res.decision.reasons] == ["DOCUMENT_UNREADABLE"]
    assert "LibreOffice does not know" in res.decision.reasons[0].args.get("detail", "")
    assert outcome(pipeline, tmp_path, "numbers.xlsx", _excel_book("SUM(B1:B2)=>84")) is Outcome.SIGN


def test_text_formulas_without_libreoffice_are_not_released(tmp_path):
    """No LibreOffice (settings office.soffice = ""): a text formula not worked out here is not read; a
    workbook of numbers only does not need it."""
    from gateway.pipeline import Pipeline
    from gateway.settings import load_settings

    settings = load_settings(var_dir=tmp_path, office={"soffice": ""})
    results = {}
    with Pipeline(settings) as p:
        for name, a2 in (("text.xlsx", 'IF(B1&gt;0,"Đạt","Không đạt")=>Đạt'), ("numbers.xlsx", "SUM(B1:B2)=>84")):
            path = tmp_path / name
            path.write_bytes(_excel_book(a2))
            results[name] = p.check(Document(channel=Channel.SMTP, name=name, path=path, kind=DocKind.CORRESPONDENCE))
    refused = results["text.xlsx"]
    assert refused.outcome is Outcome.REJECT, refused.decision
    assert [(r.code, "not recalculated: LibreOffice not installed" in r.args.get("detail", ""))
            for r in refused.decision.reasons] == [("DOCUMENT_UNREADABLE", True)]
    assert results["numbers.xlsx"].outcome is Outcome.SIGN, results["numbers.xlsx"].decision


def test_ods_formula_whose_stored_value_lies_is_read_as_recalculated(pipeline, tmp_path):
    """The same for ODF (whose formulas over cells were not worked out at all): LibreOffice recalculates
    `of:=SUBSTITUTE([.B2];"x";"")` of "TxỐxI MxẬxT"."""
    def rows(formula: str) -> bytes:
        return _ods_rows(f'<table:table-row><table:table-cell table:formula="{formula}" office:value-type="string" '
                         'office:string-value="ok"><text:p>ok</text:p></table:table-cell></table:table-row>'
                         '<table:table-row><table:table-cell office:value-type="string"><text:p>số liệu</text:p>'
                         '</table:table-cell><table:table-cell office:value-type="string"><text:p>TxỐxI MxẬxT</text:p>'
                         "</table:table-cell></table:table-row>")

    assert_pair(pipeline, tmp_path, "recalc.ods", rows("of:=SUBSTITUTE([.B2];&quot;x&quot;;&quot;&quot;)"),
                 rows("of:=SUBSTITUTE([.A2];&quot;x&quot;;&quot;&quot;)"))


def test_excel_2003_xml_formula_is_read_as_recalculated(pipeline, tmp_path):
    """Excel 2003 XML keeps formulas in ss:Formula (R1C1): they were not read at all."""
    def book(formula: str) -> bytes:
        return ('<?xml version="1.0"?><?mso-application progid="Excel.Sheet"?><Workbook xmlns="urn:schemas-microsoft-'
                'com:office:spreadsheet" xmlns:ss="urn:schemas-microsoft-com:office:spreadsheet"><Worksheet ss:Name='
                '"Sheet1"><Table><Row><Cell><Data ss:Type="String">Báo cáo tình hình</Data></Cell><Cell><Data '
                'ss:Type="Number">84</Data></Cell></Row><Row><Cell ss:Formula="' + formula + '"><Data ss:Type="String">'
                "abc</Data></Cell></Row></Table></Worksheet></Workbook>").encode()

    assert_pair(pipeline, tmp_path, "recalc.xml", book('=IF(R1C2&gt;0,&quot;TỐI MẬT&quot;,&quot;&quot;)'),
                 book('=IF(R1C2&gt;0,&quot;Đạt&quot;,&quot;&quot;)'))


def _run(text: str) -> str:
    return f'<w:r><w:t xml:space="preserve">{text}</w:t></w:r>'


def _complex_field(instr: str, stored: str) -> str:
    return (f'<w:r><w:fldChar w:fldCharType="begin"/></w:r><w:r><w:instrText xml:space="preserve">{instr}</w:instrText>'
            f'</w:r><w:r><w:fldChar w:fldCharType="separate"/></w:r>{_run(stored)}<w:r><w:fldChar w:fldCharType="end"/></w:r>')


WORD_FIELDS = {
    "quote": _complex_field(' QUOTE "TỐI MẬT" ', "x"),
    "simple-quote": '<w:fldSimple w:instr=" QUOTE &quot;TỐI MẬT&quot; ">' + _run("x") + "</w:fldSimple>",
    "symbols": "".join(f'<w:fldSimple w:instr="SYMBOL {n} \\u">{_run("?")}</w:fldSimple>'
                       for n in (84, 7888, 73, 32, 77, 7852, 84)),
    "if-branch": _complex_field(' IF 1 = 2 "ok" "TỐI MẬT" ', "ok"),
    # the same paragraph goes on with a text box, whose own paragraph ends first
    "before-a-text-box": _complex_field(' QUOTE "TỐI MẬT" ', "x") + '<w:r><w:pict><v:shape><v:textbox><w:txbxContent>'
                         + _para("hộp chữ") + "</w:txbxContent></v:textbox></v:shape></w:pict></w:r>",
}


@pytest.mark.parametrize("case", sorted(WORD_FIELDS))
def test_docx_field_that_gives_a_mark_when_updated(case, pipeline, tmp_path):
    """Word shows what a field gives once updated (on opening when the document asks, when printing), not the
    result stored with it; the instruction read as a line is a quotation (signed before)."""
    date = '<w:fldSimple w:instr=" DATE \\@ &quot;dd/MM/yyyy&quot; ">' + _run("06/12/2026") + "</w:fldSimple>"
    assert_pair(pipeline, tmp_path, "field.docx", _docx_body(_para(BODY) + f"<w:p>{WORD_FIELDS[case]}</w:p>"),
                 _docx_body(_para(BODY) + f"<w:p>{_run('Ngày ')}{date}</w:p>"))


RTF_FIELDS = {
    "quote": r'{\field{\*\fldinst QUOTE "T\u7888?I M\u7852?T"}{\fldrslt x}}',
    "symbols": "".join(r"{\field{\*\fldinst SYMBOL %d \\u}{\fldrslt ?}}" % n for n in (84, 7888, 73, 32, 77, 7852, 84)),
}


@pytest.mark.parametrize("case", sorted(RTF_FIELDS))
def test_rtf_field_that_gives_a_mark_when_updated(case, pipeline, tmp_path):
    """The same fields in RTF (\\fldinst): read as instructions they were a quotation, or single letters."""
    def rtf(par: str) -> bytes:
        return (r"{\rtf1\ansi\deff0{\fonttbl{\f0 Times New Roman;}}\pard C\u244?ng v\u259?n\par " + par + r"\par}").encode()

    assert_pair(pipeline, tmp_path, "field.rtf", rtf(RTF_FIELDS[case]), rtf(r"{\field{\*\fldinst DATE}{\fldrslt 06/12/2026}}"))


@pytest.mark.parametrize("field", [
    '<text:conditional-text text:condition="ooow:1 == 1" text:string-value-if-true="TỐI MẬT" '
    'text:string-value-if-false="x">x</text:conditional-text>',
    '<text:hidden-text text:condition="ooow:1 == 2" text:string-value="TỐI MẬT"/>',
])
def test_odt_field_whose_text_is_in_its_attributes(field, pipeline, tmp_path):
    """LibreOffice shows a conditional text's string for the condition it works out, and hidden text while its
    condition is false: the stored content ("x", none) is not what it shows (signed before)."""
    def odt(inner: str) -> bytes:
        return _odf(ODT, "", f"<office:text><text:p>{BODY}</text:p><text:p>{inner}</text:p></office:text>")

    assert_pair(pipeline, tmp_path, "field.odt", odt(field), odt("Ngày 06/12/2026"))


def test_docx_comment_author_is_read(pipeline, tmp_path):
    """Word shows a comment's author beside it."""
    def book(author: str) -> bytes:
        files = parts_of(_docx([BODY]))
        files["word/comments.xml"] = (f'<?xml version="1.0" encoding="UTF-8"?><w:comments xmlns:w="{W}">'
                                      f'<w:comment w:id="0" w:author="{author}" w:initials="X">{_para("Xem lại")}'
                                      "</w:comment></w:comments>").encode()
        return zipped(files)

    assert_pair(pipeline, tmp_path, "author.docx", book("TỐI MẬT"), book("Nguyễn Văn A"))
