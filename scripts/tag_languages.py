"""Adds `metadata: {lang: <code>}` to every intent block of data/nlu/<code>.yml
that lacks it. The language detector learns from this metadata; run after
adding examples in a new file (tests/unit/test_training_data.py checks it)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def tag(path: Path) -> int:
    lang = path.stem
    lines = path.read_text(encoding="utf-8").splitlines()
    out, added = [], 0
    for i, line in enumerate(lines):
        out.append(line)
        if re.match(r"^- intent: ", line):
            following = lines[i + 1] if i + 1 < len(lines) else ""
            if not following.strip().startswith("metadata:"):
                out += ["  metadata:", f"    lang: {lang}"]
                added += 1
    path.write_text("\n".join(out) + "\n", encoding="utf-8")
    return added


if __name__ == "__main__":
    for p in sorted((ROOT / "data" / "nlu").glob("*.yml")):
        print(p.name, tag(p))
    sys.exit(0)
