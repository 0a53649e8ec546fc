"""Interpreter appointments: the structured fields a caseworker fills in on
the desk, the messages the person gets about them in their own language
(confirmed, cancelled, a reminder the day before), and the reminder job.

Why structured: free text ("24.11 kl. 10") was sent to the person in
Norwegian. A date, a time and a language code can be written for each
person by Babel (CLDR) in their language and script; the place is a name
and is sent as typed.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_time

from caseworkers.cases import CaseStore
from channels.relay import Undeliverable
from locales.catalog import Catalog

logger = logging.getLogger(__name__)

#: Languages an interpreter can be booked in (ISO 639 codes Babel can name):
#: the service's languages, and those often asked for alongside them.
INTERPRETER_LANGUAGES = ("ar", "uk", "ru", "ti", "so", "fa", "fa_AF", "ps", "ku", "ckb", "am", "en", "fr", "sw")
_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
MAX_DAYS_AHEAD = 366
#: Reminders go out the day before, in daytime only (no SMS at midnight).
REMINDER_HOURS = range(9, 20)
REMINDER_EVERY_SECONDS = 15 * 60
#: send(sender, text, language, reference) (see caseworkers.desk.SendToPerson)
Send = Callable[[str, str, str, str], Awaitable[None]]


def _locale(lang: str) -> Locale | None:
    try:
        return Locale.parse(lang)
    except (UnknownLocaleError, ValueError):
        return None


def format_day(day: dt.date, lang: str) -> str:
    """'tirsdag 8. desember 2026', 'ሰሉስ፣ 8 ታሕሳስ 2026'; ISO for a locale Babel lacks."""
    locale = _locale(lang)
    return format_date(day, "full", locale=locale) if locale else day.isoformat()


def format_clock(at: dt.time, lang: str) -> str:
    """'09:30', '9:30 AM', '9:30 ص'; 24-hour HH:MM for a locale Babel lacks."""
    locale = _locale(lang)
    return format_time(at, "short", locale=locale) if locale else at.strftime("%H:%M")


def language_name(code: str, lang: str) -> str:
    """The interpreter's language named in the person's language (CLDR),
    else in English, else the code."""
    for locale in (_locale(lang), _locale("en")):
        name = locale.languages.get(code) if locale else None
        if name:
            return name
    return code


def parse_appointment(form: dict[str, str], today: dt.date) -> tuple[dict[str, str] | None, str]:
    """The desk form's appointment, checked: (fields, "") or (None, why in Norwegian)."""
    try:
        day = dt.date.fromisoformat(form.get("date", "").strip())
    except ValueError:
        return None, "Velg en dato."
    if not today <= day <= today + dt.timedelta(days=MAX_DAYS_AHEAD):
        return None, "Datoen må være i dag eller senere (høyst ett år fram)."
    clock = form.get("time", "").strip()
    if not _TIME.match(clock):
        return None, "Skriv klokkeslett som TT:MM."
    place = " ".join(form.get("place", "").split())[:200]
    if not place:
        return None, "Skriv hvor timen er."
    language = form.get("interpreter_language", "")
    if language not in INTERPRETER_LANGUAGES:
        return None, "Velg tolkens språk."
    return {"appointment_date": day.isoformat(), "appointment_time": clock, "place": place,
            "interpreter": " ".join(form.get("interpreter", "").split())[:100],
            "interpreter_language": language}, ""


def _values(row: dict[str, Any], lang: str) -> dict[str, str]:
    return {"date": format_day(dt.date.fromisoformat(row["appointment_date"]), lang),
            "time": format_clock(dt.time.fromisoformat(row["appointment_time"]), lang),
            "place": row.get("place") or "", "language": language_name(row.get("interpreter_language") or "", lang),
            "reference": row["reference"]}


def confirmation(catalog: Catalog, row: dict[str, Any], lang: str) -> str:
    """`row`: an interpreter request with its appointment and case reference."""
    return catalog.text("interp.confirmed", lang, **_values(row, lang))


def cancellation(catalog: Catalog, row: dict[str, Any], lang: str) -> str:
    """The header; the caseworker's reason follows, translated like a reply."""
    return catalog.text("interp.cancelled", lang, **_values(row, lang))


def reminder(catalog: Catalog, row: dict[str, Any], lang: str) -> str:
    return catalog.text("interp.reminder", lang, **_values(row, lang))


def reminder_key(row: dict[str, Any]) -> str:
    """Names one reminder: the request and its appointment. It marks the row
    (sent once) and keys the channel's send (an outbox sends it once)."""
    return f"interpreter-reminder:{row['id']}:{row['appointment_date']}T{row['appointment_time']}"


async def send_reminders(cases: CaseStore, catalog: Catalog, send: Send, local_now: dt.datetime,
                         reachable: Callable[[str], bool]) -> int:
    """Remind people of tomorrow's confirmed appointments, once each, in
    daytime, on channels that can write first (`reachable(sender)`).
    Returns how many were sent."""
    if local_now.hour not in REMINDER_HOURS:
        return 0
    tomorrow = (local_now.date() + dt.timedelta(days=1)).isoformat()
    sent = 0
    for row in cases.appointments_on(tomorrow):
        key = reminder_key(row)
        if row.get("reminded") == key or not reachable(row["sender"]) or not cases.claim_reminder(row["id"], key):
            continue
        try:
            await send(row["sender"], reminder(catalog, row, row["language"]), row["language"], key)
        except Undeliverable:  # the person blocked the bot: stays marked, never retried
            logger.warning("Interpreter reminder %s cannot be delivered", row["id"])
            continue
        except Exception as exc:  # noqa: BLE001 - try again next round; the others still go
            cases.release_reminder(row["id"], key)
            logger.warning("Interpreter reminder %s not sent: %s", row["id"], type(exc).__name__)
            continue
        sent += 1
    return sent
