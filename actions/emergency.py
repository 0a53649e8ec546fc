"""Emergencies: the numbers first, whatever the model's confidence."""

from __future__ import annotations

import logging

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.base import AssistantAction, Events, understood
from actions.handoff import handoff
from actions.knowledge import catalog
from actions.turn import Turn
from ops import metrics

logger = logging.getLogger(__name__)


class ActionEmergency(AssistantAction):
    """113 / 112 / 110 / 116 117 at once. Never gated: an unsure emergency
    is still answered as an emergency."""

    gated = False

    def name(self) -> str:
        return "action_emergency"

    def respond(self, dispatcher: CollectingDispatcher, turn: Turn, tracker: Tracker) -> Events:
        texts = catalog()
        dispatcher.utter_message(text=texts.text("emergency.numbers", turn.language))
        metrics.EMERGENCIES.labels(turn.language).inc()
        # After the numbers, never before them: the municipality is told too.
        try:
            follow_up = handoff().request(tracker, turn, urgent=True)
        except Exception:  # noqa: BLE001 - a broken case store must never hide the numbers
            logger.exception("Could not open an urgent case")
            follow_up = texts.text("emergency.follow_up", turn.language)
        dispatcher.utter_message(text=follow_up)
        return understood()
