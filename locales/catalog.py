"""Every text a person reads, per language, loaded from `locales/<lang>/*.yml`.

Each entry is `key: {text: "...", reviewed: true|false}`; `reviewed` says
whether a person has checked that translation. A review made through the
translators' exchange (`locales/exchange.py`) also records `reviewed_by`,
`reviewed_at` and `source_hash`: a short hash of the Norwegian (nb) text the
reviewer saw, so a translation whose Norwegian source changed later is known
to be stale. Texts use `{name}` placeholders filled at render time. `nb` is
the source every language is translated from; `nb` and `en` are the reference
texts. Nothing here imports Rasa or Telegram: actions and channels share it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import string
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import yaml

logger = logging.getLogger(__name__)

LOCALES_DIR = Path(__file__).resolve().parent
REFERENCE_LANGUAGES = ("en", "nb")
FALLBACK_LANGUAGE = "en"
SOURCE_LANGUAGE = "nb"
# libyaml's loader reads the 24 locale files ten times faster than the pure-Python one.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def source_hash(text: str) -> str:
    """A short, stable fingerprint of a source text: recorded at review time,
    compared later to tell whether the source changed since."""
    return hashlib.sha256(text.strip().encode("utf-8")).hexdigest()[:12]


class Status(str, Enum):
    """Where a translation stands, as translators and `make coverage` see it."""

    REVIEWED = "reviewed"  # checked by a person against the current source
    STALE = "stale"  # checked, but the Norwegian source changed since
    UNREVIEWED = "unreviewed"  # never checked by a person
    MISSING = "missing"  # no text in this language


@dataclass(frozen=True)
class Entry:
    text: str
    reviewed: bool
    reviewed_by: str | None = None
    reviewed_at: dt.date | None = None
    source_hash: str | None = None

    @classmethod
    def from_yaml(cls, value: Mapping[str, Any]) -> Entry:
        """The entry as written in a locale file (`text`, `reviewed`, optional review record)."""
        at = value.get("reviewed_at")
        return cls(
            text=str(value["text"]).strip(),
            reviewed=bool(value.get("reviewed", False)),
            reviewed_by=str(value["reviewed_by"]) if value.get("reviewed_by") is not None else None,
            reviewed_at=at if isinstance(at, dt.date) or at is None else dt.date.fromisoformat(str(at)),
            source_hash=str(value["source_hash"]) if value.get("source_hash") is not None else None,
        )

    def status(self, source_text: str) -> Status:
        """Reviewed, stale or unreviewed against the current nb `source_text`.

        A review without a recorded hash (set by hand) cannot go stale: it counts
        as reviewed.
        """
        if not self.reviewed:
            return Status.UNREVIEWED
        if self.source_hash is not None and self.source_hash != source_hash(source_text):
            return Status.STALE
        return Status.REVIEWED


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
                data = yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER) or {}
                for key, value in data.items():
                    if key in texts:
                        raise ValueError(f"{path}: duplicate key {key!r}")
                    texts[str(key)] = Entry.from_yaml(value)
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

    def status(self, key: str, lang: str) -> Status:
        """The review status of `key` in `lang`, judged against the nb source."""
        entry = self._entries.get(lang, {}).get(key)
        if entry is None:
            return Status.MISSING
        source = self._entries.get(SOURCE_LANGUAGE, {}).get(key)
        return entry.status(source.text if source else entry.text)

    def items(self) -> Iterator[tuple[str, str, Entry]]:
        for lang, texts in self._entries.items():
            for key, entry in texts.items():
                yield lang, key, entry


def placeholders(text: str) -> set[str]:
    """The `{name}` placeholders a text uses."""
    return {field for _, field, _, _ in string.Formatter().parse(text) if field}
