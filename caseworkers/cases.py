"""The caseworkers' case store (sqlite-utils, WAL): cases, the messages on
a case, interpreter requests and an audit log of who did what.

Every change is one transaction, so a crash loses nothing that was
acknowledged. A person has at most one open case: a second request adds to
it. References are short and readable on a phone ("K-7Q4M2X").
"""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlite_utils

from caseworkers import accounts
from core.db import check_writable, migration, open_database
from core.privacy import PersonHasher

SCHEMA_VERSION = 5
#: Dangers in which contacting the person unasked could endanger them.
CAUTION_DANGERS = frozenset({"violence", "child"})
STATUSES = ("open", "claimed", "answered", "closed")
URGENCY_ORDER = {"urgent": 0, "normal": 1}
_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud on the phone


ERASED_PREFIX = "erased:"


def is_erased(sender: str) -> bool:
    """A case whose person erased it, or that retention emptied: nobody to write to."""
    return sender.startswith(ERASED_PREFIX)


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def new_reference() -> str:
    return "K-" + "".join(secrets.choice(_ALPHABET) for _ in range(6))


class AlreadyDecided(Exception):
    """The interpreter request was decided before (its status is the message;
    `by` is the caseworker who decided it)."""

    def __init__(self, status: str, by: str = "") -> None:
        super().__init__(status)
        self.status, self.by = status, by


def add_interpreter_appointments(db: sqlite_utils.Database) -> None:
    """Interpreter requests get a structured appointment (date, time, place,
    the interpreter and their language), who decided, and the key of the
    reminder sent, so a restart never sends it twice."""
    table = db["interpreter_requests"]
    for column in ("appointment_date", "appointment_time", "place", "interpreter_language", "decided_by",
                   "reminded"):
        table.add_column(column, str)


class Taken(Exception):
    """The case is with another caseworker (their name is the message)."""


@dataclass(frozen=True)
class QueueFilter:
    """What the queue shows. `status`: "active" (everything not closed),
    one status, or "closed"; `assignee`: only that caseworker's cases;
    `q`: a reference or words in the person's messages (original or Norwegian)."""

    status: str = "active"
    assignee: str = ""
    unassigned: bool = False
    language: str = ""
    topic: str = ""
    urgent: bool = False
    q: str = ""

    def sql(self) -> tuple[str, list[Any]]:
        where, params = [], []
        if self.status == "active":
            where.append("c.status != 'closed'")
        elif self.status in STATUSES:
            where.append("c.status = ?")
            params.append(self.status)
        else:
            raise ValueError(f"unknown status {self.status!r}")
        if self.assignee:
            where.append("c.assignee = ?")
            params.append(self.assignee)
        if self.unassigned:
            where.append("coalesce(c.assignee, '') = ''")
        for name in ("language", "topic"):
            if getattr(self, name):
                where.append(f"c.{name} = ?")
                params.append(getattr(self, name))
        if self.urgent:
            where.append("c.urgency = 'urgent'")
        if self.q.strip():
            like = "%" + re.sub(r"([\\%_])", r"\\\1", self.q.strip()[:200]) + "%"
            where.append("(c.reference like ? escape '\\' or exists (select 1 from case_messages m where "
                         "m.case_id = c.id and (m.text_original like ? escape '\\' or m.text_nb like ? escape '\\')))")
            params += [like, like, like]
        return " and ".join(where), params


@dataclass(frozen=True)
class QueuePage:
    rows: list[dict[str, Any]]
    total: int
    page: int
    pages: int


def _merged(old: str | None, new: dict[str, Any]) -> dict[str, Any]:
    """Facts of a later request on top of the earlier ones; answers given add up."""
    facts = json.loads(old) if old else {}
    given = list(dict.fromkeys([*facts.get("answers_given", []), *new.get("answers_given", [])]))
    return {**facts, **{k: v for k, v in new.items() if v not in (None, "", [])}, "answers_given": given}


class CaseClosed(Exception):
    """A reply to a closed case without the caseworker's choice to reopen it."""


#: Who a person's message in a case thread was for: the case (a caseworker
#: reads it) or the assistant (asked meanwhile, or an emergency answered first).
ROUTES = ("case", "assistant")
#: Authors who are not caseworkers (their entries are what a caseworker has to read).
NOT_CASEWORKERS = frozenset({"person", "assistant", "admin"})


class CaseStore:
    def __init__(self, path: Path | str | None = None) -> None:
        self.db = open_database(path)
        self._lock = threading.RLock()
        self._hash = PersonHasher(path)
        self.migrate()

    def migrate(self) -> None:
        with migration(self.db, self._lock, SCHEMA_VERSION) as version:
            if version < 1:
                self.db["cases"].create({
                    "id": int, "reference": str, "created": str, "updated": str, "channel": str, "sender": str,
                    "language": str, "topic": str, "urgency": str, "status": str, "assignee": str,
                    "text_original": str, "text_nb": str, "excerpt": str,
                }, pk="id", not_null={"reference", "sender", "status", "urgency"})
                self.db["cases"].create_index(["reference"], unique=True)
                self.db["cases"].create_index(["sender", "status"])
                self.db["case_messages"].create({
                    "id": int, "case_id": int, "created": str, "direction": str, "author": str,
                    "text_original": str, "text_nb": str, "machine_translated": int,
                }, pk="id", foreign_keys=[("case_id", "cases", "id")])
                self.db["interpreter_requests"].create({
                    "id": int, "case_id": int, "created": str, "updated": str, "details": str, "status": str,
                    "interpreter": str, "time": str, "reason": str,
                }, pk="id", foreign_keys=[("case_id", "cases", "id")])
                self.db["audit"].create({"id": int, "at": str, "actor": str, "action": str, "case_id": int,
                                         "details": str}, pk="id")
            if version < 2:
                self.db["caseworkers"].create({"username": str, "password": str, "created": str}, pk="username")
                self.db["cases"].add_column("notified", int)
                self.db["unanswered"].create({"id": int, "at": str, "language": str, "topic": str, "text": str,
                                              "text_nb": str}, pk="id")
            if version < 3:  # the kind of danger of an urgent case, and whether contact must be asked first
                self.db["cases"].add_column("danger", str)
                self.db["cases"].add_column("contact_caution", int)
            if version < 4:  # accounts with roles, server-side desk sessions, lock-out; structured appointments
                accounts.create_tables(self.db)
                add_interpreter_appointments(self.db)
            if version < 5:  # who wrote an unanswered message, as a keyed hash: /delete finds their words
                self.db["unanswered"].add_column("person", str)
                self.db["unanswered"].create_index(["person"])
            self._migrate_desk()
        self._migrate_case_thread()  # its own transaction

    def _migrate_desk(self) -> None:
        """The helpdesk's additions: what the assistant understood at opening
        (`facts`, JSON) and the queue's index. Checked by what exists, not by
        the schema version, so it runs in any order with other migrations."""
        if "facts" not in self.db["cases"].columns_dict:
            self.db["cases"].add_column("facts", str)
        # the queue's per-case questions (last reply, messages waiting) read this index, not the table
        self.db.execute("create index if not exists case_messages_by_case on case_messages (case_id, direction, id)")

    def _migrate_case_thread(self) -> None:
        """The case thread's columns (the person's messages after a case is
        opened, and what the assistant understood them as). Keyed on the
        columns themselves, not on the schema version, so it runs once on any
        database whatever other migrations number themselves; in one
        transaction with the write lock, like `migration`."""
        wanted = {
            "case_messages": {"understood_topic": str, "understood_answer": str, "understood_title": str,
                              "routed": str, "urgent": int},
            # told: the person was told once that the office has their messages;
            # ask_next: the next message goes to the assistant ("ask the assistant meanwhile");
            # caseworker_mark: the last message id when a caseworker last acted (what is new since).
            "cases": {"thread_told": int, "ask_next": int, "caseworker_mark": int},
        }
        with self._lock, self.db.conn:
            self.db.execute("BEGIN IMMEDIATE")
            for table, columns in wanted.items():
                have = set(self.db[table].columns_dict)
                for name, kind in columns.items():
                    if name not in have:
                        self.db[table].add_column(name, kind)

    def _audit(self, actor: str, action: str, case_id: int | None, details: dict | None = None) -> None:
        self.db["audit"].insert({"at": now(), "actor": actor, "action": action, "case_id": case_id,
                                 "details": json.dumps(details or {}, ensure_ascii=False)})

    def open_case(self, *, sender: str, channel: str, language: str, topic: str, text: str, urgent: bool = False,
                  text_nb: str | None = None, excerpt: str = "", danger: str | None = None,
                  facts: dict[str, Any] | None = None) -> tuple[dict[str, Any], bool]:
        """Open a case, or add to the person's open one. Returns (case, new?).
        `facts`: what the assistant understood (topic, the question, answers
        already given, why it was handed over), so a caseworker can read the
        case without a translation; a later request updates them.
        An urgent request makes an open case urgent. `danger` is the kind of
        an emergency; violence against the person or a child marks the case
        `contact_caution`: nobody calls back or writes first without asking,
        since someone else may hold the phone."""
        caution = int(danger in CAUTION_DANGERS)
        with self._lock, self.db.conn:
            open_rows = list(self.db["cases"].rows_where("sender = ? and status != 'closed'", [sender],
                                                         order_by="id desc", limit=1))
            if open_rows:
                case = open_rows[0]
                changes = {"updated": now(), "status": "open" if case["status"] == "answered" else case["status"]}
                if urgent:
                    changes["urgency"] = "urgent"
                if danger:
                    changes["danger"] = danger
                if caution:
                    changes["contact_caution"] = 1
                if facts:
                    changes["facts"] = json.dumps(_merged(case.get("facts"), facts), ensure_ascii=False)
                self.db["cases"].update(case["id"], changes)
                if not self._just_added(case["id"], text):
                    self._add_message(case["id"], "in", "person", text, text_nb)
                self._audit("person", "added", case["id"], {"urgent": urgent})
                return self.db["cases"].get(case["id"]), False
            for _ in range(10):
                reference = new_reference()
                if not list(self.db["cases"].rows_where("reference = ?", [reference])):
                    break
            case_id = self.db["cases"].insert({
                "reference": reference, "created": now(), "updated": now(), "channel": channel, "sender": sender,
                "language": language, "topic": topic, "urgency": "urgent" if urgent else "normal", "status": "open",
                "text_original": text, "text_nb": text_nb, "excerpt": excerpt[:1000],
                "danger": danger, "contact_caution": caution,
                "facts": json.dumps(facts, ensure_ascii=False) if facts else None,
            }).last_pk
            self._add_message(case_id, "in", "person", text, text_nb)
            self._audit("person", "opened", case_id, {"urgent": urgent, "topic": topic, "language": language})
            return self.db["cases"].get(case_id), True

    def _add_message(self, case_id: int, direction: str, author: str, text: str, text_nb: str | None,
                     machine_translated: bool = False) -> None:
        self.db["case_messages"].insert({"case_id": case_id, "created": now(), "direction": direction,
                                         "author": author, "text_original": text, "text_nb": text_nb,
                                         "machine_translated": int(machine_translated)})

    def _just_added(self, case_id: int, text: str, seconds: int = 120) -> bool:
        """The case thread already holds these words as its newest message
        from the person (the channel server put an emergency there before
        the assistant's action handed it over): not stored twice."""
        rows = list(self.db["case_messages"].rows_where("case_id = ? and direction = 'in'", [case_id],
                                                        order_by="id desc", limit=1))
        if not rows or rows[0]["text_original"] != text:
            return False
        age = dt.datetime.now(dt.timezone.utc) - dt.datetime.fromisoformat(rows[0]["created"])
        return age.total_seconds() <= seconds

    # -- the case thread: the person's messages while their case is open -------------
    def open_case_of(self, sender: str) -> dict[str, Any] | None:
        """The person's case that is not closed, if any (at most one)."""
        rows = list(self.db["cases"].rows_where("sender = ? and status != 'closed'", [sender],
                                                order_by="id desc", limit=1))
        return rows[0] if rows else None

    def add_to_thread(self, case_id: int, text: str, text_nb: str | None, *, routed: str = "case",
                      urgent: bool = False, topic: str | None = None, answer: str | None = None,
                      title: str | None = None, danger: str | None = None) -> int:
        """A person's message on their open case, with what the assistant
        understood it as (topic, answer and its Norwegian title). A message
        for the case puts an answered case back in the queue; an urgent one
        makes the case urgent. Returns the message id."""
        if routed not in ROUTES:
            raise ValueError(f"unknown route {routed!r}")
        with self._lock, self.db.conn:
            case = self.db["cases"].get(case_id)
            message_id = self.db["case_messages"].insert({
                "case_id": case_id, "created": now(), "direction": "in", "author": "person", "text_original": text,
                "text_nb": text_nb, "machine_translated": int(text_nb is not None and text_nb != text),
                "understood_topic": topic, "understood_answer": answer, "understood_title": title,
                "routed": routed, "urgent": int(urgent)}).last_pk
            changes: dict[str, Any] = {"updated": now()}
            if routed == "case" and case["status"] == "answered":
                changes["status"] = "open"
            if urgent:
                changes["urgency"] = "urgent"
            if danger:
                changes["danger"] = danger
                if danger in CAUTION_DANGERS:
                    changes["contact_caution"] = 1
            self.db["cases"].update(case_id, changes)
            self._audit("person", "thread", case_id, {"routed": routed, "urgent": urgent})
            return int(message_id)

    def add_assistant_answer(self, case_id: int, text: str, text_nb: str | None = None) -> int:
        """What the assistant answered in the case conversation (an emergency's
        numbers, a question asked meanwhile), so the caseworker sees it too."""
        with self._lock, self.db.conn:
            return int(self.db["case_messages"].insert({
                "case_id": case_id, "created": now(), "direction": "assistant", "author": "assistant",
                "text_original": text, "text_nb": text_nb, "machine_translated": 0}).last_pk)

    def add_note(self, case_id: int, actor: str, text: str) -> int:
        """A caseworker's internal note, in the thread: never sent to the person."""
        if not text.strip():
            raise ValueError("an empty note")
        text = text.strip()[:5000]
        with self._lock, self.db.conn:
            message_id = int(self.db["case_messages"].insert({
                "case_id": case_id, "created": now(), "direction": "note", "author": actor,
                "text_original": text, "text_nb": text, "machine_translated": 0}).last_pk)
            self._mark_caseworker_action(case_id)
            self._audit(actor, "noted", case_id)
            return message_id

    def mark_told(self, case_id: int) -> bool:
        """Record that the person was told the office has their messages;
        False if they had been told already (tell once per case)."""
        with self._lock, self.db.conn:
            return self.db.execute("update cases set thread_told = 1 where id = ? and coalesce(thread_told, 0) = 0",
                                   [case_id]).rowcount == 1

    def set_ask_next(self, case_id: int, ask: bool) -> None:
        """The person's next message goes to the assistant (True), or to the case again."""
        with self._lock, self.db.conn:
            self.db["cases"].update(case_id, {"ask_next": int(ask)})

    def take_ask_next(self, case_id: int) -> bool:
        """Whether this message goes to the assistant; the choice is used up."""
        with self._lock, self.db.conn:
            return self.db.execute("update cases set ask_next = 0 where id = ? and ask_next = 1",
                                   [case_id]).rowcount == 1

    def _mark_caseworker_action(self, case_id: int) -> None:
        """Everything in the thread up to now has been seen by a caseworker."""
        last = self.db.execute("select max(id) from case_messages where case_id = ?", [case_id]).fetchone()[0]
        self.db["cases"].update(case_id, {"caseworker_mark": last or 0})

    def thread(self, case_id: int) -> dict[str, Any]:
        """The case conversation in time order for the desk: the person's
        messages (with what the assistant understood them as and whether
        they went to the case or to the assistant), the assistant's answers,
        caseworker replies and notes. `new` marks the entries after the last
        caseworker action (claim, reply, note, status change); `new_count`
        counts them and `first_new` is the first one's id (None if none)."""
        case = self.db["cases"].get(case_id)
        mark = case.get("caseworker_mark") or 0
        entries: list[dict[str, Any]] = []
        for row in self.messages(case_id):
            kind = {"in": "person", "out": "reply", "note": "note", "assistant": "assistant"}.get(row["direction"],
                                                                                             row["direction"])
            entries.append({
                "id": row["id"], "created": row["created"], "kind": kind, "author": row["author"],
                "text": row["text_original"], "text_nb": row["text_nb"],
                "translated": row["text_nb"] is not None, "machine_translated": bool(row["machine_translated"]),
                "routed": row.get("routed") or ("case" if kind == "person" else None),
                "urgent": bool(row.get("urgent")),
                "understood": {"topic": row.get("understood_topic"), "answer": row.get("understood_answer"),
                               "title": row.get("understood_title")} if row.get("understood_topic") else None,
                "new": row["id"] > mark and row["author"] in NOT_CASEWORKERS,
            })
        new = [e for e in entries if e["new"]]
        return {"case": case, "entries": entries, "new_count": len(new), "first_new": new[0]["id"] if new else None}

    def queue(self) -> list[dict[str, Any]]:
        """Cases not closed: urgent first, then oldest first."""
        rows = list(self.db["cases"].rows_where("status != 'closed'"))
        return sorted(rows, key=lambda r: (URGENCY_ORDER.get(r["urgency"], 9), r["created"], r["id"]))

    def get(self, reference: str) -> dict[str, Any] | None:
        rows = list(self.db["cases"].rows_where("reference = ?", [reference]))
        return rows[0] if rows else None

    def messages(self, case_id: int) -> list[dict[str, Any]]:
        return list(self.db["case_messages"].rows_where("case_id = ?", [case_id], order_by="id"))

    def set_status(self, case_id: int, status: str, actor: str, assignee: str | None = None) -> None:
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}")
        with self._lock, self.db.conn:
            changes: dict[str, Any] = {"status": status, "updated": now()}
            if assignee is not None:
                changes["assignee"] = assignee
            self.db["cases"].update(case_id, changes)
            if actor not in NOT_CASEWORKERS:
                self._mark_caseworker_action(case_id)
            self._audit(actor, status, case_id)

    def add_reply(self, case_id: int, actor: str, text_nb: str, text_sent: str, machine_translated: bool,
                  reopen: bool = False) -> int:
        """A caseworker's reply: Norwegian as written, and what was sent.
        Returns the message's id (it keys the send to the person). A closed
        case is not reopened by a reply unless the caseworker chose to
        (`reopen`, recorded in the audit log): raises CaseClosed otherwise."""
        with self._lock, self.db.conn:
            if self.db["cases"].get(case_id)["status"] == "closed":
                if not reopen:
                    raise CaseClosed(case_id)
                self._audit(actor, "reopened", case_id)
            message_id = self.db["case_messages"].insert({
                "case_id": case_id, "created": now(), "direction": "out", "author": actor,
                "text_original": text_sent, "text_nb": text_nb, "machine_translated": int(machine_translated)}).last_pk
            self.db["cases"].update(case_id, {"status": "answered", "updated": now(), "ask_next": 0})
            self._mark_caseworker_action(case_id)
            self._audit(actor, "replied", case_id, {"machine_translated": machine_translated})
            return int(message_id)

    # -- the helpdesk: the queue, who has a case, internal notes -----------------------
    def search(self, wanted: QueueFilter | None = None, page: int = 1, per_page: int = 25) -> QueuePage:
        """One page of cases matching `wanted`, each with its last message
        (`preview`, `last_direction`) and the person's messages still waiting
        for a reply (`waiting`, `waiting_since`). Active cases: urgent first,
        then the longest waiting; closed ones: the latest closed first."""
        wanted = wanted or QueueFilter()
        where, params = wanted.sql()
        total = self.db.execute(f"select count(*) from cases c where {where}", params).fetchone()[0]
        pages = max(1, -(-total // per_page))
        page = min(max(1, page), pages)
        order = ("updated desc, id desc" if wanted.status == "closed" else
                 "case urgency when 'urgent' then 0 else 1 end, coalesce(waiting_since, created), id")
        rows = list(self.db.query(
            f"""with base as (
                  select c.*, (select coalesce(max(o.id), 0) from case_messages o
                               where o.case_id = c.id and o.direction = 'out') as last_out
                  from cases c where {where})
                select base.*,
                  (select count(*) from case_messages w
                   where w.case_id = base.id and w.direction = 'in' and w.id > base.last_out) as waiting,
                  (select min(w.created) from case_messages w
                   where w.case_id = base.id and w.direction = 'in' and w.id > base.last_out) as waiting_since
                from base order by {order} limit ? offset ?""",
            [*params, per_page, (page - 1) * per_page]))
        last = {r["case_id"]: r for r in self.db.query(
            "select case_id, direction, coalesce(text_nb, text_original) as text, created from case_messages "
            f"where id in (select max(id) from case_messages where case_id in ({','.join('?' * len(rows))}) "
            "group by case_id)", [r["id"] for r in rows])} if rows else {}
        for row in rows:
            message = last.get(row["id"], {})
            row.update(preview=message.get("text"), last_direction=message.get("direction"),
                       last_message=message.get("created"))
            row["facts"] = json.loads(row["facts"]) if row.get("facts") else {}
        return QueuePage(rows, total, page, pages)

    def waiting_messages(self) -> int:
        """The person's messages on active cases that no reply has followed yet."""
        return int(self.db.execute(
            "select count(*) from case_messages m join cases c on c.id = m.case_id where c.status != 'closed' "
            "and m.direction = 'in' and m.id > coalesce((select max(o.id) from case_messages o "
            "where o.case_id = m.case_id and o.direction = 'out'), 0)").fetchone()[0])

    def facets(self) -> dict[str, list[str]]:
        """The languages and topics that occur, for the queue's filters."""
        return {name: [r[0] for r in self.db.execute(
                    f"select distinct {name} from cases where {name} is not null order by {name}").fetchall()]
                for name in ("language", "topic")}

    def claim(self, case_id: int, actor: str, takeover_from: str = "") -> None:
        """Take a case. It is taken only if nobody has it, the actor has it,
        or it is still with `takeover_from` (the colleague the actor was
        warned about): two caseworkers racing, the second raises Taken."""
        with self._lock, self.db.conn:
            before = self.db["cases"].get(case_id)
            changed = self.db.execute(
                "update cases set assignee = ?, status = case status when 'open' then 'claimed' else status end, "
                "updated = ? where id = ? and (coalesce(assignee, '') in ('', ?) or (? != '' and assignee = ?))",
                [actor, now(), case_id, actor, takeover_from, takeover_from]).rowcount
            if not changed:
                raise Taken(before["assignee"])
            if before.get("assignee") != actor:
                self._audit(actor, "claimed", case_id, {"from": before["assignee"]} if before["assignee"] else {})

    def assign(self, case_id: int, actor: str, assignee: str) -> None:
        """Give a case to a colleague (an existing caseworker)."""
        if not list(self.db["caseworkers"].rows_where("username = ?", [assignee])):
            raise ValueError(f"no caseworker {assignee!r}")
        with self._lock, self.db.conn:
            case = self.db["cases"].get(case_id)
            status = "claimed" if case["status"] == "open" else case["status"]
            self.db["cases"].update(case_id, {"assignee": assignee, "status": status, "updated": now()})
            self._audit(actor, "assigned", case_id, {"to": assignee})

    def release(self, case_id: int, actor: str) -> None:
        """Nobody has the case any more; a claimed case is open again."""
        with self._lock, self.db.conn:
            case = self.db["cases"].get(case_id)
            status = "open" if case["status"] == "claimed" else case["status"]
            self.db["cases"].update(case_id, {"assignee": None, "status": status, "updated": now()})
            self._audit(actor, "released", case_id, {"from": case["assignee"]} if case["assignee"] else {})

    def notes(self, case_id: int) -> list[dict[str, Any]]:
        """The case's internal notes (they are in the thread too, in order)."""
        return [{"id": r["id"], "created": r["created"], "author": r["author"], "text": r["text_original"]}
                for r in self.db["case_messages"].rows_where("case_id = ? and direction = 'note'", [case_id],
                                                            order_by="id")]

    def caseworker_names(self) -> list[str]:
        return [r["username"] for r in self.db["caseworkers"].rows_where(order_by="username")]

    # -- caseworker accounts ---------------------------------------------------------
    # (roles, sessions and lock-out: caseworkers/accounts.py)
    def create_caseworker(self, username: str, password: str, admin: bool = False) -> str:
        """Create an account, or give an existing one a new password (the CLI).
        The first account is an admin. Returns its role."""
        return accounts.Accounts(self).create(username, password, accounts.ADMIN if admin else None, replace=True)

    def check_password(self, username: str, password: str) -> bool:
        return accounts.Accounts(self).verify(username, password) is not None

    # -- what the assistant could not answer -------------------------------------------
    def record_unanswered(self, language: str, topic: str, text: str, text_nb: str | None, sender: str = "") -> None:
        """A question the assistant could not answer, for the desk's content
        page. The person is kept only as a keyed hash, so their erasure
        removes their words here too."""
        with self._lock, self.db.conn:
            self.db["unanswered"].insert({"at": now(), "language": language, "topic": topic, "text": text[:500],
                                          "text_nb": text_nb, "person": self._hash(sender) if sender else None})

    def unanswered_summary(self) -> list[dict[str, Any]]:
        return list(self.db.query(
            "select language, topic, count(*) as count, max(at) as last from unanswered "
            "group by language, topic order by count desc"))

    def unanswered(self, limit: int = 200) -> list[dict[str, Any]]:
        """The latest questions still holding their words (retention keeps only the counts of older ones)."""
        return list(self.db["unanswered"].rows_where("text is not null", order_by="id desc", limit=limit))

    # -- interpreter requests ------------------------------------------------------------
    def add_interpreter_request(self, case_id: int, details: str) -> int:
        with self._lock, self.db.conn:
            request_id = self.db["interpreter_requests"].insert({
                "case_id": case_id, "created": now(), "updated": now(), "details": details,
                "status": "requested"}).last_pk
            self._audit("person", "interpreter requested", case_id)
            return int(request_id)

    def interpreter_requests(self) -> list[dict[str, Any]]:
        """Open requests first, then the rest, newest first, with their case."""
        rows = list(self.db.query(
            "select r.*, c.reference, c.language, c.sender from interpreter_requests r "
            "join cases c on c.id = r.case_id order by r.status != 'requested', r.id desc"))
        for row in rows:
            row["details"] = json.loads(row["details"] or "{}")
        return rows

    def interpreter_request(self, request_id: int) -> dict[str, Any] | None:
        return next((r for r in self.interpreter_requests() if r["id"] == request_id), None)

    def decide_interpreter_request(self, request_id: int, actor: str, confirmed: bool,
                                   appointment: dict[str, str] | None = None, reason: str = "") -> dict[str, Any]:
        """Decide a request once: a second decision (a stale tab, a colleague
        at the same time) raises AlreadyDecided and changes nothing.
        `appointment` (when confirmed): appointment_date (ISO), appointment_time
        (HH:MM), place, interpreter, interpreter_language."""
        fields = {key: (appointment or {}).get(key, "") for key in
                  ("appointment_date", "appointment_time", "place", "interpreter", "interpreter_language")}
        with self._lock, self.db.conn:
            changed = self.db.execute(
                "update interpreter_requests set status = ?, appointment_date = ?, appointment_time = ?, place = ?,"
                " interpreter = ?, interpreter_language = ?, reason = ?, decided_by = ?, updated = ?"
                " where id = ? and status = 'requested'",
                ["confirmed" if confirmed else "declined", *fields.values(), reason, actor, now(),
                 request_id]).rowcount
            row = self.db["interpreter_requests"].get(request_id)
            if not changed:
                raise AlreadyDecided(row["status"], row.get("decided_by") or "")
            self._audit(actor, "interpreter confirmed" if confirmed else "interpreter declined", row["case_id"])
            return row

    def cancel_interpreter_request(self, request_id: int, actor: str, reason: str = "") -> dict[str, Any]:
        """Cancel a confirmed appointment, once (AlreadyDecided otherwise)."""
        with self._lock, self.db.conn:
            changed = self.db.execute(
                "update interpreter_requests set status = 'cancelled', reason = ?, decided_by = ?, updated = ?"
                " where id = ? and status = 'confirmed'", [reason, actor, now(), request_id]).rowcount
            row = self.db["interpreter_requests"].get(request_id)
            if not changed:
                raise AlreadyDecided(row["status"], row.get("decided_by") or "")
            self._audit(actor, "interpreter cancelled", row["case_id"])
            return row

    def appointments_on(self, day: str) -> list[dict[str, Any]]:
        """Confirmed appointments on `day` (ISO date), with their case."""
        return [r for r in self.interpreter_requests() if r["status"] == "confirmed" and r["appointment_date"] == day]

    def claim_reminder(self, request_id: int, key: str) -> bool:
        """Mark a reminder as sent before sending it; only one process, and
        one round, wins (a restart finds it marked and does not resend)."""
        with self._lock, self.db.conn:
            return self.db.execute(
                "update interpreter_requests set reminded = ? where id = ? and status = 'confirmed'"
                " and (reminded is null or reminded != ?)", [key, request_id, key]).rowcount == 1

    def release_reminder(self, request_id: int, key: str) -> None:
        """The send failed: the next round tries again."""
        with self._lock, self.db.conn:
            self.db.execute("update interpreter_requests set reminded = null where id = ? and reminded = ?",
                            [request_id, key])

    # -- privacy -----------------------------------------------------------------------
    def forget(self, sender: str) -> int:
        """Erase the personal fields of a person's cases (who, their words and
        the caseworkers' replies, the excerpt, interpreter details and the
        caseworkers' notes on the interpreter request) and their words in the
        unanswered log; keep anonymous counts (topic, language, dates,
        status). Returns how many cases were touched."""
        with self._lock, self.db.conn:
            ids = [r["id"] for r in self.db["cases"].rows_where("sender = ?", [sender])]
            for case_id in ids:
                self._strip_case(case_id)
                self._audit("person", "erased", case_id)
            self.db.execute("delete from unanswered where person = ?", [self._hash(sender)])
            return len(ids)

    def _strip_case(self, case_id: int) -> None:
        """Remove everything personal from one case (inside a transaction)."""
        self.db["cases"].update(case_id, {"sender": f"{ERASED_PREFIX}{case_id}", "text_original": None, "text_nb": None,
                                          "excerpt": None})
        self.db.execute("update case_messages set text_original = null, text_nb = null, understood_answer = null, "
                        "understood_title = null where case_id = ?", [case_id])
        self.db.execute("update interpreter_requests set details = '{}', interpreter = null, time = null,"
                        " reason = null, place = null where case_id = ?", [case_id])
        self.db["cases"].update(case_id, {"facts": None})  # what the assistant understood of the person's words

    def purge_older_than(self, days: int) -> int:
        """Retention, whatever a case's status: words (the person's, the
        caseworkers', a letter's excerpt) and interpreter details and notes
        older than `days` are deleted; a case untouched for `days` loses who
        it was about too and is closed. The unanswered log keeps only topic,
        language and date. Returns how many cases were closed this way."""
        cutoff = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=days)).isoformat(timespec="seconds")
        with self._lock, self.db.conn:
            ids = [r["id"] for r in self.db["cases"].rows_where("updated <= ? and sender not like ?",
                                                                [cutoff, ERASED_PREFIX + "%"])]
            for case_id in ids:
                self._strip_case(case_id)
                self.db["cases"].update(case_id, {"status": "closed"})
                self._audit("retention", "purged", case_id)
            self.db.execute("update cases set text_original = null, text_nb = null, excerpt = null"
                            " where created <= ?", [cutoff])
            self.db.execute("update case_messages set text_original = null, text_nb = null, understood_answer = null,"
                            " understood_title = null where created <= ?", [cutoff])
            self.db.execute("update interpreter_requests set details = '{}', interpreter = null, time = null,"
                            " reason = null, place = null where created <= ?", [cutoff])
            self.db.execute("update unanswered set text = null, text_nb = null, person = null where at <= ?", [cutoff])
            return len(ids)

    def unnotified(self) -> list[dict[str, Any]]:
        """Cases the caseworkers' chat has not been told about, urgent first."""
        rows = list(self.db["cases"].rows_where("notified is null and status != 'closed'"))
        return sorted(rows, key=lambda r: (URGENCY_ORDER.get(r["urgency"], 9), r["id"]))

    def mark_notified(self, case_id: int) -> None:
        with self._lock, self.db.conn:
            self.db["cases"].update(case_id, {"notified": 1})

    def open_counts(self) -> dict[str, int]:
        """For /metrics: cases not closed, by status."""
        rows = self.db.execute("select status, count(*) from cases where status != 'closed' group by status")
        return {status: 0 for status in STATUSES if status != "closed"} | dict(rows.fetchall())

    def check(self, write: bool = True) -> None:
        """Raise if the database cannot be written (for /readyz; see check_writable)."""
        check_writable(self.db, self._lock, write)

    def audit_log(self, case_id: int) -> list[dict[str, Any]]:
        return list(self.db["audit"].rows_where("case_id = ?", [case_id], order_by="id"))
