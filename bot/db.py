"""Opening the project's own SQLite databases (channel store, case store)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import sqlite_utils


def open_database(path: Path | str | None) -> sqlite_utils.Database:
    """A file database in WAL mode, or an in-memory one for `None`.

    check_same_thread=False: the stores are used from the event loop and from
    worker threads; each store serialises its writers with a lock.
    """
    if path is None:
        return sqlite_utils.Database(sqlite3.connect(":memory:", check_same_thread=False))
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    db = sqlite_utils.Database(sqlite3.connect(str(path), check_same_thread=False, timeout=10))
    db.enable_wal()
    return db
