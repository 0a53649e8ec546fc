"""The channel server's endpoints and loops are module-level functions that
read a `ChannelServer` from the app's state: each works alone, mounted on a
tiny app or called with a hand-built server, without `create_server`."""

from __future__ import annotations

import asyncio
import sqlite3

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.testclient import TestClient

from caseworkers.cases import CaseStore
from channels import app as channel_app
from channels.app import ChannelServer, privacy, readyz, retention_loop, send_to_person, storage_unavailable
from channels.assistant import Reply
from channels.relay import Conversations
from channels.store import Store
from core.config import Settings
from locales.catalog import Catalog

CATALOG = Catalog.load()
RASA = "http://rasa.test:5005"
ACTIONS = "http://actions.test:5055/health"


def fake_http(up: set[str]) -> httpx.AsyncClient:
    """Answers 200 for the URLs in `up` (without the query), 503 for any other."""
    def answer(request: httpx.Request) -> httpx.Response:
        url = str(request.url.copy_with(query=None))
        return httpx.Response(200 if url in up else 503)
    return httpx.AsyncClient(transport=httpx.MockTransport(answer))


def channel_server(http: httpx.AsyncClient, store: Store | None = None, cases: CaseStore | None = None,
                   **settings: object) -> ChannelServer:
    store = store or Store(None)
    settings = {"rasa_url": RASA, "action_health_url": ACTIONS, **settings}
    # the assistant and the tracker store are not touched by these endpoints
    conversations = Conversations(None, store, CATALOG, "nb")  # type: ignore[arg-type]
    return ChannelServer(Settings(**settings), store, cases or CaseStore(None), conversations, CATALOG, http,
                         None, None)  # type: ignore[arg-type]


def tiny_app(server: ChannelServer) -> Starlette:
    app = Starlette(routes=[Route("/privacy", privacy), Route("/readyz", readyz)],
                    exception_handlers={sqlite3.OperationalError: storage_unavailable})
    app.state.channels = server
    return app


def test_privacy_serves_the_notice_on_its_own() -> None:
    with TestClient(tiny_app(channel_server(fake_http(set())))) as client:
        response = client.get("/privacy")
    assert response.status_code == 200
    assert response.text == channel_app.PRIVACY_TEXT.read_text(encoding="utf-8")
    assert response.text.strip()


def test_readyz_is_up_when_a_worker_the_actions_and_both_databases_are() -> None:
    server = channel_server(fake_http({RASA + "/status", ACTIONS}))
    with TestClient(tiny_app(server)) as client:
        response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"assistant": "up", "actions": "up", "channel_db": "up", "case_db": "up"}


def test_readyz_names_what_is_down() -> None:
    cases = CaseStore(None)
    cases.db.conn.close()  # a case database that cannot be used any more
    server = channel_server(fake_http({ACTIONS}), cases=cases)
    with TestClient(tiny_app(server)) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"assistant": "down", "actions": "up", "channel_db": "up", "case_db": "down"}


def test_send_to_person_goes_through_the_persons_channel() -> None:
    server = channel_server(fake_http(set()))
    sent: list[tuple[str, list[Reply], str, str]] = []

    async def deliver(sender: str, replies: list[Reply], lang: str, reference: str) -> None:
        sent.append((sender, replies, lang, reference))

    server.deliverers["sms"] = deliver
    asyncio.run(send_to_person(server, "sms:+4790000000", "Hei", "nb", "case-message:7"))
    assert sent == [("sms:+4790000000", [Reply("Hei", ())], "nb", "case-message:7")]
    with pytest.raises(ValueError):
        asyncio.run(send_to_person(server, "tg:42", "Hei", "nb", "case-message:8"))


def test_retention_loop_purges_before_its_first_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    server = channel_server(fake_http(set()))
    purged: list[ChannelServer] = []
    monkeypatch.setattr(channel_app, "purge", lambda settings, store, cases, tracker: purged.append(settings))

    async def once() -> None:
        task = asyncio.create_task(retention_loop(server))
        await asyncio.sleep(0.05)
        task.cancel()

    asyncio.run(once())
    assert purged == [server.settings]
