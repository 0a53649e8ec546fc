"""Offline machine translation with Argos Translate packages, for the
caseworkers: the person's words into Norwegian, a caseworker's Norwegian
reply into the person's language.

Operators bring `.argosmodel` files (they cannot be downloaded here) and
install them with `python -m caseworkers.translate install FILE...`. Sentences are
split here: Argos' default splitter would download a model on first use.
Where no package (or no pivot through English) exists, `translate` returns
None and the caller shows the original text, marked untranslated.
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
import zipfile
from functools import lru_cache
from pathlib import Path

logger = logging.getLogger(__name__)
_SENTENCE = re.compile(r"(?<=[.!?።؟…])\s+|\n+")
PIVOT = "en"


class UnsafeArchive(ValueError):
    """A package archive that is not a zip or would write outside its folder."""


def split_sentences(text: str) -> list[str]:
    return [s for s in (p.strip() for p in _SENTENCE.split(text)) if s]


class Translator:
    def __init__(self, packages_dir: Path | str) -> None:
        self.packages_dir = Path(packages_dir)
        self.packages_dir.mkdir(parents=True, exist_ok=True)

    def install(self, archive: Path | str) -> Path:
        """Unpack a `.argosmodel` (a zip with one top folder) safely."""
        archive = Path(archive)
        if not zipfile.is_zipfile(archive):
            raise UnsafeArchive(f"{archive.name} is not an Argos package (zip)")
        with zipfile.ZipFile(archive) as zf:
            names = zf.namelist()
            tops = {n.split("/", 1)[0] for n in names}
            root = self.packages_dir.resolve()
            for name in names:
                target = (root / name).resolve()
                if root not in target.parents and target != root:
                    raise UnsafeArchive(f"{archive.name} would write outside the package folder")
            if len(tops) != 1 or not any(n.endswith("metadata.json") for n in names):
                raise UnsafeArchive(f"{archive.name} lacks one top folder with metadata.json")
            zf.extractall(root)
        _packages.cache_clear()
        _cached.cache_clear()
        return root / tops.pop()

    def pairs(self) -> set[tuple[str, str]]:
        return set(_packages(self.packages_dir))

    def translate(self, text: str, source: str, target: str) -> str | None:
        """The translation, or None when no installed package can do it."""
        if not text.strip():
            return text
        if source == target:
            return text
        packages = _packages(self.packages_dir)
        if (source, target) in packages:
            return _apply(packages[(source, target)], text)
        if (source, PIVOT) in packages and (PIVOT, target) in packages:
            middle = _apply(packages[(source, PIVOT)], text)
            return _apply(packages[(PIVOT, target)], middle)
        return None


@lru_cache(maxsize=2048)
def _cached(packages_dir: Path, text: str, source: str, target: str) -> str | None:
    return Translator(packages_dir)._translate(text, source, target)


@lru_cache(maxsize=8)
def _packages(directory: Path) -> dict[tuple[str, str], object]:
    from argostranslate.package import Package

    found: dict[tuple[str, str], object] = {}
    for path in sorted(p for p in directory.iterdir() if p.is_dir()):
        try:
            pkg = Package(path)
        except Exception as exc:  # noqa: BLE001 - a broken package must not stop the others
            logger.warning("Skipping Argos package %s: %s", path.name, exc)
            continue
        if getattr(pkg, "type", "translate") == "translate":
            found[(pkg.from_code, pkg.to_code)] = pkg
    return found


@lru_cache(maxsize=8)
def _ctranslate(model_dir: str):  # type: ignore[no-untyped-def]
    import ctranslate2

    return ctranslate2.Translator(model_dir, device="cpu", inter_threads=1, intra_threads=1)


def _apply(pkg: object, text: str) -> str:
    from argostranslate.sbd import ISentenceBoundaryDetectionModel
    from argostranslate.translate import apply_packaged_translation

    class Sentences(ISentenceBoundaryDetectionModel):
        def split_sentences(self, text: str) -> list[str]:
            return split_sentences(text) or [text]

    translator = _ctranslate(str(Path(pkg.package_path) / "model"))  # type: ignore[attr-defined]
    hypotheses = apply_packaged_translation(pkg, text, translator, Sentences(), num_hypotheses=1)
    return hypotheses[0].value


def main(argv: list[str] | None = None) -> int:
    import os

    parser = argparse.ArgumentParser(description="Install Argos Translate packages for the caseworker desk.")
    parser.add_argument("command", choices=["install", "list"])
    parser.add_argument("files", nargs="*", type=Path)
    parser.add_argument("--dir", type=Path, default=Path(os.environ.get("TRANSLATION_PACKAGES_DIR", "var/argos")))
    args = parser.parse_args(argv)
    translator = Translator(args.dir)
    if args.command == "install":
        for file in args.files:
            print(f"installed {translator.install(file).name}")
    for source, target in sorted(translator.pairs()):
        print(f"{source} -> {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
