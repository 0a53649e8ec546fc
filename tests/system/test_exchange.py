"""The translators' exchange (locales/exchange.py): locale YAML -> PO -> YAML.

Every test works on a copy of `locales/` (or a small synthetic one) in a
temporary directory; the real files are never written.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from babel.messages.pofile import read_po, write_po

from locales.catalog import LOCALES_DIR, Catalog, Entry, Status, source_hash
from locales.exchange import (
    NB_REVIEW_DIR,
    TEMPLATE_NAME,
    ImportRefused,
    Locales,
    export,
    import_po,
    main,
)

TODAY = dt.date(2026, 12, 7)
TRANSLATOR = "Amina Haile <amina@example.org>"


@pytest.fixture()
def locales(tmp_path: Path) -> Path:
    """A copy of the real locale files."""
    return Path(
        shutil.copytree(LOCALES_DIR, tmp_path / "locales", ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    )


@pytest.fixture(scope="module")
def pristine_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One export of the real files (the same as of their copies), made once."""
    out = tmp_path_factory.mktemp("export")
    export(out, locales_dir=LOCALES_DIR)
    return out


@pytest.fixture()
def exported(locales: Path, pristine_export: Path, tmp_path: Path) -> Path:
    """The export of `locales`, for this test to edit like a translator."""
    return Path(shutil.copytree(pristine_export, tmp_path / "po"))


def snapshot(directory: Path) -> dict[Path, bytes]:
    return {path: path.read_bytes() for path in sorted(directory.rglob("*.yml"))}


def po_files(out: Path) -> list[Path]:
    return sorted(out.glob("*.po")) + sorted((out / NB_REVIEW_DIR).glob("*.po"))


def edit_po(
    path: Path,
    key: str,
    *,
    text: str | None = None,
    fuzzy: bool | None = None,
    context: str | None = None,
    translator: str | None = TRANSLATOR,
) -> None:
    """What a translator's tool does to one entry (and to Last-Translator)."""
    with path.open("rb") as handle:
        catalog = read_po(handle)
    message = next(m for m in catalog if m.context == key)
    if text is not None:
        message.string = text
    if fuzzy is not None:
        message.flags = (message.flags | {"fuzzy"}) if fuzzy else (message.flags - {"fuzzy"})
    if context is not None:
        message.context = context
    if translator is not None:
        catalog.last_translator = translator
    with path.open("wb") as handle:
        write_po(handle, catalog)


def yaml_entry(locales: Path, lang: str, key: str) -> Entry:
    entry = Locales(locales).entry(lang, key)
    assert entry is not None
    return entry


# --- export -------------------------------------------------------------------------------------


def test_export_writes_a_template_a_file_per_language_and_the_norwegian_review(locales: Path, exported: Path) -> None:
    languages = sorted(p.name for p in locales.iterdir() if p.is_dir())
    assert sorted(p.stem for p in exported.glob("*.po")) == [lang for lang in languages if lang != "nb"]
    assert (exported / NB_REVIEW_DIR / "nb.po").exists() and (exported / TEMPLATE_NAME).exists()
    catalog = Catalog.load(locales)
    with (exported / "ar.po").open("rb") as handle:
        ar = read_po(handle)
    assert ar.locale_identifier == "ar"
    assert {m.context for m in ar if m.context} == catalog.keys("nb")
    message = next(m for m in ar if m.context == "fastlege/health_check")
    assert message.id == catalog.entry("fastlege/health_check", "nb").text
    assert message.string == catalog.entry("fastlege/health_check", "ar").text
    assert message.fuzzy  # nothing is reviewed yet
    assert f"English: {catalog.entry('fastlege/health_check', 'en').text}" in " ".join(message.auto_comments)


def test_flags_say_brace_placeholders_not_percent_formatting(exported: Path) -> None:
    text = (exported / "ar.po").read_text(encoding="utf-8")
    assert "python-format" not in text.replace("python-brace-format", "")  # "25 %" is not a format string
    with (exported / "ar.po").open("rb") as handle:
        by_key = {m.context: m for m in read_po(handle) if m.context}
    assert "python-brace-format" in by_key["fastlege/health_check"].flags  # {refugee_service}
    assert "python-brace-format" not in by_key["fastlege/change_gp"].flags


def test_the_norwegian_review_file_shows_english_beside_the_norwegian(locales: Path, exported: Path) -> None:
    catalog = Catalog.load(locales)
    with (exported / NB_REVIEW_DIR / "nb.po").open("rb") as handle:
        message = next(m for m in read_po(handle) if m.context == "nav/contact")
    assert message.id == catalog.entry("nav/contact", "en").text
    assert message.string == catalog.entry("nav/contact", "nb").text


# --- round trip ---------------------------------------------------------------------------------


def test_round_trip_without_edits_leaves_every_locale_file_byte_identical(locales: Path, exported: Path) -> None:
    before = snapshot(locales)
    result = import_po(po_files(exported), locales_dir=locales, today=TODAY)
    assert result.changes == [] and result.written == []
    assert snapshot(locales) == before


def test_the_writer_reproduces_every_real_locale_file_exactly() -> None:
    """When one entry changes its whole file is written again: everything else must come out as it was."""
    locales = Locales(LOCALES_DIR)
    for files in locales.files.values():
        for locale_file in files:
            assert locales.dump(locale_file) == locale_file.path.read_text(encoding="utf-8"), locale_file.path


def test_an_edited_translation_lands_reviewed_with_who_when_and_source_hash(locales: Path, exported: Path) -> None:
    key = "fastlege/health_check"
    nb_text = Catalog.load(locales).entry(key, "nb").text
    old = (locales / "ar" / "answers.yml").read_text(encoding="utf-8")
    others = {p: b for p, b in snapshot(locales).items() if p.name != "answers.yml" or p.parent.name != "ar"}
    new_text = "نص جديد مع {refugee_service} (خدمة اللاجئين)."
    edit_po(exported / "ar.po", key, text=new_text, fuzzy=False)

    result = import_po(po_files(exported), locales_dir=locales, today=TODAY)

    assert [(c.lang, c.key, c.what) for c in result.changes] == [("ar", key, "edited and reviewed")]
    entry = yaml_entry(locales, "ar", key)
    assert entry == Entry(new_text, True, "Amina Haile", TODAY, source_hash(nb_text))
    assert Catalog.load(locales).status(key, "ar") is Status.REVIEWED
    new = (locales / "ar" / "answers.yml").read_text(encoding="utf-8")
    diff = [line for line in difflib.ndiff(old.splitlines(), new.splitlines()) if line[:1] in "+-"]
    assert diff == [
        f'-   text: "{Catalog.load(LOCALES_DIR).entry(key, "ar").text}"',
        f'+   text: "{new_text}"',
        "-   reviewed: false",
        "+   reviewed: true",
        '+   reviewed_by: "Amina Haile"',
        f"+   reviewed_at: {TODAY.isoformat()}",
        f'+   source_hash: "{source_hash(nb_text)}"',
    ]
    assert {p: b for p, b in snapshot(locales).items() if p in others} == others


def test_removing_fuzzy_marks_the_text_reviewed_by_the_named_reviewer(locales: Path, exported: Path) -> None:
    edit_po(exported / "uk.po", "greet.again", fuzzy=False, translator="")
    result = import_po([exported / "uk.po"], locales_dir=locales, reviewer="Olena K.", today=TODAY)
    assert [(c.key, c.what) for c in result.changes] == [("greet.again", "reviewed")]
    entry = yaml_entry(locales, "uk", "greet.again")
    assert (
        entry.reviewed
        and entry.reviewed_by == "Olena K."
        and entry.text == Catalog.load(LOCALES_DIR).entry("greet.again", "uk").text
    )
    # A second import of the same file changes nothing more.
    before = snapshot(locales)
    assert import_po([exported / "uk.po"], locales_dir=locales, reviewer="Someone else", today=TODAY).changes == []
    assert snapshot(locales) == before


def test_a_fuzzy_edit_lands_but_stays_unreviewed(locales: Path, exported: Path) -> None:
    edit_po(exported / "ru.po", "greet.again", text="Снова здравствуйте! Чем помочь?", fuzzy=True)
    import_po([exported / "ru.po"], locales_dir=locales, today=TODAY)
    entry = yaml_entry(locales, "ru", "greet.again")
    assert entry == Entry("Снова здравствуйте! Чем помочь?", False)


def test_a_fuzzy_edit_of_a_reviewed_text_withdraws_the_review(locales: Path, exported: Path) -> None:
    edit_po(exported / "ru.po", "greet.again", fuzzy=False)
    import_po([exported / "ru.po"], locales_dir=locales, today=TODAY)
    assert yaml_entry(locales, "ru", "greet.again").reviewed
    edit_po(exported / "ru.po", "greet.again", text="Снова здравствуйте!", fuzzy=True)
    import_po([exported / "ru.po"], locales_dir=locales, today=TODAY)
    assert yaml_entry(locales, "ru", "greet.again") == Entry("Снова здравствуйте!", False)


# --- refusals -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "text", "context", "expected"),
    [
        ("fastlege/health_check", "Спросите {refugee_servce}.", None, "placeholders changed"),
        ("fastlege/health_check", "Спросите {refugee_service.", None, "broken placeholder"),
        ("fastlege/health_check", "Спросите в коммуне.", None, "missing {refugee_service}"),
        ("greet.again", "Привет!", "greet.hello_again", "unknown key"),
        ("greet.again", "Привет! " * 100, None, "more than the limit of 700"),
        ("topic.nav.button", "NAV " * 11, None, "more than the limit of 40"),
        ("fastlege/legevakt", "Звоните 113.", None, "emergency number 116 117 is missing"),
        ("greet.welcome", None, None, "the Norwegian text itself"),
    ],
)
def test_a_damaged_entry_is_refused_by_name_and_nothing_is_written(
    locales: Path, exported: Path, key: str, text: str | None, context: str | None, expected: str
) -> None:
    edit_po(
        exported / "ru.po", "greet.again" if context is None else "topic.nav.button", text="Хорошая правка", fuzzy=False
    )
    if text is None:  # the source filled in for a translation
        text = Catalog.load(LOCALES_DIR).entry(key, "nb").text
    edit_po(exported / "ru.po", key, text=text, fuzzy=False, context=context)
    edit_po(exported / "ar.po", "greet.again", text="مرحبًا مجددًا!", fuzzy=False)  # a good file in the same run
    before = snapshot(locales)
    with pytest.raises(ImportRefused) as refused:
        import_po(po_files(exported), locales_dir=locales, today=TODAY)
    assert len(refused.value.problems) == 1
    assert refused.value.problems[0].startswith(f"ru.po: {context or key}: ") and expected in refused.value.problems[0]
    assert snapshot(locales) == before


def test_reviewing_needs_a_reviewer(locales: Path, exported: Path) -> None:
    edit_po(exported / "so.po", "greet.again", fuzzy=False, translator="")
    before = snapshot(locales)
    with pytest.raises(ImportRefused, match="so.po: greet.again: .*--reviewer"):
        import_po([exported / "so.po"], locales_dir=locales, today=TODAY)
    assert snapshot(locales) == before


def test_a_file_in_a_language_nabo_does_not_have_is_refused(locales: Path, exported: Path, tmp_path: Path) -> None:
    text = (exported / "so.po").read_text(encoding="utf-8").replace('"Language: so\\n"', '"Language: de\\n"')
    (tmp_path / "de.po").write_text(text, encoding="utf-8")
    with pytest.raises(ImportRefused, match="language 'de'"):
        import_po([tmp_path / "de.po"], locales_dir=locales, today=TODAY)


# --- stale translations -------------------------------------------------------------------------


def test_a_review_goes_stale_when_the_norwegian_text_changes(locales: Path, exported: Path, tmp_path: Path) -> None:
    key = "greet.again"
    edit_po(exported / "fa.po", key, fuzzy=False)
    import_po([exported / "fa.po"], locales_dir=locales, today=TODAY)
    assert Catalog.load(locales).status(key, "fa") is Status.REVIEWED

    # The Norwegian reviewer rewrites the source text.
    edit_po(exported / NB_REVIEW_DIR / "nb.po", key, text="Hei igjen! Hva lurer du på?", fuzzy=False)
    import_po([exported / NB_REVIEW_DIR / "nb.po"], locales_dir=locales, today=TODAY)
    catalog = Catalog.load(locales)
    assert catalog.status(key, "nb") is Status.REVIEWED
    assert catalog.status(key, "fa") is Status.STALE

    # A new export asks the translator to look again; un-fuzzying it makes it current.
    again = tmp_path / "again"
    export(again, locales_dir=locales)
    with (again / "fa.po").open("rb") as handle:
        message = next(m for m in read_po(handle) if m.context == key)
    assert message.fuzzy and message.id == "Hei igjen! Hva lurer du på?"
    assert any("Norwegian text changed" in c for c in message.auto_comments)
    edit_po(again / "fa.po", key, fuzzy=False)
    import_po([again / "fa.po"], locales_dir=locales, today=TODAY)
    assert Catalog.load(locales).status(key, "fa") is Status.REVIEWED


def test_a_translation_made_from_an_older_norwegian_text_is_stale_at_once(locales: Path, exported: Path) -> None:
    key = "greet.again"
    edit_po(exported / NB_REVIEW_DIR / "nb.po", key, text="Hei igjen! Hva lurer du på?", fuzzy=False)
    edit_po(exported / "ti.po", key, text="ሰላም ደጊምና!", fuzzy=False)  # translated from the old msgid
    result = import_po([exported / "ti.po", exported / NB_REVIEW_DIR / "nb.po"], locales_dir=locales, today=TODAY)
    assert result.stale == [("ti", key)]
    assert Catalog.load(locales).status(key, "ti") is Status.STALE


def test_a_hand_set_review_without_hash_counts_as_reviewed() -> None:
    assert Entry("x", True).status("anything") is Status.REVIEWED
    assert Entry("x", True, "A", TODAY, source_hash("old")).status("new") is Status.STALE
    assert Entry("x", False).status("x") is Status.UNREVIEWED


# --- YAML layout --------------------------------------------------------------------------------

SYNTHETIC = {
    "nb": '# Norsk\na.one:\n  text: "Hei {name}"\n  reviewed: false\n\n# Knapper\nb.two.button:\n  text: "Ja"\n  reviewed: false\n',
    "en": '# English\na.one:\n  text: "Hi {name}"\n  reviewed: false\n\n# Buttons\nb.two.button:\n  text: "Yes"\n  reviewed: false\n',
    "ar": '# Arabic\na.one:\n  text: "مرحبا {name}"\n  reviewed: false\n\n# Buttons\nb.two.button:\n  text: "نعم"\n  reviewed: false\n',
}


def test_a_comment_after_an_entry_stays_where_it_was(tmp_path: Path) -> None:
    locales = tmp_path / "locales"
    for lang, text in SYNTHETIC.items():
        (locales / lang).mkdir(parents=True)
        (locales / lang / "ui.yml").write_text(text, encoding="utf-8")
    shutil.copy(LOCALES_DIR / "limits.yml", locales / "limits.yml")
    (locales / "languages.yml").write_text("nb: Norsk\nen: English\nar: العربية\n", encoding="utf-8")
    export(tmp_path / "po", locales_dir=locales, knowledge_file=None)
    edit_po(tmp_path / "po" / "ar.po", "a.one", text="أهلا {name}", fuzzy=False)
    import_po([tmp_path / "po" / "ar.po"], locales_dir=locales, today=TODAY)
    assert (locales / "ar" / "ui.yml").read_text(encoding="utf-8") == (
        '# Arabic\na.one:\n  text: "أهلا {name}"\n  reviewed: true\n  reviewed_by: "Amina Haile"\n'
        f'  reviewed_at: 2026-12-07\n  source_hash: "{source_hash("Hei {name}")}"\n\n'
        '# Buttons\nb.two.button:\n  text: "نعم"\n  reviewed: false\n'
    )
    # Withdrawing the review removes the record; the comment moves back.
    edit_po(tmp_path / "po" / "ar.po", "a.one", text="أهلاً {name}", fuzzy=True)
    import_po([tmp_path / "po" / "ar.po"], locales_dir=locales, today=TODAY)
    assert (locales / "ar" / "ui.yml").read_text(encoding="utf-8") == SYNTHETIC["ar"].replace("مرحبا", "أهلاً")


# --- command line -------------------------------------------------------------------------------


def test_command_line_export_and_import(
    locales: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("locales.exchange.export", lambda out: export(out, locales_dir=locales))
    monkeypatch.setattr("locales.exchange.import_po", lambda files, **kw: import_po(files, locales_dir=locales, **kw))
    assert main(["export", "--out", str(tmp_path / "po")]) == 0
    edit_po(tmp_path / "po" / "en.po", "greet.again", fuzzy=False)
    assert main(["import", str(tmp_path / "po" / "en.po"), "--dry-run"]) == 0
    assert "en: 1 reviewed" in capsys.readouterr().out and not yaml_entry(locales, "en", "greet.again").reviewed
    edit_po(tmp_path / "po" / "en.po", "greet.again", text="Hello {again", fuzzy=False)
    assert main(["import", str(tmp_path / "po" / "en.po")]) == 1
    assert "en.po: greet.again: broken placeholder" in capsys.readouterr().err


# --- real gettext tools and the guide ------------------------------------------------------------

GETTEXT = shutil.which("msgfmt") and shutil.which("msgcat")


@pytest.mark.skipif(not GETTEXT, reason="GNU gettext (msgfmt, msgcat) is not installed")
def test_gnu_gettext_accepts_the_files_and_its_rewrite_imports_as_no_change(locales: Path, exported: Path) -> None:
    for path in [*po_files(exported), exported / TEMPLATE_NAME]:
        # -c checks the header and every {placeholder} against the msgid (python-brace-format), fuzzy ones too.
        checked = subprocess.run(["msgfmt", "-c", "--use-fuzzy", "-o", "/dev/null", str(path)], capture_output=True)
        assert checked.returncode == 0, checked.stderr.decode()
        # Translation tools write the file again in their own layout (here: unwrapped lines).
        subprocess.run(["msgcat", "--no-wrap", "-o", str(path), str(path)], check=True)
    before = snapshot(locales)
    assert import_po(po_files(exported), locales_dir=locales, today=TODAY).changes == []
    assert snapshot(locales) == before


def test_the_guide_uses_real_make_targets_and_options() -> None:
    guide = (LOCALES_DIR.parent / "docs" / "translating.md").read_text(encoding="utf-8")
    makefile = (LOCALES_DIR.parent / "Makefile").read_text(encoding="utf-8")
    targets = set(re.findall(r"^([\w-]+):", makefile, flags=re.MULTILINE))
    assert set(re.findall(r"make ([\w-]+)", guide)) <= targets
    for variable in re.findall(r"\b([A-Z_]+)=", guide):
        assert f"$({variable})" in makefile, variable
    assert "var/translations" in guide and NB_REVIEW_DIR in guide and TEMPLATE_NAME in guide
