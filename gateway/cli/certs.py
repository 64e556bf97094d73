"""`gateway certs import|list|revoke|set-type`: the certificate inventory (gateway.certs)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from gateway.cli.common import EXIT_OK, say, settings_from


def register(subparsers) -> None:
    from gateway.certs import GROUNDS, CertType

    p = subparsers.add_parser(
        "certs",
        help="sổ chứng thư số của đơn vị / the agency's certificate inventory",
        description="Sổ chứng thư số (loại, trạng thái, thu hồi theo Nghị định 68/2024/NĐ-CP Điều 17) / "
        "certificate inventory (type, status, revocation per Decree 68 Điều 17).",
    )
    sub = p.add_subparsers(dest="certs_command", metavar="ACTION", required=True)
    types = [t.value for t in CertType]

    imp = sub.add_parser("import", help="nhập chứng thư số (PEM, DER, PKCS#7) / import certificates")
    imp.add_argument("files", nargs="*", type=Path, metavar="FILE",
                     help="tệp chứng thư số / certificate file(s): PEM, DER, PKCS#7")
    imp.add_argument("--token", action="store_true", help="chứng thư số trên thiết bị HSM / certificates on the token")
    imp.add_argument("--type", choices=types, help="đặt loại / set the type (default: guessed)")
    imp.set_defaults(func=_import)

    ls = sub.add_parser("list", help="liệt kê / list")
    ls.add_argument("--json", action="store_true", help="kết quả dạng JSON / JSON output")
    ls.set_defaults(func=_list)

    rv = sub.add_parser("revoke", help="ghi nhận thu hồi / record a revocation")
    rv.add_argument("serial", help="số hiệu chứng thư số (hex) / certificate serial number (hex)")
    rv.add_argument("--reason", required=True, choices=list(GROUNDS), metavar="CODE",
                    help="lý do (Điều 17) / ground: " + ", ".join(GROUNDS))
    rv.add_argument("--date", help="YYYY-MM-DD hoặc ISO 8601 (giờ Việt Nam) / date (default: now)")
    rv.add_argument("--issuer", help="khi số hiệu trùng / when the serial is ambiguous (RFC 4514)")
    rv.set_defaults(func=_revoke)

    st = sub.add_parser("set-type", help="đặt loại chứng thư số / set the certificate type")
    st.add_argument("serial", help="số hiệu chứng thư số (hex) / certificate serial number (hex)")
    st.add_argument("type", choices=types, help="loại / type: " + ", ".join(types))
    st.add_argument("--issuer", help="khi số hiệu trùng / when the serial is ambiguous (RFC 4514)")
    st.set_defaults(func=_set_type)


def _inventory(args):
    from gateway.certs import Inventory

    settings = settings_from(args, signing=args.certs_command == "import" and args.token)
    return settings, Inventory.from_settings(settings)


def _line(r, at: datetime) -> str:
    from gateway.certs import GROUNDS

    st = r.status(at)
    rev = ""
    if r.revoked_at:
        g = GROUNDS.get(r.revocation_reason or "")
        rev = f"  thu hồi / revoked {_day(r.revoked_at)}: {g.vi + ' / ' + g.en if g else r.revocation_reason}"
    confirmed = "" if r.type_confirmed else " (đoán / guessed)"
    return (f"{r.serial}  {r.common_name}  [{r.cert_type.value}{confirmed}]  {st.label}  "
            f"{_day(r.not_before)} → {_day(r.not_after)}  {r.source.value}{rev}")


def _day(t: datetime) -> str:
    """The date as people read it: in Vietnam time (a certificate ending 20:00Z ends the next day here)."""
    from gateway.certs import VN_TZ

    return t.astimezone(VN_TZ).date().isoformat()


def _import(args) -> int:
    from gateway.certs import CertType, Source, token_certificates
    from gateway.errors import InputRejected

    if not args.files and not args.token:
        raise InputRejected("nothing to import", code="BAD_REQUEST", detail="FILE… hoặc / or --token")
    settings, inv = _inventory(args)
    ctype = CertType(args.type) if args.type else None
    with inv:
        results = []
        if args.files:
            results.append(inv.import_files(args.files, cert_type=ctype))
        if args.token:
            results.append(inv.import_certificates(token_certificates(settings), Source.TOKEN,
                                                   cert_type=ctype or CertType.TO_CHUC))
    now = datetime.now().astimezone()
    for res in results:
        for r in res.records:
            say("  " + _line(r, now))
    added = sum(r.added for r in results)
    updated = sum(r.updated for r in results)
    skipped = sum(r.skipped_ca for r in results)
    say(f"đã thêm {added}, cập nhật {updated}, bỏ qua {skipped} chứng thư CA / "
        f"added {added}, updated {updated}, skipped {skipped} CA certificates")
    return EXIT_OK


def _list(args) -> int:
    import sys

    from gateway.model import Reason
    from gateway.reasons import render

    settings, inv = _inventory(args)
    now = datetime.now().astimezone()
    with inv:
        records = inv.all()
        expiring = inv.expiring(now, settings.certs.expiry_warning_days)
    warn = [Reason.of("ORG_CERT_EXPIRING", not_after=_day(r.not_after), days=int(r.days_left(now)),
                      serial=r.serial, subject=r.common_name) for r in expiring]
    if args.json:
        out = {"certificates": [r.as_dict(now) for r in records],
               "warnings": [{**render(w).as_dict(), "serial": w.args["serial"]} for w in warn]}
        say(json.dumps(out, ensure_ascii=False, indent=2))
    else:
        if not records:
            say("sổ chứng thư số trống / the inventory is empty")
        for r in records:
            say(_line(r, now))
    for w, r in zip(warn, expiring):
        # Renewal before expiry: Quy chế Điều 6. On stderr so --json stays parseable.
        print(f"cảnh báo / warning: {r.serial} {r.common_name}: {render(w).line()}", file=sys.stderr)
    return EXIT_OK


def _revoke(args) -> int:
    from gateway.certs import parse_when

    when = parse_when(args.date) if args.date else datetime.now().astimezone()
    _, inv = _inventory(args)
    with inv:
        r = inv.revoke(args.serial, args.reason, when, issuer=args.issuer)
    say(_line(r, datetime.now().astimezone()))
    return EXIT_OK


def _set_type(args) -> int:
    from gateway.certs import CertType

    _, inv = _inventory(args)
    with inv:
        r = inv.set_type(args.serial, CertType(args.type), issuer=args.issuer)
    say(_line(r, datetime.now().astimezone()))
    return EXIT_OK
