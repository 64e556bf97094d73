"""The report's words and tables, once, for every renderer (DOCX, PDF): the template of the regulation's
appendix laid out as Decree 30/2020 Phụ lục I lays out an administrative document.

Our wording where the template leaves text open: the introductory sentence, the annex titles, and the title
for a half year ("… 6 tháng đầu năm 2026" / "… 6 tháng cuối năm 2026"; the template's "năm <năm>" is kept
for the yearly report), so the reader sees which half a 6-monthly report covers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from gateway.model import Reason
from gateway.reasons import render
from gateway.reports.figures import OUTCOMES, ReportData

NATIONAL = "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"
MOTTO = "Độc lập - Tự do - Hạnh phúc"
DOC_TYPE = "BÁO CÁO"
SUBJECT = "Tình hình quản lý, sử dụng chứng thư số, chữ ký số"
RECORD_KEEPING = "Lưu: VT"

MAIN_HEADER_TOP = ("STT", "Tên loại chứng thư số", "Tổng số chứng thư số được cấp", "Tổng số đang sử dụng",
                   "Tổng số đã thu hồi", "", "Ghi chú")
MAIN_HEADER_SUB = ("", "", "", "", "Số lượng", "Lý do thu hồi", "")
# 165 mm: A4 less margins 30 + 15 mm (Decree 30). "STT" at 12 pt bold is 8 mm, plus the cell padding (4.2 mm in
# the PDF, 3.8 mm in Word): 14 mm keeps it on one line.
MAIN_WIDTHS_MM = (14, 38, 22, 21, 17, 30, 23)
TOTAL_LABEL = "Tổng cộng"

OUTCOME_LABELS = {
    "sign": "Ký số",
    "pass": "Chuyển tiếp (đã có chữ ký hợp lệ)",
    "reject": "Từ chối",
    "block": "Chặn (tài liệu mật)",
}
OUTCOME_SHORT = {"sign": "Ký số", "pass": "Chuyển tiếp", "reject": "Từ chối", "block": "Chặn"}
CHANNEL_LABELS = {
    "smtp": "Thư điện tử (SMTP)",
    "folder": "Thư mục dùng chung",
    "portal": "Cổng thông tin điện tử (HTTP)",
    "cli": "Dòng lệnh (CLI)",
}


@dataclass(frozen=True)
class Table:
    title: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    widths: tuple[float, ...]  # relative
    total_row: bool = False  # the last row is a total (bold)
    code_col: int | None = None  # a column of reason codes: smaller type so a code never breaks


def vn_date_line(place: str, d) -> str:
    """'Hà Nội, ngày 05 tháng 01 năm 2026': days below 10 and months 1-2 take a leading zero (Decree 30)."""
    month = f"{d.month:02d}" if d.month <= 2 else str(d.month)
    return f"{place}, ngày {d.day:02d} tháng {month} năm {d.year}"


def number_line(number: str) -> str:
    """'Số: 12/BC-VP'. Only a number given -> '12/BC'; nothing -> blanks to fill in by hand."""
    n = (number or "").strip()
    if not n:
        return "Số:        /BC-"
    return f"Số: {n}" if "/" in n else f"Số: {n}/BC"


def title_line(data: ReportData) -> str:
    return f"{SUBJECT} {data.period.label_vi}"


LEGAL_BASIS = ("Quy chế quản lý, sử dụng chữ ký số, chứng thư số chuyên dùng ban hành kèm theo Quyết định số "
               "735/QĐ-UBND-HC (Điều 10.5)")


def data_until_day(data: ReportData):
    """The last day the figures count: the period's last day, or the report's own date when it is earlier
    (a report dated 20/06 cannot count to 30/06). The title, the sentence, the notes and the figures agree."""
    return (data.data_end - timedelta(microseconds=1)).astimezone(data.data_end.tzinfo).date()


def intro(data: ReportData) -> str:
    p = data.period
    last = p.end - timedelta(days=1)
    return (
        f"Thực hiện {LEGAL_BASIS}, {data.unit} báo cáo tình hình quản lý, sử dụng chứng thư số, chữ ký số "
        f"{p.label_vi} (từ ngày {p.start:%d/%m/%Y} đến ngày {last:%d/%m/%Y}), số liệu tính đến hết ngày "
        f"{data_until_day(data):%d/%m/%Y}, như sau:"
    )


def main_rows(data: ReportData) -> list[tuple[str, ...]]:
    out = []
    for i, r in enumerate(data.rows, 1):
        is_total = r.cert_type is None
        out.append((
            "" if is_total else str(i),
            TOTAL_LABEL if is_total else r.cert_type.label_vi,
            str(r.issued), str(r.in_use), str(r.revoked), r.reasons_text, r.note_text,
        ))
    return out


def notes(data: ReportData) -> list[str]:
    return [
        f"Ghi chú: số liệu tính đến hết ngày {data_until_day(data):%d/%m/%Y}; chứng thư số hết hạn được tính là đã"
        " thu hồi (lý do "
        "\u201cHết hạn sử dụng\u201d, Nghị định 68/2024/NĐ-CP, Điều 17); cột Ghi chú nêu số phát sinh trong kỳ.",
    ]


def recipients(data: ReportData) -> list[str]:
    items = list(data.recipients) + [RECORD_KEEPING]
    return [f"- {x}{'.' if i == len(items) - 1 else ';'}" for i, x in enumerate(items)]


def reason_text(code: str) -> str:
    """The Vietnamese text of a reason code; the counts keep no parameters, so placeholders show as '…'."""
    import re

    return re.sub(r"\{[a-z_]+\}", "…", render(Reason.of(code)).vi)


def annex_tables(data: ReportData) -> list[Table]:
    g = data.gateway
    o = [x.value for x in OUTCOMES]
    t1 = Table(
        "1. Kết quả xử lý văn bản",
        ("Kết quả", "Số văn bản"),
        tuple((OUTCOME_LABELS[k], str(g.by_outcome[k])) for k in o) + ((TOTAL_LABEL, str(g.total)),),
        (3, 1),
        total_row=True,
    )
    head = tuple(OUTCOME_SHORT[k] for k in o) + (TOTAL_LABEL,)
    ch_rows = tuple(
        (CHANNEL_LABELS.get(ch, ch),) + tuple(str(c[k]) for k in o) + (str(sum(c.values())),)
        for ch, c in g.by_channel.items()
    )
    t2 = Table("2. Theo kênh tiếp nhận", ("Kênh",) + head, ch_rows, (3, 1, 1, 1, 1, 1))
    m_rows = tuple(
        (f"{m[5:]}/{m[:4]}",) + tuple(str(c[k]) for k in o) + (str(sum(c.values())),) for m, c in g.by_month.items()
    )
    m_rows += ((TOTAL_LABEL,) + tuple(str(g.by_outcome[k]) for k in o) + (str(g.total),),)
    t3 = Table("3. Theo tháng", ("Tháng",) + head, m_rows, (2, 1, 1, 1, 1, 1), total_row=True)
    t4 = Table(
        "4. Các lý do từ chối nhiều nhất",
        ("STT", "Mã lý do", "Lý do", "Số văn bản"),
        tuple((str(i), c, reason_text(c), str(n)) for i, (c, n) in enumerate(g.top_rejections, 1)),
        (40, 185, 198, 45),  # points: the longest code at 9 pt is about 172 pt wide; "STT" needs 35 with padding
        code_col=1,
    )
    t5 = Table(
        "5. Theo lý do (mọi kết quả)",
        ("Mã lý do", "Lý do", "Số văn bản"),
        tuple((c, reason_text(c), str(n)) for c, n in g.by_reason),
        (185, 238, 45),
        code_col=0,
    )
    return [t1, t2, t3, t4, t5]


ANNEX_TITLE = "PHỤ LỤC"
ANNEX_SUBTITLE = "Số liệu xử lý văn bản của cổng ký số trong kỳ báo cáo"
CHART_CAPTION = "Hình 1. Số văn bản theo tháng và kết quả xử lý"
EMPTY = "(không có / none)"


def annex_ref(data: ReportData) -> str:
    n = number_line(data.number).removeprefix("Số: ").strip()
    return f"(Kèm theo Báo cáo số {n} ngày {data.issued_on:%d/%m/%Y} của {data.unit})"
