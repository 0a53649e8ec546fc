"""Backups of the assistant's state: the channel store (BOT_DB), the case
store (CASES_DB), Rasa's tracker store (TRACKER_DB, or PostgreSQL through
TRACKER_DB_URL or POSTGRES_*) and the small secret files kept next to them.

    python -m scripts.backup create [--dest DIR] [--keep N]
    python -m scripts.backup verify DIR
    python -m scripts.backup restore DIR [--force]

Why it works the way it does:
- The services keep their SQLite files open in WAL mode, where committed data
  may live only in the -wal file; a file copy can miss it or catch a page
  half-written. SQLite's online backup API copies one consistent snapshot
  while the services run, so `create` needs no downtime.
- Each backup is a folder (mode 700, files 600: it holds personal data) with
  a manifest.json (sha256, tables with row counts, schema user_version), so
  `verify` can prove a copy is intact before anyone relies on it, and
  `restore` verifies first and never deletes: files it replaces are moved
  aside to `<name>.before-restore-<UTC time>`.
- A backup is written under a hidden `.partial` name and renamed when
  complete, so a half-written backup never looks like a good one.
- Restore trusts nothing in the backup (whoever can edit a copy must not be
  able to write outside the database folders or choose modes): file names
  must be the project's own (`bot.db`, `cases.db`, `tracker.db` or
  `tracker.pgdump`, secrets named `<words>-secret|-token|-key`), so no name
  holds a folder or `..`; every restored file is mode 600 whatever the
  manifest says; with BACKUP_SIGNING_KEY (or BACKUP_SIGNING_KEY_FILE), kept
  apart from the backups, `create` signs the manifest (HMAC-SHA256, in
  manifest.sig) and `verify`/`restore` refuse a backup whose signature is
  missing or wrong.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import hmac
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from ops.secrets import owner_only
from scripts.stack import ROOT, load_env_file

FORMAT = 1
MANIFEST = "manifest.json"
# The services' settings and defaults (core/config.py;
# tests/system/test_backup.py keeps them in step). Relative paths are taken from the
# project folder, the services' working directory.
DATABASES = (("bot", "BOT_DB", "var/bot.db"), ("cases", "CASES_DB", "var/cases.db"),
             ("tracker", "TRACKER_DB", "var/tracker.db"))
DEFAULT_BACKUP_DIR = "var/backups"
SECRET_MAX_BYTES = 64 * 1024
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")
# The only names a backup's files may have: a database's file is its name
# with the kind's suffix; the project's secrets (ops.secrets.local_secret:
# sms-json-secret, rasa-api-token, log-pseudonym-key, ...) are lower-case
# words ending in -secret, -token or -key. No folder, no dot, no "..".
DATABASE_FILES = {"sqlite": ".db", "postgresql": ".pgdump"}
SECRET_NAME = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*-(?:secret|token|key)")
RESTORED_MODE = 0o600
SIGNATURE = "manifest.sig"
SIGNATURE_PREFIX = "hmac-sha256:"
SIGNING_KEY_MIN_CHARS = 32
HEX64 = re.compile(r"[0-9a-f]{64}")
STAMP = re.compile(r"^(\d{8}T\d{6}Z)(?:-(\d+))?$")


class BackupError(Exception):
    """Something the operator must fix or decide; the message says what."""


@dataclass(frozen=True)
class Target:
    """Where one database lives according to the current configuration."""

    name: str  # "bot", "cases" or "tracker"
    env: str
    path: Path  # the SQLite file (also names the folder for secrets)
    url: str = ""  # PostgreSQL URL (TRACKER_DB_URL) instead of the SQLite file

    @property
    def where(self) -> str:
        return redact(self.url) if self.url else shown(self.path)


# -- configuration ---------------------------------------------------------------------------------------------------
def project_path(value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else ROOT / path


def configured_targets() -> dict[str, Target]:
    """The databases as the services see them (same variables and defaults)."""
    targets: dict[str, Target] = {}
    for name, var, default in DATABASES:
        path, url = project_path(os.environ.get(var) or default), ""
        if name == "tracker":
            path, url, var = tracker_location(path)
        targets[name] = Target(name, var, path, url)
    return targets


def tracker_location(sqlite_path: Path) -> tuple[Path, str, str]:
    """Where Rasa keeps conversations, in the order channels/tracker.py reads it:
    TRACKER_DB_URL, then POSTGRES_* (deploy/endpoints.multi.yml), then the
    SQLite file TRACKER_DB. Returns (SQLite path, PostgreSQL URL, variable)."""
    env = os.environ
    url = env.get("TRACKER_DB_URL", "")
    if url.startswith("postgresql"):
        return sqlite_path, url, "TRACKER_DB_URL"
    if url.startswith("sqlite:///"):
        return project_path(unquote(url.removeprefix("sqlite:///"))), "", "TRACKER_DB_URL"
    if not url and env.get("POSTGRES_HOST"):
        user = quote(env.get("POSTGRES_USER", ""), safe="")
        password = quote(env.get("POSTGRES_PASSWORD", ""), safe="")
        userinfo = f"{user}:{password}@" if user and password else f"{user}@" if user else ""
        host = env["POSTGRES_HOST"]
        return (sqlite_path, f"postgresql://{userinfo}{host}:{env.get('POSTGRES_PORT') or 5432}/"
                             f"{env.get('POSTGRES_DB') or 'rasa'}", "POSTGRES_HOST")
    return sqlite_path, "", "TRACKER_DB"


def backup_root() -> Path:
    return project_path(os.environ.get("BACKUP_DIR") or DEFAULT_BACKUP_DIR)


def stack_note(targets: dict[str, Target]) -> str | None:
    """scripts/stack.py starts the channel server with BOT_DB next to
    TRACKER_DB, whatever BOT_DB says; warn when the two disagree."""
    derived = targets["tracker"].path.resolve().parent / "bot.db"
    if os.environ.get("BOT_DB") and targets["bot"].path.resolve() != derived:
        return (f"note: BOT_DB is {shown(targets['bot'].path)}, but `make run` (scripts/stack.py) starts the channel "
                f"server with {shown(derived)}; this command uses BOT_DB")
    return None


def shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def utc_stamp(now: dt.datetime | None = None) -> str:
    return (now or dt.datetime.now(dt.timezone.utc)).strftime("%Y%m%dT%H%M%SZ")


# -- files -----------------------------------------------------------------------------------------------------------
def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fsync(path: Path) -> None:
    """Flush a file or folder to disk: a backup must survive a power cut."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_private(path: Path, data: bytes) -> None:
    """Write a file only the owner can read (O_EXCL: never follow or reuse)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def is_sqlite_file(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(16) == b"SQLite format 3\x00"


def secret_files(folder: Path) -> list[Path]:
    """The project's secrets are small owner-only files next to the databases
    (ops.secrets.local_secret writes var/sms-json-secret with mode 600):
    take every such file named like one (SECRET_NAME), so a new secret is
    backed up without a change here. Other files are not taken: every
    process makes its files owner-only, so the mode alone says nothing."""
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.iterdir()):
        if not SECRET_NAME.fullmatch(path.name) or path.is_symlink() or not path.is_file():
            continue
        st = path.stat()
        if st.st_mode & 0o077 == 0 and st.st_size <= SECRET_MAX_BYTES and not is_sqlite_file(path):
            found.append(path)
    return found


# -- SQLite ----------------------------------------------------------------------------------------------------------
def quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def table_counts(conn: sqlite3.Connection) -> dict[str, int]:
    names = [r[0] for r in conn.execute(
        "select name from sqlite_master where type = 'table' and name not like 'sqlite_%' order by name")]
    return {name: conn.execute(f"select count(*) from {quoted(name)}").fetchone()[0] for name in names}


def open_readonly(path: Path) -> sqlite3.Connection:
    """immutable: reading a backup must not create -journal/-shm files or
    change a byte of it."""
    return sqlite3.connect(path.resolve().as_uri() + "?mode=ro&immutable=1", uri=True)


def backup_sqlite(source: Path, dest: Path) -> dict[str, Any]:
    """One consistent snapshot of a live database through the backup API
    (includes what is committed but still in the -wal file, never what a
    writer has not committed), stored as a self-contained rollback-journal
    file."""
    src = sqlite3.connect(source.resolve().as_uri() + "?mode=rw", uri=True, timeout=30)  # rw: never creates a file
    try:
        journal_mode = src.execute("PRAGMA journal_mode").fetchone()[0]
        dst = sqlite3.connect(dest)
        try:
            src.backup(dst)  # all pages in one step: one read transaction, one snapshot
            dst.execute("PRAGMA journal_mode=DELETE")  # no -wal beside the backup
            user_version = dst.execute("PRAGMA user_version").fetchone()[0]
            tables = table_counts(dst)
        finally:
            dst.close()
    finally:
        src.close()
    os.chmod(dest, 0o600)
    fsync(dest)
    st = source.stat()
    return {"kind": "sqlite", "file": dest.name, "sha256": sha256(dest), "bytes": dest.stat().st_size,
            "user_version": user_version, "journal_mode": journal_mode, "mode": f"{st.st_mode & 0o777:o}",
            "tables": tables}


def check_sqlite(path: Path) -> str | None:
    """PRAGMA integrity_check on a backup file; None when it is sound."""
    try:
        conn = open_readonly(path)
        try:
            result = [r[0] for r in conn.execute("PRAGMA integrity_check")]
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        return f"not a sound SQLite database ({exc})"
    return None if result == ["ok"] else "integrity_check: " + "; ".join(result[:5])


def restore_sqlite(backup: Path, entry: dict[str, Any], target: Path) -> dict[str, int]:
    """Copy a verified backup into place through the backup API, into a
    temporary file renamed over the target, so the target is never half
    written. Restores the journal mode the database had; the file is mode
    600 whatever the manifest says."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.restoring")
    for leftover in [tmp, *(Path(f"{tmp}{s}") for s in SQLITE_SIDE_FILES)]:
        leftover.unlink(missing_ok=True)
    src = open_readonly(backup)
    try:
        dst = sqlite3.connect(tmp)
        try:
            src.backup(dst)
            if entry.get("journal_mode") == "wal":
                dst.execute("PRAGMA journal_mode=WAL")
            if dst.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                raise BackupError(f"the restored copy of {target.name} fails quick_check")
            tables = table_counts(dst)
        finally:
            dst.close()  # last connection: a -wal is checkpointed and removed
    finally:
        src.close()
    os.chmod(tmp, RESTORED_MODE)
    give_to_folder_owner(tmp)
    fsync(tmp)
    os.replace(tmp, target)
    fsync(target.parent)
    return tables


def give_to_folder_owner(path: Path) -> None:
    """Run as root, a restore would leave root-owned files the services (run as
    their own user) cannot write; hand them to the folder's owner."""
    if os.geteuid() == 0:
        st = path.parent.stat()
        if st.st_uid != 0:
            os.chown(path, st.st_uid, st.st_gid)


def move_aside(path: Path, stamp: str) -> list[Path]:
    """Keep what a restore replaces: `<name>.before-restore-<stamp>`, with its
    -wal/-shm renamed alongside so SQLite still finds them."""
    aside = path.with_name(f"{path.name}.before-restore-{stamp}")
    moved = []
    for suffix in ("", *SQLITE_SIDE_FILES):
        src = Path(f"{path}{suffix}")
        if src.exists():
            dst = Path(f"{aside}{suffix}")
            if dst.exists():
                raise BackupError(f"{dst} exists already")
            os.replace(src, dst)
            moved.append(dst)
    return moved


def existing_files(path: Path) -> list[Path]:
    return [p for p in (Path(f"{path}{s}") for s in ("", *SQLITE_SIDE_FILES)) if p.exists()]


# -- PostgreSQL (TRACKER_DB_URL) -------------------------------------------------------------------------------------
def redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    userinfo, _, hostport = parts.netloc.rpartition("@")
    return urlunsplit(parts._replace(netloc=f"{userinfo.partition(':')[0]}:***@{hostport}"))


def pg_connection(url: str) -> tuple[str, dict[str, str]]:
    """A libpq URI without the password, and an environment with PGPASSWORD:
    a password on a command line is visible to every user in `ps`. Accepts
    SQLAlchemy's `postgresql+psycopg2://` spelling."""
    parts = urlsplit(url)
    userinfo, at, hostport = parts.netloc.rpartition("@")
    env = dict(os.environ)
    if parts.password is not None:
        env["PGPASSWORD"] = unquote(parts.password)
    netloc = f"{userinfo.partition(':')[0]}@{hostport}" if at else hostport
    return urlunsplit(parts._replace(scheme="postgresql", netloc=netloc)), env


def pg_tool(name: str) -> str:
    path = shutil.which(name)
    if not path:
        raise BackupError(f"the tracker store is PostgreSQL, but `{name}` is not on PATH: install the PostgreSQL "
                          f"client tools (Debian: apt-get install postgresql-client), the server's major version or "
                          f"newer")
    return path


def run_pg(args: list[str], env: dict[str, str]) -> None:
    proc = subprocess.run(args, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise BackupError(f"{Path(args[0]).name} failed: {proc.stderr.strip() or proc.returncode}")


@contextmanager
def pg_session(url: str, snapshot: bool = False) -> Iterator[tuple[Any, str | None]]:
    """A psycopg2 connection (None without psycopg2: then nothing is counted).
    With snapshot=True it holds a repeatable-read transaction and exports its
    snapshot, so pg_dump dumps exactly the rows that were counted."""
    try:
        import psycopg2
    except ImportError:
        yield None, None
        return
    uri, env = pg_connection(url)
    try:
        conn = psycopg2.connect(uri, password=env.get("PGPASSWORD"), connect_timeout=10)
    except psycopg2.Error as exc:
        raise BackupError(f"cannot connect to {redact(url)}: {str(exc).strip()}") from exc
    try:
        snapshot_id = None
        if snapshot:
            conn.set_session(isolation_level="REPEATABLE READ", readonly=True)
            with conn.cursor() as cur:
                cur.execute("select pg_export_snapshot()")
                snapshot_id = cur.fetchone()[0]
        yield conn, snapshot_id
    finally:
        conn.rollback()
        conn.close()


def pg_counts(conn: Any) -> dict[str, int] | None:
    if conn is None:
        return None
    from psycopg2 import sql

    with conn.cursor() as cur:
        cur.execute("select table_schema, table_name from information_schema.tables where table_type = 'BASE TABLE' "
                    "and table_schema not in ('pg_catalog', 'information_schema') order by 1, 2")
        counts = {}
        for schema, table in cur.fetchall():
            cur.execute(sql.SQL("select count(*) from {}.{}").format(sql.Identifier(schema), sql.Identifier(table)))
            counts[table if schema == "public" else f"{schema}.{table}"] = cur.fetchone()[0]
        return counts


def backup_postgres(url: str, dest: Path) -> dict[str, Any]:
    pg_dump = pg_tool("pg_dump")
    uri, env = pg_connection(url)
    with pg_session(url, snapshot=True) as (conn, snapshot_id):
        tables = pg_counts(conn)
        version = conn.server_version if conn is not None else None
        args = [pg_dump, "--format=custom", f"--file={dest}", f"--dbname={uri}"]
        run_pg(args + ([f"--snapshot={snapshot_id}"] if snapshot_id else []), env)
    os.chmod(dest, 0o600)
    fsync(dest)
    return {"kind": "postgresql", "file": dest.name, "sha256": sha256(dest), "bytes": dest.stat().st_size,
            "user_version": None, "server_version": version, "url": redact(url), "tables": tables}


def check_pg_dump(path: Path) -> str | None:
    """Read the whole archive (every table's data, not only its table of
    contents) with pg_restore into /dev/null."""
    proc = subprocess.run([pg_tool("pg_restore"), "--file=/dev/null", str(path)], capture_output=True, text=True)
    return None if proc.returncode == 0 else f"pg_restore cannot read it: {proc.stderr.strip()}"


# -- create ----------------------------------------------------------------------------------------------------------
def new_backup_dir(root: Path) -> Path:
    stamp = utc_stamp()
    for n in range(1, 1000):
        name = stamp if n == 1 else f"{stamp}-{n}"
        if not (root / name).exists() and not (root / f".{name}.partial").exists():
            return root / name
    raise BackupError(f"no free backup name in {root}")


def create(dest: Path | None, keep: int | None) -> Path:
    targets = configured_targets()
    if targets["tracker"].url:
        pg_tool("pg_dump")  # fail before anything is written, not halfway
    root = backup_root()
    final = dest if dest is not None else new_backup_dir(root)
    key = signing_key(final)
    if final.exists():
        if not final.is_dir() or any(final.iterdir()):
            raise BackupError(f"{final} exists and is not empty")
        final.rmdir()
    final.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    work = final.parent / f".{final.name}.partial"
    work.mkdir(mode=0o700)
    try:
        manifest = build(targets, work)
        raw = json.dumps(manifest, indent=2, ensure_ascii=False).encode() + b"\n"
        write_private(work / MANIFEST, raw)
        if key is not None:
            write_private(work / SIGNATURE, sign(key, raw).encode() + b"\n")
        fsync(work)
        os.chmod(work, 0o700)
        work.rename(final)
        fsync(final.parent)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    summary(final, manifest, targets, key is not None)
    if keep is not None:
        for old in prune(root, keep):
            print(f"  pruned {shown(old)}")
    return final


def build(targets: dict[str, Target], work: Path) -> dict[str, Any]:
    created = dt.datetime.now(dt.timezone.utc)
    databases: dict[str, Any] = {}
    for name, target in targets.items():
        info: dict[str, Any] = {"env": target.env, "source": target.where}
        if target.url:
            info.update(status="ok", **backup_postgres(target.url, work / f"{name}.pgdump"))
        elif target.path.is_file():
            info.update(status="ok", **backup_sqlite(target.path, work / f"{name}.db"))
        else:
            info.update(status="missing", note=f"{shown(target.path)} did not exist when the backup was made")
        databases[name] = info
    secrets, seen = [], set()
    for name, target in targets.items():
        folder = target.path.resolve().parent
        if folder in seen or (target.url and name == "tracker"):
            continue
        seen.add(folder)
        for path in secret_files(folder):
            if (work / path.name).exists():
                continue  # same name next to another database: the first is kept
            write_private(work / path.name, path.read_bytes())
            secrets.append({"file": path.name, "next_to": name, "sha256": sha256(work / path.name),
                            "mode": f"{path.stat().st_mode & 0o777:o}"})
    return {"format": FORMAT, "created": created.isoformat(), "databases": databases, "secrets": secrets}


def summary(final: Path, manifest: dict[str, Any], targets: dict[str, Target], signed: bool = False) -> None:
    print(f"Backup written to {shown(final)} (mode 700, files 600)")
    for name, info in manifest["databases"].items():
        if info["status"] != "ok":
            print(f"  {name:8} {info['source']}: missing (noted in the manifest)")
            continue
        tables = info.get("tables")
        counted = f"{len(tables)} tables, {sum(tables.values())} rows" if tables is not None else "rows not counted"
        print(f"  {name:8} {info['source']} -> {info['file']}: {counted}, {info['bytes'] // 1024} KiB")
    if manifest["secrets"]:
        print(f"  secrets  {', '.join(s['file'] for s in manifest['secrets'])}")
    print(f"  manifest signed ({SIGNATURE}, key from {key_source()})" if signed else
          "  manifest not signed (set BACKUP_SIGNING_KEY or BACKUP_SIGNING_KEY_FILE to sign it)")
    note = stack_note(targets)
    if note:
        print(note)
    print(f"Check it with: python -m scripts.backup verify {shown(final)}")


def prune(root: Path, keep: int) -> list[Path]:
    """Delete all but the newest `keep` backups in the default folder; only
    folders this command made (UTC-stamp names with a manifest) are touched."""
    backups = []
    for path in root.iterdir() if root.is_dir() else []:
        match = STAMP.match(path.name)
        if match and path.is_dir() and (path / MANIFEST).is_file():
            backups.append(((match.group(1), int(match.group(2) or 1)), path))
    backups.sort()
    old = [path for _, path in backups[:-keep]]
    for path in old:
        shutil.rmtree(path)
    return old


# -- signing ---------------------------------------------------------------------------------------------------------
def key_source() -> str:
    return "BACKUP_SIGNING_KEY_FILE" if os.environ.get("BACKUP_SIGNING_KEY_FILE") else "BACKUP_SIGNING_KEY"


def signing_key(folder: Path) -> bytes | None:
    """The key that signs manifests: BACKUP_SIGNING_KEY, or the file named by
    BACKUP_SIGNING_KEY_FILE (32+ characters). None when neither is set. A key
    file that a backup would hold (next to a database) or that lies among the
    backups is refused: whoever can change a backup must not find the key."""
    env = os.environ
    key, file = env.get("BACKUP_SIGNING_KEY", ""), env.get("BACKUP_SIGNING_KEY_FILE", "")
    if key and file:
        raise BackupError("set BACKUP_SIGNING_KEY or BACKUP_SIGNING_KEY_FILE, not both")
    if file:
        path = project_path(file).resolve()
        backed_up = {t.path.resolve().parent for t in configured_targets().values()}
        among = [p for p in (backup_root(), folder) if p.resolve() == path or p.resolve() in path.parents]
        if path.parent in backed_up or among:
            raise BackupError(f"BACKUP_SIGNING_KEY_FILE {path} is where backups are (or would be backed up): keep the "
                              f"key apart from the backups, e.g. in /etc/nabo/backup-signing-key")
        try:
            key = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise BackupError(f"BACKUP_SIGNING_KEY_FILE: cannot read {path} ({exc})") from exc
    if not key:
        return None
    if len(key) < SIGNING_KEY_MIN_CHARS:
        raise BackupError(f"{key_source()} must be {SIGNING_KEY_MIN_CHARS}+ characters, e.g. from "
                          f"`python -c 'import secrets; print(secrets.token_urlsafe(32))'`")
    return key.encode("utf-8")


def sign(key: bytes, manifest: bytes) -> str:
    return SIGNATURE_PREFIX + hmac.new(key, manifest, hashlib.sha256).hexdigest()


def check_signature(folder: Path, raw: bytes) -> bool:
    """With a signing key the manifest must carry a matching signature; a
    signed backup is never accepted unchecked. True when it was checked."""
    key = signing_key(folder)
    sig_path = folder / SIGNATURE
    if key is None:
        if sig_path.exists():
            raise BackupError(f"{folder} is signed ({SIGNATURE}); set BACKUP_SIGNING_KEY or BACKUP_SIGNING_KEY_FILE "
                              f"to the key it was made with, so the signature can be checked")
        return False
    if sig_path.is_symlink() or not sig_path.is_file():
        raise BackupError(f"{folder} has no {SIGNATURE}, but {key_source()} is set: an unsigned backup is refused "
                          f"(it may have been altered)")
    given = sig_path.read_bytes().strip()
    if not hmac.compare_digest(given, sign(key, raw).encode()):
        raise BackupError(f"{folder / SIGNATURE}: the signature does not match the manifest: it was altered, or "
                          f"signed with another key")
    return True


# -- verify ----------------------------------------------------------------------------------------------------------
def read_manifest(folder: Path) -> tuple[dict[str, Any], bool]:
    """The manifest, its signature checked and every entry validated before
    anything in it is used; and whether a signature was checked."""
    path = folder / MANIFEST
    try:
        if path.is_symlink():
            raise BackupError(f"{path} is a symbolic link")
        raw = path.read_bytes()
    except OSError as exc:
        raise BackupError(f"{folder} has no readable {MANIFEST} ({exc})") from exc
    signed = check_signature(folder, raw)
    try:
        manifest = json.loads(raw.decode("utf-8"))
    except ValueError as exc:
        raise BackupError(f"{folder} has no readable {MANIFEST} ({exc})") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        format_ = manifest.get("format") if isinstance(manifest, dict) else None
        raise BackupError(f"{path}: unknown format {format_!r}")
    problems = manifest_problems(manifest)
    if problems:
        raise BackupError(f"{path} is refused: " + "; ".join(problems))
    return manifest, signed


def manifest_problems(manifest: dict[str, Any]) -> list[str]:
    """What in a manifest could make a restore write anywhere but the
    configured files: names other than the project's, unknown databases
    or kinds, malformed checksums."""
    names = [name for name, _, _ in DATABASES]
    databases, secrets = manifest.get("databases"), manifest.get("secrets")
    if not isinstance(manifest.get("created"), str) or not isinstance(databases, dict) or not isinstance(secrets, list):
        return ["it lacks created, databases or secrets"]
    problems = []
    for name, info in databases.items():
        if name not in names or not isinstance(info, dict):
            problems.append(f"unknown database {name!r}")
            continue
        if info.get("status") == "missing":
            continue
        kind = info.get("kind")
        if info.get("status") != "ok" or kind not in DATABASE_FILES or (kind == "postgresql" and name != "tracker"):
            problems.append(f"{name}: unknown status or kind")
        elif info.get("file") != name + DATABASE_FILES[kind]:
            problems.append(f"{name}: file name {info.get('file')!r} is not {name + DATABASE_FILES[kind]}")
        if not isinstance(info.get("sha256"), str) or not HEX64.fullmatch(info["sha256"]):
            problems.append(f"{name}: no sha256")
        if kind == "sqlite" and not (isinstance(info.get("tables"), dict) and isinstance(info.get("user_version"), int)):
            problems.append(f"{name}: no tables or user_version")
    seen = set()
    for info in secrets:
        file = info.get("file") if isinstance(info, dict) else None
        if not isinstance(file, str) or not SECRET_NAME.fullmatch(file):
            problems.append(f"secret file name {file!r} is not one the project makes (<words>-secret, -token or -key; "
                            f"no folders, no dots)")
            continue
        if file in seen:
            problems.append(f"secret {file} is listed twice")
        seen.add(file)
        if info.get("next_to") not in names:
            problems.append(f"secret {file}: unknown database {info.get('next_to')!r}")
        if not isinstance(info.get("sha256"), str) or not HEX64.fullmatch(info["sha256"]):
            problems.append(f"secret {file}: no sha256")
    return problems


def verify(folder: Path) -> dict[str, Any]:
    """Check every file's sha256, and every database's soundness (SQLite's
    integrity_check, its tables and user_version against the manifest; a
    PostgreSQL archive read to the end). Raises BackupError on any problem."""
    manifest, signed = read_manifest(folder)
    problems = []
    print(f"Verifying {shown(folder)} (made {manifest['created']})")
    print(f"  {MANIFEST:16} {'signature ok' if signed else 'not signed'}")
    entries = [(n, i) for n, i in manifest["databases"].items() if i["status"] == "ok"]
    for name, info in entries + [(s["file"], s) for s in manifest["secrets"]]:
        path = folder / info["file"]
        if path.is_symlink():
            problem: str | None = "a symbolic link, not a file"
        elif not path.is_file():
            problem = "file missing"
        elif sha256(path) != info["sha256"]:
            problem = "sha256 does not match the manifest"
        elif info.get("kind") == "sqlite":
            problem = check_sqlite(path) or check_contents(path, info)
        elif info.get("kind") == "postgresql":
            problem = check_pg_dump(path)
        else:
            problem = None
        print(f"  {name:16} {'ok' if problem is None else 'FAILED: ' + problem}")
        if problem:
            problems.append(f"{info['file']}: {problem}")
    for name, info in manifest["databases"].items():
        if info["status"] != "ok":
            print(f"  {name:16} not in this backup ({info['status']})")
    if problems:
        raise BackupError(f"{folder} failed verification: " + "; ".join(problems))
    return manifest


def check_contents(path: Path, info: dict[str, Any]) -> str | None:
    conn = open_readonly(path)
    try:
        if table_counts(conn) != info["tables"]:
            return "tables or row counts differ from the manifest"
        if conn.execute("PRAGMA user_version").fetchone()[0] != info["user_version"]:
            return "user_version differs from the manifest"
    finally:
        conn.close()
    return None


# -- restore ---------------------------------------------------------------------------------------------------------
def running_services() -> list[str]:
    """Services that answer on this machine. Restoring under a running
    service would have it write into (or keep) the replaced files. The
    channel server must answer /healthz; Rasa and the action server count
    when they give any HTTP answer. Proxies are bypassed: this asks
    127.0.0.1 itself."""
    env = os.environ
    checks = {"channel server": (f"http://127.0.0.1:{env.get('WEBCHAT_PORT', '8080')}/healthz", True),
              "Rasa": (f"http://127.0.0.1:{env.get('RASA_PORT', '5005')}/", False),
              "action server": (f"http://127.0.0.1:{env.get('ACTION_PORT', '5055')}/healthz", False)}
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    running = []
    for name, (url, need_ok) in checks.items():
        try:
            with opener.open(url, timeout=2) as resp:
                answered = resp.status == 200 or not need_ok
        except urllib.error.HTTPError:
            answered = not need_ok
        except OSError:
            answered = False
        if answered:
            running.append(f"{name} ({url})")
    return running


def restore(folder: Path, force: bool) -> None:
    print("Stop the services before restoring (Ctrl-C on `make run`, or stop their systemd units): "
          "they keep the databases open and would write into the replaced files.")
    targets = configured_targets()
    manifest = verify(folder)
    running = running_services()
    if running:
        if not force:
            raise BackupError("still running: " + ", ".join(running) + ". Stop them, or pass --force")
        print("WARNING: restoring while these answer (--force): " + ", ".join(running))

    stamp = utc_stamp()
    conflicts: list[str] = []
    plan: list[tuple[str, dict[str, Any], Target]] = []
    for name, info in manifest["databases"].items():
        if info["status"] != "ok":
            print(f"  {name}: not in this backup, left as it is")
            continue
        target = targets[name]
        if info["kind"] == "postgresql":
            if not target.url:
                raise BackupError(f"the backup holds a PostgreSQL dump of {name}; set TRACKER_DB_URL (or POSTGRES_*) "
                                  f"to the database to restore it into")
            pg_tool("pg_restore")
            if force:
                pg_tool("pg_dump")
            with pg_session(target.url) as (conn, _):
                tables = pg_counts(conn)
            if tables is None or tables:
                conflicts.append(f"{target.where} has tables" if tables else f"{target.where} (cannot tell if empty)")
        else:
            if name == "tracker" and target.url:
                print(f"  note: the tracker is configured as PostgreSQL ({target.env}); the SQLite tracker goes to "
                      f"{shown(target.path)} (TRACKER_DB) and is not used by that configuration")
            conflicts += [shown(p) for p in existing_files(target.path)]
        plan.append((name, info, target))
    secrets = []
    for info in manifest["secrets"]:
        target_path = targets[info["next_to"]].path.parent / info["file"]
        same = target_path.is_file() and sha256(target_path) == info["sha256"]
        if target_path.exists() and not same:
            conflicts.append(shown(target_path))
        secrets.append((info, target_path, same))
    if conflicts and not force:
        raise BackupError("these exist and would be replaced: " + ", ".join(conflicts) +
                          f". Pass --force to move them aside (to <name>.before-restore-{stamp}) and restore")

    for name, info, target in plan:
        if info["kind"] == "postgresql":
            tables = restore_postgres(folder / info["file"], target, stamp, force)
        else:
            for moved in move_aside(target.path, stamp):
                print(f"  kept the old {shown(moved)}")
            tables = restore_sqlite(folder / info["file"], info, target.path)
        expected = info.get("tables") or {}
        if tables is not None and any(tables.get(t) != n for t, n in expected.items()):
            raise BackupError(f"{name} was restored, but its row counts differ from the manifest: {tables}")
        counts = ", ".join(f"{t} {n}" for t, n in tables.items()) if tables is not None else "rows not counted"
        total = f" ({sum(tables.values())} rows)" if tables is not None else ""
        print(f"Restored {name} into {target.where}{total}: {counts}")
    for info, target_path, same in secrets:
        if same:
            print(f"  {info['file']}: already in place")
            continue
        if target_path.exists():
            for moved in move_aside(target_path, stamp):
                print(f"  kept the old {shown(moved)}")
        target_path.parent.mkdir(parents=True, exist_ok=True)
        write_private(target_path, (folder / info["file"]).read_bytes())
        os.chmod(target_path, RESTORED_MODE)  # never the manifest's mode
        give_to_folder_owner(target_path)
        print(f"Restored secret {shown(target_path)} (mode 600)")
    note = stack_note(targets)
    if note:
        print(note)
    print("Done. Start the services again (make run).")


def restore_postgres(dump: Path, target: Target, stamp: str, force: bool) -> dict[str, int] | None:
    """pg_restore --clean into TRACKER_DB_URL, in one transaction. What was
    there is dumped first (the PostgreSQL form of moving it aside)."""
    uri, env = pg_connection(target.url)
    with pg_session(target.url) as (conn, _):
        had_tables = pg_counts(conn)
    if force and (had_tables is None or had_tables):
        aside = configured_targets()["bot"].path.parent / f"tracker.before-restore-{stamp}.pgdump"
        aside.parent.mkdir(parents=True, exist_ok=True)
        write_private(aside, b"")
        run_pg([pg_tool("pg_dump"), "--format=custom", f"--file={aside}", f"--dbname={uri}"], env)
        print(f"  kept the old database as {shown(aside)}")
    run_pg([pg_tool("pg_restore"), "--clean", "--if-exists", "--single-transaction", "--no-owner",
            "--no-privileges", f"--dbname={uri}", str(dump)], env)
    with pg_session(target.url) as (conn, _):
        return pg_counts(conn)


# -- command line ----------------------------------------------------------------------------------------------------
def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m scripts.backup", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("create", help="back up the databases and secrets while the services run")
    c.add_argument("--dest", type=Path, help="new or empty folder (default: $BACKUP_DIR/<UTC time>, "
                                             "BACKUP_DIR defaults to var/backups)")
    c.add_argument("--keep", type=int, metavar="N", help="then delete all but the newest N backups in BACKUP_DIR")
    v = sub.add_parser("verify", help="check a backup's checksums and database integrity")
    v.add_argument("dir", type=Path)
    r = sub.add_parser("restore", help="verify a backup and restore it into the configured paths (services stopped)")
    r.add_argument("dir", type=Path)
    r.add_argument("--force", action="store_true",
                   help="replace existing files (moved aside to <name>.before-restore-<time>) even if services answer")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    owner_only()  # everything this run creates (backups, restored files) is the owner's only
    load_env_file()
    try:
        if args.command == "create":
            if args.keep is not None and args.keep < 1:
                raise BackupError("--keep must be 1 or more")
            if args.keep is not None and args.dest is not None:
                raise BackupError("--keep prunes the default folder; with --dest, set BACKUP_DIR instead")
            create(args.dest, args.keep)
        elif args.command == "verify":
            verify(args.dir)
            print("Backup is intact.")
        else:
            restore(args.dir, args.force)
    except (BackupError, sqlite3.Error, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
