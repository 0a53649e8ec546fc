"""Greeting, goodbye, help and messages outside what the assistant covers."""

from __future__ import annotations

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.base import AssistantAction, Events, clarify, remember_unanswered, understood
from actions.checklist import checklist_buttons, offer_button
from actions.knowledge import catalog, knowledge
from actions.replies import language_buttons, topic_buttons
from actions.turn import MISUNDERSTOOD_SLOT, PINNED_SLOT, Turn
from core.config import settings
from ops import metrics


class ActionGreet(AssistantAction):
    """First contact: welcome and the language choice; later: a short hello."""

    gated = False

    def name(self) -> str:
        return "action_greet"

    def respond(self, dispatcher: CollectingDispatcher, turn: Turn, tracker: Tracker) -> Events:
        texts = catalog()
        if turn.entity("show") == "checklist":
            dispatcher.utter_message(text=knowledge().text("checklist.intro", turn.language),
                                     buttons=checklist_buttons(texts, turn.language))
            return understood()
        if tracker.get_slot(PINNED_SLOT):
            dispatcher.utter_message(text=texts.text("greet.again", turn.language),
                                     buttons=topic_buttons(texts, turn.language))
        else:
            dispatcher.utter_message(text=texts.text("greet.welcome", turn.language),
                                     buttons=[offer_button(texts, turn.language)])
            s = settings()
            dispatcher.utter_message(text=texts.text("privacy.notice", turn.language,
                                                     retention_days=s.retention_days, privacy_url=s.privacy_url))
            dispatcher.utter_message(text=texts.text("language.choose", turn.language),
                                     buttons=language_buttons(texts))
        return understood()


class ActionGoodbye(AssistantAction):
    gated = False

    def name(self) -> str:
        return "action_goodbye"

    def respond(self, dispatcher: CollectingDispatcher, turn: Turn, tracker: Tracker) -> Events:
        dispatcher.utter_message(text=catalog().text("goodbye.bye", turn.language))
        return understood()


class ActionOutOfScope(AssistantAction):
    """Something the assistant does not cover: say so and show the topics.
    Counts towards the misunderstanding streak, so a person who keeps
    getting this is offered a person."""

    def name(self) -> str:
        return "action_out_of_scope"

    def respond(self, dispatcher: CollectingDispatcher, turn: Turn, tracker: Tracker) -> Events:
        streak = int(tracker.get_slot(MISUNDERSTOOD_SLOT) or 0)
        if streak >= 1:
            return clarify(dispatcher, turn, tracker)
        texts = catalog()
        remember_unanswered(turn)
        metrics.FALLBACKS.labels(turn.language, "out_of_scope").inc()
        dispatcher.utter_message(text=texts.text("out_of_scope.reply", turn.language),
                                 buttons=topic_buttons(texts, turn.language))
        return [SlotSet(MISUNDERSTOOD_SLOT, float(streak + 1))]
