"""The caseworker desk: a small web application on localhost, hosted by
channels.app under /desk.

Every page is behind login (accounts with scrypt-hashed passwords and a
role, admin or caseworker: caseworkers/accounts.py; the first admin is made
with `python -m caseworkers.desk create-user NAME`). The session lives in the
case database and the cookie (HttpOnly, SameSite=Strict, Path=/desk) holds
only its random id; every form carries a CSRF token. The queue is
sorted by urgency and age; a case page shows the person's words in the
original and in Norwegian; a reply is written in Norwegian, translated into
the person's language, shown before sending, sent through the person's
channel and marked to the person as machine-translated.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import getpass
import hmac
import logging
import re
import secrets
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route, Router
from starlette.templating import Jinja2Templates

from caseworkers import appointments
from caseworkers.accounts import ADMIN, ROLES, AccountError, Accounts
from caseworkers.cases import AlreadyDecided, CaseStore
from caseworkers.translate import Translator
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
MAX_FORM_BYTES = 256 * 1024
SESSION_COOKIE = "desk_session"
LOGIN_CSRF_COOKIE = "desk_login_csrf"  # the login form's token, before there is a session
#: Sends a text to a person through their channel: (sender id, text, language).
#: send(sender, text, language, reference): reference names the message, so it is sent once.
SendToPerson = Callable[[str, str, str, str], Awaitable[None]]
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; script-src 'none'; "
                               "object-src 'none'; frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def desk_app(cases: CaseStore, translator: Translator, catalog: Catalog, send: SendToPerson,
             secure_cookie: bool = False, timezone: str = "Europe/Oslo") -> Router:
    """The desk's routes. `secure_cookie`: behind HTTPS (PUBLIC_URL https or
    DESK_HTTPS_ONLY), so the session cookie is never sent in clear."""
    accounts = Accounts(cases)
    zone = ZoneInfo(timezone)

    def session(request: Request) -> dict[str, Any] | None:
        """The request's live server-side session, looked up once per request."""
        if not hasattr(request.state, "desk_session"):
            request.state.desk_session = accounts.session(request.cookies.get(SESSION_COOKIE, ""))
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

    def set_cookie(response: Response, name: str, value: str, path: str) -> None:
        response.set_cookie(name, value, path=path, httponly=True, samesite="strict", secure=secure_cookie)

    async def form_ok(request: Request) -> dict[str, str] | None:
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
            set_cookie(response, LOGIN_CSRF_COOKIE, request.state.new_login_csrf, "/desk/login")
        return response

    def login_required(handler):  # type: ignore[no-untyped-def]
        async def wrapped(request: Request) -> Response:
            if not user(request):
                return RedirectResponse("/desk/login", status_code=303)
            return await handler(request)

        return wrapped

    def admin_required(handler):  # type: ignore[no-untyped-def]
        async def wrapped(request: Request) -> Response:
            current = session(request)
            if current is None:
                return RedirectResponse("/desk/login", status_code=303)
            if current["role"] != ADMIN:
                return page(request, "forbidden.html", status=403)
            return await handler(request)

        return wrapped

    async def login(request: Request) -> Response:
        if request.method != "POST":  # GET, HEAD
            return page(request, "login.html")
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
        set_cookie(response, SESSION_COOKIE, accounts.start_session(username), "/desk")
        response.delete_cookie(LOGIN_CSRF_COOKIE, path="/desk/login")
        return response

    async def logout(request: Request) -> Response:
        response = RedirectResponse("/desk/login", status_code=303)
        current = session(request)
        if current and await form_ok(request) is not None:
            accounts.end_session(request.cookies.get(SESSION_COOKIE, ""))
            accounts.record_logout(current["username"])
            response.delete_cookie(SESSION_COOKIE, path="/desk", httponly=True, samesite="strict",
                                   secure=secure_cookie)
        return response

    async def password(request: Request) -> Response:
        """A caseworker changes their own password; their other sessions end."""
        if request.method != "POST":  # GET, HEAD
            return page(request, "password.html")
        form = await form_ok(request)
        if form is None:
            return page(request, "password.html", status=403, error="Skjemaet er utløpt. Prøv igjen.")
        try:
            await asyncio.to_thread(accounts.change_password, user(request) or "", form.get("current", ""),
                                    form.get("new", ""), form.get("repeat", ""),
                                    request.cookies.get(SESSION_COOKIE, ""))
        except AccountError as exc:
            return page(request, "password.html", status=422, error=str(exc))
        return page(request, "password.html", done="Passordet er endret. Du er logget ut på andre enheter.")

    def accounts_page(request: Request, status: int = 200, **context: object) -> Response:
        return page(request, "accounts.html", status=status, accounts=accounts.all(), roles=ROLES, **context)

    async def manage_accounts(request: Request) -> Response:
        """The admin's page: create accounts, disable/enable, roles, password resets."""
        if request.method != "POST":  # GET, HEAD
            return accounts_page(request)
        form = await form_ok(request)
        if form is None:
            return accounts_page(request, status=403, error="Skjemaet er utløpt. Prøv igjen.")
        action, name, me = request.path_params["action"], form.get("username", "").strip(), user(request) or ""
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

    async def queue(request: Request) -> Response:
        return page(request, "queue.html", cases=cases.queue())

    def find(request: Request) -> dict | None:
        return cases.get(request.path_params["reference"])

    async def case_page(request: Request) -> Response:
        case = find(request)
        if case is None:
            return page(request, "missing.html", status=404)
        return page(request, "case.html", case=case, messages=cases.messages(case["id"]))

    async def act(request: Request) -> Response:
        case = find(request)
        form = await form_ok(request)
        if case is None:
            return page(request, "missing.html", status=404)
        if form is None:
            return page(request, "missing.html", status=403)
        action = request.path_params["action"]
        who = user(request) or ""
        if action == "claim":
            cases.set_status(case["id"], "claimed", who, assignee=who)
        elif action == "close":
            cases.set_status(case["id"], "closed", who)
        elif action == "preview":
            text_nb = form.get("text", "").strip()
            if not text_nb:
                return page(request, "case.html", status=422, case=case, messages=cases.messages(case["id"]),
                            error="Skriv et svar.")
            translated = await asyncio.to_thread(translator.translate, text_nb, "nb", case["language"])
            text_en = form.get("text_en", "").strip()
            return page(request, "preview.html", case=case, text_nb=text_nb, text_en=text_en, translated=translated,
                        outgoing=outgoing(case["language"], text_nb, translated, text_en))
        elif action == "send":
            text_nb = form.get("text", "").strip()
            if not text_nb:  # nothing to send: say so, send nothing
                return page(request, "case.html", status=422, case=case, messages=cases.messages(case["id"]),
                            error="Skriv et svar.")
            translated = await asyncio.to_thread(translator.translate, text_nb, "nb", case["language"])
            message = outgoing(case["language"], text_nb, translated, form.get("text_en", "").strip())
            # recorded first: its id keys the send, so a retry never sends it twice
            message_id = cases.add_reply(case["id"], who, text_nb, message, machine_translated=translated is not None)
            await send(case["sender"], message, case["language"] if translated is not None else "nb",
                       f"case-reply:{message_id}")
        return RedirectResponse(f"/desk/cases/{case['reference']}", status_code=303)

    def outgoing(language: str, text_nb: str, translated: str | None, text_en: str = "") -> str:
        """What the person receives: the translation marked as machine-made,
        or, with no translation package, the Norwegian (and the caseworker's
        English, if given) with a note that an interpreter can be requested."""
        if translated is not None and language != "nb":
            return f"{catalog.text('case.reply_translated', language)}\n\n{translated}"
        if language == "nb":
            return text_nb
        english = f"\n\nEnglish: {text_en}" if text_en else ""
        return f"{catalog.text('case.reply_norwegian', language)}\n\n{text_nb}{english}"

    def interpreters_page(request: Request, status: int = 200, error: str = "") -> Response:
        languages = [(code, appointments.language_name(code, "nb")) for code in appointments.INTERPRETER_LANGUAGES]
        return page(request, "interpreters.html", status=status, requests=cases.interpreter_requests(),
                    languages=languages, language_names=dict(languages),
                    today=dt.datetime.now(zone).date().isoformat(), error=error)

    async def interpreters(request: Request) -> Response:
        return interpreters_page(request)

    async def decide(request: Request) -> Response:
        """Confirm (with a structured appointment), decline (with a reason) or
        cancel a confirmed appointment; the person is told in their language."""
        form = await form_ok(request)
        if form is None:
            return page(request, "missing.html", status=403)
        wanted, decision = int(request.path_params["request_id"]), request.path_params["decision"]
        row = cases.interpreter_request(wanted)
        if row is None or decision not in ("confirm", "decline", "cancel"):
            return page(request, "missing.html", status=404)
        appointment, reason = None, form.get("reason", "").strip()[:1000]
        if decision == "confirm":
            appointment, error = appointments.parse_appointment(form, dt.datetime.now(zone).date())
            if appointment is None:
                return interpreters_page(request, 422, error)
        elif not reason:
            return interpreters_page(request, 422, "Skriv en begrunnelse.")
        who = user(request) or ""
        try:
            if decision == "cancel":
                cases.cancel_interpreter_request(wanted, who, reason)
            else:
                cases.decide_interpreter_request(wanted, who, decision == "confirm", appointment, reason)
        except AlreadyDecided as decided:
            status = {"confirmed": "bekreftet", "declined": "avslått", "cancelled": "avlyst",
                      "requested": "ikke bekreftet"}.get(decided.status, decided.status)
            return interpreters_page(request, 409, f"Denne forespørselen er allerede avgjort av {decided.by or 'ukjent'}"
                                                   f" ({status}). Ingenting ble sendt.")
        row = cases.interpreter_request(wanted) or row
        lang = row["language"]
        if decision == "confirm":
            message = appointments.confirmation(catalog, row, lang)
        else:
            header = (appointments.cancellation(catalog, row, lang) if decision == "cancel"
                      else catalog.text("interp.declined", lang, reference=row["reference"]))
            message = f"{header}\n" + outgoing(lang, reason, await asyncio.to_thread(translator.translate, reason,
                                                                                      "nb", lang))
        await send(row["sender"], message, lang, f"interpreter:{wanted}" if decision != "cancel"
                   else f"interpreter-cancel:{wanted}")
        return RedirectResponse("/desk/interpreters", status_code=303)

    async def unanswered(request: Request) -> Response:
        return page(request, "unanswered.html", summary=cases.unanswered_summary(), rows=cases.unanswered())

    routes = [
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
        Route("/cases/{reference}/{action:str}", login_required(act), methods=["POST"]),
    ]
    return Router(routes=routes)


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
