"""Every sentence the bot's own code says to a user, in Chinese and English: one catalog, one lookup.

The catalog is the YAML files next to this module, one per capability (answers, cases, selfcheck, alerts,
telegram). A message is a mapping with `zh` and `en` (and, for a question with buttons, `buttons`: each a
`zh`/`en` title and a `payload`); mappings without `zh` group messages, so a key is the file's name
and the path to the message: `t("cases.ask.case_country", "en")` is the case form's step-3 question.

Replies Rasa sends by itself (`utter_*`) stay in bot/domain.yml, where Rasa needs them; the knowledge
files' own text stays in knowledge/. The expert-facing notifier lines are English only and stay in
bot/notifier.py.

The files are read on first use, not at import (rasa-sdk imports every action module at start), and
checked then: a message without both languages, or whose two languages name different placeholders,
is a `ValueError` naming file and key, so a mistake fails the first test rather than a user's turn.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

FOLDER = Path(__file__).parent
LANGUAGES = ("zh", "en")


@dataclass(frozen=True)
class Button:
    """A reply button: its title in each language and the payload it sends."""

    zh: str
    en: str
    payload: str

    def as_dict(self, lang: str) -> dict[str, str]:
        """The button as rasa-sdk's `utter_message(buttons=…)` takes it."""
        return {"title": self.zh if lang == "zh" else self.en, "payload": self.payload}


@dataclass(frozen=True)
class Message:
    """One message in both languages, with the buttons shown under it."""

    zh: str
    en: str
    buttons: tuple[Button, ...] = ()

    def text(self, lang: str) -> str:
        """The message in `lang` ("zh", else English)."""
        return self.zh if lang == "zh" else self.en


def _placeholders(text: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(text) if field is not None}


def _message(value: dict[str, Any], where: str) -> Message:
    for lang in LANGUAGES:
        if not isinstance(value.get(lang), str) or not value[lang].strip():
            raise ValueError(f"{where}: {lang}: missing or empty")
    if _placeholders(value["zh"]) != _placeholders(value["en"]):
        raise ValueError(f"{where}: zh and en name different placeholders")
    buttons = []
    for i, b in enumerate(value.get("buttons") or ()):
        if not isinstance(b, dict) or not all(isinstance(b.get(f), str) and b[f] for f in ("zh", "en", "payload")):
            raise ValueError(f"{where}: buttons[{i}]: needs zh, en and payload")
        buttons.append(Button(b["zh"], b["en"], b["payload"]))
    unknown = set(value) - {*LANGUAGES, "buttons"}
    if unknown:
        raise ValueError(f"{where}: unknown fields {sorted(unknown)}")
    return Message(value["zh"], value["en"], tuple(buttons))


def _flatten(prefix: str, value: Any, where: str, out: dict[str, Message]) -> None:
    if not isinstance(value, dict):
        raise ValueError(f"{where}: {prefix}: a message must be a mapping with zh and en")
    if "zh" in value or "en" in value:
        out[prefix] = _message(value, f"{where}: {prefix}")
        return
    for key, child in value.items():
        _flatten(f"{prefix}.{key}", child, where, out)


@cache
def catalog(folder: Path = FOLDER) -> dict[str, Message]:
    """Every message by its full key ("cases.offer"), in file order; checked as it is read."""
    messages: dict[str, Message] = {}
    for path in sorted(folder.glob("*.yml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        _flatten(path.stem, data, path.name, messages)
    return messages


def message(key: str) -> Message:
    """The message stored under `key`; KeyError names the key if there is none."""
    try:
        return catalog()[key]
    except KeyError:
        raise KeyError(f"no message {key!r} in actions/messages/") from None


def has(key: str) -> bool:
    """Whether the catalog holds a message under `key`."""
    return key in catalog()


def t(key: str, lang: str, **values: Any) -> str:
    """The message `key` in the user's language, with its placeholders filled from `values`."""
    return message(key).text(lang).format(**values)


def buttons_of(key: str, lang: str) -> list[dict[str, str]]:
    """The buttons of message `key`, titled in the user's language."""
    return [b.as_dict(lang) for b in message(key).buttons]


def group(prefix: str) -> dict[str, Message]:
    """The messages directly under `prefix` ("selfcheck.plan" → {"export": …, …}), in file order."""
    start = prefix + "."
    return {k[len(start) :]: m for k, m in catalog().items() if k.startswith(start) and "." not in k[len(start) :]}


def every_language(key: str) -> tuple[str, ...]:
    """The message `key` in every language (what the evaluation matches a reply against)."""
    m = message(key)
    return (m.zh, m.en)
