"""Explaining a reading: only catalogue texts, dates in the person's language, masked numbers, data for buttons."""

import datetime as dt
import importlib
import re

import pytest
import yaml

from letters import Explanation, Reading, error_message, explain
from letters.classify import Label
from letters.errors import ERROR_CODES, LetterError
from letters.facts import Deadline, LetterFacts, extract_facts
from locales.catalog import LOCALES_DIR, Catalog, Entry

explain_module = importlib.import_module("letters.explain")   # `letters.explain` is also the function
LANGUAGES = ("nb", "en", "ar", "uk", "ru", "ti", "so", "fa")
TODAY = dt.date(2027, 3, 10)
LETTER = (
    "NAV Familie- og pensjonsytelser\nOslo, 8. mars 2027\nFødselsnummer: 28037852912\nSaksnummer: 27/004518\n"
    "Vedtak om barnetrygd\nDu får 1 766 kroner per måned til kontonummer 5942.85.95755.\n"
    "Klagefristen er 26. april 2027. Ring 55 55 33 33.\nMed vennlig hilsen NAV\n"
)


def reading(text: str = LETTER, sender: str = "nav", kind: str = "decision") -> Reading:
    return Reading(text=text, pages=1, method="pdf_text", ocr_confidence=None, sender=Label(sender, 1.0, "rule"),
                   kind=Label(kind, 1.0, "rule"), facts=extract_facts(text))


@pytest.mark.parametrize("lang", LANGUAGES)
def test_a_nav_decision_in_every_language(lang: str) -> None:
    result = explain(reading(), lang, TODAY)
    assert isinstance(result, Explanation) and result.lang == lang
    assert result.deadline == dt.date(2027, 4, 26) and result.deadline_kind == "appeal"
    assert result.answer_id == "nav/appeal"
    assert [c.id for c in result.choices] == ["letter.more", "letter.caseworker", "letter.interpreter"]
    assert all(c.label for c in result.choices)
    assert "2027" in result.text and "26" in result.text           # the date, written by Babel
    assert "27/004518" in result.text and "55 55 33 33" in result.text
    assert not re.search(r"\d{11}|\d{4}\.\d{2}\.\d{5}", result.text)  # no fødselsnummer or account in clear
    assert "•••••••5755" in result.text
    assert result.direction == ("rtl" if lang in ("ar", "fa") else "ltr")


def test_dates_and_spans_are_in_the_persons_language() -> None:
    assert "April 26, 2027" in explain(reading(), "en", TODAY).text
    assert "26. april 2027" in explain(reading(), "nb", TODAY).text
    assert "26 апреля 2027" in explain(reading(), "ru", TODAY).text
    assert "in 7 weeks" in explain(reading(), "en", TODAY).text
    assert "that is today" in explain(reading(), "en", dt.date(2027, 4, 26)).text
    assert "already passed" in explain(reading(), "en", dt.date(2027, 5, 1)).text


def test_every_line_comes_from_the_catalogue(monkeypatch: pytest.MonkeyPatch) -> None:
    real = Catalog.load()
    marked = Catalog({lang: {key: Entry("§" + real.entry(key, lang).text, False) for key in real.keys(lang)}
                      for lang in real.languages}, real.autonyms)
    monkeypatch.setattr(explain_module, "_catalog", lambda: marked)
    result = explain(reading(), "so", TODAY)
    assert result.lines and all(line.startswith("§") for line in result.lines)
    assert all(choice.label.startswith("§") for choice in result.choices)


def test_what_is_not_recognised_is_said_to_be_unknown() -> None:
    result = explain(reading("Hei\nNoe tekst uten dato.\n", "unknown", "unknown"), "en", TODAY)
    assert result.lines[0] == "I could not tell for sure what kind of letter this is."
    assert result.lines[1] == "I could not tell for sure who sent it."
    assert "I did not find a date" in result.text
    assert result.deadline is None and result.answer_id is None


def test_the_caseworker_gets_the_masked_letter_and_a_norwegian_line_deadline_first() -> None:
    result = explain(reading(), "ar", TODAY)
    assert result.summary_nb.startswith("FRIST 26.04.2027 (klagefrist, om 47 dager) | Vedtak fra NAV")
    assert "1 766 kr" in result.summary_nb
    assert "Klagefristen er 26. april 2027" in result.norwegian_text
    assert "28037852912" not in result.norwegian_text and "•••••••2912" in result.norwegian_text


def test_an_appointment_with_its_time() -> None:
    facts = LetterFacts(deadlines=(Deadline(dt.date(2027, 3, 16), "appointment", "10:30"),))
    r = Reading("x", 1, "photo", 90.0, Label("nav", 1, "rule"), Label("summons", 1, "rule"), facts)
    result = explain(r, "en", TODAY)
    assert "Appointment (møtetidspunkt): Tuesday, March 16, 2027 at 10:30, in 6 days." in result.lines
    assert result.summary_nb.startswith("FRIST 16.03.2027 kl. 10:30 (møte, om 6 dager)")


def test_the_answers_named_exist_in_the_knowledge_base() -> None:
    index = yaml.safe_load((LOCALES_DIR.parent / "data" / "knowledge" / "answers.yml").read_text(encoding="utf-8"))
    assert set(explain_module.ANSWERS.values()) <= set(index)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_failure_has_a_text(lang: str) -> None:
    for code in ERROR_CODES:
        error = type("E", (LetterError,), {"code": code})()
        assert error_message(error, lang)
    assert "10" in error_message(type("E", (LetterError,), {"code": "too_big"})(), lang)
