"""Arabic and Persian answers that begin with a Latin word ("NAV", "SFO") or
a number show left to right in Telegram and SMS apps, which take a message's
direction from its first strong character: rendering puts a right-to-left
mark in front of them (issue 12, item 3)."""

from __future__ import annotations

import unicodedata

import pytest

from actions.knowledge import RLM, knowledge, right_to_left


def first_strong(text: str) -> str:
    return next(unicodedata.bidirectional(ch) for ch in text if unicodedata.bidirectional(ch) in ("L", "R", "AL", "EN", "AN"))


@pytest.mark.parametrize("lang", ["ar", "fa"])
def test_every_answer_in_a_right_to_left_language_starts_right_to_left(lang: str) -> None:
    kb = knowledge()
    for answer_id in kb.answers:
        rendered = kb.render(answer_id, lang)
        assert rendered.startswith(RLM) or first_strong(rendered) in ("R", "AL"), answer_id


def test_the_mark_goes_only_where_it_is_needed() -> None:
    assert right_to_left("NAV يدفع", "ar") == RLM + "NAV يدفع"
    assert right_to_left("2 G في السنة", "fa") == RLM + "2 G في السنة"
    assert right_to_left("يدفع NAV", "ar") == "يدفع NAV"  # already right to left
    assert right_to_left(RLM + "NAV", "ar") == RLM + "NAV"  # never twice
    assert right_to_left("NAV pays", "en") == "NAV pays"  # left-to-right languages untouched
