"""Rasa's SQL tracker store, reached directly for the two things Rasa 3.6's
HTTP API cannot do: erase one person's conversation (/delete, SMS DELETE)
and drop events older than the retention period.

SQLite (TRACKER_DB) on one machine; PostgreSQL (POSTGRES_* or
TRACKER_DB_URL) when several Rasa servers share the conversations.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import URL, Engine


def tracker_url(env: Mapping[str, str] = os.environ, default_sqlite: str = "var/tracker.db") -> str:
    """The SQLAlchemy URL of the tracker store the Rasa servers use."""
    if env.get("TRACKER_DB_URL"):
        return env["TRACKER_DB_URL"]
    if env.get("POSTGRES_HOST"):
        return URL.create("postgresql", username=env.get("POSTGRES_USER") or None,
                          password=env.get("POSTGRES_PASSWORD") or None, host=env["POSTGRES_HOST"],
                          port=int(env.get("POSTGRES_PORT") or 5432),
                          database=env.get("POSTGRES_DB") or "rasa").render_as_string(hide_password=False)
    return "sqlite:///" + str(Path(env.get("TRACKER_DB") or default_sqlite).resolve())


class TrackerDatabase:
    def __init__(self, url: str) -> None:
        args = {"timeout": 10} if url.startswith("sqlite") else {"connect_timeout": 10}
        self.engine: Engine = create_engine(url, connect_args=args, pool_pre_ping=True, future=True)

    def _events(self, conn) -> bool:  # type: ignore[no-untyped-def]
        return inspect(conn).has_table("events")

    def forget(self, sender_id: str) -> int:
        """Delete every event of one conversation; returns how many."""
        with self.engine.begin() as conn:
            if not self._events(conn):
                return 0
            return conn.execute(text("delete from events where sender_id = :s"), {"s": sender_id}).rowcount

    def purge_before(self, cutoff: float) -> int:
        """Delete events older than `cutoff` (a Unix time); returns how many."""
        with self.engine.begin() as conn:
            if not self._events(conn):
                return 0
            return conn.execute(text("delete from events where timestamp < :t"), {"t": cutoff}).rowcount

    def event_count(self, sender_id: str) -> int:
        with self.engine.connect() as conn:
            if not self._events(conn):
                return 0
            return conn.execute(text("select count(*) from events where sender_id = :s"), {"s": sender_id}).scalar_one()

    def close(self) -> None:
        self.engine.dispose()
