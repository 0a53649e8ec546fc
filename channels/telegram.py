"""Telegram, with python-telegram-bot (async): long polling, or a webhook
checked against Telegram's secret-token header (see channels.app).

A chat's messages go to the assistant as sender "tg:<chat id>". Buttons
become inline keyboards; a press sends the payload and clears the keyboard.
Payloads over Telegram's 64-byte callback limit travel as a short key.
Long answers are split on sentence boundaries. Voice, photos, stickers,
locations and documents get a clear answer in the person's language.
"""

from __future__ import annotations

import logging
import re

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ChatAction, ChatType
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError, TimedOut
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential

from channels.assistant import Button, Reply
from channels.letters import HAND_OVER, LetterDesk
from channels.relay import Conversations, Undeliverable
from channels.store import Store
from core.payloads import MENU_TOPICS
from core.senders import address_of, sender_id
from letters import Limits, TooBig, error_message
from nlu.langid import LANGUAGES

logger = logging.getLogger(__name__)

TEXT_LIMIT = 4096
CALLBACK_LIMIT = 64
DELETE_YES, DELETE_NO = "del:yes", "del:no"
CHECKLIST_PAYLOAD = '/greet{"show":"checklist"}'  # the first-weeks checklist (actions/checklist.py)
TOPIC_PAYLOADS = MENU_TOPICS
_SENTENCE_END = re.compile(r"(?<=[.!?።؟…])\s+|\n+")


#: Telegram's IETF codes for Norwegian all mean our Bokmål.
_TELEGRAM_ALIASES = {"no": "nb", "nn": "nb", "prs": "fa"}


def language_hint(language_code: str | None) -> str | None:
    """One of our languages from Telegram's `language_code` ("uk", "pt-br",
    "nb"), else None. Only a first guess for someone new: what the person
    writes, or chooses, decides (actions.turn.reply_language)."""
    if not language_code:
        return None
    base = language_code.lower().replace("_", "-").split("-", 1)[0]
    base = _TELEGRAM_ALIASES.get(base, base)
    return base if base in LANGUAGES else None


def sender_of(chat_id: int) -> str:
    return sender_id("telegram", chat_id)


def split_message(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Parts of at most `limit` characters, split after sentences (then
    words); nothing is dropped."""
    if len(text) <= limit:
        return [text]
    parts: list[str] = []
    current = ""
    for piece in _pieces(text, limit):
        joiner = "" if not current else (" " if not current.endswith("\n") else "")
        if len(current) + len(joiner) + len(piece) <= limit:
            current += joiner + piece
        else:
            parts.append(current)
            current = piece
    if current:
        parts.append(current)
    return parts


def _pieces(text: str, limit: int) -> list[str]:
    out: list[str] = []
    for sentence in (s for s in _SENTENCE_END.split(text) if s):
        while len(sentence) > limit:  # a sentence longer than a message: cut at a space
            cut = sentence.rfind(" ", 0, limit)
            cut = cut if cut > 0 else limit
            out.append(sentence[:cut])
            sentence = sentence[cut:].lstrip()
        out.append(sentence)
    return out


def keyboard(buttons: tuple[Button, ...] | list[Button], store: Store) -> InlineKeyboardMarkup | None:
    if not buttons:
        return None
    rows = []
    for b in buttons:
        data = b.payload if len(b.payload.encode("utf-8")) <= CALLBACK_LIMIT else store.callback_key(b.payload)
        rows.append([InlineKeyboardButton(b.title, callback_data=data)])
    return InlineKeyboardMarkup(rows)


LETTER_MAX_BYTES = Limits().max_bytes


def transient(exc: BaseException) -> bool:
    """Worth another try: a network error or a timeout, not a refusal."""
    return isinstance(exc, (NetworkError, TimedOut)) and not isinstance(exc, BadRequest)


class TelegramChannel:
    """Handlers and delivery for one bot."""

    def __init__(self, conversations: Conversations, store: Store, log_salt: str = "",
                 letters: LetterDesk | None = None, caseworker_chat: str = "") -> None:
        self.conversations, self.store, self._salt = conversations, store, log_salt
        self.letters = letters
        self.caseworker_chat = caseworker_chat
        self._groups_told: set[int] = set()
        self.application: Application | None = None

    def build(self, token: str, base_url: str | None = None) -> Application:
        builder = Application.builder().token(token).rate_limiter(AIORateLimiter(max_retries=3))
        if base_url:
            builder = builder.base_url(f"{base_url.rstrip('/')}/bot").base_file_url(f"{base_url.rstrip('/')}/file/bot")
        app = builder.build()
        app.add_handler(TypeHandler(Update, self.only_private), group=-1)  # before every other handler
        app.add_handler(CommandHandler("start", self.on_start))
        app.add_handler(CommandHandler("language", self.on_language))
        app.add_handler(CommandHandler("help", self.on_help))
        app.add_handler(CommandHandler("delete", self.on_delete))
        app.add_handler(CommandHandler("checklist", self.on_checklist))
        app.add_handler(CallbackQueryHandler(self.on_button))
        app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, self.on_text))
        # Any other "/word": answered like text (core.payloads makes it plain words unless a button could send it)
        app.add_handler(MessageHandler(filters.TEXT & filters.COMMAND, self.on_text))
        app.add_handler(MessageHandler(filters.VOICE | filters.AUDIO | filters.VIDEO_NOTE, self.on_voice))
        if self.letters is not None:  # a photo or PDF of a letter: read and explained
            app.add_handler(MessageHandler(filters.PHOTO | filters.Document.PDF | filters.Document.IMAGE,
                                           self.on_letter))
        app.add_handler(MessageHandler(~filters.TEXT & ~filters.COMMAND, self.on_unsupported))
        app.add_error_handler(self.on_error)
        self.application = app
        return app

    # -- delivery -------------------------------------------------------------------
    async def _call(self, fn, *args, **kwargs):  # type: ignore[no-untyped-def]
        """Network errors are retried with backoff (RetryAfter is handled by
        the rate limiter, which waits as long as Telegram asks). A refusal
        (BadRequest, a NetworkError subclass in python-telegram-bot) is not:
        the same request would be refused again."""
        async for attempt in AsyncRetrying(retry=retry_if_exception(transient),
                                           stop=stop_after_attempt(4), wait=wait_exponential(0.2, max=5),
                                           reraise=True):
            with attempt:
                try:
                    return await fn(*args, **kwargs)
                except RetryAfter:
                    raise
        return None

    async def deliver(self, sender: str, replies: list[Reply], lang: str, reference: str = "") -> None:
        """Send the replies; the message carrying buttons becomes the person's
        current keyboard. Raises Undeliverable when Telegram refuses for good
        (the person blocked the bot, the chat is gone)."""
        assert self.application is not None
        chat_id = int(address_of(sender))
        try:
            for reply in replies:
                parts = split_message(reply.text)
                for i, part in enumerate(parts):
                    markup = keyboard(reply.buttons, self.store) if i == len(parts) - 1 else None
                    sent = await self._call(self.application.bot.send_message, chat_id=chat_id, text=part,
                                            reply_markup=markup)
                    if markup is not None and sent is not None:
                        self.store.set_keyboard(sender, sent.message_id)
        except (Forbidden, BadRequest) as exc:
            raise Undeliverable(type(exc).__name__) from exc

    async def _typing(self, chat_id: int) -> None:
        assert self.application is not None
        try:
            await self.application.bot.send_chat_action(chat_id=chat_id, action=ChatAction.TYPING)
        except (NetworkError, TimedOut, RetryAfter):
            pass  # a missing typing indicator is not worth a retry

    async def _to_assistant(self, update: Update, text: str, ours: bool = False) -> None:
        """Typed text and button data (which a client can forge) go through
        `Conversations.handle`, which lets through only payloads our buttons
        produce; `ours`: a payload we stored ourselves for a long button."""
        chat = update.effective_chat
        if chat is None:
            return
        await self._typing(chat.id)
        sender = sender_of(chat.id)
        hint = language_hint(update.effective_user.language_code if update.effective_user else None)
        if not ours:
            await self.conversations.handle("telegram", str(update.update_id), sender, text, self.deliver, hint)
            return
        inbound_id = self.store.record_inbound("telegram", str(update.update_id), sender, text)
        if inbound_id is not None:  # else Telegram sent this update again
            await self.conversations.process(inbound_id, sender, text, self.deliver, hint)

    async def _say(self, update: Update, key: str, buttons: tuple[Button, ...] = (), text: str = "") -> None:
        chat = update.effective_chat
        if chat is None:
            return
        sender = sender_of(chat.id)
        message, lang = self.conversations.text(key, sender, text)
        await self.deliver(sender, [Reply(message, buttons)], lang)

    # -- handlers ---------------------------------------------------------------------
    async def only_private(self, update: Update, _: ContextTypes.DEFAULT_TYPE) -> None:
        """A person is a private chat. In a group the members would share one
        identity (any of them could read the answers or /delete them), and the
        caseworkers' own group is never a person: groups get one polite
        refusal, the caseworkers' group nothing, and no handler runs."""
        chat = update.effective_chat
        if chat is None or chat.type == ChatType.PRIVATE:
            return
        if str(chat.id) != self.caseworker_chat and chat.id not in self._groups_told and update.effective_message:
            self._groups_told.add(chat.id)
            texts = self.conversations.catalog
            lang = language_hint(update.effective_user.language_code if update.effective_user else None) or \
                self.conversations.default_language
            try:
                await self._call(self.application.bot.send_message, chat_id=chat.id,  # type: ignore[union-attr]
                                 text=texts.text("telegram.private_only", lang))
            except TelegramError:
                logger.info("Could not tell a group that only private chats are answered")
        raise ApplicationHandlerStop

    async def on_start(self, update: Update, _: ContextTypes.DEFAULT_TYPE) -> None:
        await self._to_assistant(update, "/greet")

    async def on_language(self, update: Update, _: ContextTypes.DEFAULT_TYPE) -> None:
        await self._to_assistant(update, "/language")

    async def on_checklist(self, update: Update, _: ContextTypes.DEFAULT_TYPE) -> None:
        await self._to_assistant(update, CHECKLIST_PAYLOAD)

    async def on_help(self, update: Update, _: ContextTypes.DEFAULT_TYPE) -> None:
        chat = update.effective_chat
        if chat is None:
            return
        lang = self.conversations.language_of(sender_of(chat.id))
        texts = self.conversations.catalog
        buttons = tuple(Button(texts.text(f"topic.{t}.button", lang), f"/{t}") for t in TOPIC_PAYLOADS)
        await self.deliver(sender_of(chat.id), [Reply(texts.text("help.text", lang), buttons)], lang)

    async def on_delete(self, update: Update, _: ContextTypes.DEFAULT_TYPE) -> None:
        chat = update.effective_chat
        if chat is None:
            return
        lang = self.conversations.language_of(sender_of(chat.id))
        texts = self.conversations.catalog
        buttons = (Button(texts.text("delete.yes.button", lang), DELETE_YES),
                   Button(texts.text("delete.no.button", lang), DELETE_NO))
        await self.deliver(sender_of(chat.id), [Reply(texts.text("delete.confirm", lang), buttons)], lang)

    async def on_button(self, update: Update, _: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if query is None or update.effective_chat is None:
            return
        sender = sender_of(update.effective_chat.id)
        pressed = query.message.message_id if query.message is not None else None
        current = self.store.keyboard(sender)
        if pressed is not None and current is not None and pressed != current:
            # a button from an older message: the conversation has moved on since
            lang = self.conversations.language_of(sender)
            await self._call(query.answer, text=self.conversations.catalog.text("button.stale", lang))
            return
        await self._call(query.answer)
        try:  # the keyboard is used up: clear it
            await self._call(query.edit_message_reply_markup, reply_markup=None)
        except Exception:  # noqa: BLE001 - an old message may no longer be editable
            logger.debug("Could not clear a keyboard")
        data = query.data or ""
        payload = self.store.callback_payload(data) if data.startswith("k:") else data
        if data in (DELETE_YES, DELETE_NO):
            await self._delete(update, data == DELETE_YES)
        elif data == HAND_OVER and self.letters is not None:
            lang = self.conversations.language_of(sender)
            await self.deliver(sender, [self.letters.hand_over(sender, lang)], lang)
        elif payload:
            await self._to_assistant(update, payload, ours=data.startswith("k:"))

    async def _delete(self, update: Update, confirmed: bool) -> None:
        chat = update.effective_chat
        assert chat is not None
        sender = sender_of(chat.id)
        lang = self.conversations.language_of(sender)
        if not confirmed:
            await self.deliver(sender, [Reply(self.conversations.catalog.text("delete.cancelled", lang))], lang)
            return
        await self.conversations.erase(sender)
        await self.deliver(sender, [Reply(self.conversations.catalog.text("delete.done", lang))], lang)

    async def on_text(self, update: Update, _: ContextTypes.DEFAULT_TYPE) -> None:
        if update.effective_message and update.effective_message.text:
            await self._to_assistant(update, update.effective_message.text)

    async def on_letter(self, update: Update, _: ContextTypes.DEFAULT_TYPE) -> None:
        """A photo or PDF: read in memory (never stored or logged) and explained."""
        message, chat = update.effective_message, update.effective_chat
        if message is None or chat is None or self.letters is None or self.application is None:
            return
        sender = sender_of(chat.id)
        lang = self.conversations.language_of(sender)
        if message.photo:
            item, filename, mime = message.photo[-1], "photo.jpg", "image/jpeg"  # the largest size
        else:
            item, filename, mime = message.document, message.document.file_name or "", message.document.mime_type
        if item.file_size and item.file_size > LETTER_MAX_BYTES:
            await self.deliver(sender, [Reply(error_message(TooBig(), lang))], lang)
            return
        await self._typing(chat.id)
        try:
            file = await self._call(self.application.bot.get_file, item.file_id)
            data = bytes(await file.download_as_bytearray())
        except TelegramError as exc:  # the file could not be fetched: say so, the person can send it again
            logger.warning("Could not fetch a letter from Telegram: %s", type(exc).__name__)
            await self.deliver(sender, [Reply(self.conversations.catalog.text("service.unavailable", lang))], lang)
            return
        reply = await self.letters.read(sender, data, filename, mime, lang)
        await self.deliver(sender, [reply], lang)

    async def on_voice(self, update: Update, _: ContextTypes.DEFAULT_TYPE) -> None:
        await self._say(update, "media.voice")

    async def on_unsupported(self, update: Update, _: ContextTypes.DEFAULT_TYPE) -> None:
        if update.effective_message is not None:
            await self._say(update, "media.unsupported")

    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        logger.warning("Telegram handler failed: %s", type(context.error).__name__)
