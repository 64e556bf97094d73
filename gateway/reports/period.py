"""Report periods: 6-monthly and yearly (Quy chế, Điều 10.5), as half-open intervals in Vietnam time.

"2026-H1" = [2026-01-01T00:00+07:00, 2026-07-01T00:00+07:00); "2026-H2" = [2026-07-01, 2027-01-01);
"2026" = [2026-01-01, 2027-01-01). A decision at 2026-06-30T23:59:59+07:00 (= 16:59:59Z) is H1;
one at 2026-07-01T00:00:00+07:00 (= 2026-06-30T17:00:00Z) is H2.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from gateway.certs import VN_TZ
from gateway.errors import InputRejected


@dataclass(frozen=True)
class Period:
    year: int
    half: int | None  # 1, 2, or None for the whole year

    @property
    def key(self) -> str:
        return f"{self.year}-H{self.half}" if self.half else str(self.year)

    @property
    def start(self) -> datetime:
        return datetime(self.year, 7 if self.half == 2 else 1, 1, tzinfo=VN_TZ)

    @property
    def end(self) -> datetime:
        """Exclusive."""
        if self.half == 1:
            return datetime(self.year, 7, 1, tzinfo=VN_TZ)
        return datetime(self.year + 1, 1, 1, tzinfo=VN_TZ)

    @property
    def months(self) -> tuple[str, ...]:
        """'YYYY-MM' for each month of the period, in order."""
        first = 7 if self.half == 2 else 1
        last = 6 if self.half == 1 else 12
        return tuple(f"{self.year}-{m:02d}" for m in range(first, last + 1))

    @property
    def label_vi(self) -> str:
        """The title's tail: the template says "năm <năm>"; for a half year we say which half."""
        if self.half == 1:
            return f"6 tháng đầu năm {self.year}"
        if self.half == 2:
            return f"6 tháng cuối năm {self.year}"
        return f"năm {self.year}"

    @property
    def label_en(self) -> str:
        return {1: f"first half of {self.year}", 2: f"second half of {self.year}"}.get(self.half, str(self.year))

    def contains(self, t: datetime) -> bool:
        if t.tzinfo is None:
            raise ValueError("naive datetime")
        return self.start <= t < self.end

    def month_of(self, t: datetime) -> str:
        return t.astimezone(VN_TZ).strftime("%Y-%m")


def parse_period(text: str) -> Period:
    m = re.fullmatch(r"\s*(\d{4})(?:-?[Hh]([12]))?\s*", text or "")
    if not m or not 2000 <= int(m.group(1)) <= 2999:
        raise InputRejected(f"bad period {text!r}", code="REPORT_PERIOD_INVALID", period=text)
    return Period(int(m.group(1)), int(m.group(2)) if m.group(2) else None)
