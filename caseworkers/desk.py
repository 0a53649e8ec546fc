"""The caseworker desk: a small web application on localhost, hosted by
channels.app under /desk.

Every page is behind login (accounts with scrypt-hashed passwords, created
with `python -m caseworkers.desk create-user NAME`), the session is a signed cookie
(HttpOnly, SameSite=Strict) and every form carries a CSRF token. The queue is
sorted by urgency and age; a case page shows the person's words in the
original and in Norwegian; a reply is written in Norwegian, translated into
the person's language, shown before sending, sent through the person's
channel and marked to the person as machine-translated.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import hmac
import logging
import re
import secrets
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import jinja2
from markupsafe import Markup
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route, Router
from starlette.templating import Jinja2Templates

from caseworkers.cases import AlreadyDecided, CaseStore, is_erased
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
ERASED_ERROR = ("Personen har slettet det som var lagret, eller lagringstiden er ute: "
                "det er ingen å sende til. Ingenting ble sendt.")
MAX_TRACKED_LOGINS = 10_000  # failed-login keys kept in memory at most
#: Sends a text to a person through their channel: (sender id, text, language).
#: send(sender, text, language, reference): reference names the message, so it is sent once.
SendToPerson = Callable[[str, str, str, str], Awaitable[None]]
MAX_FAILED_LOGINS = 5
LOCKOUT_SECONDS = 15 * 60
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; script-src 'none'; "
                               "object-src 'none'; frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def desk_app(cases: CaseStore, translator: Translator, catalog: Catalog, send: SendToPerson, secret: str,
             https_only: bool = False) -> Router:
    """The desk's routes, wrapped in its session middleware."""
    if len(secret) < 32:
        raise ValueError("DESK_SECRET must be at least 32 characters")

    failures: dict[str, list[float]] = {}

    def locked_out(key: str, now: float) -> bool:
        """After 5 failed logins in 15 minutes, that user (and address) waits."""
        if len(failures) > MAX_TRACKED_LOGINS:  # random user names must not fill the memory
            for stale in [k for k, times in failures.items() if not times or now - times[-1] >= LOCKOUT_SECONDS]:
                del failures[stale]
        recent = [t for t in failures.get(key, []) if now - t < LOCKOUT_SECONDS]
        failures[key] = recent
        return len(recent) >= MAX_FAILED_LOGINS

    def user(request: Request) -> str | None:
        return request.session.get("user")

    def csrf(request: Request) -> str:
        token = request.session.get("csrf")
        if not token:
            token = secrets.token_urlsafe(32)
            request.session["csrf"] = token
        return token

    async def form_ok(request: Request) -> dict[str, str] | None:
        if await read_limited(request, MAX_FORM_BYTES) is None:
            return None
        form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}  # no files
        expected = request.session.get("csrf", "")
        if not expected or not hmac.compare_digest(form.get("csrf", ""), expected):
            return None
        return form

    def page(request: Request, name: str, status: int = 200, **context: object) -> Response:
        context.update(request=request, user=user(request), csrf=csrf(request))
        return TEMPLATES.TemplateResponse(request, name, context, status_code=status, headers=SECURITY_HEADERS)

    def login_required(handler):  # type: ignore[no-untyped-def]
        async def wrapped(request: Request) -> Response:
            if not user(request):
                return RedirectResponse("/desk/login", status_code=303)
            return await handler(request)

        return wrapped

    async def login(request: Request) -> Response:
        if request.method == "GET":
            return page(request, "login.html")
        form = await form_ok(request)
        if form is None:
            return page(request, "login.html", status=403, error="Skjemaet er utløpt. Prøv igjen.")
        now = time.monotonic()
        keys = [f"user:{form.get('username', '')}", f"ip:{request.client.host if request.client else ''}"]
        if any(locked_out(k, now) for k in keys):
            return page(request, "login.html", status=429, error="For mange forsøk. Vent 15 minutter.")
        if not cases.check_password(form.get("username", ""), form.get("password", "")):
            for k in keys:
                failures.setdefault(k, []).append(now)
            logger.info("Failed desk login")
            return page(request, "login.html", status=401, error="Feil brukernavn eller passord.")
        request.session.clear()
        request.session["user"] = form["username"]
        return RedirectResponse("/desk/", status_code=303)

    async def logout(request: Request) -> Response:
        if await form_ok(request) is not None:
            request.session.clear()
        return RedirectResponse("/desk/login", status_code=303)

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
            if is_erased(case["sender"]):  # the person erased it, or retention did: nobody to send to
                return page(request, "case.html", status=409, case=case, messages=cases.messages(case["id"]),
                            error=ERASED_ERROR)
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

    async def interpreters(request: Request) -> Response:
        return page(request, "interpreters.html", requests=cases.interpreter_requests())

    async def decide(request: Request) -> Response:
        form = await form_ok(request)
        if form is None:
            return page(request, "missing.html", status=403)
        wanted = int(request.path_params["request_id"])
        row = next((r for r in cases.interpreter_requests() if r["id"] == wanted), None)
        if row is None:
            return page(request, "missing.html", status=404)
        if is_erased(row["sender"]):
            return page(request, "interpreters.html", status=409, requests=cases.interpreter_requests(),
                        error=ERASED_ERROR)
        confirmed = request.path_params["decision"] == "confirm"
        note = (form.get("time", "") + " " + form.get("interpreter", "")).strip() if confirmed else form.get("reason", "")
        if not note.strip():
            return page(request, "interpreters.html", status=422, requests=cases.interpreter_requests(),
                        error="Fyll ut tid og tolk, eller en begrunnelse.")
        try:
            cases.decide_interpreter_request(wanted, user(request) or "", confirmed, form.get("interpreter", ""),
                                             form.get("time", ""), form.get("reason", ""))
        except AlreadyDecided as decided:
            status = {"confirmed": "bekreftet", "declined": "avslått"}.get(str(decided), str(decided))
            return page(request, "interpreters.html", status=409, requests=cases.interpreter_requests(),
                        error=f"Denne forespørselen er allerede {status}. Ingenting ble sendt.")
        lang = row["language"]
        header = catalog.text("interp.confirmed" if confirmed else "interp.declined", lang, reference=row["reference"])
        body = outgoing(lang, note, await asyncio.to_thread(translator.translate, note, "nb", lang))
        await send(row["sender"], f"{header}\n{body}", lang, f"interpreter:{wanted}")
        return RedirectResponse("/desk/interpreters", status_code=303)

    async def unanswered(request: Request) -> Response:
        return page(request, "unanswered.html", summary=cases.unanswered_summary(), rows=cases.unanswered())

    routes = [
        Route("/login", login, methods=["GET", "POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/", login_required(queue)),
        Route("/unanswered", login_required(unanswered)),
        Route("/interpreters", login_required(interpreters)),
        Route("/interpreters/{request_id:int}/{decision:str}", login_required(decide), methods=["POST"]),
        Route("/cases/{reference}", login_required(case_page)),
        Route("/cases/{reference}/{action:str}", login_required(act), methods=["POST"]),
    ]
    inner = Router(routes=routes)
    return Router(routes=[Mount("/", app=inner, middleware=[Middleware(
        SessionMiddleware, secret_key=secret, session_cookie="desk_session", same_site="strict",
        https_only=https_only, max_age=8 * 3600)])])


def main(argv: list[str] | None = None) -> int:
    """`python -m caseworkers.desk create-user NAME`: create or reset a caseworker."""
    import os

    parser = argparse.ArgumentParser(description="Caseworker desk accounts.")
    parser.add_argument("command", choices=["create-user"])
    parser.add_argument("username")
    parser.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    args = parser.parse_args(argv)
    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else getpass.getpass("Password: ")
    store = CaseStore(os.environ.get("CASES_DB", "var/cases.db"))
    try:
        store.create_caseworker(args.username, password)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    print(f"caseworker {args.username} can now log in")
    return 0


if __name__ == "__main__":
    sys.exit(main())
