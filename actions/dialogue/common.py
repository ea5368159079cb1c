"""What every custom action shares: the reply marker and the user's language."""

from __future__ import annotations

from abc import ABC, abstractmethod
from functools import lru_cache
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.language import EN, detect_language
from actions.safe_text import bound_text, clean_text, max_message_chars

SLOT_LANGUAGE = "language"
# Set to "pending" by every user message (domain slot mapping) and to "received" by every custom
# action: a rule answers "temporarily unavailable" when a custom action left it pending.
SLOT_ACTION_REPLY = "action_server_reply"
REPLY_RECEIVED = "received"
# What the NLU's first component (bot/components/message_bounds.py) records when it cut a message.
TEXT_BOUNDS = "text_bounds"


@lru_cache(maxsize=1)
def message_limit() -> int:
    """How many characters of a message the bot reads (the MAX_MESSAGE_CHARS setting, read once)."""
    return max_message_chars()


def user_text(tracker: Tracker) -> str:
    """The user's latest message as the bot reads it: printable text of at most MAX_MESSAGE_CHARS characters."""
    return bound_text(tracker.latest_message.get("text"), message_limit()).text


def received_chars(tracker: Tracker) -> int:
    """How many characters the user's latest message had when it arrived (before the NLU cut it, if it did)."""
    bounds = tracker.latest_message.get(TEXT_BOUNDS)
    received = bounds.get("received_chars") if isinstance(bounds, dict) else None
    if isinstance(received, int):
        return received
    return len(clean_text(tracker.latest_message.get("text")))


def language_of(tracker: Tracker) -> str:
    """The language to reply in: the `language` slot, else detected from the last message."""
    slot = tracker.get_slot(SLOT_LANGUAGE)
    if slot in ("zh", "en"):
        return slot
    return detect_language(user_text(tracker)) or EN


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


class AskSlotAction(BaseAction, ABC):
    """Asks a form's question for one slot; the action's name is `action_ask_<slot>` (one subclass per slot)."""

    @property
    def slot(self) -> str:
        """The form slot this action asks for, read from the action's name."""
        return self.name().removeprefix("action_ask_")


class FormSlotsValidation(FormValidationAction, ABC):
    """A form's validation that returns only the form's own slots (abstract: one subclass per form).

    rasa-sdk echoes every slot set this turn (such as `language`), which would make Rasa believe the
    user answered the form when they asked a question instead, so the form would never hand over to
    the question's rule.
    """

    @property
    @abstractmethod
    def form_slots(self) -> frozenset[str]:
        """The slots the form fills."""

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        events = await super().run(dispatcher, tracker, domain)
        own = {*self.form_slots, "requested_slot"}
        return [e for e in events if e.get("event") != "slot" or e.get("name") in own]
