"""Pseudonyms that stay pseudonyms (security review: sha256(salt + id) with
an empty default salt, or the published `change-me`, was turned back into a
phone number in seconds by trying every number)."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from core import privacy

ROOT = Path(__file__).resolve().parents[2]
PYTHON = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else sys.executable
NUMBER = "sms:+4790000000"


@pytest.fixture
def var(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A deployment of its own: BOT_DB in a fresh folder, no key loaded yet."""
    monkeypatch.setattr(privacy, "_keys", {})
    monkeypatch.setattr(privacy, "_refused", set())
    monkeypatch.setenv("BOT_DB", str(tmp_path / "var" / "bot.db"))
    return tmp_path / "var"


def brute_force(pseudonym: str, salt: str = "") -> str | None:
    """What an attacker with the log tries: the old construction over a slice
    of Norwegian mobile numbers (the whole space takes seconds)."""
    for n in range(90000000, 90001000):
        candidate = f"sms:+47{n}"
        if hashlib.sha256((salt + candidate).encode()).hexdigest()[:12] == pseudonym:
            return candidate
    return None


def test_without_log_salt_a_random_key_is_made_once_and_owner_only(var: Path) -> None:
    first = privacy.pseudonym(NUMBER)
    key_file = var / privacy.KEY_FILE
    assert key_file.is_file() and stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = key_file.read_text().strip()
    assert len(key) >= 32
    assert first == hmac.new(key.encode(), NUMBER.encode(), hashlib.sha256).hexdigest()[:12]
    assert first != hashlib.sha256(NUMBER.encode()).hexdigest()[:12]  # the old, unkeyed pseudonym
    assert brute_force(first) is None
    assert privacy.pseudonym(NUMBER) == first and privacy.pseudonym("sms:+4790000001") != first
    assert key_file.read_text().strip() == key  # made once, never replaced


def test_the_key_survives_restarts_and_differs_between_deployments(var: Path, tmp_path: Path) -> None:
    here = privacy.pseudonym(NUMBER)
    env = {**os.environ, "BOT_DB": str(var / "bot.db"), "PYTHONPATH": str(ROOT)}
    code = f"from core.privacy import pseudonym; print(pseudonym({NUMBER!r}))"
    again = subprocess.run([PYTHON, "-c", code], env=env, capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert again.stdout.strip() == here, again.stderr
    elsewhere = subprocess.run([PYTHON, "-c", code], env={**env, "BOT_DB": str(tmp_path / "other" / "bot.db")},
                               capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert elsewhere.stdout.strip() not in ("", here), elsewhere.stderr


def test_an_operator_salt_is_an_hmac_key(var: Path) -> None:
    salt = secrets.token_urlsafe(24)
    privacy.configure(salt, var)
    assert not (var / privacy.KEY_FILE).exists()  # the operator's key is used, nothing is made
    value = privacy.pseudonym(NUMBER, salt)
    assert value == hmac.new(salt.encode(), NUMBER.encode(), hashlib.sha256).hexdigest()[:12]
    assert value == privacy.pseudonym(NUMBER)  # configured at start-up: callers without the salt agree
    assert value != hashlib.sha256((salt + NUMBER).encode()).hexdigest()[:12]


@pytest.mark.parametrize("salt", ["change-me", "short-salt", "CHANGE-ME-please-0123456789", "x" * 40,
                                  "your-salt-here-0000000000"])
def test_placeholder_salts_are_refused(var: Path, salt: str) -> None:
    with pytest.raises(privacy.SaltError, match="LOG_SALT"):
        privacy.configure(salt, var)
    with pytest.raises(privacy.SaltError):
        privacy.check_salt(salt)
    # Handed one anyway (a caller that skipped start-up), it is never the key:
    assert privacy.pseudonym(NUMBER, salt) == privacy.pseudonym(NUMBER)
    assert brute_force(privacy.pseudonym(NUMBER, salt), salt) is None


def test_good_salts_and_empty_are_accepted() -> None:
    privacy.check_salt("")
    privacy.check_salt(secrets.token_urlsafe(32))
    privacy.check_salt("k7Qv9-Lm2Xp4Rt8Wz1")


def test_channel_server_refuses_to_start_with_a_placeholder_salt(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LOG_SALT": "change-me", "BOT_DB": str(tmp_path / "bot.db"),
           "CASES_DB": str(tmp_path / "cases.db"), "TRACKER_DB": str(tmp_path / "tracker.db"), "TRACKER_DB_URL": "",
           "POSTGRES_HOST": "", "SMS_GATEWAY": "none", "TELEGRAM_TOKEN": ""}
    code = "import uvicorn; uvicorn.run = lambda *a, **k: print('STARTED'); from channels.app import main; main()"
    proc = subprocess.run([PYTHON, "-c", code], env=env, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode != 0 and "STARTED" not in proc.stdout
    assert "LOG_SALT" in proc.stderr and "placeholder" in proc.stderr
    assert "Traceback" not in proc.stderr  # a clear message, not a crash

    good = subprocess.run([PYTHON, "-c", code], env={**env, "LOG_SALT": ""}, capture_output=True, text=True,
                          timeout=120, cwd=ROOT)
    assert good.returncode == 0 and "STARTED" in good.stdout, good.stderr
    assert stat.S_IMODE((tmp_path / privacy.KEY_FILE).stat().st_mode) == 0o600  # made at start-up, next to BOT_DB


def test_env_example_has_no_placeholder_salt() -> None:
    lines = [x for x in (ROOT / ".env.example").read_text().splitlines() if x.startswith("LOG_SALT=")]
    assert len(lines) == 1
    privacy.check_salt(lines[0].removeprefix("LOG_SALT=").split("#")[0].strip())
