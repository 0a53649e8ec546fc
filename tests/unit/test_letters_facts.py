"""Facts in a letter: dates by purpose, amounts, account numbers, KID, references, phones, masking."""

import datetime as dt
from decimal import Decimal

import pytest

from letters.facts import (
    Period,
    account_ok,
    extract_facts,
    find_amounts,
    find_deadlines,
    find_periods,
    fodselsnummer_ok,
    kid_ok,
    mask,
    mask_numbers,
)


def test_each_date_gets_its_purpose_and_the_letter_date_is_none_of_them() -> None:
    text = (
        "NAV Grorud\nDato: 03.02.2027\n"
        "Du søkte 4. januar 2027 om stønad. Stønaden gis fra 1. mars 2027.\n"
        "Klagefristen er 17. mars 2027.\n"
        "Send kontoutskrift innen 20. februar 2027.\n"
        "Forfallsdato: 01.04.2027\n"
    )
    letter_date, deadlines = find_deadlines(text)
    assert letter_date == dt.date(2027, 2, 3)
    assert [(d.date, d.kind) for d in deadlines] == [
        (dt.date(2027, 2, 20), "reply"), (dt.date(2027, 3, 17), "appeal"), (dt.date(2027, 4, 1), "payment")]


def test_a_date_with_no_purpose_is_left_out() -> None:
    _, deadlines = find_deadlines("Oslo, 3. februar 2027\nBarnet er født 12.05.2021. Vi flyttet 9. januar 2027.")
    assert deadlines == []


def test_a_date_without_year_takes_the_letters_year_or_the_next() -> None:
    assert find_deadlines("Oslo, 3. februar 2027\nSvar innen 14. mars.")[1][0].date == dt.date(2027, 3, 14)
    assert find_deadlines("Oslo, 10. desember 2027\nSvar innen 10. januar.")[1][0].date == dt.date(2028, 1, 10)
    # Without the letter's date the year is not known: not guessed.
    assert find_deadlines("Svar innen 14. mars.")[1] == []


def test_an_appointment_keeps_its_time_even_under_a_date_label() -> None:
    text = "Sarpsborg, 25. januar 2027\n# Innkalling\nDato: 9. februar 2027\nKlokkeslett: kl. 09.00\n"
    deadline = extract_facts(text).deadline
    assert (deadline.date, deadline.kind, deadline.time) == (dt.date(2027, 2, 9), "appointment", "09:00")


def test_deadlines_given_as_a_span() -> None:
    assert find_periods("Klagefristen er seks uker fra du mottok vedtaket.") == [Period(6, "weeks", "appeal")]
    assert find_periods("Pengene kommer innen tre uker.") == []


@pytest.mark.parametrize(("text", "amount"), [
    ("Beløp: kr 1 234,50", Decimal("1234.50")),
    ("Husleie 1.234,- per måned", Decimal("1234")),
    ("Å betale NOK 2 000", Decimal("2000")),
    ("Du får 2 000 kr i måneden", Decimal("2000")),
    ("Du får 1 766 kroner per måned", Decimal("1766")),
    ("Totalt å betale: 3 450,00", Decimal("3450.00")),
    ("Hovedstol: 1 190,00 kr\nGebyr: 75,00 kr\nTotalt å betale: 1 265,00 kr", Decimal("1265.00")),
    ("øker barnetrygden til 2\n300 kroner per måned", Decimal("2300")),
])
def test_amounts(text: str, amount: Decimal) -> None:
    assert find_amounts(text)[0] == amount


def test_no_amount_is_none() -> None:
    assert find_amounts("Ring oss på 55 55 33 33 innen 14.03.2027, saksnummer 27/004518.") == (None, [])


def test_check_digits() -> None:
    assert account_ok("8601 11 17947") and account_ok("5942.85.95755")
    assert not account_ok("8601 11 17948")
    assert fodselsnummer_ok("28037852912") and fodselsnummer_ok("05096768445")
    assert not fodselsnummer_ok("28037852913") and not fodselsnummer_ok("32137852912")
    assert kid_ok("5418792770264") and kid_ok("457608536092")
    assert not kid_ok("5418792770265")


def test_fodselsnummer_and_account_are_masked_but_kid_and_phone_are_not() -> None:
    text = "Fødselsnummer: 280378 52912\nKonto 5942.85.95755, KID: 12345678903\nTlf. 55 55 33 33"
    masked = mask_numbers(text)
    assert "52912" not in masked and "95755" not in masked and "280378" not in masked
    assert "•••••••2912" in masked and "•••••••5755" in masked
    assert "KID: 12345678903" in masked and "55 55 33 33" in masked
    assert mask("1234 56 78903") == "•••••••8903"


def test_accounts_kid_references_and_phones() -> None:
    facts = extract_facts(
        "Skatteetaten\nVår referanse: 2027/887612\nSaksnummer: 24/017733\n"
        "Betal til kontonummer 3179.41.98937 med KID 7395712481161.\n"
        "Fødselsnummer 28037852912. Spørsmål? Ring 800 80 000.\n"
    )
    assert [a.masked for a in facts.accounts] == ["•••••••8937"] and facts.accounts[0].valid
    assert facts.kid == "7395712481161" and facts.kid_valid
    assert [(r.label, r.value) for r in facts.references] == [("Vår referanse", "2027/887612"), ("Saksnummer", "24/017733")]
    assert facts.phones == ("800 80 000",)


def test_a_misread_account_number_is_flagged() -> None:
    facts = extract_facts("Kontonummer: 5942.85.95756")
    assert [(a.masked, a.valid) for a in facts.accounts] == [("•••••••5756", False)]


def test_an_appointment_time_after_a_blank_line() -> None:
    text = "Sarpsborg, 25. januar 2027\nDato: 9. februar 2027\n\nKlokkeslett: kl. 09.00\n"
    deadline = extract_facts(text).deadline
    assert (deadline.kind, deadline.time) == ("appointment", "09:00")
