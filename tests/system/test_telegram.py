"""Telegram through the real python-telegram-bot HTTP stack against a fake
Bot API server on loopback: polling and webhook mode."""

from __future__ import annotations

import time

import httpx
import pytest

from channels.app import TELEGRAM_SECRET_HEADER, create_server
from channels.store import Store
from channels.telegram import split_message
from core.config import Settings, SettingsError
from locales.catalog import Catalog
from tests.fakes.servers import FakeAssistant, FakeTelegram, LoopbackServer, callback_update, message_update, wait_for

CATALOG = Catalog.load()
TOKEN = "123456:TEST-token"
SECRET = "s3cret-s3cret-s3cret"


def bot_server(fake: FakeTelegram, assistant: FakeAssistant, mode: str = "polling") -> LoopbackServer:
    settings = Settings(telegram_token=TOKEN, telegram_api_url=fake.url, telegram_mode=mode,
                        telegram_webhook_secret=SECRET, retry_pending_seconds=0.2, default_language="nb",
                        telegram_webhook_url="https://bot.example.org/telegram/webhook")
    return LoopbackServer(create_server(settings, assistant=assistant, store=Store(), catalog=CATALOG))


def texts_to(fake: FakeTelegram, chat_id: int) -> list[str]:
    return [b["text"] for b in fake.sent() if int(b["chat_id"]) == chat_id]


def test_polling_text_buttons_and_callback_keys(telegram: FakeTelegram) -> None:
    assistant = FakeAssistant()
    with bot_server(telegram, assistant):
        telegram.add_update(message_update(1, 42, "jeg trenger lege"))
        wait_for(lambda: texts_to(telegram, 42))
        reply = telegram.sent()[0]
        assert reply["text"] == "Svar på: jeg trenger lege"
        keyboard = reply["reply_markup"]["inline_keyboard"]
        assert keyboard[0][0] == {"text": "Ja", "callback_data": "/caseworker"}
        long_key = keyboard[1][0]["callback_data"]
        assert long_key.startswith("k:") and len(long_key.encode()) <= 64  # mapped, never cut
        assert telegram.sent("sendChatAction")  # typing indicator
        telegram.add_update(callback_update(2, 42, long_key, telegram.keyboards[42]))
        wait_for(lambda: len(assistant.received) == 2)
        assert assistant.received[1] == ("tg:42", '/fastlege{"answer":"fastlege/get_gp","step":"1","x":"' + "y" * 40 + '"}')
        assert telegram.sent("editMessageReplyMarkup") and telegram.sent("answerCallbackQuery")


def test_a_button_from_an_older_message_is_answered_as_old_and_ignored(telegram: FakeTelegram) -> None:
    assistant = FakeAssistant()
    with bot_server(telegram, assistant):
        telegram.add_update(message_update(60, 43, "jeg trenger lege"))
        wait_for(lambda: 43 in telegram.keyboards)
        old = telegram.keyboards[43]
        telegram.add_update(message_update(61, 43, "og barnehage"))
        wait_for(lambda: telegram.keyboards[43] != old)
        telegram.add_update(callback_update(62, 43, "/caseworker", old))
        wait_for(lambda: telegram.sent("answerCallbackQuery"))
        assert telegram.sent("answerCallbackQuery")[0]["text"] == CATALOG.text("button.stale", "nb")
        time.sleep(0.3)
        assert [text for _, text in assistant.received] == ["jeg trenger lege", "og barnehage"]  # not acted on


def test_a_refusal_is_not_retried_and_a_blocked_person_does_not_hold_up_others(telegram: FakeTelegram) -> None:
    assistant = FakeAssistant()
    blocked = {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"}
    bad = {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"}
    telegram.failures = [("sendMessage", 403, blocked), ("sendMessage", 400, bad)]
    with bot_server(telegram, assistant) as server:
        store = server.server.config.app.state.store
        telegram.add_update(message_update(70, 44, "hei"))
        wait_for(lambda: [r for r in store.rows("inbound") if r["status"] == "undeliverable"])
        telegram.add_update(message_update(71, 46, "hallo"))
        wait_for(lambda: len([r for r in store.rows("inbound") if r["status"] == "undeliverable"]) == 2)
        # had the 400 been retried, the second try would have gone through: it was tried once
        assert telegram.failures == [] and texts_to(telegram, 46) == []
        telegram.add_update(message_update(72, 45, "hei"))
        wait_for(lambda: texts_to(telegram, 45))  # the others are answered
        time.sleep(0.5)  # several retry rounds (retry_pending_seconds=0.2)
        assert texts_to(telegram, 44) == [] and texts_to(telegram, 46) == []  # given up, not tried again


def test_each_update_once_and_commands(telegram: FakeTelegram) -> None:
    assistant = FakeAssistant()
    with bot_server(telegram, assistant):
        telegram.add_update(message_update(10, 7, "/start"))
        telegram.add_update(message_update(10, 7, "/start"))  # Telegram sent it twice
        telegram.add_update(message_update(11, 7, "/language"))
        wait_for(lambda: len(assistant.received) >= 2)
        assert assistant.received == [("tg:7", "/greet"), ("tg:7", "/language")]
        telegram.add_update(message_update(12, 7, "/checklist"))
        wait_for(lambda: len(assistant.received) == 3)
        assert assistant.received[2] == ("tg:7", '/greet{"show":"checklist"}')
        telegram.add_update(message_update(13, 7, "/help"))
        wait_for(lambda: CATALOG.text("help.text", "nb") in texts_to(telegram, 7))


def tiny_jpeg() -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (1, 1), "white").save(out, "JPEG")
    return out.getvalue()


def test_voice_photo_and_location_get_a_clear_answer(telegram: FakeTelegram) -> None:
    assistant = FakeAssistant()
    with bot_server(telegram, assistant):
        telegram.add_update(message_update(20, 9, None, voice={"file_id": "v", "file_unique_id": "v", "duration": 3}))
        telegram.add_update(message_update(21, 9, None, location={"latitude": 59.9, "longitude": 10.7}))
        telegram.files["p"] = tiny_jpeg()
        telegram.add_update(message_update(22, 9, None, photo=[{"file_id": "p", "file_unique_id": "p",
                                                                  "width": 1, "height": 1}]))
        wait_for(lambda: len(texts_to(telegram, 9)) == 3, timeout=30)
        texts = texts_to(telegram, 9)
        assert texts[0] == CATALOG.text("media.voice", "nb")
        assert texts[1] == CATALOG.text("media.unsupported", "nb")
        # a photo is taken for a letter: this one cannot be read, and the person is told why
        assert texts[2] in {CATALOG.text(f"letter.error.{code}", "nb", max_mb=10, max_pages=5)
                            for code in ("unreadable", "not_a_letter", "cut_off")}
        assert assistant.received == []


def test_delete_asks_first_then_erases(telegram: FakeTelegram) -> None:
    assistant = FakeAssistant()
    with bot_server(telegram, assistant):
        telegram.add_update(message_update(30, 5, "/delete"))
        wait_for(lambda: texts_to(telegram, 5))
        assert texts_to(telegram, 5)[0] == CATALOG.text("delete.confirm", "nb")
        telegram.add_update(callback_update(31, 5, "del:no", telegram.keyboards[5]))
        wait_for(lambda: CATALOG.text("delete.cancelled", "nb") in texts_to(telegram, 5))
        assert assistant.forgotten == []
        telegram.add_update(callback_update(32, 5, "del:yes", telegram.keyboards[5]))
        wait_for(lambda: CATALOG.text("delete.done", "nb") in texts_to(telegram, 5))
        assert assistant.forgotten == ["tg:5"]


def test_flood_limit_and_bad_gateway_are_retried(telegram: FakeTelegram) -> None:
    assistant = FakeAssistant()
    telegram.failures = [
        ("sendMessage", 429, {"ok": False, "error_code": 429, "description": "Too Many Requests: retry after 1",
                              "parameters": {"retry_after": 1}}),
        ("sendMessage", 502, {"ok": False, "error_code": 502, "description": "Bad Gateway"}),
    ]
    with bot_server(telegram, assistant):
        telegram.add_update(message_update(40, 3, "hei"))
        wait_for(lambda: texts_to(telegram, 3), timeout=30)
        assert texts_to(telegram, 3) == ["Svar på: hei"]
        assert telegram.failures == []


def test_assistant_down_keeps_the_message_and_answers_later(telegram: FakeTelegram) -> None:
    assistant = FakeAssistant()
    assistant.down = True
    with bot_server(telegram, assistant):
        telegram.add_update(message_update(50, 8, "Jeg trenger hjelp med husleie i kommunen"))
        wait_for(lambda: texts_to(telegram, 8))
        assert texts_to(telegram, 8)[0] == CATALOG.text("service.queued", "nb")
        assistant.down = False
        wait_for(lambda: len(texts_to(telegram, 8)) == 2)
        assert texts_to(telegram, 8)[1] == "Svar på: Jeg trenger hjelp med husleie i kommunen"


def test_long_answers_are_split_on_sentences(telegram: FakeTelegram) -> None:
    assistant = FakeAssistant()
    with bot_server(telegram, assistant):
        telegram.add_update(message_update(60, 6, "long"))
        wait_for(lambda: len(texts_to(telegram, 6)) >= 3)
        parts = texts_to(telegram, 6)
        assert all(len(p) <= 4096 for p in parts)
        assert all(p.endswith(".") for p in parts)
        assert "".join(parts).replace(" ", "") == ("Første setning er her. " * 400).replace(" ", "")


def test_webhook_checks_the_secret_token(telegram: FakeTelegram) -> None:
    assistant = FakeAssistant()
    with bot_server(telegram, assistant, mode="webhook") as server:
        registered = telegram.sent("setWebhook")[0]
        assert registered["url"] == "https://bot.example.org/telegram/webhook" and registered["secret_token"] == SECRET
        url = f"{server.url}/telegram/webhook"
        update = message_update(70, 11, "hei")
        assert httpx.post(url, json=update).status_code == 403
        assert httpx.post(url, json=update, headers={TELEGRAM_SECRET_HEADER: "wrong"}).status_code == 403
        assert assistant.received == []
        assert httpx.post(url, json=update, headers={TELEGRAM_SECRET_HEADER: SECRET}).status_code == 200
        wait_for(lambda: texts_to(telegram, 11))
        assert assistant.received == [("tg:11", "hei")]
        assert httpx.post(url, content=b"{nope", headers={TELEGRAM_SECRET_HEADER: SECRET,
                                                          "content-type": "application/json"}).status_code == 400


def test_webhook_mode_refuses_to_start_without_a_secret() -> None:
    with pytest.raises(SettingsError):
        Settings(telegram_token=TOKEN, telegram_mode="webhook", telegram_webhook_secret="").check()


def test_split_message_keeps_everything() -> None:
    text = "Kort. " + "x" * 5000 + " slutt."
    parts = split_message(text)
    assert all(len(p) <= 4096 for p in parts)
    assert "".join(parts).replace(" ", "") == text.replace(" ", "")


def test_new_cases_are_posted_to_the_caseworkers_group(telegram: FakeTelegram) -> None:
    from caseworkers.cases import CaseStore

    cases = CaseStore()
    case, _ = cases.open_case(sender="sms:+4791234567", channel="sms", language="so", topic="nav", text="caawin",
                              urgent=True)
    settings = Settings(telegram_token=TOKEN, telegram_api_url=telegram.url, caseworker_chat_id="-1001",
                        notify_seconds=0.2, default_language="nb")
    with LoopbackServer(create_server(settings, assistant=FakeAssistant(), store=Store(), catalog=CATALOG,
                                      cases=cases)):
        wait_for(lambda: [b for b in telegram.sent() if str(b["chat_id"]) == "-1001"])
    posted = [b["text"] for b in telegram.sent() if str(b["chat_id"]) == "-1001"]
    assert len(posted) == 1 and case["reference"] in posted[0] and posted[0].startswith("HASTER")
    assert "+47" not in posted[0] and "caawin" not in posted[0]


def test_language_code_travels_to_the_assistant_as_a_hint(telegram: FakeTelegram) -> None:
    assistant = FakeAssistant()
    with bot_server(telegram, assistant):
        update = message_update(1, 43, "NAV?")
        update["message"]["from"]["language_code"] = "uk"
        telegram.add_update(update)
        other = message_update(2, 44, "NAV?")
        other["message"]["from"]["language_code"] = "pt-br"
        telegram.add_update(other)
        wait_for(lambda: len(assistant.received) == 2)
    hints = dict(zip([s for s, _ in assistant.received], assistant.metadata, strict=True))
    assert hints == {"tg:43": {"language_hint": "uk"}, "tg:44": None}


def test_groups_get_one_polite_refusal_and_the_caseworkers_group_is_never_a_person(telegram: FakeTelegram) -> None:
    assistant = FakeAssistant()
    settings = Settings(telegram_token=TOKEN, telegram_api_url=telegram.url, retry_pending_seconds=0.2,
                        caseworker_chat_id="-100777")
    with LoopbackServer(create_server(settings, assistant=assistant, store=Store(), catalog=CATALOG)):
        group = message_update(90, -100555, "hvordan får jeg fastlege")
        group["message"]["chat"]["type"] = "group"
        telegram.add_update(group)
        again = message_update(91, -100555, "/delete")
        again["message"]["chat"]["type"] = "group"
        telegram.add_update(again)
        staff = message_update(92, -100777, "hei")
        staff["message"]["chat"]["type"] = "supergroup"
        telegram.add_update(staff)
        telegram.add_update(message_update(93, 12, "hei"))  # a person, privately
        wait_for(lambda: texts_to(telegram, 12))
        time.sleep(0.3)
    assert texts_to(telegram, -100555) == [CATALOG.text("telegram.private_only", "nb")]
    assert texts_to(telegram, -100777) == [] and assistant.received == [("tg:12", "hei")]
