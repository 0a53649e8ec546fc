"""The first-weeks checklist: steps in order (data/knowledge/checklist.yml),
each a button that opens its answer, with a "next step" button after it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache

import yaml

from core.config import settings
from locales.catalog import Catalog

OFFER_PAYLOAD = '/greet{"show":"checklist"}'


@dataclass(frozen=True)
class Step:
    id: str
    answer: str


@lru_cache(maxsize=1)
def steps() -> tuple[Step, ...]:
    data = yaml.safe_load(settings().checklist_file.read_text(encoding="utf-8"))
    return tuple(Step(id=str(s["id"]), answer=str(s["answer"])) for s in data["steps"])


def step_payload(index: int) -> str:
    step = steps()[index]
    topic = step.answer.split("/", 1)[0]
    return f"/{topic}" + json.dumps({"answer": step.answer, "step": str(index)}, separators=(",", ":"))


def checklist_buttons(catalog: Catalog, lang: str) -> list[dict[str, str]]:
    return [{"title": catalog.text(f"checklist.{s.id}.button", lang), "payload": step_payload(i)}
            for i, s in enumerate(steps())]


def offer_button(catalog: Catalog, lang: str) -> dict[str, str]:
    return {"title": catalog.text("checklist.offer.button", lang), "payload": OFFER_PAYLOAD}


def next_button(catalog: Catalog, lang: str, index: str | None) -> list[dict[str, str]]:
    """The button to the step after `index`, or none after the last."""
    if index is None or not index.isdigit() or int(index) + 1 >= len(steps()):
        return []
    following = int(index) + 1
    title = catalog.text(f"checklist.{steps()[following].id}.button", lang)
    return [{"title": title, "payload": step_payload(following)}]
