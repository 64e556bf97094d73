"""`gateway log verify|show|checkpoint`: the decision log for people.

verify:     recompute the hash chain, check every record's exact form, every signed checkpoint (signature by
            the organisation's certificate, and the record it names still hashing as signed), and the
            checkpoints kept in the anchor (settings.audit.anchor_dir, or --anchor PATH: what an auditor
            kept). Exit 0 intact; 3 naming the first thing that does not match, or when the log is missing
            (it is opened read-only: never created); 4 when it cannot be read now (locked).
show:       records, oldest first; times shown in Vietnam time (+07:00). --since/--until take an ISO date or
            date-time; without a zone they are read as Vietnam time.
checkpoint: sign the current head now (needs the token) and export it to the anchor.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from pathlib import Path

from gateway.cli.common import EXIT_OK, EXIT_REFUSED, say, settings_from
from gateway.model import Reason
from gateway.reasons import render

VN = timezone(timedelta(hours=7), "ICT")
EXIT_BAD_CHAIN = EXIT_REFUSED  # the documented scheme: 3 = refused / invalid


def register(sub) -> None:
    p = sub.add_parser("log", help="nhật ký quyết định / the decision log",
                       description="Nhật ký quyết định (chuỗi băm, chỉ ghi thêm) / the decision log (hash-chained, append-only).")
    cmds = p.add_subparsers(dest="log_command", metavar="{verify,show,checkpoint}")
    v = cmds.add_parser("verify", help="kiểm tra tính toàn vẹn / check the chain and its signed checkpoints (exit 3 if not intact)")
    v.add_argument("--anchor", type=Path, metavar="PATH",
                   help="điểm neo lưu ở nơi khác / checkpoints kept elsewhere: an anchor directory, its "
                        "checkpoints.jsonl, or a latest.json with its .p7s (default: settings.audit.anchor_dir)")
    v.add_argument("--org-cert", type=Path, action="append", metavar="PEM",
                   help="chứng thư số của cơ quan / the organisation certificate(s) checkpoints must be signed by "
                        "(default: trust.organisation_certs, else <var>/pki/org.pem)")
    v.set_defaults(func=cmd_verify)
    c = cmds.add_parser("checkpoint", help="ký điểm kiểm tra ngay / sign the log's head now (needs the token)")
    c.set_defaults(func=cmd_checkpoint)
    s = cmds.add_parser("show", help="xem bản ghi / show records")
    s.add_argument("--since", type=_when, help="từ thời điểm / from (ISO date or date-time; default zone +07:00)")
    s.add_argument("--until", type=_when, help="đến trước / until, exclusive")
    s.add_argument("--outcome", choices=["sign", "pass", "reject", "block", "temporary"],
                   help="chỉ kết quả này / only this outcome")
    s.add_argument("--channel", choices=["smtp", "folder", "portal", "cli"], help="chỉ kênh này / only this channel")
    s.add_argument("--kind", choices=["decision", "event"],
                   help="quyết định hay sự kiện của cửa vào / decisions or door events")
    s.add_argument("--limit", type=int, default=100, help="số bản ghi mới nhất / newest N records (default 100; 0 = all)")
    s.add_argument("--json", action="store_true", help="kết quả dạng JSON / JSON output")
    s.set_defaults(func=cmd_show)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _when(text: str) -> datetime:
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not an ISO date/time: {text}") from None
    return t.replace(tzinfo=VN) if t.tzinfo is None else t


def _open(args, settings=None):
    from gateway.audit import AuditLog

    # Readers never create: a missing log is reported, not replaced by an empty one.
    return AuditLog.open(settings or settings_from(args, signing=False), create=False)


def _trusted(args, settings) -> list[bytes]:
    from cryptography.hazmat.primitives import serialization

    from gateway.audit.checkpoints import organisation_certs
    from gateway.signing.certcheck import _load_certs

    if args.org_cert:
        return [c.public_bytes(serialization.Encoding.DER) for c in _load_certs(args.org_cert)]
    return organisation_certs(settings)


def cmd_verify(args) -> int:
    from gateway.audit.log import AuditLogLost, anchor_dir

    settings = settings_from(args, signing=False)  # the log is all it needs (and org.pem for checkpoints)
    anchor = args.anchor or anchor_dir(settings)
    if args.anchor is not None and not args.anchor.exists():
        say(f"không tìm thấy điểm neo / anchor not found: {args.anchor}")
        return EXIT_BAD_CHAIN
    try:
        log = _open(args, settings)
    except AuditLogLost:
        say(f"KHÔNG CÓ NHẬT KÝ / DECISION LOG MISSING: {settings.audit.path} — không kiểm tra được, không "
            f"tạo nhật ký mới / nothing to verify; no new log was created")
        return EXIT_BAD_CHAIN
    with log:
        rep = log.verify(trusted=_trusted(args, settings), anchor=anchor if anchor.exists() else None)
    if not rep.ok:
        where = f"bản ghi #{rep.first_bad} / record #{rep.first_bad}: " if rep.first_bad else ""
        say(f"NHẬT KÝ BỊ SỬA / LOG TAMPERED: {where}{rep.problem} "
            f"({rep.count} bản ghi đầu hợp lệ / first records intact)")
        return EXIT_BAD_CHAIN
    say(f"Nhật ký toàn vẹn / log intact: {rep.count} bản ghi / records; băm cuối / last hash {rep.last_hash}")
    if rep.last_checkpoint:
        say(f"Điểm kiểm tra đã ký / signed checkpoints: {rep.checkpoints} trong nhật ký / in the log, "
            f"{rep.anchored} ở điểm neo / in the anchor; mới nhất / newest covers record #{rep.last_checkpoint} "
            f"(ký bởi / signed by {rep.signer})")
    else:
        say("Chưa có điểm kiểm tra đã ký / no signed checkpoint yet: the chain alone is not anchored")
    if rep.unanchored:
        say(f"  {rep.unanchored} bản ghi sau điểm kiểm tra mới nhất / records after the newest checkpoint "
            "(covered by the chain, not yet by a signature)")
    for note in rep.notes:
        say(f"  lưu ý / note: {note}")
    return EXIT_OK


def cmd_checkpoint(args) -> int:
    from gateway.audit import Anchor, Checkpointer
    from gateway.audit.log import anchor_dir
    from gateway.engine import Engine

    settings = settings_from(args)
    with Engine(settings, workers=0) as engine:
        cp = Checkpointer(engine.audit, engine.sign_statement, organisation=settings.organisation,
                          every_records=1, every_seconds=0.001, anchor=Anchor(anchor_dir(settings))).make()
    if cp is None:
        say("Không có bản ghi mới kể từ điểm kiểm tra trước / nothing new since the last checkpoint")
    else:
        say(f"Đã ký điểm kiểm tra / checkpoint signed: bản ghi / record #{cp.seq}, băm / hash {cp.hash}")
    return EXIT_OK


def _codes(items) -> list[Reason]:
    return [Reason.of(i["code"], **i.get("params", {})) for i in items or ()]


def cmd_show(args) -> int:
    with _open(args) as log:
        records = log.query(since=args.since, until=args.until, outcome=args.outcome, channel=args.channel,
                            kind=args.kind, limit=args.limit or None)
    if args.json:
        print(json.dumps([r.as_dict() for r in records], ensure_ascii=False, indent=2))
        return EXIT_OK
    for r in records:
        d = r.data
        when = r.time.astimezone(VN).isoformat(timespec="seconds")
        flags = (" [CẢNH BÁO / ALERT]" if r.alert else "") + (" [kiểm tra / check]" if d.get("dry_run") else "")
        if r.kind == "event":
            detail = ", ".join(f"{k}={v}" for k, v in sorted(d.items()))
            say(f"#{r.id} {when} {r.channel} sự kiện / event {r.event}{flags}: {detail}")
            continue
        policy = d.get("policy") or {}
        say(f"#{r.id} {when} {r.channel} {r.outcome}{flags} {d.get('name')} ({d.get('size', '?')} B, "
            f"{d.get('doc_kind')}) policy {policy.get('id', '-')}@{policy.get('version', '-')}")
        for reason in _codes(d.get("reasons")) + _codes([d["error"]] if d.get("error") else []):
            say("    - " + render(reason).line())
        for w in _codes(d.get("warnings")):
            say("    ! " + render(w).line())
    say(f"({len(records)} bản ghi / records)")
    return EXIT_OK
