"""The held-out files (tests/heldout/) and the shared scorers
(../shared/eval/), for the tests and `make bench`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
HELDOUT = ROOT / "tests" / "heldout"
SCORERS = ROOT.parent / "shared" / "eval"


def examples(kind: str) -> list[dict]:
    """Every language's examples of one folder (answers, long, emergency)."""
    out: list[dict] = []
    for path in sorted((HELDOUT / kind).glob("*.yml")):
        out.extend(yaml.safe_load(path.read_text(encoding="utf-8"))["examples"])
    return out


def combined(kind: str, directory: Path) -> Path:
    """One labelled file with every language, as the scorers read it."""
    path = directory / f"heldout-{kind}.yml"
    path.write_text(yaml.safe_dump({"version": 1, "examples": examples(kind)}, allow_unicode=True), encoding="utf-8")
    return path


def score(scorer: str, labels: Path, out: Path, *args: str) -> tuple[dict, str]:
    """Run a shared scorer; returns its JSON (summary and rows) and printed table."""
    script = SCORERS / scorer
    if not script.exists():
        raise FileNotFoundError(f"scorer not found at {script}: CI clones with ../shared beside the repo")
    result = subprocess.run([sys.executable, str(script), str(labels), "--json", str(out), *args],
                            capture_output=True, text=True, timeout=1800)
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-2000:])
    return json.loads(out.read_text(encoding="utf-8")), result.stdout


def figures(rasa_url: str, token: str, directory: Path) -> tuple[dict[str, object], dict[str, list[dict]]]:
    """Every held-out figure, overall and per language (README, Benchmarks),
    and the scored rows of each file."""
    out: dict[str, object] = {}
    answers, _ = score("score_answers.py", combined("answers", directory), directory / "answers.json",
                       "--repo", str(ROOT), "--url", rasa_url)
    rows = answers["rows"]
    answerable = [r for r in rows if r["answer"] != "none"]
    out["answer_accuracy"] = rate(answerable, lambda r: r["got"] == [r["answer"]])
    out["wrong_answer_rate"] = rate(answerable, lambda r: bool(r["got"]) and r["answer"] not in r["got"])
    out["none_honesty"] = rate([r for r in rows if r["answer"] == "none"], lambda r: not r["got"])
    long, _ = score("score_topics.py", combined("long", directory), directory / "long.json",
                    "--url", rasa_url, "--token", token)
    out["long_topic_accuracy"] = rate(long["rows"], lambda r: r["predicted"].split("/")[0] == r["topic"])
    out["out_of_scope_recall"] = rate([r for r in long["rows"] if r["topic"] == "out_of_scope"],
                                      lambda r: r["predicted"] == "out_of_scope")
    emergency, _ = score("score_topics.py", combined("emergency", directory), directory / "emergency.json",
                         "--url", rasa_url, "--token", token)
    erows = emergency["rows"]
    alarm = lambda r: r["predicted"].split("/")[0] == "emergency"  # noqa: E731
    out["emergency_recall"] = rate([r for r in erows if r["topic"] == "emergency"], alarm)
    out["near_misses_kept_calm"] = rate([r for r in erows if r["topic"] != "emergency"], lambda r: not alarm(r))
    alarms = [r for r in erows + long["rows"] if alarm(r)]
    out["emergency_precision"] = rate(alarms, lambda r: r["topic"] == "emergency")
    out["parse_ms_p95"] = long["summary"]["parse_ms_p95"]
    return out, {"answers": rows, "long": long["rows"], "emergency": erows}


def rate(rows: list[dict], hit) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """Share of rows where `hit` holds: "all" and per language."""
    by_lang: dict[str, list[int]] = {}
    for row in rows:
        by_lang.setdefault(row["lang"], [0, 0])
        by_lang[row["lang"]][0] += bool(hit(row))
        by_lang[row["lang"]][1] += 1
    total = [sum(v[0] for v in by_lang.values()), sum(v[1] for v in by_lang.values())]
    result = {"all": round(total[0] / max(1, total[1]), 3)}
    result.update({lang: round(k / n, 3) for lang, (k, n) in sorted(by_lang.items())})
    return result
