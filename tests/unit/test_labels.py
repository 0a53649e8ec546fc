"""Every code the desk shows has a Norwegian word; times are Oslo time."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

from caseworkers import labels
from caseworkers.cases import STATUSES
from core.payloads import MENU_TOPICS
from core.senders import PREFIXES
from nlu.langid import LANGUAGES
from nlu.safety import KINDS

ROOT = Path(__file__).resolve().parents[2]


def test_every_known_code_has_a_norwegian_word() -> None:
    assert set(STATUSES) <= set(labels.STATUS)
    assert {*MENU_TOPICS, "emergency"} <= set(labels.TOPIC)
    assert set(LANGUAGES) <= set(labels.LANGUAGE)
    assert {*PREFIXES, "rest"} <= set(labels.CHANNEL)
    assert set(KINDS) <= set(labels.DANGER)
    modes = set(re.findall(r"interp\.mode\.(\w+)\.button", (ROOT / "locales/nb/ui.yml").read_text(encoding="utf-8")))
    assert modes and modes <= set(labels.MODE)
    assert labels.status("open") == "Ny" and labels.language("ti") == "tigrinja" and labels.mode("in_person") == "oppmøte"
    assert labels.topic(None) == "–" and labels.topic("brand_new") == "brand_new"  # unknown: shown as it is


def test_every_audited_action_reads_as_a_sentence() -> None:
    source = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "caseworkers").glob("*.py"))
    actions = set(re.findall(r'_audit\([^,]+, "([a-z ]+)"', source)) | set(STATUSES) - {"account"}
    for action in actions - {"account"}:
        sentence = labels.history({"actor": "kari", "action": action, "details": json.dumps({"to": "ola"})})
        assert sentence != action and not re.search(r"\b(opened|claimed|replied|noted)\b", sentence), action
    assert labels.history({"actor": "ola", "action": "claimed", "details": '{"from": "kari"}'}) == "ola tok saken fra kari"
    assert labels.history({"actor": "kari", "action": "assigned", "details": '{"to": "ola"}'}) == "kari ga saken til ola"


def test_local_time_and_age() -> None:
    now = dt.datetime(2026, 12, 7, 13, 0, tzinfo=dt.timezone.utc)  # 14:00 in Oslo (winter)
    assert labels.local_time("2026-12-07T12:05:00+00:00", now) == "i dag 13:05"
    assert labels.local_time("2026-12-06T12:00:00+00:00", now) == "i går 13:00"
    assert labels.local_time("2026-11-03T07:00:00+00:00", now) == "3.11. 08:00"
    assert labels.local_time("2025-06-03T07:00:00+00:00", now) == "3.6.2025 09:00"  # summer time
    assert labels.age("2026-12-07T12:59:30+00:00", now) == "nå nettopp"
    assert labels.age("2026-12-07T12:15:00+00:00", now) == "for 45 min siden"
    assert labels.age("2026-12-07T11:00:00+00:00", now) == "for 2 t siden"
    assert labels.age("2026-12-04T13:00:00+00:00", now) == "for 3 d siden"
    assert labels.local_time(None) == "–" and labels.age("") == "–"


def test_the_caseworkers_chat_is_told_in_norwegian() -> None:
    from caseworkers.notify import notice

    text = notice({"reference": "K-ABCDEF", "urgency": "normal", "topic": "housing", "language": "ti"}, "https://x/desk")
    assert text.startswith("Ny sak K-ABCDEF · tema Bolig · språk tigrinja")


def test_interpreter_form_values_in_norwegian_and_typed_words_as_they_are() -> None:
    source = (ROOT / "actions/interpreter.py").read_text(encoding="utf-8")
    codes = set(re.findall(r'interp\.(?:appointment|gender|mode)\.(\w+)\.button', source + (
        ROOT / "locales/nb/ui.yml").read_text(encoding="utf-8")))
    assert codes and codes <= set(labels.INTERPRETER)
    assert labels.interpreter("woman") == "kvinne" and labels.interpreter("Sandvika legesenter") == "Sandvika legesenter"
