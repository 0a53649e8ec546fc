"""Emergencies: the help that fits the danger, numbers first, whatever the
model's confidence; a possible danger is asked about, never ignored.

The NLU marks an emergency `clear` (a safety pattern, or a sure model) or
`possible` (the model leans towards danger); see
nlu.components.EmergencySafetyNet. Clear: the numbers for that kind of
danger, an urgent case for the caseworkers, and, outside office hours, that
the office is closed. Possible: the numbers in one short line and "Is
someone in danger right now?"; only "yes" (a button, or typed in any of the
eight languages, data/confirm_words.yml) opens the urgent case.
"""

from __future__ import annotations

import datetime as dt
import logging
import string
from functools import lru_cache
from pathlib import Path

import yaml
from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.base import AssistantAction, Events, understood
from actions.handoff import handoff
from actions.knowledge import catalog
from actions.office_hours import OfficeHours
from actions.replies import topic_buttons
from actions.turn import DANGER_ASKED_SLOT, Turn
from core.config import settings
from nlu.safety import KINDS
from ops import metrics

logger = logging.getLogger(__name__)

CONFIRM_WORDS = Path(__file__).resolve().parent.parent / "data" / "confirm_words.yml"
#: A case about these dangers also tells the person how to erase the conversation.
SAFE_DELETE_DANGERS = frozenset({"violence", "child"})
DANGER_YES, DANGER_NO = '/emergency{"danger":"yes"}', '/emergency{"danger":"no"}'


def help_key(kind: str) -> str:
    """The catalog text for a kind of danger (`emergency.numbers` for any other)."""
    return f"emergency.{kind}" if kind in KINDS and kind != "general" else "emergency.numbers"


@lru_cache(maxsize=1)
def _confirm_words() -> dict[str, frozenset[str]]:
    data = yaml.safe_load(CONFIRM_WORDS.read_text(encoding="utf-8"))
    return {str(answer): frozenset(str(w).casefold() for words in by_lang.values() for w in words)
            for answer, by_lang in data.items()}


def typed_answer(text: str) -> str | None:
    """"yes", "no" or None for a typed reply to a yes/no question, in any of our languages."""
    word = " ".join(text.strip().strip(string.punctuation + "؟،!¡¿ ").casefold().split())
    for answer, words in _confirm_words().items():
        if word in words:
            return answer
    return None


def give_help(dispatcher: CollectingDispatcher, turn: Turn, tracker: Tracker, kind: str,
              at: dt.datetime | None = None) -> Events:
    """The numbers for this kind of danger, then the urgent case, then (out of
    hours) that the office is closed, then (violence) how to erase the chat."""
    texts, lang = catalog(), turn.language
    dispatcher.utter_message(text=texts.text(help_key(kind), lang))
    metrics.EMERGENCIES.labels(lang).inc()
    try:  # after the numbers, never before them
        follow_up = handoff().request(tracker, turn, urgent=True, danger=kind)
    except Exception:  # noqa: BLE001 - a broken case store must never hide the numbers
        logger.exception("Could not open an urgent case")
        follow_up = texts.text("emergency.follow_up", lang)
    dispatcher.utter_message(text=follow_up)
    s = settings()
    hours = OfficeHours.parse(s.office_hours, s.timezone)
    at = at or dt.datetime.now(dt.timezone.utc)
    if not hours.is_open(at):
        dispatcher.utter_message(text=texts.text("emergency.office_closed", lang,
                                                 opens=hours.describe_opening(at, lang)))
    if kind in SAFE_DELETE_DANGERS:
        dispatcher.utter_message(text=texts.text("emergency.safe_delete", lang))
    return understood() + [SlotSet(DANGER_ASKED_SLOT, None)]


def ask_if_danger(dispatcher: CollectingDispatcher, turn: Turn) -> Events:
    texts, lang = catalog(), turn.language
    dispatcher.utter_message(text=texts.text("emergency.possible", lang))
    dispatcher.utter_message(text=texts.text("emergency.ask", lang), buttons=[
        {"title": texts.text("emergency.yes.button", lang), "payload": DANGER_YES},
        {"title": texts.text("emergency.no.button", lang), "payload": DANGER_NO}])
    metrics.FALLBACKS.labels(lang, "danger_asked").inc()
    return [SlotSet(DANGER_ASKED_SLOT, turn.emergency_kind or "general")]


def no_danger(dispatcher: CollectingDispatcher, turn: Turn) -> Events:
    texts = catalog()
    dispatcher.utter_message(text=texts.text("emergency.no_danger", turn.language),
                             buttons=topic_buttons(texts, turn.language))
    return understood() + [SlotSet(DANGER_ASKED_SLOT, None)]


def answer_to_danger_question(dispatcher: CollectingDispatcher, turn: Turn, tracker: Tracker) -> Events | None:
    """The reply to "Is someone in danger right now?", typed or a button; None
    if the message is something else (then it is read as a new message)."""
    asked = tracker.get_slot(DANGER_ASKED_SLOT)
    answer = turn.entity("danger") if turn.from_button else (typed_answer(turn.text) if asked else None)
    if answer == "yes":
        return give_help(dispatcher, turn, tracker, str(asked or turn.emergency_kind or "general"))
    if answer == "no":
        return no_danger(dispatcher, turn)
    return None


class ActionEmergency(AssistantAction):
    """Never gated: an unsure emergency is still answered as one."""

    gated = False

    def name(self) -> str:
        return "action_emergency"

    def respond(self, dispatcher: CollectingDispatcher, turn: Turn, tracker: Tracker) -> Events:
        if turn.from_button:
            events = answer_to_danger_question(dispatcher, turn, tracker)
            if events is not None:
                return events
        if turn.emergency_tier == "possible":
            return ask_if_danger(dispatcher, turn)
        return give_help(dispatcher, turn, tracker, turn.emergency_kind)
