"""SMS: signed webhooks from a loopback client, replies checked at a fake
gateway on loopback; encoding and segment counts per language."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from twilio.request_validator import RequestValidator

from channels.app import create_server
from channels.assistant import Reply
from channels.relay import Conversations, Undeliverable
from channels.sms.channel import SendFailed, SmsChannel, SmsSettings, e164, sign, verify_json_signature
from channels.sms.text import encoding_of, split_for_sms, with_options
from channels.store import Store, now
from channels.tracker import TrackerDatabase
from core.config import Settings, SettingsError
from locales.catalog import Catalog
from tests.fakes.servers import FakeAssistant, FakeGateway, LoopbackServer, wait_for

CATALOG = Catalog.load()
SECRET = "json-secret-0123456789"
TWILIO_TOKEN = "twilio-auth-token-abc"




def json_server(gateway: FakeGateway, assistant: FakeAssistant, **extra: object) -> LoopbackServer:
    settings = Settings(sms_gateway="json", sms_json_url=f"{gateway.url}/messages", sms_json_secrets=(SECRET,),
                        sms_sender="Nabo", retry_pending_seconds=0.2, **extra)  # type: ignore[arg-type]
    return LoopbackServer(create_server(settings, assistant=assistant, store=Store(), catalog=CATALOG))


def post_json(server: LoopbackServer, body: dict, secret: str = SECRET, timestamp: str | None = None) -> httpx.Response:
    raw = json.dumps(body, ensure_ascii=False).encode()
    ts = timestamp or str(int(time.time()))
    return httpx.post(f"{server.url}/sms/json", content=raw, headers={
        "content-type": "application/json", "X-Timestamp": ts, "X-Signature": sign(secret, ts, raw)})


def test_signed_message_is_answered_with_numbered_options(gateway: FakeGateway) -> None:
    assistant = FakeAssistant()
    with json_server(gateway, assistant) as server:
        r = post_json(server, {"id": "m1", "from": "+47 912 34 567", "to": "2000", "text": "hei"})
        assert r.status_code == 200
        wait_for(lambda: gateway.received)
        sent = gateway.received[0]
        assert sent["to"] == "+4791234567" and sent["reference"] == "m1"
        assert sent["text"].startswith("Svar på: hei")
        assert "\n1 Ja\n2 Lang" in sent["text"] and "/caseworker" not in sent["text"]
        assert assistant.received == [("sms:+4791234567", "hei")]
        ts = sent["headers"]["x-timestamp"]
        assert sent["headers"]["x-signature"] == sign(SECRET, ts, json.dumps(
            {k: sent[k] for k in ("to", "from", "text", "reference")}, ensure_ascii=False).encode())
        # "1" maps back to the first button's payload
        post_json(server, {"id": "m2", "from": "+4791234567", "text": "1"})
        wait_for(lambda: len(assistant.received) == 2)
        assert assistant.received[1] == ("sms:+4791234567", "/caseworker")


def test_bad_signature_old_timestamp_and_garbage_are_refused(gateway: FakeGateway) -> None:
    assistant = FakeAssistant()
    with json_server(gateway, assistant) as server:
        assert post_json(server, {"id": "x", "from": "+4791234567", "text": "hei"}, secret="wrong-secret-123456").status_code == 403
        old = str(int(time.time()) - 3600)
        assert post_json(server, {"id": "y", "from": "+4791234567", "text": "hei"}, timestamp=old).status_code == 403
        assert post_json(server, {"id": "z", "from": "not a number", "text": "hei"}).status_code == 400
        raw = b"{not json"
        ts = str(int(time.time()))
        r = httpx.post(f"{server.url}/sms/json", content=raw,
                       headers={"X-Timestamp": ts, "X-Signature": sign(SECRET, ts, raw)})
        assert r.status_code == 400
        time.sleep(0.3)
        assert assistant.received == [] and gateway.received == []


def test_a_gateway_retry_is_processed_once(gateway: FakeGateway) -> None:
    assistant = FakeAssistant()
    with json_server(gateway, assistant) as server:
        for _ in range(3):
            post_json(server, {"id": "dup", "from": "+4791234567", "text": "hei"})
        wait_for(lambda: gateway.received)
        time.sleep(0.5)
        assert len(assistant.received) == 1 and len(gateway.received) == 1


def test_stop_start_help_and_more_in_several_languages(gateway: FakeGateway) -> None:
    assistant = FakeAssistant()
    with json_server(gateway, assistant) as server:
        number = "+4798765432"
        post_json(server, {"id": "s1", "from": number, "text": "STOPP"})
        wait_for(lambda: gateway.received)
        post_json(server, {"id": "s2", "from": number, "text": "hei"})  # opted out: ignored
        time.sleep(0.4)
        assert assistant.received == [] and len(gateway.received) == 1
        post_json(server, {"id": "s3", "from": number, "text": "start"})
        post_json(server, {"id": "s4", "from": number, "text": "مساعدة"})
        wait_for(lambda: len(gateway.received) == 3)
        assert gateway.texts()[2] == CATALOG.text("sms.help", "ar")  # answered in the language of "help"
        post_json(server, {"id": "s5", "from": number, "text": "long"})
        wait_for(lambda: len(gateway.received) == 4)
        first = gateway.texts()[3]
        assert first.endswith(CATALOG.text("sms.more", "nb")) and encoding_of(first).segments <= 3
        post_json(server, {"id": "s6", "from": number, "text": "MER"})
        wait_for(lambda: len(gateway.received) == 5)
        assert gateway.texts()[4].startswith("Første setning er her.")


def test_failing_gateway_is_retried(gateway: FakeGateway) -> None:
    assistant = FakeAssistant()
    gateway.fail_next = [500]
    with json_server(gateway, assistant) as server:
        post_json(server, {"id": "f1", "from": "+4791234567", "text": "hei"})
        wait_for(lambda: gateway.received, timeout=20)
        store = server.server.config.app.state.store
        # the gateway has it before the server hears back and marks it sent
        sent = wait_for(lambda: store.outbound_with_status("sent"))
        assert sent[0]["attempts"] >= 1


class FlakyGateway:
    """Fails with the given exceptions first, then sends."""

    def __init__(self, failures: list[Exception]) -> None:
        self.failures, self.sent = failures, []

    async def send(self, to: str, text: str, reference: str) -> str:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append((to, text, reference))
        return f"gw-{len(self.sent)}"


def pause_over(store: Store) -> None:
    store.db.execute("update outbound set next_try = '2000-01-01T00:00:00+00:00' where status = 'retrying'")


async def test_a_gateway_outage_of_minutes_loses_nothing_and_sends_once() -> None:
    store = Store(None)
    gw = FlakyGateway([SendFailed("HTTP 503")] * 5)
    sms = SmsChannel(Conversations(FakeAssistant(), store, CATALOG), store, gw,  # type: ignore[arg-type]
                     SmsSettings(backoff_seconds=0.01))
    number = "sms:+4791234567"
    await sms.deliver(number, [Reply("svar")], "nb", reference="m1")
    row = store.outbound_by_key("m1")
    assert row["status"] == "retrying" and row["next_try"] > now()  # kept, with a pause
    assert await sms.resend_due() == 0  # not before its pause is over
    pause_over(store)
    assert await sms.resend_due() == 1 and store.outbound_by_key("m1")["status"] == "retrying"
    pause_over(store)
    await sms.resend_due()
    assert store.outbound_by_key("m1")["status"] == "sent" and gw.sent == [("+4791234567", "svar", "m1")]
    # the same reply delivered again (a retry after a crash) is keyed by what it answers: not sent twice
    await sms.deliver(number, [Reply("svar")], "nb", reference="m1")
    assert len(gw.sent) == 1


async def test_a_refused_sms_is_given_up_and_nothing_goes_to_a_number_that_sent_stop() -> None:
    store = Store(None)
    gw = FlakyGateway([Undeliverable("HTTP 400")])
    sms = SmsChannel(Conversations(FakeAssistant(), store, CATALOG), store, gw,  # type: ignore[arg-type]
                     SmsSettings(backoff_seconds=0.01))
    await sms.deliver("sms:+4791234567", [Reply("svar")], "nb", reference="r1")
    failed = store.outbound_by_key("r1")
    assert failed["status"] == "failed" and failed["last_error"] == "HTTP 400" and gw.sent == []
    store.opt_out("sms:+4791234568")
    await sms.deliver("sms:+4791234568", [Reply("et svar fra saksbehandler")], "nb", reference="case-reply:7")
    assert store.outbound_by_key("case-reply:7")["status"] == "dropped" and gw.sent == []


def test_twilio_signature_and_rest_reply(gateway: FakeGateway) -> None:
    assistant = FakeAssistant()
    public = "https://sms.example.org"
    settings = Settings(sms_gateway="twilio", twilio_account_sid="AC123", twilio_auth_token=TWILIO_TOKEN,
                        twilio_api_url=gateway.url, sms_public_url=public, sms_sender="+4759000000")
    with LoopbackServer(create_server(settings, assistant=assistant, store=Store(), catalog=CATALOG)) as server:
        params = {"MessageSid": "SM1", "From": "+4791234567", "To": "+4759000000", "Body": "hei"}
        good = RequestValidator(TWILIO_TOKEN).compute_signature(f"{public}/sms/twilio", params)
        assert httpx.post(f"{server.url}/sms/twilio", data=params, headers={"X-Twilio-Signature": "bad"}).status_code == 403
        r = httpx.post(f"{server.url}/sms/twilio", data=params, headers={"X-Twilio-Signature": good})
        assert r.status_code == 200 and r.text == "<Response/>"
        wait_for(lambda: gateway.received)
        assert gateway.received[0]["to"] == "+4791234567" and gateway.received[0]["auth"].startswith("Basic ")
        status = {"MessageSid": "SM" + "0" * 31 + "1", "MessageStatus": "delivered"}
        sig = RequestValidator(TWILIO_TOKEN).compute_signature(f"{public}/sms/twilio/status", status)
        assert httpx.post(f"{server.url}/sms/twilio/status", data=status,
                          headers={"X-Twilio-Signature": sig}).status_code == 204
        store = server.server.config.app.state.store
        assert list(store.rows("receipts"))[0]["status"] == "delivered"
        assert store.outbound_with_status("delivery:delivered")


@pytest.mark.parametrize(
    ("text", "encoding", "segments"),
    [
        ("Hei! Du har rett til fastlege. Velg på helsenorge.no. Æ Ø Å æ ø å.", "GSM-7", 1),
        ("ø" * 160, "GSM-7", 1),
        ("ø" * 161, "GSM-7", 2),
        ("€" * 80, "GSM-7", 1),  # an extension character counts twice
        ("مرحبا، لديك الحق في طبيب عام", "UCS-2", 1),
        ("م" * 71, "UCS-2", 2),
        ("ሰላም፣ fastlege ክትረክቡ መሰል ኣለኩም።" * 3, "UCS-2", 2),
        ("Привіт! Маєте право на лікаря.", "UCS-2", 1),
    ],
)
def test_encoding_and_segments(text: str, encoding: str, segments: int) -> None:
    result = encoding_of(text)
    assert (result.name, result.segments) == (encoding, segments)


def test_split_never_cuts_links_and_respects_the_segment_limit() -> None:
    url = "https://www.helsenorge.no/fastlegen/bytte-fastlege-og-mer-informasjon"
    text = ("ordet " * 120) + url + " " + ("slutt " * 60)
    parts = split_for_sms(text, 3, "Svar MER for resten.")
    assert all(encoding_of(p).segments <= 3 for p in parts)
    assert sum(url in p for p in parts) == 1
    arabic = ("هذه جملة عربية طويلة جدا " * 30).strip()
    parts = split_for_sms(arabic, 3, "أرسل المزيد")
    assert len(parts) > 1 and all(encoding_of(p).segments <= 3 for p in parts)


def test_options_and_numbers() -> None:
    assert with_options("Tekst", ["Lege", "NAV"], "Svar med et tall:") == "Tekst\n\nSvar med et tall:\n1 Lege\n2 NAV"
    assert e164("912 34 567") == "+4791234567" and e164("+46 70 123 45 67") == "+46701234567"
    assert e164("hello") is None


def test_signature_rotation_and_settings() -> None:
    body, ts = b'{"a":1}', str(int(time.time()))
    assert verify_json_signature(["old-secret-0000000", SECRET], ts, sign(SECRET, ts, body), body, time.time())
    assert not verify_json_signature([SECRET], ts, sign(SECRET, ts, body + b" "), body, time.time())
    with pytest.raises(SettingsError):
        Settings(sms_gateway="json", sms_json_url="http://x", sms_json_secrets=("short",)).check()


def test_without_a_gateway_the_webhook_runs_with_a_local_outbox(tmp_path) -> None:
    assistant = FakeAssistant()
    store = Store()
    settings = Settings(bot_db=str(tmp_path / "bot.db"))  # SMS_GATEWAY defaults to the outbox
    with LoopbackServer(create_server(settings, assistant=assistant, store=store, catalog=CATALOG)) as server:
        secret_file = tmp_path / "sms-json-secret"
        assert oct(secret_file.stat().st_mode & 0o777) == "0o600"
        secret = secret_file.read_text().strip()
        assert post_json(server, {"id": "o1", "from": "+4791234567", "text": "hei"}, secret=secret).status_code == 200
        assert post_json(server, {"id": "o2", "from": "+4791234567", "text": "hei"}).status_code == 403
        wait_for(lambda: store.outbound_with_status("sent"))
        assert json.loads(store.outbound_with_status("sent")[0]["body"])["text"].startswith("Svar på: hei")


def test_delete_twice_erases_the_person_and_their_cases(gateway: FakeGateway) -> None:
    from caseworkers.cases import CaseStore

    assistant = FakeAssistant()
    cases = CaseStore()
    store = Store()
    number = "+4791112222"
    case, _ = cases.open_case(sender=f"sms:{number}", channel="sms", language="nb", topic="nav", text="min sak")
    settings = Settings(sms_gateway="json", sms_json_url=f"{gateway.url}/messages", sms_json_secrets=(SECRET,))
    with LoopbackServer(create_server(settings, assistant=assistant, store=store, catalog=CATALOG,
                                      cases=cases)) as server:
        post_json(server, {"id": "d1", "from": number, "text": "SLETT"})
        wait_for(lambda: gateway.received)
        assert gateway.texts()[0] == CATALOG.text("sms.delete_confirm", "nb") and assistant.forgotten == []
        post_json(server, {"id": "d2", "from": number, "text": "slett"})
        wait_for(lambda: len(gateway.received) == 2)
        assert gateway.texts()[1] == CATALOG.text("delete.done", "nb")
    assert assistant.forgotten == [f"sms:{number}"]
    erased = cases.get(case["reference"])
    assert erased["text_original"] is None and erased["sender"].startswith("erased:") and erased["topic"] == "nav"
    assert [m["text_original"] for m in cases.messages(case["id"])] == [None]


def test_an_erased_number_is_never_answered_again(gateway: FakeGateway) -> None:
    """Security review, high: a row left by DELETE was answered by the retry
    loop a minute later, bringing the person back and texting them."""
    assistant, store, number = FakeAssistant(), Store(), "+4791113333"
    settings = Settings(sms_gateway="json", sms_json_url=f"{gateway.url}/messages", sms_json_secrets=(SECRET,),
                        retry_pending_seconds=0.1, stale_after_seconds=0.2)
    with LoopbackServer(create_server(settings, assistant=assistant, store=store, catalog=CATALOG)) as server:
        post_json(server, {"id": "e1", "from": number, "text": "hei"})
        wait_for(lambda: len(gateway.received) == 1)
        post_json(server, {"id": "e2", "from": number, "text": "DELETE"})
        post_json(server, {"id": "e3", "from": number, "text": "DELETE"})
        wait_for(lambda: len(gateway.received) == 3)
        time.sleep(1.5)  # several retry rounds, each past the stale window
        assert post_json(server, {"id": "e3", "from": number, "text": "DELETE"}).status_code == 200  # gateway retry
        time.sleep(0.5)
    assert len(gateway.received) == 3 and assistant.received == [(f"sms:{number}", "hei")]
    kept = [row for table in ("inbound", "options", "more", "people") for row in store.rows(table)]
    assert not [row for row in kept if number in json.dumps(row)]


def test_retention_drops_old_texts(tmp_path) -> None:
    import sqlite3

    from caseworkers.cases import CaseStore
    from channels.app import purge

    store, cases = Store(), CaseStore()
    store.record_inbound("sms", "r1", "sms:+47", "gammel melding")
    case, _ = cases.open_case(sender="sms:+47", channel="sms", language="nb", topic="nav", text="gammel")
    cases.set_status(case["id"], "closed", "kari")
    tracker = tmp_path / "tracker.db"
    with sqlite3.connect(tracker) as conn:
        conn.execute("create table events (id integer primary key, sender_id text, timestamp real, data text)")
        conn.execute("insert into events (sender_id, timestamp, data) values ('a', 1, 'old'), ('b', ?, 'new')",
                     [time.time()])
    purge(Settings(retention_days=0), store, cases, TrackerDatabase(f"sqlite:///{tracker}"))
    assert list(store.rows("inbound")) == []  # the whole row: text, number, state
    assert cases.get(case["reference"])["text_original"] is None
    with sqlite3.connect(tracker) as conn:
        assert [r[0] for r in conn.execute("select data from events")] == []  # retention 0 days: all gone
