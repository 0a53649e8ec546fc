"""The base every assistant action builds on.

Before an action answers, it records the person's language and checks the
NLU confidence: a typed message the model is unsure about is never answered
with a guess; the person is asked which topic they mean, and after two such
turns in a row is offered a person (see `clarify`).
"""

from __future__ import annotations

import abc
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.knowledge import catalog
from actions.replies import clarify_topics, topic_buttons
from actions.settings import settings
from actions.turn import LANGUAGE_SLOT, MISUNDERSTOOD_SLOT, Turn

Events = list[dict[str, Any]]


class AssistantAction(Action, abc.ABC):
    """Language bookkeeping and the confidence gate around `respond`."""

    #: Whether a low-confidence message is clarified instead of answered.
    gated: bool = True

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> Events:
        turn = Turn.read(tracker.latest_message or {}, tracker.slots, settings().default_language)
        events: Events = []
        if tracker.get_slot(LANGUAGE_SLOT) != turn.language:
            events.append(SlotSet(LANGUAGE_SLOT, turn.language))
        if self.gated and self.unsure(turn):
            return events + clarify(dispatcher, turn, tracker)
        return events + self.respond(dispatcher, turn, tracker)

    @staticmethod
    def unsure(turn: Turn) -> bool:
        return not turn.from_button and turn.confidence < settings().confidence_threshold

    @abc.abstractmethod
    def respond(self, dispatcher: CollectingDispatcher, turn: Turn, tracker: Tracker) -> Events:
        """Say what this action says; return the events to apply."""


def clarify(dispatcher: CollectingDispatcher, turn: Turn, tracker: Tracker) -> Events:
    """Ask which topic the person means; the second time in a row, offer a person."""
    texts = catalog()
    count = int(tracker.get_slot(MISUNDERSTOOD_SLOT) or 0) + 1
    if count >= 2:
        buttons = topic_buttons(texts, turn.language, ["caseworker"]) + topic_buttons(
            texts, turn.language, clarify_topics(turn.ranking)[:3]
        )
        dispatcher.utter_message(text=texts.text("clarify.offer_person", turn.language), buttons=buttons)
    else:
        buttons = topic_buttons(texts, turn.language, clarify_topics(turn.ranking))
        dispatcher.utter_message(text=texts.text("clarify.ask", turn.language), buttons=buttons)
    return [SlotSet(MISUNDERSTOOD_SLOT, float(count))]


def understood() -> Events:
    """Events for a turn that was understood: the misunderstanding streak ends."""
    return [SlotSet(MISUNDERSTOOD_SLOT, 0.0)]
