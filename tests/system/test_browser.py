"""The local chat page in real headless Chromium (Debian's package): a
person writes in Arabic and in Tigrinya, gets answers in that language,
right-to-left for Arabic, and picks a language with the buttons."""

from __future__ import annotations

import shutil

import pytest

from actions.knowledge import catalog
from tests.training_data import ROOT

pytestmark = [pytest.mark.stack, pytest.mark.browser]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-quic"]


@pytest.fixture()
def page(stack, tmp_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        context = browser.new_context(locale="en-GB")
        pg = context.new_page()
        pg.goto(stack.webchat_url)
        yield pg
        context.close()
        browser.close()


def send(page, text: str) -> None:
    count = page.locator(".msg.bot").count()
    page.fill("#input", text)
    page.press("#input", "Enter")
    # The page's CSP forbids eval, so wait with locators, not wait_for_function.
    page.locator(".msg.bot").nth(count).wait_for(timeout=30000)


def test_arabic_question_is_answered_in_arabic_right_to_left(page) -> None:
    send(page, "بدي fastlege لابني الصغير، كيف بسجل؟")
    # the answer with its source as a link (a first contact also gets the privacy notice after it)
    bubble = page.locator(".msg.bot", has=page.locator("a[href^='https://']")).last
    assert bubble.evaluate("el => getComputedStyle(el).direction") == "rtl"
    assert bubble.locator("a[href^='https://']").count() == 1
    page.screenshot(path=str(ROOT / "var" / "chat-arabic.png"), full_page=True)


def test_language_buttons_switch_the_page_and_the_answers(page) -> None:
    page.locator("#languages button[data-lang='ti']").click()
    page.locator(".msg.bot").first.wait_for(timeout=30000)
    said = page.locator(".msg.bot").all_inner_texts()
    assert any(t.startswith(catalog().text("language.changed", "ti")) for t in said)
    assert page.get_attribute("#input", "placeholder") == catalog().text("web.placeholder", "ti")
    page.locator("#languages button[data-lang='fa']").click()
    page.locator("html[dir='rtl']").wait_for(state="attached", timeout=10000)
    send(page, "NAV")
    assert page.evaluate("document.documentElement.lang") == "fa"


def test_buttons_in_replies_can_be_pressed(page) -> None:
    send(page, "hello")
    buttons = page.locator(".msg.bot").last.locator(".buttons button")
    assert buttons.count() == 8  # the languages; the welcome before it offers the checklist
    before = page.locator(".msg.bot").count()
    buttons.nth(2).click()  # a language (العربية)
    page.locator(".msg.bot").nth(before).wait_for(timeout=30000)
    said = page.locator(".msg.bot").all_inner_texts()[before:]
    assert said[0].startswith(catalog().text("language.changed", "ar"))  # then the privacy notice, in Arabic


def test_the_erase_button_erases_the_conversation_and_the_device_forgets(page, stack) -> None:
    """"Slett samtalen min" in the page's language: everything kept for the
    page's id goes (the tracker store too), and the browser forgets the id."""
    import httpx

    page.locator("#languages button[data-lang='uk']").click()
    page.locator(".msg.bot").first.wait_for(timeout=30000)
    assert page.inner_text("#erase") == catalog().text("web.erase.button", "uk")
    send(page, "Як записатися до fastlege?")
    old = page.evaluate("localStorage.getItem('nabo.sender')")
    tracker = httpx.get(stack.api(f"/conversations/web:{old}/tracker"), timeout=10).json()
    assert [e["event"] for e in tracker["events"]].count("user") >= 2
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#erase")
    page.locator(".msg.bot", has_text=catalog().text("delete.done", "uk")).wait_for(timeout=30000)
    assert page.locator(".msg.user").count() == 0  # the screen is cleared too
    assert page.evaluate("localStorage.getItem('nabo.lang')") is None
    assert page.evaluate("localStorage.getItem('nabo.sender')") not in (None, old)
    tracker = httpx.get(stack.api(f"/conversations/web:{old}/tracker"), timeout=10).json()
    assert [e["event"] for e in tracker["events"]].count("user") == 0
    page.screenshot(path=str(ROOT / "var" / "chat-erased.png"), full_page=True)
