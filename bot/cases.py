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
import sqlite3
import threading
from pathlib import Path
from typing import Any

import sqlite_utils

SCHEMA_VERSION = 1
STATUSES = ("open", "claimed", "answered", "closed")
URGENCY_ORDER = {"urgent": 0, "normal": 1}
_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud on the phone


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def new_reference() -> str:
    return "K-" + "".join(secrets.choice(_ALPHABET) for _ in range(6))


class CaseStore:
    def __init__(self, path: Path | str | None = None) -> None:
        if path is None:
            self.db = sqlite_utils.Database(sqlite3.connect(":memory:", check_same_thread=False))
        else:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite_utils.Database(sqlite3.connect(str(path), check_same_thread=False, timeout=10))
            self.db.enable_wal()
        self._lock = threading.RLock()
        self.migrate()

    def migrate(self) -> None:
        with self._lock, self.db.conn:
            version = self.db.execute("PRAGMA user_version").fetchone()[0]
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
            self.db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _audit(self, actor: str, action: str, case_id: int | None, details: dict | None = None) -> None:
        self.db["audit"].insert({"at": now(), "actor": actor, "action": action, "case_id": case_id,
                                 "details": json.dumps(details or {}, ensure_ascii=False)})

    def open_case(self, *, sender: str, channel: str, language: str, topic: str, text: str, urgent: bool = False,
                  text_nb: str | None = None, excerpt: str = "") -> tuple[dict[str, Any], bool]:
        """Open a case, or add to the person's open one. Returns (case, new?).
        An urgent request makes an open case urgent."""
        with self._lock, self.db.conn:
            open_rows = list(self.db["cases"].rows_where("sender = ? and status != 'closed'", [sender],
                                                         order_by="id desc", limit=1))
            if open_rows:
                case = open_rows[0]
                changes = {"updated": now(), "status": "open" if case["status"] == "answered" else case["status"]}
                if urgent:
                    changes["urgency"] = "urgent"
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

    def audit_log(self, case_id: int) -> list[dict[str, Any]]:
        return list(self.db["audit"].rows_where("case_id = ?", [case_id], order_by="id"))
