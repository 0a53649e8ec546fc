"""The letter reader: "What does this letter say?" (issue 14).

`read_letter(data, filename, mime)` reads a letter's PDF or photo offline
(pypdfium2, Tesseract) and returns a `Reading`: its text, sender, kind and
the facts a person must act on, or raises a `LetterError` whose `code` says
why not. `explain(reading, lang, today)` turns a reading into an
`Explanation` in the person's language, built only from
`locales/<lang>/letters.yml`. Nothing here stores or logs a letter.
"""

from letters.errors import CutOff, LetterError, NotALetter, TooBig, TooManyPages, Unreadable, UnsupportedType
from letters.explain import Choice, Explanation, error_message, explain
from letters.read import Limits
from letters.reading import Reading, read_letter

__all__ = [
    "Choice", "CutOff", "Explanation", "LetterError", "Limits", "NotALetter", "Reading", "TooBig", "TooManyPages",
    "Unreadable", "UnsupportedType", "error_message", "explain", "read_letter",
]
