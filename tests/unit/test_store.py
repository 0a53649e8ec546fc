"""The channels' store on an in-memory database, and erasing a person."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from channels.assistant import AssistantClient
from channels.store import Store
from channels.tracker import TrackerDatabase


def test_inbound_is_recorded_once_and_pending_is_oldest_first() -> None:
    store = Store()
    first = store.record_inbound("sms", "m1", "sms:+47", "hei")
    assert first is not None and store.record_inbound("sms", "m1", "sms:+47", "hei") is None
    second = store.record_inbound("telegram", "m1", "tg:1", "hallo")  # same id, other channel
    store.set_inbound_status(first, "pending")
    store.set_inbound_status(second, "pending")
    assert [r["id"] for r in store.pending_inbound()] == [first, second]
    store.set_inbound_status(first, "answered")
    assert [r["id"] for r in store.pending_inbound()] == [second]


def test_received_but_never_answered_is_retried_when_stale() -> None:
    store = Store()
    inbound = store.record_inbound("sms", "m9", "sms:+47", "hei")
    assert store.pending_inbound(stale_after_seconds=60) == []
    assert [r["id"] for r in store.pending_inbound(stale_after_seconds=0)] == [inbound]


def test_outbound_idempotency_and_receipts() -> None:
    store = Store()
    out = store.queue_outbound("sms", "sms:+47", "m1:0", {"text": "svar"})
    assert out is not None and store.queue_outbound("sms", "sms:+47", "m1:0", {"text": "svar"}) is None
    store.mark_outbound(out, "sent", provider_id="gw-1")
    store.record_receipt("gw-1", "delivered")
    assert store.outbound(out)["status"] == "delivery:delivered"


def test_callback_keys_options_more_and_forget(tmp_path: Path) -> None:
    store = Store(tmp_path / "bot.db")
    key = store.callback_key("/x" + "y" * 100)
    assert store.callback_key("/x" + "y" * 100) == key and store.callback_payload(key) == "/x" + "y" * 100
    store.set_options("sms:+47", ["/a", "/b"])
    assert store.option("sms:+47", 2) == "/b" and store.option("sms:+47", 3) is None
    store.set_more("sms:+47", ["rest"])
    store.set_language("sms:+47", "so")
    store.record_inbound("sms", "m1", "sms:+47", "hei")
    store.forget("sms:+47")
    assert store.option("sms:+47", 1) is None and store.pop_more("sms:+47") == [] and store.language("sms:+47") is None
    assert list(store.rows("inbound")) == []
    assert Store(tmp_path / "bot.db").callback_payload(key) == "/x" + "y" * 100  # survives a restart


def test_forget_erases_the_conversation_from_the_tracker_store(tmp_path: Path) -> None:
    db = tmp_path / "tracker.db"
    with sqlite3.connect(db) as conn:
        conn.execute("create table events (id integer primary key, sender_id text, data text)")
        conn.executemany("insert into events (sender_id, data) values (?, ?)", [("tg:1", "a"), ("tg:2", "b")])
    client = AssistantClient("http://127.0.0.1:9", tracker=TrackerDatabase(f"sqlite:///{db}"))
    asyncio.run(client.forget("tg:1"))
    with sqlite3.connect(db) as conn:
        assert [r[0] for r in conn.execute("select sender_id from events")] == ["tg:2"]


def test_an_unauthenticated_readiness_check_only_reads(tmp_path) -> None:
    """/readyz without the metrics token: a read and a permission check, never
    a write lock; the deep check (operator) still writes."""
    import os
    import sqlite3

    import pytest

    store = Store(tmp_path / "bot.db")
    store.check(write=False)
    store.check(write=True)
    with sqlite3.connect(tmp_path / "bot.db") as other:  # another writer holds the database
        other.execute("begin immediate")
        store.check(write=False)  # still answers: it does not need the lock
        other.rollback()
    if os.geteuid() == 0:
        return  # root may write any file: the permission check cannot fail here
    os.chmod(tmp_path / "bot.db", 0o400)
    try:
        with pytest.raises(PermissionError):
            store.check(write=False)
    finally:
        os.chmod(tmp_path / "bot.db", 0o600)


def test_opt_outs_become_keyed_hashes_and_survive_erasure(tmp_path: Path) -> None:
    """A STOP is honoured after erasure and retention, without keeping the number."""
    import sqlite3

    number = "sms:+4790000777"
    store = Store(tmp_path / "bot.db")
    with sqlite3.connect(tmp_path / "bot.db") as conn:  # a row as version 4 wrote it: the number itself
        conn.execute("insert into optouts (sender, created) values (?, '2026-01-01')", [number])
        conn.execute("pragma user_version = 4")
    store = Store(tmp_path / "bot.db")  # migrates
    assert store.opted_out(number) and not store.opted_out("sms:+4790000778")
    store.forget(number)
    store.purge_older_than(0)
    assert store.opted_out(number)
    assert not [row for row in store.rows("optouts") if "90000777" in row["sender"]]
    store.opt_in(number)
    assert not store.opted_out(number)
