"""What the reader understood from one letter: its text, sender, kind and facts."""

from __future__ import annotations

import re
from dataclasses import dataclass

from letters.classify import KINDS, SENDERS, Label, classify_kind, classify_sender
from letters.errors import NotALetter
from letters.facts import LetterFacts, extract_facts, find_deadlines
from letters.read import DEFAULT_LIMITS, Limits, read_text

# What letters have and other pages seldom do: a case or reference number, a greeting, a letterhead's
# postboks, a decision, an invoice. A page needs two of them, or one and a date, to count as a letter.
LETTER_MARKERS = re.compile(
    r"saksnummer|saksnr|referanse|\bref\b|hilsen|postboks|vedtak|faktura|\bkid\b|forfall|innkalling|\bdato\b"
    r"|kontaktlærer|utleier|leieavtale|klage",
    re.I,
)
MIN_MARKERS = 2


@dataclass(frozen=True)
class Reading:
    """A letter as read: `text` is its full text (unmasked: the caller decides what to keep)."""

    text: str
    pages: int
    method: str                  # pdf_text, pdf_ocr, photo
    ocr_confidence: float | None
    sender: Label
    kind: Label
    facts: LetterFacts

    def __post_init__(self) -> None:
        if self.sender.value not in (*SENDERS, "unknown") or self.kind.value not in (*KINDS, "unknown"):
            raise ValueError(f"unknown sender or kind: {self.sender.value}, {self.kind.value}")


def looks_like_a_letter(text: str) -> bool:
    markers = len({m.group(0).lower() for m in LETTER_MARKERS.finditer(text)})
    return markers >= MIN_MARKERS or (markers >= 1 and find_deadlines(text)[0] is not None)


def read_letter(data: bytes, filename: str = "", mime: str | None = None, limits: Limits = DEFAULT_LIMITS) -> Reading:
    """Read a letter's PDF or photo; raises a `LetterError` (its `code` says why) when that is not possible.

    Nothing is stored or logged: the caller decides what to keep.
    """
    letter = read_text(data, filename, mime, limits)
    if not looks_like_a_letter(letter.text):
        raise NotALetter("no letter's parts")
    return Reading(
        text=letter.text,
        pages=letter.pages,
        method=letter.method,
        ocr_confidence=letter.confidence,
        sender=classify_sender(letter.text),
        kind=classify_kind(letter.text),
        facts=extract_facts(letter.text),
    )
