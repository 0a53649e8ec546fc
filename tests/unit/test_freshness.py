"""Facts that stay fresh: an answer whose figures change on a known day of the
year (`changes: "MM-DD"` in data/knowledge/answers.yml) is due for a fact check
once that day has passed since it was checked; `make coverage` lists it."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
import yaml

from actions import freshness
from actions.freshness import Schedule, parse_change_day
from locales.catalog import LOCALES_DIR
from scripts.coverage import report

KNOWLEDGE = LOCALES_DIR.parent / "data" / "knowledge" / "answers.yml"


def test_answers_whose_figures_change_were_checked_within_the_last_year() -> None:
    """Fails (by design, with today's date) when an answer with a change day
    was last checked more than a year ago: check it against its source again."""
    year_ago = freshness.year_before(dt.date.today())
    overdue = [
        f"{s.answer} (checked {s.checked})"
        for s in freshness.load(KNOWLEDGE).values()
        if s.changes is not None and s.checked < year_ago
    ]
    assert not overdue, f"check these answers against their sources and update `checked`: {overdue}"


@pytest.mark.parametrize(
    ("value", "expected"), [("01-01", (1, 1)), ("05-01", (5, 1)), ("08-01", (8, 1)), ("12-31", (12, 31))]
)
def test_a_change_day_is_month_and_day(value: str, expected: tuple[int, int]) -> None:
    assert parse_change_day(value) == expected


@pytest.mark.parametrize("value", ["5-1", "2026-05-01", "13-01", "04-31", "02-29", 501, None, "05-01x"])
def test_a_bad_change_day_is_refused_naming_the_answer(value: object) -> None:
    with pytest.raises(ValueError, match="nav/intro_benefit"):
        parse_change_day(value, "nav/intro_benefit")


@pytest.mark.parametrize(
    ("checked", "changes", "today", "due"),
    [
        (dt.date(2026, 4, 15), (5, 1), dt.date(2026, 4, 30), False),  # the day has not come yet
        (dt.date(2026, 4, 15), (5, 1), dt.date(2026, 5, 1), True),  # figures changed today
        (dt.date(2026, 5, 1), (5, 1), dt.date(2027, 4, 30), False),  # checked on the day itself: saw the new figures
        (dt.date(2026, 5, 1), (5, 1), dt.date(2027, 5, 1), True),
        (dt.date(2026, 6, 1), (1, 1), dt.date(2026, 12, 31), False),
        (dt.date(2026, 6, 1), (1, 1), dt.date(2027, 1, 1), True),  # the change day is in the next year
        (dt.date(2024, 8, 1), (8, 1), dt.date(2026, 12, 7), True),
        (dt.date(2024, 8, 1), None, dt.date(2030, 1, 1), False),  # no change day: never due by this rule
    ],
)
def test_due_once_the_change_day_has_passed_since_the_check(
    checked: dt.date, changes: tuple[int, int] | None, today: dt.date, due: bool
) -> None:
    assert Schedule("a/b", checked, changes).due(today) is due


def test_due_answers_come_from_the_index_longest_overdue_first() -> None:
    index = {
        "nav/intro_benefit": {"source": "https://www.nav.no", "checked": dt.date(2026, 3, 1), "changes": "05-01"},
        "fastlege/cost": {"source": "https://helsenorge.no", "checked": "2025-11-20", "changes": "01-01"},
        "barnehage/price": {"source": "https://udir.no", "checked": dt.date(2026, 8, 1), "changes": "08-01"},
        "nav/contact": {"source": "https://www.nav.no", "checked": dt.date(2020, 1, 1)},
    }
    due = freshness.due(freshness.schedules(index), dt.date(2026, 12, 7))
    assert [s.answer for s in due] == ["fastlege/cost", "nav/intro_benefit"]
    assert due[0].next_change() == dt.date(2026, 1, 1)


def test_coverage_lists_answers_due_for_a_fact_check(tmp_path: Path) -> None:
    index = yaml.safe_load(KNOWLEDGE.read_text(encoding="utf-8"))
    first, second, *_ = sorted(index)
    index[first] |= {"checked": dt.date(2026, 3, 1), "changes": "05-01"}
    index[second] |= {"checked": dt.date(2026, 6, 1), "changes": "05-01"}
    knowledge = tmp_path / "answers.yml"
    knowledge.write_text(yaml.safe_dump(index, allow_unicode=True), encoding="utf-8")
    text, figures = report(dt.date(2026, 12, 7), knowledge_file=knowledge)
    assert figures["due"] == [first]
    assert f"  {first} (changes 05-01; checked 2026-03-01, due since 2026-05-01)" in text.splitlines()
    assert second not in text.split("due for a fact check")[1].split("checked more than a year ago")[0]


def test_coverage_counts_reviewed_stale_unreviewed_and_missing_per_language(tmp_path: Path) -> None:
    locales = Path(shutil.copytree(LOCALES_DIR, tmp_path / "locales", ignore=shutil.ignore_patterns("*.py")))
    ui = locales / "ar" / "ui.yml"
    text = ui.read_text(encoding="utf-8")
    # greet.again: reviewed, but against a Norwegian text that is gone (stale); goodbye.bye: reviewed by hand.
    text = text.replace("greet.again:\n", 'greet.again:\n  source_hash: "000000000000"\n', 1)
    for key in ("greet.again", "goodbye.bye"):
        start = text.index(f"\n{key}:\n")
        end = text.index("reviewed: false", start)
        text = text[:end] + "reviewed: true" + text[end + len("reviewed: false") :]
    ui.write_text(text, encoding="utf-8")
    titles = locales / "so" / "titles.yml"
    titles.write_text("", encoding="utf-8")  # every title missing in Somali
    _, figures = report(dt.date(2026, 12, 7), locales_dir=locales)
    nb_titles = len(yaml.safe_load((LOCALES_DIR / "nb" / "titles.yml").read_text(encoding="utf-8")))
    total = figures["translations"]["nb"]["total"]
    assert figures["translations"]["ar"] == {
        "total": total,
        "reviewed": 1,
        "stale": 1,
        "unreviewed": total - 2,
        "missing": 0,
    }
    assert figures["translations"]["so"]["missing"] == nb_titles
