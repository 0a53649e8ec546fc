"""Writing for SMS: GSM-7 where the text allows it (Norwegian æøå does),
UCS-2 where it must (Arabic, Persian, Tigrinya, Cyrillic), segment
counting, numbered options instead of buttons, and splitting a long answer
on word boundaries into at most N segments, with "MORE" for the rest.
Links are never cut: a URL is one word."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import gsm0338  # noqa: F401  (registers the "gsm03.38" codec)

GSM_SINGLE, GSM_PART = 160, 153
UCS2_SINGLE, UCS2_PART = 70, 67


@dataclass(frozen=True)
class Encoding:
    name: str  # "GSM-7" or "UCS-2"
    units: int  # septets (GSM-7, escapes count 2) or UTF-16 code units
    segments: int


def encoding_of(text: str) -> Encoding:
    try:
        septets = len(text.encode("gsm03.38"))
        single, part, name = GSM_SINGLE, GSM_PART, "GSM-7"
    except UnicodeEncodeError:
        septets = len(text.encode("utf-16-le")) // 2
        single, part, name = UCS2_SINGLE, UCS2_PART, "UCS-2"
    segments = 1 if septets <= single else math.ceil(septets / part)
    return Encoding(name, septets, segments)


def with_options(text: str, titles: Sequence[str], intro: str) -> str:
    """Buttons as numbered options inside the same message."""
    if not titles:
        return text
    lines = [f"{i} {title}" for i, title in enumerate(titles, start=1)]
    return text.rstrip() + "\n\n" + intro + "\n" + "\n".join(lines)


#: An option line ("3 Barnehage"): never split from its label.
OPTION_LINE = re.compile(r"^\d{1,2} \S.*$", re.M)
_GLUE = "\ue000"  # joins an option line's words while splitting (private use: not white space, never in a message)


def split_for_sms(text: str, max_segments: int, more_hint: str) -> list[str]:
    """Parts that each fit in `max_segments` segments; every part but the
    last ends with `more_hint`. Splits only at white space, and never inside
    an option line, so a number always arrives with its label."""
    if encoding_of(text).segments <= max_segments:
        return [text]
    glued = OPTION_LINE.sub(lambda m: m.group(0).replace(" ", _GLUE), text)
    tokens = re.split(r"(\s+)", glued)

    def fits(candidate: str) -> bool:
        return encoding_of(candidate.replace(_GLUE, " ").rstrip() + "\n" + more_hint).segments <= max_segments

    parts: list[str] = []
    current = ""
    for token in tokens:
        candidate = current + token
        if current and not fits(candidate) and token.strip():
            parts.append(current.rstrip())
            current = token
        else:
            current = candidate
    if current.strip():
        parts.append(current.strip())
    parts = [p.replace(_GLUE, " ") for p in parts]
    return [p + "\n" + more_hint for p in parts[:-1]] + parts[-1:]


def options_in(part: str) -> int:
    """The highest option number whose line is in this part (0 if none)."""
    return max((int(line.split(" ", 1)[0]) for line in OPTION_LINE.findall(part)), default=0)
