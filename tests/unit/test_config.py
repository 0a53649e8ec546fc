"""One configuration: every variable the code reads is documented in the
README's settings table and in .env.example, and nothing documented is
unread; paths are resolved against the checkout once."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from core.config import ROOT, Settings, SettingsError

#: Set by the project's own scripts for the processes they start, not by an operator.
INTERNAL = {"RASA_API_TOKEN_SOURCE", "RASA_CHANNEL_SECRET_SOURCE", "PYTHONPATH", "RASA_TELEMETRY_ENABLED", "TF_CPP_MIN_LOG_LEVEL",
            "SQLALCHEMY_SILENCE_UBER_WARNING", "CI", "PATH", "HOME",
            "PGPASSWORD"}  # handed by `make backup` to PostgreSQL's own tools
CODE = ("actions", "caseworkers", "channels", "core", "nlu", "ops", "scripts/stack.py", "scripts/backup.py",
        "scripts/run.py", "locales")
READ = re.compile(r"""(?:environ\.get|env\.get|getenv|environ\[|env\[)\(?\s*["']([A-Z][A-Z0-9_]+)["']""")


def read_by_code() -> set[str]:
    """Names the Python code reads, and the ${NAME}s Rasa fills in its endpoint files."""
    names: set[str] = set()
    for entry in CODE:
        path = ROOT / entry
        for f in [path] if path.is_file() else path.rglob("*.py"):
            names |= set(READ.findall(f.read_text(encoding="utf-8")))
    for f in [ROOT / "endpoints.yml", *sorted((ROOT / "deploy").glob("endpoints*.yml"))]:
        lines = [line for line in f.read_text(encoding="utf-8").splitlines() if not line.lstrip().startswith("#")]
        names |= set(re.findall(r"\$\{([A-Z][A-Z0-9_]+)", "\n".join(lines)))
    return names - INTERNAL


def documented_in_readme() -> set[str]:
    """The names in the first column of the README's settings table."""
    rows = re.findall(r"^\| (`[A-Z][^|]*) \|", (ROOT / "README.md").read_text(encoding="utf-8"), re.M)
    return {name for row in rows for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", row)}


def in_env_example() -> set[str]:
    text = (ROOT / ".env.example").read_text(encoding="utf-8")
    return {name for line in text.splitlines() if not line.startswith("# ") or "=" in line.split()[1:2][0:1]
            for name in re.findall(r"(?:^|[#\s])([A-Z][A-Z0-9_]+)=", line)}


def test_every_variable_read_is_documented_and_every_documented_one_is_read() -> None:
    code = read_by_code()
    assert sorted(code - documented_in_readme()) == [], "read by the code but not in the README's settings table"
    assert sorted(code - in_env_example()) == [], "read by the code but not in .env.example"
    assert sorted(documented_in_readme() - code) == [], "in the README but read by nothing"
    assert sorted(in_env_example() - code) == [], "in .env.example but read by nothing"


def test_relative_paths_are_resolved_against_the_checkout(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # started from another folder
    monkeypatch.setenv("CASES_DB", "var/cases.db")
    settings = Settings.from_env()
    assert settings.cases_db == str(ROOT / "var" / "cases.db") and settings.bot_db == str(ROOT / "var" / "bot.db")


def test_links_sent_to_people_start_with_the_public_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PUBLIC_URL", "https://nabo.example.kommune.no")
    monkeypatch.setenv("METRICS_TOKEN", "m" * 20)
    settings = Settings.from_env()
    assert settings.privacy_url == "https://nabo.example.kommune.no/privacy"
    assert settings.desk_url == "https://nabo.example.kommune.no/desk"


@pytest.mark.parametrize("name, value", [("MUNICIPALITY", "atlantis"), ("HANDOFF", "pigeon"),
                                         ("NLU_CONFIDENCE_THRESHOLD", "2"), ("PUBLIC_URL", "nabo.no"),
                                         ("DEFAULT_LANGUAGE", "xx")])
def test_a_bad_value_stops_start_up_naming_it(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=name):
        Settings.from_env()


@pytest.mark.parametrize("name, value", [("WEBCHAT_HOST", "0.0.0.0"), ("PUBLIC_URL", "https://nabo.example.kommune.no")])
def test_a_channel_server_others_can_reach_needs_a_metrics_token(monkeypatch: pytest.MonkeyPatch, name: str,
                                                                 value: str) -> None:
    monkeypatch.delenv("METRICS_TOKEN", raising=False)
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match="METRICS_TOKEN"):
        Settings.from_env()
    monkeypatch.setenv("METRICS_TOKEN", "m" * 20)
    assert Settings.from_env().metrics_token == "m" * 20


def test_an_action_server_others_can_reach_needs_a_metrics_token(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from actions import server
    from core.config import settings

    monkeypatch.setenv("ACTION_HOST", "0.0.0.0")
    monkeypatch.delenv("METRICS_TOKEN", raising=False)
    monkeypatch.setattr("scripts.stack.load_env_file", lambda *a: None)
    settings.cache_clear()
    umask = os.umask(0o022)
    os.umask(umask)
    try:
        with pytest.raises(SystemExit, match="METRICS_TOKEN"):
            server.main()
    finally:
        os.umask(umask)
        settings.cache_clear()
