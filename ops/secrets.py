"""Secrets a deployment makes for itself: created once, readable by the owner only.

Also the one place that makes every process's files the owner's only
(security review: databases, their -wal/-shm files, logs and backups were
mode 644 in a 755 folder). Each entry point calls `owner_only()` first.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

OWNER_ONLY_UMASK = 0o077
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


def owner_only() -> int:
    """Everything this process (and what it starts) creates from now on is
    readable and writable by its owner only: files 600, folders 700, SQLite's
    -wal/-shm too (SQLite gives them the database file's mode). Returns the
    previous umask. Call it first thing in an entry point."""
    return os.umask(OWNER_ONLY_UMASK)


def restrict(*databases: Path | str | None) -> None:
    """Take group and other permissions away from files an older version
    made readable (a database, with its -wal/-shm/-journal). Missing files,
    other users' files and anything not a regular file are left alone."""
    for database in databases:
        if not database:
            continue
        for suffix in ("", *SQLITE_SIDE_FILES):
            path = Path(f"{database}{suffix}")
            try:
                st = path.lstat()
                if stat.S_ISREG(st.st_mode) and st.st_uid == os.geteuid() and st.st_mode & 0o077:
                    os.chmod(path, stat.S_IMODE(st.st_mode) & 0o700)
            except OSError:
                continue


def private_dir(path: Path, tighten: bool = False) -> Path:
    """Create `path` and any missing parents with mode 700. An existing
    folder is left as it is, unless `tighten` (the project's own var/):
    then group and other permissions are taken away if this user owns it."""
    missing = []
    folder = path
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=0o700)
        except FileExistsError:
            continue
        os.chmod(folder, 0o700)  # mkdir's mode passes through the umask
    if tighten and not missing:
        st = path.stat()
        if st.st_uid == os.geteuid() and st.st_mode & 0o077 and not st.st_mode & stat.S_ISVTX:
            os.chmod(path, stat.S_IMODE(st.st_mode) & 0o700)
    return path


def local_secret(path: Path) -> str:
    """The secret kept in `path`, made (random, mode 600) the first time.
    Never logged, never put on a command line. Two processes starting at
    once get the same secret: it is written to a private temporary file and
    linked into place, so nobody reads it half written."""
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    private_dir(path.parent)
    secret = secrets.token_urlsafe(32)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(secret)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:  # another process made it first: use theirs
            return path.read_text(encoding="utf-8").strip()
        except OSError:  # a file system without hard links
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(secret)
    finally:
        tmp.unlink(missing_ok=True)
    return secret
