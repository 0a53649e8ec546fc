"""Actions on tracker snapshots: assert the events and which locale text was
sent (by key and language), so the tests hold in every language."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.answers import ActionAnswerTopic
from actions.base import REPLY_LANGUAGE_KEY
from actions.conversation import ActionGoodbye, ActionGreet, ActionOutOfScope
from actions.emergency import ActionEmergency
from actions.handoff import ActionRequestCaseworker
from actions.knowledge import catalog, knowledge
from actions.language import ActionChooseLanguage, named_language
from actions.turn import Turn


def tracker(text: str = "x", intent: str = "fastlege", confidence: float = 0.9, lang: str | None = "en",
            reliable: bool = True, slots: dict[str, Any] | None = None, question: str | None = None,
            entities: list[dict] | None = None, ranking: list[tuple[str, float]] | None = None) -> Tracker:
    latest: dict[str, Any] = {
        "text": text,
        "intent": {"name": intent, "confidence": confidence},
        "intent_ranking": [{"name": n, "confidence": c} for n, c in (ranking or [(intent, confidence)])],
        "entities": entities or [],
        "language": lang,
        "language_reliable": reliable,
    }
    if question:
        latest["response_selector"] = {intent: {"response": {"intent_response_key": question, "confidence": 0.8}}}
    return Tracker("test-sender", slots or {}, latest, [], False, None, None, "action_listen")


def run(action, t: Tracker) -> tuple[list[dict], list[dict]]:
    """What the person is sent, and the events; the reply-language marker is checked on its own."""
    dispatcher = CollectingDispatcher()
    events = asyncio.run(action.run(dispatcher, t, {}))
    assert dispatcher.messages[-1]["custom"][REPLY_LANGUAGE_KEY]  # every action says its replies' language
    return dispatcher.messages[:-1], events


def sent(messages: list[dict], key: str, lang: str, **values: object) -> bool:
    return any(m.get("text") == catalog().text(key, lang, **values) for m in messages)


def test_answers_in_the_detected_language_with_source() -> None:
    messages, events = run(ActionAnswerTopic(), tracker("بدي fastlege", lang="ar"))
    assert messages[0]["text"] == knowledge().render("fastlege/get_gp", "ar")
    assert SlotSet("language", "ar") in events
    assert SlotSet("misunderstood", 0.0) in events
    assert "https://" in messages[0]["text"]


def test_uses_the_selected_question_when_it_has_an_answer() -> None:
    messages, _ = run(ActionAnswerTopic(), tracker(intent="housing", question="housing/deposit"))
    assert messages[0]["text"] == knowledge().render("housing/deposit", "en")


def test_unknown_question_gets_the_topic_default() -> None:
    kb = knowledge()
    missing = next(q for q in ("housing/waste", "housing/zzz") if q not in kb.answers)
    messages, _ = run(ActionAnswerTopic(), tracker(intent="housing", question=missing))
    assert messages[0]["text"] == kb.render(kb.topic_default("housing"), "en")


def test_low_confidence_asks_which_topic_with_buttons() -> None:
    t = tracker("hmm", intent="nav", confidence=0.2, lang="nb", ranking=[("nav", 0.2), ("housing", 0.18)])
    messages, events = run(ActionAnswerTopic(), t)
    assert sent(messages, "clarify.ask", "nb")
    payloads = [b["payload"] for b in messages[0]["buttons"]]
    assert payloads[:2] == ["/nav", "/housing"]
    assert SlotSet("misunderstood", 1.0) in events


def test_what_could_not_be_answered_is_recorded_for_the_desk() -> None:
    from caseworkers.cases import CaseStore
    from core.config import settings

    # counted in the table: the desk's list stops at 200, and a whole test run leaves more than that
    before = CaseStore(settings().cases_db).db["unanswered"].count
    run(ActionAnswerTopic(), tracker("kan jeg fiske i elva", intent="nav", confidence=0.2, lang="nb",
                                     ranking=[("nav", 0.2), ("housing", 0.1)]))
    store = CaseStore(settings().cases_db)
    rows = store.unanswered()
    assert store.db["unanswered"].count == before + 1
    assert rows[0]["text"] == "kan jeg fiske i elva" and rows[0]["text_nb"] == rows[0]["text"]
    assert rows[0]["topic"] == "nav"


def test_second_misunderstanding_offers_a_person() -> None:
    t = tracker("hmm", intent="nav", confidence=0.2, lang="so", slots={"misunderstood": 1.0})
    messages, events = run(ActionAnswerTopic(), t)
    assert sent(messages, "clarify.offer_person", "so")
    assert messages[0]["buttons"][0]["payload"] == "/caseworker"
    assert SlotSet("misunderstood", 2.0) in events


def test_a_button_press_is_never_gated() -> None:
    messages, _ = run(ActionAnswerTopic(), tracker("/school", intent="school", confidence=1.0, lang=None))
    assert messages[0]["text"].startswith(catalog().text(knowledge().topic_default("school"), "nb")[:20])


@pytest.mark.parametrize("confidence", [0.05, 0.99])
def test_emergency_numbers_whatever_the_confidence(confidence: float) -> None:
    messages, _ = run(ActionEmergency(), tracker("help", intent="emergency", confidence=confidence, lang="ti"))
    assert sent(messages, "emergency.numbers", "ti")
    assert all(n in messages[0]["text"] for n in ("113", "112", "110", "116 117"))


def test_one_word_message_keeps_the_persons_language() -> None:
    t = tracker("NAV", intent="nav", lang="nb", reliable=False, slots={"language": "uk"})
    messages, events = run(ActionAnswerTopic(), t)
    assert messages[0]["text"] == knowledge().render(knowledge().topic_default("nav"), "uk")
    assert not any(e.get("name") == "language" for e in events)


def test_a_reliable_sentence_in_another_language_switches() -> None:
    t = tracker("i need a doctor for my son", lang="en", reliable=True, slots={"language": "uk"})
    _, events = run(ActionAnswerTopic(), t)
    assert SlotSet("language", "en") in events


def test_a_pinned_choice_wins_over_detection() -> None:
    t = tracker("i need a doctor for my son", lang="en", slots={"language": "ti", "language_pinned": True})
    messages, events = run(ActionAnswerTopic(), t)
    assert messages[0]["text"] == knowledge().render("fastlege/get_gp", "ti")
    assert not any(e.get("name") == "language" for e in events)


def test_language_button_sets_and_pins() -> None:
    t = tracker('/language{"lang":"fa"}', intent="language", confidence=1.0, lang=None,
                entities=[{"entity": "lang", "value": "fa"}])
    messages, events = run(ActionChooseLanguage(), t)
    assert sent(messages, "language.changed", "fa")
    assert SlotSet("language", "fa") in events and SlotSet("language_pinned", True) in events


def test_language_named_in_text() -> None:
    messages, events = run(ActionChooseLanguage(), tracker("can you write in arabic", intent="language"))
    assert sent(messages, "language.changed", "ar")
    assert named_language("اكتب بالعربي") == "ar"
    assert named_language("говори по-русски") == "ru"
    assert named_language("english or arabic") is None


def test_language_request_without_a_name_shows_the_choice() -> None:
    messages, _ = run(ActionChooseLanguage(), tracker("change language", intent="language"))
    assert sent(messages, "language.choose", "en")
    assert len(messages[0]["buttons"]) == 8


def test_first_greeting_offers_languages_later_ones_topics() -> None:
    first, _ = run(ActionGreet(), tracker("hi", intent="greet", lang="en"))
    assert sent(first, "greet.welcome", "en") and len(first[2]["buttons"]) == 8
    assert first[1]["text"] == catalog().text("privacy.notice", "en", retention_days=180,
                                              privacy_url="http://127.0.0.1:8080/privacy")
    later, _ = run(ActionGreet(), tracker("hi", intent="greet", lang="en",
                                          slots={"language": "en", "language_pinned": True}))
    assert sent(later, "greet.again", "en")


def test_goodbye_and_caseworker() -> None:
    messages, _ = run(ActionGoodbye(), tracker("bye", intent="goodbye", lang="ru"))
    assert sent(messages, "goodbye.bye", "ru")
    messages, _ = run(ActionRequestCaseworker(), tracker("call me", intent="caseworker", lang="fa"))
    assert "K-" in messages[0]["text"]  # a case reference (HANDOFF=cases, the default)
    from actions.handoff import ContactInfoHandoff

    contact = ContactInfoHandoff().request(tracker("call me", intent="caseworker", lang="fa"), Turn.read(
        {"language": "fa", "language_reliable": True}, {}, "nb"))
    assert knowledge().municipality.website in contact


def test_out_of_scope_twice_offers_a_person() -> None:
    messages, events = run(ActionOutOfScope(), tracker("weather", intent="out_of_scope", lang="en"))
    assert sent(messages, "out_of_scope.reply", "en") and SlotSet("misunderstood", 1.0) in events
    messages, _ = run(ActionOutOfScope(), tracker("football", intent="out_of_scope", lang="en",
                                                  slots={"misunderstood": 1.0}))
    assert sent(messages, "clarify.offer_person", "en")


def test_a_short_follow_up_is_answered_within_the_previous_topic() -> None:
    scores = {"fastlege/helsestasjon": 0.30, "fastlege/get_gp": 0.05, "school/enroll": 0.40, "barnehage/apply": 0.25}
    t = tracker("and for children?", intent="school", confidence=0.3, lang="en",
                slots={"last_answer": "fastlege/get_gp"})
    t.latest_message["question_scores"] = scores
    messages, events = run(ActionAnswerTopic(), t)
    assert messages[0]["text"] == knowledge().render("fastlege/helsestasjon", "en")
    assert SlotSet("last_answer", "fastlege/helsestasjon") in events


def test_a_long_unclear_message_is_not_taken_as_a_follow_up() -> None:
    t = tracker("this is a long message that the model does not understand at all", intent="school",
                confidence=0.3, slots={"last_answer": "fastlege/get_gp"})
    t.latest_message["question_scores"] = {"fastlege/helsestasjon": 0.9}
    messages, _ = run(ActionAnswerTopic(), t)
    assert sent(messages, "clarify.ask", "en")


def test_checklist_is_offered_walked_and_finished() -> None:
    from actions.checklist import steps

    first, _ = run(ActionGreet(), tracker("hi", intent="greet"))
    assert first[0]["buttons"][0]["payload"] == '/greet{"show":"checklist"}'
    shown, _ = run(ActionGreet(), tracker('/greet{"show":"checklist"}', intent="greet", confidence=1.0,
                                          entities=[{"entity": "show", "value": "checklist"}]))
    assert len(shown[0]["buttons"]) == len(steps())
    step0 = steps()[0]
    messages, _ = run(ActionAnswerTopic(), tracker("/x", intent=step0.answer.split("/")[0], confidence=1.0,
                                                   entities=[{"entity": "answer", "value": step0.answer},
                                                             {"entity": "step", "value": "0"}]))
    assert messages[0]["text"] == knowledge().render(step0.answer, "en")
    assert '"step":"1"' in messages[0]["buttons"][0]["payload"]
    last = len(steps()) - 1
    messages, _ = run(ActionAnswerTopic(), tracker("/x", intent=steps()[last].answer.split("/")[0], confidence=1.0,
                                                   entities=[{"entity": "answer", "value": steps()[last].answer},
                                                             {"entity": "step", "value": str(last)}]))
    assert sent(messages, "checklist.done", "en")


def answer_tracker(answer: str, sure: bool, candidates: list[str], intent: str = "housing") -> Tracker:
    t = tracker("can I keep a cat in my flat?", intent=intent)
    t.latest_message["answer_choice"] = {"id": answer, "confidence": 0.9 if sure else 0.1, "sure": sure,
                                         "candidates": candidates}
    t.latest_message["question_scores"] = {"housing/lease": 0.1, "fastlege/get_gp": 0.1, answer: 0.8}
    return t


def test_a_sure_answer_is_given() -> None:
    messages, _ = run(ActionAnswerTopic(), answer_tracker("housing/house_rules", True, ["housing/house_rules"]))
    assert messages[0]["text"] == knowledge().render("housing/house_rules", "en")


def test_no_sure_answer_is_said_honestly_with_the_closest_answers_and_a_person() -> None:
    candidates = ["housing/house_rules", "housing/lease", "housing/landlord_problems"]
    messages, _ = run(ActionAnswerTopic(), answer_tracker("housing/house_rules", False, candidates))
    assert sent(messages, "answer.none", "en")
    payloads = [b["payload"] for b in messages[0]["buttons"]]
    assert payloads == ['/housing{"answer":"housing/house_rules"}', '/housing{"answer":"housing/lease"}',
                        '/housing{"answer":"housing/landlord_problems"}', "/caseworker"]
    titles = [b["title"] for b in messages[0]["buttons"]]
    assert titles[0] == catalog().text("title.housing.house_rules", "en")
    assert not any(m["text"] == knowledge().render("housing/house_rules", "en") for m in messages)


def test_an_answer_from_another_topic_is_not_given_as_this_topics_answer() -> None:
    messages, _ = run(ActionAnswerTopic(), answer_tracker("nav/contact", True, ["nav/contact"], intent="housing"))
    assert sent(messages, "answer.none", "en")


def test_an_answer_button_is_answered_and_passes_the_payload_check() -> None:
    from core.payloads import sanitize

    payload = '/housing{"answer":"housing/lease"}'
    assert sanitize(payload) == payload
    assert sanitize('/housing{"answer":"nav/contact"}') != '/housing{"answer":"nav/contact"}'
    t = tracker(payload, intent="housing", entities=[{"entity": "answer", "value": "housing/lease"}])
    messages, _ = run(ActionAnswerTopic(), t)
    assert messages[0]["text"] == knowledge().render("housing/lease", "en")


def test_a_topic_without_questions_gets_its_answer_whatever_the_answer_choice() -> None:
    """interpreter has one answer and no retrieval intents: the answer choice
    (over the other topics' questions) must not turn it into "no answer"."""
    t = answer_tracker("fastlege/get_gp", True, ["fastlege/get_gp"], intent="interpreter")
    messages, _ = run(ActionAnswerTopic(), t)
    assert messages[0]["text"] == knowledge().render("interpreter/rights", "en")


def privacy_notice(lang: str) -> str:
    from core.config import settings

    s = settings()
    return catalog().text("privacy.notice", lang, retention_days=s.retention_days, privacy_url=s.privacy_url)


def test_the_privacy_notice_reaches_a_first_contact_whose_first_message_is_a_question() -> None:
    messages, _ = run(ActionAnswerTopic(), tracker("how do I get a GP", lang="so", question="fastlege/get_gp"))
    assert messages[-1]["text"] == privacy_notice("so")  # after the answer
    assert sum(m.get("text") == privacy_notice("so") for m in messages) == 1
    later, _ = run(ActionAnswerTopic(), tracker("how do I get a GP", lang="so", question="fastlege/get_gp",
                                                slots={"language": "so"}))
    assert privacy_notice("so") not in [m.get("text") for m in later]  # once


def test_the_privacy_notice_is_repeated_in_the_language_a_person_picks() -> None:
    t = tracker("/language", intent="language", lang=None, slots={"language": "nb"},
                entities=[{"entity": "lang", "value": "ti"}])
    t.latest_message["text"] = '/language{"lang":"ti"}'
    messages, _ = run(ActionChooseLanguage(), t)
    assert messages[-1]["text"] == privacy_notice("ti")


def test_no_privacy_notice_in_the_middle_of_an_emergency() -> None:
    messages, _ = run(ActionEmergency(), tracker("he has a knife", intent="emergency", lang="en"))
    assert privacy_notice("en") not in [m.get("text") for m in messages]
