"""The desk's accounts through HTTP (Starlette TestClient): a copied session
cookie is refused after logout, one caseworker's lock-out does not lock out
a colleague behind the same address, a disabled caseworker's session ends,
only admins manage accounts, a caseworker changes their own password,
scrypt never runs on the event loop, and two tabs deciding one interpreter
request: the second is told who decided it, and the person is told once."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from caseworkers import accounts as accounts_module
from caseworkers.accounts import MAX_USER_FAILURES, Accounts
from caseworkers.appointments import cancellation, confirmation
from caseworkers.cases import CaseStore
from caseworkers.translate import Translator
from channels.app import create_server
from channels.store import Store
from core.config import Settings
from locales.catalog import Catalog
from tests.fakes.servers import FakeAssistant

CATALOG = Catalog.load()
ADMIN_PASSWORD, KARI_PASSWORD = "the admin's long password", "correct horse battery"
DAY = (dt.date.today() + dt.timedelta(days=10)).isoformat()


def server(tmp: Path, **settings: object):  # type: ignore[no-untyped-def]
    cases = CaseStore(tmp / "cases.db")
    cases.create_caseworker("anne", ADMIN_PASSWORD)  # the first account: admin
    cases.create_caseworker("kari", KARI_PASSWORD)
    app = create_server(Settings(bot_db=str(tmp / "bot.db"), cases_db=str(tmp / "cases.db"),
                                 tracker_db=str(tmp / "tracker.db"), sms_gateway="none", **settings),
                        assistant=FakeAssistant(), store=Store(tmp / "bot.db"), catalog=CATALOG, cases=cases,
                        translator=Translator(tmp / "argos"))
    return app, cases


@pytest.fixture()
def desk(tmp_path: Path):
    return server(tmp_path)


def token_of(page: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page)[1]  # type: ignore[index]


def login(client: TestClient, username: str = "kari", password: str = KARI_PASSWORD):  # type: ignore[no-untyped-def]
    token = token_of(client.get("/desk/login").text)
    return client.post("/desk/login", data={"csrf": token, "username": username, "password": password},
                       follow_redirects=False)


def test_the_cookie_holds_only_an_id_scoped_to_the_desk(tmp_path: Path) -> None:
    app, cases = server(tmp_path / "http")
    r = login(TestClient(app))
    cookie = r.headers["set-cookie"]
    value = re.match(r"desk_session=([^;]+);", cookie)[1]  # type: ignore[index]
    assert "Path=/desk" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie and "Secure" not in cookie
    assert Accounts(cases).session(value)["username"] == "kari" and "kari" not in value
    app, _ = server(tmp_path / "https", public_url="https://nabo.example.no")
    assert "Secure" in login(TestClient(app)).headers["set-cookie"]


def test_a_copied_cookie_is_refused_after_logout(desk) -> None:
    app, _ = desk
    tab = TestClient(app)
    assert login(tab).status_code == 303
    copied = tab.cookies["desk_session"]
    thief = TestClient(app, cookies={"desk_session": copied})
    assert thief.get("/desk/", follow_redirects=False).status_code == 200  # the copy works while logged in
    tab.post("/desk/logout", data={"csrf": token_of(tab.get("/desk/").text)}, follow_redirects=False)
    r = thief.get("/desk/", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/desk/login"
    assert tab.get("/desk/", follow_redirects=False).status_code == 303

    login(tab)  # logging in again in the same browser ends the session it had
    before = tab.cookies["desk_session"]
    login(tab)
    assert TestClient(app, cookies={"desk_session": before}).get("/desk/", follow_redirects=False).status_code == 303


def test_one_locked_out_caseworker_does_not_lock_out_a_colleague_at_the_same_address(desk) -> None:
    app, cases = desk
    office = TestClient(app)  # every TestClient request comes from the same address
    statuses = [login(office, "kari", "wrong password!!").status_code for _ in range(MAX_USER_FAILURES + 1)]
    assert statuses == [401] * MAX_USER_FAILURES + [429]
    assert login(office, "kari").status_code == 429  # even the right password, for a while
    assert login(TestClient(app), "anne", ADMIN_PASSWORD).status_code == 303  # the colleague gets in
    actions = [a["action"] for a in Accounts(cases).login_audit()]
    assert actions.count("login failed") == MAX_USER_FAILURES  # attempts while locked out are not added
    assert "kari" not in str(list(cases.db["login_failures"].rows))


def test_a_disabled_caseworkers_session_ends_at_once(desk) -> None:
    app, cases = desk
    kari, anne = TestClient(app), TestClient(app)
    login(kari)
    login(anne, "anne", ADMIN_PASSWORD)
    assert kari.get("/desk/", follow_redirects=False).status_code == 200
    page = anne.get("/desk/accounts")
    r = anne.post("/desk/accounts/disable", data={"csrf": token_of(page.text), "username": "kari"})
    assert r.status_code == 200 and "Kontoen kari er deaktivert" in r.text
    assert kari.get("/desk/", follow_redirects=False).status_code == 303
    assert login(TestClient(app)).status_code == 401  # and cannot log in again
    anne.post("/desk/accounts/enable", data={"csrf": token_of(page.text), "username": "kari"})
    assert login(TestClient(app)).status_code == 303


def test_only_an_admin_reaches_the_accounts_page_and_creates_accounts(desk) -> None:
    app, cases = desk
    kari = TestClient(app)
    login(kari)
    queue = kari.get("/desk/")
    assert "/desk/accounts" not in queue.text
    assert kari.get("/desk/accounts").status_code == 403
    r = kari.post("/desk/accounts/create", data={"csrf": token_of(queue.text), "username": "mallory",
                                                 "password": "a long password!", "repeat": "a long password!",
                                                 "role": "admin"})
    assert r.status_code == 403 and Accounts(cases).get("mallory") is None
    assert TestClient(app).get("/desk/accounts", follow_redirects=False).status_code == 303  # not logged in

    anne = TestClient(app)
    login(anne, "anne", ADMIN_PASSWORD)
    page = anne.get("/desk/accounts")
    assert page.status_code == 200 and "kari" in page.text
    data = {"csrf": token_of(page.text), "username": "ola", "password": "ola's first password",
            "repeat": "ola's first password", "role": "caseworker"}
    assert "brukernavnet" in anne.post("/desk/accounts/create", data=data).text  # contains the user name
    data |= {"password": "a first password", "repeat": "a first password"}
    assert "Kontoen ola er opprettet" in anne.post("/desk/accounts/create", data=data).text
    assert Accounts(cases).get("ola")["role"] == "caseworker"
    assert login(TestClient(app), "ola", "a first password").status_code == 303
    reset = {"csrf": data["csrf"], "username": "ola", "password": "a second password", "repeat": "a second password"}
    assert anne.post("/desk/accounts/reset", data=reset).status_code == 200
    assert login(TestClient(app), "ola", "a second password").status_code == 303


def test_a_caseworker_changes_their_own_password(desk) -> None:
    app, cases = desk
    here, elsewhere = TestClient(app), TestClient(app)
    login(here)
    login(elsewhere)
    token = token_of(here.get("/desk/password").text)
    wrong = here.post("/desk/password", data={"csrf": token, "current": "not my password", "new": "a new password!",
                                              "repeat": "a new password!"})
    assert wrong.status_code == 422 and "Nåværende passord er feil" in wrong.text
    ok = here.post("/desk/password", data={"csrf": token, "current": KARI_PASSWORD, "new": "a new password!",
                                           "repeat": "a new password!"})
    assert ok.status_code == 200 and "Passordet er endret" in ok.text
    assert here.get("/desk/", follow_redirects=False).status_code == 200  # this tab stays logged in
    assert elsewhere.get("/desk/", follow_redirects=False).status_code == 303  # the others end
    assert cases.check_password("kari", "a new password!") and not cases.check_password("kari", KARI_PASSWORD)


def test_scrypt_never_runs_on_the_event_loop(desk, monkeypatch: pytest.MonkeyPatch) -> None:
    app, _ = desk
    calls: list[bool] = []
    real = accounts_module.verify_password

    def verify(password: str, stored: str) -> bool:
        try:
            asyncio.get_running_loop()
            calls.append(True)  # on the event loop
        except RuntimeError:
            calls.append(False)  # in a worker thread
        return real(password, stored)

    monkeypatch.setattr(accounts_module, "verify_password", verify)
    client = TestClient(app)
    assert login(client).status_code == 303 and login(client, "kari", "wrong password!!").status_code == 401
    token = token_of(client.get("/desk/password").text)
    client.post("/desk/password", data={"csrf": token, "current": KARI_PASSWORD, "new": "a new password!",
                                        "repeat": "a new password!"})
    assert calls == [False, False, False]


def test_two_tabs_deciding_one_interpreter_request(desk) -> None:
    app, cases = desk
    case, _ = cases.open_case(sender="web:person-ti", channel="web", language="ti", topic="interpreter", text="ተርጓሚ")
    request_id = cases.add_interpreter_request(case["id"], json.dumps({"appointment": "nav", "place": "NAV Bærum",
                                                                      "date": DAY, "language": "ti"}))
    kari, anne = TestClient(app), TestClient(app)
    login(kari)
    login(anne, "anne", ADMIN_PASSWORD)
    kari_page, anne_page = kari.get("/desk/interpreters").text, anne.get("/desk/interpreters").text
    assert f'value="{DAY}"' in kari_page and 'value="NAV Bærum"' in kari_page  # what the person asked for
    appointment = {"date": DAY, "time": "09:30", "place": "NAV Bærum", "interpreter": "Tolk Ali",
                   "interpreter_language": "ti"}
    r = kari.post(f"/desk/interpreters/{request_id}/confirm", data={"csrf": token_of(kari_page)} | appointment,
                  follow_redirects=False)
    assert r.status_code == 303
    second = anne.post(f"/desk/interpreters/{request_id}/decline",
                       data={"csrf": token_of(anne_page), "reason": "Ingen ledig tolk"})
    assert second.status_code == 409 and "allerede avgjort av kari" in second.text and "Ingenting ble sendt" in second.text
    row = cases.interpreter_request(request_id)
    told = read_inbox(kari, "person-ti")
    assert [m["text"] for m in told] == [confirmation(CATALOG, row, "ti")]
    assert "ሰዓት 9:30" in told[0]["text"] and "ትግርኛ" in told[0]["text"]

    cancel = anne.post(f"/desk/interpreters/{request_id}/cancel", data={"csrf": token_of(anne_page), "reason": ""})
    assert cancel.status_code == 422  # a reason is needed
    r = anne.post(f"/desk/interpreters/{request_id}/cancel",
                  data={"csrf": token_of(anne_page), "reason": "Legen er syk"}, follow_redirects=False)
    assert r.status_code == 303 and cases.interpreter_request(request_id)["status"] == "cancelled"
    told = read_inbox(kari, "person-ti")
    assert len(told) == 1 and told[0]["text"].startswith(cancellation(CATALOG, row, "ti"))
    assert "Legen er syk" in told[0]["text"]  # no ti package: the Norwegian reason, marked so
    again = kari.post(f"/desk/interpreters/{request_id}/cancel", data={"csrf": token_of(kari_page), "reason": "x"})
    assert again.status_code == 409 and "allerede avgjort av anne (avlyst)" in again.text


def read_inbox(client: TestClient, sender: str) -> list[dict]:
    got = client.post("/api/inbox", json={"sender": sender, "ack": []}).json()["messages"]
    client.post("/api/inbox", json={"sender": sender, "ack": [m["id"] for m in got]})
    return got


def test_head_requests_and_a_non_ascii_csrf_token_are_answered_not_crashed(desk) -> None:
    app, _ = desk
    anne = TestClient(app)
    login(anne, "anne", ADMIN_PASSWORD)
    assert anne.head("/desk/accounts").status_code == 200 and anne.head("/desk/password").status_code == 200
    assert TestClient(app).head("/desk/login").status_code == 200
    r = TestClient(app).post("/desk/login", data={"csrf": "æøå", "username": "kari", "password": KARI_PASSWORD})
    assert r.status_code == 403
    refused = anne.post("/desk/accounts/create", data={"csrf": "\u00e6" * 43, "username": "mallory"})
    assert refused.status_code == 403 and "Skjemaet er utløpt" in refused.text


def test_two_browser_tabs_and_a_copied_cookie_in_chromium(tmp_path: Path) -> None:
    """The same in a real browser: the form's date and time inputs, a stale
    second tab, and a session cookie copied into another browser."""
    import shutil

    from playwright.sync_api import sync_playwright

    from tests.fakes.servers import LoopbackServer

    app, cases = server(tmp_path)
    case, _ = cases.open_case(sender="web:person-ar", channel="web", language="ar", topic="interpreter", text="مترجم")
    request_id = cases.add_interpreter_request(case["id"], json.dumps({"appointment": "nav", "place": "NAV Bærum",
                                                                      "date": DAY, "language": "ar"}))
    with LoopbackServer(app) as live, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium", headless=True,
                                    args=["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                                          "--disable-background-networking", "--disable-component-update",
                                          "--disable-sync"])
        context = browser.new_context()
        first = context.new_page()
        first.goto(f"{live.url}/desk/login")
        first.fill("input[name=username]", "kari")
        first.fill("input[name=password]", KARI_PASSWORD)
        first.click("button[type=submit]")
        second = context.new_page()
        for tab in (first, second):
            tab.goto(f"{live.url}/desk/interpreters")
        block = first.locator(f"#request-{request_id}")
        block.locator("input.time").fill("14:45")
        block.locator("button.confirm").click()
        assert first.locator(f"#request-{request_id}").get_attribute("data-status") == "confirmed"
        stale = second.locator(f"#request-{request_id}")
        stale.locator("input.reason").fill("Ingen ledig tolk")
        stale.locator("button.decline").click()
        assert "allerede avgjort av kari (bekreftet)" in second.inner_text("[role=alert]")

        copied = context.cookies()
        assert [c["path"] for c in copied if c["name"] == "desk_session"] == ["/desk"]
        first.click("text=Logg ut")
        other = browser.new_context()
        other.add_cookies([c for c in copied if c["name"] == "desk_session"])
        thief = other.new_page()
        thief.goto(f"{live.url}/desk/interpreters")
        assert thief.url.endswith("/desk/login")
        browser.close()
    row = cases.interpreter_request(request_id)
    assert (row["status"], row["appointment_date"], row["appointment_time"], row["place"]) == (
        "confirmed", DAY, "14:45", "NAV Bærum")
    told = read_inbox(TestClient(app), "person-ar")
    assert [m["text"] for m in told] == [confirmation(CATALOG, row, "ar")]
