"""Both cores (issue 13): several Rasa workers behind the channel server.
A person always reaches the same worker, the next one only while theirs
cannot be reached (never after a timeout, which may mean it was handled);
the stack starts every worker with its share of the cores; Rasa's per-turn
costs found in the profile stay fixed."""

from __future__ import annotations

import socket
import sqlite3
import threading
from pathlib import Path

import httpx
import jsonschema
import numpy as np
import pytest
import scipy.sparse

from channels.assistant import AssistantClient, AssistantUnavailable
from scripts.stack import Stack, _ok, default_workers, ephemeral_start, free_port

WORKERS = ["http://w0.invalid", "http://w1.invalid", "http://w2.invalid"]
REPLY = [{"recipient_id": "x", "text": "hei"}]


def client_with(handler) -> AssistantClient:  # type: ignore[no-untyped-def]
    return AssistantClient(WORKERS, client=httpx.AsyncClient(transport=httpx.MockTransport(handler)),
                           secret="s" * 40)


def test_a_person_always_reaches_the_same_worker_and_people_spread_over_all() -> None:
    client = client_with(lambda r: httpx.Response(200, json=REPLY))
    firsts = {client.workers_for(f"tg:{n}")[0] for n in range(200)}
    assert len(firsts) == 3  # every worker gets people
    for sender in ("tg:1", "sms:+4790000000", "web:abcdef0123"):
        order = client.workers_for(sender)
        assert order == client.workers_for(sender) and sorted(order) == sorted(client._urls)


async def test_a_worker_that_cannot_be_reached_hands_its_people_to_the_next() -> None:
    seen: list[str] = []
    down = None

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.host)
        if request.url.host == down:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(200, json=REPLY)

    client = client_with(handler)
    sender = "tg:42"
    down = httpx.URL(client.workers_for(sender)[0]).host
    replies = await client.send(sender, "hei")
    assert [r.text for r in replies] == ["hei"]
    assert seen == [down, httpx.URL(client.workers_for(sender)[1]).host]


async def test_a_timeout_is_not_sent_again_to_another_worker() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.host)
        raise httpx.ReadTimeout("slow", request=request)

    with pytest.raises(AssistantUnavailable):
        await client_with(handler).send("tg:7", "hei")
    assert len(seen) == 1  # Rasa may have handled it: never twice


def test_every_worker_gets_its_port_and_its_share_of_the_cores(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("ENCODER_THREADS", raising=False)
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    monkeypatch.setattr("os.cpu_count", lambda: 4)
    stack = Stack(rasa_port=6100, rasa_workers=2, tracker_db=tmp_path / "tracker.db", log_dir=tmp_path / "log")
    env = stack.env()
    assert env["RASA_URLS"] == "http://127.0.0.1:6100,http://127.0.0.1:6101"
    assert env["ENCODER_THREADS"] == env["OMP_NUM_THREADS"] == "2"  # 4 cores, 2 workers
    assert env["OMP_WAIT_POLICY"] == "PASSIVE"  # idle OpenMP threads sleep instead of spinning
    assert list(stack.starters()) == ["actions", "rasa", "rasa-1", "webchat"]


def test_the_worker_count_defaults_to_the_cores(monkeypatch) -> None:
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    assert default_workers({}) == 2 and default_workers({"RASA_WORKERS": " "}) == 2
    assert default_workers({"RASA_WORKERS": "1"}) == 1
    with pytest.raises(ValueError):
        default_workers({"RASA_WORKERS": "0"})


def test_the_action_servers_answers_are_checked_as_rasa_checks_them() -> None:
    from rasa.core.actions.action import RemoteAction

    from ops.rasa_serve import validate_action_results_once_compiled

    original = RemoteAction._validate_action_result
    validate_action_results_once_compiled()
    try:
        action = RemoteAction.__new__(RemoteAction)
        assert action._validate_action_result({"events": [{"event": "slot", "name": "a", "value": 1}],
                                               "responses": [{"text": "hei"}]})
        with pytest.raises(jsonschema.ValidationError, match="Failed to validate Action server response"):
            action._validate_action_result({"events": "not a list"})
    finally:
        RemoteAction._validate_action_result = original


def test_the_classifier_keeps_its_weights_in_the_order_scipy_needs() -> None:
    from nlu.components import TopicClassifier

    rng = np.random.default_rng(1)
    coef, intercept = rng.normal(size=(5, 300)), rng.normal(size=5)
    classifier = TopicClassifier({}, None, None, {"topic_coef": coef, "topic_intercept": intercept})
    x = scipy.sparse.random(3, 300, density=0.05, format="csr", random_state=2)
    expected = np.exp(x @ coef.T + intercept)
    assert np.allclose(classifier._probabilities("topic", x), expected / expected.sum(axis=1, keepdims=True))
    assert classifier._weight_columns("topic").flags["C_CONTIGUOUS"]
    assert classifier._weight_columns("topic") is classifier._weight_columns("topic")  # made once


def test_workers_share_the_sqlite_tracker_store_in_wal_mode(tmp_path: Path) -> None:
    from ops.tracker_store import RecentTurnsTrackerStore

    store = RecentTurnsTrackerStore(domain=None, dialect="sqlite", db=str(tmp_path / "tracker.db"))
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 10000
    assert sqlite3.connect(tmp_path / "tracker.db").execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_garbled_reply_while_a_server_starts_means_not_ready_yet() -> None:
    """CI once failed here: polling a port before its server listened, the
    client connected to itself and read back its own request line, which
    http.client raises as BadStatusLine; that must mean "not ready", not end
    the start-up."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()

        def echo_request_line() -> None:
            conn, _ = server.accept()
            with conn:
                conn.recv(1024)
                conn.sendall(b"GET / HTTP/1.1\r\n\r\n")

        thread = threading.Thread(target=echo_request_line, daemon=True)
        thread.start()
        assert _ok(f"http://127.0.0.1:{server.getsockname()[1]}/") is False
        thread.join(5)


def test_test_ports_lie_below_the_ephemeral_range_so_a_poll_cannot_self_connect(tmp_path: Path) -> None:
    for _ in range(20):
        port = free_port(span=2)
        assert 1024 < port and port + 1 < ephemeral_start()
    (tmp_path / "range").write_text("40000\t60999\n")
    assert ephemeral_start(tmp_path / "range") == 40000
    assert ephemeral_start(tmp_path / "missing") == 32768
