"""A back-and-forth between a person and a caseworker over each channel:
a case is opened, the person writes, the caseworker sees it on the desk and
answers, the person writes again and it reaches the case, the caseworker
closes the case and the assistant answers again. An Arabic person on the
web chat and on Telegram, a Somali person by SMS (with the digit option to
ask the assistant meanwhile). Real channel server and desk on loopback; the
assistant is scripted (it opens the case as the hand-over action would)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import httpx

from caseworkers.cases import CaseStore
from caseworkers.translate import Translator
from channels.app import create_server
from channels.assistant import Reply
from channels.store import Store
from core.config import Settings
from core.payloads import ASK_ASSISTANT
from core.senders import case_channel
from locales.catalog import Catalog
from tests.fakes.servers import (
    FakeAssistant,
    FakeGateway,
    FakeTelegram,
    LoopbackServer,
    callback_update,
    message_update,
    wait_for,
)
from tests.system.test_sms import SECRET, post_json

CATALOG = Catalog.load()
PASSWORD = "correct horse battery"


class HandoffAssistant(FakeAssistant):
    """The scripted assistant, plus the hand-over: "/caseworker" opens a case
    in the person's language, as actions/handoff.py does."""

    def __init__(self, cases: CaseStore, language: str) -> None:
        super().__init__()
        self.cases, self.language = cases, language

    async def send(self, sender_id: str, text: str, metadata: dict[str, str] | None = None) -> list[Reply]:
        if text != "/caseworker":
            replies = await super().send(sender_id, text, metadata)
            return [Reply(r.text, r.buttons, self.language) for r in replies]
        self.received.append((sender_id, text))
        case, _ = self.cases.open_case(sender=sender_id, channel=case_channel(sender_id), language=self.language,
                                       topic="housing", text="(knapp)")
        return [Reply(f"Sak {case['reference']}", language=self.language)]


def server(tmp_path: Path, language: str, **settings: object) -> tuple[LoopbackServer, CaseStore, HandoffAssistant]:
    cases = CaseStore(tmp_path / "cases.db")
    cases.create_caseworker("kari", PASSWORD)
    assistant = HandoffAssistant(cases, language)
    app = create_server(Settings(desk_secret="x" * 40, cases_db=str(tmp_path / "cases.db"), retry_pending_seconds=0.2,
                                 **settings),  # type: ignore[arg-type]
                        assistant=assistant, store=Store(), catalog=CATALOG, cases=cases,
                        translator=Translator(tmp_path / "argos"))
    return LoopbackServer(app), cases, assistant


class Desk:
    """A caseworker in the desk, through HTTP with the session and CSRF token."""

    def __init__(self, base: str) -> None:
        self.base, self.client = base, httpx.Client()
        page = self.client.get(f"{base}/desk/login")
        self.csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)[1]
        assert self.client.post(f"{base}/desk/login", data={"csrf": self.csrf, "username": "kari",
                                                            "password": PASSWORD}).status_code == 303
        self.csrf = re.search(r'name="csrf" value="([^"]+)"', self.client.get(f"{base}/desk/").text)[1]

    def case_page(self, reference: str) -> str:
        return self.client.get(f"{self.base}/desk/cases/{reference}").text

    def act(self, reference: str, action: str, **form: str) -> httpx.Response:
        return self.client.post(f"{self.base}/desk/cases/{reference}/{action}", data={"csrf": self.csrf, **form})


def back_and_forth(cases: CaseStore, assistant: HandoffAssistant, desk: Desk, lang: str, sender: str,
                   write: Callable[[str], None], received: Callable[[], list[str]],
                   first: str, second: str, after: str) -> dict:
    """The shared story, once a case is open: returns the case."""
    case = wait_for(lambda: cases.open_case_of(sender))
    asked = len(assistant.received)
    write(first)
    wait_for(lambda: any(case["reference"] in t and t.startswith(CATALOG.text(
        "thread.added_open", lang, reference="", closes="")[:12]) or t.startswith(CATALOG.text(
            "thread.added_closed", lang, reference="", opens="")[:12]) for t in received()))
    assert len(assistant.received) == asked  # the caseworker's, not the assistant's
    page = desk.case_page(case["reference"])
    assert first in page and 'id="new-count"' in page
    assert desk.act(case["reference"], "send", text="Vi har kontaktet utleier.").status_code == 303
    wait_for(lambda: any("Vi har kontaktet utleier." in t for t in received()))
    told = len(received())
    write(second)
    wait_for(lambda: second in [e["text"] for e in cases.thread(case["id"])["entries"]])
    page = desk.case_page(case["reference"])
    assert second in page and 'id="new-count"' in page and "1 ny(e)" in page  # new since the reply
    assert len(received()) == told and len(assistant.received) == asked  # told once per case only
    assert desk.act(case["reference"], "close").status_code == 303
    closed = CATALOG.text("thread.closed", lang, reference=case["reference"])
    wait_for(lambda: closed in received())
    write(after)
    wait_for(lambda: assistant.received[-1] == (sender, after))
    wait_for(lambda: any(t.startswith(f"Svar på: {after}") for t in received()))
    thread = cases.thread(case["id"])
    kinds = [(e["kind"], e["text"]) for e in thread["entries"]]
    assert ("person", first) in kinds and ("person", second) in kinds and ("person", after) not in kinds
    assert [e["kind"] for e in thread["entries"]][-2:] == ["reply", "person"]
    return case


def test_web_chat_back_and_forth_in_arabic(tmp_path: Path) -> None:
    srv, cases, assistant = server(tmp_path, "ar")
    browser_id = "arabic-web-person-1"
    sender = f"web:{browser_id}"
    shown: list[str] = []
    count = [0]
    with srv:
        def write(text: str) -> None:
            count[0] += 1
            r = httpx.post(f"{srv.url}/api/messages", json={"sender": browser_id, "text": text, "lang": "ar",
                                                            "id": f"web-msg-{count[0]:04d}"}, timeout=60)
            shown.extend(m["text"] for m in r.json()["messages"])

        def received() -> list[str]:
            got = httpx.post(f"{srv.url}/api/inbox", json={"sender": browser_id, "ack": []}).json()["messages"]
            httpx.post(f"{srv.url}/api/inbox", json={"sender": browser_id, "ack": [m["id"] for m in got]})
            shown.extend(m["text"] for m in got)
            return shown

        write("أريد التحدث مع موظف من البلدية")
        write("/caseworker")
        desk = Desk(srv.url)
        case = back_and_forth(cases, assistant, desk, "ar", sender, write, received,
                              "صاحب البيت لم يصلح التدفئة منذ أسبوعين", "متى سيأتي العامل لإصلاحها؟",
                              "شكرا لكم على المساعدة")
        assert case["language"] == "ar"


def test_telegram_back_and_forth_in_arabic(tmp_path: Path, telegram: FakeTelegram) -> None:
    srv, cases, assistant = server(tmp_path, "ar", telegram_token="123456:TEST-token", telegram_api_url=telegram.url,
                                   telegram_mode="polling")
    chat = 4242
    update = [100]
    with srv:
        def write(text: str) -> None:
            update[0] += 1
            telegram.add_update(message_update(update[0], chat, text))

        def received() -> list[str]:
            return [b["text"] for b in telegram.sent() if int(b["chat_id"]) == chat]

        write("أريد التحدث مع موظف من البلدية")
        wait_for(lambda: chat in telegram.keyboards)
        update[0] += 1
        telegram.add_update(callback_update(update[0], chat, "/caseworker", telegram.keyboards[chat]))
        desk = Desk(srv.url)
        back_and_forth(cases, assistant, desk, "ar", f"tg:{chat}", write, received,
                       "صاحب البيت لم يصلح التدفئة منذ أسبوعين", "متى سيأتي العامل لإصلاحها؟", "شكرا لكم على المساعدة")
        notice = next(b for b in telegram.sent() if "reply_markup" in b and b["text"].startswith(
            CATALOG.text("thread.added_open", "ar", reference="", closes="")[:12]) or
            "reply_markup" in b and b["text"].startswith(CATALOG.text("thread.added_closed", "ar", reference="",
                                                                      opens="")[:12]))
        assert notice["reply_markup"]["inline_keyboard"] == [[{"text": CATALOG.text("thread.ask.button", "ar"),
                                                               "callback_data": ASK_ASSISTANT}]]


def test_sms_back_and_forth_in_somali_with_the_digit_to_ask_the_assistant(tmp_path: Path,
                                                                          gateway: FakeGateway) -> None:
    srv, cases, assistant = server(tmp_path, "so", sms_gateway="json", sms_json_url=f"{gateway.url}/messages",
                                   sms_json_secrets=(SECRET,), sms_sender="Nabo")
    number, count = "+4791234599", [0]
    with srv:
        def write(text: str) -> None:
            count[0] += 1
            assert post_json(srv, {"id": f"sms-{count[0]}", "from": number, "text": text}).status_code == 200

        def received() -> list[str]:
            return [r["text"] for r in gateway.received if r["to"] == number]

        write("Waxaan rabaa inaan la hadlo shaqaale")
        wait_for(lambda: received())
        write("1")  # the option "Ja" -> /caseworker
        desk = Desk(srv.url)
        case = wait_for(lambda: cases.open_case_of(f"sms:{number}"))
        # before the caseworker answers: ask the assistant something meanwhile with the digit option
        write("Mulkiilaha gurigu ma hagaajin kulaylka muddo laba toddobaad ah")
        option = f"1 {CATALOG.text('thread.ask.button', 'so')}"
        wait_for(lambda: any(option in t for t in received()))
        write("1")
        wait_for(lambda: CATALOG.text("thread.ask.ready", "so") in received())
        write("Goormee ayaan heli karaa dhakhtar qoyska?")
        wait_for(lambda: any(t.startswith("Svar på: Goormee") for t in received()))
        # the assistant's answer is kept in the case right after it is delivered
        wait_for(lambda: [(e["kind"], e["routed"]) for e in cases.thread(case["id"])["entries"][-3:]] == [
            ("person", "case"), ("person", "assistant"), ("assistant", None)])
        # the rest of the story: a caseworker's reply carries the option too
        page = desk.case_page(case["reference"])
        assert "Mulkiilaha gurigu" in page and "(til assistenten)" in page
        assert desk.act(case["reference"], "send", text="Vi har kontaktet utleier.").status_code == 303
        reply = wait_for(lambda: next((t for t in received() if "Vi har kontaktet utleier." in t), None))
        assert option in reply
        write("Goorma ayuu imanayaa farsamoyaqaanka?")
        wait_for(lambda: "Goorma ayuu imanayaa farsamoyaqaanka?" in [e["text"] for e in cases.thread(case["id"])["entries"]])
        assert "1 ny(e)" in desk.case_page(case["reference"])
        desk.act(case["reference"], "close")
        wait_for(lambda: CATALOG.text("thread.closed", "so", reference=case["reference"]) in received())
        write("Mahadsanid")
        wait_for(lambda: assistant.received[-1] == (f"sms:{number}", "Mahadsanid"))


def test_a_reply_to_a_closed_case_is_refused_unless_reopened(tmp_path: Path) -> None:
    srv, cases, _ = server(tmp_path, "ar")
    case, _ = cases.open_case(sender="web:closed-case-person", channel="web", language="ar", topic="housing",
                              text="مرحبا")
    with srv:
        desk = Desk(srv.url)
        desk.act(case["reference"], "close")
        refused = desk.act(case["reference"], "send", text="Hei igjen")
        assert refused.status_code == 409 and "Saken er lukket" in refused.text and 'id="reopen"' in refused.text
        assert cases.get(case["reference"])["status"] == "closed"
        preview = desk.act(case["reference"], "preview", text="Hei igjen", reopen="1")
        assert preview.status_code == 200 and 'name="reopen" value="1"' in preview.text
        assert desk.act(case["reference"], "send", text="Hei igjen", reopen="1").status_code == 303
        assert cases.get(case["reference"])["status"] == "answered"
        assert "reopened" in [a["action"] for a in cases.audit_log(case["id"])]
        assert desk.act(case["reference"], "note", note="Ringte personen.").status_code == 303
        assert "notat av kari" in desk.case_page(case["reference"])
