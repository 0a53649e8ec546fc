"""The letter reader end to end on the labelled test letters (tests/letters/cases/), as PDFs and as photos.

Sender, kind, the first deadline and the main amount must be right for at
least 90 % of the letters. Every letter is read as a PDF; every second one
(22, all senders and kinds) is photographed and read, two at a time, to keep
the test near a minute on two cores: `LETTERS_ALL_PHOTOS=1` photographs all.
`python -m scripts.letters_bench` reads all photos and measures the time per
page one at a time.
"""

import os

import pytest

from letters import ocr
from letters.classify import TRAINING_FILE
from tests.letters.evaluate import load_cases, score

MIN_RATE = 0.90


@pytest.fixture(scope="module")
def cases():
    return load_cases()


def test_there_are_enough_letters_of_every_kind(cases) -> None:
    assert len(cases) >= 40
    assert {c.sender for c in cases} == {"nav", "kommune", "skatteetaten", "udi", "helfo", "landlord", "barnehage",
                                         "school", "inkasso", "other"}
    assert {c.kind for c in cases} == {"decision", "summons", "invoice", "documents", "information"}


def test_test_letters_are_not_training_letters(cases) -> None:
    training = TRAINING_FILE.read_text(encoding="utf-8")
    for case in cases:
        for line in case.letter.splitlines():
            words = line.split()
            if len(words) >= 8:      # no sentence of a test letter is in the training letters
                assert line.strip() not in training, (case.name, line)


def _assert_rates(scores) -> None:
    report = "\n".join(scores.misses)
    for name in ("sender", "kind", "deadline", "amount"):
        assert scores.rate(name) >= MIN_RATE, f"{scores.mode} {name}: {scores.rate(name):.2f}\n{report}"


def test_pdfs(cases) -> None:
    _assert_rates(score(cases, "pdf"))


def test_photos(cases) -> None:
    assert ocr.tesseract_available(), "Tesseract is missing: run scripts/install-ocr.sh"
    photos = cases if os.environ.get("LETTERS_ALL_PHOTOS") == "1" else cases[::2]
    assert {c.sender for c in photos} == {c.sender for c in cases} and {c.kind for c in photos} == {c.kind for c in cases}
    _assert_rates(score(photos, "photo", workers=2))
