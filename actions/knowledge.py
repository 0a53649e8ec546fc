"""The knowledge base: which answer fits a question, and how it is shown.

An answer is data: an entry in `data/knowledge/answers.yml` (source, date
checked, whether it is its topic's default) and its text in every
`locales/<lang>/answers.yml`. Nothing here changes when an answer is added.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from actions.municipality import WORDED, Municipality
from core.config import settings
from locales.catalog import Catalog


@dataclass(frozen=True)
class AnswerMeta:
    id: str
    source: str
    checked: dt.date
    default: bool

    @property
    def topic(self) -> str:
        return self.id.split("/", 1)[0]


class KnowledgeBase:
    def __init__(self, answers: dict[str, AnswerMeta], catalog: Catalog, municipality: Municipality) -> None:
        self.answers = answers
        self.catalog = catalog
        self.municipality = municipality

    @classmethod
    def load(cls, path: Path, catalog: Catalog, municipality: Municipality) -> KnowledgeBase:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        answers = {
            key: AnswerMeta(id=key, source=str(v["source"]), checked=_date(v["checked"]), default=bool(v.get("default")))
            for key, v in raw.items()
        }
        return cls(answers, catalog, municipality)

    def topic_default(self, topic: str) -> str | None:
        for meta in self.answers.values():
            if meta.topic == topic and meta.default:
                return meta.id
        return None

    def answer_for(self, topic: str, question: str | None) -> str | None:
        """The answer id for a question (`topic/sub`), else the topic's default."""
        if question and question in self.answers and question.startswith(topic + "/"):
            return question
        return self.topic_default(topic)

    def placeholders(self, lang: str) -> dict[str, str]:
        """The profile's values, plus the wording that depends on how the
        municipality is organised (`profile.<name>.<settlement_in>`)."""
        values = self.municipality.placeholders(lang)
        for name in WORDED:
            values[name] = self.catalog.text(f"profile.{name}.{self.municipality.settlement_in}", lang, **values)
        return values

    def text(self, key: str, lang: str, **values: object) -> str:
        """A locale text with the municipality's placeholders filled in."""
        return self.catalog.text(key, lang, **{**self.placeholders(lang), **values})

    def render(self, answer_id: str, lang: str) -> str:
        meta = self.answers[answer_id]
        body = right_to_left(self.text(answer_id, lang), lang)
        source = self.catalog.text("answer.source", lang, url=meta.source, date=meta.checked.isoformat())
        return f"{body}\n{source}"


RTL_LANGUAGES = frozenset({"ar", "fa"})
RLM = "\u200f"  # RIGHT-TO-LEFT MARK


def right_to_left(text: str, lang: str) -> str:
    """An Arabic or Persian text that begins with a Latin word or a number
    ("NAV ...", "SFO ...") would be laid out left to right by Telegram and SMS
    apps, which take the direction from the first strong character: a
    right-to-left mark in front sets it. Other texts are left as they are."""
    if lang not in RTL_LANGUAGES or text.startswith(RLM):
        return text
    first = next((ch for ch in text if unicodedata.bidirectional(ch) in ("L", "R", "AL", "EN", "AN")), "")
    return RLM + text if first and unicodedata.bidirectional(first) in ("L", "EN") else text


def _date(value: object) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))


@lru_cache(maxsize=1)
def catalog() -> Catalog:
    return Catalog.load(settings().locales_dir)


@lru_cache(maxsize=1)
def knowledge() -> KnowledgeBase:
    return KnowledgeBase.load(settings().knowledge_file, catalog(), Municipality.load(settings().municipality_file))
