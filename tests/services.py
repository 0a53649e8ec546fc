"""Real PostgreSQL and Redis servers for the multi-machine test: Debian's
packages (scripts/install-services.sh), started on loopback in a temporary
folder with a password, stopped at the end."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest


def _postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def _as_postgres() -> tuple[list[str], int | None]:
    """initdb and postgres refuse to run as root: use the `postgres` user."""
    if os.geteuid() != 0:
        return [], None
    return ["runuser", "-u", "postgres", "--"], pwd.getpwnam("postgres").pw_uid


@dataclass
class Postgres:
    port: int
    password: str
    folder: Path
    process: subprocess.Popen
    user: str = "rasa"
    database: str = "rasa"

    @property
    def env(self) -> dict[str, str]:
        return {"POSTGRES_HOST": "127.0.0.1", "POSTGRES_PORT": str(self.port), "POSTGRES_DB": self.database,
                "POSTGRES_USER": self.user, "POSTGRES_PASSWORD": self.password}

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def start_postgres(folder: Path, port: int, password: str) -> Postgres:
    bin_dir = _postgres_bin()
    if bin_dir is None:
        pytest.fail("PostgreSQL is not installed: run scripts/install-services.sh (make test does)")
    prefix, uid = _as_postgres()
    folder.mkdir(parents=True, exist_ok=True)
    if uid is not None:
        shutil.chown(folder, user="postgres")
        os.chmod(folder, 0o700)
        for parent in folder.parents:  # the postgres user must be able to reach its folder
            if str(parent).startswith(("/tmp/", "/var/tmp/")):
                os.chmod(parent, os.stat(parent).st_mode | 0o011)
    data = folder / "data"
    pwfile = folder / "pw"
    pwfile.write_text(password)
    if uid is not None:
        shutil.chown(pwfile, user="postgres")
    subprocess.run(prefix + [str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=scram-sha-256",
                             f"--pwfile={pwfile}", "-E", "UTF8"], check=True, capture_output=True)
    process = subprocess.Popen(prefix + [str(bin_dir / "postgres"), "-D", str(data), "-p", str(port),
                                         "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={folder}"],
                               stdout=subprocess.DEVNULL, stderr=open(folder / "postgres.log", "ab"))
    env = dict(os.environ, PGPASSWORD=password)
    psql = [str(bin_dir / "psql") if (bin_dir / "psql").exists() else "psql",
            "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-v", "ON_ERROR_STOP=1"]
    deadline = time.monotonic() + 60
    while subprocess.run(psql + ["-c", "select 1"], env=env, capture_output=True).returncode != 0:
        if time.monotonic() > deadline or process.poll() is not None:
            raise RuntimeError(f"PostgreSQL did not start; see {folder / 'postgres.log'}")
        time.sleep(0.3)
    subprocess.run(psql + ["-c", f"create role rasa login password '{password}'",
                           "-c", "create database rasa owner rasa"], env=env, check=True, capture_output=True)
    return Postgres(port, password, folder, process)


@dataclass
class Redis:
    port: int
    password: str
    process: subprocess.Popen

    @property
    def env(self) -> dict[str, str]:
        return {"REDIS_HOST": "127.0.0.1", "REDIS_PORT": str(self.port), "REDIS_PASSWORD": self.password,
                "REDIS_DB": "0"}

    def client(self):  # type: ignore[no-untyped-def]
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, password=self.password)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def start_redis(folder: Path, port: int, password: str) -> Redis:
    server = shutil.which("redis-server")
    if server is None:
        pytest.fail("Redis is not installed: run scripts/install-services.sh (make test does)")
    folder.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen([server, "--port", str(port), "--bind", "127.0.0.1", "--requirepass", password,
                                "--save", "", "--appendonly", "no", "--dir", str(folder)],
                               stdout=open(folder / "redis.log", "ab"), stderr=subprocess.STDOUT)
    redis = Redis(port, password, process)
    deadline = time.monotonic() + 30
    while True:
        try:
            redis.client().ping()
            return redis
        except Exception:  # noqa: BLE001 - not up yet
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("Redis did not start") from None
            time.sleep(0.2)
