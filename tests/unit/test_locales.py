"""Every text exists in every language, with the same placeholders, valid
links and within its length limit; every answer is sourced and dated."""

import datetime as dt
import re
from urllib.parse import urlparse

import pytest
import yaml

from actions.knowledge import KnowledgeBase
from locales.catalog import LOCALES_DIR, Catalog, placeholders

LANGUAGES = ("nb", "en", "ar", "uk", "ru", "ti", "so", "fa")
URL = re.compile(r"https?://[^\s)»\"]+")
LIMITS = yaml.safe_load((LOCALES_DIR / "limits.yml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load()


def limit_for(key: str, file_kind: str, lang: str) -> int:
    if key.endswith(".button"):
        return LIMITS["button"]
    if file_kind == "answers":
        return LIMITS.get("answer_by_language", {}).get(lang, LIMITS["answer"])
    return LIMITS["default"]


def test_all_languages_present(catalog: Catalog) -> None:
    assert sorted(catalog.languages) == sorted(LANGUAGES)
    assert sorted(catalog.autonyms) == sorted(LANGUAGES)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_same_keys_as_reference(catalog: Catalog, lang: str) -> None:
    assert catalog.keys(lang) == catalog.keys("en") == catalog.keys("nb")


@pytest.mark.parametrize("lang", LANGUAGES)
def test_placeholders_match_reference(catalog: Catalog, lang: str) -> None:
    for key in catalog.keys("en"):
        assert placeholders(catalog.entry(key, lang).text) == placeholders(catalog.entry(key, "en").text), (lang, key)


def test_links_are_well_formed(catalog: Catalog) -> None:
    for lang, key, entry in catalog.items():
        for url in URL.findall(entry.text):
            parsed = urlparse(url)
            assert parsed.scheme == "https" and "." in parsed.netloc, (lang, key, url)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_length_limits(lang: str) -> None:
    for path in (LOCALES_DIR / lang).glob("*.yml"):
        for key, value in yaml.safe_load(path.read_text(encoding="utf-8")).items():
            limit = limit_for(key, path.stem, lang)
            assert len(value["text"]) <= limit, f"{lang}/{key}: {len(value['text'])} > {limit}"
            assert isinstance(value.get("reviewed"), bool), f"{lang}/{key}: reviewed must be true or false"


def test_a_language_limit_overrides_only_that_languages_answers() -> None:
    overrides = LIMITS["answer_by_language"]
    assert set(overrides) <= set(LANGUAGES) and all(v > LIMITS["answer"] for v in overrides.values())
    for lang in LANGUAGES:
        assert limit_for("fastlege/cost", "answers", lang) == overrides.get(lang, LIMITS["answer"])
        assert limit_for("greet.welcome", "ui", lang) == LIMITS["default"]
        assert limit_for("topics.fastlege.button", "ui", lang) == LIMITS["button"]


def test_emergency_numbers_in_every_language(catalog: Catalog) -> None:
    for lang in LANGUAGES:
        text = catalog.text("emergency.numbers", lang)
        for number in ("113", "112", "110", "116 117"):
            assert number in text, (lang, number)


def test_every_answer_is_sourced_dated_and_translated(catalog: Catalog) -> None:
    from actions.municipality import Municipality

    baerum = Municipality.load(LOCALES_DIR.parent / "data" / "municipalities" / "baerum.yml")
    kb = KnowledgeBase.load(LOCALES_DIR.parent / "data" / "knowledge" / "answers.yml", catalog, baerum)
    topics = {meta.topic for meta in kb.answers.values()}
    assert {"fastlege", "nav", "intro_program", "school", "barnehage", "housing"} <= topics
    for answer_id, meta in kb.answers.items():
        assert urlparse(meta.source).scheme == "https", answer_id
        assert meta.checked <= dt.date.today(), answer_id
        for lang in LANGUAGES:
            rendered = kb.render(answer_id, lang)
            assert meta.source in rendered and meta.checked.isoformat() in rendered
    for topic in topics:
        assert kb.topic_default(topic), f"{topic} has no default answer"


def test_missing_text_falls_back_to_english() -> None:
    from locales.catalog import Entry

    catalog = Catalog({"en": {"a": Entry("hello {name}", True)}, "ar": {}}, {"en": "English", "ar": "العربية"})
    assert catalog.text("a", "ar", name="x") == "hello x"
