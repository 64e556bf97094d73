"""The regulation's 6-monthly and yearly report (Quy chế, Điều 10.5 and its appendix template).

`build_report(settings, period, ...)` gathers the numbers (inventory + decision log); `write_report(...)`
renders one format: docx, pdf (signed with the organisation key through the pipeline), csv, json.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from gateway.reports.figures import ReportData, build_report
from gateway.reports.period import Period, parse_period

FORMATS = ("docx", "pdf", "csv", "json")

__all__ = ["FORMATS", "Period", "ReportData", "build_report", "parse_period", "write_report"]


def write_report(settings, data: ReportData, fmt: str, dst: Path, *, sign: bool = False) -> Path:
    """Render `data` as `fmt` at `dst`.

    The PDF is written unsigned: the report is an issued document (BÁO CÁO with number, Nơi nhận and the head's
    signature block), so Nghị định 30/2020 Điều 32.2.d applies to it too: the head of the unit signs it first,
    then the organisation's seal goes over that signature (`gateway sign`, or `seal_report`). sign=True asks
    the pipeline anyway and is refused (REPORT_NOT_SIGNED) unless the rendered file already carried the head's
    signature, which a fresh rendering never does: kept for callers that want the refusal spelled out."""
    from gateway.reports.fonts import serif_family

    dst = Path(dst)
    if fmt == "json":
        from gateway.reports.csvjson import write_json

        return write_json(data, dst)
    if fmt == "csv":
        from gateway.reports.csvjson import write_csv

        return write_csv(data, dst)
    family = serif_family(settings.appearance.font)
    if fmt == "docx":
        from gateway.reports.docx import render_docx

        return render_docx(data, dst, chart_font=family.regular)
    if fmt == "pdf":
        from gateway.reports.pdf import render_pdf, sign_report

        if not sign:
            return render_pdf(data, dst, family)
        with tempfile.TemporaryDirectory(prefix="report-", dir=dst.parent) as tmp:
            unsigned = render_pdf(data, Path(tmp) / dst.name, family)
            return sign_report(settings, unsigned, dst, number=data.number)
    raise ValueError(f"unknown format {fmt}")
