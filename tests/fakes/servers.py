"""Loopback fakes for the channel tests: a Telegram Bot API server, an SMS
gateway, and a scripted assistant. Each runs a real HTTP server (uvicorn)
on 127.0.0.1 in a thread and stops when the test ends."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from channels.assistant import AssistantUnavailable, Button, Reply
from scripts.stack import free_port


class LoopbackServer:
    """Runs an ASGI app with uvicorn on 127.0.0.1 in a background thread."""

    def __init__(self, app: Any) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", ws="none", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LoopbackServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline:
                raise TimeoutError("server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)


def wait_for(condition: Callable[[], Any], timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


class FakeTelegram:
    """The Bot API methods the bot uses, with optional injected failures."""

    def __init__(self) -> None:
        self.updates: list[dict] = []
        self.calls: list[tuple[str, dict]] = []
        self.failures: list[tuple[str, int, dict]] = []  # (method, status, body) served once each
        self._next_message = 100
        self.keyboards: dict[int, int] = {}  # chat id -> the last message sent with buttons
        self.files: dict[str, bytes] = {}  # file id -> content (photos and documents people send)
        self.app = Starlette(routes=[Route("/bot{token}/{method}", self.handle, methods=["GET", "POST"]),
                                     Route("/file/bot{token}/{path:path}", self.download)])

    async def download(self, request: Request) -> Response:
        return Response(self.files[request.path_params["path"].rsplit("/", 1)[-1]])

    def add_update(self, update: dict) -> None:
        self.updates.append(update)

    def sent(self, method: str = "sendMessage") -> list[dict]:
        return [body for m, body in self.calls if m == method]

    async def handle(self, request: Request) -> JSONResponse:
        method = request.path_params["method"]
        if request.headers.get("content-type", "").startswith("application/json"):
            body = await request.json()
        else:  # python-telegram-bot posts forms; nested objects arrive as JSON strings
            body = {k: (json.loads(v) if isinstance(v, str) and v[:1] in "{[" else v)
                    for k, v in (await request.form()).items()}
        for i, (m, status, payload) in enumerate(self.failures):
            if m == method:
                del self.failures[i]
                return JSONResponse(payload, status_code=status)
        self.calls.append((method, body))
        if method == "getMe":
            return ok({"id": 1, "is_bot": True, "first_name": "Nabo", "username": "nabo_bot",
                       "can_join_groups": False, "can_read_all_group_messages": False,
                       "supports_inline_queries": False})
        if method == "getUpdates":
            offset = int(body.get("offset") or 0)
            for _ in range(20):
                pending = [u for u in self.updates if u["update_id"] >= offset]
                if pending:
                    return ok(pending)
                await asyncio.sleep(0.05)
            return ok([])
        if method == "sendMessage":
            self._next_message += 1
            if body.get("reply_markup"):
                self.keyboards[int(body["chat_id"])] = self._next_message
            return ok({"message_id": self._next_message, "date": int(time.time()),
                       "chat": {"id": int(body["chat_id"]), "type": "private"}, "text": body.get("text", "")})
        if method == "editMessageReplyMarkup":
            return ok(True)
        if method == "getFile":
            file_id = str(body["file_id"])
            return ok({"file_id": file_id, "file_unique_id": file_id, "file_size": len(self.files[file_id]),
                       "file_path": f"photos/{file_id}"})
        return ok(True)


def ok(result: Any) -> JSONResponse:
    return JSONResponse({"ok": True, "result": result})


def message_update(update_id: int, chat_id: int, text: str | None = None, **extra: Any) -> dict:
    message: dict[str, Any] = {"message_id": update_id, "date": int(time.time()),
                               "chat": {"id": chat_id, "type": "private"},
                               "from": {"id": chat_id, "is_bot": False, "first_name": "A"}}
    if text is not None:
        message["text"] = text
        if text.startswith("/"):
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
    message.update(extra)
    return {"update_id": update_id, "message": message}


def callback_update(update_id: int, chat_id: int, data: str, message_id: int = 5) -> dict:
    """A button press on the message `message_id` (the one that carries the button)."""
    return {"update_id": update_id, "callback_query": {
        "id": str(update_id), "chat_instance": "c", "data": data,
        "from": {"id": chat_id, "is_bot": False, "first_name": "A"},
        "message": {"message_id": message_id, "date": int(time.time()), "chat": {"id": chat_id, "type": "private"},
                    "text": "x"}}}


class FakeGateway:
    """An SMS gateway: records what it is asked to send; can fail first."""

    def __init__(self) -> None:
        self.received: list[dict] = []
        self.fail_next: list[int] = []  # HTTP statuses to answer before succeeding
        self.delay_next: list[float] = []
        self.app = Starlette(routes=[Route("/messages", self.json_send, methods=["POST"]),
                                     Route("/2010-04-01/Accounts/{sid}/Messages.json", self.twilio_send,
                                           methods=["POST"])])

    async def _maybe_fail(self) -> JSONResponse | None:
        if self.delay_next:
            await asyncio.sleep(self.delay_next.pop(0))
        if self.fail_next:
            return JSONResponse({"error": "boom"}, status_code=self.fail_next.pop(0))
        return None

    async def json_send(self, request: Request) -> JSONResponse:
        failure = await self._maybe_fail()
        if failure:
            return failure
        body = await request.json()
        body["headers"] = dict(request.headers)
        self.received.append(body)
        return JSONResponse({"id": f"gw-{len(self.received)}"})

    async def twilio_send(self, request: Request) -> JSONResponse:
        failure = await self._maybe_fail()
        if failure:
            return failure
        form = dict(await request.form())
        self.received.append({"to": form["To"], "text": form["Body"], "from": form["From"],
                              "auth": request.headers.get("authorization", "")})
        return JSONResponse({"sid": f"SM{len(self.received):032d}"}, status_code=201)

    def texts(self) -> list[str]:
        return [r["text"] for r in self.received]


class RecordingGateway:
    """An SMS gateway in process (no HTTP): records what it is asked to send."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str]] = []

    async def send(self, to: str, text: str, reference: str) -> str:
        self.sent.append((to, text, reference))
        return f"gw-{len(self.sent)}"


class FakeAssistant:
    """Scripted stand-in for Rasa's REST channel."""

    def __init__(self) -> None:
        self.received: list[tuple[str, str]] = []
        self.metadata: list[dict[str, str] | None] = []
        self.down = False
        self.forgotten: list[str] = []
        #: What `parse` (Rasa's /model/parse) says about a text; anything else is
        #: the `caseworker` topic, no emergency.
        self.understood: dict[str, dict] = {}
        self.parsed: list[str] = []
        self.forms: dict[str, str] = {}  # sender -> the form (Rasa loop) they are in

    async def send(self, sender_id: str, text: str, metadata: dict[str, str] | None = None) -> list[Reply]:
        if self.down:
            raise AssistantUnavailable()
        self.received.append((sender_id, text))
        self.metadata.append(metadata)
        if text == "long":
            return [Reply("Første setning er her. " * 400)]
        if text.startswith("/language"):
            return [Reply("Greit, nå skriver jeg på norsk.")]
        return [Reply(f"Svar på: {text}", (Button("Ja", "/caseworker"),
                                           Button("Lang", '/fastlege{"answer":"fastlege/get_gp","step":"1","x":"' +
                                                  "y" * 40 + '"}')))]

    async def parse(self, text: str) -> dict | None:
        if self.down:
            return None
        self.parsed.append(text)
        return {"text": text, "intent": {"name": "caseworker", "confidence": 0.6}, "emergency": None,
                **self.understood.get(text, {})}

    async def active_form(self, sender_id: str) -> str | None:
        return self.forms.get(sender_id)

    async def forget(self, sender_id: str) -> None:
        self.forgotten.append(sender_id)

    async def close(self) -> None:
        return None
