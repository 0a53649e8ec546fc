"""The case thread with the real assistant (Rasa, the action server and the
channel server of the `stack` fixture): after the hand-over the person's
words reach the case with what the NLU understood them as (Rasa's
/model/parse), and an emergency written into the thread still gets the
numbers first and marks the case urgent, its words stored once although
the emergency action hands over to the same case."""

from __future__ import annotations

import os
import uuid

import httpx
import pytest

from actions.knowledge import catalog
from caseworkers.cases import CaseStore
from tests.fakes.servers import wait_for

pytestmark = pytest.mark.stack


def write(stack, browser_id: str, text: str) -> list[dict]:  # type: ignore[no-untyped-def]
    r = httpx.post(f"{stack.webchat_url}/api/messages", json={"sender": browser_id, "text": text,
                                                              "id": uuid.uuid4().hex}, timeout=60)
    r.raise_for_status()
    return r.json()["messages"]


def test_the_thread_with_the_real_assistant(stack) -> None:  # type: ignore[no-untyped-def]
    browser_id = f"thread-{uuid.uuid4().hex[:12]}"
    sender = f"web:{browser_id}"
    cases = CaseStore(os.environ["CASES_DB"])
    write(stack, browser_id, '/language{"lang":"en"}')
    opened = write(stack, browser_id, "/caseworker")
    case = wait_for(lambda: cases.open_case_of(sender))
    assert any(case["reference"] in m["text"] for m in opened)

    told = write(stack, browser_id, "Where can I find a family doctor for my son? We moved here last month.")
    assert len(told) == 1 and case["reference"] in told[0]["text"]
    assert told[0]["buttons"] == [{"title": catalog().text("thread.ask.button", "en"), "payload": "/ask_assistant"}]
    entry = cases.thread(case["id"])["entries"][-1]
    assert entry["routed"] == "case" and entry["understood"]["topic"] == "fastlege"

    danger = "My husband is beating me right now and I am scared"
    replies = write(stack, browser_id, danger)
    assert any(n in replies[0]["text"] for n in ("112", "113", "116 006"))  # the numbers first
    wait_for(lambda: cases.get(case["reference"])["urgency"] == "urgent")
    entries = cases.thread(case["id"])["entries"]
    assert [e["text"] for e in entries].count(danger) == 1
    assert next(e for e in entries if e["text"] == danger)["urgent"]
    assert any(e["kind"] == "assistant" and "112" in (e["text"] or "") for e in entries)
