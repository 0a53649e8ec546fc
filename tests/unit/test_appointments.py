"""Interpreter appointments: the desk form's fields checked, the person told
the date and time written for their language (Babel), and the reminder the
day before sent once, even across a restart."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path

import pytest

from caseworkers import appointments
from caseworkers.appointments import (
    cancellation,
    confirmation,
    format_clock,
    format_day,
    language_name,
    parse_appointment,
    reminder,
    reminder_key,
    send_reminders,
)
from caseworkers.cases import AlreadyDecided, CaseStore
from channels.relay import Undeliverable
from locales.catalog import Catalog
from nlu.langid import LANGUAGES

CATALOG = Catalog.load()
DAY = dt.date(2026, 12, 8)  # a Tuesday
ROW = {"appointment_date": "2026-12-08", "appointment_time": "09:30", "place": "NAV Bærum, Sandvika",
       "interpreter_language": "ti", "reference": "K-ABC234"}
#: What CLDR writes for Tuesday 8 December 2026, 09:30, in each language.
EXPECTED = {
    "nb": ("tirsdag 8. desember 2026", "09:30", "tigrinja"),
    "en": ("Tuesday, December 8, 2026", "9:30\u202fAM", "Tigrinya"),
    "ar": ("الثلاثاء، 8 ديسمبر 2026", "9:30 ص", "التغرينية"),
    "uk": ("вівторок, 8 грудня 2026\u202fр.", "09:30", "тигринья"),
    "ru": ("вторник, 8 декабря 2026\u202fг.", "09:30", "тигринья"),
    "ti": ("ሰሉስ፣ 8 ታሕሳስ 2026", "9:30 ቅ.ቀ.", "ትግርኛ"),
    "so": ("Talaado, Diseembar 8, 2026", "9:30 GH", "Tigrinya"),
    "fa": ("سه‌شنبه 8 دسامبر 2026", "9:30", "تیگرینیایی"),
}


def norm(text: str) -> str:
    """CLDR versions differ in the kind of space before 'AM' or 'р.'."""
    return text.replace("\u202f", " ").replace("\u00a0", " ")


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_person_is_told_date_time_and_language_written_for_their_language(lang: str) -> None:
    day, clock, language = EXPECTED[lang]
    assert norm(format_day(DAY, lang)) == norm(day)
    assert norm(format_clock(dt.time(9, 30), lang)) == norm(clock)
    assert language_name("ti", lang) == language
    for message in (confirmation(CATALOG, ROW, lang), cancellation(CATALOG, ROW, lang), reminder(CATALOG, ROW, lang)):
        assert norm(day) in norm(message) and norm(clock) in norm(message)
        assert "NAV Bærum, Sandvika" in message and "K-ABC234" in message and "{" not in message
    assert language in confirmation(CATALOG, ROW, lang) and language in reminder(CATALOG, ROW, lang)
    if lang not in ("nb", "en"):  # really translated, not the English fallback
        assert confirmation(CATALOG, ROW, lang) != confirmation(CATALOG, ROW, "en")


def test_a_locale_babel_lacks_falls_back_to_iso_and_english_names() -> None:
    assert format_day(DAY, "xx") == "2026-12-08"
    assert format_clock(dt.time(9, 30), "xx") == "09:30"
    assert language_name("ti", "xx") == "Tigrinya"
    assert language_name("fa_AF", "nb") == "dari" and language_name("zz", "nb") == "zz"


def test_every_interpreter_language_has_a_name_in_every_language() -> None:
    for code in appointments.INTERPRETER_LANGUAGES:
        for lang in LANGUAGES:
            assert language_name(code, lang) != code, (code, lang)


def test_the_desk_form_is_checked() -> None:
    today = dt.date(2026, 12, 1)
    form = {"date": "2026-12-08", "time": "09:30", "place": "  NAV   Bærum ", "interpreter": "Tolk Ali",
            "interpreter_language": "ti"}
    fields, error = parse_appointment(form, today)
    assert error == "" and fields == {"appointment_date": "2026-12-08", "appointment_time": "09:30",
                                      "place": "NAV Bærum", "interpreter": "Tolk Ali", "interpreter_language": "ti"}
    for change, message in (({"date": "8.12"}, "dato"), ({"date": "2026-11-30"}, "i dag eller senere"),
                            ({"time": "9.30"}, "TT:MM"), ({"time": "24:00"}, "TT:MM"), ({"place": " "}, "hvor"),
                            ({"interpreter_language": "xx"}, "språk")):
        fields, error = parse_appointment(form | change, today)
        assert fields is None and message in error, change


def store_with_appointment(path: Path | None = None, sender: str = "sms:+4790000001",
                           day: str = "2026-12-08") -> tuple[CaseStore, int]:
    cases = CaseStore(path)
    case, _ = cases.open_case(sender=sender, channel="sms", language="ti", topic="interpreter", text="ተርጓሚ")
    request_id = cases.add_interpreter_request(case["id"], json.dumps({"date": day}))
    cases.decide_interpreter_request(request_id, "kari", True, {"appointment_date": day, "appointment_time": "09:30",
                                                                "place": "Sandvika", "interpreter": "Tolk Ali",
                                                                "interpreter_language": "ti"})
    return cases, request_id


class Outbox:
    def __init__(self, fail: Exception | None = None) -> None:
        self.sent: list[tuple[str, str, str, str]] = []
        self.fail = fail

    async def __call__(self, sender: str, text: str, lang: str, reference: str) -> None:
        if self.fail:
            raise self.fail
        self.sent.append((sender, text, lang, reference))


DAY_BEFORE = dt.datetime(2026, 12, 7, 10, 0)


def remind(cases: CaseStore, outbox: Outbox, at: dt.datetime = DAY_BEFORE, reachable: bool = True) -> int:
    return asyncio.run(send_reminders(cases, CATALOG, outbox, at, lambda _: reachable))


def test_the_reminder_is_sent_once_the_day_before_even_across_a_restart(tmp_path: Path) -> None:
    cases, request_id = store_with_appointment(tmp_path / "cases.db")
    outbox = Outbox()
    assert remind(cases, outbox, DAY_BEFORE - dt.timedelta(days=1)) == 0  # two days before: not yet
    assert remind(cases, outbox, DAY_BEFORE.replace(hour=7)) == 0  # nobody gets a message at 7 in the morning
    assert remind(cases, outbox) == 1
    sender, text, lang, reference = outbox.sent[0]
    row = cases.interpreter_request(request_id)
    assert (sender, lang, text) == ("sms:+4790000001", "ti", reminder(CATALOG, row, "ti"))
    assert reference == reminder_key(row) == f"interpreter-reminder:{request_id}:2026-12-08T09:30"
    assert remind(cases, outbox, DAY_BEFORE.replace(hour=19)) == 0
    assert remind(CaseStore(tmp_path / "cases.db"), outbox) == 0  # a restarted server finds it sent
    assert len(outbox.sent) == 1


def test_a_failed_reminder_is_tried_again_one_refused_for_good_is_not() -> None:
    cases, _ = store_with_appointment()
    assert remind(cases, Outbox(fail=ConnectionError())) == 0
    outbox = Outbox()
    assert remind(cases, outbox) == 1 and len(outbox.sent) == 1

    cases, _ = store_with_appointment()
    assert remind(cases, Outbox(fail=Undeliverable("blocked"))) == 0
    assert remind(cases, outbox) == 0 and len(outbox.sent) == 1


def test_no_reminder_for_a_channel_that_cannot_write_first_or_a_cancelled_appointment() -> None:
    cases, _ = store_with_appointment(sender="rest:scorer")
    outbox = Outbox()
    assert remind(cases, outbox, reachable=False) == 0
    cases, request_id = store_with_appointment()
    cases.cancel_interpreter_request(request_id, "kari", "Legen er syk")
    assert remind(cases, outbox) == 0 and outbox.sent == []


def test_an_appointment_is_decided_and_cancelled_once_and_says_by_whom() -> None:
    cases, request_id = store_with_appointment()
    with pytest.raises(AlreadyDecided) as decided:
        cases.decide_interpreter_request(request_id, "ola", False, reason="for sent")
    assert (decided.value.status, decided.value.by) == ("confirmed", "kari")
    cases.cancel_interpreter_request(request_id, "ola", "Legen er syk")
    with pytest.raises(AlreadyDecided) as again:
        cases.cancel_interpreter_request(request_id, "kari", "igjen")
    assert (again.value.status, again.value.by) == ("cancelled", "ola")
    row = cases.interpreter_request(request_id)
    assert (row["status"], row["reason"], row["appointment_time"]) == ("cancelled", "Legen er syk", "09:30")


def test_a_person_who_erased_their_data_gets_no_reminder_and_the_place_is_gone() -> None:
    from core.senders import channel_of

    cases, request_id = store_with_appointment()
    cases.forget("sms:+4790000001")
    assert cases.interpreter_request(request_id)["place"] is None
    outbox = Outbox()
    reachable = {"sms", "telegram", "web"}
    assert asyncio.run(send_reminders(cases, CATALOG, outbox, DAY_BEFORE,
                                      lambda sender: channel_of(sender) in reachable)) == 0
    assert outbox.sent == []
