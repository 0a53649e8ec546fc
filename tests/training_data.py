"""Reads the training data for tests (not a test module)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Example:
    text: str
    intent: str
    lang: str
    file: str

    @property
    def topic(self) -> str:
        return self.intent.split("/", 1)[0]


@lru_cache(maxsize=1)
def blocks() -> tuple[tuple[str, dict], ...]:
    out = []
    for path in sorted((ROOT / "data" / "nlu").glob("*.yml")):
        for block in yaml.safe_load(path.read_text(encoding="utf-8"))["nlu"]:
            out.append((path.stem, block))
    return tuple(out)


@lru_cache(maxsize=1)
def examples() -> tuple[Example, ...]:
    out = []
    for file, block in blocks():
        lang = (block.get("metadata") or {}).get("lang", "")
        for line in block["examples"].splitlines():
            line = line.strip()
            if line.startswith("- "):
                out.append(Example(line[2:].strip(), block["intent"], lang, file))
    return tuple(out)
