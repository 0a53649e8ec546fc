"""The emergency path: each kind of danger gets its own help, numbers first,
in every language, short enough for SMS; a possible danger is asked about and
only "yes" (button or typed, in eight languages) opens the urgent case; out
of office hours the person is told the office is closed; violence cases say
how to erase the chat and are marked so nobody contacts the person unasked."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.emergency import ActionEmergency, give_help, help_key, typed_answer
from actions.knowledge import catalog
from actions.turn import Turn
from channels.sms.text import encoding_of
from nlu.langid import LANGUAGES
from nlu.safety import KINDS

#: What each kind of danger must name (facts.md section 7), first number first.
NUMBERS = {
    "suicide": ["113", "116 123", "22 40 00 40"],
    "violence": ["112", "116 006"],
    "poisoning": ["113", "22 59 13 00"],
    "medical": ["113"],
    "missing": ["112"],
    "fire": ["110"],
    "child": ["112", "116 111"],
    "general": ["113", "112", "110"],
}


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_names_its_numbers_first_and_fits_an_sms(kind: str, lang: str) -> None:
    text = catalog().text(help_key(kind), lang)
    positions = [text.find(n) for n in NUMBERS[kind]]
    assert all(p >= 0 for p in positions), f"{kind}/{lang}: {text}"
    assert positions == sorted(positions), f"{kind}/{lang}: numbers out of order"
    first_digit = re.search(r"\d", text)
    assert first_digit and first_digit.start() < 140, "the first number comes early"
    if kind == "general":  # the full list: its three numbers at least arrive in the first SMS segment
        unit = 67 if encoding_of(text).name == "UCS-2" else 153
        assert max(text.find(n) for n in NUMBERS[kind]) < unit * 2, f"{kind}/{lang}: numbers too late"
    else:
        assert encoding_of(text).segments <= 3, f"{kind}/{lang} does not arrive whole over SMS"


def tracker(text: str, lang: str = "en", tier: str | None = "clear", kind: str = "general",
            slots: dict[str, Any] | None = None, entities: list[dict] | None = None,
            intent: str = "emergency") -> Tracker:
    latest: dict[str, Any] = {"text": text, "intent": {"name": intent, "confidence": 0.9},
                              "intent_ranking": [{"name": intent, "confidence": 0.9}], "entities": entities or [],
                              "language": lang, "language_reliable": True,
                              "emergency": {"tier": tier, "kind": kind} if tier else None}
    events = [{"event": "user", "text": text}]
    return Tracker("sms:+4790000001", slots or {}, latest, events, False, None, None, "action_listen")


def run(action: Any, t: Tracker) -> tuple[list[dict], list[dict]]:
    """What the person is sent (without the reply-language marker), and the events."""
    dispatcher = CollectingDispatcher()
    events = asyncio.run(action.run(dispatcher, t, {}))
    return [m for m in dispatcher.messages if not m.get("custom")], events


def texts_of(messages: list[dict]) -> list[str]:
    return [m.get("text") or "" for m in messages]


@pytest.fixture(autouse=True)
def case_store(tmp_path, monkeypatch):
    """A throw-away case store for the urgent cases these tests open."""
    from actions import handoff as handoff_module
    from core.config import settings

    monkeypatch.setenv("CASES_DB", str(tmp_path / "cases.db"))
    for cached in (settings, handoff_module.handoff, handoff_module.case_store):
        cached.cache_clear()
    yield tmp_path / "cases.db"
    for cached in (settings, handoff_module.handoff, handoff_module.case_store):
        cached.cache_clear()


@pytest.mark.parametrize("kind", ["suicide", "violence", "poisoning", "missing", "fire", "child", "medical"])
def test_a_clear_danger_gets_its_help_then_an_urgent_case(kind: str, case_store) -> None:
    from caseworkers.cases import CaseStore

    messages, _ = run(ActionEmergency(), tracker("...", lang="ar", kind=kind))
    assert texts_of(messages)[0] == catalog().text(f"emergency.{kind}", "ar")
    case = CaseStore(case_store).queue()[0]
    assert case["urgency"] == "urgent" and case["danger"] == kind
    assert case["contact_caution"] == (1 if kind in ("violence", "child") else 0)


def test_violence_says_how_to_erase_the_chat() -> None:
    messages, _ = run(ActionEmergency(), tracker("...", lang="so", kind="violence"))
    assert catalog().text("emergency.safe_delete", "so") in texts_of(messages)
    messages, _ = run(ActionEmergency(), tracker("...", lang="so", kind="fire"))
    assert catalog().text("emergency.safe_delete", "so") not in texts_of(messages)


def test_out_of_office_hours_the_person_is_told_the_office_is_closed() -> None:
    sunday_night = dt.datetime(2026, 12, 6, 23, 0, tzinfo=dt.timezone.utc)
    tuesday_noon = dt.datetime(2026, 12, 8, 11, 0, tzinfo=dt.timezone.utc)
    for at, closed in ((sunday_night, True), (tuesday_noon, False)):
        dispatcher = CollectingDispatcher()
        turn = Turn.read(tracker("x").latest_message, {}, "nb")
        give_help(dispatcher, turn, tracker("x"), "medical", at=at)
        said = " ".join(texts_of(dispatcher.messages))
        assert texts_of(dispatcher.messages)[0] == catalog().text("emergency.medical", "en")
        assert (catalog().text("emergency.office_closed", "en", opens="X").split("X")[0] in said) == closed


def test_a_possible_danger_is_asked_about_and_opens_no_case(case_store) -> None:
    from caseworkers.cases import CaseStore

    messages, events = run(ActionEmergency(), tracker("...", lang="uk", tier="possible", kind="suicide"))
    assert texts_of(messages) == [catalog().text("emergency.possible", "uk"), catalog().text("emergency.ask", "uk")]
    assert [b["payload"] for b in messages[1]["buttons"]] == ['/emergency{"danger":"yes"}', '/emergency{"danger":"no"}']
    assert {"event": "slot", "timestamp": None, "name": "danger_asked", "value": "suicide"} in events
    assert CaseStore(case_store).queue() == []


@pytest.mark.parametrize("reply,lang", [("yes", "en"), ("Ja!", "nb"), ("نعم", "ar"), ("так", "uk"), ("да", "ru"),
                                         ("እወ", "ti"), ("haa", "so"), ("بله", "fa"), ("aywa", "ar")])
def test_a_typed_yes_in_any_language_gives_the_help(reply: str, lang: str, case_store) -> None:
    from actions.conversation import ActionOutOfScope
    from caseworkers.cases import CaseStore

    t = tracker(reply, lang=lang, tier=None, intent="out_of_scope", slots={"danger_asked": "suicide"})
    messages, _ = run(ActionOutOfScope(), t)
    assert texts_of(messages)[0] == catalog().text("emergency.suicide", lang)
    assert CaseStore(case_store).queue()[0]["danger"] == "suicide"


def test_no_by_button_ends_the_question_without_a_case(case_store) -> None:
    from caseworkers.cases import CaseStore

    t = tracker('/emergency{"danger":"no"}', tier="clear", slots={"danger_asked": "violence"},
                entities=[{"entity": "danger", "value": "no"}])
    messages, events = run(ActionEmergency(), t)
    assert texts_of(messages) == [catalog().text("emergency.no_danger", "en")]
    assert CaseStore(case_store).queue() == []


def test_typed_answers_are_read_in_every_language() -> None:
    assert typed_answer("YES!") == "yes" and typed_answer("nei.") == "no" and typed_answer("لا") == "no"
    assert typed_answer("ኣይፋል") == "no" and typed_answer("maya") == "no" and typed_answer("نه") == "no"
    assert typed_answer("yes my husband hit me") is None and typed_answer("") is None
