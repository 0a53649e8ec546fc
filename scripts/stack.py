"""Starts and stops the assistant's processes: the action server, the Rasa
workers (HTTP API on localhost; one per core by default, on RASA_PORT,
RASA_PORT+1, ...) and the channel server with the web chat. Used by
`make run` and by the tests, so both run exactly the same stack."""

from __future__ import annotations

import functools
import http.client
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ops.secrets import OWNER_ONLY_UMASK, local_secret, private_dir, restrict

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent


def ephemeral_start(path: Path = Path("/proc/sys/net/ipv4/ip_local_port_range")) -> int:
    """The first port the kernel hands out for outgoing connections (Linux's
    default 32768 where the setting cannot be read)."""
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port(span: int = 1) -> int:
    """A port p on 127.0.0.1 with p .. p+span-1 free, taken below the
    kernel's ephemeral range. A port from bind(0) lies inside that range, so
    polling it before the server listens can connect the client to itself
    (TCP self-connect: it reads its own "GET / HTTP/1.1" back) and, while
    connected, keep the server from binding."""
    end = ephemeral_start() - span
    for _ in range(200):
        port = random.randrange(max(1024, end - 12000), end)
        sockets = [socket.socket() for _ in range(span)]
        try:
            for offset, sock in enumerate(sockets):
                sock.bind(("127.0.0.1", port + offset))
            return port
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise RuntimeError(f"no {span} free ports in a row below {end + span}")


def load_env_file(path: Path = ROOT / ".env") -> None:
    """Apply an operator's `.env` (see `.env.example`); real environment wins."""
    if path.exists():
        from dotenv import load_dotenv

        load_dotenv(path, override=False)


@dataclass
class Stack:
    rasa_port: int = 5005
    #: Rasa servers sharing the tracker store; the channel server spreads people across them.
    rasa_workers: int = 1
    action_port: int = 5055
    webchat_port: int = 8080
    tracker_db: Path = ROOT / "var" / "tracker.db"
    model_dir: Path = ROOT / "models"
    log_dir: Path = ROOT / "var" / "log"
    with_webchat: bool = True
    with_actions: bool = True
    endpoints: str = "endpoints.yml"  # deploy/endpoints.multi.yml: PostgreSQL + Redis
    #: Rasa sends it to the action server, which refuses calls without it.
    action_token: str = field(default_factory=lambda: os.environ.get("ACTION_SERVER_TOKEN") or secrets.token_urlsafe(24))
    #: Rasa's HTTP API always needs it (`?token=`): RASA_API_TOKEN, or one made
    #: once in var/rasa-api-token (mode 600) for the operator and the scorers.
    api_token: str = ""
    #: Signs every message the channel server posts to Rasa (core.signing):
    #: RASA_CHANNEL_SECRET, or one made once in var/rasa-channel-secret (mode 600).
    channel_secret: str = ""
    extra_env: dict[str, str] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    @classmethod
    def from_env(cls, **overrides: object) -> Stack:
        env = os.environ
        values: dict[str, object] = {
            "rasa_port": int(env.get("RASA_PORT", 5005)),
            "rasa_workers": default_workers(env),
            "action_port": int(env.get("ACTION_PORT", 5055)),
            "webchat_port": int(env.get("WEBCHAT_PORT", 8080)),
            "tracker_db": Path(env.get("TRACKER_DB", ROOT / "var" / "tracker.db")),
            "endpoints": env.get("RASA_ENDPOINTS", "endpoints.yml"),
        }
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]

    def __post_init__(self) -> None:
        private_dir(self.tracker_db.parent, tighten=_ours(self.tracker_db.parent))  # var/: mode 700
        if not self.api_token:
            self.api_token = os.environ.get("RASA_API_TOKEN") or local_secret(self.tracker_db.parent / "rasa-api-token")
        if not self.channel_secret:
            self.channel_secret = (os.environ.get("RASA_CHANNEL_SECRET")
                                   or local_secret(self.tracker_db.parent / "rasa-channel-secret"))

    @property
    def rasa_host(self) -> str:
        return os.environ.get("RASA_HOST", "127.0.0.1")

    @property
    def credentials(self) -> str:
        """Rasa's channels: with the open REST channel only for loopback
        development (the scorers use it); the signed channel alone in production."""
        from ops.rasa_serve import is_loopback

        production = self.env().get("NABO_ENV", "").lower() == "production"
        return ("deploy/credentials.production.yml" if production or not is_loopback(self.rasa_host)
                else "credentials.yml")

    @property
    def rasa_url(self) -> str:
        return f"http://127.0.0.1:{self.rasa_port}"

    def worker_url(self, worker: int) -> str:
        return f"http://127.0.0.1:{self.rasa_port + worker}"

    @staticmethod
    def worker_name(worker: int) -> str:
        return "rasa" if worker == 0 else f"rasa-{worker}"

    @property
    def webchat_url(self) -> str:
        return f"http://127.0.0.1:{self.webchat_port}"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "RASA_TELEMETRY_ENABLED": "false",
                "ACTION_HOST": os.environ.get("ACTION_HOST", "127.0.0.1"),
                "ACTION_PORT": str(self.action_port),
                "ACTION_SERVER_URL": os.environ.get("ACTION_SERVER_URL",
                                                    f"http://127.0.0.1:{self.action_port}/webhook"),
                "ACTION_SERVER_TOKEN": self.action_token,
                "RASA_API_TOKEN": self.api_token,
                "RASA_API_TOKEN_SOURCE": "operator" if os.environ.get("RASA_API_TOKEN") else "generated",
                "RASA_CHANNEL_SECRET": self.channel_secret,
                "RASA_CHANNEL_SECRET_SOURCE": "operator" if os.environ.get("RASA_CHANNEL_SECRET") else "generated",
                "TRACKER_DB": str(self.tracker_db.resolve()),
                "BOT_DB": os.environ.get("BOT_DB") or str(self.tracker_db.resolve().parent / "bot.db"),
                "RASA_URL": self.rasa_url,
                "RASA_URLS": ",".join(self.worker_url(w) for w in range(self.rasa_workers)),
                "WEBCHAT_PORT": str(self.webchat_port),
                "TF_CPP_MIN_LOG_LEVEL": "2",
                # The cores are shared by the workers: more threads than that only wait for each other.
                # OpenMP (the encoder) reads its thread count when it loads, before the pipeline could set it,
                # and by default spins while idle: 3-4 times the CPU per message on a busy machine (issue 13).
                "ENCODER_THREADS": self.encoder_threads(),
                "OMP_NUM_THREADS": self.encoder_threads(),
                "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE"),
                "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
                "PYTHONPATH": str(ROOT),
            }
        )
        env.update(self.extra_env)
        return env

    def encoder_threads(self) -> str:
        return os.environ.get("ENCODER_THREADS") or str(max(1, (os.cpu_count() or 2) // self.rasa_workers))

    def _spawn(self, name: str, args: list[str]) -> None:
        private_dir(self.log_dir, tighten=_ours(self.log_dir))
        restrict(self.log_dir / f"{name}.log")  # a log an older version made readable
        log = os.fdopen(os.open(self.log_dir / f"{name}.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab")
        # umask: whatever the process creates (databases, -wal/-shm, secrets) is the owner's only
        self.processes[name] = subprocess.Popen(args, cwd=ROOT, env=self.env(), stdout=log, stderr=subprocess.STDOUT,
                                                start_new_session=True, umask=OWNER_ONLY_UMASK)

    def start_actions(self) -> None:
        self._spawn("actions", [sys.executable, "-m", "actions.server"])

    def start_rasa(self, worker: int = 0) -> None:
        """Rasa listens on RASA_HOST (127.0.0.1); its HTTP API always needs
        the token, which `ops.rasa_serve` takes from the environment, never
        from the command line."""
        private_dir(self.tracker_db.parent)
        args = [sys.executable, "-m", "ops.rasa_serve", "--enable-api", "-i", self.rasa_host,
                "-p", str(self.rasa_port + worker), "-m", str(self.model_dir), "--endpoints", self.endpoints,
                "--credentials", self.credentials]
        if self.env().get("LOG_FORMAT", "").lower() == "json":
            args += ["--logging-config-file", "deploy/rasa-logging.yml"]
        self._spawn(self.worker_name(worker), args)

    def starters(self) -> dict[str, Callable[[], None]]:
        """Each process's name and how to start it (the supervisor restarts them by these)."""
        out: dict[str, Callable[[], None]] = {"actions": self.start_actions}
        for worker in range(self.rasa_workers):
            out[self.worker_name(worker)] = functools.partial(self.start_rasa, worker)
        out["webchat"] = self.start_webchat
        return out

    def api(self, path: str) -> str:
        """A URL of Rasa's HTTP API with the token (tests, scorers, benchmark)."""
        return f"{self.rasa_url}{path}{'&' if '?' in path else '?'}token={self.api_token}"

    def start_webchat(self) -> None:
        self._spawn("webchat", [sys.executable, "-m", "channels.app"])

    def start(self, timeout: float = 180.0, all_workers: bool = True) -> None:
        """Ready with the first Rasa worker; the others load after it, so the
        first does not share the cores while loading (`all_workers`: wait for
        them too)."""
        if self.with_actions:
            self.start_actions()
        self.start_rasa(0)
        if self.with_webchat:
            self.start_webchat()
        try:
            self.wait_ready(timeout)
            for worker in range(1, self.rasa_workers):
                self.start_rasa(worker)
            if all_workers:
                self.wait_ready(timeout)
        except (RuntimeError, TimeoutError):
            self.stop()
            raise

    def wait_ready(self, timeout: float = 180.0) -> None:
        checks = {"actions": f"http://127.0.0.1:{self.action_port}/healthz"}
        checks.update({self.worker_name(w): f"{self.worker_url(w)}/" for w in range(self.rasa_workers)})
        if "webchat" in self.processes:
            checks["webchat"] = f"{self.webchat_url}/healthz"
        deadline = time.monotonic() + timeout
        pending = {k: v for k, v in checks.items() if k in self.processes}
        while pending:
            for name, url in list(pending.items()):
                proc = self.processes[name]
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} exited with {proc.returncode}; see {self.log_dir / (name + '.log')}")
                if _ok(url):
                    del pending[name]
            if time.monotonic() > deadline:
                raise TimeoutError(f"not ready after {timeout:.0f}s: {', '.join(pending)}")
            time.sleep(0.5)

    def stop(self, name: str | None = None) -> None:
        for key in [name] if name else list(self.processes):
            proc = self.processes.pop(key, None)
            if proc and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()


def default_workers(env: os._Environ[str] | dict[str, str]) -> int:
    """RASA_WORKERS, else one Rasa worker per core."""
    value = env.get("RASA_WORKERS", "")
    workers = int(value) if value.strip() else (os.cpu_count() or 1)
    if workers < 1:
        raise ValueError("RASA_WORKERS must be at least 1")
    return workers


def _ours(folder: Path) -> bool:
    """The project's own var/ (an older version made it 755): tightened to
    700 even when it exists. A folder elsewhere is only made 700 when created."""
    var = ROOT / "var"
    return folder.resolve() == var or var in folder.resolve().parents


def _ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status == 200
    except (OSError, http.client.HTTPException):  # not listening yet, or a garbled reply (self-connect)
        return False
