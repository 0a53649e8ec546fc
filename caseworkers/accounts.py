"""Caseworker accounts, roles, server-side desk sessions and login lock-out.

Why server-side sessions: a signed cookie cannot be taken back, so a copied
cookie kept working after logout and after the account was deleted. Here the
cookie holds only a random id; the row (keyed by the id's SHA-256, so a copy
of the database opens no session) is the session. Logging out deletes it;
disabling, deleting or resetting an account deletes all of its sessions.

Why lock-out per user name and only much later per address: caseworkers of
one office share an address, and five typos of one must not lock out all.
Every login attempt is audited with pseudonyms (core.privacy) of the user
name and address, never in clear: a typed user name can be a password.

Passwords are scrypt hashes (N=2**14, about 50 ms of CPU); the desk calls the
hashing methods through asyncio.to_thread so the event loop never waits.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import sqlite_utils

from core.privacy import pseudonym

if TYPE_CHECKING:
    from caseworkers.cases import CaseStore

ADMIN, CASEWORKER = "admin", "caseworker"
ROLES = (ADMIN, CASEWORKER)
MIN_PASSWORD_CHARS = 12
USERNAME = re.compile(r"^[A-Za-z0-9._@-]{2,64}$")
SESSION_SECONDS = 8 * 3600  # a working day at most
IDLE_SECONDS = 60 * 60  # an unattended desk is logged out after an hour
TOUCH_SECONDS = 60  # last_seen is written at most once a minute per session
LOCKOUT_WINDOW = 15 * 60
MAX_USER_FAILURES = 5  # per user name in the window
MAX_ADDRESS_FAILURES = 50  # per address: a whole office behind one address
_DUMMY = "scrypt$16384$8$1$00$00"  # checked for unknown users, so timing does not reveal them


class AccountError(ValueError):
    """A request about an account that cannot be done; the message (Norwegian) says why."""


def hash_password(password: str) -> str:
    """scrypt (standard library), random salt, parameters stored with the hash."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1)
    return f"scrypt$16384$8$1${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        _, n, r, p, salt, digest = stored.split("$")
        candidate = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(candidate.hex(), digest)


def password_problem(username: str, password: str) -> str | None:
    """Why a new password is refused (Norwegian, shown on the desk), or None."""
    if len(password) < MIN_PASSWORD_CHARS:
        return f"Passordet må ha minst {MIN_PASSWORD_CHARS} tegn."
    if username and username.casefold() in password.casefold():
        return "Passordet kan ikke inneholde brukernavnet."
    if len(set(password)) < 4:
        return "Passordet er for enkelt."
    return None


def create_tables(db: sqlite_utils.Database) -> None:
    """Schema for roles, sessions and lock-out (called by CaseStore.migrate).
    The first account made before roles existed becomes the admin."""
    accounts = db["caseworkers"]
    accounts.add_column("role", str, not_null_default=CASEWORKER)
    accounts.add_column("disabled", int, not_null_default=0)
    accounts.add_column("last_login", str)
    first = db.execute("select username from caseworkers order by created, rowid limit 1").fetchone()
    if first:
        db.execute("update caseworkers set role = ? where username = ?", [ADMIN, first[0]])
    db["desk_sessions"].create({"id_hash": str, "username": str, "csrf": str, "created": float, "last_seen": float,
                                "expires": float}, pk="id_hash")
    db["desk_sessions"].create_index(["username"])
    db["login_failures"].create({"id": int, "at": float, "user_key": str, "address_key": str}, pk="id")
    db["login_failures"].create_index(["user_key", "at"])
    db["login_failures"].create_index(["address_key", "at"])


def _now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _hash_id(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Accounts:
    """Accounts, sessions and lock-out over the case database (one writer lock)."""

    def __init__(self, cases: CaseStore, clock: Callable[[], float] = time.time) -> None:
        self.cases, self.db, self.clock = cases, cases.db, clock

    # -- accounts ------------------------------------------------------------------------
    def get(self, username: str) -> dict[str, Any] | None:
        rows = list(self.db["caseworkers"].rows_where("username = ?", [username]))
        return rows[0] if rows else None

    def all(self) -> list[dict[str, Any]]:
        return list(self.db.query("select username, role, disabled, created, last_login from caseworkers "
                                  "order by username"))

    def create(self, username: str, password: str, role: str | None = None, actor: str = "cli",
               replace: bool = False) -> str:
        """A new account (the first one is admin), or with `replace` (the CLI)
        a new password for an existing one. Returns the account's role."""
        if not USERNAME.match(username):
            raise AccountError("Brukernavnet må ha 2–64 tegn: bokstaver a–z, tall og . _ @ -")
        if role is not None and role not in ROLES:
            raise AccountError(f"Ukjent rolle {role!r}")
        problem = password_problem(username, password)
        if problem:
            raise AccountError(problem)
        hashed = hash_password(password)
        with self.cases._lock, self.db.conn:
            existing = self.get(username)
            if existing and not replace:
                raise AccountError("Brukernavnet finnes allerede.")
            if existing:
                role = role or existing["role"]
                self.db["caseworkers"].update(username, {"password": hashed, "role": role, "disabled": 0})
                self._end_all(username)
                self.cases._audit(actor, "account password reset", None, {"username": username, "role": role})
                return role
            first = self.db.execute("select count(*) from caseworkers").fetchone()[0] == 0
            role = ADMIN if first else role or CASEWORKER
            self.db["caseworkers"].insert({"username": username, "password": hashed, "created": _now_iso(),
                                           "role": role, "disabled": 0})
            self.cases._audit(actor, "account created", None, {"username": username, "role": role})
            return role

    def verify(self, username: str, password: str) -> dict[str, Any] | None:
        """The account if the password is right and the account enabled.
        Unknown users cost the same scrypt as known ones."""
        account = self.get(username)
        ok = verify_password(password, account["password"] if account else _DUMMY)
        return account if ok and account and not account["disabled"] else None

    def change_password(self, username: str, current: str, new: str, repeated: str,
                        keep_session: str | None = None) -> None:
        """The caseworker's own change: current password, the new one twice.
        Other sessions of the account end; `keep_session` (this tab) stays."""
        if self.verify(username, current) is None:
            raise AccountError("Nåværende passord er feil.")
        if new != repeated:
            raise AccountError("De to nye passordene er ikke like.")
        if new == current:
            raise AccountError("Det nye passordet må være et annet enn det gamle.")
        problem = password_problem(username, new)
        if problem:
            raise AccountError(problem)
        hashed = hash_password(new)
        with self.cases._lock, self.db.conn:
            self.db["caseworkers"].update(username, {"password": hashed})
            self._end_all(username, keep=keep_session)
            self.cases._audit(username, "password changed", None, {"username": username})

    def reset_password(self, username: str, password: str, actor: str) -> None:
        """An admin sets a new password (e.g. forgotten); the account's sessions end."""
        problem = password_problem(username, password)
        if problem:
            raise AccountError(problem)
        hashed = hash_password(password)
        with self.cases._lock, self.db.conn:
            if self.get(username) is None:
                raise AccountError("Ukjent bruker.")
            self.db["caseworkers"].update(username, {"password": hashed})
            self._end_all(username)
            self.cases._audit(actor, "account password reset", None, {"username": username})

    def set_disabled(self, username: str, disabled: bool, actor: str) -> None:
        """Disable (every session ends at once) or enable an account. An admin
        cannot disable themselves, so an office is never left without one."""
        if disabled and username == actor:
            raise AccountError("Du kan ikke deaktivere din egen konto.")
        with self.cases._lock, self.db.conn:
            if self.get(username) is None:
                raise AccountError("Ukjent bruker.")
            self.db["caseworkers"].update(username, {"disabled": int(disabled)})
            if disabled:
                self._end_all(username)
            self.cases._audit(actor, "account disabled" if disabled else "account enabled", None,
                              {"username": username})

    def set_role(self, username: str, role: str, actor: str) -> None:
        if role not in ROLES:
            raise AccountError(f"Ukjent rolle {role!r}")
        if username == actor and role != ADMIN:
            raise AccountError("Du kan ikke fjerne din egen admin-rolle.")
        with self.cases._lock, self.db.conn:
            if self.get(username) is None:
                raise AccountError("Ukjent bruker.")
            self.db["caseworkers"].update(username, {"role": role})
            self.cases._audit(actor, "account role", None, {"username": username, "role": role})

    def delete(self, username: str, actor: str) -> None:
        with self.cases._lock, self.db.conn:
            self.db.execute("delete from caseworkers where username = ?", [username])
            self._end_all(username)
            self.cases._audit(actor, "account deleted", None, {"username": username})

    # -- sessions ------------------------------------------------------------------------
    def start_session(self, username: str) -> str:
        """A new session; returns the token for the cookie (only its hash is stored)."""
        token, now = secrets.token_urlsafe(32), self.clock()
        with self.cases._lock, self.db.conn:
            self.db.execute("delete from desk_sessions where expires <= ? or last_seen <= ?",
                            [now, now - IDLE_SECONDS])
            self.db["desk_sessions"].insert({"id_hash": _hash_id(token), "username": username,
                                             "csrf": secrets.token_urlsafe(32), "created": now, "last_seen": now,
                                             "expires": now + SESSION_SECONDS})
            self.db["caseworkers"].update(username, {"last_login": _now_iso()})
        return token

    def session(self, token: str) -> dict[str, Any] | None:
        """The live session of this cookie value with its account's role, or
        None: unknown, expired, idle too long, or the account is disabled or gone."""
        if not token or len(token) > 100:
            return None
        now = self.clock()
        rows = list(self.db.query(
            "select s.id_hash, s.username, s.csrf, s.last_seen, s.expires, c.role from desk_sessions s "
            "join caseworkers c on c.username = s.username where s.id_hash = ? and c.disabled = 0",
            [_hash_id(token)]))
        if not rows or rows[0]["expires"] <= now or rows[0]["last_seen"] <= now - IDLE_SECONDS:
            return None
        row = rows[0]
        if now - row["last_seen"] >= TOUCH_SECONDS:
            with self.cases._lock, self.db.conn:
                self.db.execute("update desk_sessions set last_seen = ? where id_hash = ?", [now, row["id_hash"]])
        return row

    def end_session(self, token: str) -> None:
        with self.cases._lock, self.db.conn:
            self.db.execute("delete from desk_sessions where id_hash = ?", [_hash_id(token)])

    def sessions_of(self, username: str) -> int:
        return self.db.execute("select count(*) from desk_sessions where username = ?", [username]).fetchone()[0]

    def _end_all(self, username: str, keep: str | None = None) -> None:
        self.db.execute("delete from desk_sessions where username = ? and id_hash != ?",
                        [username, _hash_id(keep) if keep else ""])

    # -- lock-out and the login audit --------------------------------------------------------
    @staticmethod
    def keys(username: str, address: str) -> tuple[str, str]:
        """Pseudonyms of the typed user name and the address (logs, audit, lock-out)."""
        return pseudonym(f"desk-user:{username}"), pseudonym(f"desk-address:{address}")

    def locked_out(self, username: str, address: str) -> bool:
        """5 failures for this user name, or 50 from this address, in 15 minutes."""
        user_key, address_key = self.keys(username, address)
        since = self.clock() - LOCKOUT_WINDOW
        by_user = self.db.execute("select count(*) from login_failures where user_key = ? and at > ?",
                                  [user_key, since]).fetchone()[0]
        by_address = self.db.execute("select count(*) from login_failures where address_key = ? and at > ?",
                                     [address_key, since]).fetchone()[0]
        return by_user >= MAX_USER_FAILURES or by_address >= MAX_ADDRESS_FAILURES

    def record_failure(self, username: str, address: str) -> None:
        """A wrong password or unknown user. (Attempts while locked out are
        only logged by the desk: they neither extend the lock nor fill the
        audit log.)"""
        user_key, address_key = self.keys(username, address)
        now = self.clock()
        with self.cases._lock, self.db.conn:
            self.db.execute("delete from login_failures where at <= ?", [now - LOCKOUT_WINDOW])
            self.db["login_failures"].insert({"at": now, "user_key": user_key, "address_key": address_key})
            self.cases._audit("desk", "login failed", None, {"user": user_key, "address": address_key})

    def record_success(self, username: str, address: str) -> None:
        user_key, address_key = self.keys(username, address)
        with self.cases._lock, self.db.conn:
            self.db.execute("delete from login_failures where user_key = ?", [user_key])
            self.cases._audit(username, "login", None, {"address": address_key})

    def record_logout(self, username: str) -> None:
        with self.cases._lock, self.db.conn:
            self.cases._audit(username, "logout", None)

    def login_audit(self, limit: int = 200) -> list[dict[str, Any]]:
        return list(self.db.query("select * from audit where action like 'login%' or action = 'logout' "
                                  "order by id desc limit ?", [limit]))
