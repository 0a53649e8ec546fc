"""End to end through Rasa's REST channel with the action server in the
loop: every topic answered in every language, emergencies first, and the
person's language remembered across a Rasa restart."""

from __future__ import annotations

import uuid
from collections import defaultdict

import httpx
import pytest
import yaml

from actions.knowledge import catalog, knowledge
from tests.training_data import ROOT

pytestmark = pytest.mark.stack
LANGUAGES = ("nb", "en", "ar", "uk", "ru", "ti", "so", "fa")
ANSWERED = ("fastlege", "nav", "intro_program", "school", "barnehage", "housing", "interpreter")


def say(stack, sender: str, text: str) -> list[dict]:
    r = httpx.post(f"{stack.rasa_url}/webhooks/rest/webhook", json={"sender": sender, "message": text}, timeout=30)
    r.raise_for_status()
    return r.json()


def heldout_by(lang: str, topic: str) -> list[str]:
    data = yaml.safe_load((ROOT / "tests" / "nlu" / "heldout.yml").read_text(encoding="utf-8"))
    return [e["text"] for e in data["examples"] if e["lang"] == lang and e["topic"] == topic]


def answers_of(topic: str, lang: str) -> set[str]:
    kb = knowledge()
    return {kb.render(a, lang) for a, meta in kb.answers.items() if meta.topic == topic}


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_topic_is_answered_in_the_persons_language(stack, lang: str) -> None:
    missing = []
    for topic in ANSWERED:
        expected = answers_of(topic, lang)
        got = False
        for text in heldout_by(lang, topic)[:6]:
            replies = say(stack, f"t-{uuid.uuid4().hex}", text)
            if any(r.get("text") in expected for r in replies):
                got = True
                break
        if not got:
            missing.append(topic)
    assert missing == [], f"{lang}: no answer in {lang} for {missing}"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_emergencies_get_the_numbers_first(stack, lang: str) -> None:
    """The first reply is the help for some kind of danger (or, when the model
    only leans towards danger, the numbers line before the question), in the
    person's language."""
    from actions.emergency import help_key
    from nlu.safety import KINDS

    helps = {catalog().text(help_key(kind), lang) for kind in KINDS} | {catalog().text("emergency.possible", lang)}
    wrong = defaultdict(list)
    for text in heldout_by(lang, "emergency"):
        replies = say(stack, f"t-{uuid.uuid4().hex}", text)
        if not replies or not any(n in replies[0]["text"] for n in ("110", "112", "113")):
            wrong[lang].append(text)
        elif replies[0]["text"] not in helps:
            wrong[lang + " (other language)"].append(text)
    assert not wrong.get(lang), dict(wrong)


def test_low_confidence_then_offer_of_a_person(stack) -> None:
    sender = f"t-{uuid.uuid4().hex}"
    say(stack, sender, '/language{"lang":"en"}')
    first = say(stack, sender, "qwrt zxcv plmk")
    second = say(stack, sender, "vbnm hjkl")
    assert first[0]["text"] in (catalog().text("clarify.ask", "en"), catalog().text("out_of_scope.reply", "en"))
    assert second[0]["text"] == catalog().text("clarify.offer_person", "en")
    assert second[0]["buttons"][0]["payload"] == "/caseworker"


def test_language_is_remembered_across_a_restart(stack) -> None:
    sender = f"t-{uuid.uuid4().hex}"
    say(stack, sender, '/language{"lang":"so"}')
    stack.stop("rasa")
    stack.start_rasa()
    stack.wait_ready()
    replies = say(stack, sender, "NAV")
    kb = knowledge()
    assert replies[0]["text"] in {kb.render(a, "so") for a in kb.answers} | {catalog().text("clarify.ask", "so")}


def test_interpreter_request_form_end_to_end(stack) -> None:
    import datetime as dt
    import os

    from actions.interpreter import next_weekdays
    from caseworkers.cases import CaseStore

    sender = f"t-{uuid.uuid4().hex}"
    texts = catalog()
    say(stack, sender, '/language{"lang":"ar"}')
    first = say(stack, sender, '/interpreter{"request":"yes"}')
    assert first[0]["text"] == texts.text("interp.ask.interp_appointment", "ar")
    day = next_weekdays(dt.date.today())[0].isoformat()
    steps = [("fastlege", "interp_place"), ("مركز ساندفيكا الصحي", "interp_date"), ("بكرة الصبح", None),
             (day, "interp_alt_date"), ("none", "interp_duration"), ("60", "interp_mode"),
             ("phone", "interp_people"), ("2", "interp_gender"), ("none", "interp_dialect"),
             ("skip", "interp_notes")]
    for answer, next_slot in steps:
        replies = say(stack, sender, answer)
        expected = texts.text(f"interp.ask.{next_slot}", "ar") if next_slot else texts.text("interp.invalid.date", "ar")
        assert replies[0]["text"] == expected, (answer, replies)
    done = say(stack, sender, "skip")
    store = CaseStore(os.environ["CASES_DB"])
    request = next(r for r in store.interpreter_requests() if r["sender"] == sender)
    assert request["details"]["date"] == day and request["details"]["mode"] == "phone"
    assert request["reference"] in done[0]["text"]
    # the form is over: the next question is answered as usual
    after = say(stack, sender, "بدي fastlege لابني")
    assert after[0]["text"] in {knowledge().render(a, "ar") for a in knowledge().answers}
