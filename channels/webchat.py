"""The local chat page: talk to the assistant from a browser on localhost.

`GET /` serves the page, `GET /api/texts` its own texts in a language,
`POST /api/messages` forwards a message to the assistant. Bad input and an
unavailable assistant get a clear answer in the person's language.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from channels.assistant import AssistantClient, AssistantUnavailable, Reply
from core.config import Settings
from core.payloads import read_limited, sanitize
from core.privacy import pseudonym
from locales.catalog import Catalog
from nlu.langid import LANGUAGES, LanguageIdentifier
from nlu.text import strip_invisible

logger = logging.getLogger(__name__)
STATIC = Path(__file__).resolve().parent / "static"
PAGE_TEXTS = ("web.title", "web.placeholder", "web.send.button", "language.choose")
RTL_LANGUAGES = {"ar", "fa"}
#: A request body larger than this is not read (a message of MAX_MESSAGE_CHARS
#: characters, JSON-escaped, is far smaller; larger ones still get input.too_long).
MAX_BODY_BYTES = 1_000_000


def create_app(settings: Settings, client: AssistantClient | None = None,
               catalog: Catalog | None = None, identifier: LanguageIdentifier | None = None) -> Starlette:
    """The chat page on its own (tests); channels.app hosts it with the channels."""
    state: dict[str, object] = {}

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        yield
        owned = state.get("client")
        if isinstance(owned, AssistantClient):
            await owned.close()

    return Starlette(routes=webchat_routes(settings, client, catalog or Catalog.load(), identifier, state),
                     lifespan=lifespan)


def webchat_routes(settings: Settings, client: AssistantClient | None, texts: Catalog,
                   identifier: LanguageIdentifier | None = None, state: dict[str, object] | None = None) -> list:
    state = state if state is not None else {}

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
        sender, text, hint = body.get("sender"), body.get("text"), body.get("lang")
        if not isinstance(sender, str) or not (8 <= len(sender) <= 64) or not sender.isprintable():
            return _error(texts, "input.empty", settings.default_language, 400)
        # A "/" payload only in a shape our buttons produce; any other becomes plain words.
        text = strip_invisible(sanitize(text)).strip() if isinstance(text, str) else ""
        if not text:
            return _error(texts, "input.empty", person_language("", hint), 422)
        if len(text) > settings.max_message_chars:
            return _error(texts, "input.too_long", person_language(text[:500], hint), 413, limit=settings.max_message_chars)
        assistant = client or state.setdefault("client", AssistantClient(settings.rasa_url, settings.rasa_timeout_seconds))
        try:
            replies = await assistant.send(f"web:{sender}", text)  # type: ignore[union-attr]
        except AssistantUnavailable:
            logger.warning("Assistant unavailable for web sender %s", pseudonym(sender, settings.log_salt))
            return _error(texts, "service.unavailable", person_language(text, hint), 503)
        return JSONResponse({"messages": [r.to_dict() for r in replies]}, headers=_security_headers())

    async def healthz(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    return [
        Route("/", page),
        Route("/api/texts", page_texts),
        Route("/api/messages", messages, methods=["POST"]),
        Route("/healthz", healthz),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]


def _error(texts: Catalog, key: str, lang: str, status: int, **values: object) -> JSONResponse:
    reply = Reply(text=texts.text(key, lang, **values))
    return JSONResponse({"messages": [reply.to_dict()], "error": key}, status_code=status, headers=_security_headers())


def _security_headers() -> dict[str, str]:
    return {
        "Content-Security-Policy": "default-src 'self'; style-src 'self'; script-src 'self'; object-src 'none'; frame-ancestors 'none'",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }


