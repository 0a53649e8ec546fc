"""The reply language is decided once, by the actions, and travels with the
reply: the channels do not guess it again from the reply's words."""

from __future__ import annotations

import httpx

from channels.assistant import AssistantClient, Reply
from channels.relay import Conversations
from channels.store import Store
from locales.catalog import Catalog


def rasa_answering(payload: list[dict]) -> AssistantClient:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json=payload))
    return AssistantClient("http://rasa.invalid", client=httpx.AsyncClient(transport=transport))


async def test_the_actions_marker_sets_the_language_of_every_reply() -> None:
    # Somali replies that quote Norwegian words (NAV, fastlege) would be detected as Norwegian
    client = rasa_answering([{"recipient_id": "x", "text": "NAV fastlege kommune barnehage"},
                             {"recipient_id": "x", "text": "Ma rabtaa qof?", "buttons": [{"title": "Haa", "payload": "/caseworker"}]},
                             {"recipient_id": "x", "custom": {"reply_language": "so"}}])
    replies = await client.send("web:abc", "hal")
    assert [r.language for r in replies] == ["so", "so"] and len(replies) == 2  # the marker is not a message


async def test_the_relay_uses_the_decided_language_not_a_guess() -> None:
    store, delivered = Store(None), []

    class Assistant:
        async def send(self, sender: str, text: str, metadata: dict | None = None) -> list[Reply]:
            return [Reply("NAV fastlege kommune barnehage Sandvika", language="so")]

    async def deliver(sender: str, replies: list[Reply], lang: str, reference: str = "") -> None:
        delivered.append(lang)

    relay = Conversations(Assistant(), store, Catalog.load())  # type: ignore[arg-type]
    await relay.handle("web", "m-1", "web:abc", "NAV", deliver)
    assert delivered == ["so"] and store.language("web:abc") == "so"


async def test_without_a_marker_the_language_is_detected_as_before() -> None:
    client = rasa_answering([{"recipient_id": "x", "text": "Hvordan får jeg fastlege?"}])
    assert [r.language for r in await client.send("web:abc", "hei")] == [""]
