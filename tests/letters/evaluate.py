"""Score the letter reader on the labelled test letters (tests/letters/cases/).

Each case is read as a text PDF and as a phone photo of the printed page
(tests/letters/render.py); the reading's sender, kind, first deadline and
main amount are compared with the case's labels. Shared by
tests/test_letters.py and `python -m scripts.letters_bench`.
"""

from __future__ import annotations

import datetime as dt
import resource
import statistics
import time
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import yaml

from letters import LetterError, read_letter
from tests.letters.render import letter_pdf, photo

CASES_DIR = Path(__file__).resolve().parent / "cases"


@dataclass(frozen=True)
class Case:
    name: str
    seed: int
    sender: str
    kind: str
    deadline: dt.date | None
    amount: Decimal | None
    letter: str


@dataclass
class Scores:
    mode: str
    total: int = 0
    sender: int = 0
    kind: int = 0
    deadline: int = 0
    amount: int = 0
    seconds: list[float] = field(default_factory=list)
    cpu_seconds: list[float] = field(default_factory=list)
    misses: list[str] = field(default_factory=list)

    def rate(self, name: str) -> float:
        return getattr(self, name) / self.total if self.total else 0.0

    def median(self, cpu: bool = False) -> float:
        values = self.cpu_seconds if cpu else self.seconds
        return statistics.median(values) if values else 0.0

    def p95(self, cpu: bool = False) -> float:
        values = sorted(self.cpu_seconds if cpu else self.seconds)
        return values[min(len(values) - 1, round(0.95 * (len(values) - 1)))] if values else 0.0


def load_cases(directory: Path = CASES_DIR) -> list[Case]:
    cases = []
    for seed, path in enumerate(sorted(directory.glob("*.yml")), start=1):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        amount = data["amount"]
        cases.append(Case(path.stem, seed, data["sender"], data["kind"], data["deadline"],
                          Decimal(str(amount)) if amount is not None else None, data["letter"]))
    return cases


def case_file(case: Case, mode: str) -> tuple[bytes, str, str]:
    """The case as the bytes a person would send: (data, filename, mime)."""
    pdf = letter_pdf(case.letter)
    if mode == "pdf":
        return pdf, f"{case.name}.pdf", "application/pdf"
    return photo(pdf, case.seed), f"{case.name}.jpg", "image/jpeg"


def _cpu_seconds() -> float:
    """CPU time of this process and its finished children (Tesseract runs as a child)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def check(case: Case, mode: str) -> tuple[float, float, dict[str, object] | str]:
    """Read one case: (wall seconds, CPU seconds, what was read or the error's code). Only the reading is timed."""
    data, filename, mime = case_file(case, mode)
    start, cpu = time.perf_counter(), _cpu_seconds()
    try:
        reading = read_letter(data, filename, mime)
    except LetterError as error:
        return time.perf_counter() - start, _cpu_seconds() - cpu, error.code
    seconds, cpu = time.perf_counter() - start, _cpu_seconds() - cpu
    deadline = reading.facts.deadline.date if reading.facts.deadline else None
    return seconds, cpu, {"sender": reading.sender.value, "kind": reading.kind.value, "deadline": deadline,
                          "amount": reading.facts.amount}


def score(cases: Iterable[Case], mode: str, workers: int = 1) -> Scores:
    """Read every case as `mode` ("pdf" or "photo") and count what matches its labels.

    With `workers` > 1 the cases are read in parallel processes: faster, but then
    the times are not those of a page read alone.
    """
    cases = list(cases)
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            results = list(pool.map(check, cases, [mode] * len(cases)))
    else:
        results = [check(case, mode) for case in cases]
    scores = Scores(mode)
    for case, (seconds, cpu, got) in zip(cases, results, strict=True):
        scores.total += 1
        scores.seconds.append(seconds)
        scores.cpu_seconds.append(cpu)
        if isinstance(got, str):
            scores.misses.append(f"{case.name}: not read ({got})")
            continue
        want = {"sender": case.sender, "kind": case.kind, "deadline": case.deadline, "amount": case.amount}
        for name, value in got.items():
            if value == want[name]:
                setattr(scores, name, getattr(scores, name) + 1)
            else:
                scores.misses.append(f"{case.name}: {name} {value} (want {want[name]})")
    return scores
