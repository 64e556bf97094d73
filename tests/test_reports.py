"""The regulation's report: exact period bounds (+07:00), every number read back from JSON, CSV, DOCX and PDF,
the PDF signed through the pipeline, empty periods, periods across a year boundary."""

from __future__ import annotations

import csv
import json
import re
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from gateway.audit import AuditLog
from gateway.certs import GROUNDS, CertType, Inventory
from gateway.cli import main
from gateway.errors import InputRejected
from gateway.reports import build_report, parse_period, write_report
from gateway.reports import content as C
from gateway.settings import load_settings
from test_certs import at, make_cert
from util import pdfsig, sign_as_person

UTC = timezone.utc
TYPES = [t.value for t in CertType]

# --- the known contents -------------------------------------------------------------------------------
# name: (type, notBefore, notAfter, revoked_at, reason)
CERTS = {
    "O1": (CertType.TO_CHUC, at(2025, 3, 1), at(2027, 3, 1), None, None),
    "C1": (CertType.CA_NHAN, at(2021, 5, 1), at(2026, 5, 31), None, None),
    "C2": (CertType.CA_NHAN, at(2026, 2, 10), at(2028, 1, 1), at(2026, 6, 30, 23, 59, 59), "retired"),
    "C3": (CertType.CA_NHAN, at(2026, 7, 1), at(2028, 1, 1), None, None),
    "T1": (CertType.THAM_QUYEN, at(2024, 1, 1), at(2029, 1, 1), at(2026, 7, 1), "changed_post"),
    "T2": (CertType.THAM_QUYEN, at(2026, 3, 1), at(2029, 1, 1), None, None),
    "D1": (CertType.THIET_BI, at(2025, 6, 1), at(2027, 1, 1), None, None),
}

# (time, channel, outcome, reason codes); the bounds are the point.
DECISIONS = [
    (at(2025, 12, 31, 23, 59, 59), "smtp", "sign", ["SIGN_AFTER_COMPETENT_PERSON"]),
    (datetime(2025, 12, 31, 17, 0, 0, tzinfo=UTC), "folder", "reject", ["ISSUED_NEEDS_PERSONAL_SIGNATURE"]),
    (at(2026, 3, 15, 10), "smtp", "sign", ["SIGN_AFTER_COMPETENT_PERSON"]),
    (at(2026, 3, 20, 9), "portal", "pass", ["ALREADY_SIGNED_BY_ORGANISATION"]),
    (at(2026, 5, 5, 8), "smtp", "block", ["SECRET_MARKED"]),
    (datetime(2026, 6, 30, 16, 59, 59, tzinfo=UTC), "folder", "reject",
     ["SIGNATURE_BROKEN", "ISSUED_NEEDS_PERSONAL_SIGNATURE"]),
    (datetime(2026, 6, 30, 17, 0, 0, tzinfo=UTC), "smtp", "reject", ["SIGNATURE_UNTRUSTED"]),
    (at(2026, 8, 8, 14), "cli", "sign", ["SIGN_ORGANISATION"]),
    (at(2026, 12, 31, 23, 59, 59), "portal", "sign", ["SIGN_ORGANISATION"]),
    (at(2027, 1, 1), "smtp", "reject", ["PDF_BROKEN"]),
]

# Expected inventory rows: type -> (issued, in use, revoked, {reason: n}, (issued, revoked, expired) in period)
Z = (0, 0, 0, {}, (0, 0, 0))
INV = {
    "2026-H1": {
        "to_chuc": (1, 1, 0, {}, (0, 0, 0)),
        "ca_nhan": (2, 0, 2, {"expired": 1, "retired": 1}, (1, 1, 1)),
        "tham_quyen": (2, 2, 0, {}, (1, 0, 0)),
        "thiet_bi": (1, 1, 0, {}, (0, 0, 0)),
        "total": (6, 4, 2, {"expired": 1, "retired": 1}, (2, 1, 1)),
    },
    "2026-H2": {
        "to_chuc": (1, 1, 0, {}, (0, 0, 0)),
        "ca_nhan": (3, 1, 2, {"expired": 1, "retired": 1}, (1, 0, 0)),
        "tham_quyen": (2, 1, 1, {"changed_post": 1}, (0, 1, 0)),
        "thiet_bi": (1, 1, 0, {}, (0, 0, 0)),
        "total": (7, 4, 3, {"expired": 1, "changed_post": 1, "retired": 1}, (1, 1, 0)),
    },
    "2026": {
        "to_chuc": (1, 1, 0, {}, (0, 0, 0)),
        "ca_nhan": (3, 1, 2, {"expired": 1, "retired": 1}, (2, 1, 1)),
        "tham_quyen": (2, 1, 1, {"changed_post": 1}, (1, 1, 0)),
        "thiet_bi": (1, 1, 0, {}, (0, 0, 0)),
        "total": (7, 4, 3, {"expired": 1, "changed_post": 1, "retired": 1}, (3, 2, 1)),
    },
    "2027-H1": {
        "to_chuc": (1, 0, 1, {"expired": 1}, (0, 0, 1)),
        "ca_nhan": (3, 1, 2, {"expired": 1, "retired": 1}, (0, 0, 0)),
        "tham_quyen": (2, 1, 1, {"changed_post": 1}, (0, 0, 0)),
        "thiet_bi": (1, 0, 1, {"expired": 1}, (0, 0, 1)),
        "total": (7, 2, 5, {"expired": 3, "changed_post": 1, "retired": 1}, (0, 0, 2)),
    },
    "2020": {t: Z for t in TYPES + ["total"]},
}


def _o(sign=0, pass_=0, reject=0, block=0):
    return {"sign": sign, "pass": pass_, "reject": reject, "block": block}


GW = {
    "2026-H1": {
        "total": 5, "by_outcome": _o(1, 1, 2, 1),
        "by_channel": {"smtp": _o(1, 0, 0, 1), "folder": _o(0, 0, 2), "portal": _o(0, 1), "cli": _o()},
        "by_month": {"2026-01": _o(0, 0, 1), "2026-02": _o(), "2026-03": _o(1, 1), "2026-04": _o(),
                     "2026-05": _o(0, 0, 0, 1), "2026-06": _o(0, 0, 1)},
        "by_reason": {"ISSUED_NEEDS_PERSONAL_SIGNATURE": 2, "ALREADY_SIGNED_BY_ORGANISATION": 1, "SECRET_MARKED": 1,
                      "SIGNATURE_BROKEN": 1, "SIGN_AFTER_COMPETENT_PERSON": 1},
        "top": [("ISSUED_NEEDS_PERSONAL_SIGNATURE", 2), ("SIGNATURE_BROKEN", 1)],
    },
    "2026-H2": {
        "total": 3, "by_outcome": _o(2, 0, 1),
        "by_channel": {"smtp": _o(0, 0, 1), "folder": _o(), "portal": _o(1), "cli": _o(1)},
        "by_month": {"2026-07": _o(0, 0, 1), "2026-08": _o(1), "2026-09": _o(), "2026-10": _o(), "2026-11": _o(),
                     "2026-12": _o(1)},
        "by_reason": {"SIGN_ORGANISATION": 2, "SIGNATURE_UNTRUSTED": 1},
        "top": [("SIGNATURE_UNTRUSTED", 1)],
    },
    "2027-H1": {
        "total": 1, "by_outcome": _o(0, 0, 1),
        "by_channel": {"smtp": _o(0, 0, 1), "folder": _o(), "portal": _o(), "cli": _o()},
        "by_month": {"2027-01": _o(0, 0, 1), **{f"2027-0{m}": _o() for m in range(2, 7)}},
        "by_reason": {"PDF_BROKEN": 1},
        "top": [("PDF_BROKEN", 1)],
    },
    "2020": {
        "total": 0, "by_outcome": _o(), "by_channel": {c: _o() for c in ("smtp", "folder", "portal", "cli")},
        "by_month": {f"2020-{m:02d}": _o() for m in range(1, 13)}, "by_reason": {}, "top": [],
    },
}
_h1, _h2 = GW["2026-H1"], GW["2026-H2"]
GW["2026"] = {
    "total": 8, "by_outcome": _o(3, 1, 3, 1),
    "by_channel": {c: {k: _h1["by_channel"][c][k] + _h2["by_channel"][c][k] for k in _o()} for c in _h1["by_channel"]},
    "by_month": {**_h1["by_month"], **_h2["by_month"]},
    "by_reason": {"ISSUED_NEEDS_PERSONAL_SIGNATURE": 2, "SIGN_ORGANISATION": 2, "ALREADY_SIGNED_BY_ORGANISATION": 1,
                  "SECRET_MARKED": 1, "SIGNATURE_BROKEN": 1, "SIGNATURE_UNTRUSTED": 1, "SIGN_AFTER_COMPETENT_PERSON": 1},
    "top": [("ISSUED_NEEDS_PERSONAL_SIGNATURE", 2), ("SIGNATURE_BROKEN", 1), ("SIGNATURE_UNTRUSTED", 1)],
}
PERIODS = list(INV)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Settings whose decision log and inventory hold exactly the contents above (plus noise that must not count)."""
    var = tmp_path_factory.mktemp("reports") / "var"
    settings = load_settings(var_dir=var)
    with AuditLog.open(settings) as log:
        for t, ch, outcome, codes in DECISIONS:
            log.append("decision", ch, outcome=outcome, time=t,
                       data={"reasons": [{"code": c, "params": {}} for c in codes], "dry_run": False})
        # Noise: a door event, a temporary failure and a dry run inside 2026-H1.
        log.append("event", "smtp", event="smtp.relayed", time=at(2026, 3, 1))
        log.append("decision", "smtp", outcome="temporary", time=at(2026, 4, 1),
                   data={"error": {"code": "TOKEN_UNAVAILABLE", "params": {}}})
        log.append("decision", "folder", outcome="sign", time=at(2026, 4, 2),
                   data={"reasons": [{"code": "SIGN_ORGANISATION", "params": {}}], "dry_run": True})
    with Inventory.from_settings(settings) as inv:
        for name, (ctype, nb, na, rev, why) in CERTS.items():
            rec = inv.import_certificates([make_cert(name, nb=nb, na=na)], cert_type=ctype).records[0]
            if rev:
                inv.revoke(rec.serial, why, rev)
    return settings


def report(settings, key, **kw):
    kw.setdefault("unit", "Văn phòng Sở Thử nghiệm")
    kw.setdefault("parent", "Ủy ban nhân dân tỉnh Thử nghiệm")
    kw.setdefault("number", "15/BC-VP")
    period = parse_period(key)
    # dated a few days after the period (never before its end: the figures would stop at the report's date)
    kw.setdefault("issued_on", max(at(2027, 1, 5), period.end + timedelta(days=4)))
    return build_report(settings, period, **kw)


# --- periods ---------------------------------------------------------------------------------------------


def test_period_bounds():
    h1, h2, y = parse_period("2026-H1"), parse_period("2026-H2"), parse_period("2026")
    assert (h1.start, h1.end) == (at(2026, 1, 1), at(2026, 7, 1))
    assert (h2.start, h2.end) == (at(2026, 7, 1), at(2027, 1, 1))
    assert (y.start, y.end) == (at(2026, 1, 1), at(2027, 1, 1))
    assert h1.contains(at(2026, 6, 30, 23, 59, 59)) and not h2.contains(at(2026, 6, 30, 23, 59, 59))
    assert h2.contains(datetime(2026, 6, 30, 17, tzinfo=UTC)) and not h1.contains(datetime(2026, 6, 30, 17, tzinfo=UTC))
    assert parse_period("2027h1").contains(datetime(2026, 12, 31, 17, tzinfo=UTC))  # UTC year 2026, VN 2027
    assert len(h1.months) == 6 and len(y.months) == 12 and h2.months[0] == "2026-07"
    assert (h1.label_vi, h2.label_vi, y.label_vi) == ("6 tháng đầu năm 2026", "6 tháng cuối năm 2026", "năm 2026")
    for bad in ("2026-H3", "26", "2026-Q1", "", "H1"):
        with pytest.raises(InputRejected):
            parse_period(bad)


def test_date_and_number_lines():
    assert C.vn_date_line("Hà Nội", at(2026, 1, 5)) == "Hà Nội, ngày 05 tháng 01 năm 2026"
    assert C.vn_date_line("Huế", at(2026, 11, 25)) == "Huế, ngày 25 tháng 11 năm 2026"
    assert C.number_line("15/BC-VP") == "Số: 15/BC-VP" and C.number_line("15") == "Số: 15/BC"


# --- numbers ---------------------------------------------------------------------------------------------


def _check_numbers(d: dict, key: str) -> None:
    rows = {r["type"]: r for r in d["certificates"]}
    assert list(rows) == TYPES + ["total"]
    for t, (issued, in_use, revoked, reasons, (n_new, n_rev, n_exp)) in INV[key].items():
        r = rows[t]
        assert (r["issued"], r["in_use"], r["revoked"]) == (issued, in_use, revoked), (key, t)
        assert r["revocation_reasons"] == reasons, (key, t)
        assert (r["issued_in_period"], r["revoked_in_period"], r["expired_in_period"]) == (n_new, n_rev, n_exp), (key, t)
    g, e = d["gateway"], GW[key]
    assert g["total"] == e["total"] and g["by_outcome"] == e["by_outcome"]
    assert g["by_channel"] == e["by_channel"] and g["by_month"] == e["by_month"]
    assert g["by_reason"] == e["by_reason"]
    assert [(x["code"], x["count"]) for x in g["top_rejections"]] == e["top"]


@pytest.mark.parametrize("key", PERIODS)
def test_json_every_number(world, tmp_path, key):
    dst = write_report(world, report(world, key), "json", tmp_path / "r.json")
    d = json.loads(dst.read_text(encoding="utf-8"))
    assert d["report"]["period"] == key
    _check_numbers(d, key)


@pytest.mark.parametrize("key", ["2026-H1", "2020"])
def test_csv_every_number(world, tmp_path, key):
    dst = write_report(world, report(world, key), "csv", tmp_path / "r.csv")
    assert dst.read_bytes().startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(dst.open(encoding="utf-8-sig")))
    val = {(r["section"], r["group"], r["item"]): r["value"] for r in rows}
    # Rebuild the JSON shape from the CSV lines and check it the same way.
    certs = []
    for t in TYPES + ["total"]:
        certs.append({"type": t, **{k: int(val["certificates", t, k]) for k in (
            "issued", "in_use", "revoked", "issued_in_period", "revoked_in_period", "expired_in_period")},
            "revocation_reasons": {i: int(v) for (s, g, i), v in val.items() if s == "revocation_reasons" and g == t}})
    gw = {
        "total": int(val["gateway", "", "total"]),
        "by_outcome": {i: int(v) for (s, g, i), v in val.items() if s == "by_outcome"},
        "by_channel": {}, "by_month": {},
        "by_reason": {i: int(v) for (s, g, i), v in val.items() if s == "by_reason"},
        "top_rejections": [{"code": i, "count": int(v)} for (s, g, i), v in val.items() if s == "top_rejections"],
    }
    for (s, g, i), v in val.items():
        if s in ("by_channel", "by_month"):
            gw[s].setdefault(g, {})[i] = int(v)
    _check_numbers({"certificates": certs, "gateway": gw}, key)


def _reasons_text(reasons: dict) -> str:
    order = list(GROUNDS)
    return "; ".join(f"{GROUNDS[c].vi}: {n}" for c, n in sorted(reasons.items(), key=lambda kv: order.index(kv[0])))


def _note_text(n_new, n_rev, n_exp) -> str:
    parts = [f"{label}: {n}" for label, n in (("Cấp mới trong kỳ", n_new), ("Thu hồi trong kỳ", n_rev),
                                               ("Hết hạn trong kỳ", n_exp)) if n]
    return "; ".join(parts)


def _expected_main_rows(key):
    out = []
    for i, t in enumerate(TYPES + ["total"], 1):
        issued, in_use, revoked, reasons, period_counts = INV[key][t]
        label = C.TOTAL_LABEL if t == "total" else CertType(t).label_vi
        out.append(["" if t == "total" else str(i), label, str(issued), str(in_use), str(revoked),
                    _reasons_text(reasons), _note_text(*period_counts)])
    return out


def _expected_annex(key):
    """(header, rows) of every annex table, from the expected figures."""
    e = GW[key]
    o = ("sign", "pass", "reject", "block")
    labels = {"sign": "Ký số", "pass": "Chuyển tiếp (đã có chữ ký hợp lệ)", "reject": "Từ chối", "block": "Chặn (tài liệu mật)"}
    ch = {"smtp": "Thư điện tử (SMTP)", "folder": "Thư mục dùng chung", "portal": "Cổng thông tin điện tử (HTTP)",
          "cli": "Dòng lệnh (CLI)"}
    t1 = [[labels[k], str(e["by_outcome"][k])] for k in o] + [["Tổng cộng", str(e["total"])]]
    t2 = [[ch[c]] + [str(v[k]) for k in o] + [str(sum(v.values()))] for c, v in e["by_channel"].items()]
    t3 = [[f"{m[5:]}/{m[:4]}"] + [str(v[k]) for k in o] + [str(sum(v.values()))] for m, v in e["by_month"].items()]
    t3.append(["Tổng cộng"] + [str(e["by_outcome"][k]) for k in o] + [str(e["total"])])
    t4 = [[str(i), c, C.reason_text(c), str(n)] for i, (c, n) in enumerate(e["top"], 1)]
    t5 = [[c, C.reason_text(c), str(n)] for c, n in e["by_reason"].items()]
    return {"1.": t1, "2.": t2, "3.": t3, "4.": t4, "5.": t5}


@pytest.mark.parametrize("key", ["2026-H1", "2026", "2020"])
def test_docx_template_and_every_number(world, tmp_path, key):
    from docx import Document

    dst = write_report(world, report(world, key, signer_name="Nguyễn Văn Thủ"), "docx", tmp_path / "r.docx")
    doc = Document(str(dst))
    sec = doc.sections[0]
    assert (round(sec.page_width.mm), round(sec.page_height.mm)) == (210, 297)
    assert (round(sec.top_margin.mm), round(sec.bottom_margin.mm), round(sec.left_margin.mm),
            round(sec.right_margin.mm)) == (25, 20, 30, 15)
    assert doc.styles["Normal"].font.name == "Times New Roman"
    sizes = {r.font.size.pt for p in doc.paragraphs for r in p.runs if r.font.size and r.text.strip()}
    assert sizes <= {11.0, 12.0, 13.0, 14.0}

    header = doc.tables[0]
    left, right = header.rows[0].cells
    assert left.text.split("\n")[:2] == ["ỦY BAN NHÂN DÂN TỈNH THỬ NGHIỆM", "VĂN PHÒNG SỞ THỬ NGHIỆM"]
    assert "Số: 15/BC-VP" in left.text
    assert right.paragraphs[0].text == "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" and right.paragraphs[0].runs[0].bold
    motto = right.paragraphs[1]
    assert motto.text == "Độc lập - Tự do - Hạnh phúc" and motto.runs[0].bold and motto.runs[0].underline
    date_p = right.paragraphs[2]
    assert date_p.text == "Hà Nội, ngày 05 tháng 01 năm 2027" and date_p.runs[0].italic
    texts = [p.text for p in doc.paragraphs]
    assert "BÁO CÁO" in texts
    assert C.title_line(report(world, key)) in texts
    assert any(t.startswith("Thực hiện Quy chế") for t in texts)

    t = doc.tables[1]
    assert t.cell(0, 4).text == "Tổng số đã thu hồi" and t.cell(0, 4)._tc is t.cell(0, 5)._tc  # merged header
    assert (t.cell(1, 4).text, t.cell(1, 5).text) == ("Số lượng", "Lý do thu hồi")
    assert t.cell(0, 0)._tc is t.cell(1, 0)._tc and t.cell(0, 0).text == "STT"
    assert [t.cell(0, i).text for i in (1, 2, 3, 6)] == list(C.MAIN_HEADER_TOP[i] for i in (1, 2, 3, 6))
    got = [[t.cell(r, c).text for c in range(7)] for r in range(2, 7)]
    assert got == _expected_main_rows(key)

    foot = doc.tables[2].rows[0].cells
    assert foot[0].text.split("\n") == ["Nơi nhận:", "- Sở Thông tin và Truyền thông;", "- Lưu: VT."]
    assert foot[1].paragraphs[0].text == "THỦ TRƯỞNG ĐƠN VỊ" and "Nguyễn Văn Thủ" in foot[1].text

    expected = _expected_annex(key)
    tables = {}
    for p_text, tb in zip([x for x in texts if re.match(r"^[1-5]\. ", x)], _annex_tables(doc)):
        tables[p_text[:2]] = tb
    for k, rows in expected.items():
        if not rows:
            assert k not in tables or not tables[k]
            continue
        assert tables[k] == rows, k
    assert len(doc.inline_shapes) == 1  # the chart


def _annex_tables(doc):
    """Annex tables in order, body rows only; None placeholders where a section is empty."""
    from docx.oxml.ns import qn

    body = doc.element.body
    out, pending = [], False
    tables = iter(doc.tables[3:])
    for el in body.iterchildren():
        if el.tag == qn("w:p"):
            text = "".join(el.itertext())
            if re.match(r"^[1-5]\. ", text):
                if pending:
                    out.append([])
                pending = True
            elif text == C.EMPTY and pending:
                out.append([])
                pending = False
        elif el.tag == qn("w:tbl") and pending:
            tb = next(tables)
            while tb._tbl is not el:
                tb = next(tables)
            out.append([[c.text for c in row.cells] for row in tb.rows[1:]])
            pending = False
    return out


def _pdftext(path: Path, *mode: str) -> str:
    return subprocess.run(["pdftotext", *mode, str(path), "-"], capture_output=True, text=True, check=True).stdout


def _flat(text: str) -> str:
    return " ".join(text.split())


def _check_pdf_text(path: Path, key: str, world) -> None:
    layout = _pdftext(path, "-layout")
    for line in ("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "Độc lập - Tự do - Hạnh phúc", "Hà Nội, ngày 05 tháng 01 năm 2027",
                 "Số: 15/BC-VP", "BÁO CÁO", "Nơi nhận:", "- Lưu: VT.", "THỦ TRƯỞNG ĐƠN VỊ", "PHỤ LỤC"):
        assert line in layout, line
    assert _flat(C.title_line(report(world, key))) in _flat(layout)
    # -raw keeps the drawing order: each table cell's lines in turn, row after row.
    raw = _flat(_pdftext(path, "-raw"))
    assert "ỦY BAN NHÂN DÂN TỈNH THỬ NGHIỆM VĂN PHÒNG SỞ THỬ NGHIỆM" in raw  # may wrap in the narrow column
    for row in _expected_main_rows(key):
        assert _flat(" ".join(row)) in raw, row
    for k, rows in _expected_annex(key).items():
        for row in rows:
            assert _flat(" ".join(row)) in raw, (k, row)
        if not rows:
            assert f"{k} " in raw and C.EMPTY in raw


@pytest.mark.parametrize("key", ["2026-H2", "2020"])
def test_pdf_unsigned_every_number_and_fonts(world, tmp_path, key):
    dst = write_report(world, report(world, key), "pdf", tmp_path / "r.pdf", sign=False)
    _check_pdf_text(dst, key, world)
    fonts = subprocess.run(["pdffonts", str(dst)], capture_output=True, text=True, check=True).stdout.splitlines()[2:]
    assert fonts and all(line.split()[-5] == "yes" for line in fonts), fonts  # every font embedded
    assert all("LiberationSerif" in line for line in fonts)
    images = subprocess.run(["pdfimages", "-list", str(dst)], capture_output=True, text=True).stdout.splitlines()[2:]
    assert len(images) >= 1  # the chart
    page = subprocess.run(["pdfinfo", str(dst)], capture_output=True, text=True).stdout
    assert "595.276 x 841.89" in page  # A4


def test_cli_report_json(world, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("GATEWAY_VAR_DIR", str(world.var_dir))
    monkeypatch.delenv("KYSO_CONFIG", raising=False)
    out = tmp_path / "r.json"
    # dated after the period: the figures run to its end (a report dated earlier stops at its own date)
    assert main(["report", "--period", "2026", "--unit", "Văn phòng Sở Thử nghiệm", "--number", "3/BC-VP",
                 "--date", "2027-01-05", "--format", "json", "-o", str(out)]) == 0
    assert "cấp 7, đang dùng 4, thu hồi 3" in capsys.readouterr().out
    d = json.loads(out.read_text(encoding="utf-8"))
    _check_numbers(d, "2026")
    assert d["report"]["unit"] == "Văn phòng Sở Thử nghiệm" and d["report"]["number"] == "3/BC-VP"
    with pytest.raises(SystemExit) as bad:  # a bad --period is a usage error: exit 2 (issue 16)
        main(["report", "--period", "2026-H3", "--format", "json", "-o", str(out)])
    assert bad.value.code == 2
    assert "REPORT_PERIOD_INVALID" in capsys.readouterr().err


@pytest.mark.hsm
def test_pdf_follows_article_32_head_signs_then_the_seal(dev_settings, world, tmp_path):
    """Nghị định 30/2020 Điều 32.2.d: the report is an issued document. Unsigned it is refused; signed by the head
    of the unit it gets the organisation's seal over that signature (pipeline, decision logged)."""
    from gateway.errors import PolicyRefusal
    from gateway.reports.pdf import sign_report

    data = report(world, "2026-H1")
    unsigned = write_report(dev_settings, data, "pdf", tmp_path / "bao-cao.pdf")
    assert pdfsig(unsigned, dev_settings.paths.nssdb) == []  # `gateway report` writes it unsigned
    with pytest.raises(PolicyRefusal) as refused:
        sign_report(dev_settings, unsigned, tmp_path / "x.pdf")
    assert refused.value.code == "REPORT_NOT_SIGNED"
    head = sign_as_person(unsigned, tmp_path / "bao-cao-thu-truong.pdf", dev_settings)
    before = len(AuditLog.open(dev_settings).query(kind="decision"))
    dst = sign_report(dev_settings, head, tmp_path / "bao-cao-ky.pdf")
    sigs = pdfsig(dst, dev_settings.paths.nssdb)
    assert len(sigs) == 2 and all(s["valid"] and s["trusted"] for s in sigs), sigs
    _check_pdf_text(dst, "2026-H1", world)
    with AuditLog.open(dev_settings) as log:
        recs = log.query(kind="decision")
    assert len(recs) == before + 1
    last = recs[-1]
    assert (last.outcome, last.channel, last.data["doc_kind"]) == ("sign", "cli", "issued")
    assert last.data["appearance"] == "seal" and last.data["form"]["fields"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bao-cao-ky.pdf", "bao-cao-thu-truong.pdf", "bao-cao.pdf"]
