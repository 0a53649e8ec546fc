"""Hand-over to a person (the `caseworker` topic, or after two
misunderstandings).

Until the caseworker desk exists, the hand-over tells the person whom to
contact. `Handoff` is the seam: a case-opening implementation replaces
`ContactInfoHandoff` without touching the actions.
"""

from __future__ import annotations

from typing import Protocol

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.base import AssistantAction, Events, understood
from actions.knowledge import knowledge
from actions.turn import Turn


class Handoff(Protocol):
    def request(self, tracker: Tracker, turn: Turn) -> str:
        """Hand the conversation to a person; return what to tell the person."""


class ContactInfoHandoff:
    """Tells the person how to reach the municipality and NAV themselves."""

    def request(self, tracker: Tracker, turn: Turn) -> str:
        return knowledge().text("handoff.contact", turn.language)


def handoff() -> Handoff:
    return ContactInfoHandoff()


class ActionRequestCaseworker(AssistantAction):
    def name(self) -> str:
        return "action_request_caseworker"

    def respond(self, dispatcher: CollectingDispatcher, turn: Turn, tracker: Tracker) -> Events:
        dispatcher.utter_message(text=handoff().request(tracker, turn))
        return understood()
