"""Both cores (issue 13), with the real stack: two Rasa workers behind the
channel server share one SQLite tracker store; people writing at once are
all answered, a conversation keeps its state whichever worker answers, and
while one worker is down its people are answered by the other."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from channels.assistant import AssistantClient
from scripts.stack import Stack
from tests.conftest import free_port

pytestmark = pytest.mark.stack
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory: pytest.TempPathFactory):
    if not any((ROOT / "models").glob("*.tar.gz")):
        pytest.fail("no trained model in models/")
    tmp = tmp_path_factory.mktemp("workers")
    stack = Stack(rasa_port=free_port(span=2), rasa_workers=2, action_port=free_port(), webchat_port=free_port(),
                  tracker_db=tmp / "tracker.db", log_dir=tmp / "log",
                  extra_env={"BOT_DB": str(tmp / "bot.db"), "CASES_DB": str(tmp / "cases.db")})
    stack.start()
    yield stack
    stack.stop()


def say(stack: Stack, sender: str, text: str) -> httpx.Response:
    return httpx.post(f"{stack.webchat_url}/api/messages", timeout=60,
                      json={"sender": sender, "text": text, "id": uuid.uuid4().hex})


def test_people_writing_at_once_are_all_answered_by_the_two_workers(two_workers: Stack) -> None:
    senders = [f"both{n}-{uuid.uuid4().hex[:8]}" for n in range(8)]
    routing = AssistantClient(two_workers.env()["RASA_URLS"].split(","), secret="s" * 40)
    assert {routing.workers_for(f"web:{s}")[0] for s in senders} == set(routing._urls)  # both get people
    questions = ["How do I get a fastlege?", "Hvordan søker jeg barnehageplass?", "كيف أدفع الإيجار؟",
                 "Як отримати BankID?"]
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda i: say(two_workers, senders[i % 8], questions[i % 4]), range(24)))
    assert all(r.status_code == 200 and r.json()["messages"] for r in answers)


def test_a_worker_down_hands_its_people_to_the_other_and_the_conversation_goes_on(two_workers: Stack) -> None:
    routing = AssistantClient(two_workers.env()["RASA_URLS"].split(","), secret="s" * 40)
    second = two_workers.worker_url(1) + "/webhooks/nabo/webhook"
    sender = next(s for s in (f"down{n}-{uuid.uuid4().hex[:8]}" for n in range(100))
                  if routing.workers_for(f"web:{s}")[0] == second)
    first = say(two_workers, sender, '/language{"lang":"uk"}')  # chosen on worker 1
    assert first.status_code == 200
    two_workers.stop("rasa-1")
    try:
        reply = say(two_workers, sender, "How do I get a fastlege?")
        assert reply.status_code == 200  # answered now, not kept for later
        # the other worker read the conversation from the shared store: the language chosen still holds
        assert any("fastlege" in m["text"].lower() for m in reply.json()["messages"])
        assert any(ch in "".join(m["text"] for m in reply.json()["messages"]) for ch in "ієїґ")
    finally:
        two_workers.start_rasa(1)
        two_workers.wait_ready()
