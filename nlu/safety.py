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
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml

from nlu.text import normalize, unify_letters


@dataclass(frozen=True)
class SafetyMatch:
    language: str
    pattern: str


class SafetyNet:
    """Compiled emergency patterns for all languages."""

    def __init__(self, patterns: Iterable[tuple[str, str]]) -> None:
        self._compiled: list[tuple[str, str, re.Pattern[str]]] = []
        for language, pattern in patterns:
            regex = re.compile(unify_letters(pattern), re.IGNORECASE | re.UNICODE)
            self._compiled.append((language, pattern, regex))

    @classmethod
    def from_directory(cls, directory: Path) -> SafetyNet:
        """Load every `<lang>.yml` in the directory; a bad pattern fails loudly
        at start-up rather than silently missing emergencies later."""
        pairs: list[tuple[str, str]] = []
        for path in sorted(Path(directory).glob("*.yml")):
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            language = data.get("language", path.stem)
            for pattern in data.get("patterns") or []:
                pairs.append((language, str(pattern)))
        if not pairs:
            raise ValueError(f"no emergency patterns found in {directory}")
        return cls(pairs)

    def __len__(self) -> int:
        return len(self._compiled)

    def match(self, text: str) -> SafetyMatch | None:
        """The first pattern that matches the message, or None."""
        normalized = normalize(text)
        for language, pattern, regex in self._compiled:
            if regex.search(normalized):
                return SafetyMatch(language, pattern)
        return None
