"""scripts/backup.py, driven as an operator would: `python -m scripts.backup`
in a subprocess with the services' environment variables, against real
stores (channels.store.Store, caseworkers.cases.CaseStore and a tracker-like SQLite file)
that are being written to while the backup runs."""

from __future__ import annotations

import glob
import hashlib
import http.server
import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import caseworkers.cases
import channels.store
from caseworkers.cases import CaseStore
from channels.store import Store
from scripts import backup
from scripts.stack import free_port

ROOT = Path(__file__).resolve().parents[2]
PYTHON = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else sys.executable
SECRET = "s3cret-token-for-the-json-gateway"


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PYTHON, "-m", "scripts.backup", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)


def dump(path: Path) -> dict[str, list[tuple]]:
    """Every row of every table, for exact comparison."""
    conn = sqlite3.connect(path)
    try:
        tables = [r[0] for r in conn.execute("select name from sqlite_master where type = 'table' order by name")]
        return {t: sorted(conn.execute(f'select * from "{t}"').fetchall(), key=repr) for t in tables}
    finally:
        conn.close()


def inbound_rows_in_main_file(path: Path, tmp: Path) -> int:
    """What a plain file copy of the database (without its -wal) would hold."""
    copy = tmp / "plain-copy.db"
    shutil.copyfile(path, copy)
    conn = sqlite3.connect(copy)
    try:
        return conn.execute("select count(*) from inbound").fetchone()[0]
    except sqlite3.OperationalError:  # the table itself is still only in the -wal
        return 0
    finally:
        conn.close()


@dataclass
class Deployment:
    var: Path
    env: dict[str, str]

    @property
    def bot_db(self) -> Path:
        return self.var / "bot.db"

    @property
    def cases_db(self) -> Path:
        return self.var / "cases.db"

    @property
    def tracker_db(self) -> Path:
        return self.var / "tracker.db"

    @property
    def secret(self) -> Path:
        return self.var / "sms-json-secret"

    def dumps(self) -> dict[str, dict[str, list[tuple]]]:
        return {p.name: dump(p) for p in (self.bot_db, self.cases_db, self.tracker_db)}

    def wipe(self) -> None:
        shutil.rmtree(self.var)


def environment(tmp: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(BOT_DB=str(tmp / "var" / "bot.db"), CASES_DB=str(tmp / "var" / "cases.db"),
               TRACKER_DB=str(tmp / "var" / "tracker.db"), TRACKER_DB_URL="", POSTGRES_HOST="", BACKUP_DIR=str(tmp / "backups"),
               WEBCHAT_PORT=str(free_port()), RASA_PORT=str(free_port()), ACTION_PORT=str(free_port()),
               PYTHONPATH=str(ROOT))
    return env


def fill(var: Path) -> None:
    """Real stores with real rows, closed again."""
    store = Store(var / "bot.db")
    first = store.record_inbound("telegram", "1001", "tg:42", "مرحبا، أحتاج طبيب")
    store.set_inbound_status(first, "answered")
    store.record_inbound("sms", "SM1", "sms:+4790000000", "Hei, jeg trenger fastlege")
    out = store.queue_outbound("sms", "sms:+4790000000", "reply-SM1", {"text": "Fastlege: ..."})
    store.mark_outbound(out, "sent", provider_id="gw-1")
    store.record_receipt("gw-1", "delivered")
    store.callback_key("/choose_language{\"language\": \"uk\"}" + "x" * 60)
    store.set_options("sms:+4790000000", ["/fastlege", "/nav"])
    store.set_language("tg:42", "ar")
    store.opt_out("sms:+4791111111")
    store.db.conn.close()

    cases = CaseStore(var / "cases.db")
    case, _ = cases.open_case(sender="tg:42", channel="telegram", language="ar", topic="fastlege", text="أحتاج مساعدة",
                              text_nb="Jeg trenger hjelp")
    cases.open_case(sender="tg:42", channel="telegram", language="ar", topic="fastlege", text="شكرا")
    cases.add_reply(case["id"], "kari", "Vi ringer deg i morgen.", "سنتصل بك غدا", machine_translated=True)
    cases.add_interpreter_request(case["id"], json.dumps({"appointment": "fastlege", "mode": "phone"}))
    cases.record_unanswered("so", "other", "su'aal", None)
    cases.db.conn.close()

    tracker = sqlite3.connect(var / "tracker.db")  # Rasa's SQL tracker store layout, rollback journal
    with tracker:
        tracker.execute("create table events (id integer primary key, sender_id varchar(255), type_name varchar(255),"
                        " timestamp float, intent_name varchar(255), action_name varchar(255), data text)")
        tracker.executemany("insert into events (sender_id, type_name, timestamp, intent_name, action_name, data) "
                            "values (?, ?, ?, ?, ?, ?)",
                            [("tg:42", "user", 1700000000.5, "fastlege", None, '{"text": "مرحبا"}'),
                             ("tg:42", "action", 1700000001.0, None, "action_answer", "{}"),
                             ("web:abc", "slot", 1700000002.25, None, None, '{"name": "language", "value": "uk"}')])
    tracker.close()

    secret = var / "sms-json-secret"
    fd = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(SECRET)
    (var / "chat.png").write_bytes(b"\x89PNG not a secret")  # world-readable: not taken


@pytest.fixture
def deployment(tmp_path: Path) -> Deployment:
    var = tmp_path / "var"
    var.mkdir()
    fill(var)
    return Deployment(var, environment(tmp_path))


def created_dir(proc: subprocess.CompletedProcess[str]) -> Path:
    assert proc.returncode == 0, proc.stderr
    line = next(x for x in proc.stdout.splitlines() if x.startswith("Backup written to "))
    return Path(line.removeprefix("Backup written to ").split(" (mode")[0])


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_backup_while_writing_then_verify_wipe_and_restore(deployment: Deployment, tmp_path: Path) -> None:
    d = deployment
    # The channel server is running: a WAL writer with committed rows not yet
    # checkpointed into bot.db, and a transaction it has not committed.
    writer = sqlite3.connect(d.bot_db, isolation_level=None)
    writer.execute("PRAGMA wal_autocheckpoint=0")
    writer.execute("insert into inbound (channel, external_id, sender, text, status, created) "
                   "values ('web', 'w-1', 'web:abc', 'Привіт, де школа?', 'received', '2026-01-01T00:00:00Z')")
    case_writer = CaseStore(d.cases_db)  # the desk: its connection stays open during the backup
    case_writer.open_case(sender="web:abc", channel="web", language="uk", topic="school", text="школа", urgent=True)
    expected = d.dumps()
    writer.execute("begin immediate")
    writer.execute("insert into inbound (channel, external_id, sender, text, status, created) "
                   "values ('web', 'w-2', 'web:abc', 'UNCOMMITTED', 'received', '2026-01-01T00:00:01Z')")
    assert d.bot_db.with_name("bot.db-wal").stat().st_size > 0
    assert inbound_rows_in_main_file(d.bot_db, tmp_path) < len(expected["bot.db"]["inbound"])  # a file copy loses rows

    dest = tmp_path / "backups" / "nightly"
    proc = cli(d.env, "create", "--dest", str(dest))
    writer.execute("rollback")
    writer.close()
    case_writer.db.conn.close()

    assert created_dir(proc) == dest
    assert "bot" in proc.stdout and "sms-json-secret" in proc.stdout
    assert mode(dest) == 0o700
    assert sorted(p.name for p in dest.iterdir()) == ["bot.db", "cases.db", "manifest.json", "person-key",
                                                      "sms-json-secret", "tracker.db"]
    assert all(mode(p) == 0o600 for p in dest.iterdir())
    assert not list(dest.parent.glob(".*partial"))
    manifest = json.loads((dest / "manifest.json").read_text())
    assert manifest["created"].endswith("+00:00")
    for name, file in (("bot", "bot.db"), ("cases", "cases.db"), ("tracker", "tracker.db")):
        info = manifest["databases"][name]
        assert info["status"] == "ok" and info["file"] == file
        assert info["sha256"] == hashlib.sha256((dest / file).read_bytes()).hexdigest()
        assert info["tables"] == {t: len(rows) for t, rows in expected[file].items() if not t.startswith("sqlite_")}
    assert manifest["databases"]["bot"]["user_version"] == channels.store.SCHEMA_VERSION
    assert manifest["databases"]["cases"]["user_version"] == caseworkers.cases.SCHEMA_VERSION
    assert manifest["databases"]["bot"]["journal_mode"] == "wal"
    assert [s for s in manifest["secrets"] if s["file"] == "sms-json-secret"] == [
        {"file": "sms-json-secret", "next_to": "bot", "mode": "600", "sha256": hashlib.sha256(SECRET.encode()).hexdigest()}]
    assert sorted(s["file"] for s in manifest["secrets"]) == ["person-key", "sms-json-secret"]  # the STOP hashes' key

    verified = cli(d.env, "verify", str(dest))
    assert verified.returncode == 0, verified.stderr
    assert "Backup is intact" in verified.stdout

    d.wipe()
    restored = cli(d.env, "restore", str(dest))
    assert restored.returncode == 0, restored.stderr
    assert "Stop the services" in restored.stdout
    assert f"Restored bot into {d.bot_db} ({sum(map(len, expected['bot.db'].values()))} rows)" in restored.stdout
    assert "inbound 3" in restored.stdout and "cases 2" in restored.stdout and "events 3" in restored.stdout
    assert d.dumps() == expected  # every row of every table, nothing uncommitted
    assert "UNCOMMITTED" not in json.dumps(d.dumps()["bot.db"], ensure_ascii=False)
    assert d.secret.read_text() == SECRET and mode(d.secret) == 0o600
    assert not (d.var / "chat.png").exists()
    # The services open the restored files as before: WAL, schema current, writable.
    store = Store(d.bot_db)
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.record_inbound("sms", "SM2", "sms:+4790000000", "igjen") is not None
    assert store.language("tg:42") == "ar"
    store.db.conn.close()
    cases = CaseStore(d.cases_db)
    assert cases.queue()[0]["urgency"] == "urgent" and cases.check_password("nobody", "x" * 12) is False
    cases.db.conn.close()
    assert sqlite3.connect(d.tracker_db).execute("PRAGMA journal_mode").fetchone()[0] == "delete"


def test_restore_refuses_existing_files_and_force_moves_them_aside(deployment: Deployment, tmp_path: Path) -> None:
    d = deployment
    dest = created_dir(cli(d.env, "create", "--dest", str(tmp_path / "b")))
    at_backup = d.dumps()
    store = Store(d.bot_db)
    store.record_inbound("telegram", "2002", "tg:7", "after the backup")
    store.db.conn.close()
    d.secret.chmod(0o600)
    d.secret.write_text("rotated-secret")
    after = d.dumps()

    refused = cli(d.env, "restore", str(dest))
    assert refused.returncode == 1
    assert "--force" in refused.stderr and "bot.db" in refused.stderr and "sms-json-secret" in refused.stderr
    assert d.dumps() == after and d.secret.read_text() == "rotated-secret"  # nothing touched

    forced = cli(d.env, "restore", str(dest), "--force")
    assert forced.returncode == 0, forced.stderr
    assert d.dumps() == at_backup and d.secret.read_text() == SECRET
    aside = {p.name.split(".before-restore-")[0]: p for p in d.var.glob("*.before-restore-*") if
             not p.name.endswith(("-wal", "-shm"))}
    assert set(aside) == {"bot.db", "cases.db", "tracker.db", "sms-json-secret"}
    assert dump(aside["bot.db"]) == after["bot.db"]  # the replaced database is kept, readable
    assert aside["sms-json-secret"].read_text() == "rotated-secret"


def test_corrupted_backup_fails_verify_and_restore(deployment: Deployment, tmp_path: Path) -> None:
    d = deployment
    dest = created_dir(cli(d.env, "create", "--dest", str(tmp_path / "b")))
    target = dest / "cases.db"
    original = target.read_bytes()
    flipped = bytearray(original)
    flipped[len(flipped) // 2] ^= 0x01
    target.write_bytes(bytes(flipped))

    verified = cli(d.env, "verify", str(dest))
    assert verified.returncode == 1
    assert "cases.db" in verified.stderr and "sha256" in verified.stderr
    d.wipe()
    restored = cli(d.env, "restore", str(dest))
    assert restored.returncode == 1 and "failed verification" in restored.stderr
    assert not d.var.exists()  # nothing was restored, not even the sound files

    # Damage that also rewrote the checksum is caught by SQLite's integrity_check.
    damaged = bytearray(original)
    page_size = int.from_bytes(original[16:18], "big")
    damaged[page_size] = 0x00  # page 2's b-tree page type
    target.write_bytes(bytes(damaged))
    manifest = json.loads((dest / "manifest.json").read_text())
    manifest["databases"]["cases"]["sha256"] = hashlib.sha256(bytes(damaged)).hexdigest()
    (dest / "manifest.json").write_text(json.dumps(manifest))
    verified = cli(d.env, "verify", str(dest))
    assert verified.returncode == 1
    assert "integrity_check" in verified.stderr or "not a sound SQLite database" in verified.stderr


def test_missing_database_is_noted_and_keep_prunes(deployment: Deployment) -> None:
    d = deployment
    d.tracker_db.unlink()
    backups = Path(d.env["BACKUP_DIR"])
    old = backups / "20200101T000000Z"
    old.mkdir(parents=True)
    (old / "manifest.json").write_text("{}")
    (backups / "notes").mkdir()  # not a backup: never pruned

    made = [created_dir(cli(d.env, "create", "--keep", "2")) for _ in range(3)]
    assert all(p.parent == backups for p in made) and len(set(made)) == 3
    manifest = json.loads((made[-1] / "manifest.json").read_text())
    assert manifest["databases"]["tracker"]["status"] == "missing"
    assert "missing" in manifest["databases"]["tracker"]["note"]
    assert sorted(p.name for p in backups.iterdir()) == sorted([made[1].name, made[2].name, "notes"])

    d.wipe()
    restored = cli(d.env, "restore", str(made[-1]))
    assert restored.returncode == 0, restored.stderr
    assert "tracker: not in this backup" in restored.stdout
    assert d.bot_db.exists() and not d.tracker_db.exists()

    assert cli(d.env, "create", "--keep", "0").returncode == 1


class _Healthz(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self.send_response(200 if self.path == "/healthz" else 404)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_restore_refuses_while_the_channel_server_answers(deployment: Deployment, tmp_path: Path) -> None:
    d = deployment
    dest = created_dir(cli(d.env, "create", "--dest", str(tmp_path / "b")))
    d.wipe()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Healthz)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        env = {**d.env, "WEBCHAT_PORT": str(server.server_address[1])}
        refused = cli(env, "restore", str(dest))
        assert refused.returncode == 1 and "channel server" in refused.stderr
        assert not d.var.exists()
        forced = cli(env, "restore", str(dest), "--force")
        assert forced.returncode == 0 and "WARNING" in forced.stdout
    finally:
        server.shutdown()
        server.server_close()
    assert d.secret.read_text() == SECRET


def test_postgres_without_client_tools_fails_clearly(deployment: Deployment, tmp_path: Path) -> None:
    empty = tmp_path / "empty-path"
    empty.mkdir()
    env = {**deployment.env, "PATH": str(empty), "TRACKER_DB_URL": "postgresql://nabo:hunter2@127.0.0.1:1/tracker"}
    proc = cli(env, "create")
    assert proc.returncode == 1
    assert "pg_dump" in proc.stderr and "not on PATH" in proc.stderr and "hunter2" not in proc.stderr
    assert not Path(env["BACKUP_DIR"]).exists()


def test_postgres_url_password_goes_to_the_environment() -> None:
    uri, env = backup.pg_connection("postgresql+psycopg2://nabo:p%40ss@db.local:5433/tracker?sslmode=require")
    assert uri == "postgresql://nabo@db.local:5433/tracker?sslmode=require" and env["PGPASSWORD"] == "p@ss"
    assert backup.redact("postgresql://nabo:p%40ss@db.local/tracker") == "postgresql://nabo:***@db.local/tracker"


def test_tracker_location_follows_the_services(monkeypatch: pytest.MonkeyPatch) -> None:
    """Same order as channels/tracker.py: TRACKER_DB_URL, POSTGRES_*, TRACKER_DB."""
    for var in ("TRACKER_DB_URL", "POSTGRES_HOST", "POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_PORT", "POSTGRES_DB"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("TRACKER_DB", "var/t.db")
    assert backup.configured_targets()["tracker"] == backup.Target("tracker", "TRACKER_DB", ROOT / "var" / "t.db")
    monkeypatch.setenv("POSTGRES_HOST", "db.local")
    monkeypatch.setenv("POSTGRES_USER", "rasa")
    monkeypatch.setenv("POSTGRES_PASSWORD", "pw")
    monkeypatch.setenv("POSTGRES_DB", "conversations")
    assert backup.configured_targets()["tracker"].url == "postgresql://rasa:pw@db.local:5432/conversations"
    try:
        from channels.tracker import tracker_url
    except ImportError:
        pass
    else:
        assert backup.configured_targets()["tracker"].url == tracker_url(os.environ)
    monkeypatch.setenv("TRACKER_DB_URL", "postgresql://other@db2/tracker")
    assert backup.configured_targets()["tracker"].url == "postgresql://other@db2/tracker"
    monkeypatch.setenv("TRACKER_DB_URL", "sqlite:////srv/nabo/tracker.db")
    assert backup.configured_targets()["tracker"] == backup.Target("tracker", "TRACKER_DB_URL",
                                                                   Path("/srv/nabo/tracker.db"))


def test_defaults_are_the_services_defaults() -> None:
    from core.config import Settings
    from scripts.stack import Stack

    defaults = {name: default for name, _, default in backup.DATABASES}
    assert defaults == {"bot": Settings.bot_db, "cases": Settings.cases_db, "tracker": Settings.tracker_db}
    assert Settings(cases_db=defaults["cases"]).cases_db == str(ROOT / "var" / "cases.db")  # resolved against the checkout
    assert ROOT / defaults["tracker"] == Stack.tracker_db


# -- PostgreSQL (TRACKER_DB_URL) ---------------------------------------------------------------------------------------
def _pg_bin(name: str) -> str | None:
    found = shutil.which(name) or sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found if isinstance(found, str) else (found[-1] if found else None)


def _scratch_database(admin_url: str) -> Iterator[str]:
    import psycopg2

    name = "nabo_backup_" + os.urandom(4).hex()
    conn = psycopg2.connect(admin_url)
    conn.autocommit = True
    try:
        conn.cursor().execute(f"create database {name}")
    except psycopg2.Error as exc:
        conn.close()
        pytest.skip(f"cannot create a scratch database: {exc}")
    try:
        yield admin_url.rsplit("/", 1)[0] + "/" + name
    finally:
        conn.cursor().execute(f"drop database if exists {name} with (force)")
        conn.close()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A scratch database: in the server at TEST_POSTGRES_URL, or in a
    throw-away server (initdb; as root it runs as the `postgres` user)."""
    if not (shutil.which("pg_dump") and shutil.which("pg_restore")):
        pytest.skip("pg_dump/pg_restore not on PATH")
    pytest.importorskip("psycopg2")
    if os.environ.get("TEST_POSTGRES_URL"):
        yield from _scratch_database(os.environ["TEST_POSTGRES_URL"])
        return
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not (initdb and pg_ctl):
        pytest.skip("no TEST_POSTGRES_URL and no initdb/pg_ctl for a throw-away server")
    prefix: list[str] = []
    base = Path(tempfile.mkdtemp(prefix="nabo-pg-"))
    if os.geteuid() == 0:
        if not shutil.which("runuser"):
            pytest.skip("running as root without runuser: PostgreSQL refuses to run as root")
        try:
            import pwd

            user = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no `postgres` user to run a server")
        os.chown(base, user.pw_uid, user.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    data, port = base / "data", free_port()
    try:
        subprocess.run(prefix + [initdb, "-D", str(data), "-U", "nabo", "--auth=trust", "-E", "UTF8", "--no-sync"],
                       check=True, capture_output=True, timeout=120)
        subprocess.run(prefix + [pg_ctl, "-D", str(data), "-w", "-t", "60", "-l", str(base / "log"), "-o",
                                 f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off", "start"],
                       check=True, capture_output=True, timeout=120)
    except subprocess.CalledProcessError as exc:
        shutil.rmtree(base, ignore_errors=True)
        pytest.skip(f"could not start a throw-away PostgreSQL: {exc.stderr.decode(errors='replace')[-300:]}")
    try:
        yield from _scratch_database(f"postgresql://nabo:unused-pw@127.0.0.1:{port}/postgres")
    finally:
        subprocess.run(prefix + [pg_ctl, "-D", str(data), "-m", "fast", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(base, ignore_errors=True)


def _pg_events(url: str) -> list[tuple]:
    import psycopg2

    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("select id, sender_id, type_name, timestamp, data from events order by id")
        return cur.fetchall()


def _pg_execute(url: str, *statements: str) -> None:
    import psycopg2

    conn = psycopg2.connect(url)
    with conn, conn.cursor() as cur:
        for statement in statements:
            cur.execute(statement)
    conn.close()


def test_postgres_tracker_backup_verify_and_restore(postgres_url: str, deployment: Deployment, tmp_path: Path) -> None:
    _pg_execute(postgres_url,
                "create table events (id serial primary key, sender_id varchar(255), type_name varchar(255), "
                "timestamp double precision, data text)",
                "insert into events (sender_id, type_name, timestamp, data) values "
                "('tg:42', 'user', 1700000000.5, '{\"text\": \"مرحبا\"}'), ('tg:42', 'action', 1700000001, '{}'), "
                "('web:abc', 'slot', 1700000002.25, '{\"value\": \"uk\"}')")
    before = _pg_events(postgres_url)
    env = {**deployment.env, "TRACKER_DB_URL": postgres_url}
    dest = created_dir(cli(env, "create", "--dest", str(tmp_path / "b")))
    manifest = json.loads((dest / "manifest.json").read_text())
    tracker = manifest["databases"]["tracker"]
    assert tracker["kind"] == "postgresql" and tracker["file"] == "tracker.pgdump"
    assert tracker["tables"] == {"events": 3} and "unused-pw" not in json.dumps(manifest)
    assert mode(dest / "tracker.pgdump") == 0o600
    assert not (dest / "tracker.db").exists()  # the SQLite TRACKER_DB is not the tracker in this set-up
    assert cli(env, "verify", str(dest)).returncode == 0

    _pg_execute(postgres_url, "insert into events (sender_id, type_name, timestamp, data) "
                              "values ('tg:9', 'user', 1800000000, 'after the backup')")
    deployment.wipe()
    refused = cli(env, "restore", str(dest))
    assert refused.returncode == 1 and "has tables" in refused.stderr
    forced = cli(env, "restore", str(dest), "--force")
    assert forced.returncode == 0, forced.stderr
    assert "Restored tracker" in forced.stdout and "events 3" in forced.stdout
    assert _pg_events(postgres_url) == before
    aside = list(deployment.var.glob("tracker.before-restore-*.pgdump"))
    assert len(aside) == 1 and mode(aside[0]) == 0o600 and aside[0].stat().st_size > 0


# -- restore trusts nothing in the backup -----------------------------------------------------------------------------
def _edit_manifest(dest: Path, change) -> None:  # type: ignore[no-untyped-def]
    manifest = json.loads((dest / "manifest.json").read_text())
    change(manifest)
    (dest / "manifest.json").write_text(json.dumps(manifest))


def _outside(path: Path, data: bytes) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("name", ["../evil", "ABSOLUTE", "sub/evil-secret", "..", ".hidden-key", "evil-secret\n",
                                  "manifest.json"])
def test_restore_refuses_file_names_that_are_not_the_projects(deployment: Deployment, tmp_path: Path,
                                                              name: str) -> None:
    """A manifest edited to write elsewhere: `../evil` (next to var/), an
    absolute path, a folder, names the project never makes. The whole backup
    is refused and nothing is written."""
    d = deployment
    dest = created_dir(cli(d.env, "create", "--dest", str(tmp_path / "backups" / "b")))
    payload = b"#!/bin/sh\necho owned\n"
    if name == "ABSOLUTE":
        name = str(tmp_path / "elsewhere" / "evil-secret")
        digest = _outside(Path(name), payload)
        os.chmod(name, 0o644)
    else:
        digest = _outside(dest / name, payload) if name not in ("..", "manifest.json") else "0" * 64
    _edit_manifest(dest, lambda m: m["secrets"].append({"file": name, "next_to": "bot", "mode": "4777",
                                                        "sha256": digest}))
    d.wipe()
    for command in ("verify", "restore"):
        proc = cli(d.env, command, str(dest), "--force") if command == "restore" else cli(d.env, command, str(dest))
        assert proc.returncode == 1 and "refused" in proc.stderr and "not one the project makes" in proc.stderr
    assert not d.var.exists()  # nothing restored, not even the sound files
    assert not (tmp_path / "evil").exists()  # where var/../evil would have been written
    if name.startswith("/"):
        assert Path(name).read_bytes() == payload and stat.S_IMODE(Path(name).stat().st_mode) == 0o644
        assert not list(Path(name).parent.glob("*.before-restore-*"))


def test_restore_refuses_database_entries_naming_other_files(deployment: Deployment, tmp_path: Path) -> None:
    d = deployment
    dest = created_dir(cli(d.env, "create", "--dest", str(tmp_path / "backups" / "b")))
    shutil.copyfile(dest / "cases.db", tmp_path / "backups" / "cases.db")

    def rename(m: dict) -> None:
        m["databases"]["cases"]["file"] = "../cases.db"

    _edit_manifest(dest, rename)
    proc = cli(d.env, "restore", str(dest), "--force")
    assert proc.returncode == 1 and "file name '../cases.db' is not cases.db" in proc.stderr
    _edit_manifest(dest, lambda m: m["databases"].update(evil={"status": "ok", "kind": "sqlite", "file": "evil.db"}))
    assert "unknown database 'evil'" in cli(d.env, "verify", str(dest)).stderr


def test_restore_refuses_a_symbolic_link_in_the_backup(deployment: Deployment, tmp_path: Path) -> None:
    """The sha256 matches, but the file is a link to something outside the backup."""
    d = deployment
    dest = created_dir(cli(d.env, "create", "--dest", str(tmp_path / "b")))
    outside = tmp_path / "outside-secret"
    shutil.copyfile(dest / "sms-json-secret", outside)
    (dest / "sms-json-secret").unlink()
    (dest / "sms-json-secret").symlink_to(outside)
    d.wipe()
    proc = cli(d.env, "restore", str(dest))
    assert proc.returncode == 1 and "symbolic link" in proc.stderr
    assert not d.var.exists()


def test_restored_files_are_600_whatever_the_manifest_says(deployment: Deployment, tmp_path: Path) -> None:
    d = deployment
    dest = created_dir(cli(d.env, "create", "--dest", str(tmp_path / "b")))

    def loosen(m: dict) -> None:
        m["secrets"][0]["mode"] = "4777"
        m["databases"]["bot"]["mode"] = "4777"
        m["databases"]["cases"]["mode"] = "644"

    _edit_manifest(dest, loosen)
    d.wipe()
    restored = cli(d.env, "restore", str(dest))
    assert restored.returncode == 0, restored.stderr
    assert "4777" not in restored.stdout
    assert {p.name: mode(p) for p in d.var.iterdir()} == {n: 0o600 for n in ("bot.db", "cases.db", "tracker.db",
                                                                               "sms-json-secret", "person-key")}
    assert mode(d.var) == 0o700
    assert d.secret.read_text() == SECRET


def test_signed_manifest(deployment: Deployment, tmp_path: Path) -> None:
    """BACKUP_SIGNING_KEY (kept apart from the backups) signs the manifest;
    verify and restore refuse a changed manifest, a bad, missing or unchecked signature."""
    d = deployment
    key = "k" + hashlib.sha256(b"test signing key").hexdigest()
    signed_env = {**d.env, "BACKUP_SIGNING_KEY": key}
    made = cli(signed_env, "create", "--dest", str(tmp_path / "b"))
    dest = created_dir(made)
    assert "manifest signed" in made.stdout and mode(dest / "manifest.sig") == 0o600
    ok = cli(signed_env, "verify", str(dest))
    assert ok.returncode == 0 and "signature ok" in ok.stdout, ok.stderr
    original = (dest / "manifest.json").read_bytes()
    signature = (dest / "manifest.sig").read_bytes()

    unchecked = cli(d.env, "verify", str(dest))  # no key here: a signed backup is not accepted unchecked
    assert unchecked.returncode == 1 and "BACKUP_SIGNING_KEY" in unchecked.stderr
    other_key = cli({**d.env, "BACKUP_SIGNING_KEY": "o" * 40}, "verify", str(dest))
    assert other_key.returncode == 1 and "signature does not match" in other_key.stderr

    def loosen(m: dict) -> None:
        m["secrets"][0]["mode"] = "4777"

    _edit_manifest(dest, loosen)  # altered after signing
    d.wipe()
    for command in ("verify", "restore"):
        proc = cli(signed_env, command, str(dest))
        assert proc.returncode == 1 and "signature does not match" in proc.stderr
    assert not d.var.exists()

    (dest / "manifest.json").write_bytes(original)
    (dest / "manifest.sig").write_text("hmac-sha256:" + "0" * 64 + "\n")  # a bad signature
    bad = cli(signed_env, "restore", str(dest))
    assert bad.returncode == 1 and "signature does not match" in bad.stderr and not d.var.exists()
    (dest / "manifest.sig").unlink()  # signature removed
    missing = cli(signed_env, "restore", str(dest))
    assert missing.returncode == 1 and "unsigned backup is refused" in missing.stderr and not d.var.exists()

    (dest / "manifest.sig").write_bytes(signature)
    restored = cli(signed_env, "restore", str(dest))
    assert restored.returncode == 0, restored.stderr
    assert d.secret.read_text() == SECRET


def test_signing_key_file_must_be_kept_apart_from_the_backups(deployment: Deployment, tmp_path: Path) -> None:
    d = deployment
    apart = tmp_path / "etc" / "backup-signing-key"
    apart.parent.mkdir()
    apart.write_text("s" * 40 + "\n")
    apart.chmod(0o600)
    made = cli({**d.env, "BACKUP_SIGNING_KEY_FILE": str(apart)}, "create", "--dest", str(tmp_path / "b"))
    dest = created_dir(made)
    assert "key from BACKUP_SIGNING_KEY_FILE" in made.stdout
    assert cli({**d.env, "BACKUP_SIGNING_KEY": "s" * 40}, "verify", str(dest)).returncode == 0  # the same key

    beside = d.var / "backup-signing-key"  # would itself be backed up as a secret
    shutil.copyfile(apart, beside)
    among = Path(d.env["BACKUP_DIR"]) / "signing-key"
    among.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(apart, among)
    for path in (beside, among):
        proc = cli({**d.env, "BACKUP_SIGNING_KEY_FILE": str(path)}, "create")
        assert proc.returncode == 1 and "apart from the backups" in proc.stderr
    short = cli({**d.env, "BACKUP_SIGNING_KEY": "short"}, "create", "--dest", str(tmp_path / "c"))
    assert short.returncode == 1 and "32+ characters" in short.stderr


def test_only_the_projects_secret_names_are_backed_up(deployment: Deployment, tmp_path: Path) -> None:
    """Every process now makes its files owner-only, so an owner-only file is
    not a secret by its mode alone: only <words>-secret/-token/-key are taken."""
    d = deployment
    for name in ("log-pseudonym-key", "rasa-api-token", "notes.txt", "export.json"):
        fd = os.open(d.var / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, b"x" * 20)
        os.close(fd)
    dest = created_dir(cli(d.env, "create", "--dest", str(tmp_path / "b")))
    manifest = json.loads((dest / "manifest.json").read_text())
    assert sorted(s["file"] for s in manifest["secrets"]) == ["log-pseudonym-key", "person-key", "rasa-api-token",
                                                              "sms-json-secret"]
    assert not (dest / "notes.txt").exists() and not (dest / "export.json").exists()
