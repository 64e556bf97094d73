"""`gateway report --period 2026-H1|2026-H2|2026 --format docx|pdf|csv|json -o FILE`: the regulation's report."""

from __future__ import annotations

from pathlib import Path

from gateway.cli.common import EXIT_OK, say, settings_from


def register(subparsers) -> None:
    from gateway.reports import FORMATS

    p = subparsers.add_parser(
        "report",
        help="báo cáo 6 tháng / năm về chứng thư số, chữ ký số / the 6-monthly or yearly report",
        description="Báo cáo tình hình quản lý, sử dụng chứng thư số, chữ ký số (Quy chế Điều 10.5). Tệp PDF"
        " chưa ký: thủ trưởng đơn vị ký số trước, sau đó `gateway sign` đóng dấu của cơ quan (Nghị định 30/2020"
        " Điều 32.2.d; docs/report.md) / the regulation's report. The PDF is written unsigned: the head of the"
        " unit signs it first, then `gateway sign` adds the organisation's seal over that signature.",
    )
    p.add_argument("--period", required=True, type=_period,
                   help="kỳ báo cáo, giờ Việt Nam / report period, Vietnam time: 2026-H1 | 2026-H2 | 2026")
    p.add_argument("--unit", help="tên đơn vị / unit name (default: report.unit)")
    p.add_argument("--parent", help="cơ quan chủ quản / governing body (default: report.parent)")
    p.add_argument("--number", help="số, ký hiệu / number and symbol, e.g. 12/BC-VP")
    p.add_argument("--place", help="địa danh / place (default: report.place)")
    p.add_argument("--date", help="ngày báo cáo / report date YYYY-MM-DD (default: today)")
    p.add_argument("--signer-name", default="", help="họ tên thủ trưởng / name of the head of the unit")
    p.add_argument("--recipient", action="append", default=None,
                   help="nơi nhận (lặp lại được) / recipient (repeatable; default: Sở Thông tin và Truyền thông)")
    p.add_argument("--format", required=True, choices=FORMATS, help="định dạng / format: " + ", ".join(FORMATS))
    p.add_argument("-o", "--output", required=True, type=Path, metavar="FILE", help="tệp ra / output file")
    p.add_argument("--unsigned", action="store_true",
                   help="(mặc định, giữ để tương thích / the default now, kept for compatibility)")
    p.set_defaults(func=_report)


def _period(text: str):
    """A bad --period is a usage error (exit 2), said in both languages with its reason code."""
    import argparse

    from gateway.errors import GatewayError
    from gateway.reasons import render
    from gateway.reports import parse_period

    try:
        return parse_period(text)
    except GatewayError as exc:
        raise argparse.ArgumentTypeError(render(exc.reason).line()) from None


def _report(args) -> int:
    from dataclasses import replace

    from gateway.certs import parse_when
    from gateway.reports import build_report, write_report

    settings = settings_from(args, signing=args.format == "pdf" and not args.unsigned)
    period = args.period
    data = build_report(
        settings, period, unit=args.unit, parent=args.parent, number=args.number, place=args.place,
        issued_on=parse_when(args.date) if args.date else None, signer_name=args.signer_name,
    )
    if args.recipient:
        data = replace(data, recipients=tuple(args.recipient))
    out = write_report(settings, data, args.format, args.output)
    t = data.total
    g = data.gateway
    say(
        f"đã lập báo cáo {period.key} / report written: {out}",
        f"  chứng thư số / certificates: cấp {t.issued}, đang dùng {t.in_use}, thu hồi {t.revoked}",
        f"  văn bản / documents: {g.total} (ký {g.by_outcome['sign']}, chuyển tiếp {g.by_outcome['pass']}, "
        f"từ chối {g.by_outcome['reject']}, chặn {g.by_outcome['block']})",
    )
    if args.format == "pdf":
        say("  PDF chưa ký số: thủ trưởng đơn vị ký số trước, sau đó đóng dấu của cơ quan bằng"
            f" `gateway sign {out.name} -o <tệp>` (Nghị định 30/2020, Điều 32.2.d) / unsigned: the head of the unit"
            " signs it first, then `gateway sign` adds the organisation's seal over that signature")
    return EXIT_OK
