"""Accounts of the staff and expert console: who may sign in, as staff or as one expert of the list.

Passwords are kept only as Argon2id hashes (argon2-cffi, the winner of the Password Hashing Competition and
OWASP's first choice); a hash made with older parameters is replaced at the next sign-in. Accounts are
created with `python -m actions.cli accounts add` — the password comes from a prompt or CONSOLE_PASSWORD,
never from the command line. Functions that take a session never commit.
"""

from __future__ import annotations

import re
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from actions.store import Account, utcnow

ROLES = ("staff", "expert")
MIN_PASSWORD_CHARS = 12
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._@-]{1,63}$")
_HASHER = PasswordHasher()  # Argon2id with the library's defaults (RFC 9106's second recommended profile)
# Verified when a username is unknown, so that a wrong name takes as long as a wrong password.
_DUMMY_HASH = _HASHER.hash("not a password of anyone")


class AccountError(ValueError):
    """An account that cannot be created as asked; the message says why."""


def hash_password(password: str) -> str:
    """The Argon2id hash of a password."""
    return _HASHER.hash(password)


def create_account(session: Session, username: str, role: str, password: str, expert_id: str | None = None) -> Account:
    """A new account (usernames are lower-case); an expert account names the expert it signs in as."""
    username = username.strip().lower()
    if not _USERNAME.match(username):
        raise AccountError("a username is 2–64 characters: lower-case letters, digits and . _ @ -")
    if role not in ROLES:
        raise AccountError(f"the role is one of {', '.join(ROLES)}")
    if role == "expert" and not expert_id:
        raise AccountError("an expert account needs --expert-id (an id of knowledge/experts.yml)")
    if role == "staff" and expert_id:
        raise AccountError("a staff account has no expert id")
    if len(password) < MIN_PASSWORD_CHARS:
        raise AccountError(f"a password has at least {MIN_PASSWORD_CHARS} characters")
    if session.scalar(select(Account.id).where(Account.username == username)) is not None:
        raise AccountError(f"there is already an account {username}")
    account = Account(username=username, role=role, expert_id=expert_id, password_hash=hash_password(password))
    session.add(account)
    session.flush()
    return account


def authenticate(session: Session, username: str, password: str, now: datetime | None = None) -> Account | None:
    """The active account with this username and password, else None (the same time either way)."""
    account = session.scalar(select(Account).where(Account.username == username.strip().lower()))
    try:
        _HASHER.verify(account.password_hash if account else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    if account is None or not account.active:
        return None
    if _HASHER.check_needs_rehash(account.password_hash):
        account.password_hash = hash_password(password)
    account.last_login_at = now or utcnow()
    return account


def active_account(session: Session, account_id: int) -> Account | None:
    """The account a console session belongs to, while it is still active."""
    account = session.get(Account, account_id)
    return account if account is not None and account.active else None


def set_active(session: Session, username: str, active: bool) -> Account | None:
    """Disables or re-enables an account (its sessions end at their next request); None if unknown."""
    account = session.scalar(select(Account).where(Account.username == username.strip().lower()))
    if account is not None:
        account.active = active
    return account


def set_password(session: Session, username: str, password: str) -> Account | None:
    """Gives an account a new password (its hash); None if there is no such account."""
    if len(password) < MIN_PASSWORD_CHARS:
        raise AccountError(f"a password has at least {MIN_PASSWORD_CHARS} characters")
    account = session.scalar(select(Account).where(Account.username == username.strip().lower()))
    if account is not None:
        account.password_hash = hash_password(password)
    return account


def accounts(session: Session) -> list[Account]:
    """Every account, by username."""
    return list(session.scalars(select(Account).order_by(Account.username)))
