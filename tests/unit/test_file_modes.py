"""Files for the owner only (security review: the databases with their
-wal/-shm files, the logs and a restore's output were mode 644 in a 755
folder). Every entry point calls ops.secrets.owner_only() first; these tests
start each entry point (its server replaced by a stub, nothing heavy) from a
process whose umask is the usual 022 and check the modes of what it made."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ops.secrets import owner_only, private_dir, restrict
from scripts.stack import Stack

ROOT = Path(__file__).resolve().parents[2]
PYTHON = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else sys.executable

# Run inside a child: lists every file under VAR with its mode, and the umask.
REPORT = textwrap.dedent("""
    def report(var):
        import json, os
        umask = os.umask(0); os.umask(umask)
        modes = {}
        for folder, dirs, files in os.walk(var):
            for name in dirs + files:
                path = os.path.join(folder, name)
                modes[os.path.relpath(path, var)] = oct(os.stat(path).st_mode & 0o777)
        modes["."] = oct(os.stat(var).st_mode & 0o777)
        print("REPORT " + json.dumps({"umask": oct(umask), "modes": modes}))
""")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def child(script: str, env: dict[str, str], umask: int = 0o022) -> dict:
    """Run `script` (REPORT's report() is defined) in a fresh interpreter with
    the given umask, as a service manager or shell would start it."""
    proc = subprocess.run([PYTHON, "-c", REPORT + textwrap.dedent(script)], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=180, umask=umask)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(x for x in proc.stdout.splitlines() if x.startswith("REPORT "))
    return json.loads(line.removeprefix("REPORT "))


def environment(var: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("LOG_SALT", "BACKUP_SIGNING_KEY", "BACKUP_SIGNING_KEY_FILE")}
    env.update(BOT_DB=str(var / "bot.db"), CASES_DB=str(var / "cases.db"), TRACKER_DB=str(var / "tracker.db"),
               TRACKER_DB_URL="", POSTGRES_HOST="", PYTHONPATH=str(ROOT), SMS_GATEWAY="outbox", TELEGRAM_TOKEN="",
               LOG_SALT="", **extra)
    return env


def assert_owner_only(report: dict, *expected: str) -> None:
    modes = report["modes"]
    assert report["umask"] == "0o77"
    for name in expected:
        assert name in modes, f"{name} was not made: {sorted(modes)}"
    loose = {name: m for name, m in modes.items() if name != "." and int(m, 8) & 0o077}
    assert not loose, f"readable by others: {loose}"


def test_owner_only_makes_the_stores_and_their_wal_private(tmp_path: Path) -> None:
    """The stores opened after the entry points' helper: db, -wal, -shm 600, folder 700."""
    var = tmp_path / "var"
    report = child(f"""
        from ops.secrets import owner_only, local_secret
        owner_only()
        from pathlib import Path
        from caseworkers.cases import CaseStore
        from core.db import open_database
        from channels.store import Store
        var = Path({str(var)!r})
        store = Store(var / "bot.db")
        store.record_inbound("sms", "SM1", "sms:+4790000000", "Hei")
        cases = CaseStore(var / "cases.db")
        cases.open_case(sender="sms:+4790000000", channel="sms", language="nb", topic="fastlege", text="hjelp")
        other = open_database(var / "sub" / "other.db")
        other.execute("create table t (x)")
        local_secret(var / "sms-json-secret")
        with open(var / "service.log", "a") as log:
            log.write("started")
        report(var)  # the stores are still open: their -wal and -shm exist
    """, environment(var))
    assert_owner_only(report, "bot.db", "bot.db-wal", "bot.db-shm", "cases.db", "cases.db-wal", "cases.db-shm",
                      "sub", "sub/other.db", "sms-json-secret", "service.log")
    assert report["modes"]["."] == "0o700"


def test_channel_server_entry_point(tmp_path: Path) -> None:
    """`python -m channels.app`: the umask is set before anything is opened."""
    var = tmp_path / "var"
    report = child(f"""
        import uvicorn
        uvicorn.run = lambda app, **kw: report({str(var)!r})  # the server "runs": look at what it made
        from channels.app import main
        main()
    """, environment(var))
    assert_owner_only(report, "bot.db", "bot.db-wal", "bot.db-shm", "cases.db", "cases.db-wal", "sms-json-secret",
                      "log-pseudonym-key")
    assert report["modes"]["."] == "0o700"


def test_action_server_entry_point_and_an_older_readable_database(tmp_path: Path) -> None:
    """`python -m actions.server`: the umask, and a case database an older
    version left readable (644, with its -wal) is made 600."""
    var = tmp_path / "var"
    var.mkdir()
    old = sqlite3.connect(var / "cases.db")
    old.execute("PRAGMA journal_mode=WAL")
    old.execute("create table t (x)")
    os.chmod(var / "cases.db", 0o644)
    os.chmod(var / "cases.db-wal", 0o644)
    report = child(f"""
        import sanic
        sanic.Sanic.run = lambda self, **kw: report({str(var)!r})
        from actions.server import main
        main()
    """, environment(var))
    old.close()
    assert_owner_only(report, "cases.db", "cases.db-wal")


def test_rasa_entry_point(tmp_path: Path) -> None:
    """`python -m ops.rasa_serve`: Rasa (a stub here) creates its tracker store under umask 077."""
    var = tmp_path / "var"
    report = child(f"""
        import os, sqlite3, sys, types
        def rasa_main():
            os.makedirs({str(var)!r}, exist_ok=True)
            db = sqlite3.connect(os.environ["TRACKER_DB"])
            db.execute("PRAGMA journal_mode=WAL"); db.execute("create table events (x)"); db.commit()
            report({str(var)!r})
        sys.modules["rasa.__main__"] = types.SimpleNamespace(main=rasa_main)
        sys.argv = ["ops.rasa_serve", "--enable-api", "-i", "127.0.0.1"]
        from ops.rasa_serve import main
        main()
    """, environment(var, RASA_API_TOKEN="t" * 32, RASA_API_TOKEN_SOURCE="operator"))
    assert_owner_only(report, "tracker.db", "tracker.db-wal", "tracker.db-shm")


@pytest.fixture
def loose_umask():
    previous = os.umask(0o022)  # what the test runner (or an operator's shell) usually has
    try:
        yield
    finally:
        os.umask(previous)


def test_stack_makes_var_and_logs_private_and_starts_processes_owner_only(tmp_path: Path, loose_umask: None) -> None:
    """scripts/stack.py (make run): var/ and var/log 700, log files 600, and
    what a started process creates 600 even before its own entry point runs."""
    var = tmp_path / "var"
    stack = Stack(tracker_db=var / "tracker.db", log_dir=var / "log", api_token="t" * 32)
    stack._spawn("probe", [sys.executable, "-c", "import os, sqlite3; u = os.umask(0); os.umask(u); print('umask', oct(u)); "
                                                 f"sqlite3.connect({str(var / 'made-by-child.db')!r})"
                                                 ".execute('create table t (x)')"])
    proc = stack.processes["probe"]
    assert proc.wait(timeout=60) == 0
    stack.processes.clear()
    assert mode(var) == 0o700 and mode(var / "log") == 0o700
    assert mode(var / "log" / "probe.log") == 0o600
    assert "umask 0o77" in (var / "log" / "probe.log").read_text()
    assert mode(var / "made-by-child.db") == 0o600


def test_backup_and_restore_write_owner_only_files(tmp_path: Path, loose_umask: None) -> None:
    """A backup made and restored from a shell with umask 022: folder 700,
    files 600; restored databases and secrets 600, and so are the -wal/-shm
    the services make when they open them again."""
    from channels.store import Store

    var = tmp_path / "var"
    env = environment(var, BACKUP_DIR=str(tmp_path / "backups"), WEBCHAT_PORT="1", RASA_PORT="1", ACTION_PORT="1")
    child(f"""
        from ops.secrets import owner_only, local_secret
        owner_only()
        from pathlib import Path
        from channels.store import Store
        from caseworkers.cases import CaseStore
        var = Path({str(var)!r})
        Store(var / "bot.db").record_inbound("sms", "SM1", "sms:+4790000000", "Hei")
        CaseStore(var / "cases.db")
        local_secret(var / "sms-json-secret")
        report(var)
    """, env)
    dest = tmp_path / "backups" / "b"
    made = subprocess.run([PYTHON, "-m", "scripts.backup", "create", "--dest", str(dest)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stderr
    assert mode(dest) == 0o700 and mode(dest.parent) == 0o700
    assert {p.name: mode(p) for p in dest.iterdir()} == {n: 0o600 for n in ("bot.db", "cases.db", "manifest.json",
                                                                             "sms-json-secret")}
    for path in var.iterdir():
        os.remove(path)
    var.rmdir()
    restored = subprocess.run([PYTHON, "-m", "scripts.backup", "restore", str(dest)], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=120)
    assert restored.returncode == 0, restored.stderr
    assert mode(var) == 0o700
    assert {p.name: mode(p) for p in var.iterdir()} == {n: 0o600 for n in ("bot.db", "cases.db", "sms-json-secret")}
    previous = owner_only()  # as the channel server does before opening them
    try:
        store = Store(var / "bot.db")
        store.record_inbound("sms", "SM2", "sms:+4790000000", "igjen")
        assert mode(var / "bot.db-wal") == 0o600 and mode(var / "bot.db-shm") == 0o600
        store.db.conn.close()
    finally:
        os.umask(previous)


def test_helpers(tmp_path: Path, loose_umask: None) -> None:
    previous = owner_only()
    try:
        assert os.umask(0o077) == 0o077
    finally:
        os.umask(previous)
    made = private_dir(tmp_path / "a" / "b")
    assert mode(tmp_path / "a") == 0o700 and mode(made) == 0o700
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    private_dir(shared)
    assert mode(shared) == 0o755  # a folder that is not the project's own is not changed
    private_dir(shared, tighten=True)
    assert mode(shared) == 0o700
    db = tmp_path / "old.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").write_text("x")
        os.chmod(f"{db}{suffix}", 0o664)
    restrict(db, None, tmp_path / "missing.db")
    assert all(mode(Path(f"{db}{s}")) == 0o600 for s in ("", "-wal", "-shm"))
