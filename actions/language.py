"""Choosing the language to answer in (the `language` topic, /language and
the language buttons). An explicit choice is pinned: it wins over detection
until the person chooses again."""

from __future__ import annotations

import re
from functools import lru_cache

import yaml
from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.base import AssistantAction, Events, understood
from actions.checklist import offer_button
from actions.knowledge import catalog
from actions.replies import language_buttons
from actions.turn import LANGUAGE_SLOT, PINNED_SLOT, Turn
from core.config import ROOT
from nlu.langid import LANGUAGES
from nlu.text import normalize, unify_letters

NAMES_FILE = ROOT / "data" / "language_names.yml"


@lru_cache(maxsize=1)
def _name_patterns() -> list[tuple[str, re.Pattern[str]]]:
    data = yaml.safe_load(NAMES_FILE.read_text(encoding="utf-8"))
    patterns = []
    for code, names in data.items():
        for name in sorted(set(names), key=len, reverse=True):
            name = unify_letters(str(name)).casefold()
            # Arabic script attaches prefixes (بال، ال، و): match anywhere there.
            boundary = "" if any("\u0600" <= ch <= "\u06ff" for ch in name) else r"(?<!\w)"
            patterns.append((code, re.compile(boundary + re.escape(name))))
    return patterns


def named_language(text: str) -> str | None:
    """The language a message names ("in Arabic please"), if exactly one."""
    normalized = normalize(text)
    found = {code for code, pattern in _name_patterns() if pattern.search(normalized)}
    return found.pop() if len(found) == 1 else None


def requested_language(tracker: Tracker) -> str | None:
    for entity in (tracker.latest_message or {}).get("entities") or []:
        if entity.get("entity") == "lang" and entity.get("value") in LANGUAGES:
            return str(entity["value"])
    text = str((tracker.latest_message or {}).get("text") or "")
    return None if text.startswith("/") else named_language(text)


class ActionChooseLanguage(AssistantAction):
    gated = False

    def name(self) -> str:
        return "action_choose_language"

    def respond(self, dispatcher: CollectingDispatcher, turn: Turn, tracker: Tracker) -> Events:
        texts = catalog()
        chosen = requested_language(tracker)
        if chosen is None:
            dispatcher.utter_message(text=texts.text("language.choose", turn.language), buttons=language_buttons(texts))
            return understood()
        dispatcher.utter_message(text=texts.text("language.changed", chosen), buttons=[offer_button(texts, chosen)])
        return understood() + [SlotSet(LANGUAGE_SLOT, chosen), SlotSet(PINNED_SLOT, True)]
