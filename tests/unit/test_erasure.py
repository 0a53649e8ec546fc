"""Erasure and retention reach every table of every database (security
review: erasure left the unanswered log, interpreter notes and web chats;
retention left cases never closed, replies, queues and every sender column).

Each test seeds every table of the channel store (bot.db), the case store
(cases.db) and Rasa's tracker store (tracker.db, made by Rasa's own
SQLTrackerStore) with one person's id, number and words, erases or ages
them, and reads every column of every row back. A table the test does not
know fails it: a new table must be added here, and so cannot be forgotten.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sqlite3
import time
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from caseworkers.cases import CaseStore
from channels.app import create_server, purge
from channels.assistant import AssistantClient
from channels.store import Store
from channels.tracker import TrackerDatabase
from core.config import Settings
from core.senders import address_of

#: Every table of each database, and whether its rows can be about a person.
KNOWN_TABLES = {
    "bot.db": {"inbound", "outbound", "receipts", "callbacks", "options", "more", "optouts", "people", "updates",
               "keyboards"},
    # desk_sessions and login_failures are about caseworkers (keyed hashes), never about a person
    "cases.db": {"cases", "case_messages", "interpreter_requests", "audit", "caseworkers", "unanswered",
                 "desk_sessions", "login_failures"},
    "tracker.db": {"events"},
}
WORDS = "Jeg bor hos Amina i Storgata 17"
WORDS_NB = "oversatt: bor hos Amina, Storgata 17"
NOTE = "tolk Farah Qalinle"
SENDERS = ["sms:+4790000123", "tg:555000123", "web:f00dfeed0123456789abcdef"]


def needles(sender: str) -> list[str]:
    """What must not be left anywhere: the id, the number or chat id, the words, the notes."""
    return [sender, address_of(sender).lstrip("+"), "Storgata 17", "Amina", "Farah Qalinle"]


def tables(path: Path) -> list[str]:
    with sqlite3.connect(path) as conn:
        return [r[0] for r in conn.execute("select name from sqlite_master where type = 'table'"
                                           " and name not like 'sqlite_%'")]


def leftovers(folder: Path, sender: str) -> list[str]:
    """Every (database, table, column) still holding something of the person;
    fails on a table not in KNOWN_TABLES."""
    found = []
    for name, known in KNOWN_TABLES.items():
        path = folder / name
        assert set(tables(path)) <= known, f"{name}: tables this test does not know: {set(tables(path)) - known}"
        with sqlite3.connect(path) as conn:
            for table in tables(path):
                cursor = conn.execute(f'select * from "{table}"')
                columns = [c[0] for c in cursor.description]
                for row in cursor.fetchall():
                    for column, value in zip(columns, row, strict=True):
                        text = value.decode(errors="replace") if isinstance(value, bytes) else str(value)
                        found += [f"{name}:{table}.{column} has {n!r}" for n in needles(sender) if n in text]
    return found


def seed_tracker(path: Path, sender: str) -> None:
    """A real tracker store (Rasa's SQLTrackerStore) with the person's conversation."""
    from rasa.core.tracker_store import SQLTrackerStore
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import BotUttered, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    store = SQLTrackerStore(Domain.empty(), dialect="sqlite", db=str(path))
    tracker = DialogueStateTracker.from_events(sender, [
        UserUttered(WORDS, metadata={"language_hint": "so"}), BotUttered("Svar til deg i Storgata 17")])
    asyncio.run(store.save(tracker))
    store.engine.dispose()


def seed(folder: Path, sender: str, store: Store, cases: CaseStore) -> None:
    """One person in every table that can hold a person."""
    channel = {"sms": "sms", "tg": "telegram", "web": "web"}[sender.partition(":")[0]]
    inbound = store.record_inbound(channel, f"m-{sender}", sender, WORDS)
    assert inbound is not None
    store.set_replies(inbound, [{"text": f"Svar om {WORDS}", "buttons": []}], "so")
    sent = store.queue_outbound(channel, sender, f"out-{sender}", {"text": f"Saksbehandler: {WORDS_NB}"})
    assert sent is not None
    store.mark_outbound(sent, "sent", provider_id=f"SM{abs(hash(sender)) % 10**8}")
    store.record_receipt(f"SM{abs(hash(sender)) % 10**8}", "delivered")
    store.queue_outbound(channel, sender, f"queued-{sender}", {"text": f"Venter: {WORDS}"})
    store.callback_key("/interpreter" + json.dumps({"topic": "health"}) + "x" * 60)
    store.set_options(sender, ["/a", "/b"])
    store.set_more(sender, [f"mer om {WORDS}"])
    store.opt_out(sender)
    store.set_language(sender, "so")
    if channel == "telegram":  # a webhook update not handled yet: it holds the chat id and the words
        chat = int(address_of(sender))
        store.record_update(7, json.dumps({"update_id": 7, "message": {
            "message_id": 5, "chat": {"id": chat, "type": "private"}, "from": {"id": chat}, "text": WORDS}}))
    store.set_keyboard(sender, 42)

    case, _ = cases.open_case(sender=sender, channel=sender.partition(":")[0], language="so", topic="housing",
                              text=WORDS, text_nb=WORDS_NB, excerpt=f"Brev: {WORDS}", danger="violence")
    cases.add_reply(case["id"], "kari", f"Hei, om {WORDS_NB}", f"Hello about {WORDS}", True)
    request = cases.add_interpreter_request(case["id"], json.dumps({"when": WORDS, "language": "so"}))
    cases.decide_interpreter_request(request, "kari", True, {
        "appointment_date": "2026-12-20", "appointment_time": "10:00", "place": f"Rådhuset, {WORDS}",
        "interpreter": NOTE, "interpreter_language": "so"}, reason=f"notat: {WORDS}")
    cases.add_note(case["id"], "kari", f"Ringte om {WORDS}")  # an internal note in the thread
    cases.create_caseworker("kari", "et langt passord 123")
    cases.record_unanswered("so", "housing", WORDS, WORDS_NB, sender=sender)
    seed_tracker(folder / "tracker.db", sender)


@pytest.fixture
def deployment(tmp_path: Path):  # type: ignore[no-untyped-def]
    """The channel server wired as in production, on three fresh databases."""
    settings = Settings(bot_db=str(tmp_path / "bot.db"), cases_db=str(tmp_path / "cases.db"),
                        tracker_db=str(tmp_path / "tracker.db"), translation_packages_dir=str(tmp_path / "argos"))
    tracker = TrackerDatabase(settings.tracker_store_url)
    store, cases = Store(settings.bot_db), CaseStore(settings.cases_db)
    assistant = AssistantClient("http://127.0.0.1:9", tracker=tracker, secret="s" * 40)
    server = create_server(settings, assistant=assistant, store=store, cases=cases)
    yield settings, server, store, cases, tracker
    tracker.close()


@pytest.mark.parametrize("sender", SENDERS)
def test_erasure_leaves_nothing_of_the_person(deployment, tmp_path: Path, sender: str) -> None:  # type: ignore[no-untyped-def]
    settings, server, store, cases, tracker = deployment
    seed(tmp_path, sender, store, cases)
    other = "sms:+4791111222"  # someone else, who must keep everything
    store.record_inbound("sms", "other-1", other, "Hvor er NAV?")
    assert leftovers(tmp_path, sender), "the seed must put the person everywhere"
    kind, raw = sender.partition(":")[0], address_of(sender)
    if kind == "web":  # the page's erase button
        response = TestClient(server).post("/api/erase", json={"sender": raw})
        assert response.status_code == 200 and response.json()["erased"] is True
    elif kind == "sms":  # DELETE twice, by a number that sent STOP
        sms = server.state.sms
        for i, word in enumerate(["STOP", "DELETE", "DELETE"]):
            inbound = store.record_inbound("sms", f"x{i}", sender, word)
            asyncio.run(sms.handle_recorded(inbound, f"x{i}", raw, word))
        assert store.opted_out(sender)  # STOP is honoured after erasure, as a keyed hash only
    else:  # Telegram's /delete, confirmed
        asyncio.run(server.state.conversations.erase(sender))
    assert leftovers(tmp_path, sender) == []
    assert tracker.event_count(sender) == 0
    assert [r["sender"] for r in store.rows("inbound") if r["sender"] == other] == [other]
    assert cases.unanswered_summary() == []  # the person's words are gone from the content page too


def test_the_age_purge_leaves_nothing_old_whatever_its_state(deployment, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Rows older than RETENTION_DAYS go, open cases and queued sends too;
    a recent person keeps everything."""
    settings, _, store, cases, tracker = deployment
    old, recent = "sms:+4790000123", "tg:777000888"
    seed(tmp_path, old, store, cases)
    age = dt.timedelta(days=settings.retention_days + 1)
    then = (dt.datetime.now(dt.timezone.utc) - age).isoformat(timespec="seconds")
    for name in ("bot.db", "cases.db"):
        with sqlite3.connect(tmp_path / name) as conn:
            for table in tables(tmp_path / name):
                columns = {c[1] for c in conn.execute(f'pragma table_info("{table}")')}
                for column in columns & {"created", "updated", "at", "received", "answered"}:
                    conn.execute(f'update "{table}" set "{column}" = ?', [then])
    with sqlite3.connect(tmp_path / "tracker.db") as conn:
        conn.execute("update events set timestamp = ?", [time.time() - age.total_seconds()])
    open_case = cases.queue()
    assert open_case and open_case[0]["status"] != "closed"  # never closed: purged all the same

    store.record_inbound("telegram", "r1", recent, "Hvor er NAV Storgata?")
    cases.open_case(sender=recent, channel="tg", language="nb", topic="nav", text="Hvor er NAV?")
    purge(settings, store, cases, tracker)

    assert leftovers(tmp_path, old) == []
    assert cases.queue()[0]["sender"] == recent and cases.get(cases.queue()[0]["reference"])["text_original"]
    assert [r["sender"] for r in store.rows("inbound")] == [recent]
    assert cases.unanswered_summary()[0]["count"] == 1  # anonymous counts stay
    assert cases.unanswered() == []  # the desk lists no emptied rows
    assert store.opted_out(old)  # the STOP (a keyed hash) outlives the retention period


def test_every_aged_table_is_known_to_the_purge() -> None:
    """bot.db's purge walks AGE_COLUMNS: every table is there or kept on purpose."""
    from channels.store import AGE_COLUMNS, KEPT_TABLES

    assert set(AGE_COLUMNS) | set(KEPT_TABLES) == KNOWN_TABLES["bot.db"]
