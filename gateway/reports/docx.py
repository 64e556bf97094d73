"""The report as DOCX (python-docx), laid out as Decree 30/2020 Phụ lục I lays out an administrative document:
A4, margins top/bottom 20 mm, left 30 mm, right 15 mm; Times New Roman 13-14 pt; the two-column header;
the regulation's table with its merged "Tổng số đã thu hồi" header; "Nơi nhận" and the head's block; an annex.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from gateway.reports import content as C
from gateway.reports.chart import render_chart
from gateway.reports.figures import ReportData

FONT = "Times New Roman"


def render_docx(data: ReportData, dst: Path, *, chart_font: Path | None = None) -> Path:
    from docx import Document
    from docx.enum.section import WD_ORIENT
    from docx.enum.table import WD_TABLE_ALIGNMENT, WD_CELL_VERTICAL_ALIGNMENT
    from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_BREAK
    from docx.oxml.ns import qn
    from docx.shared import Mm, Pt

    doc = Document()
    sec = doc.sections[0]
    sec.orientation = WD_ORIENT.PORTRAIT
    sec.page_width, sec.page_height = Mm(210), Mm(297)
    sec.top_margin, sec.bottom_margin = Mm(25), Mm(20)
    sec.left_margin, sec.right_margin = Mm(30), Mm(15)

    normal = doc.styles["Normal"]
    normal.font.name = FONT
    normal.font.size = Pt(14)
    rpr = normal.element.get_or_add_rPr()
    rfonts = rpr.get_or_add_rFonts()
    for attr in ("w:ascii", "w:hAnsi", "w:cs", "w:eastAsia"):
        rfonts.set(qn(attr), FONT)  # Vietnamese diacritics must not fall back to another font
    normal.paragraph_format.space_after = Pt(0)
    normal.paragraph_format.space_before = Pt(0)

    CENTER, JUSTIFY, LEFT = WD_ALIGN_PARAGRAPH.CENTER, WD_ALIGN_PARAGRAPH.JUSTIFY, WD_ALIGN_PARAGRAPH.LEFT

    def para(container, text="", *, size=14, bold=False, italic=False, underline=False, align=CENTER,
             before=0, after=0, indent_mm=0):
        p = container.add_paragraph()
        p.alignment = align
        p.paragraph_format.space_before = Pt(before)
        p.paragraph_format.space_after = Pt(after)
        if indent_mm:
            p.paragraph_format.first_line_indent = Mm(indent_mm)
        if text:
            r = p.add_run(text)
            r.font.size, r.bold, r.italic, r.underline = Pt(size), bold, italic, underline
        return p

    def cell_text(cell, text, *, size=12, bold=False, italic=False, align=CENTER):
        cell.vertical_alignment = WD_CELL_VERTICAL_ALIGNMENT.CENTER
        p = cell.paragraphs[0]
        p.alignment = align
        r = p.add_run(text)
        r.font.size, r.bold, r.italic = Pt(size), bold, italic
        return p

    def no_borders(table):
        tblPr = table._tbl.tblPr
        borders = tblPr.find(qn("w:tblBorders"))
        if borders is not None:
            tblPr.remove(borders)
        from docx.oxml import OxmlElement

        b = OxmlElement("w:tblBorders")
        for side in ("top", "left", "bottom", "right", "insideH", "insideV"):
            e = OxmlElement(f"w:{side}")
            e.set(qn("w:val"), "nil")
            b.append(e)
        tblPr.append(b)

    def widths(table, mm):
        for row in table.rows:
            for cell, w in zip(row.cells, mm):
                cell.width = Mm(w)

    # Header: governing body / unit / number (left), national title / motto / place and date (right).
    hdr = doc.add_table(rows=1, cols=2)
    hdr.alignment = WD_TABLE_ALIGNMENT.CENTER
    hdr.autofit = False
    no_borders(hdr)
    widths(hdr, (62, 103))
    left, right = hdr.rows[0].cells
    left.paragraphs[0].text = ""
    first = left.paragraphs[0]
    if data.parent:
        r = first.add_run(data.parent.upper())
        r.font.size = Pt(13)
        first.alignment = CENTER
        unit_p = para(left, data.unit.upper(), size=13, bold=True)
    else:
        unit_p = first
        unit_p.alignment = CENTER
        r = unit_p.add_run(data.unit.upper())
        r.font.size, r.bold = Pt(13), True
    para(left, "───────", size=8)  # the short line under the issuing body's name
    para(left, C.number_line(data.number), size=13, before=4)
    right.paragraphs[0].alignment = CENTER
    r = right.paragraphs[0].add_run(C.NATIONAL)
    r.font.size, r.bold = Pt(13), True
    para(right, C.MOTTO, size=14, bold=True, underline=True)
    para(right, C.vn_date_line(data.place, data.issued_on), size=14, italic=True, before=14)

    para(doc, C.DOC_TYPE, size=14, bold=True, before=18)
    para(doc, C.title_line(data), size=14, bold=True, after=12)
    para(doc, C.intro(data), size=14, align=JUSTIFY, indent_mm=10, after=6)

    # The regulation's table.
    rows = C.main_rows(data)
    t = doc.add_table(rows=2 + len(rows), cols=7)
    t.style = "Table Grid"
    t.alignment = WD_TABLE_ALIGNMENT.CENTER
    t.autofit = False
    widths(t, C.MAIN_WIDTHS_MM)
    for i in (0, 1, 2, 3, 6):
        t.cell(0, i).merge(t.cell(1, i))
    t.cell(0, 4).merge(t.cell(0, 5))
    for i, text in enumerate(C.MAIN_HEADER_TOP):
        if text:
            cell_text(t.cell(0, i), text, bold=True)
    for i in (4, 5):
        cell_text(t.cell(1, i), C.MAIN_HEADER_SUB[i], bold=True)
    for ri, row in enumerate(rows, 2):
        total = ri == len(rows) + 1
        for ci, text in enumerate(row):
            cell_text(t.cell(ri, ci), text, bold=total, align=LEFT if ci in (1, 5, 6) and not (total and ci == 1) else CENTER,
                      size=12)
    for n in C.notes(data):
        para(doc, n, size=12, italic=True, align=JUSTIFY, before=6)

    # Recipients (left) and the head of the unit (right).
    foot = doc.add_table(rows=1, cols=2)
    foot.autofit = False
    no_borders(foot)
    widths(foot, (80, 85))
    fl, fr = foot.rows[0].cells
    p = fl.paragraphs[0]
    p.paragraph_format.space_before = Pt(12)
    r = p.add_run("Nơi nhận:")
    r.font.size, r.bold, r.italic = Pt(12), True, True
    for line in C.recipients(data):
        para(fl, line, size=11, align=LEFT)
    p = fr.paragraphs[0]
    p.alignment = CENTER
    p.paragraph_format.space_before = Pt(12)
    r = p.add_run(data.head_title.upper())
    r.font.size, r.bold = Pt(14), True
    for _ in range(4):
        para(fr, "")
    if data.signer_name:
        para(fr, data.signer_name, size=14, bold=True)

    # Annex: the gateway's own figures for the period.
    p = doc.add_paragraph()
    p.add_run().add_break(WD_BREAK.PAGE)
    para(doc, C.ANNEX_TITLE, size=14, bold=True)
    para(doc, C.ANNEX_SUBTITLE, size=14, bold=True)
    para(doc, C.annex_ref(data), size=13, italic=True, after=8)
    text_w = 165
    for tb in C.annex_tables(data):
        para(doc, tb.title, size=13, bold=True, align=LEFT, before=8, after=3)
        if not tb.rows:
            para(doc, C.EMPTY, size=12, italic=True, align=LEFT)
            continue
        at = doc.add_table(rows=1 + len(tb.rows), cols=len(tb.header))
        at.style = "Table Grid"
        at.alignment = WD_TABLE_ALIGNMENT.CENTER
        at.autofit = False
        total_w = sum(tb.widths)
        widths(at, [text_w * w / total_w for w in tb.widths])
        for ci, h in enumerate(tb.header):
            cell_text(at.cell(0, ci), h, bold=True, size=12)
        for ri, row in enumerate(tb.rows, 1):
            bold = tb.total_row and ri == len(tb.rows)
            for ci, text in enumerate(row):
                numeric = text.isdigit() and ci > 0
                cell_text(at.cell(ri, ci), text, bold=bold, size=9 if ci == tb.code_col else 12,
                          align=CENTER if numeric else LEFT)
    with tempfile.TemporaryDirectory() as tmp:
        png = render_chart(data.gateway, Path(tmp) / "chart.png", font=chart_font)
        para(doc, "", before=10)
        doc.add_picture(str(png), width=Mm(160))
        doc.paragraphs[-1].alignment = CENTER
        para(doc, C.CHART_CAPTION, size=12, italic=True)
        dst = Path(dst)
        doc.save(dst)
    return dst
