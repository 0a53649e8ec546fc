"""The web chat keeps its history on the device: after a reload the same
person (sender id) sees the conversation again, the case reference and a
caseworker's reply included, each bubble once; the history is bounded; the
erase button clears it on the device and erases the person on the server.
Real headless Chromium (Debian's package) against the channel server on
loopback, with the scripted assistant."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from locales.catalog import Catalog
from tests.system.test_case_thread import Desk, server
from tests.training_data import ROOT

pytestmark = [pytest.mark.browser]
CATALOG = Catalog.load()
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-quic"]


def send(page, text: str) -> None:  # type: ignore[no-untyped-def]
    count = page.locator(".msg.bot").count()
    page.fill("#input", text)
    page.press("#input", "Enter")
    page.locator(".msg.bot").nth(count).wait_for(timeout=30000)


def test_history_survives_a_reload_and_erasing_clears_it(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    srv, cases, assistant = server(tmp_path, "ar")
    with srv, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        page = browser.new_context(locale="ar").new_page()
        page.goto(srv.url)
        send(page, "أريد التحدث مع موظف من البلدية")
        before = page.locator(".msg.bot").count()
        page.locator(".msg.bot").last.locator(".buttons button", has_text="Ja").click()  # -> /caseworker
        page.locator(".msg.bot").nth(before).wait_for(timeout=30000)
        sender = page.evaluate("() => localStorage.getItem('nabo.sender')")
        case = cases.open_case_of(f"web:{sender}")
        assert case is not None and f"Sak {case['reference']}" in page.locator(".msg.bot").last.inner_text()
        send(page, "صاحب البيت لم يصلح التدفئة")  # to the case: the notice, once
        assert case["reference"] in page.locator(".msg.bot").last.inner_text()
        assert Desk(srv.url).act(case["reference"], "send", text="Vi ringer utleier i dag.").status_code == 303

        page.reload()  # the page fetches the caseworker's reply at once
        page.locator(".msg.bot", has_text="Vi ringer utleier i dag.").wait_for(timeout=30000)
        said = page.locator(".msg").all_inner_texts()
        assert said[0] == "أريد التحدث مع موظف من البلدية" and any(case["reference"] in t for t in said)
        assert page.evaluate("() => localStorage.getItem('nabo.sender')") == sender  # the same person
        page.reload()
        page.locator(".msg.bot", has_text="Vi ringer utleier i dag.").wait_for(timeout=30000)
        page.wait_for_timeout(1500)  # the poll on load has answered: nothing is shown twice
        again = page.locator(".msg").all_inner_texts()
        assert sum("Vi ringer utleier i dag." in t for t in again) == 1 and len(again) == len(said)
        page.screenshot(path=str(ROOT / "var" / "chat-history.png"), full_page=True)

        # bounded: the device keeps the last 100 bubbles
        page.evaluate("() => localStorage.setItem('nabo.history', JSON.stringify(Array.from({length: 100}, "
                      "(_, i) => ({kind: 'bot', text: 'old ' + i, buttons: [], id: null}))))")
        page.reload()
        page.fill("#input", "وشي آخر")  # to the open case: no reply, the person was told already
        page.press("#input", "Enter")
        page.locator(".msg.user", has_text="وشي آخر").wait_for(timeout=30000)
        history = json.loads(page.evaluate("() => localStorage.getItem('nabo.history')"))
        assert len(history) == 100 and history[0]["text"] == "old 1" and history[-1]["text"] == "وشي آخر"

        # erasing clears the device and the server
        page.on("dialog", lambda dialog: dialog.accept())
        page.click("#erase")
        page.locator(".msg.bot", has_text=CATALOG.text("delete.done", "nb")).wait_for(timeout=30000)
        assert page.evaluate("() => localStorage.getItem('nabo.history')") in (None, "[]")
        assert page.evaluate("() => localStorage.getItem('nabo.sender')") != sender
        assert f"web:{sender}" in assistant.forgotten and cases.open_case_of(f"web:{sender}") is None
        assert all(m["text_original"] is None for m in cases.messages(case["id"]))
        page.reload()
        page.wait_for_timeout(1000)
        assert page.locator(".msg").count() == 0
        browser.close()
