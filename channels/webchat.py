"""The web chat: the page, its texts, and its calls.

`POST /api/messages` takes a message through the relay like every channel
(recorded once by its id, one person's messages in order, kept while the
assistant is down and answered later) and returns the replies. Replies that
come later (a caseworker's, an answer kept while the assistant was down)
wait in the outbox until the page fetches them with `POST /api/inbox` and
acknowledges them by id on its next call: reading alone loses nothing.
`POST /api/erase` erases everything stored for the page's sender id (the
conversation in Rasa's tracker store, channel records, cases' personal
fields, the unanswered log); the page then clears its own storage.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from channels.assistant import AssistantClient, Reply
from channels.letters import HAND_OVER, LetterDesk
from channels.relay import Conversations
from channels.store import Store
from channels.tracker import TrackerDatabase
from core.config import Settings
from core.payloads import read_limited, sanitize
from core.privacy import pseudonym
from core.senders import sender_id
from letters import Limits, TooBig, error_message
from locales.catalog import Catalog
from nlu.langid import LANGUAGES, LanguageIdentifier
from nlu.text import strip_invisible

logger = logging.getLogger(__name__)
STATIC = Path(__file__).resolve().parent / "static"
PAGE_TEXTS = ("web.title", "web.placeholder", "web.send.button", "language.choose", "web.letter.button",
              "web.erase.button", "web.erase.confirm", "delete.done")
RTL_LANGUAGES = {"ar", "fa"}
LETTER_MAX_BYTES = Limits().max_bytes
#: A request body larger than this is not read (a message of MAX_MESSAGE_CHARS
#: characters, JSON-escaped, is far smaller; larger ones still get input.too_long).
MAX_BODY_BYTES = 1_000_000


def create_app(settings: Settings, client: AssistantClient | None = None, catalog: Catalog | None = None,
               identifier: LanguageIdentifier | None = None, store: Store | None = None) -> Starlette:
    """The chat page on its own (tests); channels.app hosts it with the channels."""
    texts = catalog or Catalog.load()
    owned = client is None
    client = client or AssistantClient(settings.rasa_workers, settings.rasa_timeout_seconds,
                                       tracker=TrackerDatabase(settings.tracker_store_url))
    store = store or Store(settings.bot_db)
    conversations = Conversations(client, store, texts, settings.default_language, identifier, settings.log_salt)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        yield
        if owned:
            await client.close()

    return Starlette(routes=webchat_routes(settings, conversations, texts, identifier), lifespan=lifespan)


def web_deliverer(store: Store):  # type: ignore[no-untyped-def]
    """Replies that come after the page's call (a retried answer, a
    caseworker's message) wait in the outbox for /api/inbox."""

    async def deliver(sender: str, replies: list[Reply], lang: str, reference: str = "") -> None:
        for i, reply in enumerate(replies):
            store.queue_outbound("web", sender, f"web:{reference}:{i}", reply.to_dict())

    return deliver


def webchat_routes(settings: Settings, conversations: Conversations, texts: Catalog,
                   identifier: LanguageIdentifier | None = None, letters: LetterDesk | None = None) -> list:
    state: dict[str, object] = {}
    store = conversations.store

    def person_language(text: str, hint: object) -> str:
        """Reliable detection of the message, else the page's language, else the default."""
        if text.strip():
            detector = state.get("identifier") or identifier or LanguageIdentifier()
            state["identifier"] = detector
            detection = detector.detect(text)  # type: ignore[attr-defined]
            if detection.reliable:
                return detection.language
        return hint if hint in LANGUAGES else settings.default_language

    async def page(_: Request) -> FileResponse:
        return FileResponse(STATIC / "index.html", headers=_security_headers())

    async def page_texts(request: Request) -> JSONResponse:
        lang = request.query_params.get("lang", settings.default_language)
        lang = lang if lang in LANGUAGES else settings.default_language
        body = {key: texts.text(key, lang) for key in PAGE_TEXTS}
        body["dir"] = "rtl" if lang in RTL_LANGUAGES else "ltr"
        body["languages"] = texts.autonyms
        return JSONResponse(body, headers=_security_headers())

    async def messages(request: Request) -> JSONResponse:
        if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
            return _error(texts, "input.empty", settings.default_language, 415)  # also: no cross-site form posts
        if await read_limited(request, MAX_BODY_BYTES) is None:
            return _error(texts, "input.too_long", settings.default_language, 413, limit=settings.max_message_chars)
        try:
            body = await request.json()
        except (ValueError, RecursionError):  # RecursionError: absurdly nested JSON
            return _error(texts, "input.empty", settings.default_language, 400)
        if not isinstance(body, dict):
            return _error(texts, "input.empty", settings.default_language, 400)
        sender, text, hint, message_id = body.get("sender"), body.get("text"), body.get("lang"), body.get("id")
        if not _valid_id(sender):
            return _error(texts, "input.empty", settings.default_language, 400)
        if message_id is not None and not _valid_id(message_id):
            return _error(texts, "input.empty", settings.default_language, 400)
        # A "/" payload only in a shape our buttons produce; any other becomes plain words.
        text = strip_invisible(sanitize(text)).strip() if isinstance(text, str) else ""
        if not text:
            return _error(texts, "input.empty", person_language("", hint), 422)
        if len(text) > settings.max_message_chars:
            return _error(texts, "input.too_long", person_language(text[:500], hint), 413, limit=settings.max_message_chars)
        if text == HAND_OVER and letters is not None:  # "send the letter to my caseworker"
            lang = conversations.language_of(sender_id("web", sender))
            return JSONResponse({"messages": [letters.hand_over(sender_id("web", sender), lang).to_dict()]},
                                headers=_security_headers())
        collected: list[Reply] = []

        async def collect(_: str, replies: list[Reply], __: str, ___: str = "") -> None:
            collected.extend(replies)

        inbound_id_before = message_id or secrets.token_hex(16)
        page_hint = hint if hint in LANGUAGES else None
        handled = await conversations.handle("web", inbound_id_before, sender_id("web", sender), text, collect, page_hint)
        if not handled:  # the page sent the same message again (a retry after a lost response)
            return JSONResponse({"messages": [], "duplicate": True}, headers=_security_headers())
        status = 202 if store.inbound_status_by_external("web", inbound_id_before) == "pending" else 200
        if status == 202:
            logger.warning("Assistant unavailable; web message from %s kept", pseudonym(sender, settings.log_salt))
        return JSONResponse({"messages": [r.to_dict() for r in collected]}, status_code=status,
                            headers=_security_headers())

    async def letter(request: Request) -> JSONResponse:
        """A photo or PDF of a letter (multipart: sender, lang, file): read in
        memory, explained in the person's language; nothing is stored."""
        lang = request.query_params.get("lang", "")
        lang = lang if lang in LANGUAGES else settings.default_language
        if letters is None:
            return _error(texts, "media.unsupported", lang, 404)
        length = request.headers.get("content-length") or "0"
        if not length.isdigit() or int(length) > LETTER_MAX_BYTES + 64 * 1024:
            return _error_text(error_message(TooBig(), lang), 413)
        try:
            form = await request.form(max_files=1, max_fields=5)
        except Exception:  # noqa: BLE001 - a broken multipart body
            return _error(texts, "input.empty", lang, 400)
        sender, upload = form.get("sender"), form.get("file")
        if not _valid_id(sender) or upload is None or isinstance(upload, str):
            return _error(texts, "input.empty", lang, 400)
        data = await upload.read(LETTER_MAX_BYTES + 1)
        await upload.close()
        if len(data) > LETTER_MAX_BYTES:
            return _error_text(error_message(TooBig(), lang), 413)
        person = sender_id("web", sender)
        lang = store.language(person) or lang
        reply = await letters.read(person, data, upload.filename or "", upload.content_type, lang)
        return JSONResponse({"messages": [reply.to_dict()]}, headers=_security_headers())

    async def inbox(request: Request) -> JSONResponse:
        """Messages waiting for this page; those it acknowledges (`ack`: ids it
        has shown) are marked sent, the others are returned again."""
        if await read_limited(request, 64 * 1024) is None:
            return JSONResponse({"messages": []}, status_code=413)
        try:
            body = await request.json()
        except (ValueError, RecursionError):
            return JSONResponse({"messages": []}, status_code=400)
        sender = body.get("sender") if isinstance(body, dict) else None
        acks = body.get("ack", []) if isinstance(body, dict) else []
        if not (isinstance(sender, str) and 1 <= len(sender) <= 64 and sender.isprintable()) or not isinstance(acks, list):
            return JSONResponse({"messages": []}, status_code=400)
        waiting = store.outbound_for("web", sender_id("web", sender), "queued")
        for row in waiting:
            if row["id"] in acks:
                store.mark_outbound(row["id"], "sent")
        out = [{"id": r["id"], **json.loads(r["body"])} for r in waiting if r["id"] not in acks]
        return JSONResponse({"messages": out}, headers=_security_headers())

    async def erase(request: Request) -> JSONResponse:
        """The page's erase button (or /delete typed): everything stored about
        this browser's person is erased, as /delete does on Telegram; the page
        then clears what it keeps on the device."""
        if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
            return JSONResponse({"erased": False}, status_code=415)  # also: no cross-site form posts
        if await read_limited(request, 4096) is None:
            return JSONResponse({"erased": False}, status_code=413)
        try:
            body = await request.json()
        except (ValueError, RecursionError):
            return JSONResponse({"erased": False}, status_code=400)
        sender = body.get("sender") if isinstance(body, dict) else None
        if not _valid_id(sender):
            return JSONResponse({"erased": False}, status_code=400)
        lang = conversations.language_of(sender_id("web", sender))
        await conversations.erase(sender_id("web", sender))
        return JSONResponse({"erased": True, "messages": [Reply(texts.text("delete.done", lang)).to_dict()]},
                            headers=_security_headers())

    async def healthz(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    return [
        Route("/", page),
        Route("/api/texts", page_texts),
        Route("/api/messages", messages, methods=["POST"]),
        Route("/api/inbox", inbox, methods=["POST"]),
        Route("/api/erase", erase, methods=["POST"]),
        Route("/api/letter", letter, methods=["POST"]),
        Route("/healthz", healthz),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]


def _valid_id(value: object) -> bool:
    return isinstance(value, str) and 8 <= len(value) <= 64 and value.isprintable()


def _error_text(text: str, status: int) -> JSONResponse:
    return JSONResponse({"messages": [Reply(text).to_dict()]}, status_code=status, headers=_security_headers())


def _error(texts: Catalog, key: str, lang: str, status: int, **values: object) -> JSONResponse:
    reply = Reply(text=texts.text(key, lang, **values))
    return JSONResponse({"messages": [reply.to_dict()], "error": key}, status_code=status, headers=_security_headers())


def _security_headers() -> dict[str, str]:
    return {
        "Content-Security-Policy": "default-src 'self'; style-src 'self'; script-src 'self'; object-src 'none'; frame-ancestors 'none'",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }


