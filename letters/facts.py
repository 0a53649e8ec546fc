"""The facts in a Norwegian letter that a person must act on.

Dates with what they are for (klagefrist, forfallsdato, møtetidspunkt, "innen"
a date), amounts (kr 1 234,50 / 1.234,- / NOK), account numbers (MOD11
checked), KID, case and reference numbers, and phone numbers to call. Each is
found by rules on the text around it; a date whose purpose is not clear is
left out rather than guessed. `mask_numbers` hides fødselsnumre and account
numbers (any 11-digit number except a KID) in text shown back to a person.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

import phonenumbers

MONTHS = {
    "januar": 1, "jan": 1, "februar": 2, "feb": 2, "mars": 3, "mar": 3, "april": 4, "apr": 4, "mai": 5,
    "juni": 6, "jun": 6, "juli": 7, "jul": 7, "august": 8, "aug": 8, "september": 9, "sep": 9, "sept": 9,
    "oktober": 10, "okt": 10, "november": 11, "nov": 11, "desember": 12, "des": 12,
}
NUMBER_WORDS = {
    "en": 1, "ett": 1, "én": 1, "to": 2, "tre": 3, "fire": 4, "fem": 5, "seks": 6, "sju": 7, "syv": 7,
    "åtte": 8, "ni": 9, "ti": 10, "elleve": 11, "tolv": 12, "fjorten": 14, "tretti": 30,
}

_MONTH = "|".join(sorted(MONTHS, key=len, reverse=True))
DATE_PATTERNS = (
    re.compile(rf"\b(?P<d>\d{{1,2}})\.?\s*(?P<mon>{_MONTH})\.?(?:\s+(?P<y>\d{{4}}))?(?![a-zæøå])", re.I),
    re.compile(r"\b(?P<d>\d{1,2})\.(?P<m>\d{1,2})\.(?P<y>\d{4}|\d{2})(?!\d)"),
    re.compile(r"\b(?P<y>\d{4})-(?P<m>\d{2})-(?P<d>\d{2})\b"),
)
TIME = re.compile(r"\b(?:kl\.?|klokken|klokka|tid:?)\s*(?P<h>[012]?\d)[.:](?P<min>[0-5]\d)\b", re.I)

# What a date is for, by the words before it (in its sentence, after any earlier date).
PURPOSES = (
    ("appeal", re.compile(r"klage|protest", re.I)),
    ("payment", re.compile(r"forfall|betal|innbetal|å betale|til betaling", re.I)),
    ("appointment", re.compile(r"møte|oppmøte|innkall|\btimen?\b|samtale|avtale|velkommen|intervju|konsultasjon", re.I)),
    ("reply", re.compile(r"frist|innen|senest|svar|send|levere|dokumentasjon", re.I)),
    ("letter_date", re.compile(r"\bdato\b|vår dato|brevdato|fakturadato|utstedt|dato:", re.I)),
)
PERIOD = re.compile(rf"\b(?P<n>\d{{1,3}}|{'|'.join(NUMBER_WORDS)})\s+(?P<unit>uker|uke|dager|dag|måneder|måned)\b", re.I)
PERIOD_UNITS = {"uke": "weeks", "uker": "weeks", "dag": "days", "dager": "days", "måned": "months", "måneder": "months"}

_GROUPED = r"\d{1,3}(?:(?:[.\u00a0\u202f]| \n?|\n)\d{3})+|\d+"    # "2 300" may be broken over two lines
_CENTS = r"(?:,(?P<c>\d{2}|-{1,2}))?"
AMOUNT_PATTERNS = (
    re.compile(rf"(?:\bkr\.?|\bNOK)\s*(?P<n>{_GROUPED}){_CENTS}", re.I),
    re.compile(rf"(?<![\d.,])(?P<n>{_GROUPED}){_CENTS}\s*(?:kr\b|kr\.|kroner\b|NOK\b|,-)", re.I),
    re.compile(rf"(?<![\d.,])(?P<n>{_GROUPED}),(?P<c>-{{1,2}})"),
    re.compile(rf"(?:å betale|til betaling|totalt|beløp|sum)[^\d\n]{{0,25}}(?<![\d.,])(?P<n>{_GROUPED}),(?P<c>\d{{2}})\b", re.I),
)
TOTAL_WORDS = re.compile(r"totalt|å betale|til betaling|sum å betale|restbeløp|skyldig", re.I)
PAYMENT_WORDS = re.compile(r"beløp|betal|faktura|pris|egenandel|skyld|krav", re.I)

ELEVEN_DIGITS = re.compile(r"(?<![\d.])(\d{4}[ .]\d{2}[ .]\d{5}|\d{6}[ ]\d{5}|\d{11})(?![\d])")
KID = re.compile(r"\bKID(?:-?nummer|-?nr\.?)?\s*[:.]?\s*(?P<kid>\d[\d ]{0,28}\d)", re.I)
REFERENCE = re.compile(
    r"\b(?P<label>saksnummer|saksnr\.?|sak nr\.?|vår referanse|vår ref\.?|referansenummer|ref\.? ?nr\.?|"
    r"fakturanummer|fakturanr\.?|kundenummer|kundenr\.?|dokumentnummer|søknadsnummer)\s*[:.]?\s*"
    r"(?P<value>[A-Z0-9][A-Z0-9/\-]{1,24}[A-Z0-9])",
    re.I,
)
PHONE_CONTEXT = re.compile(r"tlf|telefon|ring|tel\b|mobil|sentralbord|sms|kontakt", re.I)


@dataclass(frozen=True)
class Deadline:
    date: dt.date
    kind: str                     # appeal, payment, appointment, reply
    time: str | None = None       # "10:00" for an appointment


@dataclass(frozen=True)
class Period:
    """A deadline given as a span ("klagefristen er seks uker"), not a date."""

    count: int
    unit: str                     # days, weeks, months
    kind: str                     # appeal, payment, reply


@dataclass(frozen=True)
class Account:
    masked: str                   # •••••••4567
    valid: bool                   # MOD11 check digit right: a wrong one is probably misread


@dataclass(frozen=True)
class Reference:
    label: str                    # as written: "Saksnummer", "Vår referanse"
    value: str


@dataclass(frozen=True)
class LetterFacts:
    letter_date: dt.date | None = None
    deadlines: tuple[Deadline, ...] = ()
    periods: tuple[Period, ...] = ()
    amount: Decimal | None = None
    amounts: tuple[Decimal, ...] = ()
    accounts: tuple[Account, ...] = ()
    kid: str | None = None
    kid_valid: bool = False
    references: tuple[Reference, ...] = ()
    phones: tuple[str, ...] = field(default_factory=tuple)

    @property
    def deadline(self) -> Deadline | None:
        """The first date to act by: the earliest deadline not before the letter's own date."""
        return self.deadlines[0] if self.deadlines else None


def mod11_ok(digits: str, weights: tuple[int, ...]) -> bool:
    """Norwegian MOD11: the weighted sum with the check digit is divisible by 11 (remainder 1 is never valid)."""
    total = sum(int(d) * w for d, w in zip(digits, weights, strict=False))
    check = 11 - total % 11
    if check == 11:
        check = 0
    return check != 10 and check == int(digits[len(weights)])


def account_ok(number: str) -> bool:
    digits = re.sub(r"\D", "", number)
    return len(digits) == 11 and mod11_ok(digits, (5, 4, 3, 2, 7, 6, 5, 4, 3, 2))


def fodselsnummer_ok(number: str) -> bool:
    """A fødselsnummer or D-number: a real date (day + 40 for a D-number) and both check digits right."""
    digits = re.sub(r"\D", "", number)
    if len(digits) != 11:
        return False
    day, month = int(digits[0:2]), int(digits[2:4])
    if day > 40:
        day -= 40
    if not (1 <= day <= 31 and 1 <= month <= 12):
        return False
    return mod11_ok(digits, (3, 7, 6, 1, 8, 9, 4, 5, 2)) and mod11_ok(digits, (5, 4, 3, 2, 7, 6, 5, 4, 3, 2))


def kid_ok(kid: str) -> bool:
    """A KID ends in a MOD10 (Luhn) or MOD11 check digit."""
    digits = re.sub(r"\D", "", kid)
    if not 2 <= len(digits) <= 25:
        return False
    total = 0
    for i, d in enumerate(reversed(digits[:-1])):
        n = int(d) * (2 if i % 2 == 0 else 1)
        total += n - 9 if n > 9 else n
    if (10 - total % 10) % 10 == int(digits[-1]):
        return True
    weights = [2, 3, 4, 5, 6, 7] * 5
    remainder = sum(int(d) * weights[i] for i, d in enumerate(reversed(digits[:-1]))) % 11
    check = 0 if remainder == 0 else 11 - remainder
    return check != 10 and check == int(digits[-1])


def mask(number: str) -> str:
    """`•••••••4567`: only the last four digits show."""
    digits = re.sub(r"\D", "", number)
    return "•" * (len(digits) - 4) + digits[-4:]


def _kid_spans(text: str) -> list[tuple[int, int]]:
    return [m.span("kid") for m in KID.finditer(text)]


def mask_numbers(text: str) -> str:
    """The text with every 11-digit number (fødselsnummer, account) masked; a KID is left whole to pay with."""
    kids = _kid_spans(text)

    def replace(m: re.Match[str]) -> str:
        if any(start <= m.start() < end for start, end in kids):
            return m.group(0)
        return mask(m.group(0))

    return ELEVEN_DIGITS.sub(replace, text)


def _flat(text: str) -> str:
    """One line, single spaces: sentences that OCR broke over lines read whole again."""
    return re.sub(r"[ \t\u00a0\u202f]*\n[ \t\u00a0\u202f]*", " \n", text)


def _date_matches(text: str, letter_date: dt.date | None = None) -> list[tuple[int, int, dt.date]]:
    found: list[tuple[int, int, dt.date]] = []
    for pattern in DATE_PATTERNS:
        for m in pattern.finditer(text):
            if any(s <= m.start() < e for s, e, _ in found):
                continue
            groups = m.groupdict()
            month = MONTHS[groups["mon"].lower()] if groups.get("mon") else int(groups["m"])
            year_text = groups.get("y")
            if year_text is None:
                if letter_date is None:
                    continue                      # "innen 14. mars" without a letter date: which year is unknown
                year = letter_date.year
            else:
                year = int(year_text) + (2000 if len(year_text) == 2 else 0)
            try:
                date = dt.date(year, month, int(groups["d"]))
            except ValueError:
                continue
            if year_text is None and letter_date is not None and (date - letter_date).days < -183:
                date = date.replace(year=year + 1)      # "innen 10. januar" in a letter of December
            found.append((m.start(), m.end(), date))
    return sorted(found)


def _context_before(text: str, start: int, floor: int) -> str:
    """The words before `start` in the same sentence, not reaching back past `floor`."""
    window = text[max(floor, start - 120):start]
    cut = max((m.end() for m in re.finditer(r"[.!?]\s+(?=[A-ZÆØÅ])|\n\s*\n", window)), default=0)
    return window[cut:]


def _purpose(before: str) -> str | None:
    for kind, pattern in PURPOSES:
        if pattern.search(before):
            return kind
    return None


def _letter_date(text: str, dates: list[tuple[int, int, dt.date]]) -> dt.date | None:
    """The letter's own date: labelled "Dato", or a date after a place name at a line's start ("Oslo, 3. mars 2027")."""
    for start, _end, date in dates:
        line_start = text.rfind("\n", 0, start) + 1
        before = text[line_start:start]
        if re.search(r"(?<!forfalls)(?<!vedtaks)(?<!fødsels)dato\s*:?\s*$", before, re.I):
            return date
        if re.fullmatch(r"\s*[A-ZÆØÅ][\wæøåÆØÅ .\-]{1,30},\s*(?:den\s*)?", before):
            return date
    return None


def _time_near(text: str, start: int, end: int) -> str | None:
    after = TIME.search(text[end:end + 40])
    if after is None:
        after = TIME.search(text[max(0, start - 40):start])
    return f"{int(after['h']):02d}:{after['min']}" if after else None


def find_deadlines(text: str) -> tuple[dt.date | None, list[Deadline]]:
    """The letter's date and its dated deadlines, earliest first, none before the letter's date."""
    flat = _flat(text)
    letter_date = _letter_date(flat, _date_matches(flat))
    dates = _date_matches(flat, letter_date)
    deadlines: list[Deadline] = []
    previous_end = 0
    for start, end, date in dates:
        before = _context_before(flat, start, previous_end)
        previous_end = end
        kind = _purpose(before)
        if kind in (None, "letter_date", "reply") and TIME.search(flat[end:end + 40]):
            kind = "appointment"                  # "Dato: tirsdag 9. mars 2027, kl. 10.00" under a heading
        if kind in (None, "letter_date"):
            continue
        if re.search(r"\bfra\s*(?:og med\s*)?(?:den\s*)?$", before, re.I) and kind != "payment":
            continue                               # "fra 1. januar": when something starts, not a deadline
        if letter_date is not None and date < letter_date:
            continue                               # an earlier date the letter refers to
        time = _time_near(flat, start, end) if kind == "appointment" else None
        deadlines.append(Deadline(date, kind, time))
    unique = {(d.date, d.kind): d for d in deadlines}
    return letter_date, sorted(unique.values(), key=lambda d: (d.date, d.kind))


def find_periods(text: str) -> list[Period]:
    """Deadlines given as a span: "klagefristen er seks uker", "betal innen 14 dager"."""
    flat = _flat(text)
    periods: list[Period] = []
    for m in PERIOD.finditer(flat):
        before = flat[max(0, m.start() - 60):m.start()]
        before = before[max((x.end() for x in re.finditer(r"[.!?]\s", before)), default=0):]
        if not re.search(r"frist|klage|protest|betal", before, re.I) or not re.search(r"frist|innen|senest", before, re.I):
            continue                               # "pengene kommer innen tre uker" is no deadline
        kind = _purpose(before) or "reply"
        n = m["n"].lower()
        count = int(n) if n.isdigit() else NUMBER_WORDS[n]
        periods.append(Period(count, PERIOD_UNITS[m["unit"].lower()], kind if kind != "letter_date" else "reply"))
    return list(dict.fromkeys(periods))


def _to_decimal(number: str, cents: str | None) -> Decimal | None:
    digits = re.sub(r"[\s.\u00a0\u202f]", "", number)
    try:
        value = Decimal(digits)
    except InvalidOperation:
        return None
    if cents and cents.isdigit():
        value += Decimal(cents) / 100
    return value


def find_amounts(text: str) -> tuple[Decimal | None, list[Decimal]]:
    """Every amount in kroner, and the one that matters: a total to pay, else the first amount to pay, else the first."""
    flat = _flat(text)
    spans: list[tuple[int, int, Decimal]] = []
    for pattern in AMOUNT_PATTERNS:
        for m in pattern.finditer(flat):
            if any(s <= m.start("n") < e for s, e, _ in spans):
                continue
            value = _to_decimal(m["n"], m.groupdict().get("c"))
            if value is not None and value > 0:
                spans.append((m.start("n"), m.end("n"), value))
    spans.sort()
    if not spans:
        return None, []
    totals, payments = [], []
    for start, _end, value in spans:
        line = flat[flat.rfind("\n", 0, start) + 1:start]
        before = line[-60:]
        if TOTAL_WORDS.search(before):
            totals.append(value)
        elif PAYMENT_WORDS.search(before):
            payments.append(value)
    main = totals[-1] if totals else payments[0] if payments else spans[0][2]
    return main, [value for _, _, value in spans]


def find_accounts(text: str) -> list[Account]:
    kids = _kid_spans(text)
    accounts = []
    for m in ELEVEN_DIGITS.finditer(text):
        if any(s <= m.start() < e for s, e in kids):
            continue
        before = text[max(0, m.start() - 40):m.start()].lower()
        labelled = "konto" in before
        if fodselsnummer_ok(m.group(0)) and not labelled:
            continue
        if labelled or account_ok(m.group(0)):
            accounts.append(Account(mask(m.group(0)), account_ok(m.group(0))))
    return list(dict.fromkeys(accounts))


def find_phones(text: str) -> list[str]:
    """Phone numbers the letter asks you to call, as written nationally ("55 55 33 33")."""
    phones = []
    for match in phonenumbers.PhoneNumberMatcher(text, "NO", leniency=phonenumbers.Leniency.VALID):
        before = text[max(0, match.start - 40):match.start]
        if not (PHONE_CONTEXT.search(before) or match.raw_string.startswith("+")):
            continue
        if len(re.sub(r"\D", "", match.raw_string)) >= 11 and not match.raw_string.startswith("+"):
            continue
        fmt = (phonenumbers.PhoneNumberFormat.NATIONAL if match.number.country_code == 47
               else phonenumbers.PhoneNumberFormat.INTERNATIONAL)
        phones.append(phonenumbers.format_number(match.number, fmt))
    return list(dict.fromkeys(phones))


def find_references(text: str) -> list[Reference]:
    refs = []
    for m in REFERENCE.finditer(_flat(text)):
        value = m["value"]
        if ELEVEN_DIGITS.fullmatch(value) or not re.search(r"\d", value):
            continue
        refs.append(Reference(m["label"].rstrip(".:").strip().capitalize(), value))
    return list(dict.fromkeys(refs))


def extract_facts(text: str) -> LetterFacts:
    letter_date, deadlines = find_deadlines(text)
    amount, amounts = find_amounts(text)
    kid_match = KID.search(text)
    kid = re.sub(r"\D", "", kid_match["kid"]) if kid_match else None
    return LetterFacts(
        letter_date=letter_date,
        deadlines=tuple(deadlines),
        periods=tuple(find_periods(text)),
        amount=amount,
        amounts=tuple(amounts),
        accounts=tuple(find_accounts(text)),
        kid=kid,
        kid_valid=bool(kid and kid_ok(kid)),
        references=tuple(find_references(text)),
        phones=tuple(find_phones(text)),
    )
