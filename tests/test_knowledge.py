"""The knowledge base (issue: content): coverage, sourcing, municipality
profiles, the first-weeks checklist and the coverage report."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path

import pytest
import yaml

from actions.checklist import steps
from actions.knowledge import KnowledgeBase
from actions.municipality import PLACEHOLDERS, Municipality
from locales.catalog import Catalog, placeholders
from scripts.coverage import report
from tests.training_data import ROOT, examples

LANGUAGES = ("nb", "en", "ar", "uk", "ru", "ti", "so", "fa")
KNOWLEDGE_TOPICS = ("fastlege", "nav", "intro_program", "school", "barnehage", "housing")
PROFILES = sorted((ROOT / "data" / "municipalities").glob("*.yml"))
CATALOG = Catalog.load()
ANSWERS = yaml.safe_load((ROOT / "data" / "knowledge" / "answers.yml").read_text(encoding="utf-8"))


def test_at_least_eight_answers_per_knowledge_topic() -> None:
    per_topic = Counter(a.split("/")[0] for a in ANSWERS)
    assert len(ANSWERS) >= 48
    for topic in KNOWLEDGE_TOPICS:
        assert per_topic[topic] >= 8, topic


def test_every_answer_is_reached_by_training_examples_in_every_language() -> None:
    counts = Counter((ex.intent, ex.lang) for ex in examples())
    topics = Counter((ex.intent, ex.lang) for ex in examples() if "/" not in ex.intent)
    for answer_id, meta in ANSWERS.items():
        for lang in LANGUAGES:
            reached = counts[(answer_id, lang)] >= 5 or (meta.get("default") and topics[(answer_id.split("/")[0], lang)])
            assert reached, f"{answer_id} has too few {lang} training examples"


def test_answers_use_only_profile_placeholders() -> None:
    for lang, key, entry in CATALOG.items():
        if key in ANSWERS or key.startswith(("checklist.", "handoff.")):
            assert placeholders(entry.text) <= set(PLACEHOLDERS), (lang, key)


@pytest.mark.parametrize("path", PROFILES, ids=[p.stem for p in PROFILES])
def test_profiles_load_and_fill_every_answer_in_every_language(path: Path) -> None:
    municipality = Municipality.load(path)
    assert municipality.website.startswith("https://")
    kb = KnowledgeBase.load(ROOT / "data" / "knowledge" / "answers.yml", CATALOG, municipality)
    for answer_id in ANSWERS:
        for lang in LANGUAGES:
            text = kb.render(answer_id, lang)
            assert "{" not in text and municipality.website not in CATALOG.text("answer.source", lang, url="", date="")
            assert len(text) <= 600, (answer_id, lang)


def test_three_profiles_and_a_valid_default() -> None:
    assert {p.stem for p in PROFILES} >= {"baerum", "asker", "sarpsborg"}
    from actions.settings import Settings

    assert (ROOT / "data" / "municipalities" / f"{Settings.municipality}.yml").exists()


def test_barnehage_deadline_is_written_in_the_readers_language() -> None:
    municipality = Municipality.load(ROOT / "data" / "municipalities" / "baerum.yml")
    assert municipality.placeholders("nb")["barnehage_deadline"] == "1. mars"
    assert municipality.placeholders("en")["barnehage_deadline"] == "March 1"
    assert "березня" in municipality.placeholders("uk")["barnehage_deadline"]


def test_a_bad_profile_is_refused(tmp_path: Path) -> None:
    bad = yaml.safe_load(PROFILES[0].read_text(encoding="utf-8"))
    bad["barnehage"]["deadline"] = {"day": 31, "month": 2}
    path = tmp_path / "bad.yml"
    path.write_text(yaml.safe_dump(bad), encoding="utf-8")
    with pytest.raises(ValueError):
        Municipality.load(path)


def test_checklist_steps_open_real_answers_with_labels_in_every_language() -> None:
    assert len(steps()) >= 10
    for step in steps():
        assert step.answer in ANSWERS, step
        for lang in LANGUAGES:
            assert CATALOG.entry(f"checklist.{step.id}.button", lang).text


def test_coverage_report_prints_its_figures() -> None:
    text, figures = report(dt.date(2026, 11, 22))
    assert figures["answers"] == len(ANSWERS)
    assert figures["unreachable"] == []
    assert all(figures["complete"][lang] == len(ANSWERS) for lang in LANGUAGES)
    assert "reviewed by a person" in text and "checked more than a year ago" in text
    later, _ = report(dt.date(2030, 1, 1))
    assert all(a in later for a in ANSWERS)  # everything is stale by then
