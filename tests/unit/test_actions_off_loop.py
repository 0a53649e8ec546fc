"""The action server has one event loop: translation and case-database
writes must run on a worker thread, never on the loop itself, or every other
person's turn (an emergency included) waits behind them."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions import handoff as handoff_module
from actions.handoff import ActionRequestCaseworker, CaseHandoff, once
from actions.interpreter import ActionSubmitInterpreterRequest
from actions.office_hours import OfficeHours
from caseworkers.cases import CaseStore
from core.config import settings


class RecordingTranslator:
    """Records the thread each translation runs on."""

    def __init__(self) -> None:
        self.threads: list[threading.Thread] = []

    def translate(self, text: str, source: str, target: str) -> str:
        self.threads.append(threading.current_thread())
        return f"[{source}->{target}] {text}"


class RecordingCases(CaseStore):
    """An in-memory case store that records the thread of each write."""

    def __init__(self) -> None:
        super().__init__(None)
        self.threads: list[threading.Thread] = []

    def open_case(self, **kwargs: Any):  # type: ignore[no-untyped-def, override]
        self.threads.append(threading.current_thread())
        return super().open_case(**kwargs)


def tracker(text: str, intent: str, lang: str, confidence: float = 0.95) -> Tracker:
    latest = {"text": text, "intent": {"name": intent, "confidence": confidence},
              "intent_ranking": [{"name": intent, "confidence": confidence}], "entities": [],
              "language": lang, "language_reliable": True}
    return Tracker("tg:4242", {"language": lang}, latest, [{"event": "user", "text": text, "parse_data": latest}],
                   False, None, None, "action_listen")


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> tuple[RecordingTranslator, RecordingCases]:
    translator, cases = RecordingTranslator(), RecordingCases()
    s = settings()
    hand = CaseHandoff(cases, OfficeHours.parse(s.office_hours, s.timezone), translator)  # type: ignore[arg-type]
    monkeypatch.setattr(handoff_module, "handoff", lambda: hand)
    monkeypatch.setattr(handoff_module, "case_store", lambda: cases)
    monkeypatch.setattr(handoff_module, "translator", lambda: translator)
    return translator, cases


def on_the_loop(action: Any, t: Tracker) -> tuple[list[dict], threading.Thread]:
    """Runs the action as rasa-sdk does (awaited on a loop); returns the events and the loop's thread."""
    async def call() -> tuple[list[dict], threading.Thread]:
        return await action.run(CollectingDispatcher(), t, {}), threading.current_thread()
    return asyncio.run(call())


def test_a_hand_over_translates_and_writes_off_the_loop(fakes: tuple[RecordingTranslator, RecordingCases]) -> None:
    translator, cases = fakes
    events, loop_thread = on_the_loop(ActionRequestCaseworker(), tracker("أريد التحدث مع شخص", "caseworker", "ar"))
    assert translator.threads and cases.threads  # the hand-over translated the message and opened a case
    assert all(t is not loop_thread for t in translator.threads + cases.threads)
    assert events  # the action still answers


def test_an_unanswered_message_is_translated_off_the_loop(fakes: tuple[RecordingTranslator, RecordingCases]) -> None:
    translator, _ = fakes
    from actions.conversation import ActionOutOfScope

    events, loop_thread = on_the_loop(ActionOutOfScope(), tracker("что-то непонятное", "fastlege", "ru", 0.1))
    assert translator.threads, "a low-confidence message is recorded for the desk, in Norwegian"
    assert all(t is not loop_thread for t in translator.threads)


def test_an_interpreter_request_is_written_off_the_loop(fakes: tuple[RecordingTranslator, RecordingCases],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from actions import interpreter

    _, cases = fakes
    monkeypatch.setattr(interpreter, "case_store", lambda: cases)
    values = {"interp_appointment": "fastlege", "interp_place": "Sandvika", "interp_date": "2026-11-24",
              "interp_alt_date": "none", "interp_duration": "30", "interp_mode": "in_person", "interp_people": "1",
              "interp_gender": "woman", "interp_dialect": "skip", "interp_notes": "skip"}
    t = Tracker("tg:77", {**values, "language": "ti"}, {"text": "skip", "language": "ti", "language_reliable": True},
                [], False, None, None, "interpreter_form")
    _, loop_thread = on_the_loop(ActionSubmitInterpreterRequest(), t)
    assert cases.threads and all(t is not loop_thread for t in cases.threads)


def test_once_builds_a_single_object_when_threads_race() -> None:
    built: list[object] = []

    @once
    def shared() -> object:
        time.sleep(0.1)  # a slow build, so that the threads overlap
        built.append(object())
        return built[-1]

    results: list[object] = []
    threads = [threading.Thread(target=lambda: results.append(shared())) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(built) == 1 and all(r is built[0] for r in results)
