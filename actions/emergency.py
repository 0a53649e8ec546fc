"""Emergencies: the numbers first, whatever the model's confidence."""

from __future__ import annotations

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.base import AssistantAction, Events, understood
from actions.knowledge import catalog
from actions.turn import Turn


class ActionEmergency(AssistantAction):
    """113 / 112 / 110 / 116 117 at once. Never gated: an unsure emergency
    is still answered as an emergency."""

    gated = False

    def name(self) -> str:
        return "action_emergency"

    def respond(self, dispatcher: CollectingDispatcher, turn: Turn, tracker: Tracker) -> Events:
        texts = catalog()
        dispatcher.utter_message(text=texts.text("emergency.numbers", turn.language))
        dispatcher.utter_message(text=texts.text("emergency.follow_up", turn.language))
        return understood()
