"""Rasa's tracker stores, each erasing a form entry the bot said it did not keep before it saves.

Configured in bot/endpoints.yml. `ErasingSQLTrackerStore` is the default: conversations live in an SQL
database (TRACKER_DATABASE_URL, which bot/stack.py sets by actions/settings.conversations_url unless it is given: a file of its own beside an SQLite case database; SQLite
by default, PostgreSQL through a `postgresql://` URL), so a Rasa restart in the middle of a form loses
nothing. Neither store keeps the NLU's vector of a message (actions/question_vector.py): it served its turn.
Rasa's SQL store only
appends new events; when a turn forgets a form entry (the action sets ``FORGET_SLOT``), the stored rows of
that conversation are rewritten with the entry erased, in the same database. `ErasingTrackerStore` keeps
conversations in memory, as Rasa's default does (lost when Rasa restarts). The erasure itself is
actions/erasure.py.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from rasa.core.tracker_store import InMemoryTrackerStore, SQLTrackerStore
from rasa.shared.core.events import UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from sqlalchemy.engine.url import make_url

from actions.erasure import FORGET_SLOT, erase_forgotten_entries
from actions.question_vector import drop_from

logger = logging.getLogger(__name__)


def _form_slots(domain: Any) -> dict[str, list[str]]:
    """Each form's slots, from the domain."""
    forms = domain.forms if domain else {}
    return {name: list((spec or {}).get("required_slots") or []) for name, spec in forms.items()}


class ErasingTrackerStore(InMemoryTrackerStore):
    """Stores conversations in memory with forgotten form entries erased (see actions/erasure.py)."""

    async def save(self, tracker: DialogueStateTracker) -> None:
        """Streams the new events, then stores the conversation with forgotten entries erased."""
        await self.stream_events(tracker)
        dialogue = tracker.as_dialogue().as_dict()
        for event in dialogue["events"]:
            drop_from(event.get("parse_data"))
        erased = erase_forgotten_entries(dialogue["events"], _form_slots(self.domain))
        if erased:
            logger.info("erased %d events of a form entry the user was told is not kept", erased)
        self.store[tracker.sender_id] = json.dumps(dialogue)


def owner_only(path: Path) -> None:
    """The conversations' SQLite file readable by its owner only (0600, its folder 0700), as the case
    database is: they hold what users typed. Done before Rasa connects (by path for an existing file, so
    no SQLite lock of this process is touched); SQLite gives its journal files the database's mode."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not path.exists():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    os.chmod(path, 0o600)


class ErasingSQLTrackerStore(SQLTrackerStore):
    """Stores conversations in an SQL database given by one URL, with forgotten form entries erased."""

    def __init__(self, domain: Any = None, host: str = "", **kwargs: Any) -> None:
        # Rasa hands the endpoint's `url` over as `host`; SQLTrackerStore takes a complete URL there.
        parsed = make_url(host)
        if parsed.drivername.startswith("sqlite") and parsed.database and parsed.database != ":memory:":
            owner_only(Path(parsed.database))
        # The action server's URLs name psycopg 3 (postgresql+psycopg); Rasa's venv has psycopg2.
        if parsed.drivername == "postgresql+psycopg":
            parsed = parsed.set(drivername="postgresql+psycopg2")
        super().__init__(domain, host=parsed.render_as_string(hide_password=False), **kwargs)

    async def save(self, tracker: DialogueStateTracker) -> None:
        """Appends the new events, without the NLU's message vectors; when this turn forgot a form entry,
        erases it from the stored rows too."""
        for event in tracker.events:
            if isinstance(event, UserUttered):
                drop_from(event.parse_data)
        await super().save(tracker)
        if not self._forgot_this_turn(tracker):
            return
        with self.session_scope() as session:
            rows = self._event_query(session, tracker.sender_id, fetch_events_from_all_sessions=True).all()
            events = [json.loads(row.data) for row in rows]
            erased = erase_forgotten_entries(events, _form_slots(self.domain))
            if not erased:
                return
            for row, event in zip(rows, events, strict=True):
                row.data = json.dumps(event)
            session.commit()
        logger.info("erased %d stored events of a form entry the user was told is not kept", erased)

    @staticmethod
    def _forgot_this_turn(tracker: DialogueStateTracker) -> bool:
        """Whether an event since the user's latest message sets FORGET_SLOT."""
        for event in reversed(list(tracker.events)):
            data = event.as_dict()
            if data.get("event") == "user":
                return False
            if data.get("event") == "slot" and data.get("name") == FORGET_SLOT and data.get("value"):
                return True
        return False
