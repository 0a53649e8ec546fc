"""The desk's endpoints, each on its own app (no channel server): the
Norwegian summary without translation, replies in the person's language
without translation, notes, claim races, the queue's words and filters; and
the facts the hand-over stores for the summary."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from rasa_sdk import Tracker
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient

from actions.handoff import CaseHandoff
from actions.knowledge import KnowledgeBase
from actions.municipality import Municipality
from actions.office_hours import OfficeHours
from actions.turn import Turn
from caseworkers import desk as desk_module
from caseworkers.cases import CaseStore
from caseworkers.desk import desk_app
from caseworkers.translate import Translator
from locales.catalog import Catalog

ROOT = Path(__file__).resolve().parents[2]
CATALOG = Catalog.load()
KB = KnowledgeBase.load(ROOT / "data/knowledge/answers.yml", CATALOG, Municipality.load(ROOT / "data/municipalities/baerum.yml"))
HOURS = OfficeHours.parse("mon-fri 08:00-15:30", "Europe/Oslo")
PASSWORD = "correct horse battery"
FACTS = {"topic": "housing", "question": "housing/landlord_problems", "answers_given": ["housing/deposit"],
         "reason": "offered", "misunderstood": 2, "municipality": "Bærum"}


@pytest.fixture()
def desk(tmp_path: Path):
    cases = CaseStore()
    for name in ("kari", "ola"):
        cases.create_caseworker(name, PASSWORD)
    sent: list[tuple[str, str, str, str]] = []

    async def send(sender: str, text: str, lang: str, reference: str) -> None:
        sent.append((sender, text, lang, reference))

    app = desk_app(cases, Translator(tmp_path / "argos"), CATALOG, send, knowledge=KB, hours=HOURS)
    return Starlette(routes=[Mount("/desk", app=app)]), cases, sent  # where channels.app mounts it


def logged_in(app, name: str = "kari") -> tuple[TestClient, str]:
    client = TestClient(app)
    page = client.get("/desk/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)[1]
    client.post("/desk/login", data={"csrf": token, "username": name, "password": PASSWORD}, follow_redirects=False)
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/desk/").text)[1]
    return client, token


def tigrinya_case(cases: CaseStore) -> dict:
    case, _ = cases.open_case(sender="web:ti1", channel="web", language="ti", topic="housing",
                              text="ዋና ገዛ ኣይመለሰለይን", facts=FACTS)
    return case


def test_a_tigrinya_case_reads_in_norwegian_without_any_translation(desk) -> None:
    app, cases, _ = desk
    case = tigrinya_case(cases)
    client, _ = logged_in(app)
    html = client.get(f"/desk/cases/{case['reference']}").text
    summary = re.search(r'<section class="card" id="summary".*?</section>', html, re.S)[0]
    for words in ("Bolig", "Problemer med utleier", "Depositum", "tigrinja · nettchat", "Ja, tolk på tigrinja",
                  "Bærum", "forsto ikke spørsmålet to ganger", "Ny"):
        assert words in summary, words
    assert CATALOG.text("title.housing.landlord_problems", "nb") in summary
    assert "maskinoversatt" not in summary and "Ingen maskinoversettelse" in html


def test_a_knowledge_answer_is_inserted_and_sent_in_the_persons_language(desk) -> None:
    app, cases, sent = desk
    case = tigrinya_case(cases)
    client, token = logged_in(app)
    shown = client.post(f"/desk/cases/{case['reference']}/insert",
                        data={"csrf": token, "source": "answer:housing/landlord_problems"})
    text_ti, text_nb = KB.render("housing/landlord_problems", "ti"), KB.render("housing/landlord_problems", "nb")
    assert "{" not in text_ti  # the municipality's placeholders are filled
    ready = re.search(r'id="ready-text"[^>]*>(.*?)</div>', shown.text, re.S)[1]
    assert ready == str(desk_module.TEMPLATES.env.finalize(text_ti)).replace("'", "&#39;").replace('"', "&#34;")
    assert "Problemer med utleier" in shown.text or CATALOG.text("title.housing.landlord_problems", "nb") in shown.text
    r = client.post(f"/desk/cases/{case['reference']}/send-ready",
                    data={"csrf": token, "source": "answer:housing/landlord_problems", "text": "ignored"},
                    follow_redirects=False)
    assert r.status_code == 303
    sender, message, lang, _ = sent[-1]
    assert (sender, lang) == ("web:ti1", "ti")
    assert message == f"{CATALOG.text('case.reply_from_caseworker', 'ti')}\n\n{text_ti}"
    last = cases.messages(case["id"])[-1]
    assert (last["text_nb"], last["machine_translated"]) == (text_nb, 0)
    assert "sendt som skrevet" in client.get(f"/desk/cases/{case['reference']}").text


def test_saved_replies_fill_the_reference_and_days_and_unknown_sources_send_nothing(desk) -> None:
    app, cases, sent = desk
    case = tigrinya_case(cases)
    client, token = logged_in(app)
    client.post(f"/desk/cases/{case['reference']}/send-ready",
                data={"csrf": token, "source": "template:desk.template.received", "days": "5"})
    assert sent[-1][1].endswith(CATALOG.text("desk.template.received", "ti", reference=case["reference"], days=5))
    for source in ("template:case.urgent", "answer:no/such", "free text", "template:desk.template.received/x"):
        r = client.post(f"/desk/cases/{case['reference']}/send-ready", data={"csrf": token, "source": source})
        assert r.status_code == 422, source
    assert len(sent) == 1


def test_a_call_back_template_is_not_offered_when_contact_needs_caution(desk) -> None:
    app, cases, _ = desk
    case, _ = cases.open_case(sender="web:v", channel="web", language="ar", topic="emergency", text="x", urgent=True,
                              danger="violence")
    client, _ = logged_in(app)
    html = client.get(f"/desk/cases/{case['reference']}").text
    assert "template:desk.template.call_you" not in html and "template:desk.template.received" in html
    assert re.search(r'id="s-urgent"><span class="urgent">Ja</span> – fare: vold<', html)


def test_notes_stay_internal(desk) -> None:
    app, cases, sent = desk
    case = tigrinya_case(cases)
    client, token = logged_in(app)
    client.post(f"/desk/cases/{case['reference']}/note", data={"csrf": token, "note": "Ringte huseier <b>i dag</b>."})
    html = client.get(f"/desk/cases/{case['reference']}").text
    assert "Ringte huseier &lt;b&gt;i dag&lt;/b&gt;." in html and "kari skrev et internt notat" in html
    assert sent == [] and [m["direction"] for m in cases.messages(case["id"])] == ["in", "note"]
    assert client.post(f"/desk/cases/{case['reference']}/note", data={"csrf": token, "note": " "}).status_code == 422


def test_taking_a_colleagues_case_needs_a_warning_first(desk) -> None:
    app, cases, _ = desk
    case = tigrinya_case(cases)
    kari, kari_token = logged_in(app, "kari")
    ola, ola_token = logged_in(app, "ola")
    assert kari.post(f"/desk/cases/{case['reference']}/claim", data={"csrf": kari_token}).status_code == 200
    warned = ola.post(f"/desk/cases/{case['reference']}/claim", data={"csrf": ola_token})
    assert warned.status_code == 409 and "kari har denne saken" in warned.text
    assert cases.get(case["reference"])["assignee"] == "kari"
    ola.post(f"/desk/cases/{case['reference']}/claim",
             data={"csrf": ola_token, "confirm": "1", "takeover_from": "kari"})
    assert cases.get(case["reference"])["assignee"] == "ola"
    page = ola.get(f"/desk/cases/{case['reference']}").text
    assert "ola tok saken fra kari" in page
    ola.post(f"/desk/cases/{case['reference']}/assign", data={"csrf": ola_token, "assignee": "kari"})
    assert cases.get(case["reference"])["assignee"] == "kari"
    kari.post(f"/desk/cases/{case['reference']}/release", data={"csrf": kari_token})
    assert cases.get(case["reference"])["assignee"] is None


def test_the_queue_speaks_norwegian_filters_and_refreshes(desk) -> None:
    app, cases, _ = desk
    case = tigrinya_case(cases)
    other, _ = cases.open_case(sender="sms:+4790000000", channel="sms", language="so", topic="nav", text="caawin")
    client, _ = logged_in(app)
    html = client.get("/desk/").text
    assert "<title>(2) Kø – Nabo</title>" in html and 'http-equiv="refresh"' in html
    row = re.search(rf'<tr class="case" id="case-{case["reference"]}">.*?</tr>', html, re.S)[0]
    assert "Bolig – Problemer med utleier" in row and "tigrinja · nettchat" in row and ">Ny<" in row
    assert not re.search(r">\s*(open|housing|ti|web)\s*<", row)
    filtered = client.get("/desk/?language=so").text
    assert other["reference"] in filtered and case["reference"] not in filtered
    assert case["reference"] in client.get("/desk/?q=" + "ዋና").text
    cases.set_status(case["id"], "closed", "kari")
    assert case["reference"] in client.get("/desk/?status=closed").text
    assert case["reference"] not in client.get("/desk/").text


def test_every_endpoint_is_a_module_function() -> None:
    for route in desk_module.ROUTES:
        name = route.endpoint.__name__
        assert getattr(desk_module, name, None) is not None, route.path


def test_the_handoff_stores_what_the_assistant_understood(tmp_path: Path) -> None:
    events = [
        {"event": "user", "text": "hvor mye er barnetrygd",
         "parse_data": {"intent": {"name": "nav", "confidence": 0.9}, "text": "hvor mye er barnetrygd",
                        "answer_choice": {"id": "nav/child_benefit", "sure": True}}},
        {"event": "slot", "name": "last_answer", "value": "nav/child_benefit"},
        {"event": "user", "text": "jeg forstår ikke", "parse_data": {"intent": {"name": "nlu_fallback"}}},
        {"event": "slot", "name": "last_answer", "value": "nav/contact"},
        {"event": "user", "text": "/caseworker", "parse_data": {"intent": {"name": "caseworker"}}},
    ]
    tracker = Tracker("web:h1", {"misunderstood": 1.0, "last_answer": "nav/contact"}, {"text": "/caseworker"}, events, False, None, None,
                      "action_listen")
    handoff = CaseHandoff(CaseStore(tmp_path / "c.db"), HOURS)
    turn = Turn(intent="caseworker", topic="caseworker", confidence=0.9, question=None, from_button=True,
                detected_language="nb", detected_reliable=True, language="nb", ranking=(), text="/caseworker")
    handoff.request(tracker, turn)
    facts = json.loads(handoff.store.queue()[0]["facts"])
    assert facts["question"] == "nav/child_benefit" and facts["answers_given"] == ["nav/child_benefit", "nav/contact"]
    assert (facts["reason"], facts["topic"], facts["misunderstood"]) == ("asked", "nav", 1)
    assert facts["municipality"]


def test_machine_translation_comes_on_top_and_is_marked(desk) -> None:
    app, cases, _ = desk
    case, _ = cases.open_case(sender="web:ar9", channel="web", language="ar", topic="housing", text="صاحب البيت",
                              text_nb="Huseieren", facts=FACTS)
    client, _ = logged_in(app)
    html = client.get(f"/desk/cases/{case['reference']}").text
    assert "Norsk (maskinoversatt): Huseieren" in html and "Problemer med utleier" in html


def test_the_answer_is_due_by_closing_time_on_the_day_the_office_is_open() -> None:
    import datetime as dt

    def oslo(text: str) -> dt.datetime:
        return dt.datetime.fromisoformat(text).replace(tzinfo=HOURS.zone)

    assert HOURS.answer_due(oslo("2026-11-23T09:00")) == oslo("2026-11-23T15:30")  # Monday, open
    assert HOURS.answer_due(oslo("2026-11-20T16:00")) == oslo("2026-11-23T15:30")  # Friday evening: Monday
    assert HOURS.answer_due(oslo("2026-11-24T06:00")) == oslo("2026-11-24T15:30")  # before opening: that day


def test_a_case_waiting_past_its_promised_time_is_marked_overdue(desk) -> None:
    app, cases, _ = desk
    late = tigrinya_case(cases)
    fresh, _ = cases.open_case(sender="web:new", channel="web", language="nb", topic="nav", text="hei")
    cases.db.execute("update case_messages set created = '2026-11-20T15:00:00+00:00' where case_id = ?", [late["id"]])
    client, _ = logged_in(app)
    html = client.get("/desk/").text
    row = re.search(rf'<tr class="case" id="case-{late["reference"]}">.*?</tr>', html, re.S)[0]
    assert "Forfalt" in row and "venter for " in row
    assert "Forfalt" not in re.search(rf'<tr class="case" id="case-{fresh["reference"]}">.*?</tr>', html, re.S)[0]
    assert 'id="overdue"' in client.get(f"/desk/cases/{late['reference']}").text


def test_without_a_recognised_question_the_last_answer_given_is_the_closest(tmp_path: Path) -> None:
    events = [{"event": "user", "text": "hjelp", "parse_data": {"intent": {"name": "nlu_fallback"}}},
              {"event": "slot", "name": "last_answer", "value": "housing/deposit"},
              {"event": "user", "text": "/caseworker", "parse_data": {"intent": {"name": "caseworker"}}}]
    tracker = Tracker("web:h2", {"last_answer": "housing/deposit"}, {"text": "/caseworker"}, events, False, None,
                      None, "action_listen")
    handoff = CaseHandoff(CaseStore(), HOURS)
    turn = Turn(intent="caseworker", topic="caseworker", confidence=0.9, question=None, from_button=True,
                detected_language="so", detected_reliable=True, language="so", ranking=(), text="/caseworker")
    handoff.request(tracker, turn)
    assert json.loads(handoff.store.queue()[0]["facts"])["question"] == "housing/deposit"
