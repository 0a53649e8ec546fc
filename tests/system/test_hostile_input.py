"""Hostile and broken input, as property tests (hypothesis).

Every public endpoint (web chat, SMS JSON and Twilio webhooks, Telegram
webhook) and the text functions behind them (payload guard, normalisation,
language identification, SMS segmentation) get empty and whitespace-only
text, 100 000-character bodies, invalid UTF-8, lone surrogates, control
characters, bidi overrides, zero-width characters, emoji, SQL and HTML
injection, random Unicode, malformed JSON, wrong content types, unknown
fields, wrong types and forged button payloads. In-process apps with fakes:
no Rasa.

Properties: never a 5xx, never an unhandled exception; bad input gets a 4xx
with a catalog text (in the person's language where it is known), good
input a normal reply; a 200 from an SMS webhook means the message is in the
Store, once; a forged payload never reaches the assistant as an intent; the
process stays up. Derandomized, so CI sees the same inputs every run.
"""

from __future__ import annotations

import collections
import itertools
import json
import logging
import re
import sqlite3
import time
from pathlib import Path
from urllib.parse import quote

import markupsafe
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient
from twilio.request_validator import RequestValidator

from caseworkers.cases import CaseStore
from caseworkers.translate import Translator
from channels.app import TELEGRAM_SECRET_HEADER, create_server
from channels.assistant import Reply
from channels.relay import Conversations
from channels.sms.channel import sign
from channels.sms.text import encoding_of, split_for_sms, with_options
from channels.store import Store
from channels.webchat import create_app
from core.config import Settings
from core.payloads import BARE_INTENTS, MENU_TOPICS, RELAY_PAYLOADS, clean_text, sanitize
from locales.catalog import Catalog
from nlu.langid import LANGUAGES, LanguageIdentifier
from nlu.text import normalize, strip_invisible, unify_letters
from tests.fakes.servers import (
    FakeAssistant,
    FakeTelegram,
    LoopbackServer,
    RecordingGateway,
    callback_update,
    message_update,
    wait_for,
)
from tests.reporting import ErrorLog, show_in_test_output
from tests.training_data import ROOT

CATALOG = Catalog.load()
MAX_CHARS = Settings().max_message_chars
SENDER = "abcdef0123456789"
SMS_SECRET = "json-secret-0123456789"
TWILIO_TOKEN = "twilio-auth-token-abc"
TWILIO_PUBLIC = "https://sms.example.org"
TG_TOKEN = "123456:TEST-token"
TG_SECRET = "s3cret-s3cret-s3cret"
PASSWORD = "correct horse battery"

#: Inputs tried, per property (printed at the end of the module, with -s).
TRIED: collections.Counter[str] = collections.Counter()
HOSTILE = settings(derandomize=True, database=None, deadline=None, max_examples=40, print_blob=False,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                          HealthCheck.filter_too_much, HealthCheck.large_base_example])
_SEQ = itertools.count(1)

# -- what our buttons may send: the oracle for "no forged intent" ----------------------------------


def _allowed_payloads() -> frozenset[str]:
    """Every payload the guard lets through, written out (an oracle
    independent of core.payloads): bare intents, languages, the checklist
    offer, the interpreter request, and (answer, step) pairs."""
    import yaml

    answers = yaml.safe_load((ROOT / "data" / "knowledge" / "answers.yml").read_text(encoding="utf-8"))
    steps = yaml.safe_load((ROOT / "data" / "knowledge" / "checklist.yml").read_text(encoding="utf-8"))["steps"]
    allowed = {f"/{intent}" for intent in BARE_INTENTS} | RELAY_PAYLOADS
    allowed |= {"/language" + json.dumps({"lang": code}, separators=(",", ":")) for code in LANGUAGES}
    allowed |= {'/greet{"show":"checklist"}', '/interpreter{"request":"yes"}'}
    allowed |= {"/" + a.split("/")[0] + json.dumps({"answer": a, "step": str(i)}, separators=(",", ":"))
                for a in answers for i in range(len(steps))}
    return frozenset(allowed)


ALLOWED = _allowed_payloads()


def reaches_rasa_as_intent(text: str) -> bool:
    """What Rasa 3.6 does (YAMLStoryReader.unpack_regex_message): strip, then "/" prefix."""
    return text.strip().startswith("/")


def assert_no_forged_intent(text: str) -> None:
    assert not reaches_rasa_as_intent(text) or text in ALLOWED, f"forged payload reached the assistant: {text!r}"
    assert not re.search("[\ud800-\udfff]", text), "lone surrogate reached the assistant"


def produced_payloads() -> list[str]:
    """Every payload our actions and channels put on a button or send for a command."""
    from actions.answers import INTERPRETER_REQUEST_PAYLOAD
    from actions.checklist import OFFER_PAYLOAD, checklist_buttons, next_button, offer_button, steps
    from actions.interpreter import SLOTS, buttons_for
    from actions.replies import MENU_TOPICS as ACTION_TOPICS
    from actions.replies import clarify_topics, language_buttons, topic_buttons
    from channels.telegram import CHECKLIST_PAYLOAD, TOPIC_PAYLOADS

    payloads = [INTERPRETER_REQUEST_PAYLOAD, OFFER_PAYLOAD, CHECKLIST_PAYLOAD, "/greet", "/language"]
    payloads += [f"/{t}" for t in TOPIC_PAYLOADS + ACTION_TOPICS]
    payloads += [b["payload"] for b in language_buttons(CATALOG)]
    for lang in LANGUAGES:
        payloads += [b["payload"] for b in topic_buttons(CATALOG, lang)]
        payloads += [b["payload"] for b in topic_buttons(CATALOG, lang, clarify_topics([("nav", 0.4)]))]
        payloads += [b["payload"] for b in checklist_buttons(CATALOG, lang)]
        payloads.append(offer_button(CATALOG, lang)["payload"])
        for i in range(len(steps())):
            payloads += [b["payload"] for b in next_button(CATALOG, lang, str(i))]
        for slot in SLOTS:  # the interpreter form's buttons send plain words
            payloads += [str(b["payload"]) for b in buttons_for(slot, lang)]
    return sorted(set(payloads))


FORGED = [
    '/caseworker{"urgency":"urgent"}', '/caseworker{"urgency": "urgent", "priority": 1}', "/emergency",
    "/emergency@1.0", "/greet@0.01", "/restart", "/session_start", "/back", "/nlu_fallback", "/out_of_scope",
    '/language{"lang":"xx"}', '/language{"lang":"ar","extra":"1"}', '/language{"lang":{"nested":"ar"}}',
    '/language{"lang":["ar"]}', '/language{"lang":"ar"}{"lang":"fa"}', '/language{"lang":"ar","lang":"xx"}',
    '/language{"lang":NaN}', '/language{"lang":"ar"', '/language{lang:ar}', '/greet{"show":"everything"}',
    '/greet{"show":"checklist","show":"x"}', '/fastlege{"answer":"nav/appeal","step":"1"}',
    '/fastlege{"answer":"fastlege/get_gp","step":"99"}', '/fastlege{"answer":"fastlege/get_gp","step":1}',
    '/fastlege{"answer":"fastlege/no_such","step":"1"}', '/fastlege{"answer":"nav/contact"}',
    '/interpreter{"request":"yes","urgency":"urgent"}', '/interpreter{"request":"no"}', "/Caseworker", "/ caseworker",
    '/caseworker{"a":"' + "x" * 5000 + '"}', "/language" + '{"lang":' * 300 + '"ar"' + "}" * 300,
    ' \n/caseworker{"urgency":"urgent"}', '\u200b/caseworker{"urgency":"urgent"}', "\u2066/restart\u2069",
    "//emergency", "/ /restart", "/caseworker\n/restart", '/caseworker{"urgency":"urgent"} hei', "/",
    "/" * 50, '/caseworker{"x":"\ud800"}', '/language{"lang":"ar\\u0000"}', '/language{"lang":"\\u0061r "}',
]
SQL = ["' OR '1'='1", "'; DROP TABLE inbound; --", "1; DELETE FROM cases; --", '" OR 1=1 --',
       "K-ABC' UNION SELECT password FROM caseworkers --", "%' AND 1=1 AND '%'='", "\\'; --"]
HTML = ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>', "<svg onload=alert(1)>",
        "javascript:alert(1)", "{{7*7}}", "{% raw %}", "${7*7}", "<!--", "]]>", "&lt;script&gt;"]
BIDI_AND_INVISIBLE = ["\u202e", "\u202d", "\u202b", "\u202a", "\u202c", "\u2066", "\u2067", "\u2068", "\u2069",
                      "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u200e", "\u200f"]
EMOJI = "😀🙏🏽👨‍👩‍👧‍👦🇳🇴❤️🔥💬🆘"
WORDS = ["hei", "jeg trenger lege", "طبيب", "NAV", "سلام", "лікар", "ሓኪም", "dhakhtar", " ", "\n"]

surrogates = st.integers(0xD800, 0xDFFF).map(chr)
hostile_text = st.one_of(
    st.just(""),
    st.text(alphabet=" \t\n\r\x0b\x0c\u00a0\u2003\u3000\u200b\u2060\ufeff", max_size=30),  # blank
    st.text(alphabet=st.characters(categories=["Cc"]), min_size=1, max_size=30),  # control characters
    st.lists(st.sampled_from(BIDI_AND_INVISIBLE + WORDS), min_size=1, max_size=12).map("".join),
    st.text(alphabet=EMOJI, min_size=1, max_size=30),
    st.sampled_from(SQL + HTML + FORGED),
    st.tuples(st.sampled_from(FORGED + SQL + HTML), st.text(max_size=20)).map("".join),
    st.text(max_size=300),  # random unicode
    st.lists(st.one_of(st.characters(), surrogates), min_size=1, max_size=40).map("".join),  # lone surrogates
    st.tuples(st.sampled_from(["a", "ж ", "طب ", "😀", " ", "\u202e", "/", "<b>"]),
              st.integers(MAX_CHARS // 4, 100_000)).map(lambda t: t[0] * (t[1] // len(t[0]))),  # near and far beyond the limit
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=10)
CONTENT_TYPES = ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "",
                 "application/jsonx", "text/html", "application/json; charset=latin-1", "APPLICATION/JSON"]


def dumps(value: object, ascii_only: bool) -> bytes:
    """JSON as a client might send it; lone surrogates become invalid UTF-8."""
    return json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


def _parses(body: bytes) -> bool:
    try:
        json.loads(body)
    except (ValueError, RecursionError):
        return False
    return True


@st.composite
def broken_json(draw: st.DrawFn, valid: bytes, nest: bool = True) -> bytes:
    """A valid body cut, with a byte changed, or with junk around it; or absurdly nested."""
    how = draw(st.sampled_from(["cut", "flip", "junk", "bom"] + (["nest"] if nest else [])))
    if how == "cut":
        return valid[: draw(st.integers(0, max(len(valid) - 1, 0)))]
    if how == "flip" and valid:
        i = draw(st.integers(0, len(valid) - 1))
        return valid[:i] + bytes([draw(st.integers(0, 255))]) + valid[i + 1:]
    if how == "nest":
        depth = draw(st.integers(100, 200_000))
        return b"[" * depth + b"]" * depth
    if how == "bom":
        return b"\xef\xbb\xbf" + valid
    return draw(st.binary(max_size=10)) + valid + draw(st.binary(max_size=10))


# -- shared fixtures ---------------------------------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def error_log(request: pytest.FixtureRequest):
    handler = ErrorLog()
    logging.getLogger().addHandler(handler)
    yield handler
    logging.getLogger().removeHandler(handler)
    total = sum(TRIED.values())
    line = (f"hypothesis: {total} inputs over {len(TRIED)} properties ("
            + ", ".join(f"{k}={v}" for k, v in sorted(TRIED.items())) + ")")
    print("\n" + line)  # shown with -s
    show_in_test_output(request, line)


@pytest.fixture(scope="module")
def identifier() -> LanguageIdentifier:
    return LanguageIdentifier()


@pytest.fixture(scope="module")
def web(identifier: LanguageIdentifier):
    assistant = FakeAssistant()
    app = create_app(Settings(), client=assistant, catalog=CATALOG, identifier=identifier,  # type: ignore[arg-type]
                     store=Store(None))
    with TestClient(app) as client:
        yield client, assistant


def server_settings(tmp: Path, **extra: object) -> Settings:
    base: dict[str, object] = dict(bot_db=str(tmp / "bot.db"), cases_db=str(tmp / "cases.db"),
                                   tracker_db=str(tmp / "tracker.db"), desk_secret="d" * 40,
                                   rasa_url="http://127.0.0.1:9", retry_pending_seconds=3600,
                                   sms_rate_per_minute=1_000_000, sms_gateway="none")
    base.update(extra)
    return Settings(**base)  # type: ignore[arg-type]


#: Each server's channel database, read by the tests through their own connection: the server's
#: background work (SMS tasks, python-telegram-bot) uses the Store's connection meanwhile.
DB_FILES: dict[int, Path] = {}


def _rows(store: Store, table: str) -> list[dict]:
    with sqlite3.connect(DB_FILES[id(store)], timeout=10) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute(f"select * from {table}")]  # our own table names


def start(settings: Settings, tmp: Path, **extra: object):  # type: ignore[no-untyped-def]
    store, cases, assistant = Store(tmp / "bot.db"), CaseStore(tmp / "cases.db"), FakeAssistant()
    DB_FILES[id(store)] = tmp / "bot.db"
    app = create_server(settings, assistant=assistant, store=store, catalog=CATALOG, cases=cases,  # type: ignore[arg-type]
                        translator=Translator(tmp / "argos"), **extra)
    return app, store, cases, assistant


@pytest.fixture(scope="module")
def sms_json(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("sms-json")
    gateway = RecordingGateway()
    app, store, _, assistant = start(server_settings(tmp, sms_gateway="json", sms_json_url="http://127.0.0.1:9/m",
                                                     sms_json_secrets=(SMS_SECRET,)), tmp, gateway=gateway)
    with TestClient(app) as client:
        yield client, store, assistant, app.state.sms


@pytest.fixture(scope="module")
def sms_twilio(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("sms-twilio")
    app, store, _, assistant = start(server_settings(tmp, sms_gateway="twilio", twilio_account_sid="AC1",
                                                     twilio_auth_token=TWILIO_TOKEN, sms_public_url=TWILIO_PUBLIC,
                                                     sms_sender="+4759000000"), tmp, gateway=RecordingGateway())
    with TestClient(app) as client:
        yield client, store, assistant, app.state.sms


@pytest.fixture(scope="module")
def telegram(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("telegram")
    fake = FakeTelegram()
    with LoopbackServer(fake.app) as api:
        settings = server_settings(tmp, telegram_token=TG_TOKEN, telegram_api_url=api.url, telegram_mode="webhook",
                                   telegram_webhook_secret=TG_SECRET,
                                   telegram_webhook_url="https://bot.example.org/telegram/webhook")
        app, store, _, assistant = start(settings, tmp)
        with TestClient(app) as client:
            yield client, store, assistant, fake


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("desk")
    app, store, cases, _ = start(server_settings(tmp), tmp)
    cases.create_caseworker("kari", PASSWORD)
    with TestClient(app) as client:
        page = client.get("/desk/login")
        token = re.search(r'name="csrf" value="([^"]+)"', page.text)[1]  # type: ignore[index]
        assert client.post("/desk/login", data={"csrf": token, "username": "kari", "password": PASSWORD},
                           follow_redirects=False).status_code == 303
        yield client, cases, tmp


def error_texts(key: str) -> set[str]:
    values = {"limit": MAX_CHARS}
    return {CATALOG.text(key, lang, **values) for lang in CATALOG.languages}


ERRORS = {key: error_texts(key) for key in ("input.empty", "input.too_long", "service.unavailable")}

# -- 1. the payload guard ----------------------------------------------------------------------


def test_every_payload_our_buttons_and_commands_produce_passes_unchanged() -> None:
    produced = produced_payloads()
    assert len(produced) > 30
    for payload in produced:
        assert sanitize(payload) == payload, payload
        if payload.startswith("/"):
            assert payload in ALLOWED, payload


def test_the_guard_knows_the_same_topics_as_the_actions_and_the_domain() -> None:
    import yaml

    from actions.replies import MENU_TOPICS as ACTION_TOPICS
    from channels.telegram import TOPIC_PAYLOADS

    domain = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
    assert MENU_TOPICS == ACTION_TOPICS == TOPIC_PAYLOADS
    assert BARE_INTENTS <= set(domain["intents"])
    assert {"lang", "answer", "step", "show", "request"} <= set(domain["entities"])


@pytest.mark.parametrize("forged", FORGED + ["/start", "/delete", "/help", "/checklist"])
def test_forged_payloads_become_plain_words(forged: str) -> None:
    out = sanitize(forged)
    assert not reaches_rasa_as_intent(out), out
    assert_no_forged_intent(out)


@settings(HOSTILE, max_examples=200)
@given(st.one_of(hostile_text, st.sampled_from(sorted(ALLOWED)),
                 st.tuples(st.sampled_from(sorted(BARE_INTENTS | {"emergency", "restart", "x"})),
                           st.dictionaries(st.sampled_from(["lang", "answer", "step", "show", "request", "urgency"]),
                                           json_values, max_size=3))
                 .map(lambda t: "/" + t[0] + json.dumps(t[1], separators=(",", ":")))))
@example("/fastlege" + '{"answer":"fastlege/get_gp","step":"1"}')
def test_sanitize_lets_through_only_button_shapes(text: str) -> None:
    TRIED["sanitize"] += 1
    out = sanitize(text)
    assert_no_forged_intent(out)
    assert sanitize(out) == out  # idempotent
    assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]", out)
    if text in ALLOWED:
        assert out == text
    if not strip_invisible(clean_text(text)).strip().startswith("/"):
        assert out == clean_text(text)  # ordinary text is left alone


@pytest.mark.parametrize("forged", [f for f in FORGED if sanitize(f).strip()] + ['/language{"lang":"ar"}'])
def test_forged_payloads_never_reach_the_assistant_as_intents_on_any_channel(forged: str, identifier) -> None:
    """Through Conversations.handle (Telegram, and every channel that uses it)."""
    import asyncio

    assistant = FakeAssistant()
    conversations = Conversations(assistant, Store(), CATALOG, identifier=identifier)  # type: ignore[arg-type]
    delivered: list[list[Reply]] = []

    async def deliver(sender: str, replies: list[Reply], lang: str, reference: str = "") -> None:
        delivered.append(replies)

    assert asyncio.run(conversations.handle("telegram", "1", "tg:1", forged, deliver))
    ((_, received),) = assistant.received
    assert_no_forged_intent(received)
    assert received == sanitize(forged) and delivered


def test_a_message_with_nothing_left_is_answered_without_the_assistant(identifier) -> None:
    import asyncio

    assistant = FakeAssistant()
    store = Store()
    conversations = Conversations(assistant, store, CATALOG, identifier=identifier)  # type: ignore[arg-type]
    delivered: list[str] = []

    async def deliver(sender: str, replies: list[Reply], lang: str, reference: str = "") -> None:
        delivered.extend(r.text for r in replies)

    for i, text in enumerate(["/", " // ", "\x00\x01", "\u200b/\u202e"]):
        assert asyncio.run(conversations.handle("telegram", f"e{i}", "tg:2", text, deliver))
    assert assistant.received == [] and delivered == [CATALOG.text("input.empty", "nb")] * 4
    assert {r["status"] for r in store.rows("inbound")} == {"answered"}


# -- 2. the web chat --------------------------------------------------------------------------------


@st.composite
def chat_requests(draw: st.DrawFn) -> tuple[bytes, str, str | None]:
    """(body, content type, the page language the body names)."""
    kind = draw(st.sampled_from(["message"] * 6 + ["bad_sender", "wrong_types", "unknown_fields", "raw",
                                                    "malformed", "not_object"]))
    lang = draw(st.sampled_from([*LANGUAGES, "xx", None]))
    sender = draw(hostile_text) if kind == "bad_sender" else SENDER
    message = {"sender": sender, "text": draw(hostile_text), "lang": lang}
    ascii_only = draw(st.booleans())
    if kind == "wrong_types":
        message = {k: draw(st.one_of(json_values, st.just(v))) for k, v in message.items()}
    elif kind == "unknown_fields":
        message.update(draw(st.dictionaries(st.text(max_size=10), json_values, min_size=1, max_size=4)))
    if kind == "raw":
        body = draw(st.binary(max_size=3000))
    elif kind == "malformed":
        body = draw(broken_json(dumps(message, ascii_only)))
    elif kind == "not_object":
        body = dumps(draw(json_values.filter(lambda v: not isinstance(v, dict))), ascii_only)
    else:
        body = dumps(message, ascii_only)
    content_type = draw(st.one_of(st.just("application/json"), st.just("application/json"),
                                  st.sampled_from(CONTENT_TYPES)))
    return body, content_type, lang if isinstance(lang, str) and kind == "message" and sender == SENDER else None


@settings(HOSTILE, max_examples=120)
@given(chat_requests())
@example((json.dumps({"sender": SENDER, "text": "a" * 100_000}).encode(), "application/json", None))
@example((json.dumps({"sender": SENDER, "text": "x" * 2_000_000}).encode(), "application/json", None))
@example((json.dumps({"sender": SENDER, "text": "\ud800 hei"}).encode(), "application/json", None))
def test_web_chat_answers_everything_without_a_server_error(web, chat_request) -> None:
    client, assistant = web
    body, content_type, lang = chat_request
    TRIED["web chat /api/messages"] += 1
    before = len(assistant.received)
    r = client.post("/api/messages", content=body, headers={"content-type": content_type} if content_type else {})
    event(f"HTTP {r.status_code}")
    assert r.status_code < 500, r.text
    data = r.json()
    new = assistant.received[before:]
    if r.status_code == 200:
        ((sender, text),) = new  # once
        assert sender.startswith("web:") and 0 < len(text) <= MAX_CHARS
        assert_no_forged_intent(text)
        assert data["messages"] and all(isinstance(m["text"], str) for m in data["messages"])
    else:
        assert 400 <= r.status_code < 500 and new == []
        assert data["messages"][0]["text"] in ERRORS[data["error"]]  # a catalog text
        if data["error"] == "input.empty" and r.status_code == 422 and lang in LANGUAGES:
            assert data["messages"][0]["text"] == CATALOG.text("input.empty", lang)  # in the page's language


def test_web_chat_too_long_is_answered_politely_in_the_persons_language(web) -> None:
    client, assistant = web
    before = len(assistant.received)
    text = "Я не можу знайти сімейного лікаря для своєї дитини. " * 2000  # ~100 000 characters
    r = client.post("/api/messages", json={"sender": SENDER, "text": text})
    assert r.status_code == 413 and r.json()["messages"][0]["text"] == CATALOG.text("input.too_long", "uk", limit=MAX_CHARS)
    r = client.post("/api/messages", content=b'{"text": "' + b"a" * 2_000_000 + b'"}',
                    headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["error"] == "input.too_long"
    assert len(assistant.received) == before
    # and the process is still up and answering
    r = client.post("/api/messages", json={"sender": SENDER, "text": "jeg trenger lege"})
    assert r.status_code == 200 and assistant.received[-1] == (f"web:{SENDER}", "jeg trenger lege")


def test_web_chat_forged_payloads_arrive_as_words_and_buttons_still_work(web) -> None:
    client, assistant = web
    for forged in FORGED:
        r = client.post("/api/messages", content=json.dumps({"sender": SENDER, "text": forged}),
                        headers={"content-type": "application/json"})
        assert r.status_code in (200, 413, 422)
        if r.status_code == 200:
            assert_no_forged_intent(assistant.received[-1][1])
    for payload in ('/language{"lang":"ar"}', '/fastlege{"answer":"fastlege/get_gp","step":"1"}', "/caseworker"):
        assert client.post("/api/messages", json={"sender": SENDER, "text": payload}).status_code == 200
        assert assistant.received[-1][1] == payload


def test_web_chat_refuses_other_content_types(web) -> None:
    client, assistant = web
    before = len(assistant.received)
    body = json.dumps({"sender": SENDER, "text": "hei"})
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"):
        r = client.post("/api/messages", content=body, headers={"content-type": content_type})
        assert r.status_code == 415 and r.json()["messages"][0]["text"] in ERRORS["input.empty"]
    assert len(assistant.received) == before


# -- the SMS webhooks -------------------------------------------------------------------------------

NUMBERS = ["+4791234567", "+47 912 34 567", "91234567", "004791234567", "+46701234567", "+4741234567"]
BAD_NUMBERS = ["", "abc", "+47" + "9" * 300, "' OR 1=1 --", "<script>", "\u202e+4791234567", "+47\u0000912"]


@st.composite
def sms_json_requests(draw: st.DrawFn) -> tuple[bytes, dict[str, str]]:
    n = next(_SEQ)
    kind = draw(st.sampled_from(["message"] * 6 + ["hostile_fields", "wrong_types", "unknown_fields", "raw",
                                                    "malformed", "not_object", "receipt"]))
    message: dict[str, object] = {"id": f"h{n}", "from": draw(st.sampled_from(NUMBERS)), "text": draw(hostile_text)}
    if kind == "hostile_fields":
        message["id"] = draw(st.one_of(st.integers(), hostile_text))
        message["from"] = draw(st.one_of(st.sampled_from(BAD_NUMBERS), hostile_text))
    if kind == "wrong_types":
        message = {k: draw(st.one_of(json_values, st.just(v))) for k, v in message.items()}
    elif kind == "unknown_fields":
        message.update(draw(st.dictionaries(st.text(max_size=10), json_values, min_size=1, max_size=4)))
    elif kind == "receipt":
        message = {"id": draw(st.one_of(st.text(max_size=50), json_values)), "status": draw(st.one_of(hostile_text, json_values))}
    ascii_only = draw(st.booleans())
    body = {"raw": lambda: draw(st.binary(max_size=2000)),
            "malformed": lambda: draw(broken_json(dumps(message, ascii_only))),
            "not_object": lambda: dumps(draw(json_values.filter(lambda v: not isinstance(v, dict))), ascii_only),
            }.get(kind, lambda: dumps(message, ascii_only))()
    ts = str(int(time.time()))
    signature = sign(SMS_SECRET, ts, body)
    how = draw(st.sampled_from(["good"] * 12 + ["wrong", "none", "old", "nan", "inf", "latin1"]))
    headers = {"X-Timestamp": ts, "X-Signature": signature}
    if how == "wrong":
        headers["X-Signature"] = sign("wrong-secret-0123456", ts, body)
    elif how == "none":
        headers = {}
    elif how == "old":
        headers["X-Timestamp"] = str(int(time.time()) - 3600)
        headers["X-Signature"] = sign(SMS_SECRET, headers["X-Timestamp"], body)
    elif how in ("nan", "inf"):
        headers["X-Timestamp"] = how
        headers["X-Signature"] = sign(SMS_SECRET, how, body)
    elif how == "latin1":
        headers["X-Signature"] = signature[:-1] + "\u00e6"
    headers["content-type"] = draw(st.sampled_from(["application/json"] * 3 + ["text/plain", "",
                                                                            "application/x-www-form-urlencoded"]))
    headers["x-kind"] = kind
    return body, headers


def _encoded(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(k.lower().encode(), v.encode("latin-1")) for k, v in headers.items() if v != "" or k != "content-type"]


def _inbound(store: Store, channel: str) -> dict[str, dict]:
    return {r["external_id"]: r for r in _rows(store, "inbound") if r["channel"] == channel}


def _settled(store: Store, channel: str) -> list[dict]:
    """Messages that were acknowledged but never handled (a crash in a task)."""
    return [r for r in _inbound(store, channel).values() if r["status"] in ("received", "retrying")]


@settings(HOSTILE, max_examples=120)
@given(sms_json_requests())
@example((json.dumps({"id": "big", "from": "+4791234567", "text": "x" * 100_000}).encode(), {}))
@example((b'{"id": "\\ud800", "from": "+4791234567", "text": "\\ud800 hei"}', {}))
@example((b'{"id": null, "from": "+4791234567", "text": "hei"}', {}))
@example((json.dumps({"id": "sup", "from": "+4791234567", "text": "\u00b2"}).encode(), {}))
def test_sms_json_webhook_acknowledges_only_what_it_recorded(sms_json, error_log, sms_request) -> None:
    client, store, assistant, sms = sms_json
    body, headers = sms_request
    if not headers:  # an @example: sign it properly
        ts = str(int(time.time()))
        headers = {"X-Timestamp": ts, "X-Signature": sign(SMS_SECRET, ts, body), "content-type": "application/json"}
    TRIED["sms /sms/json"] += 1
    path = "/sms/json/receipts" if headers.get("x-kind") == "receipt" else "/sms/json"
    before_rows = len(_inbound(store, "sms"))
    before_sent = len(assistant.received)
    r = client.post(path, content=body, headers=_encoded(headers))
    event(f"HTTP {r.status_code}")
    assert r.status_code in (200, 204, 400, 403, 413), (r.status_code, r.text)
    rows = _inbound(store, "sms")
    if r.status_code == 200:  # acknowledged: recorded before the answer, once
        assert len(rows) == before_rows + (0 if r.json().get("status") == "duplicate" else 1)
    else:
        assert len(rows) == before_rows
    client.portal.call(sms.drain)  # type: ignore[union-attr]
    assert _settled(store, "sms") == []  # every acknowledged message was handled
    for _, text in assistant.received[before_sent:]:
        assert_no_forged_intent(text)
    assert error_log.take() == []


@st.composite
def twilio_requests(draw: st.DrawFn) -> tuple[bytes, dict[str, str], str]:
    n = next(_SEQ)
    kind = draw(st.sampled_from(["message"] * 6 + ["hostile_fields", "unknown_fields", "missing", "raw",
                                                    "multipart", "status"]))
    plain = hostile_text.map(lambda t: re.sub("[\ud800-\udfff]", "", t))  # a form cannot carry them
    params = {"MessageSid": f"SM{n}", "From": draw(st.sampled_from(NUMBERS)), "To": "+4759000000", "Body": draw(plain)}
    if kind == "hostile_fields":
        params["MessageSid"] = draw(plain)
        params["From"] = draw(st.one_of(st.sampled_from(BAD_NUMBERS), plain))
    path = "/sms/twilio"
    if kind == "unknown_fields":
        params.update(draw(st.dictionaries(st.text(st.characters(exclude_categories=["Cs"]), max_size=10),
                                           plain, min_size=1, max_size=4)))
    elif kind == "missing":
        params = {k: v for k, v in params.items() if draw(st.booleans())}
    elif kind == "status":
        path = "/sms/twilio/status"
        params = {"MessageSid": params["MessageSid"], "MessageStatus": draw(plain)}
    from urllib.parse import parse_qsl, urlencode

    if kind == "raw":
        body = draw(st.binary(max_size=2000))
        parsed = dict(parse_qsl(body.decode("latin-1"), keep_blank_values=True))
        content_type = "application/x-www-form-urlencoded"
    elif kind == "multipart":
        boundary = "b0undary"
        fields = "".join(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
                         for k, v in params.items() if '"' not in k and "\r" not in k and "\n" not in k)
        body = (fields + draw(st.sampled_from([f"--{boundary}--\r\n", "", f"--{boundary}", "--wrong--\r\n"]))).encode()
        parsed = {k: v for k, v in params.items() if '"' not in k and "\r" not in k and "\n" not in k}
        content_type = f"multipart/form-data; boundary={boundary}"
    else:
        body = urlencode(params).encode()
        parsed = params
        content_type = "application/x-www-form-urlencoded"
    validator = RequestValidator(TWILIO_TOKEN)
    signature = validator.compute_signature(TWILIO_PUBLIC + path, parsed)
    if draw(st.sampled_from([False] * 9 + [True])):  # now and then a wrong one
        signature = draw(st.sampled_from(["", "bad", signature[:-2] + "xx", "\u00e6\u00f8"]))
    return body, {"content-type": content_type, "X-Twilio-Signature": signature}, path


@settings(HOSTILE, max_examples=80)
@given(twilio_requests())
def test_twilio_webhook_acknowledges_only_what_it_recorded(sms_twilio, error_log, twilio_request) -> None:
    client, store, assistant, sms = sms_twilio
    body, headers, path = twilio_request
    TRIED["sms /sms/twilio"] += 1
    before_rows = len(_inbound(store, "sms"))
    before_sent = len(assistant.received)
    r = client.post(path, content=body, headers=_encoded(headers))
    event(f"HTTP {r.status_code}")
    assert r.status_code in (200, 204, 400, 403, 413), (r.status_code, r.text)
    rows = _inbound(store, "sms")
    if r.status_code == 200 and path == "/sms/twilio":
        assert r.text == "<Response/>"
        assert len(rows) in (before_rows, before_rows + 1)  # new, or a retry of one recorded before
    else:
        assert len(rows) == before_rows
    client.portal.call(sms.drain)  # type: ignore[union-attr]
    assert _settled(store, "sms") == []
    for _, text in assistant.received[before_sent:]:
        assert_no_forged_intent(text)
    assert error_log.take() == []


def test_sms_gateway_retry_is_recorded_once_and_an_empty_sms_is_answered(sms_json) -> None:
    client, store, assistant, sms = sms_json
    body = json.dumps({"id": "once-1", "from": "+4790000001", "text": "jeg trenger lege"}).encode()
    for _ in range(3):
        ts = str(int(time.time()))
        r = client.post("/sms/json", content=body, headers={"X-Timestamp": ts, "X-Signature": sign(SMS_SECRET, ts, body)})
        assert r.status_code == 200
    client.portal.call(sms.drain)
    assert [r["external_id"] for r in _rows(store, "inbound")].count("once-1") == 1
    assert [t for s, t in assistant.received if s == "sms:+4790000001"] == ["jeg trenger lege"]
    body = json.dumps({"id": "empty-1", "from": "+4790000002", "text": " \u200b/ "}).encode()
    ts = str(int(time.time()))
    assert client.post("/sms/json", content=body, headers={"X-Timestamp": ts, "X-Signature": sign(SMS_SECRET, ts, body)}).status_code == 200
    client.portal.call(sms.drain)
    assert [t for s, t in assistant.received if s == "sms:+4790000002"] == []
    sent = [json.loads(r["body"])["text"] for r in _rows(store, "outbound") if r["sender"] == "sms:+4790000002"]
    assert sent and sent[0] in error_texts("input.empty")


# -- the Telegram webhook ---------------------------------------------------------------------------


#: channels/app.py keeps each update (json.dumps(..., ensure_ascii=False)) before answering 200, and SQLite
#: cannot store a lone surrogate: a 500 (test_telegram_webhook_known_failures below). Until that is fixed,
#: the property sends updates without them.
no_surrogates = hostile_text.map(lambda t: re.sub("[\ud800-\udfff]", "\ufffd", t))


@st.composite
def telegram_updates(draw: st.DrawFn) -> tuple[bytes, dict[str, str], int | None, int | None]:
    """(body, headers, the update id kept at the door, the update id whose text must be answered)."""
    uid = 10_000 + next(_SEQ)
    chat = draw(st.integers(1, 10**12))  # private chats (groups are rate-limited to 20 messages a minute)
    kind = draw(st.sampled_from(["text"] * 6 + ["command", "callback", "unknown_fields", "broken", "media"]))
    text = draw(no_surrogates.filter(lambda t: len(t) <= 5000))  # Telegram's limit is 4096
    answered: int | None = None
    if kind == "callback":
        data = draw(st.one_of(st.sampled_from(FORGED), st.text(max_size=64), st.just("k:nosuchkey"), st.just("del:no")))
        update = callback_update(uid, chat, re.sub("[\ud800-\udfff]", "\ufffd", data))
    elif kind == "media":
        update = message_update(uid, chat, None, sticker={"file_id": "s", "file_unique_id": "s", "width": 1,
                                                          "height": 1, "is_animated": False, "is_video": False,
                                                          "type": "regular"})
    else:
        if kind == "command":
            text = "/" + draw(st.sampled_from(["start", "help", "language", "checklist", "caseworker", "restart",
                                               "emergency@nabo_bot", "foo"])) + draw(st.sampled_from(["", " x", "{}"]))
        update = message_update(uid, chat, text)
        answered = uid if text and kind != "command" else None
        if kind == "unknown_fields":
            update.update(draw(st.dictionaries(st.sampled_from(["zz_unknown", "future_field"]), json_values, min_size=1)))
            update["message"].update({"zz_new": draw(json_values)})
    kept: int | None = uid
    body = dumps(update, draw(st.booleans()))
    if kind == "broken":  # cut, flipped or wrapped: 400, or (if it still is an update) 200
        body, kept, answered = draw(broken_json(body, nest=False)), None, None
    headers = {"content-type": "application/json", TELEGRAM_SECRET_HEADER: TG_SECRET}
    if draw(st.sampled_from([False] * 9 + [True])):  # now and then a wrong one
        headers[TELEGRAM_SECRET_HEADER] = draw(st.sampled_from(["", "wrong", TG_SECRET + "x", "\u00e6"]))
        kept = answered = None
    return body, headers, kept, answered


def _updates(store: Store) -> set[int]:
    return {r["update_id"] for r in _rows(store, "updates")}


@settings(HOSTILE, max_examples=60)
@given(telegram_updates())
def test_telegram_webhook_answers_and_records_hostile_updates(telegram, error_log, update) -> None:
    client, store, assistant, _ = telegram
    body, headers, kept, answered = update
    TRIED["telegram /telegram/webhook"] += 1
    before_sent = len(assistant.received)
    r = client.post("/telegram/webhook", content=body, headers=_encoded(headers))
    event(f"HTTP {r.status_code}")
    assert r.status_code in (200, 400, 403), (r.status_code, r.text)
    if kept is not None:  # a well-formed update with the right secret: kept before the 200
        assert r.status_code == 200 and kept in _updates(store)
    if r.status_code != 200:
        assert not _updates(store) & ({kept} if kept else set())
    if answered is not None:  # a text: recorded once and answered (python-telegram-bot works from a queue)
        wait_for(lambda: _inbound(store, "telegram").get(str(answered), {}).get("status") == "answered", timeout=10)
    for _, text in assistant.received[before_sent:]:
        assert_no_forged_intent(text)
    assert error_log.take() == []


def test_telegram_update_sent_twice_is_recorded_and_answered_once(telegram) -> None:
    client, store, assistant, _ = telegram
    body = json.dumps(message_update(8_888, 4242, "jeg trenger lege")).encode()
    headers = {"content-type": "application/json", TELEGRAM_SECRET_HEADER: TG_SECRET}
    assert [client.post("/telegram/webhook", content=body, headers=headers).status_code for _ in range(3)] == [200] * 3
    wait_for(lambda: _inbound(store, "telegram").get("8888", {}).get("status") == "answered", timeout=10)
    time.sleep(0.3)
    assert [t for s, t in assistant.received if s == "tg:4242"] == ["jeg trenger lege"]
    assert [r["external_id"] for r in _rows(store, "inbound")].count("8888") == 1


@pytest.mark.parametrize("body", [b"[1, 2]", b"5", b"{}", b'{"update_id": 1, "message": 5}',
                                  b'{"update_id": 2, "message": {"text": "hei"}}', b"{nope"],
                         ids=["list", "number", "empty", "message-number", "message-without-chat", "not-json"])
def test_telegram_webhook_refuses_json_that_is_no_update(telegram, body: bytes) -> None:
    client, *_ = telegram
    r = client.post("/telegram/webhook", content=body,
                    headers={"content-type": "application/json", TELEGRAM_SECRET_HEADER: TG_SECRET})
    assert r.status_code == 400


@pytest.mark.parametrize("body", [json.dumps(message_update(9_998, 77, "\ud800 hei")).encode(),
                                  json.dumps(message_update(2**70, 77, "hei")).encode(),
                                  b"[" * 100_000 + b"]" * 100_000],
                         ids=["lone-surrogate", "huge-update-id", "nested"])
def test_telegram_webhook_odd_but_valid_json_is_not_a_server_error(telegram, body: bytes) -> None:
    client, *_ = telegram
    r = TestClient(client.app, raise_server_exceptions=False).post(
        "/telegram/webhook", content=body, headers={"content-type": "application/json", TELEGRAM_SECRET_HEADER: TG_SECRET})
    assert r.status_code < 500


# -- 3. the caseworker desk ------------------------------------------------------------------------

DANGEROUS = ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>', "\u202eexe.txt\u202c <b>x</b>",
             "abc\u2066<i>\u2069def", "' OR '1'='1 --", "{{ 7*7 }}"]


def _bidi(text: str) -> bool:
    return bool(re.search("[\u202a-\u202e\u2066-\u2069]", text))


def test_desk_shows_a_persons_markup_and_bidi_controls_escaped(desk) -> None:
    from caseworkers.desk import TEMPLATES

    client, cases, _ = desk
    assert TEMPLATES.env.autoescape is True
    words = " | ".join(DANGEROUS)
    case, _ = cases.open_case(sender="web:hostile1", channel="web", language="ar", topic="housing", text=words,
                              text_nb=words + " (nb)", excerpt=words)
    cases.add_interpreter_request(case["id"], json.dumps({"appointment": words, "place": words, "notes": words,
                                                          "dialect": words, "date": words}))
    cases.record_unanswered("ar", "housing", words, words)
    for path in (f"/desk/cases/{case['reference']}", "/desk/interpreters", "/desk/unanswered", "/desk/"):
        page = client.get(path)
        assert page.status_code == 200
        html = page.text
        assert "<script>alert" not in html and "<img src=x" not in html and "<b>x</b>" not in html
        assert "<i>" not in html and not _bidi(html), path
    page = client.get(f"/desk/cases/{case['reference']}").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in page
    assert "[U+202E]exe.txt[U+202C]" in page and "{{ 7*7 }}" in page  # shown, not evaluated


def test_desk_reference_and_login_fields_are_only_parameters(desk) -> None:
    client, cases, tmp = desk
    case, _ = cases.open_case(sender="web:hostile2", channel="web", language="nb", topic="nav", text="min sak")
    for reference in SQL + ["K-%", "%", "_", case["reference"] + "' --", "\u202e" + case["reference"]]:
        r = client.get("/desk/cases/" + quote(reference, safe=""))
        assert r.status_code == 404, reference
        assert "min sak" not in r.text
        r = client.post("/desk/cases/" + quote(reference, safe="") + "/close", data={"csrf": "x"})
        assert r.status_code in (403, 404)
    anonymous = TestClient(client.app)
    for name in SQL:
        page = anonymous.get("/desk/login")
        token = re.search(r'name="csrf" value="([^"]+)"', page.text)[1]  # type: ignore[index]
        r = anonymous.post("/desk/login", data={"csrf": token, "username": name, "password": name})
        assert r.status_code in (401, 429)
    assert cases.get(case["reference"])["status"] == "open"
    import sqlite3

    with sqlite3.connect(tmp / "cases.db") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("select count(*) from caseworkers").fetchone()[0] == 1


@settings(HOSTILE, max_examples=40)
@given(hostile_text.filter(lambda t: len(t) < 5000))
def test_desk_never_renders_a_persons_words_as_markup(desk, text: str) -> None:
    from caseworkers.desk import _visible_controls

    client, cases, _ = desk
    text = clean_text(text)  # what the channels store
    TRIED["desk case page"] += 1
    case, _ = cases.open_case(sender=f"web:prop{next(_SEQ)}", channel="web", language="ar", topic="nav", text=text)
    page = client.get(f"/desk/cases/{case['reference']}")
    assert page.status_code == 200
    assert str(markupsafe.escape(_visible_controls(text))) in page.text
    assert not _bidi(page.text)
    cases.set_status(case["id"], "closed", "kari")


# -- text functions ---------------------------------------------------------------------------------

any_text = st.one_of(hostile_text.filter(lambda t: len(t) <= 5000), st.text())


@settings(HOSTILE, max_examples=150)
@given(any_text)
def test_normalisation_is_total_and_leaves_nothing_invisible(text: str) -> None:
    TRIED["nlu.text"] += 1
    out = normalize(text)
    assert out == out.strip() and "  " not in out
    assert strip_invisible(out) == out
    assert normalize(out) == out
    assert strip_invisible(strip_invisible(text)) == strip_invisible(text)
    assert strip_invisible(unify_letters(text)) == unify_letters(text)


@settings(HOSTILE, max_examples=80)
@given(any_text)
@example("a" * 100_000)
@example("😀" * 50)
@example("\u202e\u200b")
def test_language_identification_never_fails_on_what_the_channels_pass_on(identifier, text: str) -> None:
    TRIED["nlu.langid"] += 1
    detection = identifier.detect(sanitize(text))  # every channel sanitizes before detecting
    assert detection.language in (*LANGUAGES, "")
    assert 0.0 <= detection.confidence <= 1.0
    assert not detection.reliable or detection.language in LANGUAGES


def test_language_identification_of_a_lone_surrogate(identifier) -> None:
    identifier.detect("hei \ud800 jeg trenger lege")


@settings(HOSTILE, max_examples=120)
@given(st.text(st.characters(exclude_categories=["Cs"]), max_size=1500).filter(lambda t: len(t) < 1500)
       | hostile_text.map(lambda t: re.sub("[\ud800-\udfff]", "", t)[:3000]),
       st.integers(1, 10), st.sampled_from(["sms.more", "sms.options"]), st.sampled_from(LANGUAGES),
       st.lists(st.text(max_size=30).map(lambda t: re.sub("[\ud800-\udfff]", "", t)), max_size=5))
def test_sms_segmentation_keeps_every_word_within_the_limit(text: str, segments: int, key: str, lang: str,
                                                            titles: list[str]) -> None:
    TRIED["channels.sms.text"] += 1
    hint = CATALOG.text(key, lang)
    body = with_options(text, titles, CATALOG.text("sms.options", lang))
    parts = split_for_sms(body, segments, hint)
    assert parts
    bodies = [p[: -len(hint) - 1] if i < len(parts) - 1 else p for i, p in enumerate(parts)]
    assert all(p.endswith("\n" + hint) for p in parts[:-1])
    assert " ".join(bodies).split() == body.split()  # nothing lost, nothing cut inside a word
    for part, words in zip(parts, bodies, strict=True):
        if encoding_of(part).segments > segments:  # only a single word longer than the limit may be
            assert len(words.split()) <= 1, part[:200]
