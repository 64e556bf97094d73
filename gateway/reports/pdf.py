"""The report as PDF (reportlab), the same content as the DOCX, with Liberation Serif 2 embedded (metric-
compatible with Times New Roman, every Vietnamese letter).

Signing follows Nghị định 30/2020 Điều 32.2.d like any issued document (docs/report.md): `gateway report`
writes the PDF unsigned; the head of the unit signs it with their own certificate; then `sign_report` (or
`gateway sign`) puts the organisation's seal over the head's signature through the pipeline, so the decision
is in the decision log like any other. Without the head's signature the pipeline refuses (the report's own
Decree 30 form makes it an issued document whatever kind is declared).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from xml.sax.saxutils import escape

from gateway.reports import content as C
from gateway.reports.chart import render_chart
from gateway.reports.figures import ReportData
from gateway.reports.fonts import Family

FAMILY = "KysoSerif"
# Tables default to Helvetica (a font reference that is not embedded) even when every cell is a Paragraph.
_BASE = [("FONTNAME", (0, 0), (-1, -1), FAMILY)]


def _register(fam: Family) -> None:
    from reportlab.lib.fonts import addMapping
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    names = {
        FAMILY: fam.regular, f"{FAMILY}-Bold": fam.bold, f"{FAMILY}-Italic": fam.italic,
        f"{FAMILY}-BoldItalic": fam.bold_italic,
    }
    for name, path in names.items():
        pdfmetrics.registerFont(TTFont(name, str(path)))  # TrueType: embedded (subset) by reportlab
    addMapping(FAMILY, 0, 0, FAMILY)
    addMapping(FAMILY, 1, 0, f"{FAMILY}-Bold")
    addMapping(FAMILY, 0, 1, f"{FAMILY}-Italic")
    addMapping(FAMILY, 1, 1, f"{FAMILY}-BoldItalic")


def render_pdf(data: ReportData, dst: Path, fonts: Family) -> Path:
    """An unsigned PDF of the report (sign_report signs it)."""
    from reportlab.lib import colors
    from reportlab.lib.enums import TA_CENTER, TA_JUSTIFY, TA_LEFT
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import (Image, PageBreak, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle)

    _register(fonts)

    def style(size=14, align=TA_CENTER, bold=False, italic=False, before=0, after=0, indent=0, lead=1.2):
        name = FAMILY + ("-BoldItalic" if bold and italic else "-Bold" if bold else "-Italic" if italic else "")
        return ParagraphStyle("s", fontName=name, fontSize=size, leading=size * lead, alignment=align,
                              spaceBefore=before, spaceAfter=after, firstLineIndent=indent)

    def P(text, **kw):
        return Paragraph(escape(text), style(**kw))

    width = (210 - 30 - 15) * mm
    story: list = []

    # Header: two columns, no borders.
    left = []
    if data.parent:
        left.append(P(data.parent.upper(), size=13))
    left += [P(data.unit.upper(), size=13, bold=True), P("───────", size=8), P(C.number_line(data.number), size=13, before=4)]
    right = [
        P(C.NATIONAL, size=13, bold=True),
        Paragraph(f"<u>{escape(C.MOTTO)}</u>", style(size=14, bold=True)),
        P(C.vn_date_line(data.place, data.issued_on), size=14, italic=True, before=12),
    ]
    hdr = Table([[left, right]], colWidths=[62 * mm, 103 * mm])
    hdr.setStyle(TableStyle(_BASE + [("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0),
                             ("RIGHTPADDING", (0, 0), (-1, -1), 0)]))
    story += [hdr, Spacer(1, 14),
              P(C.DOC_TYPE, bold=True), P(C.title_line(data), bold=True, after=10),
              P(C.intro(data), align=TA_JUSTIFY, indent=10 * mm, after=6)]

    # The regulation's table: two header rows, "Tổng số đã thu hồi" spanning its two sub-columns.
    cellst = style(size=12)
    cellst_l = style(size=12, align=TA_LEFT)
    cellst_b = style(size=12, bold=True)
    cellst_bl = style(size=12, bold=True, align=TA_LEFT)

    code_st = style(size=9, align=TA_LEFT)

    def cell(text, *, bold=False, left=False, code=False):
        st = code_st if code else (cellst_bl if left else cellst_b) if bold else (cellst_l if left else cellst)
        return Paragraph(escape(text), st)

    rows = C.main_rows(data)
    grid = [[cell(t, bold=True) for t in C.MAIN_HEADER_TOP], [cell(t, bold=True) for t in C.MAIN_HEADER_SUB]]
    for r in rows:
        total = r[1] == C.TOTAL_LABEL
        grid.append([cell(t, bold=total, left=(i in (1, 5, 6) and not (total and i == 1))) for i, t in enumerate(r)])
    tbl = Table(grid, colWidths=[w * mm for w in C.MAIN_WIDTHS_MM], repeatRows=2)
    spans = [("SPAN", (i, 0), (i, 1)) for i in (0, 1, 2, 3, 6)] + [("SPAN", (4, 0), (5, 0))]
    tbl.setStyle(TableStyle(_BASE + spans + [
        ("GRID", (0, 0), (-1, -1), 0.5, colors.black),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
    ]))
    story.append(tbl)
    for n in C.notes(data):
        story.append(P(n, size=12, italic=True, align=TA_JUSTIFY, before=6))

    # Recipients and the head of the unit.
    fl = [P("Nơi nhận:", size=12, bold=True, italic=True, align=TA_LEFT)] + [
        P(x, size=11, align=TA_LEFT) for x in C.recipients(data)
    ]
    fr = [P(data.head_title.upper(), bold=True), Spacer(1, 60)]
    if data.signer_name:
        fr.append(P(data.signer_name, bold=True))
    foot = Table([[fl, fr]], colWidths=[80 * mm, 85 * mm])
    foot.setStyle(TableStyle(_BASE + [("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0)]))
    story += [Spacer(1, 12), foot]

    # Annex.
    story += [PageBreak(), P(C.ANNEX_TITLE, bold=True), P(C.ANNEX_SUBTITLE, bold=True),
              P(C.annex_ref(data), size=13, italic=True, after=8)]
    for tb in C.annex_tables(data):
        story.append(P(tb.title, size=13, bold=True, align=TA_LEFT, before=8, after=3))
        if not tb.rows:
            story.append(P(C.EMPTY, size=12, italic=True, align=TA_LEFT))
            continue
        g = [[cell(h, bold=True) for h in tb.header]]
        for ri, row in enumerate(tb.rows, 1):
            bold = tb.total_row and ri == len(tb.rows)
            g.append([cell(t, bold=bold, left=not (t.isdigit() and ci > 0), code=ci == tb.code_col)
                      for ci, t in enumerate(row)])
        total_w = sum(tb.widths)
        at = Table(g, colWidths=[width * w / total_w for w in tb.widths], repeatRows=1)
        at.setStyle(TableStyle(_BASE + [("GRID", (0, 0), (-1, -1), 0.5, colors.black), ("VALIGN", (0, 0), (-1, -1), "MIDDLE")]))
        story.append(at)

    with tempfile.TemporaryDirectory() as tmp:
        png = render_chart(data.gateway, Path(tmp) / "chart.png", font=fonts.regular)
        img_w = 160 * mm
        story += [Spacer(1, 10), Image(str(png), width=img_w, height=img_w * 2.9 / 6.3),
                  P(C.CHART_CAPTION, size=12, italic=True)]
        doc = SimpleDocTemplate(
            str(dst), pagesize=A4, topMargin=25 * mm, bottomMargin=20 * mm, leftMargin=30 * mm, rightMargin=15 * mm,
            title=f"{C.DOC_TYPE} {C.title_line(data)}", author=data.unit, subject=C.SUBJECT, creator="Kyso Gateway", initialFontName=FAMILY,
        )
        doc.build(story)
    return Path(dst)


def sign_report(settings, unsigned: Path, dst: Path, *, number: str = "") -> Path:
    """Seal the report (signed by the head of the unit) with the organisation key through the pipeline; the
    signed file lands at dst.

    Fail closed: anything but SIGN (or no output) is an error and nothing is written at dst.
    """
    from gateway.errors import PolicyRefusal, TemporaryError
    from gateway.model import Channel, Declared, DocKind, Document, Outcome
    from gateway.pipeline import Pipeline

    doc = Document(channel=Channel.CLI, kind=DocKind.REPORT, name=Path(dst).name, path=Path(unsigned),
                   media_type="application/pdf", declared=Declared(number=number or None, kind=DocKind.REPORT))
    work = Path(tempfile.mkdtemp(prefix="report-sign-", dir=Path(dst).parent))
    try:
        pipeline = Pipeline(settings)
        try:
            result = pipeline.process(doc, out_dir=work)
        finally:
            close = getattr(pipeline, "close", None)
            if close:
                close()
        if result.outcome is not Outcome.SIGN or result.output is None:
            raise PolicyRefusal(f"report not signed: {result.outcome}", code="REPORT_NOT_SIGNED",
                                outcome=str(result.outcome))
        if result.output.detached:
            raise TemporaryError("report signed detached, expected PAdES", code="REPORT_NOT_SIGNED", outcome="cades")
        shutil.move(str(result.output.path), str(dst))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return Path(dst)
