"""Test data and helpers shared by the case, self-check and alert tests."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from actions.cases.service import Intake


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
