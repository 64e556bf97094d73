"""The report's numbers, machine-readable: JSON (nested) and CSV (one number a line: section, group, item,
value; UTF-8 with a BOM so spreadsheet programs read the Vietnamese letters)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from gateway.certs import GROUNDS, iso
from gateway.reports import content as C
from gateway.reports.figures import ReportData


def as_dict(data: ReportData) -> dict:
    p = data.period
    g = data.gateway
    return {
        "report": {
            "title": f"{C.DOC_TYPE} {C.title_line(data)}",
            "period": p.key,
            "start": iso(p.start),
            "end": iso(p.end),  # exclusive
            "unit": data.unit,
            "parent": data.parent,
            "number": data.number,
            "place": data.place,
            "date": data.issued_on.date().isoformat(),
        },
        "certificates": [
            {
                "type": r.cert_type.value if r.cert_type else "total",
                "label": r.cert_type.label_vi if r.cert_type else C.TOTAL_LABEL,
                "issued": r.issued,
                "in_use": r.in_use,
                "revoked": r.revoked,
                "revocation_reasons": {c: n for c, n in r.reasons},
                "issued_in_period": r.issued_in_period,
                "revoked_in_period": r.revoked_in_period,
                "expired_in_period": r.expired_in_period,
            }
            for r in data.rows
        ],
        "revocation_grounds": {c: {"vi": x.vi, "en": x.en} for c, x in GROUNDS.items()},
        "gateway": {
            "total": g.total,
            "by_outcome": dict(g.by_outcome),
            "by_channel": {k: dict(v) for k, v in g.by_channel.items()},
            "by_month": {k: dict(v) for k, v in g.by_month.items()},
            "by_reason": {c: n for c, n in g.by_reason},
            "top_rejections": [{"code": c, "count": n, "vi": C.reason_text(c)} for c, n in g.top_rejections],
        },
    }


def csv_rows(data: ReportData) -> list[tuple[str, str, str, object]]:
    d = as_dict(data)
    rows: list[tuple[str, str, str, object]] = [("report", "", k, v) for k, v in d["report"].items()]
    for r in d["certificates"]:
        for k in ("issued", "in_use", "revoked", "issued_in_period", "revoked_in_period", "expired_in_period"):
            rows.append(("certificates", r["type"], k, r[k]))
        for code, n in r["revocation_reasons"].items():
            rows.append(("revocation_reasons", r["type"], code, n))
    gw = d["gateway"]
    rows.append(("gateway", "", "total", gw["total"]))
    rows += [("by_outcome", "", k, v) for k, v in gw["by_outcome"].items()]
    rows += [("by_channel", ch, k, v) for ch, c in gw["by_channel"].items() for k, v in c.items()]
    rows += [("by_month", m, k, v) for m, c in gw["by_month"].items() for k, v in c.items()]
    rows += [("by_reason", "", c, n) for c, n in gw["by_reason"].items()]
    rows += [("top_rejections", str(i), x["code"], x["count"]) for i, x in enumerate(gw["top_rejections"], 1)]
    return rows


def write_json(data: ReportData, dst: Path) -> Path:
    Path(dst).write_text(json.dumps(as_dict(data), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return Path(dst)


def write_csv(data: ReportData, dst: Path) -> Path:
    with open(dst, "w", encoding="utf-8-sig", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(("section", "group", "item", "value"))
        w.writerows(csv_rows(data))
    return Path(dst)
