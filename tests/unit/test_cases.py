"""The case store and the hand-over that opens cases (HANDOFF=cases)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from rasa_sdk import Tracker

from actions.handoff import CaseHandoff, person_words
from actions.knowledge import knowledge
from actions.office_hours import OfficeHours
from actions.turn import Turn
from caseworkers.cases import CaseStore

OSLO = OfficeHours.parse("mon-fri 08:00-15:30", "Europe/Oslo")


def at(text: str) -> dt.datetime:  # local Oslo time
    return dt.datetime.fromisoformat(text).replace(tzinfo=OSLO.zone)


def test_office_hours() -> None:
    assert OSLO.is_open(at("2026-11-23T09:00"))  # Monday
    assert not OSLO.is_open(at("2026-11-23T15:30"))
    assert not OSLO.is_open(at("2026-11-22T10:00"))  # Sunday
    assert OSLO.next_opening(at("2026-11-20T16:00")) == at("2026-11-23T08:00")  # Friday evening -> Monday
    assert OSLO.next_opening(at("2026-11-24T06:00")) == at("2026-11-24T08:00")
    assert OSLO.describe_opening(at("2026-11-20T16:00"), "nb") == "mandag 08:00"
    assert OSLO.describe_opening(at("2026-11-20T16:00"), "en") == "Monday 08:00"
    assert OSLO.describe_opening(at("2026-11-20T16:00"), "uk").startswith("понеділок")
    with pytest.raises(ValueError):
        OfficeHours.parse("weekdays 8-16")


def test_one_open_case_per_person_urgent_first_and_audited(tmp_path: Path) -> None:
    store = CaseStore(tmp_path / "cases.db")
    first, new = store.open_case(sender="tg:1", channel="tg", language="ar", topic="housing", text="مشكلة")
    assert new and first["reference"].startswith("K-") and first["status"] == "open"
    again, new = store.open_case(sender="tg:1", channel="tg", language="ar", topic="housing", text="ثانية")
    assert not new and again["reference"] == first["reference"]
    assert [m["text_original"] for m in store.messages(first["id"])] == ["مشكلة", "ثانية"]
    other, _ = store.open_case(sender="sms:+47", channel="sms", language="so", topic="nav", text="caawin")
    urgent, _ = store.open_case(sender="web:x", channel="web", language="nb", topic="emergency", text="hjelp",
                                urgent=True)
    assert [c["reference"] for c in store.queue()] == [urgent["reference"], first["reference"], other["reference"]]
    store.set_status(first["id"], "claimed", "kari", assignee="kari")
    store.set_status(first["id"], "closed", "kari")
    assert first["reference"] not in [c["reference"] for c in store.queue()]
    assert [a["action"] for a in store.audit_log(first["id"])] == ["opened", "added", "claimed", "closed"]
    reopened, new = store.open_case(sender="tg:1", channel="tg", language="ar", topic="nav", text="جديد")
    assert new and reopened["reference"] != first["reference"]
    assert CaseStore(tmp_path / "cases.db").get(urgent["reference"])["urgency"] == "urgent"  # survives a restart
    with pytest.raises(ValueError):
        store.set_status(first["id"], "lost", "kari")


def tracker(texts: list[str], sender: str = "tg:9") -> Tracker:
    events = [{"event": "user", "text": t} for t in texts]
    return Tracker(sender, {}, {"text": texts[-1]}, events, False, None, None, "action_listen")


def turn(lang: str, text: str, topic: str = "caseworker") -> Turn:
    return Turn(intent=topic, topic=topic, confidence=0.9, question=None, from_button=text.startswith("/"),
                detected_language=lang, detected_reliable=True, language=lang, ranking=(), text=text)


def test_case_handoff_tells_reference_and_when(tmp_path: Path) -> None:
    handoff = CaseHandoff(CaseStore(tmp_path / "c.db"), OSLO)
    t = tracker(["jeg har problem med huseier", "/caseworker"])
    said = handoff.request(t, turn("nb", "/caseworker"), at=at("2026-11-21T20:00"))  # Saturday evening
    case = handoff.store.queue()[0]
    assert said == knowledge().text("case.opened_closed", "nb", reference=case["reference"], opens="mandag 08:00")
    assert case["text_original"] == "jeg har problem med huseier" and case["channel"] == "tg"
    said = handoff.request(t, turn("nb", "/caseworker"), at=at("2026-11-23T10:00"))
    assert said == knowledge().text("case.added", "nb", reference=case["reference"])
    said = handoff.request(tracker(["he is hitting me"], "web:2"), turn("en", "he is hitting me", "emergency"),
                           urgent=True)
    urgent = handoff.store.queue()[0]
    assert urgent["urgency"] == "urgent" and said == knowledge().text("case.urgent", "en", reference=urgent["reference"])


def test_person_words_skip_button_payloads() -> None:
    assert person_words(tracker(["hei", "/fastlege", "og barn?"])) == ["hei", "og barn?"]
