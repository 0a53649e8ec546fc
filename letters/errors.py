"""Why a letter could not be read, as typed errors.

Each error has a `code`; the text a person reads for it is
`letter.error.<code>` in `locales/<lang>/letters.yml`, so a channel can tell
the person what to do (take the photo again in better light, send fewer
pages, ...) in their language. Messages never contain the letter's text.
"""

from __future__ import annotations


class LetterError(Exception):
    """The letter could not be read or understood; `code` names the reason."""

    code = "unreadable"

    def __init__(self, detail: str = "") -> None:
        super().__init__(detail or self.code)
        self.detail = detail


class TooBig(LetterError):
    """The file, or the image's pixel count, is over the limit."""

    code = "too_big"


class TooManyPages(LetterError):
    """The PDF has more pages than the reader takes."""

    code = "too_many_pages"


class UnsupportedType(LetterError):
    """Not a PDF or an image the reader knows (by its bytes, not its name)."""

    code = "unsupported_type"


class Unreadable(LetterError):
    """Too dark, blurred or faint: the OCR is not sure of what it read."""

    code = "unreadable"


class CutOff(LetterError):
    """Lines of text run off the edge of the photo: part of the letter is missing."""

    code = "cut_off"


class NotALetter(LetterError):
    """Readable, but nothing in it looks like a letter (no text, or no letter's parts)."""

    code = "not_a_letter"


ERROR_CODES = tuple(cls.code for cls in (TooBig, TooManyPages, UnsupportedType, Unreadable, CutOff, NotALetter))
