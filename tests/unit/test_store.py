"""The case database: owner-only files on SQLite, errors that never quote what users entered, and failures
that are loud: a missing or replaced database file is never silently created or written to."""

from __future__ import annotations

import os
import stat
from datetime import datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from actions.cases.service import open_case
from actions.store import Case, DatabaseGone, migrate, migrated, session_scope, sqlite_path
from tests.factories import intake


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_a_new_sqlite_database_and_its_wal_files_are_readable_only_by_their_owner(tmp_path):
    db = tmp_path / "data" / "ipbot.db"
    url = f"sqlite:///{db}"
    migrate(url)
    with session_scope(url) as s:
        open_case(s, intake(contact="zhang@example.com"), [])
        with_wal = [p for p in db.parent.iterdir() if p.name.startswith("ipbot.db")]
        assert {p.name for p in with_wal} >= {"ipbot.db", "ipbot.db-wal", "ipbot.db-shm"}
        assert {p.name: mode(p) for p in with_wal} == {p.name: 0o600 for p in with_wal}
    assert mode(db.parent) == 0o700


def test_an_existing_world_readable_database_is_narrowed_when_opened(tmp_path):
    db = tmp_path / "old.db"
    db.touch()
    os.chmod(db, 0o644)
    migrate(f"sqlite:///{db}")
    assert mode(db) == 0o600


def test_sqlite_path_is_only_for_database_files():
    assert str(sqlite_path("sqlite:////srv/ipbot/.data/ipbot.db")) == "/srv/ipbot/.data/ipbot.db"
    assert sqlite_path("sqlite:///:memory:") is None
    assert sqlite_path("postgresql+psycopg://ipbot@127.0.0.1/ipbot") is None


def test_a_database_error_does_not_quote_the_contact_or_description(database_url):
    with session_scope(database_url) as s:
        taken = open_case(s, intake(contact="zhang@example.com"), [])[0].case_no
    with pytest.raises(IntegrityError) as failure, session_scope(database_url) as s:
        s.add(
            Case(
                case_no=taken,  # the insert fails
                sender_id="web-2",
                enterprise="青岛示例机械有限公司",
                contact="li.secret@example.com",
                contact_kind="email",
                country="JP",
                ip_type="trademark",
                incident_type="warning_letter",
                description="对方律师王某来信",
                consent=True,
                promised_hours=24,
                respond_by=datetime(2026, 1, 1),
            )
        )
    message = str(failure.value)
    assert "INSERT INTO cases" in message
    assert "li.secret@example.com" not in message and "王某" not in message


def cases_in(url: str) -> int:
    with session_scope(url) as s:
        return s.scalar(select(func.count()).select_from(Case)) or 0


def test_a_missing_sqlite_file_is_an_error_not_a_new_empty_database(tmp_path):
    db = tmp_path / "ipbot.db"
    url = f"sqlite:///{db}"
    with pytest.raises(SQLAlchemyError, match="does not exist"):
        cases_in(url)
    with pytest.raises(SQLAlchemyError, match="does not exist"):
        migrated(url)  # the action server's lazy upgrade never creates the database
    assert not db.exists()
    migrate(url)  # make db, the launcher and the CLI do
    assert cases_in(url) == 0


def test_a_database_file_deleted_while_running_makes_the_next_write_fail(tmp_path):
    db = tmp_path / "ipbot.db"
    url = f"sqlite:///{db}"
    migrate(url)
    with session_scope(url) as s:
        open_case(s, intake(), [])
    os.remove(db)
    with pytest.raises(SQLAlchemyError), session_scope(url) as s:  # the pooled connection's file is gone
        open_case(s, intake(), [])
    assert not db.exists()


def test_a_database_file_replaced_while_running_is_not_written_through_the_old_connection(tmp_path):
    db = tmp_path / "ipbot.db"
    url = f"sqlite:///{db}"
    migrate(url)
    assert cases_in(url) == 0  # a pooled connection to the original file
    os.rename(db, tmp_path / "moved-away.db")
    db.touch()  # an empty file where the database was: the write must fail, not go to the moved file
    with pytest.raises(SQLAlchemyError, match="no such table"), session_scope(url) as s:
        open_case(s, intake(), [])


def test_a_commit_into_a_file_deleted_during_the_transaction_is_reported_not_confirmed(tmp_path):
    db = tmp_path / "ipbot.db"
    url = f"sqlite:///{db}"
    migrate(url)
    with pytest.raises(DatabaseGone), session_scope(url) as s:
        open_case(s, intake(), [])
        s.flush()
        os.remove(db)  # sqlite3 commits into the deleted file all the same


def test_the_action_servers_schema_check_runs_once_when_threads_race_for_it(tmp_path, monkeypatch):
    import threading

    from actions import store

    db = tmp_path / "ipbot.db"
    url = f"sqlite:///{db}"
    migrate(url)
    calls = []
    real = store.migrate
    monkeypatch.setattr(store, "migrate", lambda u, create=True: (calls.append(u), real(u, create)))
    start = threading.Barrier(8)
    errors: list[BaseException] = []

    def first_case_call() -> None:
        start.wait()
        try:
            migrated(url)
        except BaseException as error:  # e.g. Alembic's KeyError 'script' when two run at once
            errors.append(error)

    threads = [threading.Thread(target=first_case_call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors and calls == [url]


def test_preparing_an_existing_database_does_not_open_its_file_behind_sqlites_back(tmp_path, monkeypatch):
    """Closing any descriptor of the file drops every POSIX lock this process holds on it, SQLite's too;
    then another process may take itself for the last one, checkpoint and delete the WAL while others
    still write to it (seen: an evaluation stack's cases and conversations vanished). So the launcher's
    second migrate(create=True) narrows the mode by path only."""
    db = tmp_path / "ipbot.db"
    url = f"sqlite:///{db}"
    migrate(url)
    assert cases_in(url) == 0  # this process holds a connection now
    os.chmod(db, 0o644)
    opened = []
    real_open = os.open
    monkeypatch.setattr(os, "open", lambda path, *a, **k: (opened.append(str(path)), real_open(path, *a, **k))[1])
    migrate(url, create=True)
    assert str(db) not in opened
    assert mode(db) == 0o600
