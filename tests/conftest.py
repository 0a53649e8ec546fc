"""Shared fixtures. The `stack` fixture starts the real action server, Rasa
server (with the newest trained model in models/) and web chat on free
loopback ports, once per test session, with a throw-away tracker database."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# The actions' case store (unanswered messages, cases) goes to a throw-away place.
os.environ.setdefault("CASES_DB", str(Path(tempfile.mkdtemp(prefix="nabo-cases-")) / "cases.db"))

from scripts.stack import Stack, free_port  # noqa: E402


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that uses the running stack needs the trained model: mark it
    `stack`, so `scripts/test.sh` can run the others while the model trains."""
    for item in items:
        if "stack" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.stack)


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory):
    if not any((ROOT / "models").glob("*.tar.gz")):
        pytest.fail("no trained model in models/: run `scripts/train.sh` (make test does)")
    tmp = tmp_path_factory.mktemp("stack")
    s = Stack(rasa_port=free_port(), action_port=free_port(), webchat_port=free_port(),
              tracker_db=tmp / "tracker.db", log_dir=tmp / "log",
              extra_env={"RETRY_PENDING_SECONDS": "1", "STALE_AFTER_SECONDS": "5", "BOT_DB": str(tmp / "bot.db")})
    s.start()
    yield s
    s.stop()


@pytest.fixture()
def gateway():
    """A fake SMS gateway on loopback (tests/fakes); `.url` is its address."""
    from tests.fakes.servers import FakeGateway, LoopbackServer

    fake = FakeGateway()
    with LoopbackServer(fake.app) as server:
        fake.url = server.url
        yield fake


@pytest.fixture()
def telegram():
    """A fake Telegram Bot API on a loopback port (tests/fakes/servers.py)."""
    from tests.fakes.servers import FakeTelegram, LoopbackServer

    fake = FakeTelegram()
    with LoopbackServer(fake.app) as server:
        fake.url = server.url
        yield fake
