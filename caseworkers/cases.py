"""The caseworkers' case store (sqlite-utils, WAL): cases, the messages on
a case, interpreter requests and an audit log of who did what.

Every change is one transaction, so a crash loses nothing that was
acknowledged. A person has at most one open case: a second request adds to
it. References are short and readable on a phone ("K-7Q4M2X").
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import secrets
import threading
from pathlib import Path
from typing import Any

from core.db import check_writable, migration, open_database

SCHEMA_VERSION = 3
#: Dangers in which contacting the person unasked could endanger them.
CAUTION_DANGERS = frozenset({"violence", "child"})
STATUSES = ("open", "claimed", "answered", "closed")
URGENCY_ORDER = {"urgent": 0, "normal": 1}
_DUMMY = "scrypt$16384$8$1$00$00"  # checked for unknown users, so timing does not reveal them
_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud on the phone


def hash_password(password: str) -> str:
    """scrypt (standard library), random salt, parameters stored with the hash."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1)
    return f"scrypt$16384$8$1${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        _, n, r, p, salt, digest = stored.split("$")
        candidate = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(candidate.hex(), digest)


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def new_reference() -> str:
    return "K-" + "".join(secrets.choice(_ALPHABET) for _ in range(6))


class AlreadyDecided(Exception):
    """The interpreter request was decided before (its status is the message)."""


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
        self._migrate_case_thread()

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
                  text_nb: str | None = None, excerpt: str = "", danger: str | None = None) -> tuple[dict[str, Any], bool]:
        """Open a case, or add to the person's open one. Returns (case, new?).
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
        """A caseworker's internal note: never sent to the person."""
        with self._lock, self.db.conn:
            message_id = int(self.db["case_messages"].insert({
                "case_id": case_id, "created": now(), "direction": "note", "author": actor,
                "text_original": text, "text_nb": text, "machine_translated": 0}).last_pk)
            self._mark_caseworker_action(case_id)
            self._audit(actor, "note", case_id)
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

    # -- caseworker accounts ---------------------------------------------------------
    def create_caseworker(self, username: str, password: str) -> None:
        if not username or len(password) < 12:
            raise ValueError("a username and a password of at least 12 characters are needed")
        with self._lock, self.db.conn:
            self.db["caseworkers"].upsert({"username": username, "password": hash_password(password),
                                           "created": now()}, pk="username")
            self._audit("admin", "account", None, {"username": username})

    def check_password(self, username: str, password: str) -> bool:
        rows = list(self.db["caseworkers"].rows_where("username = ?", [username]))
        return verify_password(password, rows[0]["password"]) if rows else verify_password(password, _DUMMY)

    # -- what the assistant could not answer -------------------------------------------
    def record_unanswered(self, language: str, topic: str, text: str, text_nb: str | None) -> None:
        with self._lock, self.db.conn:
            self.db["unanswered"].insert({"at": now(), "language": language, "topic": topic, "text": text[:500],
                                          "text_nb": text_nb})

    def unanswered_summary(self) -> list[dict[str, Any]]:
        return list(self.db.query(
            "select language, topic, count(*) as count, max(at) as last from unanswered "
            "group by language, topic order by count desc"))

    def unanswered(self, limit: int = 200) -> list[dict[str, Any]]:
        return list(self.db["unanswered"].rows_where(order_by="id desc", limit=limit))

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

    def decide_interpreter_request(self, request_id: int, actor: str, confirmed: bool, interpreter: str = "",
                                   time: str = "", reason: str = "") -> dict[str, Any]:
        """Decide a request once: a second decision (a stale tab, a colleague
        at the same time) raises AlreadyDecided and changes nothing."""
        with self._lock, self.db.conn:
            changed = self.db.execute(
                "update interpreter_requests set status = ?, interpreter = ?, time = ?, reason = ?, updated = ?"
                " where id = ? and status = 'requested'",
                ["confirmed" if confirmed else "declined", interpreter, time, reason, now(), request_id]).rowcount
            row = self.db["interpreter_requests"].get(request_id)
            if not changed:
                raise AlreadyDecided(row["status"])
            self._audit(actor, "interpreter confirmed" if confirmed else "interpreter declined", row["case_id"])
            return row

    # -- privacy -----------------------------------------------------------------------
    def forget(self, sender: str) -> int:
        """Erase the personal fields of a person's cases (who, their words,
        the excerpt, interpreter details); keep anonymous counts (topic,
        language, dates, status). Returns how many cases were touched."""
        with self._lock, self.db.conn:
            ids = [r["id"] for r in self.db["cases"].rows_where("sender = ?", [sender])]
            for case_id in ids:
                self.db["cases"].update(case_id, {"sender": f"erased:{case_id}", "text_original": None,
                                                  "text_nb": None, "excerpt": None})
                self.db.execute("update case_messages set text_original = null, text_nb = null, "
                                "understood_answer = null, understood_title = null where case_id = ?", [case_id])
                self.db.execute("update interpreter_requests set details = '{}' where case_id = ?", [case_id])
                self._audit("person", "erased", case_id)
            return len(ids)

    def purge_older_than(self, days: int) -> int:
        """Retention: drop the words of closed cases older than `days`."""
        cutoff = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=days)).isoformat(timespec="seconds")
        with self._lock, self.db.conn:
            ids = [r["id"] for r in self.db["cases"].rows_where("status = 'closed' and updated <= ? and "
                                                                "text_original is not null", [cutoff])]
            for case_id in ids:
                self.db["cases"].update(case_id, {"text_original": None, "text_nb": None, "excerpt": None})
                self.db.execute("update case_messages set text_original = null, text_nb = null, "
                                "understood_title = null where case_id = ?", [case_id])
            self.db.execute("update unanswered set text = null, text_nb = null where at <= ?", [cutoff])
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
