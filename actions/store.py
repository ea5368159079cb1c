"""The case database: cases, their events and documents, the experts offered each case, the notification outbox,
market-alert subscriptions with the record of which alert went to whom, and the console's accounts.

SQLite by default (`.data/ipbot.db`); any SQLAlchemy URL in DATABASE_URL (e.g. PostgreSQL) works.
The schema is owned by Alembic migrations in actions/migrations (`migrate()` applies them).
Nothing here connects at import time.

A store failure is loud, never a silent success: only `migrate(url, create=True)` (`make db`, the
launcher at start, the CLI) creates an SQLite file; every other connection needs the file that was
there, so a database deleted or replaced while the bot runs makes the next transaction fail
(`DatabaseGone`) instead of writing into a file nobody will read, and `session_scope` checks after
committing that the file it committed to is still the configured one.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Engine,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    select,
    update,
)
from sqlalchemy.exc import DisconnectionError, SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship, sessionmaker

from actions.privacy import PRIVATE_FILE_MODE, private_file

MIGRATIONS = Path(__file__).parent / "migrations"


def utcnow() -> datetime:
    """Now, in UTC, without tzinfo (stored as naive UTC in every database)."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON}


class Case(Base):
    """A serious situation an enterprise handed to the expert pool."""

    __tablename__ = "cases"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_no: Mapped[str | None] = mapped_column(String(20), unique=True, index=True)
    sender_id: Mapped[str] = mapped_column(String(128), index=True)  # the conversation that opened it
    channel: Mapped[str] = mapped_column(String(32), default="rest")
    language: Mapped[str] = mapped_column(String(2), default="zh")
    enterprise: Mapped[str] = mapped_column(String(200))
    contact: Mapped[str] = mapped_column(String(200))
    contact_kind: Mapped[str] = mapped_column(String(16))
    country: Mapped[str] = mapped_column(String(2))
    ip_type: Mapped[str] = mapped_column(String(32))
    incident_type: Mapped[str] = mapped_column(String(32))
    deadline: Mapped[date | None] = mapped_column(Date, nullable=True)
    description: Mapped[str] = mapped_column(Text)
    industry: Mapped[str | None] = mapped_column(String(32), nullable=True)
    consent: Mapped[bool] = mapped_column(Boolean)
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)  # open, accepted, closed
    promised_hours: Mapped[int] = mapped_column(Integer)
    respond_by: Mapped[datetime] = mapped_column(DateTime)
    expert_id: Mapped[str | None] = mapped_column(String(16), nullable=True)
    expert_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # One completed intake form: a consent sent again (Rasa died before it kept the first one's turn) finds
    # the case already opened under it instead of opening a second one (actions/cases/service.open_case).
    intake_key: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    # How a closed case ended (actions/cases/service.OUTCOMES); None while it is not closed.
    outcome: Mapped[str | None] = mapped_column(String(32), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    events: Mapped[list[CaseEvent]] = relationship(back_populates="case", order_by="CaseEvent.id")
    offers: Mapped[list[Offer]] = relationship(back_populates="case", order_by="Offer.id")


class CaseEvent(Base):
    """Something that happened to a case: the history the enterprise sees."""

    __tablename__ = "case_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    kind: Mapped[str] = mapped_column(String(16))  # created, offered, accepted, declined, note, escalated, closed
    actor: Mapped[str] = mapped_column(String(64))  # system, enterprise, staff, expert:<id>
    text: Mapped[str] = mapped_column(Text, default="")

    case: Mapped[Case] = relationship(back_populates="events")


class Offer(Base):
    """A case offered to one expert, in one round of matching."""

    __tablename__ = "offers"
    __table_args__ = (UniqueConstraint("case_id", "expert_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    expert_id: Mapped[str] = mapped_column(String(16))
    expert_name: Mapped[str] = mapped_column(String(200))
    round: Mapped[int] = mapped_column(Integer, default=1)
    rank: Mapped[int] = mapped_column(Integer)
    reasons: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[str] = mapped_column(String(16), default="offered")  # offered, accepted, declined, taken, expired
    answered_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)

    case: Mapped[Case] = relationship(back_populates="offers")


class CaseDocument(Base):
    """A file the enterprise attached to its case (a warning letter, a customs notice): what it is and
    where it is stored (under ATTACHMENTS_DIR, outside anything a web server serves)."""

    __tablename__ = "case_documents"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    filename: Mapped[str] = mapped_column(String(200))  # as shown, sanitised
    content_type: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    stored_as: Mapped[str] = mapped_column(String(300))  # relative to ATTACHMENTS_DIR
    source: Mapped[str] = mapped_column(String(16))  # telegram, web (the upload page)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class OutboxMessage(Base):
    """A notification to deliver. Written in the same transaction as what caused it; delivered by
    the notifier, retried with backoff until the channel accepts it, never dropped. A notifier claims
    the rows it is about to send (`claimed_by`, until `claimed_until`), so several notifiers on one
    database never send the same row at the same time; a claim that runs out (its notifier died) is
    taken over."""

    __tablename__ = "outbox"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(32))  # expert_offer, expert_taken, enterprise_update, alert
    # telegram, sink; "web": shown in the chat at the user's next message, never sent by the notifier
    channel: Mapped[str] = mapped_column(String(16))
    recipient: Mapped[str] = mapped_column(String(200))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), nullable=True, index=True)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)  # pending, delivered, expired
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    external_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    claimed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    claimed_until: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class AlertSubscription(Base):
    """An enterprise's conversation subscribed to alerts for one market and industry ("all" = any)."""

    __tablename__ = "alert_subscriptions"
    __table_args__ = (UniqueConstraint("sender_id", "market", "industry"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    sender_id: Mapped[str] = mapped_column(String(128), index=True)  # tg-<chat id> or a web/REST sender
    channel: Mapped[str] = mapped_column(String(16))  # telegram, web
    recipient: Mapped[str] = mapped_column(String(128))  # the Telegram chat id, or the sender id for web
    language: Mapped[str] = mapped_column(String(2), default="zh")
    market: Mapped[str] = mapped_column(String(8), index=True)
    industry: Mapped[str] = mapped_column(String(32), default="all")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class AlertDelivery(Base):
    """One alert queued for one subscriber. The unique (alert_id, subscriber) pair is what makes
    publishing exactly-once: publishing again, or two publishers at once, cannot add a second row."""

    __tablename__ = "alert_deliveries"
    __table_args__ = (UniqueConstraint("alert_id", "subscriber"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    alert_id: Mapped[str] = mapped_column(String(64), index=True)
    subscriber: Mapped[str] = mapped_column(String(128), index=True)  # the subscription's sender_id
    channel: Mapped[str] = mapped_column(String(16))
    outbox_id: Mapped[int | None] = mapped_column(ForeignKey("outbox.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Account(Base):
    """Someone who signs in to the staff and expert console (bot/console): staff, or an expert of the
    list (`expert_id`). Created with `python -m actions.cli accounts add`; only a password hash is kept."""

    __tablename__ = "accounts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(8))  # staff, expert
    expert_id: Mapped[str | None] = mapped_column(String(16), nullable=True)  # for role expert
    password_hash: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


def sqlite_path(url: str) -> Path | None:
    """The file of an SQLite database URL (None for other databases and in-memory ones)."""
    if not url.startswith("sqlite:///"):
        return None
    path = url.removeprefix("sqlite:///").split("?", 1)[0]
    return None if path in ("", ":memory:") or path.startswith("file:") else Path(path)


class DatabaseGone(SQLAlchemyError):
    """The configured SQLite file was deleted or replaced after this process opened it: what was just
    committed went into a file nobody reads, so the caller must not confirm it."""


def _inode(path: Path) -> int | None:
    try:
        return os.stat(path).st_ino
    except FileNotFoundError:
        return None


@lru_cache(maxsize=8)
def get_engine(url: str) -> Engine:
    """One engine per database URL; SQLite gets a busy timeout, foreign keys, and a file that must
    exist (see the module docstring). Errors never quote the values of a statement, so contact
    details cannot reach a log through an exception."""
    if url.startswith("sqlite:///"):
        engine = create_engine(url, connect_args={"timeout": 30}, json_serializer=_json, hide_parameters=True)
        if (path := sqlite_path(url)) is not None:
            _guard_sqlite_file(engine, path)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True, json_serializer=_json, hide_parameters=True)


def _guard_sqlite_file(engine: Engine, path: Path) -> None:
    """sqlite3 creates a missing file on connect and keeps writing to a deleted one through an open
    connection; both would confirm writes that are lost. Refuse to connect to a missing file, and
    drop a pooled connection whose file is gone or replaced (the pool then reconnects, and fails)."""

    @event.listens_for(engine, "do_connect")
    def _must_exist(_dialect: Any, record: Any, _cargs: Any, _cparams: Any) -> None:
        inode = _inode(path)
        if inode is None:
            raise sqlite3.OperationalError(f"the database file {path} does not exist (make db creates it)")
        record.info["inode"] = inode

    @event.listens_for(engine, "checkout")
    def _still_there(_dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        if _inode(path) != record.info.get("inode"):
            raise DisconnectionError("the database file was deleted or replaced")


def _prove_committed(session: Session, url: str, inode: int | None) -> None:
    """After a commit on SQLite: the file committed to is still the configured file."""
    path = sqlite_path(url)
    if path is not None and inode is not None and _inode(path) != inode:
        raise DatabaseGone(f"the database file {path} was deleted or replaced during the transaction")


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


@contextmanager
def session_scope(url: str) -> Iterator[Session]:
    """A transaction: committed when the block ends, rolled back (nothing half-written) on error;
    raises `DatabaseGone` when an SQLite commit went into a file that is no longer the database."""
    session = sessionmaker(get_engine(url), expire_on_commit=False)()
    try:
        yield session
        inode = None
        if sqlite_path(url) is not None and session.in_transaction():
            inode = session.connection().connection.info.get("inode")
        session.commit()
        _prove_committed(session, url, inode)
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


_MIGRATING = threading.Lock()
_MIGRATED: set[str] = set()


def migrated(url: str) -> bool:
    """Brings the database schema up to date once per database for this process (the action
    server's first case or alert call), not at every call. Never creates the database. One thread
    at a time: Alembic's script loading is not safe to run twice at once (KeyError 'script')."""
    if url in _MIGRATED:
        return True
    with _MIGRATING:
        if url not in _MIGRATED:
            migrate(url, create=False)
            _MIGRATED.add(url)
    return True


def migrate(url: str, create: bool = True) -> None:
    """Brings the database schema up to date with the Alembic migrations; with `create`, a missing
    SQLite file is created first (owner-only: it holds contact details)."""
    from alembic import command
    from alembic.config import Config

    if create and (path := sqlite_path(url)) is not None:
        if path.exists():
            # By its path: opening and closing the file here would drop every SQLite lock this process
            # holds on it (POSIX locks belong to the process), and another connection's WAL could be lost.
            os.chmod(path, PRIVATE_FILE_MODE)
        else:
            private_file(path)  # owner-only from the start; its -wal and -shm files inherit the mode
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    with get_engine(url).begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def pending_web_rows(session: Session, sender_id: str, kind: str) -> list[OutboxMessage]:
    """The outbox rows of one kind waiting for a web or REST conversation, oldest first (shown at its next message)."""
    rows = session.scalars(
        select(OutboxMessage)
        .where(
            OutboxMessage.status == "pending",
            OutboxMessage.channel == "web",
            OutboxMessage.recipient == sender_id,
            OutboxMessage.kind == kind,
        )
        .order_by(OutboxMessage.id)
    ).all()
    return list(rows)


def claim(session: Session, row: OutboxMessage, status: str, now: datetime) -> bool:
    """Marks a pending row `status` unless another process did first: whether this call claimed it."""
    claimed = session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == row.id, OutboxMessage.status == "pending")
        .values(status=status, delivered_at=now)
        .execution_options(synchronize_session=False)
    )
    return getattr(claimed, "rowcount", 0) == 1  # an UPDATE's result is a CursorResult, whose rowcount counts rows
