"""`gateway log verify` and `gateway log show`: the decision log for people.

verify: recompute the hash chain; exit 0 when intact (prints the count and the last hash — keep it
        somewhere else to anchor the chain), exit 1 naming the first record that does not match.
show:   records, oldest first; times shown in Vietnam time (+07:00). --since/--until take an ISO date or
        date-time; without a zone they are read as Vietnam time.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from gateway.cli.common import EXIT_OK, say, settings_from
from gateway.model import Reason
from gateway.reasons import render

VN = timezone(timedelta(hours=7), "ICT")
EXIT_BAD_CHAIN = 1


def register(sub) -> None:
    p = sub.add_parser("log", help="nhật ký quyết định / the decision log",
                       description="Nhật ký quyết định (chuỗi băm, chỉ ghi thêm) / the decision log (hash-chained, append-only).")
    cmds = p.add_subparsers(dest="log_command", metavar="{verify,show}")
    v = cmds.add_parser("verify", help="kiểm tra tính toàn vẹn / check the hash chain (exit 1 if broken)")
    v.set_defaults(func=cmd_verify)
    s = cmds.add_parser("show", help="xem bản ghi / show records")
    s.add_argument("--since", type=_when, help="từ thời điểm / from (ISO date or date-time; default zone +07:00)")
    s.add_argument("--until", type=_when, help="đến trước / until, exclusive")
    s.add_argument("--outcome", choices=["sign", "pass", "reject", "block", "temporary"])
    s.add_argument("--channel", choices=["smtp", "folder", "portal", "cli"])
    s.add_argument("--kind", choices=["decision", "event"])
    s.add_argument("--limit", type=int, default=100, help="số bản ghi mới nhất / newest N records (default 100; 0 = all)")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_show)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _when(text: str) -> datetime:
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not an ISO date/time: {text}") from None
    return t.replace(tzinfo=VN) if t.tzinfo is None else t


def _open(args):
    from gateway.audit import AuditLog

    return AuditLog.open(settings_from(args))


def cmd_verify(args) -> int:
    with _open(args) as log:
        rep = log.verify()
    if rep.ok:
        say(f"Nhật ký toàn vẹn / log intact: {rep.count} bản ghi / records; "
            f"băm cuối / last hash {rep.last_hash}")
        return EXIT_OK
    say(f"NHẬT KÝ BỊ SỬA / LOG TAMPERED: bản ghi #{rep.first_bad} không khớp / record #{rep.first_bad} "
        f"does not match: {rep.problem} ({rep.count} bản ghi đầu hợp lệ / first records intact)")
    return EXIT_BAD_CHAIN


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
