"""The base every assistant action builds on.

Before an action answers, it records the person's language and checks the
NLU confidence: a typed message the model is unsure about is never answered
with a guess; the person is asked which topic they mean, and after two such
turns in a row is offered a person (see `clarify`).
"""

from __future__ import annotations

import abc
import asyncio
import logging
from dataclasses import replace
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.knowledge import catalog, knowledge
from actions.replies import clarify_topics, topic_buttons
from actions.turn import DANGER_ASKED_SLOT, LANGUAGE_SLOT, LAST_ANSWER_SLOT, MISUNDERSTOOD_SLOT, PINNED_SLOT, Turn
from core.config import settings
from ops import metrics

logger = logging.getLogger(__name__)
Events = list[dict[str, Any]]
#: The key of the marker message that tells the channels the replies' language.
REPLY_LANGUAGE_KEY = "reply_language"


class AssistantAction(Action, abc.ABC):
    """Language bookkeeping and the confidence gate around `respond`."""

    #: Whether a low-confidence message is clarified instead of answered.
    gated: bool = True

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> Events:
        """rasa-sdk awaits this on the action server's one event loop. An answer
        can translate (CTranslate2, seconds of CPU) and write the case database,
        so it is worked out on a thread: other people's turns, an emergency
        included, never wait behind it."""
        return await asyncio.to_thread(self.answer, dispatcher, tracker, domain)

    def answer(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> Events:
        """The action's replies, then one marker the channels read instead of
        guessing: the language these replies are in (decided here, once)."""
        turn = replace(Turn.read(tracker.latest_message or {}, tracker.slots, settings().default_language),
                       sender=tracker.sender_id or "")
        events = self._run(dispatcher, tracker, turn)
        language = next((e["value"] for e in reversed(events)
                         if e.get("event") == "slot" and e.get("name") == LANGUAGE_SLOT and e.get("value")),
                        turn.language)
        first_contact = tracker.get_slot(LANGUAGE_SLOT) is None  # set on every turn from the first on
        picked = any(e.get("event") == "slot" and e.get("name") == PINNED_SLOT and e.get("value") for e in events)
        changed = picked and language != tracker.get_slot(LANGUAGE_SLOT)
        if (first_contact or changed) and not turn.emergency_tier and turn.topic != "emergency":
            tell_privacy(dispatcher, language)
        dispatcher.utter_message(json_message={REPLY_LANGUAGE_KEY: language})
        return events

    def _run(self, dispatcher: CollectingDispatcher, tracker: Tracker, turn: Turn) -> Events:
        events: Events = []
        if tracker.get_slot(LANGUAGE_SLOT) != turn.language:
            events.append(SlotSet(LANGUAGE_SLOT, turn.language))
        if tracker.get_slot(DANGER_ASKED_SLOT) and not turn.from_button and turn.emergency_tier != "clear":
            from actions.emergency import answer_to_danger_question  # emergency builds on this module

            answered = answer_to_danger_question(dispatcher, turn, tracker)
            if answered is not None:  # a typed "yes"/"no" to "Is someone in danger right now?"
                return events + answered
            events.append(SlotSet(DANGER_ASKED_SLOT, None))  # a new message: the question lapses
        if self.gated and (self.unsure(turn) or turn.topic == "out_of_scope"):
            follow_up = follow_up_answer(turn, tracker.get_slot(LAST_ANSWER_SLOT))
            if follow_up:
                from actions.answers import give_answer  # answers builds on this module

                return events + give_answer(dispatcher, follow_up, turn)
        if self.gated and self.unsure(turn):
            return events + clarify(dispatcher, turn, tracker)
        return events + self.respond(dispatcher, turn, tracker)

    @staticmethod
    def unsure(turn: Turn) -> bool:
        return not turn.from_button and turn.confidence < settings().confidence_threshold

    @abc.abstractmethod
    def respond(self, dispatcher: CollectingDispatcher, turn: Turn, tracker: Tracker) -> Events:
        """Say what this action says; return the events to apply."""


def tell_privacy(dispatcher: CollectingDispatcher, language: str) -> None:
    """The privacy notice, after the answer: at every first contact whatever
    the first message is, and again in the language a person then picks.
    Not in the middle of an emergency (the next turn is a first contact still)."""
    s = settings()
    notice = catalog().text("privacy.notice", language, retention_days=s.retention_days, privacy_url=s.privacy_url)
    if all(m.get("text") != notice for m in dispatcher.messages):  # the greeting may have given it already
        dispatcher.utter_message(text=notice)


def clarify(dispatcher: CollectingDispatcher, turn: Turn, tracker: Tracker) -> Events:
    """Ask which topic the person means; the second time in a row, offer a person."""
    texts = catalog()
    count = int(tracker.get_slot(MISUNDERSTOOD_SLOT) or 0) + 1
    remember_unanswered(turn)
    metrics.FALLBACKS.labels(turn.language, "offer_person" if count >= 2 else "clarify").inc()
    if count >= 2:
        buttons = topic_buttons(texts, turn.language, ["caseworker"]) + topic_buttons(
            texts, turn.language, clarify_topics(turn.ranking)[:3]
        )
        dispatcher.utter_message(text=texts.text("clarify.offer_person", turn.language), buttons=buttons)
    else:
        buttons = topic_buttons(texts, turn.language, clarify_topics(turn.ranking))
        dispatcher.utter_message(text=texts.text("clarify.ask", turn.language), buttons=buttons)
    return [SlotSet(MISUNDERSTOOD_SLOT, float(count))]


#: A follow-up is a short message: at most this many words.
FOLLOW_UP_MAX_WORDS = 6


def follow_up_answer(turn: Turn, last_answer: str | None) -> str | None:
    """A short message the model cannot place on its own ("and for
    children?", "what does it cost?") right after an answer is read as a
    question within that answer's topic: the most likely other answer there."""
    if not last_answer or turn.from_button or not turn.question_scores:
        return None
    if len(turn.text.split()) > FOLLOW_UP_MAX_WORDS:
        return None
    topic = last_answer.split("/", 1)[0]
    known = knowledge().answers
    scores = {q: p for q, p in turn.question_scores if q.startswith(topic + "/") and q != last_answer and q in known}
    total = sum(scores.values())
    if not scores or total <= 0:
        return None
    best = max(scores, key=scores.get)
    return best if scores[best] / total >= 0.25 else None


def remember_unanswered(turn: Turn) -> None:
    try:
        from actions.handoff import record_unanswered  # handoff builds on this module

        record_unanswered(turn)
    except Exception:  # noqa: BLE001 - never let bookkeeping break a reply
        logger.exception("Could not record an unanswered message")


def understood() -> Events:
    """Events for a turn that was understood: the misunderstanding streak ends."""
    return [SlotSet(MISUNDERSTOOD_SLOT, 0.0)]
