"""`make coverage`: the knowledge base's coverage report: answers per topic,
languages complete, share reviewed by a person, every language's texts by
review status (reviewed, stale, unreviewed, missing), answers whose checked
date is more than a year old, answers due for a fact check because the day
their figures change has passed (`changes` in data/knowledge/answers.yml),
and answers no training example reaches."""

from __future__ import annotations

import datetime as dt
import sys
from collections import Counter, defaultdict
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from actions import freshness  # noqa: E402
from locales.catalog import SOURCE_LANGUAGE, Catalog, Status  # noqa: E402
from nlu.langid import LANGUAGES  # noqa: E402


def training_intents() -> Counter:
    counts: Counter = Counter()
    for path in (ROOT / "data" / "nlu").glob("*.yml"):
        for block in yaml.safe_load(path.read_text(encoding="utf-8"))["nlu"]:
            counts[block["intent"]] += sum(1 for line in block["examples"].splitlines() if line.strip().startswith("- "))
    return counts


def translation_status(catalog: Catalog) -> dict[str, dict[str, int]]:
    """Per language: how many of the Norwegian source's texts are reviewed,
    stale (reviewed before the Norwegian text changed), unreviewed or missing."""
    keys = catalog.keys(SOURCE_LANGUAGE)
    table = {}
    for lang in LANGUAGES:
        counts = Counter(catalog.status(key, lang) for key in keys)
        table[lang] = {"total": len(keys)} | {status.value: counts[status] for status in Status}
    return table


def report(
    today: dt.date | None = None,
    knowledge_file: Path = ROOT / "data" / "knowledge" / "answers.yml",
    locales_dir: Path = ROOT / "locales",
) -> tuple[str, dict]:
    today = today or dt.date.today()
    answers = yaml.safe_load(Path(knowledge_file).read_text(encoding="utf-8"))
    catalog = Catalog.load(locales_dir)
    per_topic = Counter(a.split("/")[0] for a in answers)
    complete = {lang: sum(1 for a in answers if a in catalog.keys(lang)) for lang in LANGUAGES}
    reviewed = defaultdict(int)
    for lang in LANGUAGES:
        for a in answers:
            if catalog.status(a, lang) is Status.REVIEWED:  # reviewed against the current source
                reviewed[lang] += 1
    checked = {a: v["checked"] if isinstance(v["checked"], dt.date) else dt.date.fromisoformat(str(v["checked"]))
               for a, v in answers.items()}
    stale = sorted(a for a, d in checked.items() if (today - d).days > 365)
    due = freshness.due(freshness.schedules(answers), today)
    translations = translation_status(catalog)
    intents = training_intents()
    # A topic's default answer is reached by the plain topic intent too.
    unreachable = sorted(a for a in answers if intents[a] == 0
                         and not (answers[a].get("default") and intents[a.split("/")[0]] > 0))
    n = len(answers)
    lines = [f"Knowledge base coverage ({today.isoformat()})", "", f"answers: {n}", "", "answers per topic:"]
    lines += [f"  {topic:14} {count}" for topic, count in sorted(per_topic.items())]
    lines += ["", "language   complete   reviewed by a person"]
    lines += [f"  {lang:8} {complete[lang]:3}/{n}   {reviewed[lang] / n:6.1%}" for lang in LANGUAGES]
    lines += ["", "translations (all texts)   total  reviewed  stale  unreviewed  missing"]
    lines += [f"  {lang:24} {t['total']:5} {t['reviewed']:9} {t['stale']:6} {t['unreviewed']:11} {t['missing']:8}"
              for lang, t in translations.items()]
    lines += ["", f"due for a fact check: their figures changed since the check ({len(due)}):"]
    lines += [f"  {s.answer} (changes {s.changes[0]:02d}-{s.changes[1]:02d}; checked {s.checked}, due since "
              f"{s.next_change()})" for s in due if s.changes]
    lines += ["", f"checked more than a year ago ({len(stale)}):"] + [f"  {a} (checked {checked[a]})" for a in stale]
    lines += ["", f"not reached by any training example ({len(unreachable)}):"] + [f"  {a}" for a in unreachable]
    figures = {"answers": n, "per_topic": dict(per_topic), "complete": complete, "reviewed": dict(reviewed),
               "stale": stale, "unreachable": unreachable, "translations": translations,
               "due": [s.answer for s in due]}
    return "\n".join(lines), figures


if __name__ == "__main__":
    text, _ = report()
    print(text)
