"""SMS through a gateway: inbound webhooks, replies written for SMS, and
outbound sending that is retried and idempotent.

Two gateway adapters share everything but the wire format:
- Twilio-compatible: form POST with `X-Twilio-Signature` (validated with the
  `twilio` library); replies go out through its REST API.
- Generic JSON: `{"id", "from", "to", "text"}` signed with HMAC-SHA256 over
  "<timestamp>.<body>" in `X-Signature` (hex) and `X-Timestamp`, the shape
  most Norwegian SMS providers offer; replies are POSTed as JSON, signed the
  same way, with a `reference` the gateway uses to drop duplicates.

A bad signature gets 403 and nothing is processed; a gateway's retry of a
message is processed once. Numbers are normalised to E.164.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import math
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
import phonenumbers
import yaml
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential
from twilio.request_validator import RequestValidator

from channels.assistant import Reply
from channels.relay import Conversations, Undeliverable
from channels.sms.text import options_in, split_for_sms, with_options
from channels.store import Store
from core.config import ROOT
from core.payloads import clean_text, read_limited, sanitize
from core.privacy import pseudonym
from core.senders import address_of, sender_id
from ops import metrics

logger = logging.getLogger(__name__)
KEYWORDS_FILE = ROOT / "data" / "sms_keywords.yml"
MAX_TIMESTAMP_SKEW = 300  # seconds
MAX_BODY_BYTES = 256 * 1024  # a webhook body; an SMS is a few kilobytes at most
MAX_SMS_CHARS = 2000  # longer texts are cut (no phone sends that much in one message)
MAX_ID_CHARS = 200


class SendFailed(Exception):
    """The gateway did not answer or is overloaded (5xx, 429); worth another try."""


class Gateway(Protocol):
    async def send(self, to: str, text: str, reference: str) -> str:
        """Send one SMS; return the gateway's message id."""


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """HMAC-SHA256 signature of the generic JSON gateway (also used in tests)."""
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def verify_json_signature(secrets: list[str], timestamp: str, signature: str, body: bytes, now: float) -> bool:
    """Constant-time check against every active secret (rotation); old
    timestamps are refused so a captured request cannot be replayed."""
    try:
        sent = float(timestamp)
    except ValueError:
        return False
    if not math.isfinite(sent) or abs(now - sent) > MAX_TIMESTAMP_SKEW:  # "nan" would pass a plain comparison
        return False
    # As bytes: compare_digest refuses str with non-ASCII characters (a header may carry any byte).
    given = signature.encode("utf-8", "replace")
    return any(hmac.compare_digest(sign(s, timestamp, body).encode(), given) for s in secrets if s)


def e164(number: str, region: str = "NO") -> str | None:
    try:
        parsed = phonenumbers.parse(number, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


class TwilioGateway:
    def __init__(self, client: httpx.AsyncClient, api_url: str, account_sid: str, auth_token: str, sender: str,
                 timeout: float = 10.0) -> None:
        self._client, self._sid, self._token, self._from = client, account_sid, auth_token, sender
        self._timeout = timeout
        self._url = f"{api_url.rstrip('/')}/2010-04-01/Accounts/{account_sid}/Messages.json"

    async def send(self, to: str, text: str, reference: str) -> str:
        try:
            r = await self._client.post(self._url, data={"To": to, "From": self._from, "Body": text},
                                        auth=(self._sid, self._token), headers={"Idempotency-Key": reference},
                                        timeout=self._timeout)
        except httpx.HTTPError as exc:
            raise SendFailed(type(exc).__name__) from exc
        if r.status_code >= 500 or r.status_code == 429:
            raise SendFailed(f"HTTP {r.status_code}")
        if r.status_code >= 400:
            raise Undeliverable(f"HTTP {r.status_code}")  # refused for good: not worth retrying
        return str(r.json().get("sid", ""))


class JsonGateway:
    def __init__(self, client: httpx.AsyncClient, url: str, secret: str, sender: str, timeout: float = 10.0) -> None:
        self._client, self._url, self._secret, self._from = client, url, secret, sender
        self._timeout = timeout

    async def send(self, to: str, text: str, reference: str) -> str:
        body = json.dumps({"to": to, "from": self._from, "text": text, "reference": reference},
                          ensure_ascii=False).encode()
        ts = str(int(time.time()))
        headers = {"Content-Type": "application/json", "X-Timestamp": ts, "X-Signature": sign(self._secret, ts, body)}
        try:
            r = await self._client.post(self._url, content=body, headers=headers, timeout=self._timeout)
        except httpx.HTTPError as exc:
            raise SendFailed(type(exc).__name__) from exc
        if r.status_code >= 500 or r.status_code == 429:
            raise SendFailed(f"HTTP {r.status_code}")
        if r.status_code >= 400:
            raise Undeliverable(f"HTTP {r.status_code}")
        return str(r.json().get("id", ""))


class OutboxGateway:
    """No SMS provider configured: replies are only recorded (the outbound
    table of bot.db), so the webhook can be tried locally."""

    def __init__(self) -> None:
        self.count = 0

    async def send(self, to: str, text: str, reference: str) -> str:
        self.count += 1
        return f"outbox-{self.count}"


@dataclass(frozen=True)
class SmsSettings:
    max_segments: int = 3
    rate_per_minute: int = 10
    send_attempts: int = 2  # at once; then the resend job, with pauses growing to an hour (store.backoff_seconds)
    backoff_seconds: float = 0.5


#: Keys of sends that go even to a number that sent STOP: they answer the person's own request.
ANSWERED_AFTER_STOP = (":sms.stopped", ":sms.delete_confirm", ":delete.done")


class SmsChannel:
    def __init__(self, conversations: Conversations, store: Store, gateway: Gateway, settings: SmsSettings,
                 log_salt: str = "") -> None:
        self.conversations, self.store, self.gateway, self.settings = conversations, store, gateway, settings
        self._salt = log_salt
        self._recent: dict[str, deque[float]] = defaultdict(deque)
        self._warned: set[str] = set()
        self._delete_asked: dict[str, float] = {}
        keywords = yaml.safe_load(KEYWORDS_FILE.read_text(encoding="utf-8"))
        self._keywords = {kind: {w.casefold() for w in words} for kind, words in keywords.items()}

    def keyword(self, text: str) -> str | None:
        word = text.strip().strip(".!").casefold()
        return next((kind for kind, words in self._keywords.items() if word in words), None)

    def _rate_limited(self, sender: str, now: float) -> bool:
        window = self._recent[sender]
        while window and now - window[0] > 60:
            window.popleft()
        window.append(now)
        return len(window) > self.settings.rate_per_minute

    async def handle_recorded(self, inbound_id: int, message_id: str, number: str, text: str) -> None:
        """Answer an SMS already recorded in the store."""
        sender = sender_id("sms", number)
        kind = self.keyword(text)
        handled = await self._handle_locally(inbound_id, sender, message_id, text, kind)
        if handled:
            return
        option = text.strip()
        if option.isascii() and option.isdigit() and len(option) <= 2:  # "1" -> that button's payload ("²" is no option)
            payload = self.store.option(sender, int(option))
            if payload is None:  # no such option shown: say so, do not guess what "1" means
                await self._say(sender, "sms.no_option", message_id, "")
                self.store.set_inbound_status(inbound_id, "answered")
                return
            text = payload
        await self.conversations.process(inbound_id, sender, text, self.deliver, reference=message_id)

    async def _handle_locally(self, inbound_id: int, sender: str, message_id: str, text: str,
                              kind: str | None) -> bool:
        """Keywords, opt-outs and the rate limit, answered without the
        assistant. True when the message needs nothing more."""
        status = "answered"
        if kind == "stop":
            self.store.opt_out(sender)
            await self._say(sender, "sms.stopped", message_id, text)
        elif kind == "start":
            self.store.opt_in(sender)
            await self._say(sender, "sms.started", message_id, text)
        elif kind == "delete":  # twice within 10 minutes: the first asks, the second erases; also after STOP
            asked = self._delete_asked.pop(sender, None)
            if asked is not None and time.monotonic() - asked < 600:
                await self.conversations.erase(sender)
                self.store.record_erased("sms", message_id)  # a gateway retry of it is still a duplicate
                await self._say(sender, "delete.done", message_id, text)
                return True
            self._delete_asked[sender] = time.monotonic()
            await self._say(sender, "sms.delete_confirm", message_id, text)
        elif self.store.opted_out(sender):
            status = "ignored"
        elif self._rate_limited(sender, time.monotonic()):
            status = "ignored"
            if sender not in self._warned:
                self._warned.add(sender)
                await self._say(sender, "sms.rate_limited", message_id, text)
            logger.info("Rate limit for %s", pseudonym(sender, self._salt))
        elif kind == "help":
            self._warned.discard(sender)
            await self._say(sender, "sms.help", message_id, text)
        elif not text.strip():  # an empty SMS (or only "/"): nothing to ask the assistant
            self._warned.discard(sender)
            await self._say(sender, "input.empty", message_id, text)
        elif kind == "more":
            self._warned.discard(sender)
            parts = self.store.pop_more(sender)
            if parts:
                self.store.set_more(sender, parts[1:])
                self.store.show_options(sender, options_in(parts[0]))
                await self._send(sender, parts[0], f"{message_id}:more")
            else:
                await self._say(sender, "sms.no_more", message_id, text)
        else:
            self._warned.discard(sender)
            return False
        self.store.set_inbound_status(inbound_id, status)
        return True

    async def deliver(self, sender: str, replies: list[Reply], lang: str, reference: str = "") -> None:
        """All replies to one message as one SMS conversation turn: buttons
        become numbered options, long text is split with MORE. `reference`
        (what the replies answer) is the send's idempotency key, so a retried
        delivery after a crash is never sent twice."""
        texts = self.conversations.catalog
        body = "\n\n".join(r.text for r in replies if r.text)
        buttons = next((r.buttons for r in reversed(replies) if r.buttons), ())
        body = with_options(body, [b.title for b in buttons], texts.text("sms.options", lang))
        parts = split_for_sms(body, self.settings.max_segments, texts.text("sms.more", lang))
        self.store.set_options(sender, [b.payload for b in buttons], shown=options_in(parts[0]))
        self.store.set_more(sender, parts[1:])
        await self._send(sender, parts[0], reference or f"{sender}:{time.time_ns()}")  # no reference: a one-off notice

    async def _say(self, sender: str, key: str, message_id: str, text: str) -> None:
        reply, _ = self.conversations.text(key, sender, text)
        await self._send(sender, reply, f"{message_id}:{key}")

    async def _send(self, sender: str, text: str, key: str) -> None:
        """Queue once (idempotency key) and send with retries; a send that
        keeps failing is recorded as failed for an operator to see."""
        outbound_id = self.store.queue_outbound("sms", sender, key, {"text": text})
        if outbound_id is None:
            return
        await self.send_queued(outbound_id)

    async def send_queued(self, outbound_id: int) -> None:
        """Send one queued SMS: a couple of quick tries, then the resend job
        takes it over with pauses kept in the row. Nothing goes to a number
        that sent STOP, except the answers to what the person asked after it
        (the STOP itself, DELETE's question and its confirmation)."""
        row = self.store.outbound(outbound_id)
        if row["status"] in ("sent", "failed", "dropped"):
            return
        if self.store.opted_out(row["sender"]) and not row["key"].endswith(ANSWERED_AFTER_STOP):
            self.store.mark_outbound(outbound_id, "dropped", "opted out")
            return
        to = address_of(row["sender"])
        text = json.loads(row["body"])["text"]
        try:
            async for attempt in AsyncRetrying(retry=retry_if_exception_type(SendFailed),
                                               stop=stop_after_attempt(self.settings.send_attempts),
                                               wait=wait_exponential(self.settings.backoff_seconds, max=30),
                                               reraise=True):
                with attempt:
                    if attempt.retry_state.attempt_number > 1:
                        self.store.mark_outbound(outbound_id, "retrying", "previous attempt failed")
                        metrics.SEND_RETRIES.labels("sms").inc()
                    provider_id = await self.gateway.send(to, text, row["key"])
        except SendFailed as exc:
            status = self.store.defer_outbound(outbound_id, str(exc))
            if status == "failed":
                metrics.SEND_FAILURES.labels("sms").inc()
            logger.warning("SMS to %s not sent yet (%s): %s", pseudonym(row["sender"], self._salt), exc, status)
            return
        except Undeliverable as exc:
            self.store.mark_outbound(outbound_id, "failed", str(exc))
            metrics.SEND_FAILURES.labels("sms").inc()
            logger.error("SMS to %s refused for good: %s", pseudonym(row["sender"], self._salt), exc)
            return
        self.store.mark_outbound(outbound_id, "sent", provider_id=provider_id)
        if row["key"].endswith(":delete.done"):  # the last word to an erased number: not kept once sent
            self.store.drop_outbound(outbound_id)

    async def resend_due(self, stale_after_seconds: float = 60.0) -> int:
        """The resend job: sends whose pause is over, and sends a process that
        died left queued. Returns how many were tried."""
        due = self.store.outbound_due("sms", stale_after_seconds)
        for row in due:
            await self.send_queued(row["id"])
        return len(due)

    # -- HTTP endpoints -----------------------------------------------------------------
    def routes(self, twilio_token: str, twilio_public_url: str, json_secrets: list[str]) -> list[Route]:
        validator = RequestValidator(twilio_token) if twilio_token else None

        async def twilio_params(request: Request) -> dict[str, str] | Response:
            """The form, if its signature is right (checked before anything else)."""
            if validator is None:
                return Response(status_code=404)
            if await read_limited(request, MAX_BODY_BYTES) is None:
                return Response("too large", status_code=413)
            params = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}  # no files
            url = twilio_public_url.rstrip("/") + request.url.path
            if not validator.validate(url, params, request.headers.get("X-Twilio-Signature", "")):
                return Response("forbidden", status_code=403)
            return params

        async def json_data(request: Request) -> dict[str, Any] | Response:
            """The JSON body, if its signature and timestamp are right."""
            if not json_secrets:
                return Response(status_code=404)
            body = await read_limited(request, MAX_BODY_BYTES)
            if body is None:
                return JSONResponse({"error": "too large"}, status_code=413)
            if not verify_json_signature(json_secrets, request.headers.get("X-Timestamp", ""),
                                         request.headers.get("X-Signature", ""), body, time.time()):
                return Response("forbidden", status_code=403)
            try:
                data = json.loads(body)
            except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
                return JSONResponse({"error": "malformed"}, status_code=400)
            return data if isinstance(data, dict) else JSONResponse({"error": "malformed"}, status_code=400)

        async def twilio_inbound(request: Request) -> Response:
            params = await twilio_params(request)
            if isinstance(params, Response):
                return params
            return await self._accept(params.get("MessageSid", ""), params.get("From", ""), params.get("Body", ""),
                                      twiml=True)

        async def twilio_status(request: Request) -> Response:
            params = await twilio_params(request)
            if isinstance(params, Response):
                return params
            self.store.record_receipt(_field(params.get("MessageSid")), _field(params.get("MessageStatus")))
            return Response(status_code=204)

        async def json_inbound(request: Request) -> Response:
            data = await json_data(request)
            if isinstance(data, Response):
                return data
            return await self._accept(_field(data.get("id")), _field(data.get("from")), data.get("text"))

        async def json_receipt(request: Request) -> Response:
            data = await json_data(request)
            if isinstance(data, Response):
                return data
            self.store.record_receipt(_field(data.get("id")), _field(data.get("status")))
            return Response(status_code=204)

        return [
            Route("/sms/twilio", twilio_inbound, methods=["POST"]),
            Route("/sms/twilio/status", twilio_status, methods=["POST"]),
            Route("/sms/json", json_inbound, methods=["POST"]),
            Route("/sms/json/receipts", json_receipt, methods=["POST"]),
        ]

    async def _accept(self, message_id: str, number: str, text: object, twiml: bool = False) -> Response:
        normalized = e164(number) if number else None
        if not message_id or normalized is None or not isinstance(text, str):
            return JSONResponse({"error": "need id, a valid phone number and text"}, status_code=400)
        # Recorded before the gateway hears "accepted" (a crash after that
        # loses nothing: the retry loop answers it); the reply goes out
        # through the gateway's API.
        text = sanitize(text[:MAX_SMS_CHARS])  # valid Unicode; a "/" payload only in a shape our buttons produce
        inbound_id = self.store.record_inbound("sms", message_id, sender_id("sms", normalized), text)
        if inbound_id is None:
            metrics.DUPLICATES.labels("sms").inc()
            return Response("<Response/>", media_type="application/xml") if twiml else JSONResponse(
                {"status": "duplicate"})
        task = asyncio.create_task(self.handle_recorded(inbound_id, message_id, normalized, text))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        if twiml:
            return Response("<Response/>", media_type="application/xml")
        return JSONResponse({"status": "accepted"})

    @property
    def _tasks(self) -> set[asyncio.Task]:
        if not hasattr(self, "_task_set"):
            self._task_set: set[asyncio.Task] = set()
        return self._task_set

    async def drain(self) -> None:
        """Wait for messages being handled (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


def _field(value: object) -> str:
    """A gateway's id, number or status: a string or a number, bounded and
    storable; anything else (null, lists, objects, true) counts as missing."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return ""
    return clean_text(str(value))[:MAX_ID_CHARS].strip()
