"""Show what the emergency safety net misses or over-catches in a YAML file.

    python -m scripts.check_safety [--lang ar] [FILE ...]

FILE is Rasa NLU training data (default: data/nlu/*.yml) or a labelled file
(`examples: [{text, lang, topic, kind?}]`). Prints emergencies no pattern
catches, other messages a pattern catches, and kinds that disagree. A tool
for whoever writes patterns, not a test.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from nlu.safety import SafetyNet

ROOT = Path(__file__).resolve().parent.parent


def labelled(path: Path) -> list[dict]:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if "examples" in data:
        return list(data["examples"])
    out = []
    for block in data.get("nlu") or []:
        lang = (block.get("metadata") or {}).get("lang", "")
        intent = block.get("intent", "")
        for line in (block.get("examples") or "").splitlines():
            text = line.strip()[2:].strip() if line.strip().startswith("- ") else ""
            if text:
                kind = intent.split("/", 1)[1] if intent.startswith("emergency/") else None
                out.append({"text": text, "lang": lang, "topic": intent.split("/", 1)[0], "kind": kind})
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("files", nargs="*", type=Path)
    ap.add_argument("--lang")
    ap.add_argument("--reliable", action="store_true",
                    help="as for a message whose language was detected reliably: its own and the shared patterns only")
    a = ap.parse_args()
    net = SafetyNet.from_directory(ROOT / "data" / "safety")
    files = a.files or sorted((ROOT / "data" / "nlu").glob("*.yml"))
    missed = false = wrong_kind = total = 0
    for path in files:
        for ex in labelled(path):
            if a.lang and ex.get("lang") != a.lang:
                continue
            total += 1
            lang = ex.get("lang")
            match = net.match(str(ex["text"]), prefer=lang, reliable=bool(lang) and a.reliable)
            if ex["topic"] == "emergency" and match is None:
                missed += 1
                print(f"MISSED  [{ex.get('lang')}/{ex.get('kind')}] {ex['text']}")
            elif ex["topic"] != "emergency" and match is not None:
                false += 1
                print(f"FALSE   [{ex.get('lang')}/{ex['topic']}] {ex['text']}\n        by {match.language}/{match.kind}: {match.pattern[:90]}")
            elif match is not None and ex.get("kind") and match.kind not in (ex["kind"], "general"):
                wrong_kind += 1
                print(f"KIND    [{ex.get('lang')}] want {ex['kind']}, got {match.kind}: {ex['text']}")
    print(f"{total} messages: {missed} emergencies missed, {false} false alarms, {wrong_kind} other kind")
    return 0


if __name__ == "__main__":
    sys.exit(main())
