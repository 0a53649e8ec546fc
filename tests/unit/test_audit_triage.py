"""Triaged advisories are reviewed again in time: each entry has a review
date and an expiry, and an expired one fails here (and is no longer ignored
by scripts/audit.sh)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def entries() -> list[dict]:
    return yaml.safe_load((ROOT / "security" / "audit-triage.yml").read_text(encoding="utf-8"))


def test_every_entry_is_dated_and_none_has_expired() -> None:
    today = dt.date.today()
    for entry in entries():
        reviewed, expires = entry.get("reviewed"), entry.get("expires")
        assert isinstance(reviewed, dt.date) and isinstance(expires, dt.date), entry["id"]
        assert reviewed <= today < expires, f"{entry['id']}: review expired on {expires}; review it again"
        assert (expires - reviewed).days <= 200, f"{entry['id']}: a review lasts about six months"


def test_rasa_itself_is_triaged() -> None:
    pinned = next(line.split("==")[1].strip() for line in (ROOT / "requirements.lock").read_text().splitlines()
                  if line.startswith("rasa=="))
    assert any(e["package"] == "rasa" and str(e["version"]) == pinned for e in entries())
