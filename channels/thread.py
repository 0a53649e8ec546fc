"""The case thread: while a person has an open case, what they write goes
to the case (a caseworker reads it), not to the assistant.

Without it a hand-over ended at the caseworker's first reply: the person's
next words reached the assistant ("I am not sure I understood") and never
the caseworker. `Conversations.process` (channels/relay.py) asks `route`
first, so web chat, Telegram and SMS behave alike:

- every message is still understood (Rasa's /model/parse), so an emergency
  is answered by the assistant at once AND added to the case, marked urgent;
  a possible emergency also gets the assistant's "is someone in danger?",
  and the typed yes/no that follows goes to the assistant too;
- other words go to the case with their Norwegian translation (where a
  translation package is installed) and what the assistant understood them
  as (topic, answer and its Norwegian title), for the desk;
- the person is told once per case that the office has their messages and
  when to expect an answer, with a button (an SMS option) to ask the
  assistant something meanwhile: that one message goes to the assistant,
  the next to the case again;
- buttons of the assistant's own replies (a "/" payload) go to the assistant,
  and so do the answers to a form it started (the interpreter request).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from actions.office_hours import OfficeHours
from caseworkers.cases import CaseStore
from caseworkers.translate import Translator
from channels.assistant import Button, Reply
from core.payloads import ASK_ASSISTANT
from core.privacy import pseudonym
from locales.catalog import Catalog
from nlu.langid import LANGUAGES
from ops import metrics

if TYPE_CHECKING:
    from channels.relay import Conversations, Deliver

logger = logging.getLogger(__name__)
SAFETY_DIR = Path(__file__).resolve().parent.parent / "data" / "safety"
#: Understands one message without a conversation turn (Rasa's /model/parse);
#: None when Rasa does not answer.
Parse = Callable[[str], Awaitable[dict[str, Any] | None]]
#: The form (a Rasa loop) the person is in the middle of, if any.
ActiveForm = Callable[[str], Awaitable[str | None]]


@dataclass(frozen=True)
class Understood:
    """What the assistant understood a message as."""

    topic: str | None = None
    answer: str | None = None  # a knowledge answer id ("fastlege/get_gp"), only when the NLU was sure of it
    title: str | None = None  # its Norwegian button title (locales/nb/titles.yml)
    tier: str | None = None  # emergency tier: "clear", "possible" or None
    danger: str | None = None  # the kind of an emergency
    language: str | None = None  # a reliable detection of the message's language


class CaseThread:
    def __init__(self, cases: CaseStore, catalog: Catalog, hours: OfficeHours, parse: Parse,
                 translator: Translator | None = None, log_salt: str = "",
                 active_form: ActiveForm | None = None) -> None:
        self.cases, self.catalog, self.hours, self.parse = cases, catalog, hours, parse
        self.active_form = active_form
        self.translator = translator
        self._salt = log_salt

    async def route(self, conversations: Conversations, inbound_id: int, sender: str, text: str, deliver: Deliver,
                    hint: str | None, reference: str) -> bool:
        """Handle a message of a person with an open case; False when the
        assistant should answer it as usual (no open case, or a button of the
        assistant's). Runs under the person's lock."""
        case = await asyncio.to_thread(self.cases.open_case_of, sender)
        if case is None and text != ASK_ASSISTANT:
            return False
        if text == ASK_ASSISTANT:  # (an old button after the case was closed: the assistant answers anyway)
            if case is not None:
                await asyncio.to_thread(self.cases.set_ask_next, case["id"], True)
            notice, lang = conversations.text("thread.ask.ready" if case else "thread.ask.free", sender)
            conversations.store.set_inbound_status(inbound_id, "answered")
            await self._tell(deliver, sender, Reply(notice), lang, f"{reference}:ask")
            return True
        if case is None or text.startswith("/"):
            return False
        # asked meanwhile, or an answer to the assistant's form (an interpreter request started with its button)
        if await self._in_form(sender) or await asyncio.to_thread(self.cases.take_ask_next, case["id"]):
            understood = await self.understand(text)
            await self._record(case, text, understood, routed="assistant", urgent=understood.tier == "clear")
            await self._ask_assistant(conversations, case, inbound_id, sender, text, deliver, hint, reference)
            return True
        understood = await self.understand(text)
        await self._record(case, text, understood, routed="case", urgent=understood.tier == "clear")
        logger.info("Message of %s added to case %s", pseudonym(sender, self._salt), case["reference"])
        if understood.tier in ("clear", "possible"):  # the numbers first; the case has it too
            if understood.tier == "possible":  # "Is someone in danger?": the typed yes or no is for the assistant
                await asyncio.to_thread(self.cases.set_ask_next, case["id"], True)
            await self._ask_assistant(conversations, case, inbound_id, sender, text, deliver, hint, reference)
            return True
        lang = conversations.language_of(sender, text)
        metrics.MESSAGES_IN.labels(metrics.channel_of(sender), lang).inc()
        conversations.store.set_inbound_status(inbound_id, "answered")  # its words are safely on the case
        if await asyncio.to_thread(self.cases.mark_told, case["id"]):
            await self._tell(deliver, sender, self.notice(case, lang), lang, f"{reference}:thread")
        return True

    async def _tell(self, deliver: Deliver, sender: str, reply: Reply, lang: str, reference: str) -> None:
        """A notice of the thread's own. The message it follows is already on
        the case and marked answered, so a failed delivery is logged, never
        handed to the assistant by the retry job."""
        try:
            await deliver(sender, [reply], lang, reference)
        except Exception as exc:  # noqa: BLE001 - Undeliverable, or a channel that keeps failing
            logger.warning("Case thread notice to %s not delivered: %s", pseudonym(sender, self._salt),
                           type(exc).__name__)

    async def _in_form(self, sender: str) -> bool:
        return self.active_form is not None and bool(await self.active_form(sender))

    def notice(self, case: dict[str, Any], lang: str, at: dt.datetime | None = None) -> Reply:
        """"The office has your messages; expect an answer ..." and the button
        to ask the assistant meanwhile (told once per case)."""
        at = at or dt.datetime.now(dt.timezone.utc)
        if self.hours.is_open(at):
            text = self.catalog.text("thread.added_open", lang, reference=case["reference"],
                                     closes=self.hours.closing(lang))
        else:
            text = self.catalog.text("thread.added_closed", lang, reference=case["reference"],
                                     opens=self.hours.describe_opening(at, lang))
        return Reply(text, (self.ask_button(lang),), lang)

    def ask_button(self, lang: str) -> Button:
        return Button(self.catalog.text("thread.ask.button", lang), ASK_ASSISTANT)

    async def understand(self, text: str) -> Understood:
        """Rasa's understanding of the message; when Rasa does not answer,
        the emergency patterns alone (an emergency must still be marked)."""
        parsed = await self.parse(text)
        if not parsed:
            match = await asyncio.to_thread(self._safety.match, text)
            return Understood(tier="clear", danger=match.kind) if match else Understood()
        topic = (parsed.get("intent") or {}).get("name") or None
        choice = parsed.get("answer_choice") or {}
        answer = str(choice["id"]) if choice.get("sure") and choice.get("id") else None
        title_key = f"title.{answer.replace('/', '.')}" if answer else ""
        title = self.catalog.text(title_key, "nb") if answer and self.catalog.has(title_key) else None
        emergency = parsed.get("emergency") or {}
        language = parsed.get("language") if parsed.get("language_reliable") else None
        return Understood(topic=topic, answer=answer, title=title, tier=emergency.get("tier"),
                          danger=emergency.get("kind") if emergency.get("tier") == "clear" else None,
                          language=language if language in LANGUAGES else None)

    @cached_property
    def _safety(self):  # type: ignore[no-untyped-def]
        from nlu.safety import SafetyNet

        return SafetyNet.from_directory(SAFETY_DIR)

    async def _record(self, case: dict[str, Any], text: str, understood: Understood, routed: str,
                      urgent: bool = False) -> None:
        lang = understood.language or case["language"] or "nb"
        text_nb = await self.to_norwegian(text, lang)
        await asyncio.to_thread(self.cases.add_to_thread, case["id"], text, text_nb, routed=routed, urgent=urgent,
                                topic=understood.topic, answer=understood.answer, title=understood.title,
                                danger=understood.danger if urgent else None)

    async def to_norwegian(self, text: str, lang: str) -> str | None:
        """The Norwegian, or None (untranslated) when no package can make it."""
        if lang == "nb":
            return text
        if self.translator is None:
            return None
        try:
            return await asyncio.to_thread(self.translator.translate, text, lang, "nb")
        except Exception:  # noqa: BLE001 - a broken package leaves the words untranslated, never lost
            logger.exception("Translation into Norwegian failed")
            return None

    async def _ask_assistant(self, conversations: Conversations, case: dict[str, Any], inbound_id: int, sender: str,
                             text: str, deliver: Deliver, hint: str | None, reference: str) -> None:
        """The assistant answers as usual; its answer is kept in the case too."""
        await conversations._answer(inbound_id, sender, text, deliver, notify=True, hint=hint, reference=reference)
        row = conversations.store.inbound(inbound_id)
        if not row.get("replies"):  # the assistant was down: answered later by the retry job
            return
        answer = "\n\n".join(str(r.get("text", "")) for r in json.loads(row["replies"]))
        text_nb = await self.to_norwegian(answer, row.get("language") or case["language"] or "nb")
        await asyncio.to_thread(self.cases.add_assistant_answer, case["id"], answer, text_nb)

