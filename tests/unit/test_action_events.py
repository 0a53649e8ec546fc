"""The key actions on realistic tracker snapshots: the tracker JSON as Rasa
posts it to the action server (slots, the latest message with everything our
NLU pipeline emits, earlier events), read with `Tracker.from_dict` as rasa-sdk
does. Each test asserts the EXACT events the action returns and the exact
reply-language marker, so a stray, missing or reordered SlotSet fails."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import emergency as emergency_module
from actions import handoff as handoff_module
from actions.answers import ActionAnswerTopic
from actions.base import REPLY_LANGUAGE_KEY, AssistantAction
from actions.emergency import DANGER_YES, ActionEmergency
from actions.handoff import ActionRequestCaseworker, CaseHandoff
from actions.knowledge import catalog, knowledge
from actions.language import ActionChooseLanguage
from actions.office_hours import OfficeHours
from caseworkers.cases import CaseStore
from core.config import settings

# -- snapshots ----------------------------------------------------------------------------------

def parse_data(text: str, intent: str, confidence: float, lang: str | None, reliable: bool = True,
               answer: str | None = None, sure: bool = True, entities: list[dict[str, Any]] | None = None,
               emergency: dict[str, str] | None = None) -> dict[str, Any]:
    """A message as nlu.components leave it: topic classifier (intent, ranking,
    question scores, answer choice, response selector), language detector
    and the emergency safety net."""
    topic = intent.split("/", 1)[0]
    others = [n for n in ("fastlege", "housing", "nav", "caseworker", "out_of_scope") if n != topic]
    ranking = [{"name": topic, "confidence": confidence}] + [
        {"name": n, "confidence": round((1 - confidence) / len(others), 4)} for n in others]
    selector: dict[str, Any] = {}
    scores: dict[str, float] = {}
    if answer:
        prediction = {"response": {"responses": [], "confidence": 0.81, "intent_response_key": answer,
                                   "utter_action": f"utter_{answer}"},
                      "ranking": [{"intent_response_key": answer, "confidence": 0.81}]}
        selector = {"all_retrieval_intents": [topic], topic: prediction, "default": prediction}
        scores = {answer: 0.81, f"{topic}/cost": 0.07}
    return {
        "text": text,
        "intent": {"name": topic, "confidence": confidence},
        "intent_ranking": ranking,
        "entities": entities or [],
        "response_selector": selector,
        "question_scores": scores,
        "answer_choice": {"id": answer, "confidence": 0.74, "sure": sure,
                          "candidates": [answer, f"{topic}/cost"]} if answer else {},
        "language": lang,
        "language_confidence": 0.97 if reliable else 0.41,
        "language_reliable": reliable,
        "emergency_net": bool(emergency and emergency.get("source") == "pattern"),
        "emergency_probability": 0.99 if emergency else 0.002,
        "emergency": emergency,
        "metadata": {},
    }


def user(latest: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"event": "user", "timestamp": 1765100000.0, "text": latest["text"], "parse_data": latest,
             "input_channel": "rest", "message_id": "m-" + str(abs(hash(latest["text"])))},
            {"event": "user_featurization", "timestamp": 1765100000.1, "use_text_for_featurization": False}]


def action(name: str) -> dict[str, Any]:
    return {"event": "action", "timestamp": 1765100000.2, "name": name, "policy": "RulePolicy", "confidence": 1.0}


def bot(text: str) -> dict[str, Any]:
    return {"event": "bot", "timestamp": 1765100000.3, "text": text, "data": {}, "metadata": {}}


def slot(name: str, value: Any) -> dict[str, Any]:
    return {"event": "slot", "timestamp": 1765100000.4, "name": name, "value": value}


SESSION_START = [action("action_session_start"), {"event": "session_started", "timestamp": 1765099999.0},
                 action("action_listen")]
NO_SLOTS = {"language": None, "language_pinned": False, "misunderstood": None, "last_answer": None,
            "danger_asked": None, "requested_slot": None}


def snapshot(sender: str, slots: dict[str, Any], history: list[dict[str, Any]],
             latest: dict[str, Any]) -> Tracker:
    """The tracker JSON Rasa posts to /webhook, history then the latest message."""
    return Tracker.from_dict({
        "sender_id": sender, "slots": {**NO_SLOTS, **slots}, "latest_message": latest,
        "events": SESSION_START + history + user(latest), "paused": False, "followup_action": None,
        "active_loop": {}, "latest_action_name": "action_listen"})


def run(act: AssistantAction, tracker: Tracker) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict]:
    """Runs the action as rasa-sdk does; returns the events, the replies
    (text and buttons) and the reply-language marker (the last message)."""
    dispatcher = CollectingDispatcher()
    events = asyncio.run(act.run(dispatcher, tracker, {}))
    *replies, marker = dispatcher.messages
    return events, [{"text": m["text"], "buttons": m["buttons"]} for m in replies], marker["custom"]


def privacy(lang: str) -> dict[str, Any]:
    s = settings()
    return {"text": catalog().text("privacy.notice", lang, retention_days=s.retention_days,
                                   privacy_url=s.privacy_url), "buttons": []}


class FakeTranslator:
    def translate(self, text: str, source: str, target: str) -> str:
        return f"({source}) {text}"


@pytest.fixture
def cases(monkeypatch: pytest.MonkeyPatch) -> CaseStore:
    """The hand-over writes to an in-memory case store, with a fake translator."""
    store = CaseStore(None)
    s = settings()
    hand = CaseHandoff(store, OfficeHours.parse(s.office_hours, s.timezone), FakeTranslator())  # type: ignore[arg-type]
    monkeypatch.setattr(handoff_module, "handoff", lambda: hand)
    monkeypatch.setattr(emergency_module, "handoff", lambda: hand)
    monkeypatch.setattr(handoff_module, "case_store", lambda: store)
    monkeypatch.setattr(handoff_module, "translator", lambda: FakeTranslator())
    return store


# -- answering a topic --------------------------------------------------------------------------

def test_a_returning_person_gets_the_answer_and_two_slots() -> None:
    latest = parse_data("How do I change my GP?", "fastlege", 0.93, "en", answer="fastlege/change_gp")
    tracker = snapshot("tg:1001", {"language": "en", "misunderstood": 0.0},
                       user(parse_data("Hello", "greet", 0.98, "en")) + [action("action_greet"), bot("Hi!")],
                       latest)
    events, replies, marker = run(ActionAnswerTopic(), tracker)
    assert events == [SlotSet("misunderstood", 0.0), SlotSet("last_answer", "fastlege/change_gp")]
    assert replies == [{"text": knowledge().render("fastlege/change_gp", "en"), "buttons": []}]
    assert marker == {REPLY_LANGUAGE_KEY: "en"}


def test_a_first_message_in_arabic_sets_the_language_and_gets_the_privacy_notice() -> None:
    latest = parse_data("كيف أحصل على طبيب عام؟", "fastlege", 0.91, "ar", answer="fastlege/get_gp")
    events, replies, marker = run(ActionAnswerTopic(), snapshot("sms:+4790000001", {}, [], latest))
    assert events == [SlotSet("language", "ar"), SlotSet("misunderstood", 0.0),
                      SlotSet("last_answer", "fastlege/get_gp")]
    assert replies == [{"text": knowledge().render("fastlege/get_gp", "ar"), "buttons": []}, privacy("ar")]
    assert marker == {REPLY_LANGUAGE_KEY: "ar"}


def test_an_unsure_answer_is_an_honest_no_answer_that_keeps_the_last_answer() -> None:
    latest = parse_data("depositum barn?", "housing", 0.88, "nb", answer="housing/deposit", sure=False)
    tracker = snapshot("web:abcdef0123456789", {"language": "nb", "last_answer": "housing/lease"},
                       [slot("last_answer", "housing/lease")], latest)
    events, replies, marker = run(ActionAnswerTopic(), tracker)
    assert events == [SlotSet("misunderstood", 0.0)]
    assert replies[0]["text"] == catalog().text("answer.none", "nb")
    assert marker == {REPLY_LANGUAGE_KEY: "nb"}


# -- hand-over to a caseworker ------------------------------------------------------------------

def test_a_hand_over_after_an_answer_and_a_misunderstanding(cases: CaseStore) -> None:
    """Real history: an answer given, then a message not understood, then
    "I want to talk to a person" (Ukrainian, language remembered)."""
    asked = parse_data("Як змінити сімейного лікаря?", "fastlege", 0.9, "uk", answer="fastlege/change_gp")
    unclear = parse_data("а якщо він не відповідає", "out_of_scope", 0.3, "uk")
    history = (user(asked) + [action("action_answer_topic"), bot("..."), slot("language", "uk"),
                              slot("misunderstood", 0.0), slot("last_answer", "fastlege/change_gp")]
               + user(unclear) + [action("action_out_of_scope"), bot("..."), slot("misunderstood", 1.0)])
    latest = parse_data("Я хочу поговорити з людиною", "caseworker", 0.95, "uk")
    tracker = snapshot("tg:2002", {"language": "uk", "misunderstood": 1.0, "last_answer": "fastlege/change_gp"},
                       history, latest)
    events, replies, marker = run(ActionRequestCaseworker(), tracker)
    assert events == [SlotSet("misunderstood", 0.0)]
    assert marker == {REPLY_LANGUAGE_KEY: "uk"}
    case = cases.queue()[0]
    assert case["reference"] in replies[0]["text"] and len(replies) == 1
    assert case["topic"] == "fastlege" and case["language"] == "uk"
    facts = json.loads(cases.db["cases"].get(case["id"])["facts"])  # what the history told the caseworker
    assert facts == {"topic": "fastlege", "question": "fastlege/change_gp", "answers_given": ["fastlege/change_gp"],
                     "reason": "asked", "danger": None, "misunderstood": 1,
                     "municipality": knowledge().municipality.name}


def test_the_second_misunderstanding_offers_a_person(cases: CaseStore) -> None:
    latest = parse_data("ну це все складно", "out_of_scope", 0.32, "uk")
    tracker = snapshot("tg:2002", {"language": "uk", "misunderstood": 1.0}, [slot("misunderstood", 1.0)], latest)
    events, replies, marker = run(ActionRequestCaseworker(), tracker)
    assert events == [SlotSet("misunderstood", 2.0)]
    assert replies[0]["text"] == catalog().text("clarify.offer_person", "uk")
    assert replies[0]["buttons"][0]["payload"] == "/caseworker"
    assert marker == {REPLY_LANGUAGE_KEY: "uk"}


# -- the emergency action -----------------------------------------------------------------------

def test_a_clear_emergency_at_first_contact(cases: CaseStore) -> None:
    latest = parse_data("زوجي يضربني وأنا خائفة", "emergency", 1.0, "ar",
                        emergency={"tier": "clear", "kind": "violence", "source": "pattern"})
    events, replies, marker = run(ActionEmergency(), snapshot("sms:+4790000002", {}, [], latest))
    assert events == [SlotSet("language", "ar"), SlotSet("misunderstood", 0.0), SlotSet("danger_asked", None)]
    assert replies[0]["text"] == catalog().text("emergency.violence", "ar")
    assert replies[-1]["text"] == catalog().text("emergency.safe_delete", "ar")
    assert privacy("ar") not in replies  # not in the middle of an emergency
    assert marker == {REPLY_LANGUAGE_KEY: "ar"}
    assert cases.queue()[0]["danger"] == "violence"


def test_a_possible_emergency_asks_and_remembers_the_kind(cases: CaseStore) -> None:
    latest = parse_data("I don't want to live anymore maybe", "emergency", 0.7, "en",
                        emergency={"tier": "possible", "kind": "suicide", "source": "model"})
    events, replies, marker = run(ActionEmergency(), snapshot("tg:3003", {"language": "en"}, [], latest))
    assert events == [SlotSet("danger_asked", "suicide")]
    assert [r["text"] for r in replies] == [catalog().text("emergency.possible", "en"),
                                            catalog().text("emergency.ask", "en")]
    assert marker == {REPLY_LANGUAGE_KEY: "en"}
    assert cases.queue() == []


def test_yes_to_the_danger_question_gives_the_help_and_clears_the_question(cases: CaseStore) -> None:
    asked = parse_data("I don't want to live anymore maybe", "emergency", 0.7, "en",
                       emergency={"tier": "possible", "kind": "suicide", "source": "model"})
    latest = parse_data(DANGER_YES, "emergency", 1.0, None, reliable=False,
                        entities=[{"entity": "danger", "value": "yes", "start": 10, "end": 25,
                                   "extractor": "RegexEntityExtractor"}],
                        emergency={"tier": "clear", "kind": "general", "source": "button"})
    tracker = snapshot("tg:3003", {"language": "en", "danger_asked": "suicide"},
                       user(asked) + [action("action_emergency"), bot("..."), slot("danger_asked", "suicide")],
                       latest)
    events, replies, marker = run(ActionEmergency(), tracker)
    assert events == [SlotSet("misunderstood", 0.0), SlotSet("danger_asked", None)]
    assert replies[0]["text"] == catalog().text("emergency.suicide", "en")
    assert marker == {REPLY_LANGUAGE_KEY: "en"}
    assert cases.queue()[0]["danger"] == "suicide"


# -- changing the language ----------------------------------------------------------------------

def test_picking_a_language_pins_it_and_repeats_the_privacy_notice_in_it() -> None:
    latest = parse_data('/language{"lang":"uk"}', "language", 1.0, None, reliable=False,
                        entities=[{"entity": "lang", "value": "uk", "start": 9, "end": 22,
                                   "extractor": "RegexEntityExtractor"}])
    tracker = snapshot("tg:4004", {"language": "en"},
                       user(parse_data("Hello", "greet", 0.98, "en")) + [action("action_greet"), bot("Hi!"),
                                                                         slot("language", "en")], latest)
    events, replies, marker = run(ActionChooseLanguage(), tracker)
    assert events == [SlotSet("misunderstood", 0.0), SlotSet("language", "uk"), SlotSet("language_pinned", True)]
    assert replies[0]["text"] == catalog().text("language.changed", "uk")
    assert replies[-1] == privacy("uk")
    assert marker == {REPLY_LANGUAGE_KEY: "uk"}


def test_asking_for_the_language_list_changes_nothing() -> None:
    latest = parse_data("/language", "language", 1.0, None, reliable=False)
    events, replies, marker = run(ActionChooseLanguage(), snapshot("tg:4004", {"language": "so"}, [], latest))
    assert events == [SlotSet("misunderstood", 0.0)]
    assert replies[0]["text"] == catalog().text("language.choose", "so")
    assert marker == {REPLY_LANGUAGE_KEY: "so"}


# -- the interpreter form -----------------------------------------------------------------------

def test_submitting_the_interpreter_form_opens_one_request_and_clears_exactly_its_slots(
        cases: CaseStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """Real history: the form asked its questions over several turns (Somali),
    each answer set its slot; the submission empties exactly those slots."""
    from actions import interpreter as interpreter_module
    from actions.interpreter import SLOTS, ActionSubmitInterpreterRequest

    monkeypatch.setattr(interpreter_module, "case_store", lambda: cases)
    answers = {"interp_appointment": "fastlege", "interp_place": "Sandvika helsehus", "interp_date": "2026-12-14",
               "interp_alt_date": "none", "interp_duration": "60", "interp_mode": "in_person",
               "interp_people": "2", "interp_gender": "woman", "interp_dialect": "skip", "interp_notes": "none"}
    history: list[dict[str, Any]] = []
    for name, value in answers.items():
        said = parse_data(value, "interpreter", 0.9, "so")
        history += user(said) + [action("interpreter_form"), slot(name, value), slot("requested_slot", name)]
    latest = parse_data("none", "interpreter", 0.9, "so")
    tracker = snapshot("sms:+4790000077", {"language": "so", **answers}, history, latest)
    dispatcher = CollectingDispatcher()
    events = asyncio.run(ActionSubmitInterpreterRequest().run(dispatcher, tracker, {}))
    assert events == [SlotSet(name, None) for name in SLOTS]
    case = cases.queue()[0]
    assert [m["text"] for m in dispatcher.messages] == [
        knowledge().text("interp.sent", "so", reference=case["reference"])]
    request = cases.interpreter_requests()[0]
    assert request["case_id"] == case["id"] and request["details"] == {
        **{k.removeprefix("interp_"): v for k, v in answers.items()}, "language": "so"}
