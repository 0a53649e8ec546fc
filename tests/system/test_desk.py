"""The caseworker desk: login, CSRF, the queue, a case, claim, reply with a
preview, send through the person's channel, close; notifications. Driven
through HTTP and in real headless Chromium."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from caseworkers.appointments import confirmation
from caseworkers.cases import CaseStore
from caseworkers.notify import notice, notify_new_cases
from caseworkers.translate import Translator
from channels.app import create_server
from channels.store import Store
from core.config import Settings
from locales.catalog import Catalog
from tests.fakes.servers import FakeAssistant, LoopbackServer
from tests.training_data import ROOT

CATALOG = Catalog.load()
PASSWORD = "correct horse battery"
APPOINTMENT_DAY = (dt.date.today() + dt.timedelta(days=7)).isoformat()


@pytest.fixture()
def desk(tmp_path: Path):
    cases = CaseStore(tmp_path / "cases.db")
    cases.create_caseworker("kari", PASSWORD)
    store = Store()
    settings = Settings(desk_secret="x" * 40, cases_db=str(tmp_path / "cases.db"))
    app = create_server(settings, assistant=FakeAssistant(), store=store, catalog=CATALOG, cases=cases,
                        translator=Translator(tmp_path / "argos"))
    with LoopbackServer(app) as server:
        yield server, cases, store


def login(client: httpx.Client, base: str, password: str = PASSWORD) -> httpx.Response:
    page = client.get(f"{base}/desk/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)[1]
    return client.post(f"{base}/desk/login", data={"csrf": token, "username": "kari", "password": password})


def test_every_page_is_behind_login_and_forms_need_the_csrf_token(desk) -> None:
    server, cases, _ = desk
    case, _ = cases.open_case(sender="web:abc", channel="web", language="ar", topic="housing", text="<script>x</script>")
    with httpx.Client() as client:
        for path in ("/desk/", f"/desk/cases/{case['reference']}", "/desk/unanswered"):
            r = client.get(server.url + path)
            assert r.status_code == 303 and r.headers["location"] == "/desk/login"
        assert login(client, server.url, "wrong password!").status_code == 401
        r = client.post(f"{server.url}/desk/login", data={"username": "kari", "password": PASSWORD})
        assert r.status_code == 403  # no CSRF token
        assert login(client, server.url).status_code == 303
        page = client.get(f"{server.url}/desk/cases/{case['reference']}")
        assert "&lt;script&gt;" in page.text and "<script>x" not in page.text  # escaped
        assert page.headers["x-frame-options"] == "DENY" and "script-src 'none'" in page.headers["content-security-policy"]
        cookie = next(c for c in client.cookies.jar if c.name == "desk_session")
        assert cookie.has_nonstandard_attr("HttpOnly") or "httponly" in str(cookie._rest).lower()
        r = client.post(f"{server.url}/desk/cases/{case['reference']}/claim", data={"csrf": "forged"})
        assert r.status_code == 403 and cases.get(case["reference"])["status"] == "open"


def test_repeated_failed_logins_lock_out(desk) -> None:
    server, _, _ = desk
    with httpx.Client() as client:
        statuses = [login(client, server.url, "wrong password!").status_code for _ in range(6)]
        assert statuses == [401] * 5 + [429]
        assert login(client, server.url).status_code == 429  # even the right password, for a while


def test_claim_reply_and_close_in_chromium(desk, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    server, cases, store = desk
    urgent, _ = cases.open_case(sender="web:person1", channel="web", language="so", topic="emergency",
                                text="waan ku dhibaataysanahay", urgent=True)
    normal, _ = cases.open_case(sender="web:person2", channel="web", language="ar", topic="housing",
                                text="صاحب البيت ما رد علي")
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        page = browser.new_page()
        page.goto(f"{server.url}/desk/")
        page.fill("input[name=username]", "kari")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        rows = page.locator("tbody tr td:first-child a")
        assert rows.nth(0).inner_text() == urgent["reference"]  # urgent first
        page.click(f"text={normal['reference']}")
        assert "صاحب البيت ما رد علي" in page.inner_text("main")
        page.click("#claim")
        assert page.inner_text("#status") == "Under behandling"
        page.fill("#reply", "Vi ringer deg i morgen klokka 10.")
        page.fill("#reply_en", "We will call you tomorrow at 10.")
        page.click("#preview")
        outgoing = page.inner_text("#outgoing")
        assert outgoing.startswith(CATALOG.text("case.reply_norwegian", "ar"))  # no ar package installed
        page.click("#send")
        assert page.inner_text("#status") == "Besvart"
        page.screenshot(path=str(ROOT / "var" / "desk-case.png"), full_page=True)
        page.click("#close")
        page.goto(f"{server.url}/desk/")
        assert normal["reference"] not in page.inner_text("main")
        request_id = cases.add_interpreter_request(urgent["id"], json.dumps(
            {"appointment": "fastlege", "place": "Sandvika", "date": "2026-11-24", "language": "so"}))
        page.click("text=Tolk")
        block = page.locator(f"#request-{request_id}")
        block.locator("input.date").fill(APPOINTMENT_DAY)
        block.locator("input.time").fill("10:00")
        block.locator("input.interpreter").fill("Tolk Ali")
        block.locator("button.confirm").click()
        assert page.locator(f"#request-{request_id}").get_attribute("data-status") == "confirmed"
        browser.close()
    inbox = read_inbox(server.url, "person2")
    assert "Vi ringer deg i morgen klokka 10." in inbox[0]["text"]
    assert inbox[0]["text"].endswith("English: We will call you tomorrow at 10.")
    assert read_inbox(server.url, "person2") == []
    told = read_inbox(server.url, "person1")
    assert told[0]["text"] == confirmation(CATALOG, {"appointment_date": APPOINTMENT_DAY, "appointment_time": "10:00",
                                                     "place": "Sandvika", "interpreter_language": "so",
                                                     "reference": urgent["reference"]}, "so")
    log = [a["action"] for a in cases.audit_log(normal["id"])]
    assert log == ["opened", "claimed", "replied", "closed"]


def read_inbox(url: str, sender: str) -> list[dict]:
    """What the web chat page does: fetch, show, acknowledge by id."""
    got = httpx.post(f"{url}/api/inbox", json={"sender": sender, "ack": []}).json()["messages"]
    httpx.post(f"{url}/api/inbox", json={"sender": sender, "ack": [m["id"] for m in got]})
    return got


def test_new_cases_are_notified_once_without_personal_details() -> None:
    import asyncio

    cases = CaseStore()
    case, _ = cases.open_case(sender="sms:+4791234567", channel="sms", language="ti", topic="nav", text="ሓገዝ")
    posted: list[str] = []

    async def post(text: str) -> None:
        posted.append(text)

    assert asyncio.run(notify_new_cases(cases, post, "http://127.0.0.1:8080/desk")) == 1
    assert asyncio.run(notify_new_cases(cases, post, "http://127.0.0.1:8080/desk")) == 0
    assert posted == [notice(case, "http://127.0.0.1:8080/desk")]
    assert "+47" not in posted[0] and "ሓገዝ" not in posted[0] and case["reference"] in posted[0]


def test_create_user_command(tmp_path: Path) -> None:
    db = tmp_path / "cases.db"
    run = subprocess.run([sys.executable, "-m", "caseworkers.desk", "create-user", "ola", "--password-stdin"],
                         input="a long enough password\n", capture_output=True, text=True, cwd=ROOT,
                         env={"CASES_DB": str(db), "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)})
    assert run.returncode == 0, run.stderr
    assert CaseStore(db).check_password("ola", "a long enough password")
    short = subprocess.run([sys.executable, "-m", "caseworkers.desk", "create-user", "ola", "--password-stdin"],
                           input="short\n", capture_output=True, text=True, cwd=ROOT,
                           env={"CASES_DB": str(db), "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)})
    assert short.returncode == 2


def test_interpreter_requests_are_confirmed_or_declined_and_the_person_told(desk) -> None:
    server, cases, _ = desk
    case, _ = cases.open_case(sender="web:person9", channel="web", language="nb", topic="interpreter",
                              text="Tolkebestilling")
    first = cases.add_interpreter_request(case["id"], json.dumps({"appointment": "nav", "place": "NAV Bærum",
                                                                  "date": "2026-11-24", "language": "nb"}))
    second = cases.add_interpreter_request(case["id"], json.dumps({"appointment": "fastlege", "language": "nb"}))
    with httpx.Client() as client:
        login(client, server.url)
        page = client.get(f"{server.url}/desk/interpreters")
        assert "NAV Bærum" in page.text
        token = re.search(r'name="csrf" value="([^"]+)"', page.text)[1]
        r = client.post(f"{server.url}/desk/interpreters/{first}/confirm",
                        data={"csrf": token, "date": APPOINTMENT_DAY, "time": "24.11 kl. 10", "place": "NAV Bærum",
                              "interpreter": "Tolk Hansen", "interpreter_language": "ar"})
        assert r.status_code == 422  # a time is HH:MM
        r = client.post(f"{server.url}/desk/interpreters/{first}/confirm",
                        data={"csrf": token, "date": APPOINTMENT_DAY, "time": "10:00", "place": "NAV Bærum",
                              "interpreter": "Tolk Hansen", "interpreter_language": "ar"})
        assert r.status_code == 303
        r = client.post(f"{server.url}/desk/interpreters/{second}/decline", data={"csrf": token, "reason": ""})
        assert r.status_code == 422  # a reason is needed
        client.post(f"{server.url}/desk/interpreters/{second}/decline", data={"csrf": token, "reason": "Ingen ledig tolk"})
    told = read_inbox(server.url, "person9")
    assert told[0]["text"].startswith("Det er bestilt tolk (arabisk) til timen din ")
    assert "klokka 10:00, sted: NAV Bærum" in told[0]["text"] and "Ingen ledig tolk" in told[1]["text"]
    statuses = {r["id"]: r["status"] for r in cases.interpreter_requests()}
    assert statuses == {first: "confirmed", second: "declined"}


def test_reply_is_machine_translated_when_a_package_is_installed(tmp_path: Path) -> None:
    from tests.unit.test_translate import build_package

    translator = Translator(tmp_path / "argos")
    translator.install(build_package(tmp_path / "build", "nb", "so"))
    cases = CaseStore()
    cases.create_caseworker("kari", PASSWORD)
    case, _ = cases.open_case(sender="web:p3", channel="web", language="so", topic="nav", text="caawin")
    store = Store()
    app = create_server(Settings(desk_secret="y" * 40), assistant=FakeAssistant(), store=store, catalog=CATALOG,
                        cases=cases, translator=translator)
    with LoopbackServer(app) as server, httpx.Client() as client:
        login(client, server.url)
        page = client.get(f"{server.url}/desk/cases/{case['reference']}")
        token = re.search(r'name="csrf" value="([^"]+)"', page.text)[1]
        preview = client.post(f"{server.url}/desk/cases/{case['reference']}/preview",
                              data={"csrf": token, "text": "Vi ringer deg i morgen."})
        assert CATALOG.text("case.reply_translated", "so") in preview.text
        client.post(f"{server.url}/desk/cases/{case['reference']}/send",
                    data={"csrf": token, "text": "Vi ringer deg i morgen."})
        sent = read_inbox(server.url, "p3")
    assert sent[0]["text"].startswith(CATALOG.text("case.reply_translated", "so"))
    assert cases.messages(case["id"])[-1]["machine_translated"] == 1


# -- the helpdesk in a real browser ------------------------------------------------------------------

SCREENSHOTS = ROOT / "docs" / "screenshots"
PHONE = {"width": 390, "height": 844}


def launch(p):  # type: ignore[no-untyped-def]
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    return p.chromium.launch(executable_path=chromium, headless=True, args=[
        "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"])


def browser_login(page, url: str, name: str = "kari") -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{url}/desk/login")
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")


def overflow(page) -> int:  # type: ignore[no-untyped-def]
    return page.evaluate("document.documentElement.scrollWidth")


TI_FACTS = {"topic": "housing", "question": "housing/landlord_problems", "answers_given": ["housing/deposit"],
            "reason": "offered", "misunderstood": 2, "municipality": "Bærum"}


def test_a_tigrinya_case_is_read_and_answered_in_tigrinya_without_translation(desk) -> None:
    from playwright.sync_api import sync_playwright

    server, cases, _ = desk
    case, _ = cases.open_case(sender="web:ti7", channel="web", language="ti", topic="housing",
                              text="ዋና ገዛ ንኽልተ ሰሙን ኣይመለሰለይን፡ ማይ ውዑይ የለን", facts=TI_FACTS)
    cases.open_case(sender="sms:+4790000001", channel="sms", language="so", topic="emergency", text="caawin",
                    urgent=True, danger="violence")
    cases.open_case(sender="tg:5", channel="tg", language="ar", topic="nav", text="متى يأتي الدعم؟")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page(viewport=PHONE)
        browser_login(page, server.url)
        assert page.title() == "(3) Kø – Nabo"
        assert overflow(page) <= 390
        page.screenshot(path=str(SCREENSHOTS / "desk-queue-phone.png"), full_page=True)
        page.click(f"text={case['reference']}")
        summary = page.inner_text("#summary")
        for words in ("Bolig", "Problemer med utleier", "Depositum", "tigrinja", "Ja, tolk på tigrinja", "Bærum"):
            assert words in summary, words
        assert "maskinoversatt" not in summary
        assert overflow(page) <= 390
        page.select_option("#source", "answer:housing/landlord_problems")
        page.click("#insert")
        from actions.knowledge import knowledge

        assert page.inner_text("#ready-text") == knowledge().render("housing/landlord_problems", "ti")
        assert page.inner_text("#ready-nb") == knowledge().render("housing/landlord_problems", "nb")
        assert overflow(page) <= 390
        page.screenshot(path=str(SCREENSHOTS / "desk-case-phone.png"), full_page=True)
        page.click("#send-ready")
        assert "sendt som skrevet" in page.inner_text("main")
        wide = browser.new_page(viewport={"width": 1280, "height": 900})
        browser_login(wide, server.url)
        wide.click(f"text={case['reference']}")
        wide.screenshot(path=str(SCREENSHOTS / "desk-case.png"), full_page=True)
        browser.close()
    told = read_inbox(server.url, "ti7")
    assert told[0]["text"].startswith(CATALOG.text("case.reply_from_caseworker", "ti"))
    assert cases.messages(case["id"])[-1]["machine_translated"] == 0


def test_two_caseworkers_race_for_a_case_and_the_second_is_warned(desk) -> None:
    from playwright.sync_api import sync_playwright

    server, cases, _ = desk
    cases.create_caseworker("ola", PASSWORD)
    case, _ = cases.open_case(sender="web:race", channel="web", language="ar", topic="nav", text="سؤال")
    with sync_playwright() as p:
        browser = launch(p)
        kari, ola = browser.new_context().new_page(), browser.new_context(viewport=PHONE).new_page()
        browser_login(kari, server.url, "kari")
        browser_login(ola, server.url, "ola")
        for page in (kari, ola):  # both see the case unassigned
            page.goto(f"{server.url}/desk/cases/{case['reference']}")
            assert "ingen behandler" in page.inner_text("#summary")
        kari.click("#claim")
        assert kari.inner_text("#assignee") == "kari"
        ola.click("#claim")  # too late: a warning, not a silent take-over
        assert "kari har denne saken" in ola.inner_text("#taken")
        assert overflow(ola) <= 390
        assert cases.get(case["reference"])["assignee"] == "kari"
        ola.click("#takeover")
        assert ola.inner_text("#assignee") == "ola"
        assert "ola tok saken fra kari" in ola.inner_text("#history")
        cases.add_interpreter_request(case["id"], json.dumps({"appointment": "fastlege", "place": "Sandvika",
                                                              "mode": "in_person", "notes": "x" * 300}))
        cases.record_unanswered("ar", "nav", "س" * 400, None)
        for path in ("/desk/interpreters", "/desk/unanswered", "/desk/?status=closed", "/desk/?q=nothing"):
            ola.goto(server.url + path)
            assert overflow(ola) <= 390, path
        browser.close()
def test_nothing_is_sent_into_an_erased_case(desk) -> None:
    """Security review: "send" went into a case the person had erased. Nor
    does an interpreter decision go to a person erased since."""
    server, cases, store = desk
    case, _ = cases.open_case(sender="web:gone1234", channel="web", language="nb", topic="nav", text="hjelp")
    request = cases.add_interpreter_request(case["id"], json.dumps({"appointment": "nav", "language": "nb"}))
    cases.forget("web:gone1234")
    with httpx.Client() as client:
        login(client, server.url)
        page = client.get(f"{server.url}/desk/cases/{case['reference']}")
        token = re.search(r'name="csrf" value="([^"]+)"', page.text)[1]
        r = client.post(f"{server.url}/desk/cases/{case['reference']}/send", data={"csrf": token, "text": "Hei!"})
        assert r.status_code == 409 and "Ingenting ble sendt" in r.text
        r = client.post(f"{server.url}/desk/interpreters/{request}/confirm",
                        data={"csrf": token, "time": "fredag 10", "interpreter": "Tolk Hansen"})
        assert r.status_code == 409
    assert [m["direction"] for m in cases.messages(case["id"])] == ["in"]  # no reply recorded
    assert list(store.rows("outbound")) == []
    assert cases.interpreter_requests()[0]["status"] == "requested"
