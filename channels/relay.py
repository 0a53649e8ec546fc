"""The one way every channel reaches the assistant, with what a channel
needs around it: each message handled once, one person's messages in
order, and nothing lost when the assistant is down (the message is kept,
the person is told, and it is answered when the assistant is back)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from channels.assistant import AssistantClient, AssistantUnavailable, Reply, parse_reply
from channels.store import ERASED_SENDER, Store
from core.payloads import sanitize
from core.privacy import pseudonym
from locales.catalog import Catalog
from nlu.langid import LANGUAGES, LanguageIdentifier
from ops import metrics

if TYPE_CHECKING:
    from channels.thread import CaseThread

logger = logging.getLogger(__name__)

#: A channel's way to deliver replies to one person, in a language:
#: deliver(sender, replies, language, reference). `reference` names what the
#: replies answer (the inbound message id), so a retried delivery is keyed the
#: same as the first and a channel with an outbox never sends it twice.
Deliver = Callable[[str, list[Reply], str, str], Awaitable[None]]


class Undeliverable(Exception):
    """The channel refuses this delivery for good (the person blocked the bot,
    the chat is gone, a permanent 4xx): recorded, never retried."""


class Conversations:
    def __init__(self, assistant: AssistantClient, store: Store, catalog: Catalog, default_language: str = "nb",
                 identifier: LanguageIdentifier | None = None, log_salt: str = "") -> None:
        self.assistant, self.store, self.catalog = assistant, store, catalog
        self.default_language = default_language
        self._identifier = identifier
        self._locks: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._salt = log_salt
        #: Also erased by `erase` (e.g. the personal fields of the person's cases).
        self.erasers: list[Callable[[str], object]] = []
        #: While a person has an open case their messages go to it (channels/thread.py).
        self.thread: CaseThread | None = None

    def detector(self) -> LanguageIdentifier:
        if self._identifier is None:
            self._identifier = LanguageIdentifier()
        return self._identifier

    def language_of(self, sender: str, text: str = "") -> str:
        """A reliable detection of `text`, else the language the person was
        last answered in, else the default."""
        if text.strip() and not text.startswith("/"):
            detection = self.detector().detect(text)
            if detection.reliable:
                return detection.language
        return self.store.language(sender) or self.default_language

    def text(self, key: str, sender: str, text: str = "", **values: object) -> tuple[str, str]:
        lang = self.language_of(sender, text)
        return self.catalog.text(key, lang, **values), lang

    async def handle(self, channel: str, external_id: str, sender: str, text: str, deliver: Deliver,
                     hint: str | None = None) -> bool:
        """Handle one inbound message; False if it was a duplicate. What is
        stored and asked is `core.payloads.sanitize(text)`: valid Unicode, and
        a "/" payload only in a shape our buttons produce (else plain words)."""
        text = sanitize(text)
        inbound_id = self.store.record_inbound(channel, external_id, sender, text)
        if inbound_id is None:
            logger.info("Duplicate %s message from %s ignored", channel, pseudonym(sender, self._salt))
            metrics.DUPLICATES.labels(channel).inc()
            return False
        if not text.strip():  # nothing left to ask the assistant about (e.g. only "/" or control characters)
            notice, lang = self.text("input.empty", sender)
            await deliver(sender, [Reply(notice)], lang, f"{external_id}:empty")
            self.store.set_inbound_status(inbound_id, "answered")
            return True
        await self.process(inbound_id, sender, text, deliver, hint, reference=external_id)
        return True

    async def process(self, inbound_id: int, sender: str, text: str, deliver: Deliver,
                      hint: str | None = None, reference: str = "") -> None:
        """Answer a message already recorded; one person's messages in order.
        `hint`: a language the channel knows the person uses (Telegram's
        language_code), a first guess for someone new."""
        reference = reference or self.store.inbound(inbound_id)["external_id"]
        async with self._locks[sender]:
            if self.thread is not None and await self.thread.route(self, inbound_id, sender, text, deliver, hint,
                                                                   reference):
                return
            await self._answer(inbound_id, sender, text, deliver, notify=True, hint=hint, reference=reference)

    async def _answer(self, inbound_id: int, sender: str, text: str, deliver: Deliver, notify: bool,
                      kept: tuple[list[Reply], str] | None = None, hint: str | None = None,
                      reference: str = "") -> bool:
        """Ask the assistant (unless its replies were `kept` from an earlier
        try), keep the replies, deliver them, then mark the message answered.
        A delivery the channel refuses for good is recorded and given up."""
        channel, started = metrics.channel_of(sender), time.monotonic()
        if kept is None:
            try:
                replies = await self.assistant.send(sender, text, {"language_hint": hint} if hint else None)
            except AssistantUnavailable:
                self.store.set_inbound_status(inbound_id, "pending")
                metrics.ASSISTANT_DOWN.labels(channel).inc()
                if notify:
                    notice, lang = self.text("service.queued", sender, text)
                    metrics.MESSAGES_IN.labels(channel, lang).inc()
                    await deliver(sender, [Reply(notice)], lang, f"{reference}:queued")
                return False
            lang = self._reply_language(sender, replies, text)
            self.store.set_replies(inbound_id, [r.to_dict() for r in replies], lang)
        else:
            replies, lang = kept
        try:
            await deliver(sender, replies, lang, reference)
        except Undeliverable as exc:
            self.store.give_up_inbound(inbound_id, str(exc) or type(exc).__name__)
            metrics.SEND_FAILURES.labels(channel).inc()
            logger.warning("Reply to %s cannot be delivered, given up: %s", pseudonym(sender, self._salt),
                           type(exc.__cause__ or exc).__name__)
            return True
        self.store.set_inbound_status(inbound_id, "answered")
        if notify:
            metrics.MESSAGES_IN.labels(channel, lang).inc()
        metrics.MESSAGES_OUT.labels(channel, lang).inc(len(replies))
        metrics.REPLY_SECONDS.labels(channel).observe(time.monotonic() - started)
        return True

    def _reply_language(self, sender: str, replies: list[Reply], text: str) -> str:
        """The language the actions wrote the replies in; only when they did
        not say (an older action server) is it detected from the reply text."""
        decided = next((r.language for r in replies if r.language in LANGUAGES), "")
        if decided:
            self.store.set_language(sender, decided)
            return decided
        joined = " ".join(r.text for r in replies)[:400]
        detection = self.detector().detect(joined) if joined.strip() else None
        lang = detection.language if detection and detection.reliable else self.language_of(sender, text)
        self.store.set_language(sender, lang)
        return lang

    async def erase(self, sender: str) -> None:
        """Erase what is stored about a person: the conversation in Rasa, the
        channel records and their cases' personal fields."""
        await self.assistant.forget(sender)
        self.store.forget(sender)
        for eraser in self.erasers:
            eraser(sender)
        logger.info("Erased what was stored about %s", pseudonym(sender, self._salt))

    async def retry_pending(self, deliverers: dict[str, Deliver], stale_after_seconds: float = 60.0) -> int:
        """Answer messages kept while the assistant was down, oldest first,
        and deliver replies whose delivery failed. Stops when the assistant
        is still down; a delivery that fails again waits its turn (kept in
        the row) and does not hold up the others. Returns how many were answered."""
        answered = 0
        for row in self.store.pending_inbound(stale_after_seconds):
            deliver = deliverers.get(row["channel"])
            if deliver is None or row["sender"] == ERASED_SENDER:
                continue
            async with self._locks[row["sender"]]:
                if not self.store.claim_inbound(row["id"], row["status"]):  # answered or taken meanwhile
                    continue
                kept = None
                if row.get("replies"):  # the assistant answered; only the delivery is missing
                    kept = ([parse_reply(r) for r in json.loads(row["replies"])], row["language"] or "nb")
                try:
                    if not await self._answer(row["id"], row["sender"], row["text"], deliver, notify=False, kept=kept,
                                              reference=row["external_id"]):
                        break
                except Exception as exc:  # noqa: BLE001 - one failing delivery must not stop the others
                    status = self.store.defer_inbound(row["id"], type(exc).__name__)
                    metrics.SEND_RETRIES.labels(row["channel"]).inc()
                    logger.warning("Delivery to %s failed again (%s): %s", pseudonym(row["sender"], self._salt),
                                   type(exc).__name__, status)
                    continue
            answered += 1
        return answered
