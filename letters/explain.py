"""A reading explained in the person's language, from `locales/<lang>/letters.yml` only.

The explanation says what kind of letter it is and who sent it, the first
date to act by (with how long is left), the amount, where to pay, the case
number and the phone number, and what the person can do; what the reader did
not recognise is said to be unknown. Dates and spans are written by Babel in
the person's language. Numbers that identify a person or an account are
masked. The caseworker gets the letter's own (masked) text and a Norwegian
summary line that starts with the deadline. Channels render `lines` and
`choices` as they like.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from decimal import Decimal

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_timedelta
from babel.numbers import format_decimal

from letters.errors import LetterError
from letters.facts import Deadline, Period, mask_numbers
from letters.read import DEFAULT_LIMITS, Limits
from letters.reading import Reading
from locales.catalog import Catalog

# The knowledge-base answer (data/knowledge/answers.yml) that fits a letter, by (sender, kind); kind None: any kind.
ANSWERS: dict[tuple[str, str | None], str] = {
    ("nav", "decision"): "nav/appeal",
    ("nav", None): "nav/letter",
    ("barnehage", "invoice"): "barnehage/reduced_price",
    ("barnehage", "decision"): "barnehage/place_offer",
    ("landlord", "documents"): "housing/deposit",
    ("landlord", None): "housing/landlord_problems",
    ("school", None): "school/parent_contact",
}
CHOICES = ("letter.more", "letter.caseworker", "letter.interpreter")

# The caseworker's summary is in Norwegian whatever the person's language (the desk is Norwegian).
NB_KIND = {"decision": "Vedtak", "summons": "Innkalling", "invoice": "Faktura/purring",
           "documents": "Ber om dokumentasjon", "information": "Informasjon", "unknown": "Ukjent type brev"}
NB_SENDER = {"nav": "NAV", "kommune": "kommunen", "skatteetaten": "Skatteetaten", "udi": "UDI", "helfo": "Helfo",
             "landlord": "utleier", "barnehage": "barnehagen", "school": "skolen", "inkasso": "inkassoselskap",
             "other": "annen avsender", "unknown": "ukjent avsender"}
NB_DEADLINE = {"appeal": "klagefrist", "payment": "forfall", "appointment": "møte", "reply": "svarfrist"}
NB_UNIT = {"days": "dager", "weeks": "uker", "months": "måneder"}


@dataclass(frozen=True)
class Choice:
    """A button as data: `id` is what the channel sends back, `label` what the person reads."""

    id: str
    label: str


@dataclass(frozen=True)
class Explanation:
    lang: str
    lines: tuple[str, ...]          # what the person reads, one point per line
    sender: str
    kind: str
    deadline: dt.date | None
    deadline_kind: str | None
    amount: Decimal | None
    answer_id: str | None           # the knowledge-base answer for "explain more", if one fits
    choices: tuple[Choice, ...]
    norwegian_text: str             # the letter's own text, numbers masked, for the caseworker
    summary_nb: str                 # one Norwegian line for the caseworker, deadline first
    direction: str                  # "rtl" or "ltr": how to show `lines`

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


@functools.lru_cache(maxsize=1)
def _catalog() -> Catalog:
    return Catalog.load()


def _babel_locale(lang: str) -> str:
    try:
        Locale.parse(lang)
        return lang
    except (UnknownLocaleError, ValueError):
        return "en"


def format_day(date: dt.date, lang: str) -> str:
    """"Sunday, 14 March 2027" in the person's language."""
    return format_date(date, format="full", locale=_babel_locale(lang))


def format_span(days: int, lang: str, unit: str = "day") -> str:
    """"3 weeks", "10 days": days under two weeks exactly, longer spans rounded (the date is given too)."""
    locale = _babel_locale(lang)
    span = dt.timedelta(days=days)
    text = format_timedelta(span, threshold=2 if unit == "day" else 1000, granularity=unit, locale=locale)
    if "/" in text:                 # CLDR's month pattern is broken for some languages (ti): say it in weeks
        text = format_timedelta(span, threshold=1000, granularity="week", locale=locale)
    return text


def format_amount(amount: Decimal, lang: str) -> str:
    pattern = "#,##0" if amount == amount.to_integral_value() else "#,##0.00"
    return format_decimal(amount, format=pattern, locale=_babel_locale(lang))


def _when(date: dt.date, today: dt.date, lang: str, catalog: Catalog) -> str:
    days = (date - today).days
    if days < 0:
        return catalog.text("letter.when.past", lang)
    if days == 0:
        return catalog.text("letter.when.today", lang)
    if days == 1:
        return catalog.text("letter.when.tomorrow", lang)
    return catalog.text("letter.when.future", lang, span=format_span(days, lang))


def _deadline_line(deadline: Deadline, today: dt.date, lang: str, catalog: Catalog) -> str:
    values = {"date": format_day(deadline.date, lang), "when": _when(deadline.date, today, lang, catalog)}
    if deadline.kind == "appointment" and deadline.time:
        return catalog.text("letter.deadline.appointment_time", lang, time=deadline.time, **values)
    return catalog.text(f"letter.deadline.{deadline.kind}", lang, **values)


def _period_line(period: Period, lang: str, catalog: Catalog) -> str:
    days = {"days": 1, "weeks": 7, "months": 30}[period.unit] * period.count
    span = format_span(days, lang, unit=period.unit.rstrip("s"))
    kind = period.kind if period.kind in ("appeal", "payment") else "reply"
    return catalog.text(f"letter.period.{kind}", lang, span=span)


def answer_for(sender: str, kind: str) -> str | None:
    return ANSWERS.get((sender, kind)) or ANSWERS.get((sender, None))


def summary_nb(reading: Reading, today: dt.date) -> str:
    """"FRIST 26.04.2027 (klagefrist, om 45 dager) | Vedtak fra NAV | 1 766 kr | Saksnummer 27/004518"."""
    facts = reading.facts
    parts = []
    if facts.deadline:
        d = facts.deadline
        days = (d.date - today).days
        left = f"om {days} dager" if days > 1 else {1: "i morgen", 0: "i dag"}.get(days, "passert")
        clock = f" kl. {d.time}" if d.time else ""
        parts.append(f"FRIST {d.date:%d.%m.%Y}{clock} ({NB_DEADLINE[d.kind]}, {left})")
    elif facts.periods:
        p = facts.periods[0]
        parts.append(f"FRIST {p.count} {NB_UNIT[p.unit]} fra mottatt ({NB_DEADLINE.get(p.kind, 'frist')})")
    else:
        parts.append("Ingen frist funnet")
    parts.append(f"{NB_KIND[reading.kind.value]} fra {NB_SENDER[reading.sender.value]}")
    if facts.amount is not None:
        parts.append(f"{format_amount(facts.amount, 'nb')} kr".replace("\xa0", " "))
    parts.extend(f"{ref.label} {ref.value}" for ref in facts.references[:2])
    if facts.phones:
        parts.append(f"Tlf. {facts.phones[0]}")
    return mask_numbers(" | ".join(parts))


def explain(reading: Reading, lang: str, today: dt.date) -> Explanation:
    """The reading in `lang` (a language of the catalogue; others get English)."""
    catalog = _catalog()
    if lang not in catalog.languages:
        lang = "en"
    facts = reading.facts
    sender, kind = reading.sender.value, reading.kind.value
    t = functools.partial(catalog.text, lang=lang)
    lines = [t(f"letter.kind.{kind}")]
    if sender == "unknown":
        lines.append(t("letter.sender.unknown"))
    else:
        lines.append(t("letter.sender.from", sender=t(f"letter.sender.{sender}")))
    for deadline in facts.deadlines[:3]:
        lines.append(_deadline_line(deadline, today, lang, catalog))
    if not facts.deadlines:
        if facts.periods:
            lines.append(_period_line(facts.periods[0], lang, catalog))
        else:
            lines.append(t("letter.no_deadline"))
    if facts.amount is not None:
        lines.append(t("letter.amount", amount=format_amount(facts.amount, lang)))
    valid_accounts = [a for a in facts.accounts if a.valid]
    if valid_accounts and facts.kid and facts.kid_valid:
        lines.append(t("letter.pay_to", account=valid_accounts[0].masked, kid=facts.kid))
    else:
        if valid_accounts:
            lines.append(t("letter.account", account=valid_accounts[0].masked))
        if facts.kid and facts.kid_valid:
            lines.append(t("letter.kid", kid=facts.kid))
    if any(not a.valid for a in facts.accounts) or (facts.kid and not facts.kid_valid):
        lines.append(t("letter.number_unsure"))
    if facts.references:
        lines.append(t("letter.reference", reference=facts.references[0].value))
    if facts.phones:
        lines.append(t("letter.phone", phone=facts.phones[0]))
    lines.append(t(f"letter.todo.{'inkasso' if sender == 'inkasso' else kind}"))
    lines.append(t("letter.disclaimer"))
    deadline = facts.deadline
    return Explanation(
        lang=lang,
        lines=tuple(mask_numbers(line) for line in lines),
        sender=sender,
        kind=kind,
        deadline=deadline.date if deadline else None,
        deadline_kind=deadline.kind if deadline else None,
        amount=facts.amount,
        answer_id=answer_for(sender, kind),
        choices=tuple(Choice(choice, t(f"{choice}.button")) for choice in CHOICES),
        norwegian_text=mask_numbers(reading.text),
        summary_nb=summary_nb(reading, today),
        direction=Locale.parse(_babel_locale(lang)).text_direction,
    )


def error_message(error: LetterError, lang: str, limits: Limits = DEFAULT_LIMITS) -> str:
    """What to tell the person when a letter could not be read, in `lang`."""
    catalog = _catalog()
    return catalog.text(f"letter.error.{error.code}", lang if lang in catalog.languages else "en",
                        max_mb=limits.max_bytes // (1024 * 1024), max_pages=limits.max_pages)
