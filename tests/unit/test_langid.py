"""Language detection: script rules, the learned model and reliability."""

import pytest

from nlu.langid import LanguageIdentifier, LearnedLanguageModel, content_words


@pytest.fixture(scope="module")
def detector() -> LanguageIdentifier:
    texts = ["ana bdi doktor", "kif ba3mel", "shukran ktir", "salam 3likom", "i need a doctor", "where is my school",
             "jeg trenger lege", "hvor er skolen", "waxaan u baahanahay dhakhtar", "xagee iskuulka",
             "selam kemey aleka", "hakim delye", "salam komak mikham", "doktor mikham"]
    labels = ["ar"] * 4 + ["en"] * 2 + ["nb"] * 2 + ["so"] * 2 + ["ti"] * 2 + ["fa"] * 2
    return LanguageIdentifier(LearnedLanguageModel.train(texts * 3, labels * 3))


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("ሓኪም ደልየ", "ti"),
        ("ሰላም", "ti"),
        ("де знайти сімейного лікаря", "uk"),
        ("где найти семейного врача", "ru"),
        ("بدي fastlege لابني", "ar"),
        ("من دکتر می خواهم", "fa"),
        ("jeg trenger hjelp med husleie", "nb"),
        ("i need help with my rent please", "en"),
        ("waxaan u baahanahay dhakhtar", "so"),
    ],
)
def test_detects_language(detector: LanguageIdentifier, text: str, lang: str) -> None:
    assert detector.detect(text).language == lang


@pytest.mark.parametrize("text", ["NAV", "ok", "fastlege", "tolk?", "hi", "👍"])
def test_one_word_or_loanword_is_not_reliable(detector: LanguageIdentifier, text: str) -> None:
    assert not detector.detect(text).reliable


def test_full_sentences_are_reliable(detector: LanguageIdentifier) -> None:
    assert detector.detect("jeg trenger hjelp med husleie").reliable
    assert detector.detect("где найти семейного врача").reliable


def test_norwegian_terms_are_not_content_words() -> None:
    assert content_words("NAV fastlegen barnehage") == []
    assert content_words("where is NAV") == ["where", "is"]


def test_learned_model_round_trips_through_plain_data(detector: LanguageIdentifier) -> None:
    model = LearnedLanguageModel.train(["hei hvordan", "hello how", "hei du", "hello you"], ["nb", "en", "nb", "en"])
    copy = LearnedLanguageModel.from_dict(model.to_dict())
    assert copy.scores("hei") == pytest.approx(model.scores("hei"))
    assert max(copy.scores("hello there"), key=copy.scores("hello there").get) == "en"


def test_empty_and_symbol_only_messages(detector: LanguageIdentifier) -> None:
    for text in ("", "   ", "12345", "?!"):
        assert detector.detect(text).reliable is False
