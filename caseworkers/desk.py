"""The caseworker desk: a small web application on localhost, hosted by
channels.app under /desk.

Every page is behind login (accounts with scrypt-hashed passwords and a
role, admin or caseworker: caseworkers/accounts.py; the first admin is made
with `python -m caseworkers.desk create-user NAME`). The session lives in the
case database and the cookie (HttpOnly, SameSite=Strict, Path=/desk) holds
only its random id; every form carries a CSRF token.

The queue filters, searches and pages the cases (urgent and longest waiting
first), shows local times, ages and answers overdue against what the person
was promised. A case page opens with a Norwegian summary of what the
assistant understood (readable with no translation package at all), the
messages, internal notes and the history. A caseworker replies with a
knowledge-base answer or a saved reply in the person's own language (sent as
is), or writes Norwegian that is machine-translated, shown before sending and
marked as machine-translated to the person.

Every endpoint is a module-level function that finds what it needs on
`request.app.state.desk` (a `Desk`), so each can be found and tested alone.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import getpass
import hmac
import json
import logging
import re
import secrets
import sqlite3
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from markupsafe import Markup
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from actions.knowledge import KnowledgeBase
from actions.office_hours import OfficeHours
from caseworkers import appointments, labels
from caseworkers.accounts import ADMIN, ROLES, AccountError, Accounts
from caseworkers.cases import AlreadyDecided, CaseClosed, CaseStore, QueueFilter, Taken, is_erased
from caseworkers.translate import PIVOT, Translator
from core.payloads import read_limited
from locales.catalog import Catalog

logger = logging.getLogger(__name__)
# Bidi embeddings, overrides and isolates in a person's words could reorder
# what a caseworker sees around them; shown as visible codes instead.
_BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")


def _visible_controls(value: object) -> object:
    """Every {{ value }} before escaping: bidi controls as "[U+202E]"."""
    if isinstance(value, str) and not isinstance(value, Markup):
        return _BIDI_CONTROLS.sub(lambda m: f"[U+{ord(m[0]):04X}]", value)
    return value


TEMPLATES = Jinja2Templates(env=jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(Path(__file__).resolve().parent / "templates")),
    autoescape=True,  # every value is HTML-escaped: a person's words never become markup
    finalize=_visible_controls,
))
TEMPLATES.env.filters.update(labels.FILTERS)
MAX_FORM_BYTES = 256 * 1024
SESSION_COOKIE = "desk_session"
LOGIN_CSRF_COOKIE = "desk_login_csrf"  # the login form's token, before there is a session
ERASED_ERROR = ("Personen har slettet det som var lagret, eller lagringstiden er ute: "
                "det er ingen å sende til. Ingenting ble sendt.")
#: Sends a text to a person through their channel: (sender id, text, language).
#: send(sender, text, language, reference): reference names the message, so it is sent once.
SendToPerson = Callable[[str, str, str, str], Awaitable[None]]
PER_PAGE = 25
QUEUE_REFRESH_SECONDS = 60  # the queue reloads itself (no JavaScript: script-src 'none')
#: Saved replies (locales/<lang>/desk.yml), in the order the desk offers them.
TEMPLATE_KEYS = ("desk.template.received", "desk.template.call_you", "desk.template.bring_id",
                 "desk.template.interpreter_booked")
DEFAULT_WORKING_DAYS = 3
CLOSED_ERROR = ("Saken er lukket. Svaret ble ikke sendt. Kryss av for «Gjenåpne saken» hvis du vil åpne den igjen "
                "og sende svaret.")
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; script-src 'none'; "
                               "object-src 'none'; frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


@dataclass
class Desk:
    """What the desk's endpoints need, kept on the app's state."""

    cases: CaseStore
    translator: Translator
    catalog: Catalog
    send: SendToPerson
    accounts: Accounts
    zone: ZoneInfo
    secure_cookie: bool = False  # behind HTTPS: the session cookie is never sent in clear
    knowledge: KnowledgeBase | None = None
    hours: OfficeHours | None = None


def desk_of(request: Request) -> Desk:
    return request.app.state.desk


# -- pages and forms (shared by every endpoint) ---------------------------------------------------

def session(request: Request) -> dict[str, Any] | None:
    """The request's live server-side session, looked up once per request."""
    if not hasattr(request.state, "desk_session"):
        request.state.desk_session = desk_of(request).accounts.session(request.cookies.get(SESSION_COOKIE, ""))
    return request.state.desk_session


def user(request: Request) -> str | None:
    current = session(request)
    return current["username"] if current else None


def csrf(request: Request) -> str:
    """The session's token; before login, one kept in a cookie of the login page."""
    current = session(request)
    if current:
        return current["csrf"]
    token = request.cookies.get(LOGIN_CSRF_COOKIE, "")[:100] or getattr(request.state, "new_login_csrf", "")
    if not token:
        token = request.state.new_login_csrf = secrets.token_urlsafe(32)
    return token


def set_cookie(request: Request, response: Response, name: str, value: str, path: str) -> None:
    response.set_cookie(name, value, path=path, httponly=True, samesite="strict",
                        secure=desk_of(request).secure_cookie)


async def form_ok(request: Request) -> dict[str, str] | None:
    """The posted form if it is small and carries the session's CSRF token."""
    if await read_limited(request, MAX_FORM_BYTES) is None:
        return None
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}  # no files
    expected = csrf(request)
    if not expected or not hmac.compare_digest(form.get("csrf", "").encode(), expected.encode()):
        return None
    return form


def page(request: Request, name: str, status: int = 200, **context: object) -> Response:
    current = session(request)
    context.update(request=request, user=user(request), csrf=csrf(request),
                   admin=bool(current and current["role"] == ADMIN))
    response = TEMPLATES.TemplateResponse(request, name, context, status_code=status, headers=SECURITY_HEADERS)
    if getattr(request.state, "new_login_csrf", ""):
        set_cookie(request, response, LOGIN_CSRF_COOKIE, request.state.new_login_csrf, "/desk/login")
    return response


# -- login, logout, passwords and accounts (caseworkers/accounts.py) -------------------------------

Handler = Callable[[Request], Awaitable[Response]]


def login_required(handler: Handler) -> Handler:
    async def wrapped(request: Request) -> Response:
        if not user(request):
            return RedirectResponse("/desk/login", status_code=303)
        return await handler(request)

    wrapped.__name__ = handler.__name__
    return wrapped


def admin_required(handler: Handler) -> Handler:
    async def wrapped(request: Request) -> Response:
        current = session(request)
        if current is None:
            return RedirectResponse("/desk/login", status_code=303)
        if current["role"] != ADMIN:
            return page(request, "forbidden.html", status=403)
        return await handler(request)

    wrapped.__name__ = handler.__name__
    return wrapped


async def login(request: Request) -> Response:
    if request.method != "POST":  # GET, HEAD
        return page(request, "login.html")
    accounts = desk_of(request).accounts
    form = await form_ok(request)
    if form is None:
        return page(request, "login.html", status=403, error="Skjemaet er utløpt. Prøv igjen.")
    username, password = form.get("username", "")[:200], form.get("password", "")[:1000]
    address = request.client.host if request.client else ""
    if accounts.locked_out(username, address):
        logger.info("Desk login refused (locked out): user %s from %s", *accounts.keys(username, address))
        return page(request, "login.html", status=429, error="For mange forsøk. Vent 15 minutter.")
    if await asyncio.to_thread(accounts.verify, username, password) is None:  # scrypt: off the event loop
        accounts.record_failure(username, address)
        logger.info("Failed desk login: user %s from %s", *accounts.keys(username, address))
        return page(request, "login.html", status=401, error="Feil brukernavn eller passord.")
    accounts.record_success(username, address)
    if session(request):  # logged in again in this browser: the old session ends
        accounts.end_session(request.cookies.get(SESSION_COOKIE, ""))
    response = RedirectResponse("/desk/", status_code=303)
    set_cookie(request, response, SESSION_COOKIE, accounts.start_session(username), "/desk")
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/desk/login")
    return response


async def logout(request: Request) -> Response:
    accounts = desk_of(request).accounts
    response = RedirectResponse("/desk/login", status_code=303)
    current = session(request)
    if current and await form_ok(request) is not None:
        accounts.end_session(request.cookies.get(SESSION_COOKIE, ""))
        accounts.record_logout(current["username"])
        response.delete_cookie(SESSION_COOKIE, path="/desk", httponly=True, samesite="strict",
                               secure=desk_of(request).secure_cookie)
    return response


async def password(request: Request) -> Response:
    """A caseworker changes their own password; their other sessions end."""
    if request.method != "POST":  # GET, HEAD
        return page(request, "password.html")
    form = await form_ok(request)
    if form is None:
        return page(request, "password.html", status=403, error="Skjemaet er utløpt. Prøv igjen.")
    try:
        await asyncio.to_thread(desk_of(request).accounts.change_password, user(request) or "",
                                form.get("current", ""), form.get("new", ""), form.get("repeat", ""),
                                request.cookies.get(SESSION_COOKIE, ""))
    except AccountError as exc:
        return page(request, "password.html", status=422, error=str(exc))
    return page(request, "password.html", done="Passordet er endret. Du er logget ut på andre enheter.")


def accounts_page(request: Request, status: int = 200, **context: object) -> Response:
    return page(request, "accounts.html", status=status, accounts=desk_of(request).accounts.all(), roles=ROLES,
                **context)


async def manage_accounts(request: Request) -> Response:
    """The admin's page: create accounts, disable/enable, roles, password resets."""
    if request.method != "POST":  # GET, HEAD
        return accounts_page(request)
    accounts = desk_of(request).accounts
    form = await form_ok(request)
    if form is None:
        return accounts_page(request, status=403, error="Skjemaet er utløpt. Prøv igjen.")
    action, name, me = request.path_params.get("action", ""), form.get("username", "").strip(), user(request) or ""
    try:
        if action in ("create", "reset") and form.get("password", "") != form.get("repeat", ""):
            raise AccountError("De to passordene er ikke like.")
        if action == "create":
            await asyncio.to_thread(accounts.create, name, form.get("password", ""), form.get("role"), me)
            done = f"Kontoen {name} er opprettet."
        elif action == "reset":
            await asyncio.to_thread(accounts.reset_password, name, form.get("password", ""), me)
            done = f"Nytt passord er satt for {name}. Alle øktene til kontoen er avsluttet."
        elif action in ("disable", "enable"):
            accounts.set_disabled(name, action == "disable", me)
            done = f"Kontoen {name} er {'deaktivert' if action == 'disable' else 'aktivert'}."
        elif action == "role":
            accounts.set_role(name, form.get("role", ""), me)
            done = f"{name} har nå rollen {form.get('role')}."
        else:
            return page(request, "missing.html", status=404)
    except AccountError as exc:
        return accounts_page(request, status=422, error=str(exc))
    return accounts_page(request, done=done)


# -- the queue ------------------------------------------------------------------------------------

def queue_filter(request: Request) -> QueueFilter:
    """The queue's filters from the query string; unknown values are ignored."""
    q = request.query_params
    status = q.get("status", "active")
    return QueueFilter(
        status=status if status in ("active", "open", "claimed", "answered", "closed") else "active",
        assignee=(user(request) or "") if q.get("mine") else "",
        unassigned=bool(q.get("unassigned")),
        language=q.get("language", "")[:20], topic=q.get("topic", "")[:40],
        urgent=bool(q.get("urgent")), q=q.get("q", "")[:200])


async def queue(request: Request) -> Response:
    desk = desk_of(request)
    wanted = queue_filter(request)
    try:
        number = int(request.query_params.get("page", "1"))
    except ValueError:
        number = 1
    result = desk.cases.search(wanted, page=number, per_page=PER_PAGE)
    now = dt.datetime.now(dt.timezone.utc)
    for row in result.rows:
        row["due"] = due(desk, row.get("waiting_since"))
        row["overdue"] = row["due"] is not None and row["status"] != "closed" and now > row["due"]
        row["question_title"] = answer_title(desk, row["facts"].get("question"))
    params = {k: v for k, v in request.query_params.items() if k != "page" and v}
    return page(request, "queue.html", result=result, wanted=wanted, params=params,
                facets=desk.cases.facets(), waiting=desk.cases.waiting_messages(), refresh=QUEUE_REFRESH_SECONDS,
                statuses=("active", "open", "claimed", "answered", "closed"))


def due(desk: Desk, waiting_since: str | None) -> dt.datetime | None:
    """When the person's oldest unanswered message was promised an answer."""
    at = labels.parse(waiting_since)
    if at is None or desk.hours is None:
        return None
    return desk.hours.answer_due(at)


def answer_title(desk: Desk, answer_id: str | None) -> str | None:
    """The Norwegian title of a knowledge-base answer (locales/nb/titles.yml)."""
    if not answer_id:
        return None
    key = "title." + answer_id.replace("/", ".")
    return desk.catalog.text(key, "nb") if desk.catalog.has(key) else answer_id


# -- a case -----------------------------------------------------------------------------------------

def find(request: Request) -> dict[str, Any] | None:
    return desk_of(request).cases.get(request.path_params["reference"])


def summary(desk: Desk, case: dict[str, Any]) -> dict[str, Any]:
    """The case in Norwegian from what the assistant understood, not from
    translation: readable for a Tigrinya case with no translation package."""
    facts = json.loads(case["facts"]) if case.get("facts") else {}
    lang = case["language"]
    interpreter = ("Nei" if lang == "nb" else "Trolig ikke (engelsk)" if lang == "en"
                   else f"Ja, tolk på {labels.language(lang)}")
    municipality = facts.get("municipality") or (desk.knowledge.municipality.name if desk.knowledge else "–")
    why = [labels.REASON[facts["reason"]]] if facts.get("reason") in labels.REASON else []
    if facts.get("misunderstood") and facts.get("reason") != "offered":
        why.append(f"Assistenten hadde misforstått {facts['misunderstood']} gang(er) før det.")
    urgent_why = f"fare: {labels.danger(case['danger'])}" if case.get("danger") else ""
    return {
        "topic": labels.topic(facts.get("topic") or case["topic"]),
        "question": answer_title(desk, facts.get("question")),
        "answers_given": [answer_title(desk, a) for a in facts.get("answers_given", [])],
        "language": labels.language(lang), "channel": labels.channel(case["channel"]),
        "interpreter": interpreter, "municipality": municipality,
        "reason": facts.get("reason"), "urgent": case["urgency"] == "urgent", "urgent_why": urgent_why, "why": why, "has_facts": bool(facts),
    }


def answer_choices(desk: Desk) -> list[tuple[str, list[tuple[str, str]]]]:
    """Knowledge-base answers by topic, with Norwegian names, for the insert menu."""
    if desk.knowledge is None:
        return []
    groups: dict[str, list[tuple[str, str]]] = {}
    for answer_id in sorted(desk.knowledge.answers):
        groups.setdefault(labels.topic(answer_id.split("/", 1)[0]), []).append(
            (answer_id, answer_title(desk, answer_id) or answer_id))
    return sorted(groups.items())


def ready_reply(desk: Desk, case: dict[str, Any], source: str, days: int) -> tuple[str, str] | None:
    """A reply that needs no translation: (text in the person's language,
    the same in Norwegian) for `answer:<id>` (rendered as the assistant does,
    municipality filled in) or `template:<key>`; None for anything else."""
    kind, _, key = source.partition(":")
    lang = case["language"]
    if kind == "answer" and desk.knowledge is not None and key in desk.knowledge.answers:
        return desk.knowledge.render(key, lang), desk.knowledge.render(key, "nb")
    if kind == "template" and key in TEMPLATE_KEYS:
        values = {"reference": case["reference"], "days": days}
        return desk.catalog.text(key, lang, **values), desk.catalog.text(key, "nb", **values)
    return None


def working_days(form: dict[str, str]) -> int:
    try:
        return min(max(int(form.get("days", DEFAULT_WORKING_DAYS)), 1), 30)
    except ValueError:
        return DEFAULT_WORKING_DAYS


def translatable(translator: Translator, lang: str) -> bool:
    """Whether Norwegian can be machine-translated into `lang` (directly or through English)."""
    pairs = translator.pairs()
    return ("nb", lang) in pairs or {("nb", PIVOT), (PIVOT, lang)} <= pairs


def case_page_response(request: Request, case: dict[str, Any], status: int = 200, **extra: object) -> Response:
    desk = desk_of(request)
    messages = desk.cases.messages(case["id"])
    last_out = max((m["id"] for m in messages if m["direction"] == "out"), default=0)
    waiting = [m for m in messages if m["direction"] == "in" and m["id"] > last_out]
    promised = due(desk, waiting[0]["created"]) if waiting and case["status"] != "closed" else None
    requests = [r for r in desk.cases.interpreter_requests() if r["case_id"] == case["id"]]
    templates = [(key, desk.catalog.text(key, "nb", reference=case["reference"], days=DEFAULT_WORKING_DAYS))
                 for key in TEMPLATE_KEYS if not (case.get("contact_caution") and key == "desk.template.call_you")]
    return page(request, "case.html", status=status, case=case, messages=messages, summary=summary(desk, case),
                thread=desk.cases.thread(case["id"]),
                notes=desk.cases.notes(case["id"]), history=desk.cases.audit_log(case["id"]),
                colleagues=[c for c in desk.cases.caseworker_names() if c != user(request)],
                answers=answer_choices(desk), templates=templates, promised=promised,
                overdue=promised is not None and dt.datetime.now(dt.timezone.utc) > promised,
                interpreter_requests=requests, translation=translatable(desk.translator, case["language"]),
                **extra)


async def case_page(request: Request) -> Response:
    case = find(request)
    if case is None:
        return page(request, "missing.html", status=404)
    return case_page_response(request, case)


def case_action(handler: Callable[[Request, Desk, dict[str, Any], dict[str, str]], Awaitable[Response | None]]):
    """A POST on a case: the case must exist and the form carry the CSRF
    token; the handler returns a page, or None to go back to the case."""

    async def endpoint(request: Request) -> Response:
        case = find(request)
        form = await form_ok(request)
        if case is None:
            return page(request, "missing.html", status=404)
        if form is None:
            return page(request, "missing.html", status=403)
        response = await handler(request, desk_of(request), case, form)
        return response or RedirectResponse(f"/desk/cases/{case['reference']}", status_code=303)

    endpoint.__name__ = handler.__name__
    return login_required(endpoint)


@case_action
async def claim(request: Request, desk: Desk, case: dict[str, Any], form: dict[str, str]) -> Response | None:
    """Take the case. Someone else's case only after the warning page
    (confirm=1 names whom the caseworker was warned about); if another
    colleague took it meanwhile, the warning comes again."""
    takeover_from = form.get("takeover_from", "") if form.get("confirm") == "1" else ""
    try:
        desk.cases.claim(case["id"], user(request) or "", takeover_from)
    except Taken as taken:
        return page(request, "taken.html", status=409, case=desk.cases.get(case["reference"]), holder=str(taken))
    return None


@case_action
async def assign(request: Request, desk: Desk, case: dict[str, Any], form: dict[str, str]) -> Response | None:
    try:
        desk.cases.assign(case["id"], user(request) or "", form.get("assignee", ""))
    except ValueError:
        return case_page_response(request, case, status=422, error="Velg en kollega fra listen.")
    return None


@case_action
async def release(request: Request, desk: Desk, case: dict[str, Any], form: dict[str, str]) -> Response | None:
    desk.cases.release(case["id"], user(request) or "")
    return None


@case_action
async def close(request: Request, desk: Desk, case: dict[str, Any], form: dict[str, str]) -> Response | None:
    if case["status"] != "closed":
        desk.cases.set_status(case["id"], "closed", user(request) or "")
        await tell_closed(desk, case)
    return None


async def tell_closed(desk: Desk, case: dict[str, Any]) -> None:
    """The person learns their case is closed and the assistant answers
    again; closing never fails because the message could not go out."""
    if case["sender"].startswith("erased:"):
        return
    closings = sum(1 for a in desk.cases.audit_log(case["id"]) if a["action"] == "closed")
    try:
        lang = case["language"] or "nb"
        await desk.send(case["sender"], desk.catalog.text("thread.closed", lang, reference=case["reference"]), lang,
                        f"case-closed:{case['id']}:{closings}")
    except Exception:  # noqa: BLE001 - the case is closed; the notice is logged as not sent
        logger.exception("The person could not be told that case %s is closed", case["reference"])


@case_action
async def note(request: Request, desk: Desk, case: dict[str, Any], form: dict[str, str]) -> Response | None:
    """An internal note: stored for colleagues, never sent to the person."""
    if not form.get("note", "").strip():
        return case_page_response(request, case, status=422, note_error="Skriv et notat.")
    desk.cases.add_note(case["id"], user(request) or "", form["note"])
    return None


@case_action
async def insert(request: Request, desk: Desk, case: dict[str, Any], form: dict[str, str]) -> Response | None:
    """Show a knowledge-base answer or saved reply in the person's language,
    its Norwegian beside it, with a button to send it as is."""
    source = form.get("source", "")
    reply = ready_reply(desk, case, source, working_days(form))
    if reply is None:
        return case_page_response(request, case, status=422, insert_error="Velg et svar eller en mal.")
    return case_page_response(request, case, ready={"source": source, "days": working_days(form),
                                                    "text": reply[0], "text_nb": reply[1]})


@case_action
async def send_ready(request: Request, desk: Desk, case: dict[str, Any], form: dict[str, str]) -> Response | None:
    """Send an inserted answer or saved reply as is: written in the person's
    language by people, so not marked machine-translated. The text is made
    again from the source named, never taken from the form."""
    reply = ready_reply(desk, case, form.get("source", ""), working_days(form))
    if reply is None:
        return case_page_response(request, case, status=422, insert_error="Velg et svar eller en mal.")
    if is_erased(case["sender"]):
        return case_page_response(request, case, status=409, insert_error=ERASED_ERROR)
    text, text_nb = reply
    message = f"{desk.catalog.text('case.reply_from_caseworker', case['language'])}\n\n{text}"
    who = user(request) or ""
    try:
        message_id = desk.cases.add_reply(case["id"], who, text_nb, message, machine_translated=False,
                                          reopen=form.get("reopen") == "1")
    except CaseClosed:  # a closed case is never reopened silently
        return case_page_response(request, case, status=409, insert_error=CLOSED_ERROR)
    await desk.send(case["sender"], message, case["language"], f"case-reply:{message_id}")
    return None


@case_action
async def preview(request: Request, desk: Desk, case: dict[str, Any], form: dict[str, str]) -> Response | None:
    text_nb = form.get("text", "").strip()
    if not text_nb:
        return case_page_response(request, case, status=422, error="Skriv et svar.")
    reopen = form.get("reopen") == "1"
    if case["status"] == "closed" and not reopen:
        return case_page_response(request, case, status=409, error=CLOSED_ERROR)
    translated = await asyncio.to_thread(desk.translator.translate, text_nb, "nb", case["language"])
    text_en = form.get("text_en", "").strip()
    return page(request, "preview.html", case=case, text_nb=text_nb, text_en=text_en, translated=translated,
                outgoing=outgoing(desk.catalog, case["language"], text_nb, translated, text_en), reopen=reopen)


@case_action
async def send(request: Request, desk: Desk, case: dict[str, Any], form: dict[str, str]) -> Response | None:
    text_nb = form.get("text", "").strip()
    if not text_nb:  # nothing to send: say so, send nothing
        return case_page_response(request, case, status=422, error="Skriv et svar.")
    if is_erased(case["sender"]):  # the person erased it, or retention did: nobody to send to
        return case_page_response(request, case, status=409, error=ERASED_ERROR)
    translated = await asyncio.to_thread(desk.translator.translate, text_nb, "nb", case["language"])
    message = outgoing(desk.catalog, case["language"], text_nb, translated, form.get("text_en", "").strip())
    # recorded first: its id keys the send, so a retry never sends it twice
    try:
        message_id = desk.cases.add_reply(case["id"], user(request) or "", text_nb, message,
                                          machine_translated=translated is not None, reopen=form.get("reopen") == "1")
    except CaseClosed:  # a closed case is never reopened silently
        return case_page_response(request, case, status=409, error=CLOSED_ERROR)
    await desk.send(case["sender"], message, case["language"] if translated is not None else "nb",
                    f"case-reply:{message_id}")
    return None


def outgoing(catalog: Catalog, language: str, text_nb: str, translated: str | None, text_en: str = "") -> str:
    """What the person receives: the translation marked as machine-made,
    or, with no translation package, the Norwegian (and the caseworker's
    English, if given) with a note that an interpreter can be requested."""
    if translated is not None and language != "nb":
        return f"{catalog.text('case.reply_translated', language)}\n\n{translated}"
    if language == "nb":
        return text_nb
    english = f"\n\nEnglish: {text_en}" if text_en else ""
    return f"{catalog.text('case.reply_norwegian', language)}\n\n{text_nb}{english}"


# -- interpreters and unanswered questions ---------------------------------------------------------

def interpreters_page(request: Request, status: int = 200, error: str = "") -> Response:
    desk = desk_of(request)
    languages = [(code, appointments.language_name(code, "nb")) for code in appointments.INTERPRETER_LANGUAGES]
    return page(request, "interpreters.html", status=status, requests=desk.cases.interpreter_requests(),
                languages=languages, language_names=dict(languages),
                today=dt.datetime.now(desk.zone).date().isoformat(), error=error)


async def interpreters(request: Request) -> Response:
    return interpreters_page(request)


async def decide(request: Request) -> Response:
    """Confirm (with a structured appointment), decline (with a reason) or
    cancel a confirmed appointment; the person is told in their language."""
    desk = desk_of(request)
    form = await form_ok(request)
    if form is None:
        return page(request, "missing.html", status=403)
    wanted, decision = int(request.path_params["request_id"]), request.path_params["decision"]
    row = desk.cases.interpreter_request(wanted)
    if row is None or decision not in ("confirm", "decline", "cancel"):
        return page(request, "missing.html", status=404)
    if is_erased(row["sender"]):  # the person erased it since: nobody to tell
        return interpreters_page(request, 409, ERASED_ERROR)
    appointment, reason = None, form.get("reason", "").strip()[:1000]
    if decision == "confirm":
        appointment, error = appointments.parse_appointment(form, dt.datetime.now(desk.zone).date())
        if appointment is None:
            return interpreters_page(request, 422, error)
    elif not reason:
        return interpreters_page(request, 422, "Skriv en begrunnelse.")
    who = user(request) or ""
    try:
        if decision == "cancel":
            desk.cases.cancel_interpreter_request(wanted, who, reason)
        else:
            desk.cases.decide_interpreter_request(wanted, who, decision == "confirm", appointment, reason)
    except AlreadyDecided as decided:
        status = labels.status(decided.status).lower()
        return interpreters_page(request, 409, f"Denne forespørselen er allerede avgjort av {decided.by or 'ukjent'}"
                                               f" ({status}). Ingenting ble sendt.")
    row = desk.cases.interpreter_request(wanted) or row
    lang = row["language"]
    if decision == "confirm":
        message = appointments.confirmation(desk.catalog, row, lang)
    else:
        header = (appointments.cancellation(desk.catalog, row, lang) if decision == "cancel"
                  else desk.catalog.text("interp.declined", lang, reference=row["reference"]))
        translated = await asyncio.to_thread(desk.translator.translate, reason, "nb", lang)
        message = f"{header}\n" + outgoing(desk.catalog, lang, reason, translated)
    await desk.send(row["sender"], message, lang, f"interpreter:{wanted}" if decision != "cancel"
                    else f"interpreter-cancel:{wanted}")
    return RedirectResponse("/desk/interpreters", status_code=303)


async def unanswered(request: Request) -> Response:
    cases = desk_of(request).cases
    return page(request, "unanswered.html", summary=cases.unanswered_summary(), rows=cases.unanswered())


async def storage_unavailable(request: Request, exc: Exception) -> Response:
    """A database locked too long: say so, and let the caseworker try again."""
    logger.error("Desk storage unavailable: %s", type(exc).__name__)
    return Response("Databasen er opptatt. Prøv igjen om litt.", status_code=503, headers={"Retry-After": "30"})


ROUTES = [
    Route("/login", login, methods=["GET", "POST"]),
    Route("/logout", logout, methods=["POST"]),
    Route("/password", login_required(password), methods=["GET", "POST"]),
    Route("/accounts", admin_required(manage_accounts)),
    Route("/accounts/{action:str}", admin_required(manage_accounts), methods=["POST"]),
    Route("/", login_required(queue)),
    Route("/unanswered", login_required(unanswered)),
    Route("/interpreters", login_required(interpreters)),
    Route("/interpreters/{request_id:int}/{decision:str}", login_required(decide), methods=["POST"]),
    Route("/cases/{reference}", login_required(case_page)),
    *[Route(f"/cases/{{reference}}/{handler.__name__.replace('_', '-')}", handler, methods=["POST"])
      for handler in (claim, assign, release, close, note, insert, send_ready, preview, send)],
]


def desk_app(cases: CaseStore, translator: Translator, catalog: Catalog, send: SendToPerson,
             secure_cookie: bool = False, timezone: str = "Europe/Oslo", knowledge: KnowledgeBase | None = None,
             hours: OfficeHours | None = None) -> Starlette:
    """The desk: its routes and its `Desk` on the state. `secure_cookie`:
    behind HTTPS (PUBLIC_URL https or DESK_HTTPS_ONLY)."""
    app = Starlette(routes=ROUTES, exception_handlers={sqlite3.OperationalError: storage_unavailable})
    app.state.desk = Desk(cases, translator, catalog, send, Accounts(cases), ZoneInfo(timezone), secure_cookie,
                          knowledge, hours)
    return app


def main(argv: list[str] | None = None) -> int:
    """`python -m caseworkers.desk create-user NAME [--admin]`: create an
    account (the first one is an admin), or give an existing one a new
    password. Further accounts are best made by an admin on the desk."""
    import os

    parser = argparse.ArgumentParser(description="Caseworker desk accounts.")
    parser.add_argument("command", choices=["create-user"])
    parser.add_argument("username")
    parser.add_argument("--admin", action="store_true", help="the account may manage other accounts")
    parser.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    args = parser.parse_args(argv)
    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else getpass.getpass("Password: ")
    store = CaseStore(os.environ.get("CASES_DB", "var/cases.db"))
    try:
        role = store.create_caseworker(args.username, password, admin=args.admin)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    print(f"{role} {args.username} can now log in")
    return 0


if __name__ == "__main__":
    sys.exit(main())
