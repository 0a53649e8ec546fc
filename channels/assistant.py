"""The one way every channel reaches the assistant: our signed input channel
in Rasa (`channels/rasa_channel.py`, the REST channel's shape plus an HMAC
per request, core.signing), never Rasa's open REST channel.

A channel sends (sender id, text) and gets back channel-neutral replies:
text plus optional buttons (title, payload).
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field, replace
from typing import Any

import httpx

from channels.tracker import TrackerDatabase
from core.signing import channel_secret, signed_headers

logger = logging.getLogger(__name__)
#: The signed input channel's webhook (Rasa mounts a channel named "nabo" at /webhooks/nabo).
WEBHOOK_PATH = "/webhooks/nabo/webhook"


class AssistantUnavailable(Exception):
    """Rasa did not answer (down, starting, timed out, or errored)."""


@dataclass(frozen=True)
class Button:
    title: str
    payload: str


@dataclass(frozen=True)
class Reply:
    text: str
    buttons: tuple[Button, ...] = field(default_factory=tuple)
    #: The language the actions wrote it in (their `reply_language` marker); empty if they did not say.
    language: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "buttons": [{"title": b.title, "payload": b.payload} for b in self.buttons]}


class AssistantClient:
    def __init__(self, base_url: str, timeout: float = 30.0, client: httpx.AsyncClient | None = None,
                 tracker: TrackerDatabase | None = None, secret: str | None = None) -> None:
        self._url = base_url.rstrip("/") + WEBHOOK_PATH
        self._client = client or httpx.AsyncClient(timeout=timeout)
        self._tracker = tracker
        self._secret = secret  # None: RASA_CHANNEL_SECRET or var/rasa-channel-secret, read at the first send

    def _sign(self, body: bytes) -> dict[str, str]:
        if self._secret is None:
            self._secret = channel_secret()
        return {"content-type": "application/json", **signed_headers(self._secret, body)}

    async def forget(self, sender_id: str) -> None:
        """Erase the person's conversation from Rasa's tracker store.

        Rasa 3.6's HTTP API cannot delete a conversation, so the rows are
        deleted from the SQL tracker store directly (channels.tracker).
        """
        if self._tracker is None:
            raise RuntimeError("no tracker store configured: cannot erase conversations")
        await asyncio.to_thread(self._tracker.forget, sender_id)

    async def send(self, sender_id: str, text: str, metadata: dict[str, str] | None = None) -> list[Reply]:
        """The assistant's replies to one message. `metadata` travels with the
        message to the actions (e.g. Telegram's `language_hint`)."""
        body: dict[str, object] = {"sender": sender_id, "message": text}
        if metadata:
            body["metadata"] = metadata
        raw = json.dumps(body).encode("ascii")  # ASCII-escaped: exactly the bytes signed
        try:
            response = await self._client.post(self._url, content=raw, headers=self._sign(raw))
            if response.status_code == 401:  # a configuration fault, not an outage: say which
                logger.error("Rasa refused the signed message: RASA_CHANNEL_SECRET differs between the channel "
                             "server and Rasa, or their clocks are more than 5 minutes apart")
            response.raise_for_status()
            payload = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            logger.warning("Rasa did not answer: %s", type(exc).__name__)
            raise AssistantUnavailable from exc
        replies = [parse_reply(item) for item in payload if isinstance(item, dict) and item.get("text")]
        language = next((str(item["custom"]["reply_language"]) for item in payload if isinstance(item, dict)
                         and isinstance(item.get("custom"), dict) and item["custom"].get("reply_language")), "")
        if language:  # decided by the actions: the channels do not guess it again
            replies = [replace(r, language=language) for r in replies]
        if not replies:
            # Every turn of ours says something: no reply means Rasa could not
            # run its actions (the action server is down or failing).
            logger.warning("Rasa answered without a reply (action server down?)")
            raise AssistantUnavailable("no reply")
        return replies

    async def close(self) -> None:
        await self._client.aclose()


def parse_reply(item: dict[str, Any]) -> Reply:
    buttons = tuple(
        Button(title=str(b.get("title", "")), payload=str(b.get("payload", "")))
        for b in item.get("buttons") or []
        if isinstance(b, dict)
    )
    return Reply(text=str(item.get("text", "")), buttons=buttons)
