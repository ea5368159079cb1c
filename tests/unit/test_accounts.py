"""Console accounts on a real SQLite database: Argon2id hashes, sign-in, disabled accounts, the CLI."""

import pytest
from sqlalchemy import select

from actions.accounts import AccountError, authenticate, create_account, set_active
from actions.cli import main
from actions.settings import get_settings
from actions.store import Account, migrate, session_scope

PASSWORD = "correct horse battery"


@pytest.fixture
def db(tmp_path):
    url = f"sqlite:///{tmp_path / 'cases.db'}"
    migrate(url)
    return url


def test_only_a_hash_is_kept_and_the_right_password_signs_in(db):
    with session_scope(db) as s:
        create_account(s, "Alice", "staff", PASSWORD)
    with session_scope(db) as s:
        stored = s.scalar(select(Account))
        assert stored.username == "alice" and stored.password_hash.startswith("$argon2id$")
        assert PASSWORD not in stored.password_hash
        assert authenticate(s, "alice", "wrong password!!") is None
        assert authenticate(s, "nobody", PASSWORD) is None
        signed_in = authenticate(s, " ALICE ", PASSWORD)
        assert signed_in is not None and signed_in.last_login_at is not None
        set_active(s, "alice", False)
        assert authenticate(s, "alice", PASSWORD) is None


@pytest.mark.parametrize(
    ("username", "role", "password", "expert_id"),
    [
        ("bob", "expert", PASSWORD, None),
        ("bob", "staff", PASSWORD, "exp-001"),
        ("bob", "admin", PASSWORD, None),
        ("bob", "staff", "short", None),
        ("b", "staff", PASSWORD, None),
        ("bob smith", "staff", PASSWORD, None),
    ],
)
def test_accounts_that_cannot_be_made(db, username, role, password, expert_id):
    with session_scope(db) as s, pytest.raises(AccountError):
        create_account(s, username, role, password, expert_id)


def test_a_username_is_taken_once(db):
    with session_scope(db) as s:
        create_account(s, "carol", "staff", PASSWORD)
        with pytest.raises(AccountError):
            create_account(s, "Carol", "staff", PASSWORD)


def test_the_cli_takes_the_password_from_the_environment_or_a_prompt_never_an_argument(db, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", db)
    monkeypatch.setenv("CONSOLE_PASSWORD", PASSWORD)
    get_settings.cache_clear()
    try:
        assert main(["accounts", "add", "dora", "--role", "expert", "--expert-id", "exp-002"]) == 0
        assert main(["accounts", "add", "erin", "--role", "expert", "--expert-id", "exp-999"]) == 1
        monkeypatch.setenv("CONSOLE_PASSWORD", "")
        get_settings.cache_clear()
        answers = iter([PASSWORD, PASSWORD + "x"])
        monkeypatch.setattr("getpass.getpass", lambda prompt: next(answers))
        assert main(["accounts", "add", "frank"]) == 1  # the two differ
        answers = iter([PASSWORD, PASSWORD])
        assert main(["accounts", "add", "frank"]) == 0
        answers = iter(["a new password 456", "a new password 456"])
        assert main(["accounts", "password", "frank"]) == 0
        assert main(["accounts", "password", "nobody"]) == 1
        assert main(["accounts", "disable", "frank"]) == 0
        capsys.readouterr()
        assert main(["accounts", "list"]) == 0
        listed = capsys.readouterr().out
        assert "dora" in listed and "exp-002" in listed and "disabled" in listed
        assert PASSWORD not in listed
    finally:
        get_settings.cache_clear()
    with session_scope(db) as s:
        assert authenticate(s, "dora", PASSWORD) is not None
        assert authenticate(s, "frank", PASSWORD) is None
        assert authenticate(s, "frank", "a new password 456") is None  # disabled
        set_active(s, "frank", True)
        assert authenticate(s, "frank", "a new password 456") is not None
