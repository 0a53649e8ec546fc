"""Translators' exchange: the locale YAML files as gettext PO files, and back.

A municipality's translators and native reviewers work in Weblate, Transifex
or Poedit, which all read gettext PO. `export` writes one PO file per
language; `import` checks the files that come back and writes the
translations into `locales/<lang>/*.yml`, recording who reviewed what. The
YAML files stay the one source of truth: a PO file is only carried out and
back, and a file that does not pass every check changes nothing.

An export directory holds:

    nabo.pot         the template: msgid = the Norwegian (nb) text, no translation
    <lang>.po        en, ar, uk, ru, ti, so, fa: msgctxt = the key,
                     msgid = the Norwegian text, msgstr = the translation
    nb-review/nb.po  the Norwegian texts themselves, for a Norwegian reviewer:
                     msgid = the English text (to compare against), msgstr = the
                     Norwegian text. A separate component in Weblate, whose
                     source language is English.

An entry is `fuzzy` unless a person reviewed it against the current Norwegian
text. When the file comes back, an entry whose text was changed or whose
fuzzy flag was removed is marked `reviewed: true` with `reviewed_by`,
`reviewed_at` and `source_hash` (the hash of the Norwegian text the
translator saw: the msgid; for nb, the new Norwegian text itself). A fuzzy
entry stays unreviewed.

    python -m locales.exchange export [--out var/translations]
    python -m locales.exchange import FILE.po [FILE.po ...] [--reviewer NAME] [--dry-run]
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import os
import re
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from email.utils import parseaddr
from pathlib import Path
from typing import Any

import yaml
from babel.messages.catalog import Catalog as POCatalog
from babel.messages.catalog import Message
from babel.messages.pofile import read_po, write_po
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, ScalarString

from locales.catalog import LOCALES_DIR, SOURCE_LANGUAGE, Entry, Status, placeholders, source_hash

ROOT = LOCALES_DIR.parent
DEFAULT_OUT = ROOT / "var" / "translations"
KNOWLEDGE_FILE = ROOT / "data" / "knowledge" / "answers.yml"
TEMPLATE_NAME = "nabo.pot"
NB_REVIEW_DIR = "nb-review"
COMPARE_LANGUAGE = "en"  # the language shown beside the Norwegian text
# A translation may never lose these: a person in danger must be able to call.
EMERGENCY_NUMBERS = ("113", "112", "110", "116 117")
SAME_AS_SOURCE_MAX = 40  # longer than a button label: the same text as the source is no translation
REVIEW_FIELDS = ("reviewed_by", "reviewed_at", "source_hash")
BABEL_DEFAULT_TRANSLATOR = "FULL NAME <EMAIL@ADDRESS>"
_FAST_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class ImportRefused(Exception):
    """One or more entries failed a check; nothing was written."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = list(problems)


def _round_trip_yaml() -> YAML:
    """A ruamel.yaml that writes a locale file back as it read it: same
    comments, order, quoting and line lengths, so a diff shows only edits."""
    rt = YAML()
    rt.preserve_quotes = True
    rt.width = 1_000_000  # never fold a long text onto several lines
    return rt


@dataclass
class LocaleFile:
    path: Path
    data: dict[str, Any]  # a fast plain read, kept up to date with every edit
    document: CommentedMap | None = None  # the round-trip copy, loaded on the first edit
    changed: bool = False

    @property
    def kind(self) -> str:
        """`answers`, `ui`, `titles`...: decides the length limit."""
        return self.path.stem


class Locales:
    """Every `locales/<lang>/*.yml`: read quickly with libyaml; a file is
    loaded again with ruamel.yaml only when one of its entries is edited."""

    def __init__(self, directory: Path = LOCALES_DIR) -> None:
        self.directory = Path(directory)
        self._yaml = _round_trip_yaml()
        self.files: dict[str, list[LocaleFile]] = {}
        self._where: dict[tuple[str, str], LocaleFile] = {}
        for lang_dir in sorted(p for p in self.directory.iterdir() if p.is_dir() and not p.name.startswith(("_", "."))):
            files = []
            for path in sorted(lang_dir.glob("*.yml")):
                data = yaml.load(path.read_text(encoding="utf-8"), Loader=_FAST_LOADER) or {}
                locale_file = LocaleFile(path, {str(key): value for key, value in data.items()})
                for key in locale_file.data:
                    if (lang_dir.name, key) in self._where:
                        raise ValueError(f"{path}: duplicate key {key!r}")
                    self._where[(lang_dir.name, key)] = locale_file
                files.append(locale_file)
            self.files[lang_dir.name] = files
        self.limits = yaml.safe_load((self.directory / "limits.yml").read_text(encoding="utf-8"))

    @property
    def languages(self) -> list[str]:
        return list(self.files)

    def keys(self, lang: str) -> list[str]:
        """Keys in file order (files by name), as a translator should meet them."""
        return [key for f in self.files.get(lang, []) for key in f.data]

    def file(self, lang: str, key: str) -> LocaleFile | None:
        return self._where.get((lang, key))

    def entry(self, lang: str | None, key: str) -> Entry | None:
        locale_file = self.file(lang, key) if lang else None
        return Entry.from_yaml(locale_file.data[key]) if locale_file else None

    def source_text(self, key: str) -> str:
        entry = self.entry(SOURCE_LANGUAGE, key)
        return entry.text if entry else ""

    def status(self, lang: str, key: str) -> Status:
        entry = self.entry(lang, key)
        return entry.status(self.source_text(key)) if entry else Status.MISSING

    def limit(self, lang: str, key: str) -> int:
        """The length limit of `locales/limits.yml` (as tests/unit/test_locales.py applies it)."""
        locale_file = self.file(lang, key) or self.file(SOURCE_LANGUAGE, key)
        if key.endswith(".button"):
            return int(self.limits["button"])
        if locale_file is not None and locale_file.kind == "answers":
            return int(self.limits["answer"])
        return int(self.limits["default"])

    def document(self, locale_file: LocaleFile) -> CommentedMap:
        if locale_file.document is None:
            locale_file.document = self._yaml.load(locale_file.path.read_text(encoding="utf-8")) or CommentedMap()
        return locale_file.document

    def edit(self, lang: str, key: str, *, text: str | None, review: tuple[str, dt.date, str] | None) -> None:
        """Change one entry in its file's round-trip copy (see `_edit`)."""
        locale_file = self._where[(lang, key)]
        raw = self.document(locale_file)[key]
        _edit(raw, text=text, review=review)
        locale_file.data[key] = dict(raw)
        locale_file.changed = True

    def dump(self, locale_file: LocaleFile) -> str:
        out = io.StringIO()
        self._yaml.dump(self.document(locale_file), out)
        return out.getvalue()


# --- export -------------------------------------------------------------------------------------


def export(
    out_dir: Path = DEFAULT_OUT,
    locales_dir: Path = LOCALES_DIR,
    knowledge_file: Path | None = KNOWLEDGE_FILE,
    now: dt.datetime | None = None,
) -> list[Path]:
    """Write the template, one PO file per translated language and the
    Norwegian review file into `out_dir`; return the paths written."""
    locales = Locales(locales_dir)
    sources = _answer_sources(knowledge_file)
    now = now or dt.datetime.now(dt.timezone.utc)
    out_dir = Path(out_dir)
    written = [_write(out_dir / TEMPLATE_NAME, _catalog(locales, None, sources, now))]
    for lang in locales.languages:
        if lang == SOURCE_LANGUAGE:
            path = out_dir / NB_REVIEW_DIR / f"{lang}.po"
        else:
            path = out_dir / f"{lang}.po"
        written.append(_write(path, _catalog(locales, lang, sources, now)))
    return written


def _catalog(locales: Locales, lang: str | None, sources: Mapping[str, str], now: dt.datetime) -> POCatalog:
    """The PO catalog of `lang` (None: the template)."""
    review_nb = lang == SOURCE_LANGUAGE
    if lang is None:
        about = "Template: msgid is the Norwegian (nb) text; start a new language from it."
    elif review_nb:
        about = (
            "Norwegian (nb) reference texts for review. msgid is the English text, for comparison only; "
            "msgstr is the Norwegian text every other language is translated from."
        )
    else:
        about = f"Translation into {lang}. msgid is the Norwegian (nb) source text; msgstr is the translation."
    catalog = POCatalog(
        locale=lang,
        domain="nabo",
        project="Nabo",
        version=now.date().isoformat(),
        msgid_bugs_address="",
        language_team=lang or "",
        creation_date=now,
        revision_date=now,
        fuzzy=False,
        header_comment=(
            f"# Nabo: texts from locales/{lang or SOURCE_LANGUAGE}/*.yml.\n# {about}\n"
            "# msgctxt is the text's key: never change it. Keep every {placeholder} as it is.\n"
            "# fuzzy: not yet reviewed by a person, or the Norwegian text changed since the review.\n"
            "# Export again after each import: see docs/translating.md."
        ),
    )
    for key in locales.keys(SOURCE_LANGUAGE):
        nb_text = locales.source_text(key)
        english = locales.entry(COMPARE_LANGUAGE, key)
        entry = locales.entry(lang, key) if lang else None
        msgid = (english.text if english else nb_text) if review_nb else nb_text
        comments = []
        if english and lang not in (COMPARE_LANGUAGE, SOURCE_LANGUAGE):
            comments.append(f"English: {english.text}")
        if key in sources:
            comments.append(f"Source: {sources[key]}")
        comments.append(f"At most {locales.limit(lang or SOURCE_LANGUAGE, key)} characters.")
        status = locales.status(lang, key) if lang else Status.MISSING
        if status is Status.STALE and entry is not None:
            comments.append(
                f"The Norwegian text changed after the review of {entry.reviewed_at}: check this translation."
            )
        message = catalog.add(msgid, entry.text if entry else "", context=key, auto_comments=comments)
        _set_flags(message, fuzzy=bool(entry) and status is not Status.REVIEWED, brace=bool(placeholders(nb_text)))
    return catalog


def _set_flags(message: Message, *, fuzzy: bool, brace: bool) -> None:
    """Babel guesses format flags from the msgid ("25 % eller" looks like
    %-formatting to it); ours are known: only `{name}` placeholders."""
    message.flags = {"fuzzy"} if fuzzy else set()
    if brace:
        message.flags.add("python-brace-format")


def _answer_sources(knowledge_file: Path | None) -> dict[str, str]:
    """Answer id -> "URL (checked DATE)", so a translator can read the source."""
    if knowledge_file is None or not Path(knowledge_file).exists():
        return {}
    index = yaml.safe_load(Path(knowledge_file).read_text(encoding="utf-8")) or {}
    return {key: f"{meta['source']} (checked {meta['checked']})" for key, meta in index.items() if "source" in meta}


def _write(path: Path, catalog: POCatalog) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    write_po(buffer, catalog, width=76, omit_header=False)
    path.write_bytes(buffer.getvalue())
    return path


# --- import -------------------------------------------------------------------------------------


@dataclass
class Change:
    lang: str
    key: str
    what: str  # "edited and reviewed", "reviewed", "edited, left fuzzy"


@dataclass
class ImportResult:
    changes: list[Change] = field(default_factory=list)
    stale: list[tuple[str, str]] = field(default_factory=list)  # reviewed against an older Norwegian text
    empty: list[tuple[str, str]] = field(default_factory=list)  # no translation in the file: kept as it was
    written: list[Path] = field(default_factory=list)


def import_po(
    paths: Iterable[Path],
    locales_dir: Path = LOCALES_DIR,
    reviewer: str | None = None,
    lang: str | None = None,
    today: dt.date | None = None,
    dry_run: bool = False,
) -> ImportResult:
    """Check every PO file, then write the translations into the YAML files.

    Raises ImportRefused, naming each bad entry, before anything is written if
    a key is unknown, a placeholder was changed, lost or broken, a text is
    longer than its limit, an emergency number went missing, or no reviewer is
    known for entries that would be marked reviewed.
    """
    locales = Locales(locales_dir)
    today = today or dt.date.today()
    problems: list[str] = []
    files: dict[str, tuple[Path, POCatalog]] = {}
    for path in map(Path, paths):
        try:
            with path.open("rb") as handle:
                catalog = read_po(handle, abort_invalid=True)
        except Exception as error:  # noqa: BLE001 - any parse error is reported, not raised
            problems.append(f"{path.name}: not a readable PO file ({error})")
            continue
        file_lang = lang or _language(catalog, path)
        if file_lang not in locales.languages:
            problems.append(
                f"{path.name}: language {file_lang!r} is not one of {', '.join(locales.languages)}"
                " (set the PO's Language header or pass --lang)"
            )
        elif file_lang in files:
            problems.append(f"{path.name}: a second file for {file_lang} (also {files[file_lang][0].name})")
        else:
            files[file_lang] = (path, catalog)
    result = ImportResult()
    # nb first: the other languages' stale check then sees the new Norwegian texts.
    for file_lang in sorted(files, key=lambda code: code != SOURCE_LANGUAGE):
        path, catalog = files[file_lang]
        who = reviewer or _translator(catalog)
        problems += _apply(locales, file_lang, path.name, catalog, who, today, result)
    if problems:
        raise ImportRefused(problems)
    result.stale = [(c.lang, c.key) for c in result.changes if locales.status(c.lang, c.key) is Status.STALE]
    if not dry_run:
        result.written = _save(locales, [f for files_ in locales.files.values() for f in files_ if f.changed])
    return result


def _language(catalog: POCatalog, path: Path) -> str:
    """The PO's Language header (`fa_AF` -> `fa`), else the file name (`ar.po`)."""
    identifier = catalog.locale_identifier or path.stem
    return re.split(r"[_@-]", identifier)[0]


def _translator(catalog: POCatalog) -> str | None:
    """The name in Last-Translator (its e-mail address only if no name is given)."""
    value = (catalog.last_translator or "").strip()
    if not value or value == BABEL_DEFAULT_TRANSLATOR:
        return None
    name, address = parseaddr(value)
    return name or address or value


def _apply(
    locales: Locales,
    lang: str,
    file_name: str,
    catalog: POCatalog,
    reviewer: str | None,
    today: dt.date,
    result: ImportResult,
) -> list[str]:
    """Check each entry of one PO file and apply it to the loaded YAML; the problems found."""
    problems: list[str] = []
    seen: set[str] = set()
    for message in catalog:
        if not message.id and not message.context:
            continue  # the header
        key = message.context
        where = f"{file_name}: {key or repr(message.id)[:40]}"
        if not key:
            problems.append(f"{where}: no msgctxt: every entry needs its key as msgctxt")
            continue
        if key in seen:
            problems.append(f"{where}: the key appears twice")
            continue
        seen.add(key)
        old = locales.entry(lang, key)
        if old is None or locales.entry(SOURCE_LANGUAGE, key) is None:
            problems.append(f"{where}: unknown key (not in locales/{lang}); keys cannot be added or renamed here")
            continue
        if message.pluralizable or not isinstance(message.string, str):
            problems.append(f"{where}: plural forms are not used in Nabo's texts")
            continue
        text = message.string.strip()
        if not text:
            result.empty.append((lang, key))
            continue
        changed = text != old.text
        # The Norwegian text the reviewer judged against: the msgid; for nb, its own new text.
        seen_hash = source_hash(text if lang == SOURCE_LANGUAGE else str(message.id))
        if message.fuzzy and not changed:
            continue  # not reviewed here; another review is not withdrawn either
        if not message.fuzzy and not changed and old.reviewed and old.source_hash in (None, seen_hash):
            continue  # already reviewed against this same source: nothing new
        entry_problems = _check(locales, lang, key, text, str(message.id))
        if entry_problems:
            problems += [f"{where}: {p}" for p in entry_problems]
            continue
        if message.fuzzy:
            locales.edit(lang, key, text=text, review=None)
            result.changes.append(Change(lang, key, "edited, left fuzzy"))
            continue
        if not reviewer:
            problems.append(f"{where}: reviewed, but no reviewer is known: pass --reviewer NAME or set Last-Translator")
            continue
        locales.edit(lang, key, text=text if changed else None, review=(reviewer, today, seen_hash))
        result.changes.append(Change(lang, key, "edited and reviewed" if changed else "reviewed"))
    return problems


def _check(locales: Locales, lang: str, key: str, text: str, msgid: str) -> list[str]:
    """What is wrong with `text` as the `lang` text of `key`, if anything."""
    problems = []
    source = locales.source_text(key)
    if lang != SOURCE_LANGUAGE and text in (source, msgid) and len(text) > SAME_AS_SOURCE_MAX:
        # A short label may stay as in Norwegian ("NAV"); a sentence never does.
        problems.append(
            "the Norwegian text itself, not a translation (was the file downloaded with the source "
            "filled in for untranslated strings?)"
        )
    try:
        found = placeholders(text)
    except ValueError as error:
        problems.append(f"broken placeholder ({error}); write placeholders exactly as {{name}}")
    else:
        wanted = placeholders(source)
        if found != wanted:
            lost, extra = sorted(wanted - found), sorted(found - wanted)
            detail = "; ".join(
                filter(
                    None,
                    [
                        "missing " + ", ".join(f"{{{p}}}" for p in lost) if lost else "",
                        "unknown " + ", ".join(f"{{{p}}}" for p in extra) if extra else "",
                    ],
                )
            )
            problems.append(f"placeholders changed ({detail}); keep them exactly as in the Norwegian text")
    limit = locales.limit(lang, key)
    if len(text) > limit:
        problems.append(f"{len(text)} characters, more than the limit of {limit}")
    for number in EMERGENCY_NUMBERS:
        if _has_number(source, number) and not _has_number(text, number):
            problems.append(f"the emergency number {number} is missing")
    return problems


def _has_number(text: str, number: str) -> bool:
    return re.search(rf"(?<!\d){re.escape(number)}(?!\d)", text) is not None


def _edit(raw: CommentedMap, *, text: str | None, review: tuple[str, dt.date, str] | None) -> None:
    """Set the text (same quoting as before) and the review record of one entry.

    ruamel keeps a comment that follows an entry (a blank line and a section
    heading) on the entry's last key; it is moved to the new last key so it
    stays where it was in the file.
    """
    last = next(reversed(raw)) if raw else None
    trailing = raw.ca.items.pop(last, None) if last is not None else None
    if text is not None:
        old = raw.get("text")
        raw["text"] = type(old)(text) if isinstance(old, ScalarString) else DoubleQuotedScalarString(text)
    if review is None:
        raw["reviewed"] = False
        for name in REVIEW_FIELDS:
            raw.pop(name, None)
    else:
        by, at, digest = review
        raw["reviewed"] = True
        position = list(raw).index("reviewed") + 1
        for name, value in zip(
            REVIEW_FIELDS, (DoubleQuotedScalarString(by), at, DoubleQuotedScalarString(digest)), strict=True
        ):
            if name in raw:
                raw[name] = value
            else:
                raw.insert(position, name, value)
            position = list(raw).index(name) + 1
    if trailing is not None:
        raw.ca.items[next(reversed(raw))] = trailing


def _save(locales: Locales, locale_files: Sequence[LocaleFile]) -> list[Path]:
    """Write every changed file; each replaces the old one in one step."""
    texts = [(f.path, locales.dump(f)) for f in locale_files]
    for path, text in texts:
        handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
            out.write(text)
        os.chmod(tmp, path.stat().st_mode & 0o777)
        os.replace(tmp, path)
    return [path for path, _ in texts]


# --- command line -------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m locales.exchange", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    export_cmd = commands.add_parser("export", help="write PO files for translators")
    export_cmd.add_argument("--out", type=Path, default=DEFAULT_OUT, help="directory (default: var/translations)")
    import_cmd = commands.add_parser("import", help="check PO files and write their translations into locales/")
    import_cmd.add_argument("files", nargs="+", type=Path, help="PO files (e.g. var/translations/ar.po)")
    import_cmd.add_argument("--reviewer", help="who reviewed (default: the PO's Last-Translator)")
    import_cmd.add_argument("--lang", help="language of the file (default: its Language header, else its name)")
    import_cmd.add_argument("--dry-run", action="store_true", help="check and report, write nothing")
    args = parser.parse_args(argv)
    if args.command == "export":
        for path in export(args.out):
            print(f"wrote {_shown(path)}")
        return 0
    if args.lang and len(args.files) > 1:
        parser.error("--lang applies to one file at a time")
    try:
        result = import_po(args.files, reviewer=args.reviewer, lang=args.lang, dry_run=args.dry_run)
    except ImportRefused as refused:
        print(f"Nothing was imported: {len(refused.problems)} problem(s).", file=sys.stderr)
        for problem in refused.problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    print(_summary(result, args.dry_run))
    return 0


def _summary(result: ImportResult, dry_run: bool) -> str:
    counts: dict[str, dict[str, int]] = {}
    for change in result.changes:
        per_lang = counts.setdefault(change.lang, {})
        per_lang[change.what] = per_lang.get(change.what, 0) + 1
    lines = [
        f"{lang}: " + ", ".join(f"{n} {what}" for what, n in sorted(per.items()))
        for lang, per in sorted(counts.items())
    ]
    if not lines:
        lines.append("No changes: every entry is as in locales/.")
    if result.stale:
        lines.append(f"{len(result.stale)} reviewed against an older Norwegian text (stale, export again):")
        lines += [f"  {lang} {key}" for lang, key in result.stale]
    if result.empty:
        lines.append(f"{len(result.empty)} without a translation in the file (kept as they were).")
    if dry_run:
        lines.append("Dry run: nothing written.")
    lines += [f"wrote {_shown(path)}" for path in result.written]
    return "\n".join(lines)


def _shown(path: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


if __name__ == "__main__":
    raise SystemExit(main())
