"""The emergency safety net: it catches emergencies in every language and
never fires on the other training examples."""

import re
from collections import defaultdict
from pathlib import Path

import pytest

from nlu.safety import SafetyNet
from tests.training_data import ROOT, examples

SAFETY = ROOT / "data" / "safety"
LANGUAGES = ("nb", "en", "ar", "uk", "ru", "ti", "so", "fa")


@pytest.fixture(scope="module")
def net() -> SafetyNet:
    return SafetyNet.from_directory(SAFETY)


def test_every_language_has_patterns() -> None:
    assert sorted(p.stem for p in SAFETY.glob("*.yml")) == sorted(LANGUAGES)


def test_catches_most_emergency_examples_in_every_language(net: SafetyNet) -> None:
    caught, total = defaultdict(int), defaultdict(int)
    for ex in examples():
        if ex.topic == "emergency":
            total[ex.lang] += 1
            caught[ex.lang] += net.match(ex.text) is not None
    for lang in LANGUAGES:
        assert caught[lang] / total[lang] >= 0.9, f"{lang}: {caught[lang]}/{total[lang]}"


def test_never_fires_on_other_topics(net: SafetyNet) -> None:
    """As for a message whose language was detected reliably (its own and
    the shared Norwegian and English patterns)."""
    false_alarms = [(ex.lang, ex.intent, ex.text) for ex in examples()
                    if ex.topic != "emergency" and net.match(ex.text, prefer=ex.lang, reliable=True)]
    assert false_alarms == []


@pytest.mark.parametrize(
    "text",
    ["where is the fire extinguisher", "my child has a fever", "how do I call legevakt", "this rent is killing me",
     "røykvarsleren piper", "fire barn i familien", "smoke detector beeping"],
)
def test_ordinary_questions_do_not_fire(net: SafetyNet, text: str) -> None:
    assert net.match(text) is None


def test_a_broken_pattern_fails_at_start_up(tmp_path: Path) -> None:
    (tmp_path / "xx.yml").write_text("language: xx\npatterns:\n  - '(unclosed'\n", encoding="utf-8")
    with pytest.raises(re.error):
        SafetyNet.from_directory(tmp_path)


def test_no_patterns_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        SafetyNet.from_directory(tmp_path)


@pytest.mark.parametrize(("text", "alarm"), [
    ("Я беременна, на прошлой неделе было кровотечение, врач сказал всё хорошо. Как найти fastlege?", False),
    ("На прошлой неделе было кровотечение, а сейчас снова сильное кровотечение, я беременна", True),
    ("Я беременна, неделю назад было кровотечение, кровь идёт снова", True),
])
def test_bleeding_that_is_over_is_calm_but_bleeding_again_now_is_not(net: SafetyNet, text: str, alarm: bool) -> None:
    """The exclusion for bleeding told as past must not hide bleeding that has started again."""
    assert (net.match(text, prefer="ru", reliable=True) is not None) is alarm


@pytest.mark.parametrize(("text", "alarm"), [
    ("صاحبي حط على الانستا صورة حبل وكتب تحتها وداعا، وما عم يرد على التلفون", True),
    ("اختي بعتتلي سامحيني مع صورة شفرات، وتلفونها مطفي وهي لحالها بالبيت", True),
    ("كتبت للمعلمة سامحيني على التأخير، ابني عنده حبوب من الدكتور وهو لحاله بالبيت اليوم", False),
])
def test_someone_elses_farewell_with_a_means_while_unreachable_is_an_emergency(net: SafetyNet, text: str,
                                                                                alarm: bool) -> None:
    """A farewell posted or sent by someone else ("forgive me", "goodbye") with a razor, rope or pills
    while they cannot be reached is suicide; "forgive me for being late" is politeness."""
    match = net.match(text, prefer="ar", reliable=True)
    assert (match is not None and match.kind == "suicide") is alarm
