"""Offline language identification for the eight languages we serve.

Three sources of evidence, strongest first:

1. Script. Ge'ez script is Tigrinya (no other served language uses it);
   letters only Persian or only Ukrainian/Russian use settle those pairs.
2. Lingua (`lingua-language-detector`), a library with bundled statistical
   models, restricted to our languages. It knows general Norwegian, English,
   Somali, Arabic, Persian, Ukrainian and Russian well, but not Tigrinya and
   not Arabic or Persian written in Latin letters.
3. A character n-gram model learned from our own training data (see
   `LearnedLanguageModel`), which does know Latin-letter Arabic, Finglish,
   Latin-letter Tigrinya and messages full of Norwegian loanwords.

A detection is `reliable` only when it is good enough to change the
language we answer in: a one-word message such as "NAV" or "ok" is not.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from nlu.text import normalize

_SURROGATES = re.compile("[\ud800-\udfff]")

LANGUAGES: tuple[str, ...] = ("nb", "en", "ar", "uk", "ru", "ti", "so", "fa")

# Norwegian words people keep in every language. They say nothing about the
# language the person writes in, so they do not count as evidence of it.
NORWEGIAN_TERMS = (
    "nav", "fastleg", "legevakt", "tolk", "barnehag", "barnhag", "sfo", "depositum",
    "husleie", "bostøtte", "bostotte", "kommune", "vedtak", "klage", "helsestasjon",
    "tannlege", "resept", "apotek", "videregående", "videregaende", "introduksjon",
    "intro", "sosialhjelp", "barnetrygd", "kontantstøtte", "leiekontrakt",
    "innføring", "frikort", "egenandel", "helfo", "husbanken", "imdi", "udi",
    "helsenorge", "skatteetaten", "folkeregister", "norsk", "ok", "okay",
    "hei", "hi", "hello", "salam", "salaam", "selam", "thanks", "takk",
)
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)


@dataclass(frozen=True)
class Detection:
    """The language of one message: best guess, its score and whether it is
    reliable enough to switch the language of the conversation."""

    language: str
    confidence: float
    reliable: bool


class LanguageScorer(Protocol):
    """Anything that turns a text into a probability per language."""

    def scores(self, text: str) -> Mapping[str, float]: ...


def script_of(char: str) -> str | None:
    """The writing system of one letter, or None for digits, signs, etc."""
    if not char.isalpha():
        return None
    code = ord(char)
    if 0x1200 <= code <= 0x139F or 0x2D80 <= code <= 0x2DDF or 0xAB00 <= code <= 0xAB2F:
        return "ethiopic"
    if 0x0600 <= code <= 0x06FF or 0x0750 <= code <= 0x077F or 0xFB50 <= code <= 0xFEFF:
        return "arabic"
    if 0x0400 <= code <= 0x052F:
        return "cyrillic"
    if unicodedata.name(char, "").startswith("LATIN"):
        return "latin"
    return "other"


def script_counts(text: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for char in text:
        script = script_of(char)
        if script:
            counts[script] = counts.get(script, 0) + 1
    return counts


def content_words(text: str) -> list[str]:
    """Words that can tell languages apart: Norwegian loanwords and greetings
    shared by all languages are left out."""
    words = _WORD.findall(normalize(text))
    return [w for w in words if len(w) > 1 and not w.startswith(NORWEGIAN_TERMS)]


_PERSIAN_ONLY = set("پچژگ")
_PERSIAN_KEYBOARD = set("کی")  # Arabic keyboards type ك and ي instead
_ARABIC_ONLY = set("ةىؤ")
_UKRAINIAN_ONLY = set("іїєґ")
_RUSSIAN_ONLY = set("ыэъё")


class LanguageIdentifier:
    """Detects which of the eight languages a message is written in."""

    def __init__(
        self,
        learned: LanguageScorer | None = None,
        lingua_detector: object | None = None,
        reliable_threshold: float = 0.6,
    ) -> None:
        self._learned = learned
        self._lingua = lingua_detector if lingua_detector is not None else build_lingua()
        self._threshold = reliable_threshold

    def detect(self, text: str) -> Detection:
        text = _SURROGATES.sub("\ufffd", text)  # Lingua cannot encode lone surrogates
        counts = script_counts(text)
        words = content_words(text)
        non_latin = {k: v for k, v in counts.items() if k in ("ethiopic", "arabic", "cyrillic")}
        if non_latin and max(non_latin.values()) >= 2:
            script = max(non_latin, key=non_latin.get)
        elif counts.get("latin"):
            script = "latin"
        else:
            return Detection(language="", confidence=0.0, reliable=False)

        letters = set(text.lower())
        if script == "ethiopic":
            return Detection("ti", 1.0, reliable=True)
        if script == "arabic":
            hint = _pair_hint(letters, _PERSIAN_ONLY | _PERSIAN_KEYBOARD, _ARABIC_ONLY, "fa", "ar")
            return self._decide(text, ("ar", "fa"), hint, words)
        if script == "cyrillic":
            hint = _pair_hint(letters, _UKRAINIAN_ONLY, _RUSSIAN_ONLY, "uk", "ru")
            return self._decide(text, ("uk", "ru"), hint, words)
        return self._decide(text, ("nb", "en", "so", "ar", "fa", "ti"), None, words)

    def _decide(
        self,
        text: str,
        candidates: Sequence[str],
        hint: str | None,
        words: list[str],
    ) -> Detection:
        scores = self._combined_scores(text, candidates)
        if hint:
            scores = {lang: (0.5 * p + (0.5 if lang == hint else 0.0)) for lang, p in scores.items()}
        best = max(scores, key=scores.get)
        confidence = scores[best]
        enough_words = len(words) >= 2 or (hint is not None and len(words) >= 1)
        return Detection(best, round(confidence, 4), reliable=enough_words and confidence >= self._threshold)

    def _combined_scores(self, text: str, candidates: Sequence[str]) -> dict[str, float]:
        lingua = _restrict(lingua_scores(self._lingua, text), candidates)
        if self._learned is None:
            return lingua
        learned = _restrict(self._learned.scores(text), candidates)
        if not any(learned.values()):  # the learned model knows none of them
            return lingua
        if not any(lingua.values()):
            return learned
        # Lingua has no Latin-letter Arabic, Persian or Tigrinya; there only the
        # learned model speaks, elsewhere the two are averaged.
        return {lang: 0.5 * lingua.get(lang, 0.0) + 0.5 * learned.get(lang, 0.0) for lang in candidates}


def _pair_hint(letters: set[str], first_only: set[str], second_only: set[str], first: str, second: str) -> str | None:
    has_first, has_second = bool(letters & first_only), bool(letters & second_only)
    if has_first and not has_second:
        return first
    if has_second and not has_first:
        return second
    return None


def _restrict(scores: Mapping[str, float], candidates: Iterable[str]) -> dict[str, float]:
    kept = {lang: max(0.0, float(scores.get(lang, 0.0))) for lang in candidates}
    total = sum(kept.values())
    if total <= 0 or math.isnan(total):
        return {lang: 0.0 for lang in kept}
    return {lang: p / total for lang, p in kept.items()}


def build_lingua() -> object:
    """A Lingua detector restricted to our languages (loads in about a second)."""
    from lingua import Language, LanguageDetectorBuilder

    return (
        LanguageDetectorBuilder.from_languages(
            Language.BOKMAL,
            Language.NYNORSK,
            Language.ENGLISH,
            Language.ARABIC,
            Language.PERSIAN,
            Language.UKRAINIAN,
            Language.RUSSIAN,
            Language.SOMALI,
        )
        .with_preloaded_language_models()
        .build()
    )


_LINGUA_CODES = {"NB": "nb", "NN": "nb", "EN": "en", "AR": "ar", "FA": "fa", "UK": "uk", "RU": "ru", "SO": "so"}


def lingua_scores(detector: object, text: str) -> dict[str, float]:
    """Lingua's confidence per served language (Nynorsk counts as Norwegian)."""
    out: dict[str, float] = {}
    for value in detector.compute_language_confidence_values(text):  # type: ignore[attr-defined]
        code = _LINGUA_CODES.get(value.language.iso_code_639_1.name)
        if code:
            out[code] = out.get(code, 0.0) + value.value
    return out


class LearnedLanguageModel:
    """Character n-gram logistic regression trained on labelled examples.

    Stored as plain JSON-able numbers (vocabulary, idf, weights), not as a
    pickle, so loading a model file never executes code.
    """

    def __init__(self, vocabulary: dict[str, int], idf: list[float], coef: list[list[float]],
                 intercept: list[float], classes: list[str], ngram_range: tuple[int, int]) -> None:
        import numpy as np
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.vocabulary, self.classes, self.ngram_range = vocabulary, classes, tuple(ngram_range)
        self._idf, self._coef, self._intercept = list(idf), coef, intercept
        self._vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=self.ngram_range,
                                           sublinear_tf=True, vocabulary=vocabulary)
        self._vectorizer.idf_ = np.asarray(idf)
        self._w = np.asarray(coef).T
        self._b = np.asarray(intercept)

    @classmethod
    def train(cls, texts: Sequence[str], labels: Sequence[str], ngram_range: tuple[int, int] = (1, 4)) -> LearnedLanguageModel:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=ngram_range, sublinear_tf=True, min_df=2)
        features = vectorizer.fit_transform([normalize(t) for t in texts])
        model = LogisticRegression(C=20.0, max_iter=2000)
        model.fit(features, list(labels))
        vocabulary = {term: int(i) for term, i in vectorizer.vocabulary_.items()}
        coef = model.coef_.tolist()
        intercept = model.intercept_.tolist()
        classes = [str(c) for c in model.classes_]
        if len(classes) == 2:  # binary models keep one row; make it explicit per class
            coef = [[-w for w in coef[0]], coef[0]]
            intercept = [-intercept[0], intercept[0]]
        return cls(vocabulary, vectorizer.idf_.tolist(), coef, intercept, classes, ngram_range)

    def scores(self, text: str) -> dict[str, float]:
        import numpy as np

        logits = self._vectorizer.transform([normalize(text)]) @ self._w + self._b
        logits = np.asarray(logits).ravel()
        probs = np.exp(logits - logits.max())
        probs /= probs.sum()
        return {lang: float(p) for lang, p in zip(self.classes, probs, strict=False)}

    def to_dict(self) -> dict:
        return {"vocabulary": self.vocabulary, "idf": self._idf, "coef": self._coef,
                "intercept": self._intercept, "classes": self.classes, "ngram_range": list(self.ngram_range)}

    @classmethod
    def from_dict(cls, data: dict) -> LearnedLanguageModel:
        return cls(data["vocabulary"], data["idf"], data["coef"], data["intercept"], data["classes"],
                   tuple(data["ngram_range"]))
