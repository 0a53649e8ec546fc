"""Pseudonyms for logs: an operator can follow one conversation through the
logs without seeing a chat id, phone number or web session id.

A pseudonym is HMAC-SHA256 of the id under a secret key, so it cannot be
turned back into a phone number by trying every number (security review:
the old sha256(salt + id) with an empty or published salt was reversed in
seconds). The key is LOG_SALT when the operator sets one (16+ characters,
not a placeholder; set the same value on every machine to follow a person
across machines), else a random key made once next to the channel database
(`var/log-pseudonym-key`, mode 600, kept by backups).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import secrets
from pathlib import Path

from ops.secrets import local_secret

logger = logging.getLogger(__name__)
KEY_FILE = "log-pseudonym-key"
MIN_SALT_CHARS = 16
PLACEHOLDER = re.compile(r"change.?me|placeholder|example|your.?(salt|secret)|^(.)\2*$", re.IGNORECASE)


class SaltError(ValueError):
    """LOG_SALT is a placeholder or too short; the message says what to do."""


_keys: dict[str, bytes] = {}  # "" -> the deployment's key; an accepted LOG_SALT -> its bytes
_refused: set[str] = set()


def check_salt(salt: str) -> None:
    """Refuse a LOG_SALT anyone could guess. Empty is fine: a random key is used."""
    if not salt:
        return
    if len(salt) < MIN_SALT_CHARS or PLACEHOLDER.search(salt):
        raise SaltError(f"LOG_SALT is a placeholder or shorter than {MIN_SALT_CHARS} characters, so the pseudonyms in "
                        f"the logs could be turned back into phone numbers. Leave LOG_SALT empty (a random key is made "
                        f"once in var/{KEY_FILE}) or set it to a long random value, e.g. "
                        f"`python -c 'import secrets; print(secrets.token_urlsafe(32))'`.")


def configure(salt: str, folder: Path | str) -> None:
    """At start-up: refuse a weak LOG_SALT (SaltError), and without one make
    or read the random key in `folder` (next to the channel database)."""
    check_salt(salt)
    _keys[""] = salt.encode("utf-8") if salt else local_secret(Path(folder) / KEY_FILE).encode("utf-8")


def _key(salt: str) -> bytes:
    if salt and salt not in _refused:
        if salt not in _keys:
            try:
                check_salt(salt)
                _keys[salt] = salt.encode("utf-8")
            except SaltError:  # never key pseudonyms with a guessable salt
                _refused.add(salt)
                logger.warning("A placeholder or short log salt was given; pseudonyms use the local key instead")
        if salt in _keys:
            return _keys[salt]
    if "" not in _keys:  # not configured at start-up (tests, tools): the key next to BOT_DB
        folder = Path(os.environ.get("BOT_DB") or "var/bot.db").parent
        try:
            _keys[""] = local_secret(folder / KEY_FILE).encode("utf-8")
        except OSError:
            logger.warning("Cannot keep a pseudonym key in %s; pseudonyms hold for this process only", folder)
            _keys[""] = secrets.token_bytes(32)
    return _keys[""]


def pseudonym(identifier: str, salt: str = "") -> str:
    """A stable, keyed pseudonym of a sender id (`salt`: LOG_SALT, or empty
    for the deployment's random key)."""
    return hmac.new(_key(salt), identifier.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()[:12]


PERSON_KEY_FILE = "person-key"


class PersonHasher:
    """Keyed hashes of sender ids for the rows that must recognise a person
    without naming them: a number that sent STOP (honoured after erasure and
    retention), and the unanswered log (so /delete finds the person's words).
    The key is a random one made once next to the database (`person-key`,
    mode 600, kept by backups); an in-memory database gets one for the process.
    Without the key a hash cannot be turned back into a phone number."""

    def __init__(self, database: Path | str | None) -> None:
        self._folder = Path(database).parent if database else None
        self._key: bytes | None = None

    def __call__(self, sender: str) -> str:
        if self._key is None:  # made the first time it is needed, not by merely opening a database
            self._key = (local_secret(self._folder / PERSON_KEY_FILE) if self._folder
                         else secrets.token_urlsafe(32)).encode()
        return "h:" + hmac.new(self._key, sender.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()
