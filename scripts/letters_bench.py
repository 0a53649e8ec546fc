"""Letter reader figures: `PYTHONPATH=. .venv/bin/python -m scripts.letters_bench [--photos N]`.

Reads every labelled test letter (tests/letters/cases/) as a text PDF and as
a phone photo and prints, for each, sender and kind accuracy, deadline and
amount exact-match, and seconds per page (median, p95), wall clock and CPU
(this process and Tesseract's), on this machine. Only the reading is timed
(rendering the test photo is not), one page at a time; the CPU figures do not
depend on what else the machine is doing, the wall-clock ones do.
"""

from __future__ import annotations

import argparse

from tests.letters.evaluate import Scores, load_cases, score


def report(scores: Scores) -> str:
    return (f"{scores.mode:<6} {scores.total:>5} {scores.rate('sender'):>7.2f} {scores.rate('kind'):>6.2f} "
            f"{scores.rate('deadline'):>9.2f} {scores.rate('amount'):>7.2f} {scores.median():>9.2f} {scores.p95():>7.2f}"
            f" {scores.median(cpu=True):>10.2f} {scores.p95(cpu=True):>9.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=0, help="photograph only the first N letters (0: all)")
    parser.add_argument("--misses", action="store_true", help="list what was read wrong")
    args = parser.parse_args()
    cases = load_cases()
    results = [score(cases, "pdf"), score(cases[:args.photos] if args.photos else cases, "photo")]
    print("mode   cases  sender   kind  deadline  amount  median s   p95 s  cpu med s  cpu p95 s")
    for scores in results:
        print(report(scores))
    if args.misses:
        for scores in results:
            for miss in scores.misses:
                print(f"  {scores.mode}: {miss}")


if __name__ == "__main__":
    main()
