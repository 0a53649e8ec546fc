"""Every text a person reads, per language, loaded from `locales/<lang>/*.yml`.

Each entry is `key: {text: "...", reviewed: true|false}`; `reviewed` says
whether a person has checked that translation. Texts use `{name}`
placeholders filled at render time. `nb` and `en` are the reference texts.
Nothing here imports Rasa or Telegram: actions and channels share it.
"""

from __future__ import annotations

import logging
import string
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

logger = logging.getLogger(__name__)

LOCALES_DIR = Path(__file__).resolve().parent
REFERENCE_LANGUAGES = ("en", "nb")
FALLBACK_LANGUAGE = "en"


@dataclass(frozen=True)
class Entry:
    text: str
    reviewed: bool


class MissingText(KeyError):
    """A key that exists in no language: a programming error."""


class Catalog:
    """Texts per language and key, with rendering."""

    def __init__(self, entries: Mapping[str, Mapping[str, Entry]], autonyms: Mapping[str, str]) -> None:
        self._entries = {lang: dict(texts) for lang, texts in entries.items()}
        self.autonyms = dict(autonyms)

    @classmethod
    def load(cls, directory: Path = LOCALES_DIR) -> Catalog:
        entries: dict[str, dict[str, Entry]] = {}
        for lang_dir in sorted(p for p in Path(directory).iterdir() if p.is_dir() and not p.name.startswith(("_", "."))):
            texts: dict[str, Entry] = {}
            for path in sorted(lang_dir.glob("*.yml")):
                data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
                for key, value in data.items():
                    if key in texts:
                        raise ValueError(f"{path}: duplicate key {key!r}")
                    texts[str(key)] = Entry(text=str(value["text"]).strip(), reviewed=bool(value.get("reviewed", False)))
            entries[lang_dir.name] = texts
        autonyms = yaml.safe_load((Path(directory) / "languages.yml").read_text(encoding="utf-8"))
        return cls(entries, autonyms)

    @property
    def languages(self) -> list[str]:
        return list(self._entries)

    def keys(self, lang: str) -> set[str]:
        return set(self._entries.get(lang, {}))

    def entry(self, key: str, lang: str) -> Entry:
        """The entry in `lang`, falling back to English (logged) if missing."""
        texts = self._entries.get(lang) or {}
        if key in texts:
            return texts[key]
        fallback = self._entries.get(FALLBACK_LANGUAGE, {})
        if key in fallback:
            logger.warning("Text %s missing in %s; using %s.", key, lang, FALLBACK_LANGUAGE)
            return fallback[key]
        raise MissingText(key)

    def text(self, key: str, lang: str, **values: object) -> str:
        """The rendered text: placeholders filled from `values`."""
        return self.entry(key, lang).text.format_map(values)

    def has(self, key: str) -> bool:
        return any(key in texts for texts in self._entries.values())

    def items(self) -> Iterator[tuple[str, str, Entry]]:
        for lang, texts in self._entries.items():
            for key, entry in texts.items():
                yield lang, key, entry


def placeholders(text: str) -> set[str]:
    """The `{name}` placeholders a text uses."""
    return {field for _, field, _, _ in string.Formatter().parse(text) if field}
