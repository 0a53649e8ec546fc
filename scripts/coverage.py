"""`make coverage`: the knowledge base's coverage report: answers per topic,
languages complete, share reviewed by a person, answers whose checked date
is more than a year old, and answers no training example reaches."""

from __future__ import annotations

import datetime as dt
import sys
from collections import Counter, defaultdict
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from locales.catalog import Catalog  # noqa: E402

LANGUAGES = ("nb", "en", "ar", "uk", "ru", "ti", "so", "fa")


def training_intents() -> Counter:
    counts: Counter = Counter()
    for path in (ROOT / "data" / "nlu").glob("*.yml"):
        for block in yaml.safe_load(path.read_text(encoding="utf-8"))["nlu"]:
            counts[block["intent"]] += sum(1 for line in block["examples"].splitlines() if line.strip().startswith("- "))
    return counts


def report(today: dt.date | None = None) -> tuple[str, dict]:
    today = today or dt.date.today()
    answers = yaml.safe_load((ROOT / "data" / "knowledge" / "answers.yml").read_text(encoding="utf-8"))
    catalog = Catalog.load()
    per_topic = Counter(a.split("/")[0] for a in answers)
    complete = {lang: sum(1 for a in answers if a in catalog.keys(lang)) for lang in LANGUAGES}
    reviewed = defaultdict(int)
    for lang in LANGUAGES:
        for a in answers:
            if a in catalog.keys(lang) and catalog.entry(a, lang).reviewed:
                reviewed[lang] += 1
    checked = {a: v["checked"] if isinstance(v["checked"], dt.date) else dt.date.fromisoformat(str(v["checked"]))
               for a, v in answers.items()}
    stale = sorted(a for a, d in checked.items() if (today - d).days > 365)
    intents = training_intents()
    # A topic's default answer is reached by the plain topic intent too.
    unreachable = sorted(a for a in answers if intents[a] == 0
                         and not (answers[a].get("default") and intents[a.split("/")[0]] > 0))
    n = len(answers)
    lines = [f"Knowledge base coverage ({today.isoformat()})", "", f"answers: {n}", "", "answers per topic:"]
    lines += [f"  {topic:14} {count}" for topic, count in sorted(per_topic.items())]
    lines += ["", "language   complete   reviewed by a person"]
    lines += [f"  {lang:8} {complete[lang]:3}/{n}   {reviewed[lang] / n:6.1%}" for lang in LANGUAGES]
    lines += ["", f"checked more than a year ago ({len(stale)}):"] + [f"  {a} (checked {checked[a]})" for a in stale]
    lines += ["", f"not reached by any training example ({len(unreachable)}):"] + [f"  {a}" for a in unreachable]
    figures = {"answers": n, "per_topic": dict(per_topic), "complete": complete, "reviewed": dict(reviewed),
               "stale": stale, "unreachable": unreachable}
    return "\n".join(lines), figures


if __name__ == "__main__":
    text, _ = report()
    print(text)
