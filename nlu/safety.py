"""The emergency safety net: per-language patterns that catch danger to life
or safety whatever the statistical model thinks.

The model can be wrong or unsure; a person who writes "my husband has a
knife" must still get 112 at once. Patterns live in `data/safety/<lang>.yml`
(data, not code) and are matched against the normalised text in every
language at once, because language detection itself can be wrong on a short,
panicked message.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

from nlu.text import normalize, unify_letters

# The kinds of danger, each with its own help (actions/emergency.py):
# suicide (and self-harm), violence (incl. threats and sexual violence),
# poisoning (overdose, swallowed medicine or chemicals), medical (breathing,
# unconscious, chest pain, bleeding, seizure, stroke, drowning, accident),
# missing (a missing child or person), fire (fire, smoke, gas), child (a child
# exposed to violence or neglect). `general` is any other danger.
KINDS = ("suicide", "violence", "poisoning", "medical", "missing", "fire", "child", "general")


#: Languages whose words people mix into every language (Norwegian around
#: them, English as a lingua franca): their patterns are always tried.
SHARED_LANGUAGES = ("nb", "en")


def _structure(pattern: str) -> Iterator[tuple[int, str, int]]:
    """(index, character, group depth after it) for each character that is
    not escaped and not inside a character class."""
    depth, i, in_class = 0, 0, False
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            i += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        else:
            depth += (char == "(") - (char == ")")
            yield i, char, depth
        i += 1


def _first_group_end(pattern: str) -> int:
    """Index of the parenthesis closing the group the pattern opens with, or -1."""
    return next((i for i, char, depth in _structure(pattern) if char == ")" and depth == 0), -1)


def _top_level_bar(pattern: str) -> int:
    """Index of the first `|` outside any group or class, or -1."""
    return next((i for i, char, depth in _structure(pattern) if char == "|" and depth == 0), -1)


def exclusion_last(pattern: str) -> str:
    """`(?!.*X)Y...` as `(?=Y)(?!.*X)...` (also with several leading
    exclusions): the same matches, but an exclusion, which scans to the end
    of the message, runs only where the danger words match instead of at
    every position (for a handful of such patterns, most of the safety
    net's time on a long message)."""
    exclusions, rest = "", pattern
    while rest.startswith("(?!.*"):
        end = _first_group_end(rest)
        if end < 0:
            return pattern
        exclusions, rest = exclusions + rest[: end + 1], rest[end + 1:]
    bar = _top_level_bar(rest)
    first, others = (rest, "") if bar < 0 else (rest[:bar], rest[bar:])
    if not exclusions or not first:
        return pattern
    return f"(?={first}){exclusions}{others}"


@dataclass(frozen=True)
class SafetyMatch:
    language: str
    pattern: str
    kind: str = "general"


class SafetyNet:
    """Compiled emergency patterns for all languages."""

    def __init__(self, patterns: Iterable[tuple[str, str] | tuple[str, str, str]]) -> None:
        self._compiled: list[tuple[str, str, str, re.Pattern[str]]] = []
        self._orders: dict[tuple[str | None, bool], list[tuple[str, str, str, re.Pattern[str]]]] = {}
        for language, pattern, *kind in patterns:
            regex = re.compile(exclusion_last(unify_letters(pattern)), re.IGNORECASE | re.UNICODE)
            self._compiled.append((language, pattern, kind[0] if kind else "general", regex))

    @classmethod
    def from_directory(cls, directory: Path) -> SafetyNet:
        """Load every `<lang>.yml` in the directory; a bad pattern fails loudly
        at start-up rather than silently missing emergencies later."""
        pairs: list[tuple[str, str, str]] = []
        for path in sorted(Path(directory).glob("*.yml")):
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            language = data.get("language", path.stem)
            for pattern in data.get("patterns") or []:
                pairs.append((language, str(pattern), "general"))
            for kind, patterns in (data.get("kinds") or {}).items():
                if kind not in KINDS:
                    raise ValueError(f"{path}: unknown danger kind {kind!r} (known: {', '.join(KINDS)})")
                pairs.extend((language, str(pattern), kind) for pattern in patterns or [])
        if not pairs:
            raise ValueError(f"no emergency patterns found in {directory}")
        return cls(pairs)

    def __len__(self) -> int:
        return len(self._compiled)

    def _ordered(self, prefer: str | None, reliable: bool) -> list[tuple[str, str, str, re.Pattern[str]]]:
        """The patterns in the order `match` tries them, built once per
        (language, reliable) instead of on every message."""
        key = (prefer, reliable)
        if key not in self._orders:
            ordered = self._compiled
            if prefer:
                ordered = [c for c in ordered if c[0] == prefer] + [c for c in ordered if c[0] != prefer]
                if reliable:
                    ordered = [c for c in ordered if c[0] in (prefer, *SHARED_LANGUAGES)]
            self._orders[key] = ordered
        return self._orders[key]

    def match(self, text: str, prefer: str | None = None, reliable: bool = False) -> SafetyMatch | None:
        """The first pattern that matches the message, or None.

        `prefer`: the detected language, whose patterns are tried first (the
        kind of danger comes from the language the person wrote in). With a
        `reliable` detection only that language's patterns and the shared
        ones (Norwegian and English words are mixed into every language) are
        tried, so a loanword pattern written for one language cannot raise
        an alarm on another; an unsure detection (a short, panicked message)
        tries every language."""
        normalized = normalize(text)
        for language, pattern, kind, regex in self._ordered(prefer, reliable):
            if regex.search(normalized):
                return SafetyMatch(language, pattern, kind)
        return None
