"""The interpreter request form: date parsing, re-asking invalid answers,
an emergency in the middle, and the request the caseworkers receive."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import ActiveLoop, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.interpreter import (
    SLOTS,
    ActionSubmitInterpreterRequest,
    ValidateInterpreterForm,
    next_weekdays,
    parse_date,
    summary_nb,
)
from actions.knowledge import catalog
from caseworkers.cases import CaseStore
from core.config import settings

DOMAIN = {"forms": {"interpreter_form": {"required_slots": list(SLOTS)}}, "slots": {s: {} for s in SLOTS}}


def form_tracker(slot: str, text: str, lang: str = "ar", intent: str = "interpreter", **latest: Any) -> Tracker:
    message = {"text": text, "intent": {"name": intent, "confidence": 0.9}, "language": lang,
               "language_reliable": True, "entities": [], **latest}
    slots = {s: None for s in SLOTS} | {"requested_slot": slot, slot: text, "language": lang}
    events = [{"event": "user", "text": text, "parse_data": message},
              {"event": "slot", "name": slot, "value": text}]  # what Rasa extracted this turn
    return Tracker("tg:77", slots, message, events, False, None, {"name": "interpreter_form"}, "action_listen")


def validate(slot: str, text: str, **kw: Any) -> tuple[list[dict], list[dict]]:
    dispatcher = CollectingDispatcher()
    events = asyncio.run(ValidateInterpreterForm().run(dispatcher, form_tracker(slot, text, **kw), DOMAIN))
    return dispatcher.messages, events


def test_dates_typed_or_pressed() -> None:
    start = dt.date(2026, 11, 22)
    assert parse_date("2026-11-24", start) == dt.date(2026, 11, 24)
    assert parse_date("24.11", start) == dt.date(2026, 11, 24)
    assert parse_date("٢٤/١١", start) == dt.date(2026, 11, 24)  # Arabic-Indic digits
    assert parse_date("3.1", start) == dt.date(2027, 1, 3)  # next year when the day has passed
    assert parse_date("1.1.2026", start) is None  # in the past
    assert parse_date("30.2", start) is None and parse_date("tomorrow", start) is None
    assert all(d.weekday() < 5 for d in next_weekdays(dt.date(2026, 11, 20)))
    # a weekday named in the person's language: the next one (22.11.2026 is a Sunday)
    assert parse_date("الثلاثاء", start, "ar") == dt.date(2026, 11, 24)
    assert parse_date("på onsdag", start, "nb") == dt.date(2026, 11, 25)
    assert parse_date("понеділок", start, "uk") == dt.date(2026, 11, 23)
    assert parse_date("ሰኑይ", start, "ti") == dt.date(2026, 11, 23)
    assert parse_date("Isniin", start, "so") == dt.date(2026, 11, 23)
    assert parse_date("یکشنبه", start, "fa") == dt.date(2026, 11, 29)


def test_valid_answers_are_kept() -> None:
    _, events = validate("interp_duration", "60")
    assert SlotSet("interp_duration", "60") in events
    _, events = validate("interp_people", "٣")
    assert SlotSet("interp_people", "3") in events


def test_invalid_answers_are_asked_again_with_an_explanation() -> None:
    messages, events = validate("interp_date", "next year sometime")
    assert SlotSet("interp_date", None) in events
    assert messages[0]["text"] == catalog().text("interp.invalid.date", "ar") and len(messages[0]["buttons"]) == 5
    messages, events = validate("interp_mode", "maybe", lang="so")
    assert SlotSet("interp_mode", None) in events and messages[0]["text"] == catalog().text("interp.invalid.choice", "so")


def test_an_emergency_stops_the_form_and_gets_the_numbers() -> None:
    messages, events = validate("interp_place", "زوجي يضربني الآن", intent="emergency")
    assert messages[0]["text"] == catalog().text("emergency.numbers", "ar")
    assert ActiveLoop(None) in events


def test_the_request_reaches_the_caseworkers() -> None:
    values = {"interp_appointment": "fastlege", "interp_place": "Sandvika legesenter", "interp_date": "2026-11-24",
              "interp_alt_date": "none", "interp_duration": "30", "interp_mode": "in_person", "interp_people": "2",
              "interp_gender": "woman", "interp_dialect": "skip", "interp_notes": "skip"}
    tracker = Tracker("tg:88", {**values, "language": "ti"}, {"text": "skip", "language": "ti",
                                                             "language_reliable": True}, [], False, None, None,
                      "interpreter_form")
    dispatcher = CollectingDispatcher()
    events = asyncio.run(ActionSubmitInterpreterRequest().run(dispatcher, tracker, DOMAIN))
    store = CaseStore(settings().cases_db)
    request = next(r for r in store.interpreter_requests() if r["sender"] == "tg:88")
    assert request["details"]["place"] == "Sandvika legesenter" and request["details"]["language"] == "ti"
    assert request["status"] == "requested"
    assert request["reference"] in dispatcher.messages[0]["text"]
    assert all(SlotSet(s, None) in events for s in SLOTS)
    assert "ikke garantert" in summary_nb({**{k.removeprefix("interp_"): v for k, v in values.items()},
                                            "language": "ti"})
    json.dumps(request["details"])  # plain data
