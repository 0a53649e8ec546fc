"""The one way every channel reaches the assistant: our signed input channel
in Rasa (`channels/rasa_channel.py`, the REST channel's shape plus an HMAC
per request, core.signing), never Rasa's open REST channel.

A channel sends (sender id, text) and gets back channel-neutral replies:
text plus optional buttons (title, payload).

With several Rasa workers (one per core, issue 13) a person always goes to
the same worker (a stable hash of the sender id), and to the next one while
theirs cannot be reached (starting, restarting). That is safe because the
workers share one tracker store and the relay hands Rasa one message of a
person at a time; only a refused connection fails over, never a timeout,
so a message Rasa may have handled is not handled twice.
"""

from __future__ import annotations

import asyncio
import json
import logging
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import quote

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
    def __init__(self, base_url: str | Sequence[str], timeout: float = 30.0, client: httpx.AsyncClient | None = None,
                 tracker: TrackerDatabase | None = None, api_token: str = "", secret: str | None = None) -> None:
        bases = [base_url] if isinstance(base_url, str) else list(base_url)
        if not bases:
            raise ValueError("no Rasa server to send messages to")
        self._urls = [b.rstrip("/") + WEBHOOK_PATH for b in bases]
        self._api = bases[0].rstrip("/")  # Rasa's HTTP API (parse, tracker) on the first worker
        self._api_token = api_token
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
            response = await self._post(sender_id, raw)
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

    def workers_for(self, sender_id: str) -> list[str]:
        """The workers to try for this person, theirs first."""
        first = zlib.crc32(sender_id.encode()) % len(self._urls)
        return self._urls[first:] + self._urls[:first]

    async def _post(self, sender_id: str, raw: bytes) -> httpx.Response:
        urls = self.workers_for(sender_id)
        for url in urls[:-1]:
            try:
                return await self._client.post(url, content=raw, headers=self._sign(raw))
            except httpx.ConnectError:  # not reachable: the message never arrived, the next worker takes it
                logger.info("a Rasa worker cannot be reached; trying the next")
        return await self._client.post(urls[-1], content=raw, headers=self._sign(raw))

    async def parse(self, text: str) -> dict[str, Any] | None:
        """What the NLU understands a message as (topic, answer, emergency
        tier, language), without a conversation turn: Rasa's HTTP API
        (`--enable-api`, with its token). None when Rasa does not answer."""
        params = {"token": self._api_token} if self._api_token else None
        try:
            response = await self._client.post(f"{self._api}/model/parse", json={"text": text}, params=params)
            response.raise_for_status()
            parsed = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            logger.warning("Rasa did not parse: %s", type(exc).__name__)
            return None
        return parsed if isinstance(parsed, dict) else None

    async def active_form(self, sender_id: str) -> str | None:
        """The form the person is in the middle of (the interpreter request),
        from Rasa's HTTP API; None when none, or when Rasa does not answer."""
        url = f"{self._api}/conversations/{quote(sender_id, safe='')}/tracker"
        params = {"include_events": "NONE", **({"token": self._api_token} if self._api_token else {})}
        try:
            response = await self._client.get(url, params=params)
            response.raise_for_status()
            tracker = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            logger.warning("Rasa did not give the tracker: %s", type(exc).__name__)
            return None
        loop = tracker.get("active_loop") if isinstance(tracker, dict) else None
        return str(loop["name"]) if isinstance(loop, dict) and loop.get("name") else None

    async def close(self) -> None:
        await self._client.aclose()


def parse_reply(item: dict[str, Any]) -> Reply:
    buttons = tuple(
        Button(title=str(b.get("title", "")), payload=str(b.get("payload", "")))
        for b in item.get("buttons") or []
        if isinstance(b, dict)
    )
    return Reply(text=str(item.get("text", "")), buttons=buttons)
