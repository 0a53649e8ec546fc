"""A letter sent as a photo on Telegram (Somali) and as a PDF on the web chat
(Arabic) is explained in the person's language; "send it to my caseworker"
puts the letter's Norwegian text, with the deadline first, in a case."""

from __future__ import annotations

import datetime as dt

import httpx

from caseworkers.cases import CaseStore
from channels.app import create_server
from channels.letters import HAND_OVER
from channels.store import Store
from core.config import Settings
from letters import explain, read_letter
from locales.catalog import Catalog
from tests.fakes.servers import FakeAssistant, FakeTelegram, LoopbackServer, callback_update, message_update, wait_for
from tests.letters.evaluate import case_file, load_cases

CATALOG = Catalog.load()
CASES = {case.name: case for case in load_cases()}


def texts_to(fake: FakeTelegram, chat_id: int) -> list[str]:
    return [b["text"] for b in fake.sent() if int(b["chat_id"]) == chat_id]


def test_a_photo_of_a_nav_decision_on_telegram_in_somali(telegram: FakeTelegram) -> None:
    data, _, _ = case_file(CASES["01-nav-decision-barnetrygd"], "photo")
    expected = explain(read_letter(data, "photo.jpg", "image/jpeg"), "so", dt.date.today())
    telegram.files["p1"] = data
    store, cases = Store(), CaseStore()
    store.set_language("tg:55", "so")
    settings = Settings(telegram_token="123:ABC", telegram_api_url=telegram.url, retry_pending_seconds=0.2)
    app = create_server(settings, assistant=FakeAssistant(), store=store, catalog=CATALOG, cases=cases)
    with LoopbackServer(app):
        photo = [{"file_id": "p1", "file_unique_id": "p1", "width": 1200, "height": 1700, "file_size": len(data)}]
        telegram.add_update(message_update(80, 55, None, photo=photo))
        wait_for(lambda: texts_to(telegram, 55), timeout=60)
        assert texts_to(telegram, 55)[0] == expected.text  # who wrote, what it is, the deadline, what to do
        assert expected.sender == "nav" and expected.kind == "decision" and expected.deadline == dt.date(2027, 4, 26)
        telegram.add_update(callback_update(81, 55, HAND_OVER, telegram.keyboards[55]))
        wait_for(lambda: len(texts_to(telegram, 55)) == 2, timeout=30)
    case = list(cases.db["cases"].rows)[0]
    assert texts_to(telegram, 55)[1] == CATALOG.text("letter.sent", "so", reference=case["reference"])
    assert case["language"] == "so" and case["text_nb"].startswith("Brev fra personen. FRIST")
    assert "Vedtak om barnetrygd" in case["text_nb"] and "28037852912" not in case["text_nb"]  # fødselsnummer masked


def test_a_barnehage_invoice_pdf_on_the_web_chat_in_arabic(tmp_path) -> None:
    data, name, mime = case_file(CASES["29-barnehage-invoice-foreldrebetaling"], "pdf")
    expected = explain(read_letter(data, name, mime), "ar", dt.date.today())
    cases = CaseStore()
    app = create_server(Settings(sms_gateway="none"), assistant=FakeAssistant(), store=Store(), catalog=CATALOG,
                        cases=cases)
    sender = "letter-web-000001"
    with LoopbackServer(app) as server:
        r = httpx.post(f"{server.url}/api/letter", params={"lang": "ar"}, data={"sender": sender},
                       files={"file": (name, data, mime)}, timeout=60)
        assert r.status_code == 200
        message = r.json()["messages"][0]
        assert message["text"] == expected.text and expected.kind == "invoice" and expected.sender == "barnehage"
        assert {b["payload"] for b in message["buttons"]} >= {HAND_OVER, "/interpreter"}
        sent = httpx.post(f"{server.url}/api/messages", json={"sender": sender, "text": HAND_OVER}).json()
        bad = httpx.post(f"{server.url}/api/letter", params={"lang": "ar"}, data={"sender": sender},
                         files={"file": ("x.pdf", b"%PDF-1.4 broken", "application/pdf")}, timeout=60)
    case = list(cases.db["cases"].rows)[0]
    assert sent["messages"][0]["text"] == CATALOG.text("letter.sent", "ar", reference=case["reference"])
    assert case["channel"] == "web" and "Brev fra personen" in case["text_nb"]
    assert bad.status_code == 200 and bad.json()["messages"][0]["buttons"] == []  # a clear answer, in Arabic
    assert bad.json()["messages"][0]["text"].startswith(CATALOG.text("letter.error.unreadable", "ar")[:10]) or \
        bad.json()["messages"][0]["text"] in {CATALOG.text(f"letter.error.{c}", "ar", max_mb=10, max_pages=5)
                                            for c in ("unreadable", "unsupported_type", "not_a_letter")}
