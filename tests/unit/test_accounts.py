"""Caseworker accounts: server-side sessions, lock-out per user name and
per address, roles, password changes, the login audit, and the migration
of accounts made before roles existed."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from caseworkers import accounts as accounts_module
from caseworkers.accounts import (
    ADMIN,
    CASEWORKER,
    IDLE_SECONDS,
    MAX_ADDRESS_FAILURES,
    MAX_USER_FAILURES,
    SESSION_SECONDS,
    AccountError,
    Accounts,
    password_problem,
)
from caseworkers.cases import CaseStore

PASSWORD = "correct horse battery"


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture()
def fast_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """scrypt at N=2**14 costs ~50 ms per hash; these tests hash dozens of times."""
    import hashlib

    real = hashlib.scrypt
    monkeypatch.setattr(accounts_module.hashlib, "scrypt", lambda pw, salt, n, r, p: real(pw, salt=salt, n=2, r=1, p=1))


@pytest.fixture()
def setup(fast_hashes: None) -> tuple[CaseStore, Accounts, Clock]:
    cases, clock = CaseStore(), Clock()
    accounts = Accounts(cases, clock)
    accounts.create("kari", PASSWORD)
    accounts.create("ola", "another long password")
    return cases, accounts, clock


def test_the_first_account_is_admin_the_next_caseworkers(setup) -> None:
    _, accounts, _ = setup
    assert accounts.get("kari")["role"] == ADMIN and accounts.get("ola")["role"] == CASEWORKER
    with pytest.raises(AccountError, match="finnes allerede"):
        accounts.create("ola", "yet another password")
    assert accounts.create("per", "a third long password", ADMIN, actor="kari") == ADMIN


def test_a_session_is_stored_hashed_and_ends_on_logout_expiry_and_idleness(setup) -> None:
    cases, accounts, clock = setup
    token = accounts.start_session("ola")
    row = cases.db.execute("select * from desk_sessions").fetchone()
    assert token not in str(row)  # only its hash is kept
    assert accounts.session(token)["username"] == "ola" and accounts.session(token)["role"] == CASEWORKER
    assert accounts.session(token + "x") is None and accounts.session("") is None
    accounts.end_session(token)
    assert accounts.session(token) is None

    token = accounts.start_session("ola")
    clock.now += IDLE_SECONDS - 5
    assert accounts.session(token) is not None  # in use: last_seen moves on
    clock.now += IDLE_SECONDS - 5
    assert accounts.session(token) is not None
    clock.now += IDLE_SECONDS + 1  # left alone for longer than the idle timeout
    assert accounts.session(token) is None

    token = accounts.start_session("ola")
    for _ in range(SESSION_SECONDS // (IDLE_SECONDS // 2)):
        clock.now += IDLE_SECONDS // 2
        accounts.session(token)
    assert accounts.session(token) is None  # in use all along, but a working day is over


def test_disabling_deleting_or_resetting_an_account_ends_its_sessions(setup) -> None:
    _, accounts, _ = setup
    token = accounts.start_session("ola")
    accounts.set_disabled("ola", True, "kari")
    assert accounts.session(token) is None and accounts.sessions_of("ola") == 0
    assert accounts.verify("ola", "another long password") is None  # a disabled account cannot log in
    accounts.set_disabled("ola", False, "kari")
    assert accounts.verify("ola", "another long password") is not None
    token = accounts.start_session("ola")
    accounts.reset_password("ola", "a brand new password", "kari")
    assert accounts.session(token) is None and accounts.verify("ola", "a brand new password")
    token = accounts.start_session("ola")
    accounts.delete("ola", "kari")
    assert accounts.session(token) is None and accounts.get("ola") is None


def test_an_admin_cannot_disable_or_demote_themselves(setup) -> None:
    _, accounts, _ = setup
    with pytest.raises(AccountError):
        accounts.set_disabled("kari", True, "kari")
    with pytest.raises(AccountError):
        accounts.set_role("kari", CASEWORKER, "kari")
    accounts.set_role("ola", ADMIN, "kari")
    assert accounts.get("ola")["role"] == ADMIN


def test_lock_out_is_per_user_name_and_only_much_later_per_address(setup) -> None:
    _, accounts, clock = setup
    for _ in range(MAX_USER_FAILURES - 1):
        accounts.record_failure("ola", "10.0.0.1")
    assert not accounts.locked_out("ola", "10.0.0.1")
    accounts.record_failure("ola", "10.0.0.1")
    assert accounts.locked_out("ola", "10.0.0.1") and accounts.locked_out("ola", "10.0.0.2")
    assert not accounts.locked_out("kari", "10.0.0.1")  # a colleague behind the same address
    for i in range(MAX_ADDRESS_FAILURES - MAX_USER_FAILURES):
        accounts.record_failure(f"guess{i}", "10.0.0.1")
    assert accounts.locked_out("kari", "10.0.0.1")  # an address trying many names is stopped
    assert not accounts.locked_out("kari", "10.0.0.2")
    clock.now += 15 * 60
    assert not accounts.locked_out("ola", "10.0.0.1") and not accounts.locked_out("kari", "10.0.0.1")


def test_a_success_clears_the_users_failures(setup) -> None:
    _, accounts, _ = setup
    for _ in range(MAX_USER_FAILURES - 1):
        accounts.record_failure("ola", "10.0.0.1")
    accounts.record_success("ola", "10.0.0.1")
    accounts.record_failure("ola", "10.0.0.1")
    assert not accounts.locked_out("ola", "10.0.0.1")


def test_logins_are_audited_with_pseudonyms_never_in_clear(setup) -> None:
    cases, accounts, _ = setup
    accounts.record_failure("my secret password", "192.0.2.7")
    accounts.record_success("kari", "192.0.2.7")
    audit = accounts.login_audit()
    assert [a["action"] for a in audit] == ["login", "login failed"]
    dump = str(list(cases.db["audit"].rows)) + str(list(cases.db["login_failures"].rows))
    assert "my secret password" not in dump and "192.0.2.7" not in dump
    user_key, address_key = accounts.keys("my secret password", "192.0.2.7")
    assert user_key in audit[1]["details"] and address_key in audit[1]["details"] and address_key in audit[0]["details"]
    assert audit[0]["actor"] == "kari"


@pytest.mark.parametrize(("new", "repeat", "problem"), [
    ("short pw", "short pw", "minst 12"),
    ("ola is my name ok", "ola is my name ok", "brukernavnet"),
    ("aaaaaaaaaaaaaaaa", "aaaaaaaaaaaaaaaa", "for enkelt"),
    ("a good new password", "a good new passw0rd", "ikke like"),
    ("another long password", "another long password", "annet enn det gamle"),
])
def test_a_password_change_is_checked(setup, new: str, repeat: str, problem: str) -> None:
    _, accounts, _ = setup
    with pytest.raises(AccountError, match=problem):
        accounts.change_password("ola", "another long password", new, repeat)
    assert accounts.verify("ola", "another long password")


def test_a_password_change_needs_the_current_one_and_ends_the_other_sessions(setup) -> None:
    _, accounts, _ = setup
    here, elsewhere = accounts.start_session("ola"), accounts.start_session("ola")
    with pytest.raises(AccountError, match="Nåværende"):
        accounts.change_password("ola", "wrong password here", "a good new password", "a good new password", here)
    accounts.change_password("ola", "another long password", "a good new password", "a good new password", here)
    assert accounts.verify("ola", "a good new password") and not accounts.verify("ola", "another long password")
    assert accounts.session(here) is not None and accounts.session(elsewhere) is None


def test_password_rules() -> None:
    assert password_problem("kari", "correct horse battery") is None
    assert password_problem("kari", "KARI-correct-horse")  # the user name in any case
    assert password_problem("", "x" * 11)


def test_accounts_from_before_roles_keep_working_and_the_first_becomes_admin(tmp_path: Path, fast_hashes) -> None:
    path = tmp_path / "cases.db"
    old = sqlite3.connect(path)
    old.execute("create table caseworkers (username text primary key, password text, created text)")
    old.execute("insert into caseworkers values ('ola', ?, '2026-02-01T10:00:00+00:00')",
                [accounts_module.hash_password("another long password")])
    old.execute("insert into caseworkers values ('kari', ?, '2026-01-01T10:00:00+00:00')",
                [accounts_module.hash_password(PASSWORD)])
    for table in ("cases", "case_messages", "interpreter_requests", "audit", "unanswered"):
        old.execute(f"create table {table} (id integer primary key)")
    old.execute("alter table interpreter_requests add column status text")
    old.execute("alter table case_messages add column case_id integer")  # the queue's index reads these
    old.execute("alter table case_messages add column direction text")
    old.execute("PRAGMA user_version = 3")
    old.commit()
    old.close()
    accounts = Accounts(CaseStore(path))
    assert accounts.get("kari")["role"] == ADMIN and accounts.get("ola")["role"] == CASEWORKER
    assert accounts.verify("ola", "another long password") is not None
