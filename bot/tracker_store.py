"""Rasa's in-memory tracker store, which erases a form entry the bot said it did not keep before it saves.

Configured in bot/endpoints.yml (``tracker_store: type: bot.tracker_store.ErasingTrackerStore``). The
erasure itself is actions/erasure.py. This store keeps conversations in memory, as Rasa's default does
(lost when Rasa restarts); a SQL tracker store only appends new events, so one would need its own
erasure of stored rows.
"""

from __future__ import annotations

import json
import logging

from rasa.core.tracker_store import InMemoryTrackerStore
from rasa.shared.core.trackers import DialogueStateTracker

from actions.erasure import erase_forgotten_entries

logger = logging.getLogger(__name__)


class ErasingTrackerStore(InMemoryTrackerStore):
    """Stores conversations in memory with forgotten form entries erased (see actions/erasure.py)."""

    async def save(self, tracker: DialogueStateTracker) -> None:
        """Streams the new events, then stores the conversation with forgotten entries erased."""
        await self.stream_events(tracker)
        dialogue = tracker.as_dialogue().as_dict()
        erased = erase_forgotten_entries(dialogue["events"], self._form_slots())
        if erased:
            logger.info("erased %d events of a form entry the user was told is not kept", erased)
        self.store[tracker.sender_id] = json.dumps(dialogue)

    def _form_slots(self) -> dict[str, list[str]]:
        """Each form's slots, from the domain."""
        forms = self.domain.forms if self.domain else {}
        return {name: list((spec or {}).get("required_slots") or []) for name, spec in forms.items()}
