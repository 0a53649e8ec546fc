"""The channels' own database (sqlite-utils, WAL): what must survive a
restart on the channel side. Nothing else in channels/ writes SQL.

- inbound:  every message received, once (UNIQUE channel + external id), with
            its state: received -> replied (the assistant's replies kept on
            the row) -> answered (delivered); pending while the assistant is
            down; retrying while a worker answers it again
- outbound: every message to send, once (UNIQUE idempotency key), with
            attempts and the provider's id; failed sends stay visible
- receipts: delivery receipts from SMS gateways
- callbacks: short keys for Telegram button payloads over 64 bytes
- options:  the numbered SMS options last sent to a person ("1" -> payload)
- more:     the rest of an SMS answer that did not fit ("MORE")
- optouts:  SMS numbers that sent STOP, as keyed hashes (core.privacy.PersonHasher):
            honoured after the person's erasure, never naming the number
- people:   the language each person was last answered in (for notices
            when the assistant is down)
- updates:  Telegram webhook updates as received, from the moment Telegram
            hears 200 until a handler has taken them (replayed after a crash)
- keyboards: the Telegram message that carries a person's current buttons
            (a press on an older one is answered "this button is old")

A delivery that fails is retried with a growing pause kept in the row
(`next_try`), over hours, not seconds; one the channel refuses for good (the
person blocked the bot, a permanent 4xx) is given up (`undeliverable`,
`failed`) and recorded, so it never holds up other people's replies.

Sender ids are stored as given by the channel ("tg:123", "sms:+47...") so
that /delete can erase them; logs use pseudonyms (core.privacy). Retention
(`purge_older_than`) deletes every row older than RETENTION_DAYS from every
table but the opt-outs (hashes only); `forget` deletes every row of one person.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tenacity import retry, retry_if_exception_type, stop_after_delay, wait_exponential

from core.db import check_writable, migration, open_database
from core.privacy import PersonHasher

SCHEMA_VERSION = 5

#: Each table and the column holding the time a row was written or last changed:
#: retention deletes rows older than RETENTION_DAYS by it (`purge_older_than`).
AGE_COLUMNS = {"inbound": "created", "outbound": "created", "receipts": "received", "callbacks": "created",
               "options": "created", "more": "created", "people": "updated", "updates": "created",
               "keyboards": "created"}
#: Tables kept past the retention period, and why: nothing in them names a person.
KEPT_TABLES = {"optouts": "keyed hashes of numbers that sent STOP"}


#: What happened must be written down, even if another writer holds the
#: database for longer than the busy timeout: retried for up to a minute
#: (the webhooks' own first write is not: they answer 503 and are retried).
_persist = retry(retry=retry_if_exception_type(sqlite3.OperationalError), stop=stop_after_delay(60),
                 wait=wait_exponential(0.1, max=5), reraise=True)


#: The sender column of rows kept only to recognise a message id after erasure.
ERASED_SENDER = "erased"


#: A delivery is tried this many times (over about a day, see backoff_seconds) before it is given up.
MAX_DELIVERY_ATTEMPTS = 30


def _options(raw: str) -> dict[str, Any]:
    data = json.loads(raw)
    return data if isinstance(data, dict) else {"payloads": data, "shown": len(data)}  # rows from before v4


def _update_chat(body: str) -> str | None:
    """The chat id a stored Telegram update comes from, as text."""
    try:
        data = json.loads(body)
    except ValueError:
        return None
    for key in ("message", "edited_message", "callback_query", "my_chat_member"):
        item = data.get(key) if isinstance(data, dict) else None
        if isinstance(item, dict):
            chat = (item.get("message") or {}).get("chat") if key == "callback_query" else item.get("chat")
            if isinstance(chat, dict) and "id" in chat:
                return str(chat["id"])
            sender = item.get("from")
            if key == "callback_query" and isinstance(sender, dict) and "id" in sender:
                return str(sender["id"])
    return None


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")


def later(seconds: float) -> str:
    return (dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=seconds)).isoformat(timespec="milliseconds")


def backoff_seconds(attempts: int) -> float:
    """30 s, 1 min, 2 min ... then every hour: a gateway or network outage of
    minutes or hours loses nothing, and a dead one is not hammered."""
    return min(30.0 * 2 ** (attempts - 1), 3600.0)


class Store:
    def __init__(self, path: Path | str | None = None) -> None:
        self.db = open_database(path)
        self._lock = threading.RLock()
        self._hash = PersonHasher(path)
        self.migrate()

    # -- schema ---------------------------------------------------------------
    def migrate(self) -> None:
        """Create or upgrade the schema, in one transaction."""
        with migration(self.db, self._lock, SCHEMA_VERSION) as version:
            if version < 1:
                self.db["inbound"].create(
                    {"id": int, "channel": str, "external_id": str, "sender": str, "text": str, "status": str,
                     "created": str, "answered": str},
                    pk="id", not_null={"channel", "external_id", "sender", "status"},
                )
                self.db["inbound"].create_index(["channel", "external_id"], unique=True)
                self.db["inbound"].create_index(["status"])
                self.db["outbound"].create(
                    {"id": int, "channel": str, "sender": str, "key": str, "body": str, "status": str,
                     "attempts": int, "last_error": str, "provider_id": str, "created": str, "updated": str},
                    pk="id", not_null={"channel", "sender", "key", "body", "status"},
                )
                self.db["outbound"].create_index(["key"], unique=True)
                self.db["outbound"].create_index(["provider_id"])
                self.db["receipts"].create({"id": int, "provider_id": str, "status": str, "received": str}, pk="id")
                self.db["callbacks"].create({"key": str, "payload": str, "created": str}, pk="key")
                self.db["options"].create({"sender": str, "options": str, "created": str}, pk="sender")
                self.db["more"].create({"sender": str, "parts": str, "created": str}, pk="sender")
                self.db["optouts"].create({"sender": str, "created": str}, pk="sender")
                self.db["people"].create({"sender": str, "language": str, "updated": str}, pk="sender")
            if version < 2:  # the assistant's replies, kept until delivered
                self.db["inbound"].add_column("replies", str)
                self.db["inbound"].add_column("language", str)
            if version < 3:  # Telegram webhook updates, kept from the 200 until handled
                self.db["updates"].create({"update_id": int, "body": str, "status": str, "created": str},
                                          pk="update_id")
            if version < 4:  # persisted backoff; the current keyboard per person
                self.db["inbound"].add_column("attempts", int, not_null_default=0)
                self.db["inbound"].add_column("next_try", str)
                self.db["inbound"].add_column("last_error", str)
                self.db["outbound"].add_column("next_try", str)
                self.db["keyboards"].create({"sender": str, "message_id": int, "created": str}, pk="sender")
            if version < 5:  # opt-outs as keyed hashes: a STOP outlives erasure without keeping the number
                for row in list(self.db["optouts"].rows):
                    if not row["sender"].startswith("h:"):
                        self.db.execute("delete from optouts where sender = ?", [row["sender"]])
                        self.db["optouts"].upsert({"sender": self._hash(row["sender"]), "created": row["created"]},
                                                  pk="sender")

    # -- inbound ----------------------------------------------------------------
    def record_inbound(self, channel: str, external_id: str, sender: str, text: str) -> int | None:
        """Record a message; None when this (channel, external id) was seen before."""
        with self._lock, self.db.conn:
            try:
                return self.db["inbound"].insert(
                    {"channel": channel, "external_id": external_id, "sender": sender, "text": text,
                     "status": "received", "created": now()}
                ).last_pk
            except sqlite3.IntegrityError:
                return None

    @_persist
    def set_inbound_status(self, inbound_id: int, status: str) -> None:
        with self._lock, self.db.conn:
            self.db["inbound"].update(inbound_id, {"status": status, "answered": now() if status == "answered" else None})

    def pending_inbound(self, stale_after_seconds: float = 60.0) -> list[dict[str, Any]]:
        """Messages to answer again, oldest first: those kept while the
        assistant was down, and those received (or claimed for a retry) but
        never answered, because the process died in between, once they are
        `stale_after_seconds` old."""
        cutoff = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=stale_after_seconds)).isoformat()
        # A 'retrying' row was claimed (claim time in `answered`) by a process that may have died since.
        # A row whose delivery failed waits until its `next_try`.
        return list(self.db["inbound"].rows_where(
            "(status = 'pending' or (status in ('received', 'replied') and created < ?)"
            " or (status = 'retrying' and answered < ?)) and (next_try is null or next_try <= ?)",
            [cutoff, cutoff, now()], order_by="id"))

    @_persist
    def defer_inbound(self, inbound_id: int, error: str) -> str:
        """A delivery failed for a reason that may pass: try again after a
        pause that doubles (30 s up to an hour) and give up after a day or
        so. Returns the new status."""
        with self._lock, self.db.conn:
            row = self.db["inbound"].get(inbound_id)
            attempts = (row.get("attempts") or 0) + 1
            status = ("undeliverable" if attempts >= MAX_DELIVERY_ATTEMPTS
                      else "replied" if row.get("replies") else "received")
            self.db["inbound"].update(inbound_id, {"status": status, "attempts": attempts, "last_error": error[:200],
                                                   "next_try": later(backoff_seconds(attempts))})
            return status

    @_persist
    def give_up_inbound(self, inbound_id: int, error: str) -> None:
        """The channel refuses this delivery for good: recorded, never retried."""
        with self._lock, self.db.conn:
            self.db["inbound"].update(inbound_id, {"status": "undeliverable", "last_error": error[:200]})

    def set_replies(self, inbound_id: int, replies: list[dict[str, Any]], language: str) -> None:
        """Keep the assistant's replies before delivering them: if delivery
        fails or the process dies, they are delivered later without asking
        the assistant again."""
        with self._lock, self.db.conn:
            self.db["inbound"].update(inbound_id, {"status": "replied", "language": language,
                                                   "replies": json.dumps(replies, ensure_ascii=False)})

    def inbound(self, inbound_id: int) -> dict[str, Any]:
        return self.db["inbound"].get(inbound_id)

    def inbound_status_by_external(self, channel: str, external_id: str) -> str | None:
        rows = list(self.db["inbound"].rows_where("channel = ? and external_id = ?", [channel, external_id]))
        return rows[0]["status"] if rows else None

    def inbound_status(self, inbound_id: int) -> str:
        return self.inbound(inbound_id)["status"]

    def claim_inbound(self, inbound_id: int, status: str) -> bool:
        """Take a message to answer again, if it is still in `status`; only
        one process wins (channel workers may share this database)."""
        with self._lock, self.db.conn:
            return self.db.execute("update inbound set status = 'retrying', answered = ? where id = ? and status = ?",
                                   [now(), inbound_id, status]).rowcount == 1

    def counts(self) -> dict[str, int]:
        """For /metrics: messages not answered yet, and replies that failed."""
        pending = self.db.execute("select count(*) from inbound where status not in ('answered', 'ignored',"
                                  " 'undeliverable')").fetchone()[0]
        failed = (self.db.execute("select count(*) from outbound where status = 'failed'").fetchone()[0]
                  + self.db.execute("select count(*) from inbound where status = 'undeliverable'").fetchone()[0])
        return {"pending": pending, "failed": failed}

    def check(self, write: bool = True) -> None:
        """Raise if the database cannot be written (for /readyz; see check_writable)."""
        check_writable(self.db, self._lock, write)

    # -- Telegram webhook intake -------------------------------------------------------
    def record_update(self, update_id: int, body: str) -> bool:
        """Keep a webhook update before acknowledging it; False if seen before."""
        with self._lock, self.db.conn:
            try:
                self.db["updates"].insert({"update_id": update_id, "body": body, "status": "received",
                                           "created": now()})
                return True
            except sqlite3.IntegrityError:
                return False

    @_persist
    def update_handled(self, update_id: int) -> None:
        with self._lock, self.db.conn:
            self.db.execute("update updates set status = 'handled', body = '' where update_id = ?", [update_id])

    def stale_updates(self, stale_after_seconds: float) -> list[dict[str, Any]]:
        cutoff = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=stale_after_seconds)).isoformat()
        return list(self.db["updates"].rows_where("status = 'received' and created < ?", [cutoff],
                                                  order_by="update_id"))

    # -- outbound ---------------------------------------------------------------
    def queue_outbound(self, channel: str, sender: str, key: str, body: dict[str, Any]) -> int | None:
        """Queue a message to send; None if this idempotency key was queued already."""
        with self._lock, self.db.conn:
            try:
                return self.db["outbound"].insert(
                    {"channel": channel, "sender": sender, "key": key, "body": json.dumps(body, ensure_ascii=False),
                     "status": "queued", "attempts": 0, "created": now(), "updated": now()}
                ).last_pk
            except sqlite3.IntegrityError:
                return None

    def outbound(self, outbound_id: int) -> dict[str, Any]:
        return self.db["outbound"].get(outbound_id)

    def outbound_by_key(self, key: str) -> dict[str, Any] | None:
        rows = list(self.db["outbound"].rows_where("key = ?", [key]))
        return rows[0] if rows else None

    @_persist
    def mark_outbound(self, outbound_id: int, status: str, error: str = "", provider_id: str = "") -> None:
        with self._lock, self.db.conn:
            row = self.db["outbound"].get(outbound_id)
            self.db["outbound"].update(outbound_id, {
                "status": status, "attempts": row["attempts"] + (status in ("sent", "failed", "retrying")),
                "last_error": error[:200], "provider_id": provider_id or row["provider_id"], "updated": now()})

    @_persist
    def defer_outbound(self, outbound_id: int, error: str) -> str:
        """A send failed for a reason that may pass (gateway down, 5xx, 429):
        kept for the resend job with a growing pause; failed after about a day."""
        with self._lock, self.db.conn:
            row = self.db["outbound"].get(outbound_id)
            attempts = row["attempts"] + 1
            status = "failed" if attempts >= MAX_DELIVERY_ATTEMPTS else "retrying"
            self.db["outbound"].update(outbound_id, {"status": status, "attempts": attempts, "last_error": error[:200],
                                                     "next_try": later(backoff_seconds(attempts)), "updated": now()})
            return status

    def drop_outbound(self, outbound_id: int) -> None:
        """Delete a send that is done (the confirmation to a person just erased)."""
        with self._lock, self.db.conn:
            self.db.execute("delete from outbound where id = ?", [outbound_id])

    def outbound_due(self, channel: str, stale_after_seconds: float) -> list[dict[str, Any]]:
        """Sends to try again: deferred ones whose pause is over, and queued
        ones a process that died never sent."""
        cutoff = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=stale_after_seconds)).isoformat()
        return list(self.db["outbound"].rows_where(
            "channel = ? and ((status = 'retrying' and next_try <= ?) or (status = 'queued' and updated < ?))",
            [channel, now(), cutoff], order_by="id"))

    def outbound_for(self, channel: str, sender: str, status: str) -> list[dict[str, Any]]:
        return list(self.db["outbound"].rows_where("channel = ? and sender = ? and status = ?",
                                                   [channel, sender, status], order_by="id"))

    def outbound_with_status(self, status: str) -> list[dict[str, Any]]:
        return list(self.db["outbound"].rows_where("status = ?", [status], order_by="id"))

    def record_receipt(self, provider_id: str, status: str) -> None:
        with self._lock, self.db.conn:
            self.db["receipts"].insert({"provider_id": provider_id, "status": status, "received": now()})
            self.db.execute("update outbound set status = ?, updated = ? where provider_id = ?",
                            [f"delivery:{status}", now(), provider_id])

    # -- Telegram callback keys ---------------------------------------------------
    def callback_key(self, payload: str) -> str:
        """A short key standing for a payload too long for Telegram's 64 bytes."""
        with self._lock, self.db.conn:
            for row in self.db["callbacks"].rows_where("payload = ?", [payload]):
                return row["key"]
            key = "k:" + secrets.token_urlsafe(12)
            self.db["callbacks"].insert({"key": key, "payload": payload, "created": now()})
            return key

    def callback_payload(self, key: str) -> str | None:
        rows = list(self.db["callbacks"].rows_where("key = ?", [key]))
        return rows[0]["payload"] if rows else None

    # -- SMS conversation state ---------------------------------------------------
    def set_options(self, sender: str, payloads: list[str], shown: int | None = None) -> None:
        """The numbered options of the last SMS turn; only the first `shown`
        have reached the person (the rest come with MORE)."""
        shown = len(payloads) if shown is None else shown
        with self._lock, self.db.conn:
            self.db["options"].upsert({"sender": sender, "options": json.dumps({"payloads": payloads, "shown": shown}),
                                       "created": now()}, pk="sender")

    def show_options(self, sender: str, upto: int) -> None:
        """MORE brought options up to number `upto` to the person."""
        rows = list(self.db["options"].rows_where("sender = ?", [sender]))
        if rows:
            data = _options(rows[0]["options"])
            self.set_options(sender, data["payloads"], max(data["shown"], upto))

    def option(self, sender: str, number: int) -> str | None:
        """The payload of option `number`, if the person has been shown it."""
        rows = list(self.db["options"].rows_where("sender = ?", [sender]))
        data = _options(rows[0]["options"]) if rows else {"payloads": [], "shown": 0}
        return data["payloads"][number - 1] if 1 <= number <= min(data["shown"], len(data["payloads"])) else None

    def set_more(self, sender: str, parts: list[str]) -> None:
        with self._lock, self.db.conn:
            if parts:
                self.db["more"].upsert({"sender": sender, "parts": json.dumps(parts, ensure_ascii=False),
                                        "created": now()}, pk="sender")
            else:
                self.db.execute("delete from more where sender = ?", [sender])

    def pop_more(self, sender: str) -> list[str]:
        rows = list(self.db["more"].rows_where("sender = ?", [sender]))
        return json.loads(rows[0]["parts"]) if rows else []

    def opt_out(self, sender: str) -> None:
        with self._lock, self.db.conn:
            self.db["optouts"].upsert({"sender": self._hash(sender), "created": now()}, pk="sender")

    def opt_in(self, sender: str) -> None:
        with self._lock, self.db.conn:
            self.db.execute("delete from optouts where sender = ?", [self._hash(sender)])

    def opted_out(self, sender: str) -> bool:
        return bool(list(self.db["optouts"].rows_where("sender = ?", [self._hash(sender)])))

    # -- Telegram: the message with the person's current buttons ----------------------------
    def set_keyboard(self, sender: str, message_id: int) -> None:
        with self._lock, self.db.conn:
            self.db["keyboards"].upsert({"sender": sender, "message_id": message_id, "created": now()}, pk="sender")

    def keyboard(self, sender: str) -> int | None:
        rows = list(self.db["keyboards"].rows_where("sender = ?", [sender]))
        return rows[0]["message_id"] if rows else None

    # -- the language a person was last answered in ----------------------------------
    def set_language(self, sender: str, language: str) -> None:
        with self._lock, self.db.conn:
            self.db["people"].upsert({"sender": sender, "language": language, "updated": now()}, pk="sender")

    def language(self, sender: str) -> str | None:
        rows = list(self.db["people"].rows_where("sender = ?", [sender]))
        return rows[0]["language"] if rows else None

    # -- erasure --------------------------------------------------------------------
    def forget(self, sender: str) -> None:
        """Erase everything stored about one person (/delete, SMS DELETE, the
        web chat's erase button): their messages and replies, queued sends,
        SMS and Telegram state, and Telegram updates not handled yet (else the
        replay would bring the conversation back). A STOP stays, as a keyed
        hash only, so an erased number still gets no SMS."""
        with self._lock, self.db.conn:
            for table in ("inbound", "outbound", "options", "more", "people", "keyboards"):
                self.db.execute(f"delete from {table} where sender = ?", [sender])
            if sender.startswith("tg:"):
                chat = sender.partition(":")[2]
                for row in list(self.db["updates"].rows_where("body != ''")):
                    if _update_chat(row["body"]) == chat:
                        self.db.execute("delete from updates where update_id = ?", [row["update_id"]])

    def record_erased(self, channel: str, external_id: str) -> None:
        """Remember that a message id was seen, after its sender was erased, so
        a gateway's retry of it is not handled again. The row holds no sender
        and is already answered, so nothing ever picks it up."""
        with self._lock, self.db.conn:
            self.db.execute("delete from inbound where channel = ? and external_id = ?", [channel, external_id])
            self.db["inbound"].insert({"channel": channel, "external_id": external_id, "sender": ERASED_SENDER,
                                       "text": "", "status": "answered", "created": now(), "answered": now()})

    def purge_older_than(self, days: int) -> int:
        """Retention: delete every row older than `days`, whatever its state
        (messages, replies, sends, receipts, SMS and Telegram state, updates):
        no text, number or chat id outlives the period. A gateway does not
        retry a message for months, so nothing is needed to spot duplicates.
        Returns how many rows were deleted."""
        cutoff = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=days)).isoformat()
        deleted = 0
        with self._lock, self.db.conn:
            for table, column in AGE_COLUMNS.items():
                deleted += self.db.execute(f"delete from {table} where {column} is null or {column} <= ?",
                                           [cutoff]).rowcount
        return deleted

    def rows(self, table: str) -> Iterator[dict[str, Any]]:
        return self.db[table].rows
