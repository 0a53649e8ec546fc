"""Telegram's language_code is a first guess for someone new, never more:
what the person writes or chooses decides."""

from __future__ import annotations

import pytest

from actions.turn import Turn, reply_language
from channels.telegram import language_hint


@pytest.mark.parametrize("code,lang", [("uk", "uk"), ("ru-RU", "ru"), ("nb", "nb"), ("no", "nb"), ("nn", "nb"),
                                       ("ar", "ar"), ("fa", "fa"), ("en-GB", "en"), ("so", "so"), ("ti", "ti"),
                                       ("pt-br", None), ("", None), (None, None)])
def test_telegram_codes_map_to_our_languages(code: str | None, lang: str | None) -> None:
    assert language_hint(code) == lang


def test_hint_answers_a_new_person_whose_message_says_little() -> None:
    # "NAV?" alone is no reliable evidence of a language: the hint decides, not the default
    assert reply_language({}, "nb", False, "nb", hint="uk") == "uk"
    latest = {"text": "NAV?", "intent": {"name": "nav"}, "language": "nb", "language_reliable": False,
              "metadata": {"language_hint": "ar"}}
    assert Turn.read(latest, {}, "nb").language == "ar"


def test_what_the_person_writes_or_chose_wins_over_the_hint() -> None:
    assert reply_language({}, "so", True, "nb", hint="en") == "so"
    assert reply_language({"language": "fa"}, "nb", False, "nb", hint="en") == "fa"
    assert reply_language({"language": "ti", "language_pinned": True}, "en", True, "nb", hint="en") == "ti"
