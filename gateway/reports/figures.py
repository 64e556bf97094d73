"""The numbers of a report: the inventory rows of the template, and the gateway's own figures.

Inventory rows (template rows 1-4 and Tổng cộng), all evaluated at the end of the period (exclusive bound,
Vietnam time), i.e. the state on the period's last instant:
  issued   = certificates in the inventory with notBefore before the end of the period (cumulative);
  in use   = of those, neither revoked nor expired at the end of the period;
  revoked  = of those, revoked before the end of the period, plus those expired by then: expiry is the first
             revocation ground of Decree 68 Điều 17, so issued = in use + revoked on every row;
  reasons  = the revocation grounds with their counts ("Hết hạn sử dụng: 2; Nghỉ hưu: 1");
  note     = what happened within the period itself: newly issued, revoked, expired.

Gateway figures come from the decision log (AuditLog.query(since=, until=)), document decisions only
(outcome SIGN/PASS/REJECT/BLOCK; door events and dry runs are not documents the agency sent).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Iterable, Mapping, Sequence

from gateway.certs import EXPIRED, GROUNDS, VN_TZ, CertRecord, CertStatus, CertType
from gateway.model import Channel, Outcome
from gateway.reports.period import Period

OUTCOMES = (Outcome.SIGN, Outcome.PASS, Outcome.REJECT, Outcome.BLOCK)
CHANNELS = tuple(Channel)
TOP_REJECTIONS = 5


@dataclass(frozen=True)
class InventoryRow:
    cert_type: CertType | None  # None: the Tổng cộng row
    issued: int
    in_use: int
    revoked: int
    reasons: tuple[tuple[str, int], ...]  # (ground code, count), in the order of Điều 17
    issued_in_period: int
    revoked_in_period: int  # explicit revocations dated within the period
    expired_in_period: int

    @property
    def reasons_text(self) -> str:
        return "; ".join(f"{GROUNDS[c].vi}: {n}" if c in GROUNDS else f"{c}: {n}" for c, n in self.reasons)

    @property
    def note_text(self) -> str:
        parts = []
        if self.issued_in_period:
            parts.append(f"Cấp mới trong kỳ: {self.issued_in_period}")
        if self.revoked_in_period:
            parts.append(f"Thu hồi trong kỳ: {self.revoked_in_period}")
        if self.expired_in_period:
            parts.append(f"Hết hạn trong kỳ: {self.expired_in_period}")
        return "; ".join(parts)


@dataclass(frozen=True)
class GatewayFigures:
    total: int
    by_outcome: Mapping[str, int]  # every outcome, zeros included
    by_channel: Mapping[str, Mapping[str, int]]  # channel -> outcome -> n (every channel and outcome)
    by_month: Mapping[str, Mapping[str, int]]  # 'YYYY-MM' -> outcome -> n (every month of the period)
    by_reason: tuple[tuple[str, int], ...]  # reason code -> number of decisions citing it, most first
    top_rejections: tuple[tuple[str, int], ...]  # among REJECT decisions, most first


@dataclass(frozen=True)
class ReportData:
    period: Period
    unit: str
    parent: str
    number: str
    place: str
    head_title: str
    signer_name: str
    issued_on: datetime  # the report's own date (place and date line)
    rows: tuple[InventoryRow, ...]  # rows 1-4 then Tổng cộng
    gateway: GatewayFigures
    recipients: tuple[str, ...] = field(default=("Sở Thông tin và Truyền thông",))

    @property
    def data_end(self) -> datetime:
        """Where the figures stop (exclusive): the end of the period, or the end of the report's own day when
        that is earlier."""
        return data_end(self.period, self.issued_on)

    @property
    def total(self) -> InventoryRow:
        return self.rows[-1]


def _last_instant(p: Period) -> datetime:
    return p.end - timedelta(microseconds=1)


def data_end(period: Period, issued_on: datetime | None) -> datetime:
    """min(end of the period, midnight after the report's date), Vietnam time, exclusive."""
    if issued_on is None:
        return period.end
    day = issued_on.astimezone(VN_TZ).date() + timedelta(days=1)
    return min(period.end, datetime(day.year, day.month, day.day, tzinfo=VN_TZ))


def inventory_rows(records: Iterable[CertRecord], period: Period, until: datetime | None = None) -> tuple[InventoryRow, ...]:
    at = (until or period.end) - timedelta(microseconds=1)
    per_type: dict[CertType, list[CertRecord]] = {t: [] for t in CertType}
    for r in records:
        if r.not_before <= at:
            per_type[r.cert_type].append(r)
    rows = [_row(t, per_type[t], period, at) for t in CertType]
    rows.append(_sum(rows))
    return tuple(rows)


def _row(t: CertType | None, recs: Sequence[CertRecord], period: Period, at: datetime) -> InventoryRow:
    in_use = revoked = 0
    reasons: Counter[str] = Counter()
    issued_in = revoked_in = expired_in = 0
    for r in recs:
        st = r.status(at)
        if st is CertStatus.REVOKED:
            revoked += 1
            reasons[r.revocation_reason or "unknown"] += 1
            revoked_in += period.contains(r.revoked_at)  # type: ignore[arg-type]
        elif st is CertStatus.EXPIRED:
            revoked += 1
            reasons[EXPIRED] += 1
        else:
            in_use += 1  # NOT_YET_VALID cannot happen: notBefore < end
        if st is not CertStatus.REVOKED and period.start <= r.not_after < period.end:
            expired_in += 1
        issued_in += r.not_before >= period.start
    return InventoryRow(t, len(recs), in_use, revoked, _in_ground_order(reasons), issued_in, revoked_in, expired_in)


def _in_ground_order(reasons: Counter[str]) -> tuple[tuple[str, int], ...]:
    order = list(GROUNDS)
    return tuple(sorted(reasons.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order)))


def _sum(rows: Sequence[InventoryRow]) -> InventoryRow:
    reasons: Counter[str] = Counter()
    for r in rows:
        reasons.update(dict(r.reasons))
    return InventoryRow(
        None,
        sum(r.issued for r in rows),
        sum(r.in_use for r in rows),
        sum(r.revoked for r in rows),
        _in_ground_order(reasons),
        sum(r.issued_in_period for r in rows),
        sum(r.revoked_in_period for r in rows),
        sum(r.expired_in_period for r in rows),
    )


# --- the decision log -------------------------------------------------------------------------------


def _get(rec, name, default=None):
    v = rec.get(name) if isinstance(rec, Mapping) else getattr(rec, name, None)
    return default if v is None else v


def _when(rec) -> datetime | None:
    t = _get(rec, "time")
    if isinstance(t, str):
        t = datetime.fromisoformat(t)
    if isinstance(t, datetime) and t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)  # the log stores UTC
    return t


def _codes(data) -> list[str]:
    codes = [str(_get(r, "code", r if isinstance(r, str) else "")) for r in _get(data, "reasons", ())]
    return list(dict.fromkeys(c for c in codes if c))  # a code counts once per decision


def _decision(rec) -> tuple[datetime, Outcome, str, list[str]] | None:
    """(time, outcome, channel, reason codes) for a document decision; None for anything else.

    Reads gateway.audit.Record (kind, outcome, channel, data{reasons: [{code, params}], dry_run}); door events,
    temporary failures and dry runs are not decisions on documents the agency sent. A container's members
    have records of their own (data.member): the container's record counts for them, once.
    """
    data = _get(rec, "data", default={}) or {}
    if _get(rec, "kind", default="decision") != "decision" or _get(data, "dry_run", default=False):
        return None
    if _get(data, "member", default=None):
        return None
    raw = _get(rec, "outcome")
    try:
        outcome = Outcome(str(raw).lower()) if raw else None
    except ValueError:
        outcome = None  # "temporary": nothing was decided
    t = _when(rec)
    if outcome is None or t is None:
        return None
    return t, outcome, str(_get(rec, "channel", default="")), _codes(data)


def gateway_figures(records: Iterable, period: Period) -> GatewayFigures:
    by_outcome: Counter[str] = Counter()
    by_channel: dict[str, Counter[str]] = {c.value: Counter() for c in CHANNELS}
    by_month: dict[str, Counter[str]] = {m: Counter() for m in period.months}
    by_reason: Counter[str] = Counter()
    rejections: Counter[str] = Counter()
    total = 0
    for rec in records:
        d = _decision(rec)
        if d is None:
            continue
        t, outcome, ch, codes = d
        if not period.contains(t):
            continue  # the query bounds are the log's business; the period's bounds are ours
        total += 1
        by_outcome[outcome.value] += 1
        by_channel.setdefault(ch or "unknown", Counter())[outcome.value] += 1
        by_month[period.month_of(t)][outcome.value] += 1
        by_reason.update(codes)
        if outcome is Outcome.REJECT:
            rejections.update(codes)

    def full(c: Counter[str]) -> dict[str, int]:
        return {o.value: c.get(o.value, 0) for o in OUTCOMES}

    def ranked(c: Counter[str]) -> tuple[tuple[str, int], ...]:
        return tuple(sorted(c.items(), key=lambda kv: (-kv[1], kv[0])))

    return GatewayFigures(
        total=total,
        by_outcome=full(by_outcome),
        by_channel={ch: full(c) for ch, c in by_channel.items()},
        by_month={m: full(c) for m, c in by_month.items()},
        by_reason=ranked(by_reason),
        top_rejections=ranked(rejections)[:TOP_REJECTIONS],
    )


def query_decisions(settings, period: Period, until: datetime | None = None) -> list:
    """Decision records of the period from the decision log (`until` is exclusive there, as here)."""
    from gateway.audit import KIND_DECISION, AuditLog

    with AuditLog.open(settings) as log:
        return log.query(since=period.start, until=until or period.end, kind=KIND_DECISION)


def build_report(settings, period: Period, *, unit: str | None = None, parent: str | None = None,
                 number: str | None = None, place: str | None = None, issued_on: datetime | None = None,
                 records: Iterable | None = None, certs: Iterable[CertRecord] | None = None,
                 signer_name: str = "") -> ReportData:
    """Everything a renderer needs. `records` / `certs` default to the decision log and the inventory."""
    from gateway.certs import Inventory

    rs = settings.report
    if certs is None:
        with Inventory.from_settings(settings) as inv:
            certs = inv.all()
    issued = (issued_on or datetime.now(VN_TZ)).astimezone(VN_TZ)
    until = data_end(period, issued)
    if records is None:
        records = query_decisions(settings, period, until)
    return ReportData(
        period=period,
        unit=unit if unit is not None else rs.unit,
        parent=parent if parent is not None else rs.parent,
        number=number if number is not None else "",
        place=place if place is not None else rs.place,
        head_title=rs.head_title,
        signer_name=signer_name,
        issued_on=issued,
        rows=inventory_rows(certs, period, until),
        gateway=gateway_figures(records, period),
    )
