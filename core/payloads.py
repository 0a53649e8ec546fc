"""What a message may ask of the assistant by its form alone.

Rasa reads a message that starts with "/" (after white space) as
`/intent{"entity": "value"}` and skips language understanding: that is how
our buttons work. A person typing such text by hand must not be able to do
more than a button could. `sanitize` lets through only payloads in the
shapes our buttons produce (actions/replies.py, actions/checklist.py,
actions/answers.py and the Telegram commands), with known intents, only the
entity keys those buttons use and valid values; any other text that starts
with "/" becomes plain words (the slashes go) for NLU to read.

`sanitize` also makes any text safe to store and pass on: lone surrogates
(JSON can carry them; SQLite and UTF-8 cannot) become U+FFFD and control
characters other than tab and newlines are dropped.

Every channel goes through it: `Conversations.handle` (Telegram), the SMS
webhooks and the web chat's `/api/messages`. `read_limited` bounds the
request bodies those endpoints read.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from starlette.requests import ClientDisconnect, Request

from nlu.langid import LANGUAGES
from nlu.text import strip_invisible

KNOWLEDGE = Path(__file__).resolve().parent.parent / "data" / "knowledge"
#: Longest entity part (`{...}`) a button produces is about 60 characters.
MAX_ENTITIES_CHARS = 200
#: Topics a menu button names without entities (actions/replies.py MENU_TOPICS,
#: channels/telegram.py TOPIC_PAYLOADS).
MENU_TOPICS = ("fastlege", "nav", "intro_program", "school", "barnehage", "housing", "interpreter", "caseworker")
#: Intents a button (or a Telegram command: /start -> /greet, /language) sends bare.
BARE_INTENTS = frozenset({"greet", "language", *MENU_TOPICS})
#: "Ask the assistant meanwhile", under the case thread's notice: answered by the
#: channels' relay (channels/thread.py), never sent to Rasa (not a domain intent).
ASK_ASSISTANT = "/ask_assistant"
RELAY_PAYLOADS = frozenset({ASK_ASSISTANT})

_PAYLOAD = re.compile(r"/([a-z_]{1,40})(\{.*\})?", re.DOTALL)
_SURROGATE = re.compile("[\ud800-\udfff]")
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_LEADING = re.compile(r"^[\s/]+")


def sanitize(text: str) -> str:
    """`text` with valid Unicode and no control characters; if it starts
    with "/", either the payload of one of our buttons (in its canonical
    form) or plain text without the leading slashes."""
    text = clean_text(text)
    # Without zero-width and bidi characters: "\u200b/intent" must not slip
    # through as text that later becomes "/intent" when they are removed.
    candidate = strip_invisible(text).strip()
    if not candidate.startswith("/"):
        return text
    payload = _allowed_payload(candidate)
    if payload is not None:
        return payload
    return _LEADING.sub("", candidate)


def clean_text(text: str) -> str:
    """Lone surrogates as U+FFFD; control characters (but tab, CR, LF) dropped."""
    return _CONTROL.sub("", _SURROGATE.sub("\ufffd", text))


def _allowed_payload(candidate: str) -> str | None:
    if len(candidate) > 1 + 40 + MAX_ENTITIES_CHARS:
        return None
    match = _PAYLOAD.fullmatch(candidate)
    if match is None:
        return None
    if candidate in RELAY_PAYLOADS:
        return candidate
    intent, raw = match[1], match[2]
    entities = _entities(raw) if raw else {}
    if entities is None or not _valid(intent, entities):
        return None
    return "/" + intent + (json.dumps(entities, separators=(",", ":"), ensure_ascii=False) if entities else "")


def _entities(raw: str) -> dict[str, str] | None:
    """A flat JSON object of strings, without repeated keys; else None."""

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [k for k, _ in items]
        if len(set(keys)) != len(keys):
            raise ValueError("repeated key")
        return dict(items)

    def no_constants(name: str) -> None:
        raise ValueError(name)  # NaN, Infinity

    try:
        value = json.loads(raw, object_pairs_hook=pairs, parse_constant=no_constants)
    except (ValueError, RecursionError):
        return None
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        return None
    return value


def _valid(intent: str, entities: dict[str, str]) -> bool:
    if not entities:
        return intent in BARE_INTENTS
    if intent == "language":  # /language{"lang":"ar"}
        return entities.keys() == {"lang"} and entities["lang"] in LANGUAGES
    if intent == "greet":  # /greet{"show":"checklist"}
        return entities == {"show": "checklist"}
    if intent == "interpreter" and "request" in entities:  # /interpreter{"request":"yes"}
        return entities == {"request": "yes"}
    if intent == "emergency":  # /emergency{"danger":"yes"}: "Is someone in danger right now?"
        return entities.keys() == {"danger"} and entities["danger"] in ("yes", "no")
    if entities.keys() == {"answer"}:  # /fastlege{"answer":"fastlege/get_gp"}: "Is it one of these?"
        return entities["answer"] in _answer_ids() and entities["answer"].split("/", 1)[0] == intent
    # A checklist step: /fastlege{"answer":"fastlege/get_gp","step":"1"}
    answer, step = entities.get("answer", ""), entities.get("step", "")
    return (entities.keys() == {"answer", "step"} and answer in _answer_ids()
            and answer.split("/", 1)[0] == intent and step in _step_indexes())


@lru_cache(maxsize=1)
def _answer_ids() -> frozenset[str]:
    data = yaml.safe_load((KNOWLEDGE / "answers.yml").read_text(encoding="utf-8")) or {}
    return frozenset(str(key) for key in data)


@lru_cache(maxsize=1)
def _step_indexes() -> frozenset[str]:
    data = yaml.safe_load((KNOWLEDGE / "checklist.yml").read_text(encoding="utf-8")) or {}
    return frozenset(str(i) for i in range(len(data.get("steps") or [])))


async def read_limited(request: Request, limit: int) -> bytes | None:
    """The request body, or None if it is longer than `limit` bytes (read
    no further than that) or the client went away before sending all of it.
    Later `request.json()` / `request.form()` reuse it."""
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)
    except ClientDisconnect:  # nobody to answer; not a server error worth a traceback in the log
        return None
    body = b"".join(chunks)
    request._body = body  # what Request.body() caches: json() and form() read it from here
    return body
