"""Who sent a letter and what kind it is: rules first, then a small model.

Rules read what a letter says about itself: the organisation in its
letterhead (or, when OCR garbled that, its signature) (NAV, Skatteetaten, UDI, Helfo, a kommune, a barnehage, a school,
a debt collector, a landlord) and its title ("Vedtak om ...", "Innkalling",
"Faktura", "Vi trenger flere opplysninger"). When no rule decides, a TF-IDF +
logistic regression model trained on the letters in
`letters/training/letters.yml` (written for training, never for testing)
decides if it is sure enough; otherwise the answer is `unknown`, not a guess.
The model is trained on first use (well under a second) and kept in memory.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

import yaml
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline

SENDERS = ("nav", "kommune", "skatteetaten", "udi", "helfo", "landlord", "barnehage", "school", "inkasso", "other")
KINDS = ("decision", "summons", "invoice", "documents", "information")
UNKNOWN = "unknown"
TRAINING_FILE = Path(__file__).resolve().parent / "training" / "letters.yml"
MIN_SENDER_PROBABILITY = 0.35
MIN_KIND_PROBABILITY = 0.40
LETTERHEAD_LINES = 4
SIGNATURE_LINES = 3

# Checked in this order on the letterhead: a school or barnehage is named before the kommune that runs it.
SENDER_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("inkasso", re.compile(r"inkasso|intrum|kredinor|lowell|sergel|lindorff|svea finans|riverty|conecto|gothia", re.I)),
    ("nav", re.compile(r"\bNAV\b|arbeids- og velferdsetaten")),
    ("skatteetaten", re.compile(r"skatteetaten|skatteinnkreving|skatteoppkrever|kemner", re.I)),
    ("udi", re.compile(r"utlendingsdirektoratet|\bUDI\b")),
    ("helfo", re.compile(r"\bhelfo\b", re.I)),
    ("barnehage", re.compile(r"ba(?:rn|m)ehage", re.I)),      # OCR reads "rn" as "m"
    ("school", re.compile(r"\bskole\b|skolen\b|barneskole|ungdomsskole|videregående|grunnskole", re.I)),
    ("kommune", re.compile(r"\bkommune\b|bydel\b", re.I)),
    ("landlord", re.compile(r"utleier|huseier|boligutleie|eiendom\b|eiendomsforvaltning|heimstaden|utleie\b", re.I)),
)
BODY_SENDER_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("inkasso", re.compile(r"inkassovarsel|inkassoloven|inkassosalær|betalingsoppfordring", re.I)),
)

TITLE_MAX_WORDS = 10
KIND_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("invoice", re.compile(
        r"faktura|purring|betalingspåminnelse|påminnelse om (?:betaling|husleie)|inkassovarsel|betalingsoppfordring"
        r"|restskatt|krav om (?:tilbake)?betaling|betalingsvarsel|varsel om (?:tvangs|inkasso)", re.I)),
    ("summons", re.compile(
        r"innkalling|timebekreftelse|\btime (?:hos|på|ved|til|for)\b|invitasjon til|møteinnkalling|innkalt", re.I)),
    ("documents", re.compile(
        r"(?:vi trenger|vi ber om|mangler|manglende|etterspør|innhenting av|be om)\b.{0,40}"
        r"(?:opplysninger|dokumentasjon|dokumenter|vedlegg|informasjon|kvitteringer)|^du må sende (?:inn )?", re.I)),
    ("decision", re.compile(
        r"^(?:melding om )?vedtak\b|\bvedtak (?:om|i|etter)\b|^avslag\b|^innvilget|innvilgelse|^oppsigelse"
        r"|tilbud om (?:ba(?:rn|m)ehage)?plass|skatteoppgjøret|^vi har (?:innvilget|avslått)", re.I)),
    ("information", re.compile(r"^informasjon\b|til orientering|^bekreftelse på|^velkommen|^varsel om", re.I)),
)


@dataclass(frozen=True)
class Label:
    value: str            # a sender or kind, or "unknown"
    confidence: float     # 1.0 for a rule, else the model's probability
    by: str               # "rule", "model" or "none"


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _for_model(text: str) -> str:
    return re.sub(r"\d", "0", text.lower())


@functools.lru_cache(maxsize=1)
def _models() -> tuple[Pipeline, Pipeline]:
    letters = yaml.safe_load(TRAINING_FILE.read_text(encoding="utf-8"))
    texts = [_for_model(letter["text"]) for letter in letters]

    def train(labels: list[str]) -> Pipeline:
        model = Pipeline([
            ("features", FeatureUnion([
                ("words", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1)),
                ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True, min_df=2)),
            ])),
            ("model", LogisticRegression(C=20.0, max_iter=3000)),
        ])
        return model.fit(texts, labels)

    return train([letter["sender"] for letter in letters]), train([letter["kind"] for letter in letters])


def _predict(model: Pipeline, text: str, minimum: float) -> Label:
    probabilities = model.predict_proba([_for_model(text)])[0]
    best = int(probabilities.argmax())
    if probabilities[best] < minimum:
        return Label(UNKNOWN, float(probabilities[best]), "none")
    return Label(str(model.classes_[best]), float(probabilities[best]), "model")


def sender_by_rule(text: str) -> str | None:
    """The sender its letterhead names, else the one its signature (last lines) names."""
    lines = _lines(text)
    for part in (lines[:LETTERHEAD_LINES], lines[-SIGNATURE_LINES:]):
        block = "\n".join(part)
        for sender, pattern in SENDER_RULES:
            if pattern.search(block):
                return sender
    for sender, pattern in BODY_SENDER_RULES:
        if pattern.search(text):
            return sender
    return None


def kind_by_rule(text: str) -> str | None:
    """The kind the letter's title says: the first short line (in its first 30) that a rule knows."""
    for line in _lines(text)[:30]:
        if len(line.split()) > TITLE_MAX_WORDS:
            continue
        for kind, pattern in KIND_RULES:
            if pattern.search(line):
                return kind
    return None


def classify_sender(text: str) -> Label:
    rule = sender_by_rule(text)
    if rule:
        return Label(rule, 1.0, "rule")
    return _predict(_models()[0], text, MIN_SENDER_PROBABILITY)


def classify_kind(text: str) -> Label:
    rule = kind_by_rule(text)
    if rule:
        return Label(rule, 1.0, "rule")
    return _predict(_models()[1], text, MIN_KIND_PROBABILITY)
