"""Secrets a deployment makes for itself: created once, readable by the owner only."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def local_secret(path: Path) -> str:
    """The secret kept in `path`, made (random, mode 600) the first time.
    Never logged, never put on a command line."""
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(secret)
    return secret
