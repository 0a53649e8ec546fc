"""The case store's helpdesk queries: filters, search, paging, the closed
list, claim races, assign/release, internal notes, the facts kept at
opening and their migration."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from caseworkers.cases import CaseStore, QueueFilter, Taken

PASSWORD = "correct horse battery"


@pytest.fixture()
def store() -> CaseStore:
    cases = CaseStore()
    for name in ("kari", "ola"):
        cases.create_caseworker(name, PASSWORD)
    return cases


def open_some(store: CaseStore) -> dict[str, dict]:
    made = {}
    made["ti"], _ = store.open_case(sender="web:1", channel="web", language="ti", topic="nav", text="ሓገዝ ብዛዕባ NAV")
    made["ar"], _ = store.open_case(sender="tg:2", channel="tg", language="ar", topic="housing", text="صاحب البيت",
                                    text_nb="Huseieren svarer ikke")
    made["so"], _ = store.open_case(sender="sms:+4790000003", channel="sms", language="so", topic="emergency",
                                    text="caawin", urgent=True)
    made["nb"], _ = store.open_case(sender="web:4", channel="web", language="nb", topic="nav", text="barnetrygd 50%")
    return made


def refs(store: CaseStore, **wanted: object) -> list[str]:
    return [r["reference"] for r in store.search(QueueFilter(**wanted)).rows]  # type: ignore[arg-type]


def test_filters_each_narrow_the_queue(store: CaseStore) -> None:
    made = open_some(store)
    assert refs(store) == [made[k]["reference"] for k in ("so", "ti", "ar", "nb")]  # urgent first, then oldest
    assert refs(store, language="ti") == [made["ti"]["reference"]]
    assert refs(store, topic="nav") == [made["ti"]["reference"], made["nb"]["reference"]]
    assert refs(store, urgent=True) == [made["so"]["reference"]]
    store.claim(made["ar"]["id"], "kari")
    assert refs(store, assignee="kari") == [made["ar"]["reference"]]
    assert made["ar"]["reference"] not in refs(store, unassigned=True) and len(refs(store, unassigned=True)) == 3
    assert refs(store, status="claimed") == [made["ar"]["reference"]]
    assert store.facets() == {"language": ["ar", "nb", "so", "ti"], "topic": ["emergency", "housing", "nav"]}
    with pytest.raises(ValueError):
        QueueFilter(status="lost").sql()


def test_search_by_reference_and_words_in_either_language(store: CaseStore) -> None:
    made = open_some(store)
    assert refs(store, q=made["ar"]["reference"].lower()) == [made["ar"]["reference"]]
    assert refs(store, q="ሓገዝ") == [made["ti"]["reference"]]
    assert refs(store, q="huseieren") == [made["ar"]["reference"]]  # the Norwegian text counts too
    assert refs(store, q="50%") == [made["nb"]["reference"]]
    assert refs(store, q="%") == [made["nb"]["reference"]] and refs(store, q="_") == []  # no wildcards


def test_closed_list_and_paging(store: CaseStore) -> None:
    made = open_some(store)
    for key in ("ti", "ar"):
        store.set_status(made[key]["id"], "closed", "kari")
    assert set(refs(store, status="closed")) == {made["ti"]["reference"], made["ar"]["reference"]}
    assert made["ti"]["reference"] not in refs(store)
    for n in range(5):
        store.open_case(sender=f"web:page{n}", channel="web", language="nb", topic="school", text=f"spørsmål {n}")
    first, last = store.search(QueueFilter(), page=1, per_page=3), store.search(QueueFilter(), page=3, per_page=3)
    assert (first.total, first.pages, len(first.rows)) == (7, 3, 3)
    assert (last.page, len(last.rows)) == (3, 1)
    assert store.search(QueueFilter(), page=99, per_page=3).page == 3  # beyond the end: the last page
    everything = [r["reference"] for n in (1, 2, 3) for r in store.search(QueueFilter(), page=n, per_page=3).rows]
    assert len(set(everything)) == 7


def test_preview_and_waiting_messages(store: CaseStore) -> None:
    made = open_some(store)
    store.open_case(sender="web:1", channel="web", language="ti", topic="nav", text="ካልኣይ")
    row = next(r for r in store.search(QueueFilter(language="ti")).rows)
    assert (row["preview"], row["last_direction"], row["waiting"]) == ("ካልኣይ", "in", 2)
    assert row["waiting_since"] == store.messages(made["ti"]["id"])[0]["created"]
    assert store.waiting_messages() == 5
    store.add_reply(made["ti"]["id"], "kari", "Vi ringer deg.", "ሓገዝ", machine_translated=False)
    row = next(r for r in store.search(QueueFilter(language="ti")).rows)
    assert (row["preview"], row["last_direction"], row["waiting"], row["waiting_since"]) == (
        "Vi ringer deg.", "out", 0, None)
    assert store.waiting_messages() == 3


def test_the_second_caseworker_to_claim_is_told_who_has_it(store: CaseStore) -> None:
    case = open_some(store)["ti"]
    store.claim(case["id"], "kari")
    store.claim(case["id"], "kari")  # again: nothing changes, no error
    with pytest.raises(Taken) as taken:
        store.claim(case["id"], "ola")  # ola saw it unassigned: the race is lost
    assert str(taken.value) == "kari" and store.get(case["reference"])["assignee"] == "kari"
    store.claim(case["id"], "ola", takeover_from="kari")  # warned about kari, and still wants it
    assert store.get(case["reference"])["assignee"] == "ola"
    with pytest.raises(Taken):
        store.claim(case["id"], "kari", takeover_from="someone else")  # warned about someone else
    log = [(a["actor"], a["action"], json.loads(a["details"])) for a in store.audit_log(case["id"])]
    assert log[1:] == [("kari", "claimed", {}), ("ola", "claimed", {"from": "kari"})]


def test_assign_and_release(store: CaseStore) -> None:
    case = open_some(store)["ar"]
    store.assign(case["id"], "kari", "ola")
    assert store.get(case["reference"])["assignee"] == "ola" and store.get(case["reference"])["status"] == "claimed"
    with pytest.raises(ValueError):
        store.assign(case["id"], "kari", "nobody")
    store.release(case["id"], "ola")
    after = store.get(case["reference"])
    assert after["assignee"] is None and after["status"] == "open"
    assert [a["action"] for a in store.audit_log(case["id"])] == ["opened", "assigned", "released"]


def test_notes_are_in_the_thread_as_notes_never_as_messages_to_the_person(store: CaseStore) -> None:
    case = open_some(store)["nb"]
    store.add_note(case["id"], "kari", "  Ringte NAV, venter på svar.  ")
    assert [(n["author"], n["text"]) for n in store.notes(case["id"])] == [("kari", "Ringte NAV, venter på svar.")]
    assert [m["direction"] for m in store.messages(case["id"])] == ["in", "note"]
    assert [e["kind"] for e in store.thread(case["id"])["entries"]] == ["person", "note"]
    with pytest.raises(ValueError):
        store.add_note(case["id"], "kari", "   ")


def test_facts_are_kept_and_later_requests_add_to_them(store: CaseStore) -> None:
    facts = {"topic": "nav", "question": "nav/child_benefit", "answers_given": ["nav/contact"], "reason": "asked"}
    case, _ = store.open_case(sender="web:f", channel="web", language="ti", topic="nav", text="x", facts=facts)
    assert json.loads(store.get(case["reference"])["facts"]) == facts
    store.open_case(sender="web:f", channel="web", language="ti", topic="nav", text="y",
                    facts={"question": None, "answers_given": ["nav/child_benefit"], "reason": "offered"})
    merged = json.loads(store.get(case["reference"])["facts"])
    assert merged == {"topic": "nav", "question": "nav/child_benefit", "reason": "offered",
                      "answers_given": ["nav/contact", "nav/child_benefit"]}


def test_an_older_database_gains_the_desk_columns(tmp_path: Path) -> None:
    CaseStore(tmp_path / "old.db")
    with sqlite3.connect(tmp_path / "old.db") as conn:  # as version 3 left it
        conn.execute("alter table cases drop column facts")
        conn.execute("drop index case_messages_by_case")
    store = CaseStore(tmp_path / "old.db")
    assert "facts" in store.db["cases"].columns_dict
    # without it the queue reads every message once per case: 112 s instead of 55 ms for 5 000 cases
    assert "case_messages_by_case" in {i.name for i in store.db["case_messages"].indexes}
    CaseStore(tmp_path / "old.db")  # and opening it again changes nothing
