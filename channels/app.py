"""One web server for every channel: the local chat page, the Telegram
webhook (or long polling), the SMS gateways' webhooks, /healthz and /readyz.
Started by `make run` (scripts/stack.py); listens on 127.0.0.1 by default.

`create_server` only wires: every endpoint below is a module-level function
that reads what it needs from `request.app.state.channels` (a `ChannelServer`),
and every background loop a module-level coroutine taking that object, so each
can be found by module and tested alone (the desk does the same with `Desk`)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import hmac
import json
import logging
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route

from actions.knowledge import KnowledgeBase
from actions.municipality import Municipality
from actions.office_hours import OfficeHours
from caseworkers.appointments import REMINDER_EVERY_SECONDS, send_reminders
from caseworkers.cases import CaseStore
from caseworkers.desk import desk_app
from caseworkers.notify import notify_new_cases
from caseworkers.translate import Translator
from channels.assistant import AssistantClient, Button, Reply
from channels.letters import LetterDesk
from channels.relay import Conversations, Deliver
from channels.sms.channel import Gateway, JsonGateway, OutboxGateway, SmsChannel, SmsSettings, TwilioGateway
from channels.store import Store
from channels.telegram import TelegramChannel
from channels.thread import CaseThread
from channels.tracker import TrackerDatabase
from channels.webchat import web_deliverer, webchat_routes
from core.config import ROOT, Settings
from core.payloads import read_limited
from locales.catalog import Catalog
from ops import metrics
from ops.logs import configure_logging
from ops.secrets import local_secret, owner_only, restrict

logger = logging.getLogger(__name__)
TELEGRAM_SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_UPDATE_BYTES = 1024 * 1024  # a Telegram update is a few kilobytes
PRIVACY_TEXT = ROOT / "PRIVACY.md"
RETENTION_EVERY_SECONDS = 24 * 3600


@dataclass(frozen=True)
class ChannelServer:
    """What the channel server's endpoints and loops need, kept on the app's
    state. Frozen: the parts are built once by `create_server`; only the
    `deliverers` table is filled in as channels are switched on."""

    settings: Settings
    store: Store
    cases: CaseStore
    conversations: Conversations
    catalog: Catalog
    http: httpx.AsyncClient
    assistant: AssistantClient
    tracker: TrackerDatabase
    deliverers: dict[str, Deliver] = field(default_factory=dict)
    telegram: TelegramChannel | None = None
    sms: SmsChannel | None = None

    @property
    def metrics_token(self) -> str:
        return self.settings.metrics_token


def server_of(request: Request) -> ChannelServer:
    return request.app.state.channels


# -- endpoints ------------------------------------------------------------------------------------

async def privacy(_: Request) -> PlainTextResponse:
    return PlainTextResponse(PRIVACY_TEXT.read_text(encoding="utf-8"))


async def readyz(request: Request) -> JSONResponse:
    """Ready when a Rasa worker has a model loaded, the action server answers and
    both databases can be written. Only a caller with the metrics token
    makes the databases take a write; others get a read-only check."""
    server = server_of(request)
    settings = server.settings
    deep = metrics.authorized(request.headers.get("authorization", ""), server.metrics_token)
    token = {"token": settings.rasa_api_token} if settings.rasa_api_token else None
    workers = [await _up(server.http, url.rstrip("/") + "/status", token) for url in settings.rasa_workers]
    # one worker is enough to answer: the others' people fail over to it (channels/assistant.py)
    checks = {"assistant": any(workers),
              "actions": await _up(server.http, settings.action_health_url) if settings.action_health_url else True}
    for name, db in (("channel_db", server.store), ("case_db", server.cases)):
        try:
            await asyncio.to_thread(db.check, deep)
            checks[name] = True
        except Exception:  # noqa: BLE001 - any failure means not ready
            logger.warning("Readiness: %s cannot be written", name)
            checks[name] = False
    ok = all(checks.values())
    return JSONResponse({k: "up" if v else "down" for k, v in checks.items()}, status_code=200 if ok else 503)


async def metrics_endpoint(request: Request) -> Response:
    server = server_of(request)
    if server.metrics_token and not metrics.authorized(request.headers.get("authorization", ""),
                                                       server.metrics_token):
        return Response("forbidden", status_code=403)
    counts = server.store.counts()
    metrics.PENDING_MESSAGES.set(counts["pending"])
    metrics.FAILED_SENDS.set(counts["failed"])
    for status, n in server.cases.open_counts().items():
        metrics.OPEN_CASES.labels(status).set(n)
    body, content_type = metrics.exposition()
    return Response(body, media_type=content_type)


async def storage_unavailable(_: Request, exc: Exception) -> Response:
    """A database that is locked too long or full: refuse rather than
    acknowledge what could not be stored; gateways and Telegram retry."""
    logger.error("Storage unavailable: %s", exc)
    return JSONResponse({"error": "storage unavailable, try again"}, status_code=503, headers={"Retry-After": "30"})


async def telegram_webhook(request: Request) -> Response:
    """An update from Telegram, kept before Telegram hears 200 and then
    queued for the channel's handlers (`mark_handled` closes it)."""
    from telegram import Update

    server = server_of(request)
    telegram, store = server.telegram, server.store
    assert telegram is not None and telegram.application is not None
    given = request.headers.get(TELEGRAM_SECRET_HEADER, "").encode()
    if not hmac.compare_digest(given, server.settings.telegram_webhook_secret.encode()):
        return Response("forbidden", status_code=403)
    if await read_limited(request, MAX_UPDATE_BYTES) is None:
        return Response("too large", status_code=413)
    try:
        data = await request.json()
    except (ValueError, RecursionError):
        return Response("malformed", status_code=400)
    app = telegram.application
    try:
        update = Update.de_json(data, app.bot) if isinstance(data, dict) else None
    except (KeyError, TypeError, ValueError, AttributeError, RecursionError):
        update = None
    if update is None or not 0 <= update.update_id < 2**63:  # SQLite's INTEGER
        return Response("malformed", status_code=400)
    # Kept before Telegram hears 200: a crash after this loses nothing.
    # ASCII-escaped JSON: a lone surrogate in the text can still be stored.
    if not store.record_update(update.update_id, json.dumps(data)):
        metrics.DUPLICATES.labels("telegram").inc()
        return Response(status_code=200)  # Telegram sent it again: handled already
    await app.update_queue.put(update)
    return Response(status_code=200)


async def mark_handled(store: Store, update: object, _: object) -> None:
    """Runs after the channel's own handlers (a later group): the webhook
    update is done and will not be replayed."""
    store.update_handled(update.update_id)  # type: ignore[attr-defined]


def watch_webhook_updates(telegram: TelegramChannel, store: Store) -> None:
    from telegram import Update
    from telegram.ext import TypeHandler

    assert telegram.application is not None
    telegram.application.add_handler(TypeHandler(Update, functools.partial(mark_handled, store)), group=99)


# -- sending a caseworker's message ---------------------------------------------------------------

async def send_to_person(server: ChannelServer, sender: str, text: str, lang: str, reference: str) -> None:
    """A caseworker's message; `reference` names it (a case message, an
    interpreter decision), so it is sent once whatever is retried. A reply
    on a case carries the button (an SMS option) to ask the assistant
    something meanwhile, in the person's language."""
    deliver = server.deliverers.get(metrics.channel_of(sender))
    if deliver is None:
        raise ValueError(f"no channel for sender kind {metrics.channel_of(sender)!r}")
    conversations = server.conversations
    buttons: tuple[Button, ...] = ()
    if conversations.thread is not None and reference.startswith("case-reply:"):
        buttons = (conversations.thread.ask_button(conversations.language_of(sender)),)
    await deliver(sender, [Reply(text, buttons)], lang, reference)


async def post_to_caseworkers(server: ChannelServer, text: str) -> None:
    assert server.telegram is not None and server.telegram.application is not None
    await server.telegram.application.bot.send_message(chat_id=server.settings.caseworker_chat_id, text=text)


# -- background loops -----------------------------------------------------------------------------

async def retention_loop(server: ChannelServer) -> None:
    while True:
        try:
            purge(server.settings, server.store, server.cases, server.tracker)
        except Exception:  # noqa: BLE001 - the loop must survive anything
            logger.exception("Retention job failed")
        await asyncio.sleep(RETENTION_EVERY_SECONDS)


async def reminder_loop(server: ChannelServer) -> None:
    """Interpreter appointments: a reminder the day before, on channels that can write first."""
    zone = ZoneInfo(server.settings.timezone)
    while True:
        await asyncio.sleep(REMINDER_EVERY_SECONDS)
        try:
            await send_reminders(server.cases, server.catalog, functools.partial(send_to_person, server),
                                 dt.datetime.now(zone), lambda sender: metrics.channel_of(sender) in server.deliverers)
        except Exception:  # noqa: BLE001 - the loop must survive anything
            logger.exception("Interpreter reminders failed")


async def notify_loop(server: ChannelServer) -> None:
    while True:
        await asyncio.sleep(server.settings.notify_seconds)
        try:
            await notify_new_cases(server.cases, functools.partial(post_to_caseworkers, server),
                                   server.settings.desk_url)
        except Exception:  # noqa: BLE001 - the loop must survive anything
            logger.exception("Notifying caseworkers failed")


async def retry_loop(server: ChannelServer) -> None:
    settings = server.settings
    while True:
        await asyncio.sleep(settings.retry_pending_seconds)
        try:
            if server.telegram and settings.telegram_mode == "webhook":
                await replay_updates(server.telegram, server.store, settings.stale_after_seconds)
            await server.conversations.retry_pending(server.deliverers, settings.stale_after_seconds)
            if server.sms:
                await server.sms.resend_due(settings.stale_after_seconds)
        except Exception:  # noqa: BLE001 - the loop must survive anything
            logger.exception("Retrying pending messages failed")


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    """Starts the loops and the Telegram application; on the way out stops
    them, lets SMS sends in flight finish and closes the clients."""
    server: ChannelServer = app.state.channels
    settings, telegram = server.settings, server.telegram
    tasks = [asyncio.create_task(retry_loop(server)), asyncio.create_task(retention_loop(server)),
             asyncio.create_task(reminder_loop(server))]
    if telegram and settings.caseworker_chat_id:
        tasks.append(asyncio.create_task(notify_loop(server)))
    if telegram and telegram.application:
        application = telegram.application
        await application.initialize()
        await application.start()
        if settings.telegram_mode == "polling":
            await application.updater.start_polling(drop_pending_updates=False)  # type: ignore[union-attr]
        elif settings.telegram_webhook_url:  # tell Telegram where to post, with the secret
            await application.bot.set_webhook(url=settings.telegram_webhook_url,
                                              secret_token=settings.telegram_webhook_secret)
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if telegram and telegram.application:
            application = telegram.application
            if application.updater and application.updater.running:
                await application.updater.stop()
            await application.stop()
            await application.shutdown()
        if server.sms:
            await server.sms.drain()
        await server.http.aclose()
        await server.assistant.close()


# -- wiring ---------------------------------------------------------------------------------------

def create_server(settings: Settings, assistant: AssistantClient | None = None, store: Store | None = None,
                  catalog: Catalog | None = None, gateway: Gateway | None = None,
                  cases: CaseStore | None = None, translator: Translator | None = None) -> Starlette:
    catalog = catalog or Catalog.load()
    store = store or Store(settings.bot_db)
    http = httpx.AsyncClient(timeout=15)
    tracker = TrackerDatabase(settings.tracker_store_url)
    assistant = assistant or AssistantClient(settings.rasa_workers, settings.rasa_timeout_seconds, tracker=tracker,
                                             api_token=settings.rasa_api_token)
    conversations = Conversations(assistant, store, catalog, settings.default_language, log_salt=settings.log_salt)
    cases = cases or CaseStore(settings.cases_db)
    translator = translator or Translator(settings.translation_packages_dir)
    if settings.handoff == "cases":  # a person's messages reach their open case (channels/thread.py)
        conversations.thread = CaseThread(cases, catalog, OfficeHours.parse(settings.office_hours, settings.timezone),
                                          assistant.parse, translator, settings.log_salt, assistant.active_form)
    letters = LetterDesk(cases, catalog)
    conversations.erasers.append(letters.forget)
    routes = webchat_routes(settings, conversations, catalog, letters=letters)
    deliverers: dict[str, Deliver] = {"web": web_deliverer(store)}

    telegram: TelegramChannel | None = None
    if settings.telegram_token:
        telegram = TelegramChannel(conversations, store, settings.log_salt, letters, settings.caseworker_chat_id)
        telegram.build(settings.telegram_token, settings.telegram_api_url or None)
        deliverers["telegram"] = telegram.deliver
        if settings.telegram_mode == "webhook":
            watch_webhook_updates(telegram, store)
            routes.append(Route("/telegram/webhook", telegram_webhook, methods=["POST"]))

    sms: SmsChannel | None = None
    if settings.sms_gateway != "none":
        json_secrets = list(settings.sms_json_secrets)
        if gateway is None:
            if settings.sms_gateway == "twilio":
                gateway = TwilioGateway(http, settings.twilio_api_url, settings.twilio_account_sid,
                                        settings.twilio_auth_token, settings.sms_sender, settings.sms_send_timeout_seconds)
            elif settings.sms_gateway == "json":
                gateway = JsonGateway(http, settings.sms_json_url, json_secrets[0], settings.sms_sender,
                                      settings.sms_send_timeout_seconds)
            else:  # "outbox": no gateway configured; replies stay in the outbound table
                gateway = OutboxGateway()
        if settings.sms_gateway == "outbox" and not json_secrets:
            json_secrets = [local_secret(Path(settings.bot_db).parent / "sms-json-secret")]
        sms = SmsChannel(conversations, store, gateway,
                         SmsSettings(settings.sms_max_segments, settings.sms_rate_per_minute), settings.log_salt)
        deliverers["sms"] = sms.deliver
        routes += sms.routes(settings.twilio_auth_token if settings.sms_gateway == "twilio" else "",
                             settings.sms_public_url, json_secrets if settings.sms_gateway != "twilio" else [])

    conversations.erasers.append(cases.forget)
    server = ChannelServer(settings, store, cases, conversations, catalog, http, assistant, tracker,
                           deliverers, telegram, sms)
    knowledge = KnowledgeBase.load(settings.knowledge_file, catalog, Municipality.load(settings.municipality_file))
    hours = OfficeHours.parse(settings.office_hours, settings.timezone)
    # the caseworker desk: replies reach the person through their channel
    routes += [Route("/privacy", privacy), Route("/readyz", readyz), Route("/metrics", metrics_endpoint),
               Mount("/desk", app=desk_app(cases, translator, catalog, functools.partial(send_to_person, server),
                                           settings.desk_cookie_secure, settings.timezone, knowledge, hours))]

    app = Starlette(routes=routes, lifespan=lifespan,
                    exception_handlers={sqlite3.OperationalError: storage_unavailable})
    app.state.channels = server
    # the parts tests and tools reach for by name
    app.state.conversations = conversations
    app.state.telegram = telegram
    app.state.sms = sms
    app.state.store = store
    app.state.cases = cases
    return app


# -- jobs the loops run ---------------------------------------------------------------------------

def purge(settings: Settings, store: Store, cases: CaseStore, tracker: TrackerDatabase) -> None:
    """Retention: texts older than RETENTION_DAYS are deleted everywhere."""
    days = settings.retention_days
    store.purge_older_than(days)
    cases.purge_older_than(days)
    tracker.purge_before(time.time() - days * 86400)


async def _up(http: httpx.AsyncClient, url: str, params: dict[str, str] | None = None) -> bool:
    try:
        return (await http.get(url, params=params, timeout=3)).status_code == 200
    except httpx.HTTPError:
        return False


async def replay_updates(telegram: TelegramChannel, store: Store, stale_after_seconds: float) -> int:
    """Webhook updates acknowledged but never handled (the process died in
    between) go through the handlers again; what they had already recorded
    is recognised as a duplicate."""
    from telegram import Update

    app = telegram.application
    assert app is not None
    replayed = 0
    for row in store.stale_updates(stale_after_seconds):
        update = Update.de_json(json.loads(row["body"]), app.bot)
        if update is not None:
            await app.update_queue.put(update)
            replayed += 1
    return replayed


def main() -> None:
    owner_only()  # databases, -wal/-shm, secrets: the owner's only
    import uvicorn

    from core import privacy as log_privacy
    from core import signing
    from scripts.stack import load_env_file

    load_env_file()
    configure_logging("channels")
    settings = Settings.from_env()
    restrict(settings.bot_db, settings.cases_db)  # files an older version made readable
    try:
        log_privacy.configure(settings.log_salt, Path(settings.bot_db).parent)
    except log_privacy.SaltError as exc:
        raise SystemExit(f"error: {exc}") from None
    try:
        signing.channel_secret()  # made once, or refused if too short, before anything is answered
    except signing.SecretError as exc:
        raise SystemExit(f"error: {exc}") from None
    # ws="none": Rasa pins an old websockets that uvicorn cannot use; no websockets are served.
    uvicorn.run(create_server(settings), host=settings.webchat_host, port=settings.webchat_port,
                log_level="warning", ws="none")


if __name__ == "__main__":
    main()
