"""Reply pieces several actions share: buttons for topics and languages."""

from __future__ import annotations

import json
from collections.abc import Iterable

from core.payloads import MENU_TOPICS  # topics a person can pick from a menu, in menu order
from locales.catalog import Catalog


def topic_buttons(catalog: Catalog, lang: str, topics: Iterable[str] = MENU_TOPICS) -> list[dict[str, str]]:
    return [{"title": catalog.text(f"topic.{t}.button", lang), "payload": f"/{t}"} for t in topics]


def answer_buttons(catalog: Catalog, lang: str, answer_ids: Iterable[str]) -> list[dict[str, str]]:
    """Buttons that ask for one answer each ("Is it one of these?")."""
    return [{"title": catalog.text("title." + a.replace("/", "."), lang),
             "payload": f"/{a.split('/', 1)[0]}" + json.dumps({"answer": a}, separators=(",", ":"))}
            for a in answer_ids]


def language_buttons(catalog: Catalog) -> list[dict[str, str]]:
    return [
        {"title": name, "payload": "/language" + json.dumps({"lang": code}, separators=(",", ":"))}
        for code, name in catalog.autonyms.items()
    ]


def clarify_topics(ranking: Iterable[tuple[str, float]], limit: int = 3) -> list[str]:
    """The likeliest menu topics from the NLU ranking, best first, then the
    rest of the menu so that a person can always find their topic."""
    picked: list[str] = []
    for topic, _ in ranking:
        if topic in MENU_TOPICS and topic not in picked and topic != "caseworker":
            picked.append(topic)
        if len(picked) == limit:
            break
    return picked + [t for t in MENU_TOPICS if t not in picked]
