"""Hand-over to a person: the `caseworker` topic, the offer after two
misunderstandings, and (flagged urgent) an emergency.

`CaseHandoff` (HANDOFF=cases, the default) opens a case in the caseworkers'
case store (caseworkers.cases), or adds to the person's open case, and tells the
person the case reference and when to expect an answer (office hours).
`ContactInfoHandoff` (HANDOFF=contact) only tells the person whom to
contact, for a deployment where no caseworker reads the desk: a case nobody
reads would be a broken promise.
"""

from __future__ import annotations

import datetime as dt
import functools
import threading
from collections.abc import Callable
from functools import lru_cache
from typing import Protocol, TypeVar

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.base import AssistantAction, Events, understood
from actions.knowledge import knowledge
from actions.office_hours import OfficeHours
from actions.turn import LAST_ANSWER_SLOT, MISUNDERSTOOD_SLOT, Turn
from caseworkers.cases import CaseStore
from caseworkers.translate import Translator
from core.config import settings
from core.senders import case_channel
from ops import metrics

EXCERPT_MESSAGES = 5


class Handoff(Protocol):
    def request(self, tracker: Tracker, turn: Turn, urgent: bool = False, danger: str | None = None) -> str:
        """Hand the conversation to a person; return what to tell the person.
        `danger`: the kind of an emergency (nlu.safety.KINDS)."""


def person_words(tracker: Tracker) -> list[str]:
    """What the person typed (not button payloads), oldest first."""
    return [str(e.get("text")) for e in tracker.events
            if e.get("event") == "user" and e.get("text") and not str(e.get("text")).startswith("/")]


def answers_given(tracker: Tracker) -> list[str]:
    """The knowledge-base answers already given in the conversation, oldest first."""
    given = [str(e.get("value")) for e in tracker.events
             if e.get("event") == "slot" and e.get("name") == LAST_ANSWER_SLOT and e.get("value")]
    return list(dict.fromkeys(given))


def understood_question(tracker: Tracker, known: set[str] | dict) -> str | None:
    """The answer closest to what the person asked: the newest message of
    theirs for which the NLU chose, or came near, a knowledge-base answer."""
    for event in reversed(tracker.events):
        if event.get("event") != "user" or not isinstance(event.get("parse_data"), dict):
            continue
        turn = Turn.read(event["parse_data"], {}, "nb")
        named = turn.entity("answer") if turn.from_button else None
        for candidate in (named, turn.answer, turn.question, *turn.answer_candidates):
            if candidate in known:
                return candidate
    return None


def case_facts(tracker: Tracker, turn: Turn, topic: str, urgent: bool, danger: str | None) -> dict[str, object]:
    """What the assistant understood, stored with the case so that a caseworker
    reads it in Norwegian without any machine translation (caseworkers.desk)."""
    kb = knowledge()
    misunderstood = tracker.get_slot(MISUNDERSTOOD_SLOT) or 0
    given = answers_given(tracker)
    return {
        "topic": topic,
        # no message came near an answer: the last answer given is the closest the assistant got
        "question": understood_question(tracker, kb.answers) or (given[-1] if given else None),
        "answers_given": given,
        "reason": "emergency" if urgent else ("asked" if turn.topic == "caseworker" else "offered"),
        "danger": danger,
        "misunderstood": int(float(misunderstood)),
        "municipality": kb.municipality.name,
    }


class CaseHandoff:
    def __init__(self, store: CaseStore, hours: OfficeHours, translator: Translator | None = None) -> None:
        self.store, self.hours, self.translator = store, hours, translator

    def to_norwegian(self, text: str, lang: str) -> str | None:
        if lang == "nb":
            return text
        return self.translator.translate(text, lang, "nb") if self.translator else None

    def request(self, tracker: Tracker, turn: Turn, urgent: bool = False, danger: str | None = None,
                at: dt.datetime | None = None) -> str:
        words = person_words(tracker)
        text = words[-1] if words else turn.text
        sender = tracker.sender_id
        last_answer = tracker.get_slot(LAST_ANSWER_SLOT)
        topic = "emergency" if urgent else (str(last_answer).split("/")[0] if last_answer else turn.topic)
        case, new = self.store.open_case(
            sender=sender, channel=case_channel(sender), language=turn.language,
            topic=topic, text=text, urgent=urgent, text_nb=self.to_norwegian(text, turn.language),
            excerpt="\n".join(words[-EXCERPT_MESSAGES:]), danger=danger,
            facts=case_facts(tracker, turn, topic, urgent, danger),
        )
        if new:
            metrics.CASES_OPENED.labels("urgent" if urgent else "case").inc()
        kb, at = knowledge(), at or dt.datetime.now(dt.timezone.utc)
        if urgent:
            return kb.text("case.urgent", turn.language, reference=case["reference"])
        if not new:
            return kb.text("case.added", turn.language, reference=case["reference"])
        if self.hours.is_open(at):
            return kb.text("case.opened_open", turn.language, reference=case["reference"],
                           closes=self.hours.closing(turn.language))
        return kb.text("case.opened_closed", turn.language, reference=case["reference"],
                       opens=self.hours.describe_opening(at, turn.language))


class ContactInfoHandoff:
    """Tells the person how to reach the municipality and NAV themselves
    (the default until caseworkers read cases on the desk)."""

    def request(self, tracker: Tracker, turn: Turn, urgent: bool = False, danger: str | None = None) -> str:
        return knowledge().text("emergency.follow_up" if urgent else "handoff.contact", turn.language)


T = TypeVar("T")


def once(build: Callable[[], T]) -> Callable[[], T]:
    """`lru_cache(maxsize=1)` that builds only once when threads race: the
    actions answer on worker threads (actions.base), and a second case store
    would be a second connection to the case database."""
    cached = lru_cache(maxsize=1)(build)
    lock = threading.Lock()

    @functools.wraps(build)
    def get() -> T:
        with lock:
            return cached()

    get.cache_clear = cached.cache_clear  # type: ignore[attr-defined]
    return get


@once
def case_store() -> CaseStore:
    """The action server's one connection to the case database."""
    return CaseStore(settings().cases_db)


@once
def translator() -> Translator:
    return Translator(settings().translation_packages_dir)


@once
def handoff() -> Handoff:
    s = settings()
    if s.handoff == "cases":
        return CaseHandoff(case_store(), OfficeHours.parse(s.office_hours, s.timezone), translator())
    return ContactInfoHandoff()


def record_unanswered(turn: Turn) -> None:
    """What the assistant could not answer, for the desk's content page."""
    if turn.from_button or not turn.text.strip():
        return
    store = case_store()
    text_nb = turn.text if turn.language == "nb" else translator().translate(turn.text, turn.language, "nb")
    guess = next((t for t, _ in turn.ranking if t not in ("out_of_scope",)), turn.topic)
    store.record_unanswered(turn.language, guess, turn.text, text_nb, sender=turn.sender)


class ActionRequestCaseworker(AssistantAction):
    def name(self) -> str:
        return "action_request_caseworker"

    def respond(self, dispatcher: CollectingDispatcher, turn: Turn, tracker: Tracker) -> Events:
        dispatcher.utter_message(text=handoff().request(tracker, turn))
        return understood()
