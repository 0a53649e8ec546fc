"""SMS menus fit the channel: an option number never arrives without its
label, a digit picks only an option the person has been shown, and a bare
digit with nothing to pick is answered as such, never guessed."""

from __future__ import annotations

from channels.assistant import Button, Reply
from channels.relay import Conversations
from channels.sms.channel import SmsChannel, SmsSettings
from channels.sms.text import OPTION_LINE, split_for_sms, with_options
from channels.store import Store
from locales.catalog import Catalog
from tests.fakes.servers import FakeAssistant, RecordingGateway

CATALOG = Catalog.load()
TITLES = ["Fastlege (lege)", "NAV og penger", "Introduksjonsprogrammet", "Skole", "Barnehage", "Bolig og husleie",
          "Tolk", "Snakk med en saksbehandler"]


def test_an_option_line_is_never_split_from_its_label() -> None:
    for words in range(20, 120, 7):
        body = with_options(" ".join(["ord"] * words), TITLES, "Svar med et tall:")
        for part in split_for_sms(body, 2, "Send MER"):
            lines = [line for line in part.splitlines() if line[:1].isdigit()]
            assert all(OPTION_LINE.fullmatch(line) and line.split(" ", 1)[1] in TITLES for line in lines), part


async def test_digits_pick_only_options_already_shown_and_a_bare_digit_is_not_guessed() -> None:
    store, gateway, assistant = Store(None), RecordingGateway(), FakeAssistant()
    sms = SmsChannel(Conversations(assistant, store, CATALOG), store, gateway, SmsSettings(max_segments=2))
    sender = "sms:+4791234567"
    buttons = tuple(Button(t, f"/topic{i}") for i, t in enumerate(TITLES, start=1))
    await sms.deliver(sender, [Reply(" ".join(["Velkommen"] * 25), buttons)], "nb", reference="m1")
    first = gateway.sent[-1][1]
    shown = [int(line.split(" ", 1)[0]) for line in OPTION_LINE.findall(first)]
    assert 8 not in shown  # the last options come with MORE
    assert store.option(sender, 8) is None and (not shown or store.option(sender, shown[-1]) is not None)
    inbound = store.record_inbound("sms", "m2", sender, "8")
    await sms.handle_recorded(inbound, "m2", "+4791234567", "8")
    assert gateway.sent[-1][1] == CATALOG.text("sms.no_option", "nb") and assistant.received == []
    inbound = store.record_inbound("sms", "m3", sender, "mer")
    await sms.handle_recorded(inbound, "m3", "+4791234567", "mer")
    while "8 Snakk med en saksbehandler" not in gateway.sent[-1][1]:
        n = len(gateway.sent)
        inbound = store.record_inbound("sms", f"m{n + 10}", sender, "mer")
        await sms.handle_recorded(inbound, f"m{n + 10}", "+4791234567", "mer")
        assert len(gateway.sent) == n + 1
    assert store.option(sender, 8) == "/topic8"  # shown now: it can be picked


async def test_a_bare_digit_with_no_menu_gets_a_clear_answer() -> None:
    store, gateway, assistant = Store(None), RecordingGateway(), FakeAssistant()
    sms = SmsChannel(Conversations(assistant, store, CATALOG), store, gateway, SmsSettings())
    inbound = store.record_inbound("sms", "x1", "sms:+4791234500", "1")
    await sms.handle_recorded(inbound, "x1", "+4791234500", "1")
    assert gateway.sent[-1][1] == CATALOG.text("sms.no_option", "nb") and assistant.received == []
