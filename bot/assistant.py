"""The one way every channel reaches the assistant: Rasa's REST channel.

A channel sends (sender id, text) and gets back channel-neutral replies:
text plus optional buttons (title, payload).
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass, field
from typing import Any

import httpx

logger = logging.getLogger(__name__)


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

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "buttons": [{"title": b.title, "payload": b.payload} for b in self.buttons]}


class AssistantClient:
    def __init__(self, base_url: str, timeout: float = 30.0, client: httpx.AsyncClient | None = None,
                 tracker_db: str | None = None) -> None:
        self._url = base_url.rstrip("/") + "/webhooks/rest/webhook"
        self._client = client or httpx.AsyncClient(timeout=timeout)
        self._tracker_db = tracker_db

    async def forget(self, sender_id: str) -> None:
        """Erase the person's conversation from Rasa's tracker store.

        Rasa 3.6's HTTP API cannot delete a conversation, so the rows are
        deleted from the SQLite tracker store directly (the default set-up).
        """
        if not self._tracker_db:
            raise RuntimeError("TRACKER_DB is not set: cannot erase conversations")
        with sqlite3.connect(self._tracker_db, timeout=10) as conn:
            tables = {r[0] for r in conn.execute("select name from sqlite_master where type = 'table'")}
            if "events" in tables:
                conn.execute("delete from events where sender_id = ?", [sender_id])

    async def send(self, sender_id: str, text: str) -> list[Reply]:
        try:
            response = await self._client.post(self._url, json={"sender": sender_id, "message": text})
            response.raise_for_status()
            payload = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            logger.warning("Rasa did not answer: %s", type(exc).__name__)
            raise AssistantUnavailable from exc
        return [parse_reply(item) for item in payload if isinstance(item, dict) and item.get("text")]

    async def close(self) -> None:
        await self._client.aclose()


def parse_reply(item: dict[str, Any]) -> Reply:
    buttons = tuple(
        Button(title=str(b.get("title", "")), payload=str(b.get("payload", "")))
        for b in item.get("buttons") or []
        if isinstance(b, dict)
    )
    return Reply(text=str(item.get("text", "")), buttons=buttons)
