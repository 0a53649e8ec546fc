"""The interpreter request, as a Rasa form.

The person cannot book an interpreter: the public service orders and pays.
So the assistant collects what the municipality's ordering routine needs
(appointment, place, preferred date and an alternative, duration, in person
or by phone or video, number of people, an optional gender preference that
is not guaranteed, dialect, notes), re-asks invalid answers with an
explanation, and sends the caseworkers a structured request (a case with an
interpreter request on the desk). An emergency typed in the middle stops
the form and gets the numbers at once.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date
from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import ActiveLoop, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.base import Events
from actions.handoff import case_store
from actions.knowledge import catalog, knowledge
from actions.turn import Turn
from caseworkers import labels
from core.config import settings
from core.senders import case_channel
from nlu.text import normalize
from ops import metrics

SLOTS = ("interp_appointment", "interp_place", "interp_date", "interp_alt_date", "interp_duration", "interp_mode",
         "interp_people", "interp_gender", "interp_dialect", "interp_notes")
APPOINTMENTS = ("fastlege", "nav", "school", "barnehage", "housing", "other")
MODES = ("in_person", "phone", "video")
GENDERS = ("none", "woman", "man")
DURATIONS = ("30", "60", "90", "120")
SKIP, NO_ALTERNATIVE = "skip", "none"
_DATE = re.compile(r"^\s*(\d{1,2})[./-](\d{1,2})(?:[./-](\d{2,4}))?\s*$")


def turn_of(tracker: Tracker) -> Turn:
    return Turn.read(tracker.latest_message or {}, tracker.slots, settings().default_language)


def today() -> dt.date:
    return dt.datetime.now(ZoneInfo(settings().timezone)).date()


def weekday_in(text: str, lang: str) -> int | None:
    """A weekday named in the person's language (CLDR names via Babel)."""
    from babel.dates import get_day_names

    words = set(normalize(text).replace(",", " ").split())
    for width in ("wide", "abbreviated"):
        for locale in dict.fromkeys((lang, "en", "nb")):
            for number, name in get_day_names(width, locale=locale).items():
                if normalize(name).rstrip(".") in words:
                    return number
    return None


def parse_date(text: str, start: dt.date, lang: str = "en") -> dt.date | None:
    """ISO dates (the buttons), day.month[.year] typed in any language's
    digits, or a weekday named in the person's language (the next one);
    today up to 90 days ahead."""
    text = text.strip().translate(str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789"))
    weekday = weekday_in(text, lang) if not _DATE.match(text) else None
    if weekday is not None:
        return start + dt.timedelta(days=(weekday - start.weekday() - 1) % 7 + 1)
    try:
        value = dt.date.fromisoformat(text)
    except ValueError:
        m = _DATE.match(text)
        if not m:
            return None
        year = int(m[3]) if m[3] else start.year
        year = year + 2000 if year < 100 else year
        try:
            value = dt.date(year, int(m[2]), int(m[1]))
        except ValueError:
            return None
        if not m[3] and value < start:
            value = value.replace(year=start.year + 1)
    return value if start <= value <= start + dt.timedelta(days=90) else None


def next_weekdays(start: dt.date, count: int = 5) -> list[dt.date]:
    days, day = [], start + dt.timedelta(days=1)
    while len(days) < count:
        if day.weekday() < 5:
            days.append(day)
        day += dt.timedelta(days=1)
    return days


def buttons_for(slot: str, lang: str) -> list[dict[str, str]]:
    texts = catalog()
    if slot == "interp_appointment":
        return [{"title": texts.text(f"interp.appointment.{a}.button", lang), "payload": a} for a in APPOINTMENTS]
    if slot in ("interp_date", "interp_alt_date"):
        days = [{"title": format_date(d, "EEE d MMM", locale=lang), "payload": d.isoformat()}
                for d in next_weekdays(today())]
        if slot == "interp_alt_date":
            days.append({"title": texts.text("interp.no_alternative.button", lang), "payload": NO_ALTERNATIVE})
        return days
    if slot == "interp_duration":
        return [{"title": texts.text("interp.minutes.button", lang, minutes=m), "payload": m} for m in DURATIONS]
    if slot == "interp_mode":
        return [{"title": texts.text(f"interp.mode.{m}.button", lang), "payload": m} for m in MODES]
    if slot == "interp_people":
        return [{"title": str(n), "payload": str(n)} for n in range(1, 6)]
    if slot == "interp_gender":
        return [{"title": texts.text(f"interp.gender.{g}.button", lang), "payload": g} for g in GENDERS]
    if slot in ("interp_dialect", "interp_notes"):
        return [{"title": texts.text("interp.skip.button", lang), "payload": SKIP}]
    return []


class AskInterpreterSlot(Action):
    """`action_ask_<slot>`: the question, in the person's language, with buttons."""

    slot = ""

    def name(self) -> str:
        return f"action_ask_{self.slot}"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> Events:
        lang = turn_of(tracker).language
        dispatcher.utter_message(text=catalog().text(f"interp.ask.{self.slot}", lang), buttons=buttons_for(self.slot, lang))
        return []


for _slot in SLOTS:  # one ask action per slot, registered by rasa-sdk like any other
    globals()[f"AskInterp{_slot.title().replace('_', '')}"] = type(
        f"AskInterp{_slot.title().replace('_', '')}", (AskInterpreterSlot,), {"slot": _slot})


class ValidateInterpreterForm(FormValidationAction):
    def name(self) -> str:
        return "validate_interpreter_form"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> Events:
        latest = tracker.latest_message or {}
        if (latest.get("intent") or {}).get("name") == "emergency" or latest.get("emergency_net"):
            lang = turn_of(tracker).language
            dispatcher.utter_message(text=catalog().text("emergency.numbers", lang))
            return [ActiveLoop(None), SlotSet("requested_slot", None)] + [SlotSet(s, None) for s in SLOTS]
        return await super().run(dispatcher, tracker, domain)

    def _invalid(self, dispatcher: CollectingDispatcher, tracker: Tracker, key: str, slot: str) -> dict[str, Any]:
        lang = turn_of(tracker).language
        dispatcher.utter_message(text=catalog().text(key, lang), buttons=buttons_for(slot, lang))
        return {slot: None}

    @staticmethod
    def _text(value: Any, limit: int) -> str:
        return str(value or "").strip()[:limit]

    def validate_interp_appointment(self, value: Any, dispatcher, tracker, domain) -> dict[str, Any]:  # type: ignore[no-untyped-def]
        text = self._text(value, 200)
        return {"interp_appointment": text} if text else self._invalid(dispatcher, tracker, "interp.invalid.text",
                                                                        "interp_appointment")

    def validate_interp_place(self, value: Any, dispatcher, tracker, domain) -> dict[str, Any]:  # type: ignore[no-untyped-def]
        text = self._text(value, 200)
        return {"interp_place": text} if text else self._invalid(dispatcher, tracker, "interp.invalid.text",
                                                                  "interp_place")

    def validate_interp_date(self, value: Any, dispatcher, tracker, domain) -> dict[str, Any]:  # type: ignore[no-untyped-def]
        date = parse_date(self._text(value, 40), today(), turn_of(tracker).language)
        return {"interp_date": date.isoformat()} if date else self._invalid(dispatcher, tracker,
                                                                             "interp.invalid.date", "interp_date")

    def validate_interp_alt_date(self, value: Any, dispatcher, tracker, domain) -> dict[str, Any]:  # type: ignore[no-untyped-def]
        text = self._text(value, 40)
        if text.lower() == NO_ALTERNATIVE:
            return {"interp_alt_date": NO_ALTERNATIVE}
        date = parse_date(text, today(), turn_of(tracker).language)
        return {"interp_alt_date": date.isoformat()} if date else self._invalid(dispatcher, tracker,
                                                                                 "interp.invalid.date",
                                                                                 "interp_alt_date")

    def validate_interp_duration(self, value: Any, dispatcher, tracker, domain) -> dict[str, Any]:  # type: ignore[no-untyped-def]
        digits = re.sub(r"\D", "", self._text(value, 10))
        if digits and 15 <= int(digits) <= 480:
            return {"interp_duration": str(int(digits))}
        return self._invalid(dispatcher, tracker, "interp.invalid.duration", "interp_duration")

    def validate_interp_mode(self, value: Any, dispatcher, tracker, domain) -> dict[str, Any]:  # type: ignore[no-untyped-def]
        text = self._text(value, 20)
        return {"interp_mode": text} if text in MODES else self._invalid(dispatcher, tracker, "interp.invalid.choice",
                                                                        "interp_mode")

    def validate_interp_people(self, value: Any, dispatcher, tracker, domain) -> dict[str, Any]:  # type: ignore[no-untyped-def]
        digits = re.sub(r"\D", "", self._text(value, 10))
        if digits and 1 <= int(digits) <= 20:
            return {"interp_people": str(int(digits))}
        return self._invalid(dispatcher, tracker, "interp.invalid.people", "interp_people")

    def validate_interp_gender(self, value: Any, dispatcher, tracker, domain) -> dict[str, Any]:  # type: ignore[no-untyped-def]
        text = self._text(value, 20)
        return {"interp_gender": text} if text in GENDERS else self._invalid(dispatcher, tracker,
                                                                            "interp.invalid.choice", "interp_gender")

    def validate_interp_dialect(self, value: Any, dispatcher, tracker, domain) -> dict[str, Any]:  # type: ignore[no-untyped-def]
        return {"interp_dialect": self._text(value, 100) or SKIP}

    def validate_interp_notes(self, value: Any, dispatcher, tracker, domain) -> dict[str, Any]:  # type: ignore[no-untyped-def]
        return {"interp_notes": self._text(value, 500) or SKIP}


def request_details(tracker: Tracker, lang: str) -> dict[str, str]:
    details = {slot.removeprefix("interp_"): str(tracker.get_slot(slot) or "") for slot in SLOTS}
    details["language"] = lang
    return details


def summary_nb(details: dict[str, str]) -> str:
    """The request in Norwegian for the caseworkers."""
    word = labels.interpreter  # one mapping of codes to Norwegian words, shared with the desk
    return (f"Tolkebestilling ({labels.language(details['language'])}, dialekt: {word(details['dialect'])})\n"
            f"Time: {word(details['appointment'])}, sted: {details['place']}\n"
            f"Ønsket dato: {details['date']}, alternativ: {word(details['alt_date'])}\n"
            f"Varighet: {details['duration']} min, {word(details['mode'])}, "
            f"{details['people']} personer, kjønn ønsket: {word(details['gender'])} "
            f"(ikke garantert)\nMerknad: {word(details['notes'])}")


class ActionSubmitInterpreterRequest(Action):
    def name(self) -> str:
        return "action_submit_interpreter_request"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> Events:
        """Writes the case database: on a thread, off the action server's loop (as actions.base)."""
        return await asyncio.to_thread(self.submit, dispatcher, tracker)

    def submit(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> Events:
        turn = turn_of(tracker)
        details = request_details(tracker, turn.language)
        store = case_store()
        case, _ = store.open_case(sender=tracker.sender_id, channel=case_channel(tracker.sender_id),
                                  language=turn.language, topic="interpreter", text=summary_nb(details),
                                  text_nb=summary_nb(details), facts={"topic": "interpreter", "reason": "interpreter"})
        store.add_interpreter_request(case["id"], json.dumps(details, ensure_ascii=False))
        metrics.CASES_OPENED.labels("interpreter").inc()
        dispatcher.utter_message(text=knowledge().text("interp.sent", turn.language, reference=case["reference"]))
        return [SlotSet(slot, None) for slot in SLOTS]
