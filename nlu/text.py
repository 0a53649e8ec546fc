"""Text normalisation shared by the tokenizer, language detection and the
emergency safety net.

People type the same word many ways: with or without Arabic diacritics, with
Persian or Arabic forms of the same letter, with zero-width joiners, in
capitals. Normalising before matching makes one pattern or n-gram cover them.
"""

from __future__ import annotations

import re
import unicodedata

# Arabic harakat, Quranic marks, superscript alef and tatweel.
_ARABIC_MARKS = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0640]")
_LETTER_VARIANTS = str.maketrans(
    {
        "أ": "ا",
        "إ": "ا",
        "آ": "ا",
        "ٱ": "ا",
        "ى": "ي",
        "ی": "ي",
        "ک": "ك",
        "ة": "ه",
        "\u200c": " ",  # zero-width non-joiner (Persian "می‌خوام") -> space
    }
)
# Invisible characters that change nothing a person means: zero-width space
# and joiner, word joiner, BOM, bidi embeddings, overrides and isolates.
_INVISIBLE = re.compile("[\u200b\u200d\u2060\ufeff\u202a-\u202e\u2066-\u2069\u200e\u200f]")
_SPACE = re.compile(r"\s+")


def strip_invisible(text: str) -> str:
    """Remove zero-width and bidi control characters (not the ZWNJ)."""
    return _INVISIBLE.sub("", text)


def unify_letters(text: str) -> str:
    """Unify Arabic/Persian letter variants and drop diacritics; keep case."""
    return _ARABIC_MARKS.sub("", strip_invisible(text)).translate(_LETTER_VARIANTS)


def normalize(text: str) -> str:
    """The canonical form used for matching: NFKC, lower case, unified
    letters, single spaces."""
    text = unicodedata.normalize("NFKC", text)
    return _SPACE.sub(" ", unify_letters(text).casefold()).strip()
