"""A fuzzing pass over every route of the channel server.

`channels.app.create_server` with every channel on (SMS JSON webhook,
Telegram webhook, the desk, the web chat, and everything else the server
routes: found by walking its routes, so a new route is fuzzed too), and a
second server with the Twilio webhook. Each route gets a bounded number of
random and mutated requests from a fixed seed: random methods, paths with
traversal and odd escapes, random headers and content types, random,
oversized, truncated, chunked and broken multipart/form/JSON bodies, clients
that go away mid-body; some carry valid signatures, secrets, a logged-in
desk session and its CSRF token, so the fuzz reaches past the front doors.
Requests go straight to the ASGI app (raw paths and header bytes as a proxy
might pass them), inside the running server (lifespan, background tasks).

Asserted: no 5xx (except /readyz's designed 503 "not ready"), no exception
out of the app, no ERROR in the log (nor a Telegram handler failure), both
SQLite databases pass `PRAGMA integrity_check`, and data recorded before
the fuzz is still there.
"""

from __future__ import annotations

import json
import logging
import random
import re
import sqlite3
import time
import urllib.parse
from collections import Counter
from pathlib import Path
from typing import Any

import anyio
import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route
from starlette.testclient import TestClient
from twilio.request_validator import RequestValidator

from caseworkers.cases import CaseStore
from caseworkers.translate import Translator
from channels.app import TELEGRAM_SECRET_HEADER, create_server
from channels.sms.channel import sign
from channels.store import Store
from core.config import Settings
from locales.catalog import Catalog
from tests.fakes.servers import (
    FakeAssistant,
    FakeTelegram,
    LoopbackServer,
    RecordingGateway,
    callback_update,
    message_update,
)
from tests.reporting import ErrorLog, show_in_test_output

CATALOG = Catalog.load()
SEED = 20261122
PER_ROUTE = 200
SMS_SECRET = "json-secret-0123456789"
TWILIO_TOKEN = "twilio-auth-token-abc"
TWILIO_PUBLIC = "https://sms.example.org"
TG_TOKEN = "123456:TEST-token"
TG_SECRET = "s3cret-s3cret-s3cret"
PASSWORD = "correct horse battery"
METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE", "CONNECT", "FOO", "get", "P0ST", ""]
CONTENT_TYPES = ["application/json", "application/x-www-form-urlencoded", "multipart/form-data; boundary=zz",
                 "multipart/form-data", "multipart/form-data; boundary=", "text/plain", "application/xml",
                 "application/json; charset=utf-16", "text/html; charset=\xff", "*/*", "", "x" * 5000]
NASTY = ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>', "' OR '1'='1", "'; DROP TABLE cases; --",
         "\u202eexe.txt", "\u200b", "😀", "\x00", "%00", "../../etc/passwd", "..%2f..%2fetc%2fpasswd", "{{7*7}}",
         '/caseworker{"urgency":"urgent"}', "/restart", "\ud800", "a" * 3000, "", " ", "null", "[]", "{}"]
SEGMENTS = ["..", ".", "%2e%2e", "%2E%2E/", "..%2f", "..%5c", "%00", "%ff", "%c0%ae", "//", "~", "%", "%%", "a" * 300,
            "etc/passwd", "chat.js", "index.html", "K-ABCDEF", "1", "-1", "99999999999999999999999", "claim", "close",
            "send", "preview", "confirm", "decline", "%20", "%0d%0a", ";", "?", "#", "%3f", "\u00e6".encode().decode("latin-1")]


def enc(text: str) -> bytes:
    """UTF-8 as a careless client writes it: lone surrogates included."""
    return text.encode("utf-8", "surrogatepass")


# -- the servers --------------------------------------------------------------------------------


def fake_rasa() -> Starlette:
    """Answers /status (and anything else) like a healthy Rasa, for /readyz."""

    async def anything(_: Any) -> JSONResponse:
        return JSONResponse({"model_file": "models/fake.tar.gz"})

    return Starlette(routes=[Route("/{path:path}", anything)])


def settings_for(tmp: Path, rasa_url: str, **extra: object) -> Settings:
    base: dict[str, object] = dict(bot_db=str(tmp / "bot.db"), cases_db=str(tmp / "cases.db"),
                                   tracker_db=str(tmp / "tracker.db"), desk_secret="f" * 40, rasa_url=rasa_url,
                                   retry_pending_seconds=3600, sms_rate_per_minute=1_000_000)
    base.update(extra)
    return Settings(**base)  # type: ignore[arg-type]


def route_templates(app: Any) -> dict[str, set[str]]:
    """Every path the app routes, with its parameters (e.g. /desk/cases/{reference}), and its methods."""

    def walk(routes: list, prefix: str) -> dict[str, set[str]]:
        found: dict[str, set[str]] = {}
        for route in routes:
            if isinstance(route, Mount):  # Mount.routes sees through its middleware; StaticFiles has none
                found.update(walk(route.routes, prefix + route.path) if route.routes
                             else {prefix + route.path + "/{path}": {"GET", "HEAD"}})
            elif isinstance(route, Route):
                found.setdefault(prefix + route.path, set()).update(route.methods or {"GET"})
        return found

    return dict(sorted(walk(app.routes, "").items()))


# -- raw ASGI requests --------------------------------------------------------------------------


async def asgi_request(app: Any, method: str, raw_path: bytes, query: bytes, headers: list[tuple[bytes, bytes]],
                       chunks: list[bytes], disconnect_after: int | None) -> tuple[int | None, BaseException | None]:
    """One request as an ASGI server would pass it; (status, exception)."""
    scope = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
             "method": method, "scheme": "http", "path": urllib.parse.unquote(raw_path.decode("latin-1")),
             "raw_path": raw_path, "query_string": query, "root_path": "", "headers": headers,
             "client": ("127.0.0.1", 40000), "server": ("testserver", 80), "extensions": {}}
    pending = list(chunks) or [b""]
    sent: list[dict] = []
    done = anyio.Event()
    given = 0

    async def receive() -> dict:
        nonlocal given
        if pending and (disconnect_after is None or given < disconnect_after):
            given += 1
            chunk = pending.pop(0)
            return {"type": "http.request", "body": chunk, "more_body": bool(pending)}
        if disconnect_after is None:
            await done.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)
        if message["type"] == "http.response.body" and not message.get("more_body"):
            done.set()

    error: BaseException | None = None
    try:
        with anyio.fail_after(30):
            await app(scope, receive, send)
    except Exception as exc:  # noqa: BLE001 - exactly what the fuzz is looking for
        error = exc
    status = next((m["status"] for m in sent if m["type"] == "http.response.start"), None)
    return status, error


class Fuzzer:
    def __init__(self, client: TestClient, app: Any, cookie: str, csrf: str, references: list[str]) -> None:
        self.client, self.app, self.cookie, self.csrf, self.references = client, app, cookie, csrf, references
        self.results: Counter[str] = Counter()
        self.failures: list[str] = []
        self.count = 0

    # random pieces
    def text(self, rng: random.Random) -> str:
        kind = rng.randrange(3)
        if kind == 0:
            return rng.choice(NASTY)
        if kind == 1:
            return "".join(chr(rng.randrange(0x20, 0x3000)) for _ in range(rng.randrange(20)))
        return rng.choice(NASTY) + rng.choice(NASTY)

    def json_value(self, rng: random.Random, depth: int = 0) -> Any:
        makers = [lambda: None, lambda: rng.random() < 0.5, lambda: rng.randrange(-10**20, 10**20),
                  lambda: rng.random() * 1e300, lambda: self.text(rng),
                  lambda: [self.json_value(rng, depth + 1) for _ in range(rng.randrange(4))],
                  lambda: {self.text(rng): self.json_value(rng, depth + 1) for _ in range(rng.randrange(4))},
                  lambda: {k: self.json_value(rng, depth + 1) for k in ("id", "from", "text", "sender", "lang",
                                                                       "status", "update_id", "message")}]
        return makers[rng.randrange(len(makers) if depth < 3 else 5)]()

    def fill(self, template: str, rng: random.Random) -> str:
        def value(match: re.Match) -> str:
            name = match[1].split(":")[0]
            if name == "reference" and self.references and rng.random() < 0.5:
                return rng.choice(self.references)
            if name == "request_id" and rng.random() < 0.5:
                return str(rng.choice([1, 2, 0, 10**30]))
            if name == "path":
                if rng.random() < 0.3:
                    return rng.choice(["chat.js", "chat.css", "index.html"])
                return "/".join(rng.choice(SEGMENTS) for _ in range(rng.randrange(1, 5)))
            return rng.choice(SEGMENTS + [urllib.parse.quote(enc(self.text(rng)), safe="")])

        path = re.sub(r"\{([^}]+)\}", value, template)
        mutation = rng.randrange(16)
        if mutation == 0:
            path += "/"
        elif mutation == 1:
            path = path.replace("/", "//", 1)
        elif mutation == 2:
            path += "/" + "/".join(rng.choice(SEGMENTS) for _ in range(rng.randrange(1, 4)))
        elif mutation == 3:
            path = path.upper()
        return path

    def body(self, rng: random.Random, template: str) -> tuple[bytes, str | None, dict[str, str]]:
        """(body, content type, extra headers that make it acceptable)."""
        extra: dict[str, str] = {}
        kind = rng.randrange(12)
        preferred = {"/sms/twilio": 4, "/desk": 4, "/telegram": 6, "/sms/json": 11, "/api/messages": 11}
        for prefix, favourite in preferred.items():  # what gets past the route's front door, more often
            if template.startswith(prefix) and rng.random() < 0.4:
                kind = favourite
        if kind == 0:
            return b"", None, extra
        if kind == 1:
            return rng.randbytes(rng.randrange(1, 4000)), rng.choice(CONTENT_TYPES), extra
        if kind == 2:  # oversized
            return rng.randbytes(rng.choice([300_000, 1_100_000, 2_000_000])), rng.choice(CONTENT_TYPES), extra
        if kind == 3:  # broken multipart
            parts = ['--zz\r\nContent-Disposition: form-data; name="csrf"\r\n\r\n' + self.csrf,
                     '--zz\r\nContent-Disposition: form-data; name="text"\r\n\r\n' + self.text(rng),
                     '--zz\r\nContent-Disposition: form-data; name="f"; filename="../../x.sh"\r\n'
                     'Content-Type: application/octet-stream\r\n\r\n' + "A" * rng.randrange(2000),
                     "--zz\r\nContent-Disposition: form-data\r\n\r\nno name", "--zz\r\n\r\n", "--wrong\r\n"]
            raw = "\r\n".join(rng.sample(parts, rng.randrange(1, len(parts)))) + rng.choice(["\r\n--zz--\r\n", "", "--zz"])
            return raw.encode("utf-8", "surrogatepass"), rng.choice(CONTENT_TYPES[2:5]), extra
        if kind == 4:  # a form, with the desk's CSRF token now and then
            fields = {self.text(rng): self.text(rng) for _ in range(rng.randrange(4))}
            for name in ("csrf", "text", "text_en", "username", "password", "time", "interpreter", "reason",
                         "MessageSid", "MessageStatus", "From", "Body"):
                if rng.random() < (0.9 if template.startswith("/sms/twilio") and name[0].isupper() else 0.4):
                    fields[name] = self.csrf if name == "csrf" and rng.random() < 0.7 else self.text(rng)
            if "From" in fields and rng.random() < 0.7:
                fields["From"] = rng.choice(["+4791234567", "+47 41 23 45 67", "+46701234567"])
            body = urllib.parse.urlencode({enc(k): enc(v) for k, v in fields.items()}).encode()
            if template.startswith("/sms/twilio"):
                signed = dict(urllib.parse.parse_qsl(body.decode("ascii"), keep_blank_values=True))
                extra["X-Twilio-Signature"] = RequestValidator(TWILIO_TOKEN).compute_signature(
                    TWILIO_PUBLIC + template, signed)
            return body, "application/x-www-form-urlencoded", extra
        if kind == 5:  # truncated or nested JSON
            raw = json.dumps(self.json_value(rng)).encode()
            raw = raw[: rng.randrange(len(raw) + 1)] if rng.random() < 0.5 else b"[" * 50_000 + b"]" * 50_000
            return raw, "application/json", extra
        if kind == 6 and template.startswith("/telegram"):  # a well-formed update with hostile content
            uid = rng.randrange(1, 10**9)
            # Without lone surrogates: channels/app.py cannot keep those yet (a 500; the known failures are
            # test_hostile_input.py::test_telegram_webhook_known_failures).
            text = re.sub("[\ud800-\udfff]", "\ufffd", self.text(rng))
            update = (message_update(uid, rng.randrange(1, 10**9), text) if rng.random() < 0.7
                      else callback_update(uid, rng.randrange(1, 10**9), text[:64]))
            extra[TELEGRAM_SECRET_HEADER] = TG_SECRET
            return json.dumps(update).encode(), "application/json", extra
        # JSON, signed for the SMS webhook (so the fuzz gets past the signature)
        value = self.json_value(rng)
        if rng.random() < 0.6:
            value = {"id": self.text(rng) if rng.random() < 0.3 else f"f{rng.randrange(10**9)}",
                     "from": rng.choice(["+4791234567", "+46701234567", "912 34 567", self.text(rng)]),
                     "text": self.text(rng), "status": self.text(rng), "sender": "fuzz-sender-0001", "lang": "ar",
                     rng.choice(["x", "update_id", "__proto__"]): self.json_value(rng)}
        raw = json.dumps(value, ensure_ascii=rng.random() < 0.5).encode("utf-8", "surrogatepass")
        if template.startswith("/sms/json"):
            ts = str(int(time.time()))
            extra.update({"X-Timestamp": ts, "X-Signature": sign(SMS_SECRET, ts, raw)})
        return raw, "application/json", extra

    def headers(self, rng: random.Random, content_type: str | None, extra: dict[str, str], body: bytes,
                template: str) -> list[tuple[bytes, bytes]]:
        headers: dict[str, bytes] = {}
        if content_type is not None:
            headers["content-type"] = content_type.encode("latin-1")
        if rng.random() < 0.8:
            headers["content-length"] = str(len(body)).encode()
        elif rng.random() < 0.5:
            headers["content-length"] = rng.choice([b"-1", b"abc", b"99999999999999999999", b"0", b"\xff"])
        if template.startswith("/desk") and rng.random() < 0.6:
            headers["cookie"] = self.cookie.encode()
        for _ in range(rng.randrange(4)):
            name = rng.choice(["accept", "cookie", "range", "if-none-match", "if-modified-since", "authorization",
                               "x-forwarded-for", "content-encoding", "transfer-encoding", "x-signature",
                               "x-timestamp", "x-twilio-signature", TELEGRAM_SECRET_HEADER.lower(), "host",
                               "origin", "referer", "user-agent", "accept-language"])
            headers[name] = rng.choice([b"", b"\xff\xfe", b"gzip", b"bytes=0-1,5-3", b"bytes=999999999-",
                                        b"desk_session=garbage.garbage", b"nan", b"inf", b"x" * 8000,
                                        TG_SECRET.encode() + b"x", b"Bearer " + b"a" * 64, b"chunked",
                                        self.text(rng).encode("utf-8", "surrogatepass")])
        for name, value in extra.items():
            headers[name.lower()] = value.encode("latin-1")
        return [(name.encode("latin-1"), value) for name, value in headers.items()]

    def one(self, template: str, rng: random.Random, methods: set[str]) -> None:
        # mostly a method the route answers (to reach the handler), now and then any
        method = rng.choice(METHODS) if rng.random() < 0.2 else rng.choice(sorted(methods))
        path = self.fill(template, rng)
        raw_path = path.encode("utf-8", "surrogatepass")
        raw_path = urllib.parse.quote(raw_path, safe="/%;~:@!$&'()*+,=").encode("ascii")
        query = b"" if rng.random() < 0.6 else urllib.parse.urlencode(
            {rng.choice(["lang", "sender", "x", "lang[]", ""]): enc(self.text(rng))}).encode() + rng.choice([b"", b"&&=&%ff"])
        body, content_type, extra = self.body(rng, template)
        headers = self.headers(rng, content_type, extra, body, template)
        size = rng.choice([len(body) or 1, 1, 7, 4096]) if len(body) < 10_000 else rng.choice([4096, 65536, len(body)])
        chunks = [body[i:i + size] for i in range(0, len(body), size)] or [b""]
        disconnect = None
        if rng.random() < 0.05 and len(chunks) > 1 and dict(headers).get(TELEGRAM_SECRET_HEADER.lower().encode()) != TG_SECRET.encode():
            disconnect = rng.randrange(1, len(chunks))  # the client goes away mid-body
        status, error = self.client.portal.call(  # type: ignore[union-attr]
            asgi_request, self.app, method, raw_path, query, headers, chunks, disconnect)
        self.count += 1
        self.results[f"{status}"] += 1
        where = f"{method} {raw_path[:120]!r} ({template})"
        if error is not None:
            self.failures.append(f"{where}: {type(error).__name__}: {str(error)[:200]}")
        elif status is None:
            self.failures.append(f"{where}: no response")
        elif status >= 500 and not (template == "/readyz" and status == 503):
            self.failures.append(f"{where}: HTTP {status}")


def login(client: TestClient) -> tuple[str, str]:
    page = client.get("/desk/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)[1]  # type: ignore[index]
    r = client.post("/desk/login", data={"csrf": token, "username": "kari", "password": PASSWORD},
                    follow_redirects=False)
    assert r.status_code == 303
    cookie = "; ".join(f"{c.name}={c.value}" for c in client.cookies.jar)
    page = client.get("/desk/", headers={"cookie": cookie})
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)[1]  # type: ignore[index]
    return cookie, csrf


def integrity(path: Path) -> str:
    with sqlite3.connect(path) as conn:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]


def seed(store: Store, cases: CaseStore) -> dict:
    store.record_inbound("sms", "seed-1", "sms:+4799999999", "seeded message")
    case, _ = cases.open_case(sender="web:seeded-person", channel="web", language="ar", topic="housing",
                              text="seeded case text", urgent=True)
    request_id = cases.add_interpreter_request(case["id"], json.dumps({"appointment": "nav", "notes": "seeded"}))
    cases.create_caseworker("kari", PASSWORD)
    return {"case": case, "request_id": request_id}


def still_there(store: Store, cases: CaseStore, seeded: dict) -> None:
    rows = [r for r in store.rows("inbound") if r["external_id"] == "seed-1"]
    assert len(rows) == 1 and rows[0]["text"] == "seeded message" and rows[0]["sender"] == "sms:+4799999999"
    case = cases.get(seeded["case"]["reference"])
    assert case is not None and case["text_original"] == "seeded case text"
    assert [m["text_original"] for m in cases.messages(case["id"])][0] == "seeded case text"
    assert any(r["id"] == seeded["request_id"] for r in cases.interpreter_requests())
    assert cases.check_password("kari", PASSWORD)


def fuzz(app: Any, store: Store, cases: CaseStore, templates: dict[str, set[str]], salt: int) -> Fuzzer:
    seeded = seed(store, cases)
    with TestClient(app) as client:
        cookie, csrf = login(client)
        fuzzer = Fuzzer(client, app, cookie, csrf, [seeded["case"]["reference"], "K-" + "Z" * 6])
        for i, (template, methods) in enumerate(templates.items()):
            rng = random.Random(SEED + salt + i)
            for _ in range(PER_ROUTE):
                fuzzer.one(template, rng, methods)
        if app.state.sms is not None:
            client.portal.call(app.state.sms.drain)
        telegram = app.state.telegram
        if telegram is not None:  # let python-telegram-bot work through what the webhook queued
            deadline = time.monotonic() + 60
            while telegram.application.update_queue.qsize() and time.monotonic() < deadline:
                time.sleep(0.1)
            time.sleep(1)
        # the process is still up and answering
        assert client.get("/healthz").status_code == 200
    still_there(store, cases, seeded)
    return fuzzer


def report(request: pytest.FixtureRequest, record_property: Any, fuzzers: list[Fuzzer], routes: int) -> str:
    n = sum(f.count for f in fuzzers)
    errors = sum(len(f.failures) for f in fuzzers)
    line = f"fuzz: {n} requests over {routes} routes, {errors} server errors"
    print("\n" + line + "  (statuses: " + ", ".join(
        f"{k}={v}" for k, v in sorted(sum((f.results for f in fuzzers), Counter()).items())) + ")")
    record_property("fuzz_summary", line)
    show_in_test_output(request, line)
    return line


def test_fuzz_every_route(tmp_path: Path, request: pytest.FixtureRequest, record_property: Any) -> None:
    log = ErrorLog()
    logging.getLogger().addHandler(log)
    try:
        fake_telegram = FakeTelegram()
        with LoopbackServer(fake_telegram.app) as telegram_api, LoopbackServer(fake_rasa()) as rasa:
            # 1: the JSON SMS gateway, the Telegram webhook, the desk, the web chat and the rest
            one = tmp_path / "one"
            settings = settings_for(one, rasa.url, sms_gateway="json", sms_json_url="http://127.0.0.1:9/messages",
                                    sms_json_secrets=(SMS_SECRET,), telegram_token=TG_TOKEN,
                                    telegram_api_url=telegram_api.url, telegram_mode="webhook",
                                    telegram_webhook_secret=TG_SECRET,
                                    telegram_webhook_url="https://bot.example.org/telegram/webhook")
            store, cases = Store(one / "bot.db"), CaseStore(one / "cases.db")
            app = create_server(settings, assistant=FakeAssistant(), store=store, catalog=CATALOG,  # type: ignore[arg-type]
                                gateway=RecordingGateway(), cases=cases, translator=Translator(one / "argos"))
            templates = route_templates(app)
            assert {"/api/messages", "/sms/json", "/telegram/webhook", "/desk/login", "/desk/cases/{reference}",
                    "/static/{path}", "/privacy", "/healthz", "/readyz", "/api/inbox", "/api/texts"} <= set(templates)
            first = fuzz(app, store, cases, templates, salt=0)
            dbs = [one / "bot.db", one / "cases.db"]
            # 2: the Twilio gateway (one SMS gateway per server)
            two = tmp_path / "two"
            settings = settings_for(two, rasa.url, sms_gateway="twilio", twilio_account_sid="AC1",
                                    twilio_auth_token=TWILIO_TOKEN, sms_public_url=TWILIO_PUBLIC,
                                    sms_sender="+4759000000")
            store, cases = Store(two / "bot.db"), CaseStore(two / "cases.db")
            app = create_server(settings, assistant=FakeAssistant(), store=store, catalog=CATALOG,  # type: ignore[arg-type]
                                gateway=RecordingGateway(), cases=cases, translator=Translator(two / "argos"))
            twilio = {t: m for t, m in route_templates(app).items() if t.startswith("/sms/twilio")}
            assert list(twilio) == ["/sms/twilio", "/sms/twilio/status"]
            second = fuzz(app, store, cases, twilio, salt=1000)
            dbs += [two / "bot.db", two / "cases.db"]
    finally:
        logging.getLogger().removeHandler(log)
    report(request, record_property, [first, second], len(set(templates) | set(twilio)))
    assert first.failures + second.failures == [], "\n".join((first.failures + second.failures)[:30])
    errors = log.take()
    assert errors == [], "\n".join(errors[:30])
    assert all(integrity(db) == "ok" for db in dbs)
