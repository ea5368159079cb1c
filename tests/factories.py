"""Test data and helpers shared by the tests: a tracker, a case intake, a conversation over REST, adversarial text."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.cases.service import Intake


def tracker(
    text: str = "",
    language: str | None = "en",
    *,
    intent: str = "inform",
    sender: str = "t1",
    slots: dict[str, Any] | None = None,
    entities: list[dict[str, Any]] | None = None,
    loop: str | None = None,
    **parse: Any,
) -> Tracker:
    """A rasa-sdk tracker at the user's latest message: its text, intent, entities (and any other parse
    data, e.g. text_bounds), the conversation's language and slots, and the active form (`loop`)."""
    return Tracker(
        sender_id=sender,
        slots={"language": language, **(slots or {})},
        latest_message={
            "text": text,
            "intent": {"name": intent, "confidence": 0.9},
            "entities": entities or [],
            **parse,
        },
        events=[],
        paused=False,
        followup_action=None,
        active_loop={"name": loop} if loop else {},
        latest_action_name="action_listen",
    )


def run(action: Any, tracker: Tracker) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Runs a custom action on `tracker`: what it said (CollectingDispatcher's messages) and its events."""
    dispatcher = CollectingDispatcher()
    events = asyncio.run(action.run(dispatcher, tracker, {}))
    return dispatcher.messages, events


def validate(
    form: Any, method: str, value: Any, tracker: Tracker
) -> tuple[dict[str, Any], list[str | None], list[dict]]:
    """Runs one slot validation of a form: the slots it returns, the texts it said and the buttons it offered."""
    dispatcher = CollectingDispatcher()
    result = asyncio.run(getattr(form, method)(value, dispatcher, tracker, {}))
    return result, [m.get("text") for m in dispatcher.messages], [b for m in dispatcher.messages for b in m["buttons"]]


def texts(messages: list[dict[str, Any]]) -> str:
    """The texts of the messages an action sent, one per line."""
    return "\n".join(m.get("text") or "" for m in messages)


def intake(**changes) -> Intake:
    """A complete intake form (a Chinese machinery exporter, a trademark warning letter in Japan)."""
    values = {
        "sender_id": "u1",
        "channel": "rest",
        "language": "zh",
        "enterprise": "青岛示例机械有限公司",
        "contact": "a@example.com",
        "contact_kind": "email",
        "country": "JP",
        "ip_type": "trademark",
        "incident_type": "warning_letter",
        "deadline": None,
        "description": "收到日本公司的警告函",
        "consent": True,
        "industry": "machinery",
    }
    return Intake(**{**values, **changes})


@dataclass
class Conversation:
    """One enterprise talking to the bot over the REST channel (end-to-end tests)."""

    stack: Any
    sender: str = field(default_factory=lambda: f"web-{uuid.uuid4().hex[:8]}")
    transcript: list[str] = field(default_factory=list)

    def say(self, message: str) -> tuple[str, list[dict], list[dict]]:
        """The bot's texts (joined), buttons and custom payloads for one message."""
        reply = self.stack.say(message, sender=self.sender)
        texts = "\n".join(m["text"] for m in reply if "text" in m)
        buttons = [b for m in reply for b in m.get("buttons", [])]
        customs = [m["custom"] for m in reply if "custom" in m]
        self.transcript += [f"user: {message}", f"bot: {texts} {[b['title'] for b in buttons]}"]
        return texts, buttons, customs

    def expect(self, message: str, *fragments: str) -> tuple[str, list[dict], list[dict]]:
        """Says a message and checks that the reply contains every fragment (transcript on failure)."""
        texts, buttons, customs = self.say(message)
        for fragment in fragments:
            assert fragment in texts, "\n".join(self.transcript)
        return texts, buttons, customs


# Pieces of the inputs that made regular expressions backtrack or the deadline parser loop (issue 12):
# far durations, runs with no e-mail's "@", runs of spaces, digits or numerals that a pattern could
# rescan from every position, lone surrogates and control characters.
ADVERSARIAL_PIECES = [
    "2000000个工作日内",
    "99999999999天内",
    "within 5000 days",
    "a",
    "a.",
    "a@",
    "@a",
    "1",
    "1 ",
    "1(",
    "十",
    "一",
    "个",
    "12月",
    "下",
    "周",
    " ",
    "!",
    "in ",
    "_",
    "www.",
    "http://",
    "\x00",
    "\x1b[31m",
    "\r\n",
    "\u202e",
    "\ud800",
    "zhang@example.com",
]


def adversarial_text(min_size: int = 50, max_size: int = 400):
    """A hypothesis strategy: long strings made of the adversarial pieces and arbitrary characters."""
    from hypothesis import strategies as st

    piece = st.one_of(st.sampled_from(ADVERSARIAL_PIECES), st.text(max_size=3))
    return st.lists(piece, min_size=min_size, max_size=max_size).map("".join)
