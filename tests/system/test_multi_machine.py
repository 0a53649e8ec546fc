"""More than one machine, on one: real PostgreSQL and Redis servers on
loopback, two Rasa servers sharing them (deploy/endpoints.multi.yml), one
action server, and two channel workers sharing the channel database. One
person's conversation moves between the servers and stays whole."""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest

from actions.knowledge import catalog
from channels.sms.channel import sign
from channels.tracker import TrackerDatabase, tracker_url
from scripts.stack import Stack
from tests.conftest import ROOT, free_port
from tests.fakes.servers import wait_for
from tests.services import start_postgres, start_redis

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory):
    if not any((ROOT / "models").glob("*.tar.gz")):
        pytest.fail("no trained model in models/")
    tmp = tmp_path_factory.mktemp("cluster")
    postgres = start_postgres(tmp / "pg", free_port(), secrets.token_urlsafe(16))
    redis = start_redis(tmp / "redis", free_port(), secrets.token_urlsafe(16))
    env = postgres.env | redis.env | {"CASES_DB": str(tmp / "cases.db"), "RETRY_PENDING_SECONDS": "1"}
    common = {"action_port": free_port(), "tracker_db": tmp / "channels" / "tracker.db",
              "endpoints": "deploy/endpoints.multi.yml", "action_token": secrets.token_urlsafe(24), "extra_env": env}
    a = Stack(rasa_port=free_port(), webchat_port=free_port(), log_dir=tmp / "log-a", **common)
    b = Stack(rasa_port=free_port(), webchat_port=free_port(), log_dir=tmp / "log-b", with_actions=False, **common)
    try:
        a.start_actions()
        a.start_rasa()
        b.start_rasa()
        a.start_webchat()
        b.start_webchat()
        a.wait_ready(300)
        b.wait_ready(300)
        yield {"a": a, "b": b, "postgres": postgres, "redis": redis, "tmp": tmp}
    finally:
        a.stop()
        b.stop()
        redis.stop()
        postgres.stop()


def say(stack: Stack, sender: str, text: str) -> list[dict]:
    r = httpx.post(f"{stack.rasa_url}/webhooks/rest/webhook", json={"sender": sender, "message": text}, timeout=60)
    r.raise_for_status()
    return r.json()


def test_a_conversation_continues_on_whichever_rasa_server_gets_the_next_message(cluster) -> None:
    a, b, texts = cluster["a"], cluster["b"], catalog()
    sender = f"t-{uuid.uuid4().hex}"
    say(a, sender, '/language{"lang":"uk"}')
    first = say(b, sender, '/interpreter{"request":"yes"}')  # B knows the language A set
    assert first[0]["text"] == texts.text("interp.ask.interp_appointment", "uk")
    second = say(a, sender, "fastlege")  # A knows the form B started
    assert second[0]["text"] == texts.text("interp.ask.interp_place", "uk")
    third = say(b, sender, "Sandvika legesenter")
    assert third[0]["text"] == texts.text("interp.ask.interp_date", "uk")
    # the conversation is in PostgreSQL, not in a local SQLite file
    tracker = TrackerDatabase(tracker_url(cluster["postgres"].env))
    assert tracker.event_count(sender) > 10
    assert not (cluster["tmp"] / "channels" / "tracker.db").exists()
    # and /delete erases it there
    assert tracker.forget(sender) > 0 and tracker.event_count(sender) == 0
    tracker.close()


def test_one_persons_simultaneous_messages_are_handled_one_at_a_time(cluster) -> None:
    """Two messages from one person reach the two servers at once, five
    times over: Rasa's Redis lock store makes them take turns, so each
    message's actions finish before the next message is read."""
    a, b = cluster["a"], cluster["b"]
    sender = f"t-{uuid.uuid4().hex}"
    commands_before = cluster["redis"].client().info("stats")["total_commands_processed"]
    results: list[list[dict]] = []
    for _ in range(5):
        threads = [threading.Thread(target=lambda s=s, t=t: results.append(say(s, sender, t)))
                   for s, t in ((a, "how do I get a fastlege?"), (b, "when does NAV pay?"))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert len(results) == 10 and all(results)
    events = httpx.get(a.api(f"/conversations/{sender}/tracker"), timeout=30).json()["events"]
    kinds = [e["event"] if e["event"] != "action" else f"action:{e['name']}" for e in events]
    users = [i for i, k in enumerate(kinds) if k == "user"]
    assert len(users) == 10, " ".join(kinds)
    for start, end in zip(users, users[1:], strict=False):
        assert "action:action_listen" in kinds[start:end], "a message was read before the previous one was done"
    assert cluster["redis"].client().info("stats")["total_commands_processed"] > commands_before


def test_two_channel_workers_share_the_channel_database(cluster) -> None:
    """SMS webhooks for one number land on either worker, one delivered
    twice to both: every message is answered exactly once."""
    workers = [cluster["a"], cluster["b"]]
    channels = cluster["tmp"] / "channels"
    secret = (channels / "sms-json-secret").read_text().strip()
    number = "+4791" + str(uuid.uuid4().int)[:6]

    def post(worker: Stack, message_id: str, text: str) -> int:
        raw = json.dumps({"id": message_id, "from": number, "text": text}).encode()
        ts = str(int(time.time()))
        return httpx.post(f"{worker.webchat_url}/sms/json", content=raw, timeout=30, headers={
            "content-type": "application/json", "X-Timestamp": ts, "X-Signature": sign(secret, ts, raw)}).status_code

    ids = [f"mm-{uuid.uuid4().hex}" for _ in range(4)]
    for i, message_id in enumerate(ids):
        assert post(workers[i % 2], message_id, ["hei", "fastlege?", "barnehage pris", "skole"][i]) == 200
        if i == 1:  # the gateway retries: the same message to the other worker
            assert post(workers[0], message_id, "fastlege?") == 200

    def answered() -> list[tuple[str, str]]:
        with sqlite3.connect(channels / "bot.db") as conn:
            return conn.execute("select external_id, status from inbound where sender = ?", [f"sms:{number}"]).fetchall()

    wait_for(lambda: len(answered()) == 4 and all(s == "answered" for _, s in answered()), timeout=120)
    with sqlite3.connect(channels / "bot.db") as conn:
        keys = [r[0] for r in conn.execute("select key from outbound where sender = ?", [f"sms:{number}"])]
    assert sorted(keys) == sorted(ids), "each message got exactly one reply"


def test_every_service_reports_health(cluster) -> None:
    a = cluster["a"]
    assert httpx.get(f"{a.webchat_url}/healthz").status_code == 200
    ready = httpx.get(f"{a.webchat_url}/readyz", timeout=10)
    assert ready.status_code == 200, ready.text
    assert httpx.get(f"http://127.0.0.1:{a.action_port}/healthz").status_code == 200
    assert httpx.get(f"http://127.0.0.1:{a.action_port}/readyz").status_code == 200
    assert httpx.get(f"{a.rasa_url}/").status_code == 200
    assert Path(cluster["tmp"] / "cases.db").exists()


def test_lock_tickets_are_unique_when_servers_race(cluster) -> None:
    """Eight 'servers' drawing tickets for one conversation at once never
    get the same ticket, and a finished ticket lets the next one in."""
    from concurrent.futures import ThreadPoolExecutor

    from ops.lock_store import AtomicRedisLockStore

    redis_env = cluster["redis"].env
    stores = [AtomicRedisLockStore(host="127.0.0.1", port=int(redis_env["REDIS_PORT"]),
                                   password=redis_env["REDIS_PASSWORD"], db=2) for _ in range(8)]
    conversation = f"race-{uuid.uuid4().hex}"
    with ThreadPoolExecutor(8) as pool:
        tickets = list(pool.map(lambda i: stores[i % 8].issue_ticket(conversation, 60), range(200)))
    assert len(set(tickets)) == 200
    lock = stores[0].get_lock(conversation)
    first = lock.now_serving
    assert not lock.is_locked(first) and lock.is_locked(first + 1)
    stores[3].cleanup(conversation, first)
    assert not stores[5].get_lock(conversation).is_locked(first + 1)
    for ticket in tickets:
        stores[1].cleanup(conversation, ticket)
    assert stores[2].get_lock(conversation) is None
