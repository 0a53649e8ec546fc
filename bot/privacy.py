"""Pseudonyms for logs: an operator can follow one conversation through the
logs without seeing a chat id, phone number or web session id."""

from __future__ import annotations

import hashlib


def pseudonym(identifier: str, salt: str = "") -> str:
    return hashlib.sha256((salt + identifier).encode("utf-8")).hexdigest()[:12]
