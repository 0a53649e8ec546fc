"""What the person's latest message means to the dialogue.

Reads the NLU result Rasa stored on the tracker (intent, confidence,
response selector, detected language) and decides the language to answer
in. Kept free of side effects so it is easy to test.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from nlu.langid import LANGUAGES

LANGUAGE_SLOT = "language"
PINNED_SLOT = "language_pinned"
MISUNDERSTOOD_SLOT = "misunderstood"
LAST_ANSWER_SLOT = "last_answer"
DANGER_ASKED_SLOT = "danger_asked"  # the kind of a possible danger we asked about


@dataclass(frozen=True)
class Turn:
    intent: str
    topic: str
    confidence: float
    question: str | None  # the retrieval intent, e.g. "fastlege/change_gp"
    from_button: bool
    detected_language: str | None
    detected_reliable: bool
    language: str  # the language to answer in
    ranking: tuple[tuple[str, float], ...]
    text: str = ""
    entities: tuple[tuple[str, str], ...] = ()
    question_scores: tuple[tuple[str, float], ...] = ()
    #: "clear" or "possible" for an emergency (nlu.components.EmergencySafetyNet), else None
    emergency_tier: str | None = None
    emergency_kind: str = "general"
    #: The knowledge base's answer the NLU chose, whether it is sure, and the closest ones.
    answer: str | None = None
    answer_sure: bool = True
    answer_candidates: tuple[str, ...] = ()
    #: Whose turn it is (the tracker's sender id): the unanswered log keeps it as a keyed hash for erasure.
    sender: str = ""

    def entity(self, name: str) -> str | None:
        return next((value for key, value in self.entities if key == name), None)

    @classmethod
    def read(cls, latest: Mapping[str, Any], slots: Mapping[str, Any], default_language: str) -> Turn:
        intent_data = latest.get("intent") or {}
        intent = str(intent_data.get("name") or "")
        topic = intent.split("/", 1)[0]
        text = str(latest.get("text") or "")
        detected = latest.get("language")
        reliable = bool(latest.get("language_reliable"))
        ranking = tuple(
            (str(r.get("name", "")).split("/", 1)[0], float(r.get("confidence") or 0.0))
            for r in latest.get("intent_ranking") or []
        )
        return cls(
            intent=intent,
            topic=topic,
            confidence=float(intent_data.get("confidence") or 0.0),
            question=_question(latest, topic),
            from_button=text.startswith("/"),
            detected_language=detected if detected in LANGUAGES else None,
            detected_reliable=reliable,
            language=reply_language(slots, detected if detected in LANGUAGES else None, reliable, default_language,
                                    hint=_hint(latest)),
            ranking=ranking,
            text=text,
            entities=tuple((str(e.get("entity")), str(e.get("value"))) for e in latest.get("entities") or []
                           if isinstance(e, Mapping)),
            question_scores=tuple((str(k), float(v)) for k, v in (latest.get("question_scores") or {}).items()),
            emergency_tier=_emergency(latest).get("tier"),
            emergency_kind=str(_emergency(latest).get("kind") or "general"),
            answer=_answer(latest).get("id"),
            answer_sure=bool(_answer(latest).get("sure", True)),
            answer_candidates=tuple(str(c) for c in _answer(latest).get("candidates") or ()),
        )


def reply_language(slots: Mapping[str, Any], detected: str | None, reliable: bool, default: str,
                   hint: str | None = None) -> str:
    """Pinned choice > reliable detection > remembered language > the
    channel's hint (Telegram's language_code) > best guess > default.

    A one-word message ("NAV", "ok") is never reliable, so it cannot flip the
    language a person has been using.
    """
    remembered = slots.get(LANGUAGE_SLOT)
    remembered = remembered if remembered in LANGUAGES else None
    if slots.get(PINNED_SLOT) and remembered:
        return remembered
    if detected and reliable:
        return detected
    if remembered:
        return remembered
    if hint in LANGUAGES:
        return str(hint)
    return detected or default


def _hint(latest: Mapping[str, Any]) -> str | None:
    metadata = latest.get("metadata")
    hint = metadata.get("language_hint") if isinstance(metadata, Mapping) else None
    return str(hint) if hint in LANGUAGES else None


def _emergency(latest: Mapping[str, Any]) -> Mapping[str, Any]:
    value = latest.get("emergency")
    return value if isinstance(value, Mapping) else {}


def _answer(latest: Mapping[str, Any]) -> Mapping[str, Any]:
    value = latest.get("answer_choice")
    return value if isinstance(value, Mapping) else {}


def _question(latest: Mapping[str, Any], topic: str) -> str | None:
    selector = latest.get("response_selector") or {}
    for key in (topic, "default"):
        response = (selector.get(key) or {}).get("response") or {}
        name = response.get("intent_response_key")
        if name and str(name).startswith(topic + "/"):
            return str(name)
    return None
