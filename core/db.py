"""Opening, migrating and checking the project's own SQLite databases
(channel store, case store)."""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
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


@contextmanager
def migration(db: sqlite_utils.Database, lock: threading.RLock, target: int) -> Iterator[int]:
    """The schema version found (PRAGMA user_version), inside one transaction
    that takes the write lock first: another process (a second channel
    worker, the action server) may be migrating the same file, and waits.
    The version is `target` when the block ends."""
    with lock, db.conn:
        db.execute("BEGIN IMMEDIATE")
        yield db.execute("PRAGMA user_version").fetchone()[0]
        db.execute(f"PRAGMA user_version = {int(target)}")


def check_writable(db: sqlite_utils.Database, lock: threading.RLock, write: bool = True) -> None:
    """Raise if the database cannot be written (for /readyz). With
    `write=False` (an unauthenticated probe) it is only read, and its file
    checked for write permission: a stranger cannot make it take write locks."""
    if not write:
        db.execute("select count(*) from sqlite_master").fetchone()
        files = [row[2] for row in db.execute("PRAGMA database_list").fetchall() if row[2]]
        if any(not os.access(f, os.W_OK) for f in files):
            raise PermissionError("database file not writable")
        return
    with lock, db.conn:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        db.execute(f"PRAGMA user_version = {int(version)}")

