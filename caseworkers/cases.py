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
from core.privacy import PersonHasher

SCHEMA_VERSION = 4
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


ERASED_PREFIX = "erased:"


def is_erased(sender: str) -> bool:
    """A case whose person erased it, or that retention emptied: nobody to write to."""
    return sender.startswith(ERASED_PREFIX)


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def new_reference() -> str:
    return "K-" + "".join(secrets.choice(_ALPHABET) for _ in range(6))


class AlreadyDecided(Exception):
    """The interpreter request was decided before (its status is the message)."""


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
            if version < 4:  # who wrote an unanswered message, as a keyed hash: /delete finds their words
                self.db["unanswered"].add_column("person", str)
                self.db["unanswered"].create_index(["person"])

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
        self.db.execute("update case_messages set text_original = null, text_nb = null where case_id = ?", [case_id])
        self.db.execute("update interpreter_requests set details = '{}', interpreter = null, time = null,"
                        " reason = null where case_id = ?", [case_id])

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
            self.db.execute("update case_messages set text_original = null, text_nb = null where created <= ?",
                            [cutoff])
            self.db.execute("update interpreter_requests set details = '{}', interpreter = null, time = null,"
                            " reason = null where created <= ?", [cutoff])
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
