"""The chat page's API: bad input and an unavailable assistant get a clear
answer in the person's language; good input reaches the assistant through the
relay (recorded once by id, kept while the assistant is down, answered later
through the inbox, which loses nothing until the page acknowledges it)."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from channels.assistant import AssistantUnavailable, Button, Reply
from channels.relay import Conversations
from channels.store import Store
from channels.webchat import create_app, web_deliverer
from core.config import Settings
from locales.catalog import Catalog

CATALOG = Catalog.load()


class FakeAssistant:
    def __init__(self, fail: bool = False) -> None:
        self.fail, self.sent = fail, []

    async def send(self, sender_id: str, text: str, metadata: dict[str, str] | None = None) -> list[Reply]:
        if self.fail:
            raise AssistantUnavailable()
        self.sent.append((sender_id, text))
        return [Reply("svar", (Button("Ja", "/caseworker"),))]


def client(fake: FakeAssistant, store: Store | None = None, **settings: object) -> TestClient:
    return TestClient(create_app(Settings(**settings), client=fake, catalog=CATALOG,  # type: ignore[arg-type]
                                 store=store or Store(None)))


SENDER = "abcdef0123456789"


def test_message_is_forwarded_with_a_channel_prefixed_sender() -> None:
    fake = FakeAssistant()
    r = client(fake).post("/api/messages", json={"sender": SENDER, "text": " jeg trenger lege \u200b"})
    assert r.status_code == 200
    assert fake.sent == [(f"web:{SENDER}", "jeg trenger lege")]
    assert r.json()["messages"] == [{"text": "svar", "buttons": [{"title": "Ja", "payload": "/caseworker"}]}]


@pytest.mark.parametrize("text", ["", "   ", "\u200b\u200b", None, 42])
def test_empty_message_gets_a_clear_answer_in_the_page_language(text: object) -> None:
    fake = FakeAssistant()
    r = client(fake).post("/api/messages", json={"sender": SENDER, "text": text, "lang": "ar"})
    assert r.status_code == 422
    assert r.json()["messages"][0]["text"] == CATALOG.text("input.empty", "ar")
    assert fake.sent == []


def test_too_long_message_is_refused_in_its_own_language() -> None:
    text = "Я не можу знайти сімейного лікаря для своєї дитини. " * 100
    r = client(FakeAssistant(), max_message_chars=2000).post("/api/messages", json={"sender": SENDER, "text": text})
    assert r.status_code == 413
    assert r.json()["messages"][0]["text"] == CATALOG.text("input.too_long", "uk", limit=2000)


def test_assistant_down_is_told_in_the_persons_language() -> None:
    r = client(FakeAssistant(fail=True)).post("/api/messages", json={"sender": SENDER, "text": "أحتاج إلى طبيب لابني من فضلك"})
    assert r.status_code == 202  # accepted: kept, answered when the assistant is back
    assert r.json()["messages"][0]["text"] == CATALOG.text("service.queued", "ar")


async def test_a_message_kept_while_the_assistant_is_down_is_answered_through_the_inbox() -> None:
    store, fake = Store(None), FakeAssistant(fail=True)
    c = client(fake, store=store)
    assert c.post("/api/messages", json={"sender": SENDER, "text": "hvordan får jeg fastlege", "id": "m-00000001"}
                  ).status_code == 202
    assert c.post("/api/messages", json={"sender": SENDER, "text": "hvordan får jeg fastlege", "id": "m-00000001"}
                  ).json()["duplicate"] is True  # the page's retry of the same message is not a second message
    fake.fail = False
    conversations = Conversations(fake, store, CATALOG)  # type: ignore[arg-type]
    assert await conversations.retry_pending({"web": web_deliverer(store)}, stale_after_seconds=0) == 1
    assert fake.sent == [(f"web:{SENDER}", "hvordan får jeg fastlege")]
    first = c.post("/api/inbox", json={"sender": SENDER, "ack": []}).json()["messages"]
    assert [m["text"] for m in first] == ["svar"]
    # read but not acknowledged (the response was lost): returned again; acknowledged: gone
    again = c.post("/api/inbox", json={"sender": SENDER, "ack": []}).json()["messages"]
    assert [m["id"] for m in again] == [first[0]["id"]]
    assert c.post("/api/inbox", json={"sender": SENDER, "ack": [first[0]["id"]]}).json()["messages"] == []
    assert c.post("/api/inbox", json={"sender": "someone-else-0001", "ack": []}).json()["messages"] == []


def test_inbox_is_not_read_by_a_plain_get() -> None:
    assert client(FakeAssistant()).get("/api/inbox", params={"sender": SENDER}).status_code == 405


@pytest.mark.parametrize("body", [b"{not json", b"[1,2]", b'{"sender": "x", "text": "hei"}', b'{"text": "hei"}'])
def test_malformed_requests_are_rejected(body: bytes) -> None:
    fake = FakeAssistant()
    r = client(fake).post("/api/messages", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 400
    assert fake.sent == []


def test_page_and_texts_with_security_headers() -> None:
    c = client(FakeAssistant())
    page = c.get("/")
    assert page.status_code == 200 and "chat.js" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    texts = c.get("/api/texts", params={"lang": "fa"}).json()
    assert texts["dir"] == "rtl" and texts["web.placeholder"] == CATALOG.text("web.placeholder", "fa")
    assert c.get("/api/texts", params={"lang": "xx"}).json()["dir"] == "ltr"
    assert c.get("/healthz").json() == {"status": "ok"}


def test_erase_needs_json_and_a_valid_id_then_forgets_the_person() -> None:
    store, fake = Store(None), FakeAssistant()
    fake.forgotten = []

    async def forget(sender_id: str) -> None:
        fake.forgotten.append(sender_id)

    fake.forget = forget  # type: ignore[attr-defined]
    c = client(fake, store=store)
    c.post("/api/messages", json={"sender": SENDER, "text": "hei", "id": "m-00000002"})
    assert store.inbound_status_by_external("web", "m-00000002") == "answered"
    assert c.post("/api/erase", data={"sender": SENDER}).status_code == 415  # no cross-site form post
    assert c.post("/api/erase", json={"sender": "x"}).status_code == 400
    assert fake.forgotten == [] and store.inbound_status_by_external("web", "m-00000002") == "answered"
    r = c.post("/api/erase", json={"sender": SENDER})
    assert r.status_code == 200 and r.json()["erased"] is True
    assert r.json()["messages"][0]["text"] == CATALOG.text("delete.done", "nb")
    assert fake.forgotten == [f"web:{SENDER}"] and store.inbound_status_by_external("web", "m-00000002") is None
