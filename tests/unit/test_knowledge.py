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


@pytest.mark.parametrize("path", PROFILES, ids=[p.stem for p in PROFILES])
def test_barnehage_apply_links_the_profiles_own_application_page(path: Path) -> None:
    municipality = Municipality.load(path)
    apply_url = yaml.safe_load(path.read_text(encoding="utf-8"))["barnehage"]["apply_url"]
    assert apply_url and apply_url != municipality.website
    kb = KnowledgeBase.load(ROOT / "data" / "knowledge" / "answers.yml", CATALOG, municipality)
    for lang in LANGUAGES:
        assert apply_url in kb.render("barnehage/apply", lang), lang


def test_barnehage_link_falls_back_to_the_front_page(tmp_path: Path) -> None:
    data = yaml.safe_load(PROFILES[0].read_text(encoding="utf-8"))
    data["barnehage"]["apply_url"] = None
    path = tmp_path / "no-link.yml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    municipality = Municipality.load(path)
    assert municipality.placeholders("en")["barnehage_url"] == municipality.website


def test_who_pays_the_intro_benefit_is_worded_the_profiles_way() -> None:
    """Where the refugee service is a NAV team (Sarpsborg), "paid by the
    municipality, not by NAV" would confuse: the profile picks the wording."""
    for stem, variant, other in (("baerum", "municipality", "nav"), ("sarpsborg", "nav", "municipality")):
        municipality = Municipality.load(ROOT / "data" / "municipalities" / f"{stem}.yml")
        assert municipality.settlement_in == variant
        kb = KnowledgeBase.load(ROOT / "data" / "knowledge" / "answers.yml", CATALOG, municipality)
        for lang in LANGUAGES:
            values = municipality.placeholders(lang)
            wording = CATALOG.text(f"profile.intro_benefit_payer.{variant}", lang, **values)
            not_ours = CATALOG.text(f"profile.intro_benefit_payer.{other}", lang, **values)
            for answer_id in ("nav/intro_benefit", "nav/what_nav_does"):
                text = kb.render(answer_id, lang)
                assert wording in text and not_ours not in text, (stem, lang, answer_id)
                assert (municipality.refugee_service in text) == (variant == "nav"), (stem, lang, answer_id)


def test_three_profiles_and_a_valid_default() -> None:
    assert {p.stem for p in PROFILES} >= {"baerum", "asker", "sarpsborg"}
    from core.config import Settings

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


def test_changes_dates_are_real_days_of_the_year() -> None:
    """`changes: "MM-DD"` marks the day a figure in the answer changes each year."""
    marked = {a: m["changes"] for a, m in ANSWERS.items() if "changes" in m}
    assert {"fastlege/cost", "nav/intro_benefit", "barnehage/price"} <= set(marked)
    for answer_id, value in marked.items():
        assert isinstance(value, str) and len(value) == 5 and value[2] == "-", answer_id
        dt.date(2001, int(value[:2]), int(value[3:]))  # a real date, or ValueError


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
