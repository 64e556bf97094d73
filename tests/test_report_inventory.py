"""The regulation's report counts each certificate once (issue 14): a certificate learned from a signature (its
issuer as the validator writes it) and the same one imported later are one row, the issuer stored in one form,
the title read so a competent person's certificate is counted as one; the legal basis names Quyết định
735/QĐ-UBND-HC; the figures, the sentence and the date agree; "STT" stays on one line; JSON, CSV and PDF give
the numbers of a hand-made inventory."""

from __future__ import annotations

import csv
import json
import subprocess

import pytest
from asn1crypto import x509 as ax509
from cryptography.hazmat.primitives import hashes, serialization

from gateway.certs import CertType, Inventory, Source, canonical_name
from gateway.model import Revocation, SignatureFacts, SignerType
from gateway.reports import build_report, parse_period, write_report
from gateway.reports import content as C
from gateway.settings import load_settings
from test_certs import at, make_cert


@pytest.fixture()
def settings(tmp_path, monkeypatch):
    monkeypatch.setenv("GATEWAY_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("KYSO_CONFIG", raising=False)
    (tmp_path / "var").mkdir()
    return load_settings()


def as_validator_sees_it(cert) -> SignatureFacts:
    """The facts gateway.validation writes: subject and issuer in asn1crypto's human-friendly form."""
    a = ax509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))
    return SignatureFacts(
        field_name="NguoiKy", signer_subject=a.subject.human_friendly,
        signer_common_name=a.subject.native["common_name"], signer_serial=format(cert.serial_number, "x"),
        signer_sha256=cert.fingerprint(hashes.SHA256()).hex(), issuer_subject=a.issuer.human_friendly,
        signer_type=SignerType.PERSON, signing_time=None, timestamp_time=None, intact=True, trusted=True,
        revocation=Revocation.GOOD, cert_valid_at_signing=True, covers_whole_document=True,
        not_valid_before=cert.not_valid_before_utc, not_valid_after=cert.not_valid_after_utc,
    )


def test_issuer_forms_are_one_name():
    rfc = "CN=Test CA chuyên dùng,O=Ban Cơ yếu (TEST)"
    assert canonical_name("Common Name: Test CA chuyên dùng, Organization: Ban Cơ yếu (TEST)") == canonical_name(rfc)
    assert canonical_name("O=Ban Cơ yếu (TEST), CN=Test CA chuyên dùng") == canonical_name(rfc)


def test_learned_then_imported_is_one_row_and_a_titled_person_is_competent(settings):
    nb, na = at(2026, 1, 1), at(2028, 1, 1)
    head = make_cert("Đỗ Văn Giang", title="Chủ tịch", nb=nb, na=na)
    with Inventory.from_settings(settings) as inv:
        assert inv.learn_from_signatures([as_validator_sees_it(head)]) == 1
        (learned,) = inv.all()
        assert learned.cert_type is CertType.THAM_QUYEN and learned.title == "Chủ tịch"
        res = inv.import_certificates([head])
        assert (res.added, res.updated) == (0, 1)
        (row,) = inv.all()
        assert row.source is Source.IMPORTED and row.issuer == canonical_name(head.issuer.rfc4514_string())


def test_an_old_inventory_with_two_rows_for_one_certificate_is_merged(settings):
    nb, na = at(2026, 1, 1), at(2028, 1, 1)
    staff = make_cert("Vũ Thị Hoa", nb=nb, na=na)
    with Inventory.from_settings(settings) as inv:
        inv.import_certificates([staff])
        conn = inv._connect()
        # what an older gateway wrote: the learned row under the validator's issuer text, beside the import
        row = conn.execute("SELECT * FROM cert_inventory").fetchone()
        cols = [k for k in row.keys() if k != "id"]
        values = [row[k] for k in cols]
        values[cols.index("issuer")] = ax509.Certificate.load(staff.public_bytes(serialization.Encoding.DER)).issuer.human_friendly
        values[cols.index("source")] = "learned"
        conn.execute(f"INSERT INTO cert_inventory ({','.join(cols)}) VALUES ({','.join('?' * len(cols))})", values)
        inv.revoke(row["serial"], "device_unsafe", at(2026, 3, 1), issuer=row["issuer"])
    with Inventory.from_settings(settings) as inv:
        (merged,) = inv.all()
        assert merged.source is Source.IMPORTED and merged.revoked_at is not None


# A hand-made inventory for 2026-H1, counted by hand:
#   organisation: 1 issued, in use                          (Sở Thử nghiệm, CN = O)
#   person:       3 issued, 1 in use, 2 revoked (1 expired 2026-03-31, 1 revoked for a lost device)
#   competent:    2 issued (1 learned then imported: one row), both in use
#   device:       1 issued (a host name), in use
#   total:        7 issued, 5 in use, 2 revoked
HAND = {"to_chuc": (1, 1, 0), "ca_nhan": (3, 1, 2), "tham_quyen": (2, 2, 0), "thiet_bi": (1, 1, 0),
        "total": (7, 5, 2)}


def _world(settings):
    nb, na = at(2026, 1, 1), at(2028, 1, 1)
    certs = {
        "org": make_cert("Sở Thử nghiệm", nb=nb, na=na, org="Sở Thử nghiệm"),
        "p1": make_cert("Vũ Thị Hoa", nb=nb, na=na),
        "p2": make_cert("Bùi Văn Ích", nb=nb, na=at(2026, 3, 31)),
        "p3": make_cert("Lê Thị Kim", nb=nb, na=na),
        "h1": make_cert("Đỗ Văn Giang", title="Chủ tịch", nb=nb, na=na),
        "h2": make_cert("Trần Văn Long", title="Phó Giám đốc", nb=nb, na=na),
        "dev": make_cert("mail.so-thu-nghiem.gov.vn", nb=nb, na=na),
    }
    with Inventory.from_settings(settings) as inv:
        inv.learn_from_signatures([as_validator_sees_it(certs["h1"])])
        inv.import_certificates(list(certs.values()))
        inv.revoke(format(certs["p3"].serial_number, "x"), "device_unsafe", at(2026, 4, 2))
    return certs


def test_every_format_gives_the_hand_made_numbers(settings, tmp_path):
    _world(settings)
    data = build_report(settings, parse_period("2026-H1"), unit="Văn phòng Sở Thử nghiệm", number="5/BC-VP",
                        issued_on=at(2026, 7, 3), records=[])
    got = {r.cert_type.value if r.cert_type else "total": (r.issued, r.in_use, r.revoked) for r in data.rows}
    assert got == HAND
    j = json.loads(write_report(settings, data, "json", tmp_path / "r.json").read_text(encoding="utf-8"))
    assert {r["type"]: (r["issued"], r["in_use"], r["revoked"]) for r in j["certificates"]} == HAND
    with open(write_report(settings, data, "csv", tmp_path / "r.csv"), encoding="utf-8-sig") as fh:
        rows = [r for r in csv.reader(fh)]
    from_csv = {}
    for section, group, item, value in rows[1:] if rows[0][0] == "section" else rows:
        if section == "certificates" and item in ("issued", "in_use", "revoked"):
            from_csv.setdefault(group, {})[item] = int(value)
    assert {g: (v["issued"], v["in_use"], v["revoked"]) for g, v in from_csv.items()} == HAND
    pdf = write_report(settings, data, "pdf", tmp_path / "r.pdf")
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    import re

    table = text.split("Tổng cộng")[0]
    rows_pdf = {int(m.group(1)): [int(x) for x in m.group(2).split()[:3]]
                for m in re.finditer(r"(?m)^\s*([1-4])\s{2,}.*?\s((?:\d+\s+){2}\d+)\s*$", table)}
    for stt, t in ((1, "to_chuc"), (2, "ca_nhan"), (3, "tham_quyen"), (4, "thiet_bi")):
        assert rows_pdf[stt] == list(HAND[t]), (stt, rows_pdf)
    total_line = next(ln for ln in text.splitlines() if ln.strip().startswith("Tổng cộng"))
    assert [int(x) for x in total_line.split() if x.isdigit()][:3] == list(HAND["total"])
    # "STT" on one line, in the main table and in the annex's
    assert "STT" in text and not any(ln.strip() in ("ST", "T") for ln in text.splitlines())
    # the legal basis names the decision that issued the regulation; date and period agree
    flat = " ".join(text.split())
    assert "Quyết định số 735/QĐ-UBND-HC" in flat
    assert "số liệu tính đến hết ngày 30/06/2026" in flat and "Ghi chú: số liệu tính đến hết ngày 30/06/2026" in flat


def test_a_report_dated_inside_its_period_counts_to_its_own_date(settings):
    _world(settings)
    data = build_report(settings, parse_period("2026-H1"), unit="VP", issued_on=at(2026, 3, 15), records=[])
    assert "số liệu tính đến hết ngày 15/03/2026" in C.intro(data)
    got = {r.cert_type.value if r.cert_type else "total": (r.issued, r.in_use, r.revoked) for r in data.rows}
    assert got["ca_nhan"] == (3, 3, 0)  # the expiry (31/03) and the revocation (02/04) are later


def test_stt_fits_its_column_in_every_table():
    """Word breaks a word wider than its cell letter by letter ("ST" / "T"): the STT columns are wide enough for
    "STT" in 12 pt bold plus the cell padding (Word 2 x 1.9 mm, reportlab 2 x 2.1 mm)."""
    from pathlib import Path

    from gateway.signing.appearance import text_width
    from util import SERIF_BOLD

    stt_mm = text_width("STT", Path(SERIF_BOLD), 12) * 25.4 / 72
    padding_mm = 2 * 2.12
    assert C.MAIN_WIDTHS_MM[0] >= stt_mm + padding_mm
    usable = 165.0
    from gateway.reports.figures import GatewayFigures  # noqa: F401  (annex tables come from content)

    t4 = next(t for t in C.annex_tables(_empty_data()) if t.header[0] == "STT")
    assert usable * t4.widths[0] / sum(t4.widths) >= stt_mm + padding_mm


def _empty_data():
    from gateway.reports.figures import gateway_figures

    period = parse_period("2026-H1")
    from gateway.reports.figures import ReportData, inventory_rows

    return ReportData(period=period, unit="VP", parent="", number="", place="Hà Nội", head_title="THỦ TRƯỞNG",
                      signer_name="", issued_on=at(2026, 7, 3), rows=inventory_rows([], period),
                      gateway=gateway_figures([], period))
