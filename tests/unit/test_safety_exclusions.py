"""A pattern's leading exclusion is checked after its danger words
(`nlu.safety.exclusion_last`): the same messages match, in less time."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from nlu.safety import exclusion_last
from nlu.text import normalize, unify_letters
from tests.training_data import examples

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("pattern", "expected"), [
    ("(?!.*out)fire", "(?=fire)(?!.*out)"),
    ("(?!.*out)(?!.*over)fire|smoke", "(?=fire)(?!.*out)(?!.*over)|smoke"),
    ("(?!.*(a|b))x[)(]", "(?=x[)(])(?!.*(a|b))"),
    ("^(?!.*out).*fire", "^(?!.*out).*fire"),  # anchored: already cheap, left alone
    ("fire(?!.*out)", "fire(?!.*out)"),
])
def test_rewrite(pattern: str, expected: str) -> None:
    assert exclusion_last(pattern) == expected


@pytest.mark.parametrize("text", ["the fire is out", "out of the house, fire now", "smoke, it is out", "fire",
                                  "nothing here", "fire is over", "over: fire"])
def test_same_matches_on_small_patterns(text: str) -> None:
    for pattern in ("(?!.*out)fire", "(?!.*out)(?!.*over)fire|smoke"):
        assert bool(re.search(pattern, text)) == bool(re.search(exclusion_last(pattern), text)), (pattern, text)


def test_same_matches_on_every_training_message() -> None:
    """Every rewritten pattern of data/safety against every 16th training
    example (about 1 400, all languages; the original patterns are the slow
    ones, so all 22 000 would take minutes)."""
    rewritten = []
    for path in sorted((ROOT / "data" / "safety").glob("*.yml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        for patterns in (data.get("kinds") or {}).values():
            for pattern in patterns:
                pattern = unify_letters(str(pattern))
                if exclusion_last(pattern) != pattern:
                    rewritten.append((re.compile(pattern, re.I), re.compile(exclusion_last(pattern), re.I)))
    assert len(rewritten) >= 10  # the Arabic and Persian fire patterns, among others
    texts = [normalize(ex.text) for ex in examples()[::16]]
    for old, new in rewritten:
        assert [t for t in texts if bool(old.search(t)) != bool(new.search(t))] == [], old.pattern
