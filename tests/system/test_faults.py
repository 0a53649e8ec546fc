"""Faults: each leaves nothing acknowledged lost, and the person is told
what is happening in their language.

- the real Rasa server killed mid-conversation and started again;
- the real action server down;
- the channel server killed between receiving a message and replying;
- the SMS gateway answering 500 and timing out;
- the channel database locked by another writer, and full;
- two messages from one person at once, and a webhook delivered twice.
(Telegram's 429 and 502 are in test_telegram.py.)
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from actions.knowledge import catalog
from channels.app import create_server
from channels.assistant import Reply
from channels.sms.channel import sign
from channels.store import Store, now
from core.config import Settings
from locales.catalog import Catalog
from tests.conftest import ROOT, free_port
from tests.fakes.servers import FakeAssistant, FakeGateway, LoopbackServer, wait_for

SECRET = "fault-secret-0123456789"


def post_sms(url: str, secret: str, message_id: str, number: str, text: str) -> httpx.Response:
    raw = json.dumps({"id": message_id, "from": number, "text": text}, ensure_ascii=False).encode()
    ts = str(int(time.time()))
    return httpx.post(f"{url}/sms/json", content=raw, timeout=30, headers={
        "content-type": "application/json", "X-Timestamp": ts, "X-Signature": sign(secret, ts, raw)})


def rows(db: Path, sql: str, *args: object) -> list[tuple]:
    with sqlite3.connect(db, timeout=10) as conn:
        return conn.execute(sql, args).fetchall()


def outbound_texts(db: Path, number: str) -> list[str]:
    return [json.loads(b)["text"] for (b,) in rows(db, "select body from outbound where sender = ? order by id",
                                                   f"sms:{number}")]


def inbound_status(db: Path, message_id: str) -> str | None:
    found = rows(db, "select status from inbound where external_id = ?", message_id)
    return found[0][0] if found else None


def kill(stack, name: str) -> None:
    """SIGKILL: no chance to clean up, as when a machine loses power."""
    proc = stack.processes.pop(name)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


# -- the real stack -------------------------------------------------------------------------
@pytest.mark.stack
def test_rasa_killed_mid_conversation_and_started_again(stack) -> None:
    db = stack.tracker_db.parent / "bot.db"
    secret = (stack.tracker_db.parent / "sms-json-secret").read_text().strip()
    number, texts = "+4790" + str(uuid.uuid4().int)[:6], catalog()
    first = f"k1-{uuid.uuid4().hex}"
    assert post_sms(stack.webchat_url, secret, first, number, "Як записатися до сімейного лікаря?").status_code == 200
    wait_for(lambda: inbound_status(db, first) == "answered", timeout=60)
    kill(stack, "rasa")
    try:
        second = f"k2-{uuid.uuid4().hex}"
        assert post_sms(stack.webchat_url, secret, second, number, "Скільки коштує дитячий садок?").status_code == 200
        # told at once, in Ukrainian, that the answer comes later; the message is kept
        wait_for(lambda: texts.text("service.queued", "uk") in outbound_texts(db, number), timeout=30)
        assert inbound_status(db, second) in ("pending", "retrying")  # kept, being retried
    finally:
        stack.start_rasa()
        stack.wait_ready(300)
    wait_for(lambda: inbound_status(db, second) == "answered", timeout=120)
    answer = outbound_texts(db, number)[-1]
    assert answer != texts.text("service.queued", "uk")
    # an answer about barnehage (the SMS holds its first part; the rest comes with MORE)
    openings = [texts.entry(key, "uk").text[:30] for key in texts.keys("uk") if key.startswith("barnehage/")]
    assert any(answer.startswith(opening) for opening in openings), answer
    # the conversation before the crash is still there (SQL tracker store)
    events = httpx.get(stack.api(f"/conversations/sms:{number}/tracker"), timeout=30).json()["events"]
    assert [e["text"] for e in events if e["event"] == "user"][:2] == [
        "Як записатися до сімейного лікаря?", "Скільки коштує дитячий садок?"]


@pytest.mark.stack
def test_action_server_down_then_back(stack) -> None:
    db = stack.tracker_db.parent / "bot.db"
    secret = (stack.tracker_db.parent / "sms-json-secret").read_text().strip()
    number, texts = "+4791" + str(uuid.uuid4().int)[:6], catalog()
    kill(stack, "actions")
    try:
        message = f"a1-{uuid.uuid4().hex}"
        assert post_sms(stack.webchat_url, secret, message, number, "كيف أحصل على طبيب عام؟").status_code == 200
        wait_for(lambda: outbound_texts(db, number), timeout=60)
        assert outbound_texts(db, number)[0] == texts.text("service.queued", "ar")
        assert inbound_status(db, message) in ("pending", "retrying")  # kept, being retried
    finally:
        stack.start_actions()
        stack.wait_ready(120)
    wait_for(lambda: inbound_status(db, message) == "answered", timeout=120)
    assert "fastlege" in outbound_texts(db, number)[-1].lower()


# -- the channel server as its own process, killed -----------------------------------------------
class SlowRasa:
    """Rasa's signed channel (REST-shaped), answering after `delay` seconds."""

    def __init__(self) -> None:
        self.delay = 0.0
        self.received: list[str] = []

    def app(self) -> Starlette:
        async def webhook(request: Request) -> JSONResponse:
            body = await request.json()
            self.received.append(body["message"])
            await asyncio.sleep(self.delay)
            return JSONResponse([{"recipient_id": body["sender"], "text": f"Svar: {body['message']}"}])

        async def status(_: Request) -> JSONResponse:
            return JSONResponse({"model_file": "fake"})

        return Starlette(routes=[Route("/webhooks/nabo/webhook", webhook, methods=["POST"]),
                                 Route("/status", status)])


def start_channel_server(tmp: Path, port: int, rasa_url: str, gateway_url: str) -> subprocess.Popen:
    env = dict(os.environ, RASA_URL=rasa_url, BOT_DB=str(tmp / "bot.db"), CASES_DB=str(tmp / "cases.db"),
               TRACKER_DB=str(tmp / "tracker.db"), WEBCHAT_PORT=str(port), SMS_GATEWAY="json",
               SMS_JSON_URL=gateway_url, SMS_JSON_SECRETS=SECRET, SMS_SENDER="Nabo", RETRY_PENDING_SECONDS="0.5",
               STALE_AFTER_SECONDS="1", PYTHONPATH=str(ROOT), ACTION_SERVER_URL="")
    proc = subprocess.Popen([sys.executable, "-m", "channels.app"], cwd=ROOT, env=env, start_new_session=True,
                            stdout=open(tmp / "channels.log", "ab"), stderr=subprocess.STDOUT)
    wait_for(lambda: _up(f"http://127.0.0.1:{port}/healthz"), timeout=60)
    return proc


def _up(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_channel_server_killed_between_receiving_and_replying(tmp_path: Path) -> None:
    rasa, gateway = SlowRasa(), FakeGateway()
    rasa.delay = 30.0  # the reply is still being worked on when the process dies
    with LoopbackServer(rasa.app()) as fake_rasa, LoopbackServer(gateway.app) as fake_gateway:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        proc = start_channel_server(tmp_path, port, fake_rasa.url, f"{fake_gateway.url}/messages")
        try:
            assert post_sms(url, SECRET, "crash-1", "+4791234567", "hei").status_code == 200
            wait_for(lambda: rasa.received, timeout=20)
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            # acknowledged, so it was recorded before the gateway heard "accepted"; visibly unanswered
            assert inbound_status(tmp_path / "bot.db", "crash-1") == "received"
            assert not gateway.received
            rasa.delay = 0.0
            proc = start_channel_server(tmp_path, port, fake_rasa.url, f"{fake_gateway.url}/messages")
            wait_for(lambda: gateway.texts(), timeout=30)
            wait_for(lambda: inbound_status(tmp_path / "bot.db", "crash-1") == "answered", timeout=10)
            time.sleep(1.5)  # more retry rounds: still exactly one reply
            assert gateway.texts() == ["Svar: hei"]
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)


def test_reply_kept_when_delivery_fails_is_delivered_later_without_asking_again() -> None:
    """The assistant answered but the channel could not deliver: the kept
    reply is delivered by the retry loop, and the assistant is not asked twice."""
    from channels.relay import Conversations

    store, assistant, delivered, failing = Store(), FakeAssistant(), [], [True]

    async def deliver(sender: str, replies: list[Reply], lang: str, reference: str = "") -> None:
        if failing[0]:
            raise ConnectionError("channel down")
        delivered.extend(r.text for r in replies)

    conversations = Conversations(assistant, store, Catalog.load())

    async def scenario() -> None:
        with pytest.raises(ConnectionError):
            await conversations.handle("telegram", "u1", "tg:1", "hei", deliver)
        assert store.inbound(1)["status"] == "replied"
        failing[0] = False
        assert await conversations.retry_pending({"telegram": deliver}, stale_after_seconds=0) == 1
        assert await conversations.retry_pending({"telegram": deliver}, stale_after_seconds=0) == 0

    asyncio.run(scenario())
    assert delivered == ["Svar på: hei"] and len(assistant.received) == 1
    assert store.inbound(1)["status"] == "answered"


# -- in-process channel server with fakes ----------------------------------------------------
def sms_server(gateway: FakeGateway, assistant: FakeAssistant, store: Store, **extra: object) -> LoopbackServer:
    settings = Settings(sms_gateway="json", sms_json_url=f"{gateway.url}/messages", sms_json_secrets=(SECRET,),
                        sms_sender="Nabo", retry_pending_seconds=0.2, stale_after_seconds=1,
                        sms_send_timeout_seconds=0.5, **extra)  # type: ignore[arg-type]
    return LoopbackServer(create_server(settings, assistant=assistant, store=store, catalog=Catalog.load()))




def test_gateway_timeouts_are_retried_over_minutes_and_nothing_is_lost(gateway: FakeGateway) -> None:
    store = Store()
    with sms_server(gateway, FakeAssistant(), store) as server:
        gateway.delay_next = [1.0]  # longer than the 0.5 s send timeout: retried, then sent
        assert post_sms(server.url, SECRET, "t1", "+4791234567", "hei").status_code == 200
        wait_for(lambda: store.outbound_with_status("sent"), timeout=20)
        assert store.outbound_with_status("sent")[0]["attempts"] >= 2
        gateway.delay_next = [1.0] * 10  # the gateway keeps timing out
        assert post_sms(server.url, SECRET, "t2", "+4791234567", "igjen").status_code == 200
        waiting = wait_for(lambda: [r for r in store.outbound_with_status("retrying") if r["next_try"]], timeout=30)
        assert waiting[0]["last_error"] == "ReadTimeout" and waiting[0]["next_try"] > now()  # kept, with a pause
        metrics = httpx.get(f"{server.url}/metrics").text
        assert "nabo_failed_sends 0.0" in metrics  # not given up: it waits for the gateway
        # the inbound message itself is answered: what waits is the gateway's send
        assert {r["status"] for r in store.rows("inbound")} == {"answered"}
        gateway.delay_next = []  # the gateway is back; the pause is over
        store.db.execute("update outbound set next_try = '2000-01-01T00:00:00+00:00' where status = 'retrying'")
        wait_for(lambda: len(store.outbound_with_status("sent")) == 2, timeout=20)
        assert [json.loads(r["body"])["text"] for r in store.outbound_with_status("sent")][1].startswith("Svar på: igjen")


def test_two_messages_from_one_person_at_once_are_answered_in_order(gateway: FakeGateway) -> None:
    store, assistant = Store(), FakeAssistant()
    active, overlaps = [0], [0]
    original = assistant.send

    async def slow_send(sender_id: str, text: str, metadata: dict[str, str] | None = None) -> list[Reply]:
        active[0] += 1
        overlaps[0] = max(overlaps[0], active[0])
        await asyncio.sleep(0.3)
        active[0] -= 1
        return await original(sender_id, text, metadata)

    assistant.send = slow_send  # type: ignore[method-assign]
    with sms_server(gateway, assistant, store) as server:
        threads = [threading.Thread(target=post_sms, args=(server.url, SECRET, f"c{i}", "+4791234567", f"melding {i}"))
                   for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        post_sms(server.url, SECRET, "c0", "+4791234567", "melding 0")  # and one delivered twice
        wait_for(lambda: len(gateway.received) == 4, timeout=20)
        time.sleep(0.5)
    assert overlaps[0] == 1, "one person's messages were handled at the same time"
    assert sorted(t.split("\n")[0] for t in gateway.texts()) == [f"Svar på: melding {i}" for i in range(4)]
    assert len(assistant.received) == 4


def test_database_locked_by_another_writer(gateway: FakeGateway, tmp_path: Path) -> None:
    """A short lock is waited out; a lock held longer than the busy timeout
    gets 503 (not acknowledged), and the gateway's retry then succeeds."""
    db = tmp_path / "bot.db"
    store = Store(db)
    with sms_server(gateway, FakeAssistant(), store) as server:
        def hold(seconds: float) -> None:
            conn = sqlite3.connect(db, timeout=30, isolation_level=None)
            conn.execute("BEGIN EXCLUSIVE")
            time.sleep(seconds)
            conn.execute("COMMIT")
            conn.close()

        holder = threading.Thread(target=hold, args=(2.0,))
        holder.start()
        time.sleep(0.2)
        assert post_sms(server.url, SECRET, "l1", "+4791234567", "hei").status_code == 200
        holder.join()
        wait_for(lambda: store.outbound_with_status("sent"), timeout=20)
        holder = threading.Thread(target=hold, args=(12.0,))  # longer than the 10 s busy timeout
        holder.start()
        time.sleep(0.2)
        refused = post_sms(server.url, SECRET, "l2", "+4791234567", "igjen")
        holder.join()
        assert refused.status_code == 503 and refused.headers["retry-after"]
        assert post_sms(server.url, SECRET, "l2", "+4791234567", "igjen").status_code == 200  # the retry
        wait_for(lambda: len(gateway.received) == 2, timeout=20)
    assert sorted(t.split("\n")[0] for t in gateway.texts()) == ["Svar på: hei", "Svar på: igjen"]


def test_database_full(gateway: FakeGateway, tmp_path: Path) -> None:
    """SQLITE_FULL (the same error as a full disk, made with max_page_count):
    the webhook is refused with 503 rather than acknowledged, and the
    gateway's retry after space is freed is answered."""
    store = Store(tmp_path / "bot.db")
    with sms_server(gateway, FakeAssistant(), store) as server:
        pages = store.db.execute("PRAGMA page_count").fetchone()[0]
        store.db.execute(f"PRAGMA max_page_count = {pages}")
        for size in (1900, 100, 1):  # fill what is left, down to the last few bytes
            with pytest.raises(sqlite3.OperationalError, match="full"):
                for i in range(1000):
                    store.record_inbound("sms", f"filler-{size}-{i}", "sms:+4700000000", "x" * size)
        refused = post_sms(server.url, SECRET, "d1", "+4791234567", "hei")
        assert refused.status_code == 503
        assert inbound_status(tmp_path / "bot.db", "d1") is None  # nothing half-written
        store.db.execute("PRAGMA max_page_count = 1073741823")
        assert post_sms(server.url, SECRET, "d1", "+4791234567", "hei").status_code == 200
        wait_for(lambda: [r for r in gateway.received if r["to"] == "+4791234567"], timeout=20)
    assert [r["text"].split("\n")[0] for r in gateway.received if r["to"] == "+4791234567"] == ["Svar på: hei"]


def test_telegram_update_acknowledged_then_crash_is_replayed_after_restart(tmp_path: Path) -> None:
    """A webhook update is kept before Telegram hears 200. If the process
    dies before a handler takes it, the next process replays it, once."""
    from channels.app import TELEGRAM_SECRET_HEADER
    from tests.fakes.servers import FakeTelegram, message_update

    telegram, tg_secret = FakeTelegram(), "telegram-secret-0123456789"
    update = message_update(555, 4242, "hei")
    crashed = Store(tmp_path / "bot.db")  # what the dead process left: the update kept, nothing else
    assert crashed.record_update(555, json.dumps(update))
    with LoopbackServer(telegram.app) as tg:
        settings = Settings(telegram_token="1:fault", telegram_api_url=tg.url, telegram_mode="webhook",
                            telegram_webhook_secret=tg_secret, sms_gateway="none", retry_pending_seconds=0.2,
                            stale_after_seconds=0.5, bot_db=str(tmp_path / "bot.db"))
        store, assistant = Store(tmp_path / "bot.db"), FakeAssistant()
        with LoopbackServer(create_server(settings, assistant=assistant, store=store, catalog=Catalog.load())) as s:
            wait_for(lambda: telegram.sent(), timeout=20)
            # marked by a handler in a later group, just after the reply went out
            wait_for(lambda: [r["status"] for r in store.rows("updates")] == ["handled"], timeout=10)
            # Telegram delivering it again changes nothing
            r = httpx.post(f"{s.url}/telegram/webhook", json=update, headers={TELEGRAM_SECRET_HEADER: tg_secret})
            assert r.status_code == 200
            time.sleep(1.0)
    assert assistant.received == [("tg:4242", "hei")]
    assert len(telegram.sent()) == 1
