"""`gateway verify FILE [--document DOC] [--json]`: every signature a file carries (gateway.verification): a
PDF's, a document's detached CAdES `.p7s` (give either; DOC when the names differ), a mail's (.eml: its S/MIME
signature and every attachment), with the fields Thông tư 15/2025/TT-BKHCN (Điều 6) asks a verifier to show:
signer, issuer, managing unit, signing time / timestamp, integrity, validity at signing time, certificate
validity period — plus trust and revocation status, and a warning when revocation could not be checked.

Exit codes: 0 every signature valid (and at least one); 3 a signature invalid, or none, or an attachment
unsigned; 4 temporary (a hard-fail revocation source is down: try again); 2 usage (a file missing).
"""

from __future__ import annotations

import json
import re
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

from gateway.cli.common import EXIT_OK, EXIT_REFUSED, EXIT_TEMPORARY, EXIT_USAGE, say, settings_from
from gateway.errors import TemporaryError
from gateway.model import Revocation, SignatureFacts, SignerType
from gateway.reasons import render
from gateway.verification import signature_ok

VN = timezone(timedelta(hours=7))
DESCRIPTION = (
    "Kiểm tra mọi chữ ký số trong tệp, với các thông tin Thông tư 15/2025/TT-BKHCN yêu cầu: người ký, đơn vị quản "
    "lý, tổ chức cấp, thời điểm ký / dấu thời gian, tính toàn vẹn, tin cậy, thu hồi, thời hạn chứng thư số.\n"
    "Checks every signature in the file, with the fields Thông tư 15/2025/TT-BKHCN asks for: signer, managing "
    "unit, issuer, signing time / timestamp, integrity, trust, revocation, certificate validity."
)
_UNIT = re.compile(r"(Organizational Unit|Organization): (.*?)(?=, [A-Z][A-Za-z/ ]*: |$)")

REVOCATION_TEXT = {
    Revocation.GOOD: "chưa bị thu hồi / not revoked",
    Revocation.REVOKED: "ĐÃ BỊ THU HỒI / REVOKED",
    Revocation.UNKNOWN: "không xác định được / unknown",
    Revocation.NOT_CHECKED: "chưa kiểm tra / not checked",
}
SIGNER_TYPE_TEXT = {
    SignerType.ORGANISATION: "cơ quan, tổ chức / organisation",
    SignerType.PERSON: "cá nhân / person",
    SignerType.UNKNOWN: "không rõ / unknown",
}


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "verify",
        help="kiểm tra chữ ký số: PDF, .p7s, thư .eml / verify signatures: PDF, detached .p7s, mail .eml",
        description=DESCRIPTION,
    )
    p.add_argument("file", metavar="FILE",
                   help="tệp PDF, tài liệu có chữ ký tách rời .p7s (hoặc tệp .p7s), thư .eml / a PDF, a document with"
                        " its detached .p7s (or the .p7s), a mail .eml")
    p.add_argument("--document", metavar="DOC", type=Path,
                   help="tài liệu đã ký khi FILE là chữ ký tách rời có tên khác / the signed document, when FILE is a "
                        "detached signature named otherwise")
    p.add_argument("--json", action="store_true", help="kết quả dạng JSON / machine-readable output")
    p.set_defaults(func=run)


def managing_unit(subject: str) -> str:
    """O and OU of a subject as pyHanko prints it ('Common Name: X, Organization: Y, ...')."""
    return ", ".join(v for _, v in _UNIT.findall(subject))


def _time(t: datetime | None) -> str:
    return t.astimezone(VN).isoformat() if t else "—"


def _yes(ok: bool, yes: str, no: str) -> str:
    return yes if ok else no


def as_dict(sig: SignatureFacts) -> dict:
    return {
        "field": sig.field_name,
        "signer": sig.signer_common_name,
        "signer_subject": sig.signer_subject,
        "managing_unit": managing_unit(sig.signer_subject),
        "signer_type": sig.signer_type.value,
        "issuer": sig.issuer_subject,
        "serial": sig.signer_serial,
        "certificate_sha256": sig.signer_sha256,
        "signing_time": _time(sig.signing_time) if sig.signing_time else None,
        "timestamp": _time(sig.timestamp_time) if sig.timestamp_time else None,
        "not_valid_before": _time(sig.not_valid_before) if sig.not_valid_before else None,
        "not_valid_after": _time(sig.not_valid_after) if sig.not_valid_after else None,
        "intact": sig.intact,
        "covers_whole_document": sig.covers_whole_document,
        "modification_level": sig.modification_level,
        "trusted": sig.trusted,
        "revocation": sig.revocation.value,
        "valid_at_signing_time": sig.cert_valid_at_signing,
        "valid": signature_ok(sig),
        "page": sig.page,
        "rect": list(sig.rect) if sig.rect else None,
        "warnings": [render(w).as_dict() for w in sig.warnings],
    }


def _lines(i: int, sig: SignatureFacts) -> list[str]:
    ok = signature_ok(sig)
    period = f"{_time(sig.not_valid_before)} → {_time(sig.not_valid_after)}"
    out = [
        f"Chữ ký số #{i} / Signature #{i} ({sig.field_name or '?'}): "
        + _yes(ok, "HỢP LỆ / VALID", "KHÔNG HỢP LỆ / INVALID"),
        f"  Người ký / Signer: {sig.signer_common_name or '—'} ({SIGNER_TYPE_TEXT[sig.signer_type]})",
        f"  Đơn vị quản lý / Managing unit: {managing_unit(sig.signer_subject) or '—'}",
        f"  Tổ chức cấp chứng thư số / Issuer: {sig.issuer_subject or '—'}",
        f"  Số hiệu chứng thư số / Certificate serial: {sig.signer_serial or '—'}",
        f"  Thời điểm ký / Signing time: {_time(sig.signing_time)}",
        f"  Dấu thời gian / Timestamp: {_time(sig.timestamp_time) if sig.timestamp_time else 'không có / none'}",
        "  Tính toàn vẹn / Integrity: "
        + _yes(sig.intact, "toàn vẹn / intact", "ĐÃ BỊ THAY ĐỔI HOẶC HỎNG / ALTERED OR BROKEN")
        + (
            ""
            if sig.covers_whole_document or not sig.intact
            else "; có thay đổi sau khi ký / changed after signing"
        ),
        f"  Thời hạn chứng thư số / Certificate validity: {period}",
        "  Hiệu lực tại thời điểm ký / Valid at signing time: "
        + _yes(sig.cert_valid_at_signing, "có / yes", "KHÔNG / NO"),
        "  Chuỗi tin cậy / Trust: "
        + _yes(sig.trusted, "tin cậy / trusted", "KHÔNG TIN CẬY / NOT TRUSTED"),
        f"  Tình trạng thu hồi / Revocation: {REVOCATION_TEXT[sig.revocation]}",
    ]
    for w in sig.warnings:
        out.append("  ! " + render(w).line())
    return out


def run(args) -> int:
    from gateway.validation import Validator
    from gateway.verification import DocumentMissing, verify_file

    path = Path(args.file)
    if not path.is_file():
        say(f"lỗi / error: không tìm thấy tệp / file not found: {path}", file=sys.stderr)
        return EXIT_USAGE
    settings = settings_from(args)
    try:
        result = verify_file(path, Validator(settings), settings, document=args.document)
    except DocumentMissing as exc:
        say(f"lỗi / error: không tìm thấy tài liệu / document not found: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except TemporaryError as exc:
        line = render(exc.reason).line()
        if args.json:
            print(json.dumps({"file": str(path), "temporary": True, "error": render(exc.reason).as_dict()}, ensure_ascii=False))
        else:
            say("lỗi tạm thời / temporary error: " + line, file=sys.stderr)
        return EXIT_TEMPORARY
    return _finish(args, result)


KIND_TEXT = {
    "pdf": "chữ ký PDF / PDF signatures",
    "cades": "chữ ký tách rời CAdES / detached CAdES signature",
    "smime": "chữ ký S/MIME của thư / the message's S/MIME signature",
    "none": "không có chữ ký / unsigned",
}


def _finish(args, result) -> int:
    valid = result.valid
    problems = [r for r in [result.problem, *(i.problem for i in result.items)] if r is not None]
    if args.json:
        print(json.dumps({
            "file": result.file,
            "kind": result.kind,
            "valid": valid,
            "problem": render(result.problem).as_dict() if result.problem else None,
            "headers": dict(result.headers),
            "items": [{
                "kind": i.kind, "label": i.label, "valid": i.valid, "covers": list(i.covers),
                "problem": render(i.problem).as_dict() if i.problem else None,
                "signatures": [as_dict(s) for s in i.signatures],
            } for i in result.items],
            "signatures": [as_dict(s) for s in result.signatures],
        }, ensure_ascii=False, indent=2))
        return EXIT_OK if valid else EXIT_REFUSED
    say(f"Tệp / File: {result.file}")
    for name, value in result.headers:
        say(f"  {HEADER_TEXT.get(name, name)}: {value}")
    n = 0
    for item in result.items:
        if result.kind == "mail" or len(result.items) > 1:
            say(f"== {item.label} — {KIND_TEXT.get(item.kind, item.kind)}: "
                + _yes(item.valid, "HỢP LỆ / VALID", "KHÔNG HỢP LỆ / INVALID"))
        if item.covers:
            say("  Chữ ký này ký cả / this signature also signs: " + ", ".join(item.covers))
        for sig in item.signatures:
            n += 1
            say(*_lines(n, sig))
        if item.problem is not None:
            say("  ! " + render(item.problem).line())
    if result.problem is not None:
        say("KHÔNG HỢP LỆ / INVALID: " + render(result.problem).line())
    else:
        bad = sum(1 for s in result.signatures if not signature_ok(s))
        say("Kết luận / Result: " + (
            "tất cả chữ ký số hợp lệ / all signatures valid" if valid else
            f"KHÔNG HỢP LỆ / INVALID: {bad} chữ ký số không hợp lệ / invalid signature(s), "
            f"{len(problems)} vấn đề khác / other problem(s)"))
    return EXIT_OK if valid else EXIT_REFUSED


HEADER_TEXT = {"From": "Người gửi / From", "To": "Người nhận / To", "Subject": "Tiêu đề / Subject",
               "Date": "Ngày gửi / Date"}
