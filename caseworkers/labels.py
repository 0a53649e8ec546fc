"""Norwegian words for the codes the desk stores (statuses, topics,
languages, channels, interpreter modes, dangers, audit actions) and times
as a caseworker in Norway reads them: local time and an age ("for 2 t siden").

One mapping module, so that no English code reaches a Norwegian page and a
new code shows up here (the tests check every known code has a word).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from zoneinfo import ZoneInfo

OSLO = ZoneInfo("Europe/Oslo")

STATUS = {"open": "Ny", "claimed": "Under behandling", "answered": "Besvart", "closed": "Lukket",
          "active": "Alle aktive", "requested": "Bestilt", "confirmed": "Bekreftet", "declined": "Avslått",
          "cancelled": "Avlyst"}
TOPIC = {"fastlege": "Lege og helse", "nav": "NAV og penger", "intro_program": "Introduksjonsprogrammet",
         "school": "Skole", "barnehage": "Barnehage", "housing": "Bolig", "interpreter": "Tolk",
         "caseworker": "Ønsker å snakke med en person", "emergency": "Nødsituasjon", "greet": "Hilsen",
         "out_of_scope": "Utenfor tjenesten", "nlu_fallback": "Ikke forstått", "letter": "Brev",
         "language": "Språkvalg", "goodbye": "Avslutning", "help": "Hjelp"}
LANGUAGE = {"nb": "norsk", "en": "engelsk", "ar": "arabisk", "uk": "ukrainsk", "ru": "russisk", "ti": "tigrinja",
            "so": "somali", "fa": "persisk/dari"}
CHANNEL = {"web": "nettchat", "tg": "Telegram", "telegram": "Telegram", "sms": "SMS", "rest": "API"}
MODE = {"in_person": "oppmøte", "phone": "telefon", "video": "video"}
DANGER = {"suicide": "selvmordsfare", "violence": "vold", "poisoning": "forgiftning", "medical": "akutt sykdom",
          "missing": "savnet person", "fire": "brann", "child": "barn i fare", "general": "fare (uspesifisert)"}
URGENCY = {"urgent": "Haster", "normal": "Vanlig"}
#: The interpreter form's button values (actions/interpreter.py): appointment, gender, "skip".
INTERPRETER = {"fastlege": "fastlege", "nav": "NAV", "school": "skole", "barnehage": "barnehage",
               "housing": "bolig", "other": "annet", "none": "ingen", "woman": "kvinne", "man": "mann",
               "skip": "–", **MODE}
#: Why the assistant handed the conversation over (facts["reason"]).
REASON = {"asked": "Personen ba om å snakke med en person.",
          "offered": "Assistenten forsto ikke spørsmålet to ganger og tilbød en person; personen takket ja.",
          "emergency": "Assistenten oppdaget en mulig nødsituasjon.",
          "letter": "Personen sendte et brev og ba om hjelp med det (brevets norske tekst står i meldingen).",
          "interpreter": "Personen bestilte tolk (se Tolk)."}
_HISTORY = {"opened": "Saken ble opprettet av assistenten", "added": "Personen skrev en ny melding",
            "claimed": "{actor} tok saken", "assigned": "{actor} ga saken til {to}",
            "released": "{actor} la saken tilbake i køen", "replied": "{actor} svarte personen",
            "noted": "{actor} skrev et internt notat", "closed": "{actor} lukket saken",
            "open": "{actor} åpnet saken igjen", "answered": "{actor} markerte saken som besvart",
            "erased": "Personens opplysninger ble slettet (personvern)",
            "interpreter requested": "Personen bestilte tolk",
            "interpreter confirmed": "{actor} bekreftet tolkebestillingen",
            "interpreter declined": "{actor} avslo tolkebestillingen",
            "interpreter cancelled": "{actor} avlyste tolketimen",
            "reopened": "{actor} åpnet den lukkede saken igjen",
            "thread": "Personen skrev i saken",
            "purged": "Lagringstiden var ute: opplysningene ble slettet",
            # the desk's accounts (the audit log is shared with cases)
            "account created": "{actor} opprettet en konto", "account deleted": "{actor} slettet en konto",
            "account disabled": "{actor} deaktiverte en konto", "account enabled": "{actor} aktiverte en konto",
            "account password reset": "{actor} satte nytt passord for en konto",
            "account role": "{actor} endret rollen til en konto", "login": "{actor} logget inn",
            "login failed": "Mislykket innlogging", "logout": "{actor} logget ut",
            "password changed": "{actor} endret passordet sitt"}


def _word(table: dict[str, str], code: object) -> str:
    return table.get(str(code), str(code)) if code not in (None, "") else "–"


def status(code: object) -> str:
    return _word(STATUS, code)


def topic(code: object) -> str:
    return _word(TOPIC, code)


def language(code: object) -> str:
    return _word(LANGUAGE, code)


def channel(code: object) -> str:
    return _word(CHANNEL, code)


def mode(code: object) -> str:
    return _word(MODE, code)


def danger(code: object) -> str:
    return _word(DANGER, code)


def urgency(code: object) -> str:
    return _word(URGENCY, code)


def interpreter(value: object) -> str:
    """A value from the interpreter form: a button's code in Norwegian, typed words as they are."""
    return _word(INTERPRETER, value)


def history(row: dict[str, Any]) -> str:
    """One audit log row as a sentence ("kari ga saken til ola")."""
    details = json.loads(row.get("details") or "{}")
    actor = row.get("actor") or "?"
    text = _HISTORY.get(row["action"], row["action"]).format(actor=actor, to=details.get("to", "?"))
    if row["action"] == "claimed" and details.get("from"):
        text += f" fra {details['from']}"
    if row["action"] == "replied":
        text += " (maskinoversatt)" if details.get("machine_translated") else ""
    return text


def parse(iso: str | None) -> dt.datetime | None:
    if not iso:
        return None
    at = dt.datetime.fromisoformat(iso)
    return at if at.tzinfo else at.replace(tzinfo=dt.timezone.utc)


def local_time(iso: str | None, now: dt.datetime | None = None) -> str:
    """"i dag 14:05", "i går 09:10" or "3.12. 14:05" in Oslo time."""
    at = parse(iso)
    if at is None:
        return "–"
    local = at.astimezone(OSLO)
    today = (now or dt.datetime.now(dt.timezone.utc)).astimezone(OSLO).date()
    clock = local.strftime("%H:%M")
    if local.date() == today:
        return f"i dag {clock}"
    if local.date() == today - dt.timedelta(days=1):
        return f"i går {clock}"
    return f"{local.day}.{local.month}.{'' if local.year == today.year else local.year} {clock}"


def age(iso: str | None, now: dt.datetime | None = None) -> str:
    """How long ago, in Norwegian: "nå nettopp", "for 5 min siden", "for 2 t siden", "for 3 d siden"."""
    at = parse(iso)
    if at is None:
        return "–"
    seconds = ((now or dt.datetime.now(dt.timezone.utc)) - at).total_seconds()
    if seconds < 60:
        return "nå nettopp"
    if seconds < 3600:
        return f"for {int(seconds // 60)} min siden"
    if seconds < 86400:
        return f"for {int(seconds // 3600)} t siden"
    return f"for {int(seconds // 86400)} d siden"


FILTERS = {"status": status, "topic": topic, "language": language, "channel": channel, "mode": mode,
           "danger": danger, "urgency": urgency, "interpreter": interpreter, "history": history, "local_time": local_time, "age": age}
