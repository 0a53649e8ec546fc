"""Signed requests from the channel server to Rasa's input channel.

Rasa's REST channel takes a message from anyone who reaches it, in anyone's
name (security review: a case was opened for a number that never wrote).
Our own input channel (`channels/rasa_channel.py`) takes a message only with
an HMAC-SHA256 over a timestamp, a random nonce and the exact body, made with
a secret that only the channel server and Rasa hold. A request older than
`MAX_AGE_SECONDS` or seen before (same nonce) is refused, so a recorded
request cannot be played again.

The secret is `RASA_CHANNEL_SECRET` (32+ characters, the same on every
machine), else a random one made once in `RASA_CHANNEL_SECRET_FILE`
(default `var/rasa-channel-secret`, mode 600). It never goes on a command line.
Standard library only: Rasa's process imports this too.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path

TIMESTAMP_HEADER = "X-Nabo-Timestamp"
NONCE_HEADER = "X-Nabo-Nonce"
SIGNATURE_HEADER = "X-Nabo-Signature"
MAX_AGE_SECONDS = 300
MIN_SECRET_CHARS = 32
SECRET_FILE = "var/rasa-channel-secret"
ROOT = Path(__file__).resolve().parent.parent


class SecretError(ValueError):
    """RASA_CHANNEL_SECRET is too short; the message says what to do."""


def channel_secret(env: Mapping[str, str] = os.environ) -> str:
    """The secret the channel server and Rasa share (see the module's docstring)."""
    from ops.secrets import local_secret

    given = env.get("RASA_CHANNEL_SECRET", "")
    if given:
        if len(given) < MIN_SECRET_CHARS:
            raise SecretError(f"RASA_CHANNEL_SECRET must be at least {MIN_SECRET_CHARS} random characters")
        return given
    path = Path(env.get("RASA_CHANNEL_SECRET_FILE") or SECRET_FILE)
    return local_secret(path if path.is_absolute() else ROOT / path)


def signature(secret: str, timestamp: str, nonce: str, body: bytes) -> str:
    """Hex HMAC-SHA256 of `timestamp.nonce.body`."""
    message = timestamp.encode("ascii", "replace") + b"." + nonce.encode("ascii", "replace") + b"." + body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def signed_headers(secret: str, body: bytes, now: float | None = None) -> dict[str, str]:
    """The headers that make `body` acceptable to the signed input channel once."""
    timestamp = str(int(time.time() if now is None else now))
    nonce = secrets.token_urlsafe(16)
    return {TIMESTAMP_HEADER: timestamp, NONCE_HEADER: nonce,
            SIGNATURE_HEADER: signature(secret, timestamp, nonce, body)}


class Verifier:
    """Checks signed requests; remembers nonces for the age window (in this
    process: with several Rasa servers, a replay inside the window could reach
    another server, which is why the window is short and the links private)."""

    def __init__(self, secret: str, max_age: float = MAX_AGE_SECONDS, max_nonces: int = 200_000) -> None:
        if len(secret) < MIN_SECRET_CHARS:
            raise SecretError(f"the channel secret must be at least {MIN_SECRET_CHARS} characters")
        self._secret, self._max_age, self._max_nonces = secret, max_age, max_nonces
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def check(self, headers: Mapping[str, str], body: bytes, now: float | None = None) -> str | None:
        """None if the request is good (and its nonce is now used up), else why not."""
        now = time.time() if now is None else now
        timestamp = headers.get(TIMESTAMP_HEADER, "")
        nonce = headers.get(NONCE_HEADER, "")
        given = headers.get(SIGNATURE_HEADER, "")
        if not (timestamp.isascii() and timestamp.isdigit()) or not 8 <= len(nonce) <= 64 or not given:
            return "unsigned"
        if not hmac.compare_digest(given.encode("ascii", "replace"),
                                   signature(self._secret, timestamp, nonce, body).encode()):
            return "bad signature"
        if abs(now - int(timestamp)) > self._max_age:
            return "too old"
        with self._lock:
            while self._seen and (next(iter(self._seen.values())) < now - self._max_age
                                  or len(self._seen) >= self._max_nonces):
                self._seen.popitem(last=False)
            if nonce in self._seen:
                return "replayed"
            self._seen[nonce] = now
        return None
