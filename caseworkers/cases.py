"""The caseworkers' case store (sqlite-utils, WAL): cases, the messages on
a case, interpreter requests and an audit log of who did what.

Every change is one transaction, so a crash loses nothing that was
acknowledged. A person has at most one open case: a second request adds to
it. References are short and readable on a phone ("K-7Q4M2X").
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import threading
from pathlib import Path
from typing import Any

import sqlite_utils

from caseworkers import accounts
from core.db import check_writable, migration, open_database

SCHEMA_VERSION = 4
#: Dangers in which contacting the person unasked could endanger them.
CAUTION_DANGERS = frozenset({"violence", "child"})
STATUSES = ("open", "claimed", "answered", "closed")
URGENCY_ORDER = {"urgent": 0, "normal": 1}
_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud on the phone


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
            if version < 4:  # accounts with roles, server-side desk sessions, lock-out; structured appointments
                accounts.create_tables(self.db)
                add_interpreter_appointments(self.db)

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
            self._audit(actor, status, case_id)

    def add_reply(self, case_id: int, actor: str, text_nb: str, text_sent: str, machine_translated: bool) -> int:
        """A caseworker's reply: Norwegian as written, and what was sent.
        Returns the message's id (it keys the send to the person)."""
        with self._lock, self.db.conn:
            message_id = self.db["case_messages"].insert({
                "case_id": case_id, "created": now(), "direction": "out", "author": actor,
                "text_original": text_sent, "text_nb": text_nb, "machine_translated": int(machine_translated)}).last_pk
            self.db["cases"].update(case_id, {"status": "answered", "updated": now()})
            self._audit(actor, "replied", case_id, {"machine_translated": machine_translated})
            return int(message_id)

    # -- caseworker accounts ---------------------------------------------------------
    # (roles, sessions and lock-out: caseworkers/accounts.py)
    def create_caseworker(self, username: str, password: str, admin: bool = False) -> str:
        """Create an account, or give an existing one a new password (the CLI).
        The first account is an admin. Returns its role."""
        return accounts.Accounts(self).create(username, password, accounts.ADMIN if admin else None, replace=True)

    def check_password(self, username: str, password: str) -> bool:
        return accounts.Accounts(self).verify(username, password) is not None

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
        """Erase the personal fields of a person's cases (who, their words,
        the excerpt, interpreter details); keep anonymous counts (topic,
        language, dates, status). Returns how many cases were touched."""
        with self._lock, self.db.conn:
            ids = [r["id"] for r in self.db["cases"].rows_where("sender = ?", [sender])]
            for case_id in ids:
                self.db["cases"].update(case_id, {"sender": f"erased:{case_id}", "text_original": None,
                                                  "text_nb": None, "excerpt": None})
                self.db.execute("update case_messages set text_original = null, text_nb = null where case_id = ?",
                                [case_id])
                self.db.execute("update interpreter_requests set details = '{}', place = null where case_id = ?",
                                [case_id])
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
                self.db.execute("update case_messages set text_original = null, text_nb = null where case_id = ?",
                                [case_id])
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
