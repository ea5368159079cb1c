"""What every custom action shares: the reply marker and the user's language."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.language import EN, detect_language

SLOT_LANGUAGE = "language"
# Set to "pending" by every user message (domain slot mapping) and to "received" by every custom
# action: a rule answers "temporarily unavailable" when a custom action left it pending.
SLOT_ACTION_REPLY = "action_server_reply"
REPLY_RECEIVED = "received"


def language_of(tracker: Tracker) -> str:
    """The language to reply in: the `language` slot, else detected from the last message."""
    slot = tracker.get_slot(SLOT_LANGUAGE)
    if slot in ("zh", "en"):
        return slot
    return detect_language(tracker.latest_message.get("text")) or EN


class BaseAction(Action, ABC):
    """Base of every custom action: records that the action server answered this turn."""

    @abstractmethod
    def name(self) -> str: ...

    @abstractmethod
    async def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        """What the action does; its events are returned with the reply marker."""

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        events = await self.act(dispatcher, tracker, domain)
        return [*events, SlotSet(SLOT_ACTION_REPLY, REPLY_RECEIVED)]
