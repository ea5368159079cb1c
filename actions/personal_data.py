"""What the bot holds about one conversation or one company, as a copy and as an erasure (the rights
China's Personal Information Protection Law gives a person: PIPL arts. 45 and 47), and the
retention purge that clears closed cases' contact details after RETENTION_DAYS.

Held about a conversation (its sender id, e.g. tg-<chat id> or a web session): the cases it opened
with their history, expert offers and notifications; its alert subscriptions and the alerts sent
to it; and its conversation history, which Rasa keeps in its SQL tracker store (table `events`, in the
case database unless TRACKER_DATABASE_URL names another). About a company: the cases filed under its name.

Functions take open sessions and never commit: the caller's `session_scope` makes each call one
transaction, so an erasure is all or nothing. Nothing here connects at import time.
"""

from __future__ import annotations

import contextlib
import json
import os
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, MetaData, Table, delete, func, inspect, or_, select, update
from sqlalchemy.orm import Session

from actions.channels import channel_of
from actions.privacy import open_private
from actions.store import (
    AlertDelivery,
    AlertSubscription,
    Base,
    Case,
    CaseDocument,
    CaseEvent,
    Offer,
    OutboxMessage,
    session_scope,
    sqlite_path,
    utcnow,
)

TRACKER_TABLE = "events"  # Rasa's SQLTrackerStore: one row per event, with the conversation's sender_id
ERASED = ""  # what a purged field holds
# notes, the messages relayed between the expert and the enterprise, and the enterprise's comment
EVENT_KINDS_WITH_FREE_TEXT = ("note", "closed", "expert_reply", "enterprise_reply", "rating_comment")
# notifications sent to the enterprise, not to experts or staff
TO_THE_SUBJECT = ("enterprise_update", "expert_reply", "alert")
NOT_STORED = "conversation history: none in this database (no tracker table)"


@dataclass(frozen=True)
class Subject:
    """Whose data: one conversation (sender id) or one company (its name as entered in the case form)."""

    sender_id: str | None = None
    company: str | None = None

    def __post_init__(self) -> None:
        if (self.sender_id is None) == (self.company is None):
            raise ValueError("name exactly one: a sender id or a company")

    def describe(self) -> str:
        """The subject as staff read it."""
        return f"conversation {self.sender_id}" if self.sender_id is not None else f"company {self.company}"


@dataclass
class Holdings:
    """Counts of what is held about a subject (what an erasure removes)."""

    cases: int = 0
    case_events: int = 0
    offers: int = 0
    notifications: int = 0
    subscriptions: int = 0
    alert_deliveries: int = 0
    tracker_events: int | None = None  # None: no tracker store in the database
    other_conversations: list[str] = field(default_factory=list)  # a company's cases came from these
    documents: int = 0
    document_files: list[str] = field(default_factory=list)  # under ATTACHMENTS_DIR: removed after the commit

    def lines(self) -> list[str]:
        """One line per kind of record."""
        tracker = (
            NOT_STORED if self.tracker_events is None else f"conversation history: {self.tracker_events} tracker events"
        )
        return [
            f"cases: {self.cases} (with {self.case_events} history entries and {self.offers} expert offers)",
            f"documents attached to them: {self.documents}",
            f"notifications: {self.notifications}",
            f"alert subscriptions: {self.subscriptions} (and {self.alert_deliveries} records of alerts sent)",
            tracker,
        ]


def _row(obj: Base) -> dict[str, Any]:
    """A database row as JSON-ready values."""
    return {c.name: _plain(getattr(obj, c.key)) for c in obj.__table__.columns}


def _plain(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def _cases(session: Session, subject: Subject) -> list[Case]:
    if subject.sender_id is not None:
        query = select(Case).where(Case.sender_id == subject.sender_id)
    else:
        name = (subject.company or "").strip().lower()
        query = select(Case).where(func.lower(func.trim(Case.enterprise)) == name)
    return list(session.scalars(query.order_by(Case.id)))


def _notifications(session: Session, subject: Subject, case_ids: list[int]) -> list[OutboxMessage]:
    """The subject's outbox rows: those of its cases and, for a conversation, everything sent to it."""
    conditions: list[ColumnElement[bool]] = [OutboxMessage.case_id.in_(case_ids)] if case_ids else []
    if subject.sender_id is not None:
        channel, recipient = channel_of(subject.sender_id)
        sent = select(AlertDelivery.outbox_id).where(AlertDelivery.subscriber == subject.sender_id)
        conditions += [
            (OutboxMessage.channel == channel) & (OutboxMessage.recipient == recipient),
            OutboxMessage.id.in_(sent),
        ]
    if not conditions:
        return []
    return list(session.scalars(select(OutboxMessage).where(or_(*conditions)).order_by(OutboxMessage.id)))


def tracker_session(database_url: str, tracker_database_url: str) -> AbstractContextManager[Session | None]:
    """A transaction on Rasa's tracker store database when it is not the case database, else None (the
    case database's own session is used). `tracker_database_url` as Settings.conversations_url gives it;
    an SQLite file Rasa has not created yet holds no conversation (None)."""
    if tracker_database_url and tracker_database_url != database_url:
        path = sqlite_path(tracker_database_url)
        if path is not None and not path.exists():
            return contextlib.nullcontext(None)
        return session_scope(tracker_database_url)
    return contextlib.nullcontext(None)


def tracker_table(session: Session) -> Table | None:
    """Rasa's SQL tracker store table in this database, if there is one with a sender_id column."""
    connection = session.connection()
    if not inspect(connection).has_table(TRACKER_TABLE):
        return None
    table = Table(TRACKER_TABLE, MetaData(), autoload_with=connection)
    return table if "sender_id" in table.c else None


def collect(session: Session, subject: Subject, trackers: Session | None = None) -> dict[str, Any]:
    """Everything held about the subject, as JSON-ready data (the copy a person may ask for)."""
    cases = _cases(session, subject)
    notifications = _notifications(session, subject, [c.id for c in cases])
    data: dict[str, Any] = {
        "subject": {"sender_id": subject.sender_id, "company": subject.company},
        "exported_at": utcnow().isoformat(timespec="seconds") + "Z",
        "cases": [
            {
                **_row(c),
                "events": [_row(e) for e in c.events],
                "offers": [_row(o) for o in c.offers],
                "documents": [_row(d) for d in _documents(session, [c.id])],
            }
            for c in cases
        ],
        "notifications": [_notification(n) for n in notifications],
        "subscriptions": [],
        "alerts_sent": [],
        "conversation": None,
        "notes": [],
    }
    if subject.sender_id is not None:
        subs = select(AlertSubscription).where(AlertSubscription.sender_id == subject.sender_id)
        data["subscriptions"] = [_row(s) for s in session.scalars(subs.order_by(AlertSubscription.id))]
        sent = select(AlertDelivery).where(AlertDelivery.subscriber == subject.sender_id)
        data["alerts_sent"] = [_row(d) for d in session.scalars(sent.order_by(AlertDelivery.id))]
        data["conversation"] = _tracker_events(trackers or session, subject.sender_id)
        if data["conversation"] is None:
            data["notes"].append(NOT_STORED)
    return data


def _notification(row: OutboxMessage) -> dict[str, Any]:
    """An outbox row for the copy: in full when it went to the subject; to an expert or staff, without their address."""
    data = _row(row)
    if row.kind not in TO_THE_SUBJECT:
        data.pop("recipient")
        data.pop("dedupe_key")
    return data


def _tracker_events(session: Session, sender_id: str) -> list[dict[str, Any]] | None:
    table = tracker_table(session)
    if table is None:
        return None
    order = table.c.id if "id" in table.c else table.c.sender_id
    rows = session.execute(select(table).where(table.c.sender_id == sender_id).order_by(order)).mappings()
    events = []
    for row in rows:
        event = {k: _plain(v) for k, v in row.items()}
        if isinstance(event.get("data"), str):
            with contextlib.suppress(ValueError):
                event["data"] = json.loads(event["data"])
        events.append(event)
    return events


def holdings(session: Session, subject: Subject, trackers: Session | None = None) -> Holdings:
    """How much is held about the subject (shown before an erasure is confirmed)."""
    cases = _cases(session, subject)
    held = Holdings(
        cases=len(cases),
        case_events=sum(len(c.events) for c in cases),
        offers=sum(len(c.offers) for c in cases),
        notifications=len(_notifications(session, subject, [c.id for c in cases])),
    )
    documents = _documents(session, [c.id for c in cases])
    held.documents, held.document_files = len(documents), [d.stored_as for d in documents]
    if subject.sender_id is not None:
        held.subscriptions = len(
            session.scalars(select(AlertSubscription.id).where(AlertSubscription.sender_id == subject.sender_id)).all()
        )
        held.alert_deliveries = len(
            session.scalars(select(AlertDelivery.id).where(AlertDelivery.subscriber == subject.sender_id)).all()
        )
        events = _tracker_events(trackers or session, subject.sender_id)
        held.tracker_events = None if events is None else len(events)
    else:
        held.other_conversations = sorted({c.sender_id for c in cases})
    return held


SinkKey = tuple[int, str, str]  # an outbox row as the sink file records it: id, kind, recipient


def erase(session: Session, subject: Subject, trackers: Session | None = None) -> tuple[Holdings, list[SinkKey]]:
    """Deletes everything held about the subject; returns what was deleted (with the document files to
    remove once the deletion is committed: `remove_documents`) and the notifications removed (to strike
    them from the sink file too)."""
    held = holdings(session, subject, trackers)
    cases = _cases(session, subject)
    case_ids = [c.id for c in cases]
    notifications = _notifications(session, subject, case_ids)
    removed = [(n.id, n.kind, n.recipient) for n in notifications]
    outbox_ids = [n.id for n in notifications]
    if outbox_ids:
        session.execute(
            update(AlertDelivery).where(AlertDelivery.outbox_id.in_(outbox_ids)).values(outbox_id=None),
            execution_options={"synchronize_session": False},
        )
    if subject.sender_id is not None:
        session.execute(delete(AlertDelivery).where(AlertDelivery.subscriber == subject.sender_id))
        session.execute(delete(AlertSubscription).where(AlertSubscription.sender_id == subject.sender_id))
        table = tracker_table(trackers or session)
        if table is not None:
            (trackers or session).execute(delete(table).where(table.c.sender_id == subject.sender_id))
    if outbox_ids:
        session.execute(delete(OutboxMessage).where(OutboxMessage.id.in_(outbox_ids)))
    if case_ids:
        session.execute(delete(CaseDocument).where(CaseDocument.case_id.in_(case_ids)))
        session.execute(delete(CaseEvent).where(CaseEvent.case_id.in_(case_ids)))
        session.execute(delete(Offer).where(Offer.case_id.in_(case_ids)))
        session.execute(delete(Case).where(Case.id.in_(case_ids)))
    session.expire_all()
    return held, removed


def _documents(session: Session, case_ids: list[int]) -> list[CaseDocument]:
    if not case_ids:
        return []
    query = select(CaseDocument).where(CaseDocument.case_id.in_(case_ids)).order_by(CaseDocument.id)
    return list(session.scalars(query))


def remove_documents(folder: Path, stored: list[str]) -> int:
    """Deletes the files of erased or purged documents (after their rows' deletion was committed);
    returns how many were there. Only paths inside the folder are touched."""
    removed = 0
    root = folder.resolve()
    for name in stored:
        path = (folder / name).resolve()
        if path.is_relative_to(root) and path.is_file():
            path.unlink()
            removed += 1
    return removed


def strike_from_sink(sink: Path, removed: list[SinkKey]) -> int:
    """Removes the lines of the notifier's sink file that delivered the removed notifications; returns how many."""
    if not removed or not sink.exists():
        return 0
    gone = set(removed)
    kept, struck = [], 0
    for line in sink.read_text(encoding="utf-8").splitlines(keepends=True):
        try:
            record = json.loads(line)
        except ValueError:
            kept.append(line)
            continue
        if (record.get("id"), record.get("kind"), record.get("recipient")) in gone:
            struck += 1
        else:
            kept.append(line)
    if struck:
        tmp = sink.with_name(sink.name + ".tmp")
        with open_private(tmp, "w", encoding="utf-8") as out:
            out.writelines(kept)
        os.replace(tmp, sink)
    return struck


@dataclass
class PurgeReport:
    """What the retention purge cleared."""

    cases: list[str] = field(default_factory=list)  # case numbers whose contact and description were cleared
    notifications: int = 0  # outbox rows deleted or emptied
    alert_records: int = 0  # records of alerts sent to conversations no longer subscribed
    conversations: int | None = None  # idle conversations deleted from the tracker store (None: none stored)
    sink_keys: list[SinkKey] = field(default_factory=list)  # the cleared notifications, to strike from the sink
    document_files: list[str] = field(default_factory=list)  # documents of the cleared cases, removed after the commit

    def lines(self) -> list[str]:
        """One line per kind of record."""
        conversations = (
            NOT_STORED if self.conversations is None else f"idle conversations deleted: {self.conversations}"
        )
        return [
            f"closed cases cleared (contact, description, notes): {len(self.cases)}",
            f"documents of those cases deleted: {len(self.document_files)}",
            f"notifications deleted or emptied: {self.notifications}",
            f"records of alerts sent to former subscribers deleted: {self.alert_records}",
            conversations,
        ]


def purge(
    session: Session,
    retention_days: int,
    now: datetime | None = None,
    dry_run: bool = False,
    trackers: Session | None = None,
) -> PurgeReport:
    """Clears what is older than the retention period: closed cases' contact, description and notes
    (and their notifications' texts), delivered alert notifications, records of alerts sent to
    conversations that unsubscribed, and conversations idle that long. Running it twice clears nothing more."""
    cutoff = (now or utcnow()) - timedelta(days=retention_days)
    report = PurgeReport()
    stale = list(
        session.scalars(
            select(Case).where(
                Case.status == "closed",
                Case.updated_at < cutoff,
                or_(Case.contact != ERASED, Case.description != ERASED),
            )
        )
    )
    report.cases = [c.case_no or str(c.id) for c in stale]
    stale_ids = [c.id for c in stale]
    case_rows = (
        [r for r in session.scalars(select(OutboxMessage).where(OutboxMessage.case_id.in_(stale_ids))) if r.payload]
        if stale_ids
        else []
    )
    old_alert_rows = list(
        session.scalars(
            select(OutboxMessage).where(
                OutboxMessage.case_id.is_(None),
                OutboxMessage.status != "pending",
                OutboxMessage.created_at < cutoff,
            )
        )
    )
    subscribed = select(AlertSubscription.sender_id)
    old_records = list(
        session.scalars(
            select(AlertDelivery).where(AlertDelivery.created_at < cutoff, AlertDelivery.subscriber.not_in(subscribed))
        )
    )
    report.notifications = len(case_rows) + len(old_alert_rows)
    report.sink_keys = [(r.id, r.kind, r.recipient) for r in [*case_rows, *old_alert_rows]]
    report.alert_records = len(old_records)
    report.conversations = _idle_conversations(trackers or session, cutoff, dry_run)
    stale_documents = _documents(session, stale_ids)
    report.document_files = [d.stored_as for d in stale_documents]
    if dry_run:
        return report
    for document in stale_documents:
        session.delete(document)
    for case in stale:
        case.contact = ERASED
        case.description = ERASED
        for event in case.events:
            if event.kind in EVENT_KINDS_WITH_FREE_TEXT:
                event.text = ERASED
    for row in case_rows:
        row.payload = {}
        if row.status == "pending":
            row.status = "expired"  # never sent now: its text is gone
    old_ids = [r.id for r in old_alert_rows]
    if old_ids:
        session.execute(
            update(AlertDelivery).where(AlertDelivery.outbox_id.in_(old_ids)).values(outbox_id=None),
            execution_options={"synchronize_session": False},
        )
    if old_records:
        session.execute(delete(AlertDelivery).where(AlertDelivery.id.in_([r.id for r in old_records])))
    if old_ids:
        session.execute(delete(OutboxMessage).where(OutboxMessage.id.in_(old_ids)))
    session.flush()
    return report


def _idle_conversations(session: Session, cutoff: datetime, dry_run: bool) -> int | None:
    """Deletes (or, dry, counts) the tracker-store conversations whose last event is older than the cutoff."""
    table = tracker_table(session)
    if table is None or "timestamp" not in table.c:
        return None
    limit = cutoff.replace(tzinfo=timezone.utc).timestamp()  # Rasa stores each event's time as a Unix timestamp
    idle = select(table.c.sender_id).group_by(table.c.sender_id).having(func.max(table.c.timestamp) < limit)
    senders = list(session.scalars(idle))
    if senders and not dry_run:
        session.execute(delete(table).where(table.c.sender_id.in_(senders)))
    return len(senders)
