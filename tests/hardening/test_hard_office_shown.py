"""Office paragraphs as they are shown (red-team probe B): the readers read every piece of text, but a piece that
is read and not shown (a hidden run, a ruby or phonetic guide, a field code) glued onto a mark hid it, and so did
what is shown but is not the paragraph's own text (a list label, a drop cap, a header's formatting codes, a
content control's bound value).

Each hostile file shows "TỐI MẬT" and must BLOCK; its honest twin of the same shape must SIGN (a hidden "XYZ"
after "BÁO CÁO", a label "Điều " before "1. Phạm vi"), so no reading makes a mark out of prose.
"""

from __future__ import annotations

import io

import pytest
from office_support import assert_pair, odf_package, outcome, parts_of, zipped

from gateway.model import Outcome

pytestmark = pytest.mark.hsm

BODY = "Công văn về việc họp giao ban."


def _docx(body_xml: str, *, parts: dict[str, str] | None = None, main: str = "word/document.xml") -> bytes:
    """A docx (python-docx's template) whose body is a line of prose then `body_xml`; `parts` added or replaced,
    the main part renamed to `main` (read on the general path)."""
    import docx

    d = docx.Document()
    out = io.BytesIO()
    d.save(out)
    files = parts_of(out.getvalue())
    doc = files["word/document.xml"]
    s = doc.index(b"<w:body>") + len(b"<w:body>")
    e = doc.index(b"<w:sectPr")
    files["word/document.xml"] = doc[:s] + (_p(BODY) + body_xml).encode() + doc[e:]
    for name, text in (parts or {}).items():
        files[name] = text.encode()
    if main != "word/document.xml":
        files[main] = files.pop("word/document.xml")
        files["word/_rels/" + main.split("/")[-1] + ".rels"] = files.pop("word/_rels/document.xml.rels")
        for name in ("_rels/.rels", "[Content_Types].xml"):
            files[name] = files[name].replace(b"word/document.xml", main.encode())
    return zipped(files)


def _r(text: str, rpr: str = "") -> str:
    return f"<w:r>{'<w:rPr>' + rpr + '</w:rPr>' if rpr else ''}<w:t xml:space=\"preserve\">{text}</w:t></w:r>"


def _p(text: str, ppr: str = "") -> str:
    return f"<w:p>{'<w:pPr>' + ppr + '</w:pPr>' if ppr else ''}{_r(text)}</w:p>"


W_NS = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
ODF_NS = ('xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
          'xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0" '
          'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
          'xmlns:fo="urn:oasis:names:tc:opendocument:xmlns:xsl-fo-compatible:1.0" office:version="1.2"')
ODT = "application/vnd.oasis.opendocument.text"


def _odt(body: str, auto: str = "", meta: str = "") -> bytes:
    content = (f'<?xml version="1.0" encoding="UTF-8"?><office:document-content {ODF_NS}>'
               f"<office:automatic-styles>{auto}</office:automatic-styles><office:body><office:text>"
               f"<text:p>{BODY}</text:p>{body}</office:text></office:body></office:document-content>")
    return odf_package(ODT, content, meta)


def _rtf(body: str, tables: str = "") -> bytes:
    return (r"{\rtf1\ansi\ansicpg1258\deff0{\fonttbl{\f0 Arial;}}" + tables
            + r"\pard C\u244?ng v\u259?n s\u7889? 12\par" + body + "}").encode()


def _xlsx(a2: str = "Báo cáo", header: str | None = None, phonetic: tuple[str, str] | None = None) -> bytes:
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws["A1"] = BODY
    ws["A2"] = "PLACEHOLDER" if phonetic else a2
    if header is not None:
        ws.oddHeader.center.text = header
    out = io.BytesIO()
    wb.save(out)
    if not phonetic:
        return out.getvalue()
    files = parts_of(out.getvalue())
    name = next(n for n in files if n in ("xl/sharedStrings.xml", "xl/worksheets/sheet1.xml")
                and b"PLACEHOLDER" in files[n])
    text, guide = phonetic
    files[name] = files[name].replace(b"<t>PLACEHOLDER</t>",
                                      f'<t>{text}</t><rPh sb="0" eb="3"><t>{guide}</t></rPh>'.encode())
    return zipped(files)


# --- A. read but not shown, glued onto the mark -------------------------------------------------------------


@pytest.mark.parametrize("order", ["after", "before"])
def test_docx_hidden_run_glued_to_the_mark(pipeline, tmp_path, order):
    def body(text: str) -> str:
        hidden = _r("XYZ", "<w:vanish/>")
        return f"<w:p>{_r(text) + hidden if order == 'after' else hidden + _r(text)}</w:p>"

    assert_pair(pipeline, tmp_path, f"vanish-{order}.docx", _docx(body("TỐI MẬT")), _docx(body("BÁO CÁO")))


def test_docx_hidden_by_character_style(pipeline, tmp_path):
    styles = (f'<?xml version="1.0" encoding="UTF-8"?><w:styles {W_NS}><w:style w:type="character" w:styleId="An">'
              '<w:name w:val="An"/><w:rPr><w:vanish/></w:rPr></w:style></w:styles>')

    def body(text: str) -> str:
        hidden = _r("XYZ", '<w:rStyle w:val="An"/>')
        return f"<w:p>{_r(text)}{hidden}</w:p>"

    assert_pair(pipeline, tmp_path, "vanish-style.docx", _docx(body("TỐI MẬT"), parts={"word/styles.xml": styles}),
                 _docx(body("BÁO CÁO"), parts={"word/styles.xml": styles}))


def test_docx_ruby_guide(pipeline, tmp_path):
    def body(text: str) -> str:
        return (f'<w:p><w:r><w:ruby><w:rubyPr><w:hps w:val="10"/></w:rubyPr><w:rt>{_r("Z")}</w:rt>'
                f"<w:rubyBase>{_r(text)}</w:rubyBase></w:ruby></w:r></w:p>")

    assert_pair(pipeline, tmp_path, "ruby.docx", _docx(body("TỐI MẬT")), _docx(body("BÁO CÁO")))


def test_docx_field_code_in_a_renamed_main_part(pipeline, tmp_path):
    def body(text: str) -> str:
        return (f'<w:p>{_r(text)}<w:r><w:fldChar w:fldCharType="begin"/></w:r><w:r><w:instrText>SET a b'
                '</w:instrText></w:r><w:r><w:fldChar w:fldCharType="end"/></w:r></w:p>')

    assert_pair(pipeline, tmp_path, "renamed.docx", _docx(body("TỐI MẬT"), main="word/main.xml"),
                 _docx(body("BÁO CÁO"), main="word/main.xml"))


def test_odt_span_hidden_by_its_style(pipeline, tmp_path):
    auto = '<style:style style:name="H" style:family="text"><style:text-properties text:display="none"/></style:style>'
    assert_pair(pipeline, tmp_path, "hidden.odt", _odt('<text:p>TỐI MẬT<text:span text:style-name="H">XYZ</text:span></text:p>', auto),
                 _odt('<text:p>BÁO CÁO<text:span text:style-name="H">XYZ</text:span></text:p>', auto))


def test_odt_ruby_guide(pipeline, tmp_path):
    def body(text: str) -> str:
        return f"<text:p><text:ruby><text:ruby-base>{text}</text:ruby-base><text:ruby-text>Z</text:ruby-text></text:ruby></text:p>"

    assert_pair(pipeline, tmp_path, "ruby.odt", _odt(body("TỐI MẬT")), _odt(body("BÁO CÁO")))


def test_rtf_hidden_text_glued_to_the_mark(pipeline, tmp_path):
    assert_pair(pipeline, tmp_path, "hidden.rtf", _rtf(r"\pard T\u7888?I M\u7852?T{\v XYZ}\par"),
                 _rtf(r"\pard B\u193?O C\u193?O{\v XYZ}\par"))


def test_xlsx_phonetic_guide(pipeline, tmp_path):
    assert_pair(pipeline, tmp_path, "phonetic.xlsx", _xlsx(phonetic=("TỐI MẬT", "ZZ")),
                 _xlsx(phonetic=("BÁO CÁO", "ZZ")))


def test_hidden_run_inside_prose_makes_no_mark(pipeline, tmp_path):
    prose = f'<w:p>{_r("Tài liệu này không")}{_r(" mật", "<w:vanish/>")}{_r(" cần bảo mật.")}</w:p>'
    assert outcome(pipeline, tmp_path, "prose.docx", _docx(prose)) is Outcome.SIGN


# --- B. page header codes -------------------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["&KFF0000", "&K04+000", "&K04-050", '&"Times New Roman,Bold"', "&14", "&B&I"])
def test_xlsx_header_formatting_codes(pipeline, tmp_path, code):
    assert_pair(pipeline, tmp_path, "header.xlsx", _xlsx(header=f"TỐI M{code}ẬT"),
                 _xlsx(header=f"BÁO C{code}ÁO"))


# --- C. list labels ---------------------------------------------------------------------------------------------


def test_docx_numbering_label(pipeline, tmp_path):
    def numbering(label: str, fmt: str = "none") -> str:
        return (f'<?xml version="1.0" encoding="UTF-8"?><w:numbering {W_NS}><w:abstractNum w:abstractNumId="0">'
                f'<w:lvl w:ilvl="0"><w:start w:val="13"/><w:numFmt w:val="{fmt}"/><w:suff w:val="nothing"/>'
                f'<w:lvlText w:val="{label}"/></w:lvl></w:abstractNum>'
                '<w:num w:numId="1"><w:abstractNumId w:val="0"/></w:num></w:numbering>')

    def doc(label: str, text: str, fmt: str = "none") -> bytes:
        ppr = '<w:numPr><w:ilvl w:val="0"/><w:numId w:val="1"/></w:numPr>'
        return _docx(_p(text, ppr), parts={"word/numbering.xml": numbering(label, fmt)})

    assert_pair(pipeline, tmp_path, "label.docx", doc("TỐI M", "ẬT"), doc("Điều ", "1. Phạm vi"))
    # the number itself spells the rest: upper letter 13 is "M"
    assert_pair(pipeline, tmp_path, "letter.docx", doc("TỐI %1", "ẬT", "upperLetter"),
                 doc("Điều %1", ". Phạm vi", "upperLetter"))


def test_odt_list_prefix(pipeline, tmp_path):
    def doc(prefix: str, text: str) -> bytes:
        auto = (f'<text:list-style style:name="L1"><text:list-level-style-number text:level="1" '
                f'style:num-prefix="{prefix}" style:num-format=""><style:list-level-properties '
                'text:list-level-position-and-space-mode="label-alignment"><style:list-level-label-alignment '
                'text:label-followed-by="nothing"/></style:list-level-properties></text:list-level-style-number>'
                "</text:list-style>")
        return _odt(f'<text:list text:style-name="L1"><text:list-item><text:p>{text}</text:p></text:list-item>'
                    "</text:list>", auto)

    assert_pair(pipeline, tmp_path, "prefix.odt", doc("TỐI M", "ẬT"), doc("Điều ", "1. Phạm vi"))


def test_rtf_list_label(pipeline, tmp_path):
    def doc(label: str, text: str) -> bytes:  # labels of 5 characters (\'05, the length, first)
        tables = (r"{\*\listtable{\list\listtemplateid1{\listlevel\levelnfc255\levelfollow2\levelstartat1"
                  r"{\leveltext\leveltemplateid1 \'05" + label + r";}{\levelnumbers;}\fi0\li0}\listid1}}"
                  r"{\*\listoverridetable{\listoverride\listid1\listoverridecount0\ls1}}")
        return _rtf(r"\pard\ls1\ilvl0 " + text + r"\par", tables)

    assert_pair(pipeline, tmp_path, "list.rtf", doc(r"T\u7888?I M", r"\u7852?T"), doc(r"\u272?i\u7873?u ", "1. Ph"))


def _numbering(abstract: str, nums: str) -> str:
    return f'<?xml version="1.0" encoding="UTF-8"?><w:numbering {W_NS}>{abstract}{nums}</w:numbering>'


def _abstract(aid: int, label: str, start: int = 1, extra: str = "") -> str:
    return (f'<w:abstractNum w:abstractNumId="{aid}">{extra}<w:lvl w:ilvl="0"><w:start w:val="{start}"/>'
            f'<w:numFmt w:val="upperLetter"/><w:suff w:val="nothing"/><w:lvlText w:val="{label}"/></w:lvl>'
            "</w:abstractNum>")


def _num(num: int, aid: int, start: int | None = None) -> str:
    override = (f'<w:lvlOverride w:ilvl="0"><w:startOverride w:val="{start}"/></w:lvlOverride>'
                if start is not None else "")
    return f'<w:num w:numId="{num}"><w:abstractNumId w:val="{aid}"/>{override}</w:num>'


def _numbered(text: str, num: int) -> str:
    return _p(text, f'<w:numPr><w:ilvl w:val="0"/><w:numId w:val="{num}"/></w:numPr>')


@pytest.mark.parametrize("case", ["shared", "restarted"])
def test_docx_numids_over_one_abstract_list_count_together(pipeline, tmp_path, case):
    """Two w:num over one w:abstractNum are one list (Word and LibreOffice continue its count): 12 items of numId 1,
    then "ẬT" of numId 2 shows "MẬT". A w:startOverride restarts the list where its numId is first used, and the
    other numId goes on from there ("L" of numId 2, then "M" of numId 1)."""
    def doc(label: str, text: str) -> bytes:
        if case == "shared":
            body, nums = "".join(_numbered("—", 1) for _ in range(12)) + _numbered(text, 2), _num(1, 0) + _num(2, 0)
        else:
            body = _numbered("Mở đầu", 1) + _numbered("—", 2) + _numbered(text, 1)
            nums = _num(1, 0) + _num(2, 0, start=12)
        return _docx(body, parts={"word/numbering.xml": _numbering(_abstract(0, label), nums)})

    assert_pair(pipeline, tmp_path, f"{case}.docx", doc("%1", "ẬT"), doc("Điều %1", ". Phạm vi"))


@pytest.mark.parametrize("via", ["numbering style", "style link"])
def test_docx_numbering_style_link(pipeline, tmp_path, via):
    """An abstractNum that only names a numbering style (w:numStyleLink) numbers as that style's list: the one its
    w:numPr names, or the abstractNum defining it (w:styleLink)."""
    def doc(label: str, text: str) -> bytes:
        numpr = '<w:pPr><w:numPr><w:numId w:val="2"/></w:numPr></w:pPr>' if via == "numbering style" else ""
        style = f'<w:style w:type="numbering" w:styleId="DanhSach"><w:name w:val="DanhSach"/>{numpr}</w:style>'
        abstract = ('<w:abstractNum w:abstractNumId="1"><w:numStyleLink w:val="DanhSach"/></w:abstractNum>'
                    + _abstract(0, label, 13, '<w:styleLink w:val="DanhSach"/>'))
        data = _docx(_numbered(text, 1), parts={"word/numbering.xml": _numbering(abstract, _num(1, 1) + _num(2, 0))})
        files = parts_of(data)
        files["word/styles.xml"] = files["word/styles.xml"].replace(b"</w:styles>", style.encode() + b"</w:styles>")
        return zipped(files)

    assert_pair(pipeline, tmp_path, "link.docx", doc("%1", "ẬT"), doc("Điều %1", ". Phạm vi"))


def _list_style(prefix: str = "", start: int = 1) -> str:
    return (f'<text:list-style style:name="L1"><text:list-level-style-number text:level="1" style:num-prefix='
            f'"{prefix}" style:num-format="A" text:start-value="{start}"><style:list-level-properties '
            'text:list-level-position-and-space-mode="label-alignment"><style:list-level-label-alignment '
            'text:label-followed-by="nothing"/></style:list-level-properties></text:list-level-style-number>'
            "</text:list-style>")


def test_odt_list_item_start_value(pipeline, tmp_path):
    """text:start-value on a list item restarts the count there: 13 is "M"."""
    def doc(prefix: str, text: str) -> bytes:
        return _odt('<text:list text:style-name="L1"><text:list-item><text:p>Mở đầu</text:p></text:list-item>'
                    f'<text:list-item text:start-value="13"><text:p>{text}</text:p></text:list-item></text:list>',
                    _list_style(prefix))

    assert_pair(pipeline, tmp_path, "itemstart.odt", doc("", "ẬT"), doc("Điều ", ". Phạm vi"))


def test_odt_numbered_paragraph(pipeline, tmp_path):
    """A text:numbered-paragraph is numbered by its list style without a text:list around it."""
    def doc(prefix: str, text: str) -> bytes:
        return _odt('<text:numbered-paragraph text:list-id="lst9" text:level="1" text:style-name="L1">'
                    f"<text:p>{text}</text:p></text:numbered-paragraph>", _list_style(prefix, 13))

    assert_pair(pipeline, tmp_path, "numbered.odt", doc("", "ẬT"), doc("Điều ", ". Phạm vi"))


# --- C2. drop-down lists: each item shown on its own -----------------------------------------------------------


@pytest.mark.parametrize("items", ['"TỐI MẬT"', '"Thường,TỐI MẬT"', "x14"])
def test_xlsx_list_validation_items(pipeline, tmp_path, items):
    """A list data validation's items are shown one by one in the cell's drop-down (x14: the extension form)."""
    import openpyxl
    from openpyxl.worksheet.datavalidation import DataValidation

    def doc(formula: str) -> bytes:
        wb = openpyxl.Workbook()
        ws = wb.active
        ws["A1"], ws["B1"] = BODY, "Thường"
        if items != "x14":
            dv = DataValidation(type="list", formula1=formula, allow_blank=True)
            ws.add_data_validation(dv)
            dv.add("B1")
        out = io.BytesIO()
        wb.save(out)
        if items != "x14":
            return out.getvalue()
        files = parts_of(out.getvalue())
        ext = ('<extLst><ext uri="{CCE6A557-97BC-4b89-ADB6-D9C93CAAB3DF}" xmlns:x14="http://schemas.microsoft.com/'
               'office/spreadsheetml/2009/9/main"><x14:dataValidations xmlns:xm="http://schemas.microsoft.com/office/'
               'excel/2006/main" count="1"><x14:dataValidation type="list" allowBlank="1"><x14:formula1><xm:f>'
               f"{formula}</xm:f></x14:formula1><xm:sqref>B1</xm:sqref></x14:dataValidation></x14:dataValidations>"
               "</ext></extLst>")
        sheet = "xl/worksheets/sheet1.xml"
        files[sheet] = files[sheet].replace(b"</worksheet>", ext.encode() + b"</worksheet>")
        return zipped(files)

    hostile = '"Thường,TỐI MẬT"' if items == "x14" else items
    assert_pair(pipeline, tmp_path, "list.xlsx", doc(hostile), doc('"Thường,Khẩn"'))


def test_ods_content_validation_list(pipeline, tmp_path):
    """An ODF content validation's list items (`of:cell-content-is-in-list(...)`) are shown in the drop-down."""
    ods = "application/vnd.oasis.opendocument.spreadsheet"

    def doc(items: str) -> bytes:
        condition = "of:cell-content-is-in-list(" + ";".join(f"&quot;{i}&quot;" for i in items.split(",")) + ")"
        content = (f'<?xml version="1.0" encoding="UTF-8"?><office:document-content {ODF_NS} '
                   'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0"><office:body><office:spreadsheet>'
                   f'<table:content-validations><table:content-validation table:name="val1" table:condition='
                   f'"{condition}" table:allow-empty-cell="true" table:display-list="unsorted" '
                   'table:base-cell-address="Sheet1.B1"/></table:content-validations><table:table table:name="Sheet1">'
                   f"<table:table-row><table:table-cell><text:p>{BODY}</text:p></table:table-cell><table:table-cell "
                   'table:content-validation-name="val1"><text:p>Thường</text:p></table:table-cell></table:table-row>'
                   "</table:table></office:spreadsheet></office:body></office:document-content>")
        return odf_package(ods, content)

    assert_pair(pipeline, tmp_path, "list.ods", doc("Thường,TỐI MẬT"), doc("Thường,Khẩn"))


# --- D. drop cap ----------------------------------------------------------------------------------------------


def test_docx_drop_cap_joined_to_its_paragraph(pipeline, tmp_path):
    def doc(letter: str, rest: str) -> bytes:
        frame = '<w:framePr w:dropCap="drop" w:lines="3" w:wrap="around" w:vAnchor="text" w:hAnchor="text"/>'
        return _docx(_p(letter, frame) + _p(rest))

    assert_pair(pipeline, tmp_path, "dropcap.docx", doc("M", "ẬT"), doc("C", "ÁC"))


# --- E. content control bound to custom XML ---------------------------------------------------------------------


def test_docx_content_control_bound_to_an_attribute(pipeline, tmp_path):
    def doc(value: str) -> bytes:
        item = f'<?xml version="1.0" encoding="UTF-8"?><root xmlns="urn:kyso"><doc v="{value}">Công văn</doc></root>'
        sdt = ('<w:sdt><w:sdtPr><w:dataBinding w:prefixMappings="xmlns:ns0=\'urn:kyso\'" '
               'w:xpath="/ns0:root[1]/ns0:doc[1]/@v" w:storeItemID="{11111111-2222-3333-4444-555555555555}"/>'
               f"<w:text/></w:sdtPr><w:sdtContent>{_p('Số 12')}</w:sdtContent></w:sdt>")
        return _docx(sdt, parts={"customXml/item1.xml": item})

    assert_pair(pipeline, tmp_path, "bound.docx", doc("TỐI MẬT"), doc("BÁO CÁO"))


# --- F. fields worked out from the document itself ---------------------------------------------------------------


def test_docx_property_fields_joined(pipeline, tmp_path):
    def doc(title: str, subject: str) -> bytes:
        core = ('<?xml version="1.0" encoding="UTF-8"?><cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/'
                'package/2006/metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/">'
                f"<dc:title>{title}</dc:title><dc:subject>{subject}</dc:subject></cp:coreProperties>")
        fields = (f'<w:p><w:fldSimple w:instr=" TITLE ">{_r("Số")}</w:fldSimple>'
                  f'<w:fldSimple w:instr=" DOCPROPERTY Subject ">{_r(" 12")}</w:fldSimple></w:p>')
        return _docx(fields, parts={"docProps/core.xml": core})

    assert_pair(pipeline, tmp_path, "props.docx", doc("TỐI M", "ẬT"), doc("BÁO C", "ÁO"))


def _bookmark(name: str, n: int, text: str) -> str:
    return f'<w:bookmarkStart w:id="{n}" w:name="{name}"/>{_r(text)}<w:bookmarkEnd w:id="{n}"/>'


def _fld(instr: str, stored: str) -> str:
    return (f'<w:r><w:fldChar w:fldCharType="begin"/></w:r><w:r><w:instrText xml:space="preserve"> {instr} '
            f'</w:instrText></w:r><w:r><w:fldChar w:fldCharType="separate"/></w:r>{_r(stored)}'
            '<w:r><w:fldChar w:fldCharType="end"/></w:r>')


SETTINGS_UPDATE = (f'<?xml version="1.0" encoding="UTF-8"?><w:settings {W_NS}><w:updateFields w:val="true"/>'
                   "</w:settings>")


@pytest.mark.parametrize("where", ["after", "before"])
def test_docx_ref_fields_to_bookmarks(pipeline, tmp_path, where):
    """{REF a1}{REF a2} with harmless stored results: Word (asked to update) and LibreOffice (on loading) show
    the bookmarks' text, here "TỐI M" and "ẬT" held in prose elsewhere, before or after the fields."""
    def doc(one: str, two: str) -> bytes:
        refs = "<w:p>" + _fld(r"REF a1 \h", "Số") + _fld(r"REF a2 \h", " 12") + "</w:p>"
        marks = (f"<w:p>{_r('Trích yếu: ')}{_bookmark('a1', 1, one)}{_r(' chỉ là mã')}</w:p>"
                 f"<w:p>{_r('Mã số ')}{_bookmark('a2', 2, two)}{_r(' số hiệu')}</w:p>")
        return _docx(refs + marks if where == "after" else marks + refs)

    assert_pair(pipeline, tmp_path, f"ref-{where}.docx", doc("TỐI M", "ẬT"), doc("Điều ", "1"))


def test_docx_set_ask_fillin_and_case_switch(pipeline, tmp_path):
    r"""SET gives a bookmark its text, ASK its default answer, FILLIN shows its default; \* Upper capitalises."""
    def doc(one: str, two: str) -> bytes:
        return _docx("<w:p>" + _fld(f'SET a "{one}"', "") + _fld(f'ASK b "?" \\d "{two}"', "") + "</w:p>"
                     + "<w:p>" + _fld(r"REF a \* Upper", "x") + _fld(r"REF b \* Upper", "y") + "</w:p>"
                     + "<w:p>" + _r(one.upper()) + _fld(f'FILLIN "?" \\d "{two.upper()}"', "z") + "</w:p>")

    assert_pair(pipeline, tmp_path, "set.docx", doc("tối m", "ật"), doc("điều ", "1"))


def test_docx_unknown_fields_when_updated_on_opening(pipeline, tmp_path):
    """A field Word works out and the reader does not (IF, INCLUDETEXT ...): refused only when the document asks
    for its fields to be updated on opening (otherwise the stored result is what is shown)."""
    body = "<w:p>" + _r("TỐI M") + _fld('IF 1 = 1 "ẬT" "x"', "x") + "</w:p>"
    settings = {"word/settings.xml": SETTINGS_UPDATE}
    assert outcome(pipeline, tmp_path, "if.docx", _docx(body, parts=settings)) is Outcome.REJECT
    assert outcome(pipeline, tmp_path, "if-stored.docx", _docx(body)) is Outcome.SIGN
    known = "<w:p>" + _r("Trang ") + _fld("PAGE", "1") + "</w:p>"
    assert outcome(pipeline, tmp_path, "page.docx", _docx(known, parts=settings)) is Outcome.SIGN


def test_odt_user_fields_and_variables(pipeline, tmp_path):
    def user(one: str, two: str) -> bytes:
        decls = ('<text:user-field-decls><text:user-field-decl office:value-type="string" office:string-value='
                 f'"{one}" text:name="a"/><text:user-field-decl office:value-type="string" office:string-value="{two}"'
                 ' text:name="b"/></text:user-field-decls>')
        return _odt(decls + '<text:p><text:user-field-get text:name="a">Số</text:user-field-get>'
                    '<text:user-field-get text:name="b"> 12</text:user-field-get></text:p>')

    def variable(one: str, two: str) -> bytes:
        return _odt('<text:p><text:variable-get text:name="a">Số</text:variable-get><text:variable-get text:name="b">'
                    ' 12</text:variable-get></text:p><text:p>Công văn <text:variable-set text:name="a" office:value-'
                    f'type="string" text:display="none">{one}</text:variable-set><text:variable-set text:name="b" '
                    f'office:value-type="string" text:display="none">{two}</text:variable-set>số 12</text:p>')

    assert_pair(pipeline, tmp_path, "user.odt", user("TỐI M", "ẬT"), user("Điều ", "1"))
    assert_pair(pipeline, tmp_path, "variable.odt", variable("TỐI M", "ẬT"), variable("Điều ", "1"))


def test_odt_bookmark_references(pipeline, tmp_path):
    def doc(one: str, two: str) -> bytes:
        return _odt('<text:p><text:bookmark-ref text:reference-format="text" text:ref-name="a">Số</text:bookmark-ref>'
                    '<text:bookmark-ref text:reference-format="text" text:ref-name="b"> 12</text:bookmark-ref></text:p>'
                    f'<text:p>Trích yếu <text:bookmark-start text:name="a"/>{one}<text:bookmark-end text:name="a"/> là'
                    f' mã</text:p><text:p>Mã <text:bookmark-start text:name="b"/>{two}<text:bookmark-end text:name="b"/>'
                    " số hiệu</text:p>")

    assert_pair(pipeline, tmp_path, "bookmarks.odt", doc("TỐI M", "ẬT"), doc("Điều ", "1"))


def test_odt_title_and_subject_fields(pipeline, tmp_path):
    """text:title is a field in a paragraph (not a heading of its own): it shows the document's title."""
    def doc(title: str, subject: str) -> bytes:
        return _odt("<text:p><text:title>Số</text:title><text:subject> 12</text:subject></text:p>",
                    meta=f"<dc:title>{title}</dc:title><dc:subject>{subject}</dc:subject>")

    assert_pair(pipeline, tmp_path, "title.odt", doc("TỐI M", "ẬT"), doc("Điều ", "1"))


def test_odt_hidden_text_glued_to_the_mark(pipeline, tmp_path):
    def doc(text: str) -> bytes:
        return _odt(f'<text:p>{text}<text:hidden-text text:condition="ooow:1==1" text:string-value="XYZ" '
                    'text:is-hidden="true">XYZ</text:hidden-text></text:p>')

    assert_pair(pipeline, tmp_path, "hiddentext.odt", doc("TỐI MẬT"), doc("BÁO CÁO"))


def test_docx_altchunk_read_as_html(pipeline, tmp_path):
    """A w:altChunk's HTML is shown in place as HTML: read by the HTML reader (its generated content too), not
    as XML."""
    def doc(before: str, text: str) -> bytes:
        html = (f'<html xmlns="http://www.w3.org/1999/xhtml"><head><style>p.x::before {{ content: "{before}" }}'
                f'</style></head><body><p class="x">{text}</p></body></html>')
        rels = ('<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/'
                'package/2006/relationships"><Relationship Id="rIdAC" Type="http://schemas.openxmlformats.org/'
                'officeDocument/2006/relationships/aFChunk" Target="afchunk.htm"/></Relationships>')
        data = _docx('<w:altChunk xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships" '
                     'r:id="rIdAC"/>', parts={"word/afchunk.htm": html})
        files = parts_of(data)
        old = files["word/_rels/document.xml.rels"]
        files["word/_rels/document.xml.rels"] = old.replace(b"</Relationships>", rels.split("relationships\">")[1]
                                                            .encode())
        return zipped(files)

    assert_pair(pipeline, tmp_path, "altchunk.docx", doc("TỐI M", "ẬT"), doc("Điều ", "1. Phạm vi"))
