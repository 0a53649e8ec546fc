"""The input channel the channel server reaches Rasa through: the REST
channel's shape (`{"sender", "message", "metadata"}` in, a list of messages
out, at `/webhooks/nabo/webhook`), but only for signed requests
(core.signing): a body without a fresh, unused HMAC from the channel server
is refused with 401 before Rasa sees it. Registered in `credentials.yml`;
loaded by the Rasa server, never by the channel server.

Unlike Rasa's REST channel it never logs the message text, and the sender's
channel name cannot be chosen by the caller.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from core.signing import Verifier, channel_secret

logger = logging.getLogger(__name__)
MAX_BODY_BYTES = 1_000_000


class SignedInput(InputChannel):
    """REST-shaped, HMAC-signed input channel (see the module docstring)."""

    @classmethod
    def name(cls) -> str:
        return "nabo"

    def __init__(self, secret: str | None = None) -> None:
        self.verifier = Verifier(secret or channel_secret())

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> SignedInput:
        # The secret is never in credentials.yml: from the environment or var/ (core.signing).
        return cls()

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        hook = Blueprint("nabo_signed_webhook", __name__)

        @hook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @hook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            body = request.body or b""
            if len(body) > MAX_BODY_BYTES:
                return response.json({"error": "too large"}, status=413)
            refused = self.verifier.check(request.headers, body)
            if refused:
                logger.warning("Refused a request to the signed channel: %s", refused)
                return response.json({"error": "unauthorized"}, status=401)
            try:
                data = json.loads(body)
            except (ValueError, RecursionError):
                return response.json({"error": "malformed"}, status=400)
            sender, text = (data.get("sender"), data.get("message")) if isinstance(data, dict) else (None, None)
            metadata = data.get("metadata") if isinstance(data, dict) else None
            if not isinstance(sender, str) or not sender or not isinstance(text, str):
                return response.json({"error": "malformed"}, status=400)
            collector = CollectingOutputChannel()
            try:
                await on_new_message(UserMessage(text, collector, sender, input_channel=self.name(),
                                                 metadata=metadata if isinstance(metadata, dict) else None))
            except asyncio.CancelledError:
                logger.error("Handling a message timed out")
            except Exception:  # noqa: BLE001 - answer with what was collected, as the REST channel does
                logger.exception("Handling a message failed")
            return response.json(collector.messages)

        return hook
