"""When an answer's facts must be checked again.

Some answers quote figures that change on a known day every year: fees on
01-01, amounts tied to G (grunnbeløpet) on 05-01, barnehage prices on 08-01.
Such an answer carries `changes: "MM-DD"` in `data/knowledge/answers.yml`. It
is *due* for a fact check once that day has come round since its `checked`
date: whatever it says may have changed. A check made on the change day
itself counts as seeing the new figures.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

CHANGE_DAY = re.compile(r"(\d{2})-(\d{2})")


@dataclass(frozen=True)
class Schedule:
    """An answer's last check and, if its figures change yearly, the day they do."""

    answer: str
    checked: dt.date
    changes: tuple[int, int] | None = None  # (month, day)

    def next_change(self) -> dt.date | None:
        """The first change day strictly after the last check."""
        if self.changes is None:
            return None
        month, day = self.changes
        candidate = dt.date(self.checked.year, month, day)
        return candidate if candidate > self.checked else dt.date(self.checked.year + 1, month, day)

    def due(self, today: dt.date) -> bool:
        """True once a change day has passed since the answer was checked."""
        change = self.next_change()
        return change is not None and change <= today


def parse_change_day(value: object, answer: str = "") -> tuple[int, int]:
    """`"MM-DD"` as (month, day); a clear error for anything else.

    29 February is refused: it would come round only every fourth year.
    """
    match = CHANGE_DAY.fullmatch(str(value).strip()) if isinstance(value, str) else None
    if not match:
        raise ValueError(f'{answer}: changes must be a day of the year as "MM-DD", got {value!r}')
    month, day = int(match[1]), int(match[2])
    try:
        dt.date(2001, month, day)  # a common year: refuses 02-29 and 04-31
    except ValueError:
        raise ValueError(f"{answer}: changes {value!r} is not a day that comes every year") from None
    return month, day


def schedules(index: Mapping[str, Mapping[str, Any]]) -> dict[str, Schedule]:
    """Each answer's schedule from the knowledge index (id -> source, checked, changes...)."""
    result = {}
    for answer, meta in index.items():
        checked = meta["checked"]
        checked = checked if isinstance(checked, dt.date) else dt.date.fromisoformat(str(checked))
        changes = parse_change_day(meta["changes"], answer) if meta.get("changes") is not None else None
        result[answer] = Schedule(answer, checked, changes)
    return result


def load(path: Path) -> dict[str, Schedule]:
    return schedules(yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {})


def due(index: Mapping[str, Schedule], today: dt.date) -> list[Schedule]:
    """Answers due for a fact check, the longest overdue first."""
    return sorted((s for s in index.values() if s.due(today)), key=lambda s: (s.next_change(), s.answer))


def year_before(today: dt.date) -> dt.date:
    """The same day one year earlier (28 February for a 29 February)."""
    try:
        return today.replace(year=today.year - 1)
    except ValueError:
        return today.replace(year=today.year - 1, day=28)
