"""When the municipality's office is open, so that a person who hands a
case over knows when to expect an answer ("the office opens Monday 08:00")."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_time

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SPEC = re.compile(r"^(mon|tue|wed|thu|fri|sat|sun)-(mon|tue|wed|thu|fri|sat|sun) (\d\d):(\d\d)-(\d\d):(\d\d)$")


@dataclass(frozen=True)
class OfficeHours:
    first_day: int
    last_day: int
    opens: dt.time
    closes: dt.time
    zone: ZoneInfo

    @classmethod
    def parse(cls, spec: str, zone: str = "Europe/Oslo") -> OfficeHours:
        """`"mon-fri 08:00-15:30"`."""
        m = _SPEC.match(spec.strip().lower())
        if not m:
            raise ValueError(f"OFFICE_HOURS must look like 'mon-fri 08:00-15:30', not {spec!r}")
        opens, closes = dt.time(int(m[3]), int(m[4])), dt.time(int(m[5]), int(m[6]))
        if opens >= closes:
            raise ValueError("OFFICE_HOURS: the office must open before it closes")
        return cls(_DAYS.index(m[1]), _DAYS.index(m[2]), opens, closes, ZoneInfo(zone))

    def _open_day(self, day: dt.date) -> bool:
        return self.first_day <= day.weekday() <= self.last_day

    def is_open(self, at: dt.datetime) -> bool:
        local = at.astimezone(self.zone)
        return self._open_day(local.date()) and self.opens <= local.time() < self.closes

    def next_opening(self, at: dt.datetime) -> dt.datetime:
        local = at.astimezone(self.zone)
        day = local.date()
        if self._open_day(day) and local.time() < self.opens:
            return dt.datetime.combine(day, self.opens, self.zone)
        for _ in range(7):
            day += dt.timedelta(days=1)
            if self._open_day(day):
                return dt.datetime.combine(day, self.opens, self.zone)
        raise ValueError("no open day in the week")  # unreachable for a valid spec

    def answer_due(self, at: dt.datetime) -> dt.datetime:
        """When a person who wrote at `at` was promised an answer (case.opened_*):
        before closing that day if the office was open, else by closing time
        on the day it opens next."""
        day = at.astimezone(self.zone).date() if self.is_open(at) else self.next_opening(at).date()
        return dt.datetime.combine(day, self.closes, self.zone)

    def describe_opening(self, at: dt.datetime, lang: str) -> str:
        """The next opening in the reader's language, e.g. "Monday 08:00"."""
        opening = self.next_opening(at)
        return f"{format_date(opening, 'EEEE', locale=lang)} {format_time(opening, 'HH:mm', locale=lang)}"

    def closing(self, lang: str) -> str:
        return format_time(self.closes, "HH:mm", locale=lang)
