"""Turns whatever a channel hands over as a user's message into safe text of bounded length.

Dependency-free so that the Rasa server (Python 3.10: the NLU pipeline's MessageBounds, the socket.io
channel), the Telegram gateway and the action server (Python 3.11) share it. Every step is linear in
the length of the text.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

MAX_MESSAGE_CHARS_ENV = "MAX_MESSAGE_CHARS"
DEFAULT_MAX_MESSAGE_CHARS = 2000  # about a page; the NLU reads at most this much of a message
MIN_MAX_MESSAGE_CHARS = 100  # a smaller setting would cut ordinary questions
# What a channel forwards at most (a cheap guard against absurd messages; the NLU cuts again).
CHANNEL_MAX_CHARS = 20_000
DOTENV = Path(__file__).resolve().parent.parent / ".env"

# Lone UTF-16 surrogates cannot be encoded as UTF-8 (a JSON "\ud800" decodes to one in Python).
_SURROGATE = re.compile("[\ud800-\udfff]")
_LINE_BREAK = re.compile("\r\n?|[\x0b\x0c\x85\u2028\u2029]")
# C0 and C1 control characters except tab and newline, and the bidirectional-text controls that can
# make a log line read differently from what it holds.
_CONTROL = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f\u202a-\u202e\u2066-\u2069]")


@dataclass(frozen=True)
class BoundedText:
    """A message as the bot reads it: cleaned and cut to the limit, with the length it had when received."""

    text: str
    received_chars: int

    @property
    def cut(self) -> bool:
        """Whether the message was longer than what the bot reads."""
        return len(self.text) < self.received_chars


def clean_text(value: object) -> str:
    """The message as printable text: a non-string is empty, a lone surrogate becomes "\ufffd", line
    breaks become "\\n" and other control characters a space (so logs never receive them raw)."""
    if not isinstance(value, str):
        return ""
    text = _SURROGATE.sub("\ufffd", value)
    text = _LINE_BREAK.sub("\n", text)
    return _CONTROL.sub(" ", text)


def bound_text(value: object, limit: int) -> BoundedText:
    """The message cleaned and cut to its first ``limit`` characters (the cut is not hidden: see ``cut``)."""
    text = clean_text(value)
    return BoundedText(text[: max(limit, 0)], len(text))


def max_message_chars(environ: Mapping[str, str] = os.environ, dotenv: Path = DOTENV) -> int:
    """How many characters of a message the bot reads: MAX_MESSAGE_CHARS from the environment or .env,
    else 2,000 (at least 100)."""
    raw = environ.get(MAX_MESSAGE_CHARS_ENV) or _dotenv_value(dotenv, MAX_MESSAGE_CHARS_ENV)
    raw = raw.strip().strip("'\"")
    try:
        value = int(raw) if raw else DEFAULT_MAX_MESSAGE_CHARS
    except ValueError:
        value = DEFAULT_MAX_MESSAGE_CHARS
    return max(value, MIN_MAX_MESSAGE_CHARS)


def channel_text(value: object) -> str | None:
    """What a channel forwards of a message: the cleaned text cut to CHANNEL_MAX_CHARS, None for a non-string."""
    if not isinstance(value, str):
        return None
    return clean_text(value[: CHANNEL_MAX_CHARS + 1])[:CHANNEL_MAX_CHARS]


def _dotenv_value(path: Path, name: str) -> str:
    """A ``NAME=value`` line of a .env file (the Rasa venv has no python-dotenv); empty when absent."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return ""
    for line in lines:
        key, sep, value = line.strip().removeprefix("export ").partition("=")
        if sep and key.strip() == name:
            return value.split(" #")[0]
    return ""
