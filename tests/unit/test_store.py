"""The case database: owner-only files on SQLite, and errors that never quote what users entered."""

from __future__ import annotations

import os
import stat
from datetime import datetime

import pytest
from sqlalchemy.exc import IntegrityError

from actions.cases.service import open_case
from actions.store import Case, migrate, session_scope, sqlite_path
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
