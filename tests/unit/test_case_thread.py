"""The case thread: while a person has an open case their words reach the
case (not the assistant), an emergency is still answered first and marked
urgent on the case, the person is told once, can ask the assistant one
thing meanwhile, and the assistant answers again once the case is closed.
The store side: the thread in time order with what is new for the
caseworker, no silent reopening, erasure of the thread."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from actions.office_hours import OfficeHours
from caseworkers.cases import CaseClosed, CaseStore
from channels.assistant import Reply
from channels.relay import Conversations
from channels.store import Store
from channels.thread import CaseThread
from core.payloads import ASK_ASSISTANT, sanitize
from locales.catalog import Catalog
from tests.fakes.servers import FakeAssistant

CATALOG = Catalog.load()
HOURS = OfficeHours.parse("mon-fri 08:00-15:30")
SENDER = "web:person-ar-1"


class Recorder:
    """A channel's deliverer: what the person was sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, list[Reply], str, str]] = []

    async def __call__(self, sender: str, replies: list[Reply], lang: str, reference: str) -> None:
        self.sent.append((sender, replies, lang, reference))

    def texts(self) -> list[str]:
        return [r.text for _, replies, _, _ in self.sent for r in replies]


class FakeTranslator:
    def translate(self, text: str, source: str, target: str) -> str | None:
        return None if source == "ti" else f"[{source}->{target}] {text}"


def setup(translator: object | None = None) -> tuple[Conversations, CaseStore, FakeAssistant, Recorder]:
    assistant, store, cases = FakeAssistant(), Store(None), CaseStore(None)
    conversations = Conversations(assistant, store, CATALOG)
    conversations.thread = CaseThread(cases, CATALOG, HOURS, assistant.parse, translator,  # type: ignore[arg-type]
                                      active_form=assistant.active_form)
    return conversations, cases, assistant, Recorder()


async def say(conversations: Conversations, deliver: Recorder, text: str, n: list[int] = [0]) -> None:  # noqa: B006
    n[0] += 1
    await conversations.handle("web", f"m{n[0]}", SENDER, text, deliver)


def open_case(cases: CaseStore, language: str = "ar") -> dict:
    case, _ = cases.open_case(sender=SENDER, channel="web", language=language, topic="housing",
                              text="أريد التحدث مع موظف")
    return case


async def test_without_an_open_case_the_assistant_answers() -> None:
    conversations, cases, assistant, deliver = setup()
    await say(conversations, deliver, "متى أحصل على طبيب؟")
    assert assistant.received == [(SENDER, "متى أحصل على طبيب؟")] and assistant.parsed == []
    assert deliver.texts() == ["Svar på: متى أحصل على طبيب؟"]


async def test_words_reach_the_open_case_and_the_person_is_told_once() -> None:
    conversations, cases, assistant, deliver = setup(FakeTranslator())
    case = open_case(cases)
    conversations.store.set_language(SENDER, "ar")
    await say(conversations, deliver, "صاحب البيت لم يرد علي منذ أسبوع")
    await say(conversations, deliver, "وعندي رطوبة في غرفة الأطفال")
    assert assistant.received == []  # nothing went to the assistant
    assert len(deliver.sent) == 1  # told once, not on every message
    notice = deliver.sent[0][1][0]
    assert case["reference"] in notice.text and deliver.sent[0][2] == "ar"
    assert notice.text.split(case["reference"])[0] in (CATALOG.text("thread.added_open", "ar", reference="", closes="")
                                                       + CATALOG.text("thread.added_closed", "ar", reference="", opens=""))
    assert [(b.title, b.payload) for b in notice.buttons] == [(CATALOG.text("thread.ask.button", "ar"), ASK_ASSISTANT)]
    entries = cases.thread(case["id"])["entries"]
    assert [e["text"] for e in entries] == ["أريد التحدث مع موظف", "صاحب البيت لم يرد علي منذ أسبوع",
                                            "وعندي رطوبة في غرفة الأطفال"]
    assert entries[1]["text_nb"] == "[ar->nb] صاحب البيت لم يرد علي منذ أسبوع" and entries[1]["machine_translated"]
    assert entries[1]["routed"] == "case" and entries[1]["understood"]["topic"] == "caseworker"
    assert all(s == "answered" for s in (r["status"] for r in conversations.store.db["inbound"].rows))


async def test_a_person_is_told_when_the_office_opens_out_of_hours() -> None:
    thread = CaseThread(CaseStore(None), CATALOG, HOURS, FakeAssistant().parse)
    saturday = dt.datetime(2026, 12, 5, 12, 0, tzinfo=dt.timezone.utc)
    reply = thread.notice({"reference": "K-ABCDEF"}, "so", at=saturday)
    assert reply.text == CATALOG.text("thread.added_closed", "so", reference="K-ABCDEF",
                                      opens=HOURS.describe_opening(saturday, "so"))
    tuesday = dt.datetime(2026, 12, 8, 9, 0, tzinfo=dt.timezone.utc)
    assert thread.notice({"reference": "K-ABCDEF"}, "so", at=tuesday).text == CATALOG.text(
        "thread.added_open", "so", reference="K-ABCDEF", closes="15:30")


async def test_without_a_translation_package_the_words_are_marked_untranslated() -> None:
    conversations, cases, _, deliver = setup(FakeTranslator())
    case = open_case(cases, language="ti")
    await say(conversations, deliver, "ክራይ ገዛ ኣይከፈለን")
    entry = cases.thread(case["id"])["entries"][-1]
    assert entry["text_nb"] is None and not entry["translated"]


async def test_what_the_assistant_understood_is_kept_with_its_norwegian_title() -> None:
    conversations, cases, assistant, deliver = setup()
    case = open_case(cases)
    assistant.understood["كيف أحصل على طبيب عام؟"] = {
        "intent": {"name": "fastlege", "confidence": 0.9},
        "answer_choice": {"id": "fastlege/get_gp", "confidence": 0.8, "sure": True}}
    assistant.understood["ربما"] = {"intent": {"name": "nav", "confidence": 0.3},
                                    "answer_choice": {"id": "nav/apply", "confidence": 0.1, "sure": False}}
    await say(conversations, deliver, "كيف أحصل على طبيب عام؟")
    await say(conversations, deliver, "ربما")
    first, second = cases.thread(case["id"])["entries"][-2:]
    assert first["understood"] == {"topic": "fastlege", "answer": "fastlege/get_gp", "title": "Få fastlege"}
    assert second["understood"] == {"topic": "nav", "answer": None, "title": None}  # not sure: no answer claimed


async def test_ask_the_assistant_meanwhile_sends_one_message_then_back_to_the_case() -> None:
    conversations, cases, assistant, deliver = setup()
    case = open_case(cases)
    conversations.store.set_language(SENDER, "ar")
    await say(conversations, deliver, sanitize(ASK_ASSISTANT))  # the button, as every channel cleans it
    assert deliver.texts()[-1] == CATALOG.text("thread.ask.ready", "ar") and assistant.received == []
    await say(conversations, deliver, "ما هو رقم الطوارئ الطبية؟")
    assert assistant.received == [(SENDER, "ما هو رقم الطوارئ الطبية؟")]
    assert deliver.texts()[-1] == "Svar på: ما هو رقم الطوارئ الطبية؟"
    await say(conversations, deliver, "شكرا، أنتظر ردكم")
    assert len(assistant.received) == 1  # back to the case
    entries = cases.thread(case["id"])["entries"]
    assert [(e["kind"], e["routed"]) for e in entries[1:]] == [("person", "assistant"), ("assistant", None),
                                                               ("person", "case")]
    assert entries[2]["text"] == "Svar på: ما هو رقم الطوارئ الطبية؟"


async def test_an_emergency_is_answered_first_and_marked_urgent_on_the_case() -> None:
    conversations, cases, assistant, deliver = setup()
    case = open_case(cases)
    words = "زوجي يضربني الآن وأنا خائفة"
    assistant.understood[words] = {"intent": {"name": "emergency", "confidence": 1.0},
                                   "emergency": {"tier": "clear", "kind": "violence", "source": "pattern"}}
    await say(conversations, deliver, words)
    assert assistant.received == [(SENDER, words)] and deliver.texts() == [f"Svar på: {words}"]
    updated = cases.get(case["reference"])
    assert updated["urgency"] == "urgent" and updated["danger"] == "violence" and updated["contact_caution"] == 1
    person, answer = cases.thread(case["id"])["entries"][-2:]
    assert person["text"] == words and person["urgent"] and person["routed"] == "case"
    assert answer["kind"] == "assistant"
    # the emergency action then hands over to the same case: the words are not stored twice
    cases.open_case(sender=SENDER, channel="web", language="ar", topic="emergency", text=words, urgent=True,
                    danger="violence")
    assert [e["text"] for e in cases.thread(case["id"])["entries"]].count(words) == 1


async def test_answers_to_a_form_the_assistant_started_reach_it_not_the_case() -> None:
    conversations, cases, assistant, deliver = setup()
    case = open_case(cases)
    await say(conversations, deliver, '/interpreter{"request":"yes"}')  # the form's button: the assistant's
    assistant.forms[SENDER] = "interpreter_form"
    await say(conversations, deliver, "طبيب العائلة")  # "What is the appointment?"
    assert [t for _, t in assistant.received] == ['/interpreter{"request":"yes"}', "طبيب العائلة"]
    del assistant.forms[SENDER]  # the form is over
    await say(conversations, deliver, "شكرا")
    assert len(assistant.received) == 2 and cases.thread(case["id"])["entries"][-1]["routed"] == "case"


async def test_a_possible_emergency_lets_the_typed_answer_reach_the_assistant() -> None:
    conversations, cases, assistant, deliver = setup()
    open_case(cases)
    assistant.understood["أشعر بألم شديد في صدري منذ ساعة"] = {"emergency": {"tier": "possible", "kind": "medical"}}
    await say(conversations, deliver, "أشعر بألم شديد في صدري منذ ساعة")
    await say(conversations, deliver, "نعم")  # "Is someone in danger right now?" answered by typing
    assert [t for _, t in assistant.received] == ["أشعر بألم شديد في صدري منذ ساعة", "نعم"]


async def test_when_rasa_cannot_parse_the_emergency_patterns_still_mark_it_urgent() -> None:
    conversations, cases, assistant, deliver = setup()
    case = open_case(cases, language="en")
    assistant.down = True
    await say(conversations, deliver, "I want to kill myself tonight")
    assert cases.get(case["reference"])["urgency"] == "urgent"
    assert deliver.texts() == [CATALOG.text("service.queued", "en")]  # kept for the assistant, and the person told
    await say(conversations, deliver, "the landlord did not call")
    assert cases.thread(case["id"])["entries"][-1]["urgent"] is False


async def test_buttons_of_the_assistant_still_reach_it_and_a_closed_case_hands_back() -> None:
    conversations, cases, assistant, deliver = setup()
    case = open_case(cases)
    await say(conversations, deliver, '/language{"lang":"ar"}')
    assert assistant.received == [(SENDER, '/language{"lang":"ar"}')]
    cases.set_status(case["id"], "closed", "kari")
    await say(conversations, deliver, "مرحبا")
    assert assistant.received[-1] == (SENDER, "مرحبا")
    conversations.store.set_language(SENDER, "ar")
    await say(conversations, deliver, sanitize(ASK_ASSISTANT))  # an old button after the case closed
    assert assistant.received[-1] == (SENDER, "مرحبا")  # not a question for Rasa: it knows no such intent
    assert deliver.texts()[-1] == CATALOG.text("thread.ask.free", "ar")


async def test_a_new_message_puts_an_answered_case_back_in_the_queue() -> None:
    conversations, cases, _, deliver = setup()
    case = open_case(cases)
    cases.add_reply(case["id"], "kari", "Vi ringer i morgen.", "Vi ringer i morgen.", machine_translated=False)
    assert cases.get(case["reference"])["status"] == "answered"
    await say(conversations, deliver, "شكرا، متى بالضبط؟")
    assert cases.get(case["reference"])["status"] == "open"


def test_the_thread_in_time_order_with_what_is_new_since_the_caseworker_acted() -> None:
    cases = CaseStore(None)
    case = open_case(cases)
    cases.add_to_thread(case["id"], "رسالة ثانية", None)
    thread = cases.thread(case["id"])
    assert thread["new_count"] == 2 and thread["first_new"] == thread["entries"][0]["id"]
    cases.set_status(case["id"], "claimed", "kari", assignee="kari")
    assert cases.thread(case["id"])["new_count"] == 0
    cases.add_note(case["id"], "kari", "Ringte utleier, venter svar.")
    cases.add_reply(case["id"], "kari", "Vi har ringt utleier.", "[nb->ar] Vi har ringt utleier.", True)
    cases.add_to_thread(case["id"], "شكرا", None)
    cases.add_assistant_answer(case["id"], "113", "113")
    thread = cases.thread(case["id"])
    assert [e["kind"] for e in thread["entries"]] == ["person", "person", "note", "reply", "person", "assistant"]
    assert [e["new"] for e in thread["entries"]] == [False, False, False, False, True, True]
    assert thread["new_count"] == 2 and thread["first_new"] == thread["entries"][4]["id"]


def test_a_reply_never_silently_reopens_a_closed_case() -> None:
    cases = CaseStore(None)
    case = open_case(cases)
    cases.set_status(case["id"], "closed", "kari")
    with pytest.raises(CaseClosed):
        cases.add_reply(case["id"], "kari", "Hei igjen", "Hei igjen", False)
    assert cases.get(case["reference"])["status"] == "closed" and len(cases.messages(case["id"])) == 1
    cases.add_reply(case["id"], "kari", "Hei igjen", "Hei igjen", False, reopen=True)
    assert cases.get(case["reference"])["status"] == "answered"
    assert [a["action"] for a in cases.audit_log(case["id"])][-3:] == ["closed", "reopened", "replied"]


def test_told_once_and_ask_next_are_used_up() -> None:
    cases = CaseStore(None)
    case = open_case(cases)
    assert cases.mark_told(case["id"]) and not cases.mark_told(case["id"])
    assert not cases.take_ask_next(case["id"])
    cases.set_ask_next(case["id"], True)
    assert cases.take_ask_next(case["id"]) and not cases.take_ask_next(case["id"])


def test_erasure_removes_the_thread(tmp_path: Path) -> None:
    cases = CaseStore(tmp_path / "cases.db")
    case = open_case(cases)
    cases.add_to_thread(case["id"], "كيف أحصل على طبيب عام؟", "Hvordan får jeg fastlege?", topic="fastlege",
                        answer="fastlege/get_gp", title="Få fastlege")
    cases.add_assistant_answer(case["id"], "اتصل بـ 113", "Ring 113")
    cases.add_note(case["id"], "kari", "Personen heter Amal")
    cases.forget(SENDER)
    for row in cases.db["case_messages"].rows:
        assert row["text_original"] is None and row["text_nb"] is None
        assert row["understood_answer"] is None and row["understood_title"] is None
    assert cases.open_case_of(SENDER) is None


def test_the_thread_migration_adds_its_columns_to_an_older_database_once(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "cases.db"
    with monkeypatch.context() as patch:  # a database from before the case thread
        patch.setattr(CaseStore, "_migrate_case_thread", lambda self: None)
        old = CaseStore(path)
        case = open_case(old)
        assert "routed" not in old.db["case_messages"].columns_dict
    CaseStore(path)
    again = CaseStore(path)  # a second process opening it: nothing added twice
    assert {"understood_topic", "understood_title", "routed", "urgent"} <= set(again.db["case_messages"].columns_dict)
    assert {"thread_told", "ask_next", "caseworker_mark"} <= set(again.db["cases"].columns_dict)
    assert again.thread(case["id"])["entries"][0]["routed"] == "case"  # older messages read as for the case


async def test_an_undeliverable_notice_never_sends_the_words_to_the_assistant_later() -> None:
    from channels.relay import Undeliverable
    from channels.webchat import web_deliverer

    conversations, cases, assistant, _ = setup()
    case = open_case(cases)

    async def blocked(*_: object) -> None:
        raise Undeliverable("Forbidden")

    await conversations.handle("web", "b1", SENDER, "صاحب البيت لا يرد", blocked)  # type: ignore[arg-type]
    assert cases.thread(case["id"])["entries"][-1]["text"] == "صاحب البيت لا يرد"
    assert conversations.store.inbound_status_by_external("web", "b1") == "answered"
    assert await conversations.retry_pending({"web": web_deliverer(conversations.store)}, 0) == 0
    assert assistant.received == []


async def test_an_emergency_asked_meanwhile_is_still_marked_urgent() -> None:
    conversations, cases, assistant, deliver = setup()
    case = open_case(cases)
    await say(conversations, deliver, ASK_ASSISTANT)
    assistant.understood["ابني لا يتنفس"] = {"emergency": {"tier": "clear", "kind": "medical"}}
    await say(conversations, deliver, "ابني لا يتنفس")
    assert assistant.received == [(SENDER, "ابني لا يتنفس")]
    assert cases.get(case["reference"])["urgency"] == "urgent" and cases.thread(case["id"])["entries"][-2]["urgent"]
