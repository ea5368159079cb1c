"""Which channel a conversation is on, from its Rasa sender id.

The Telegram gateway (bot/channels/telegram/gateway.py) names each chat `tg-<chat id>`; cases and
alerts reach such a conversation over Telegram, at that chat. Every other sender id (the web
widget's session, a REST client) is on the web, where the bot shows what is waiting at the user's
next message. No Rasa, no Telegram library here.
"""

from __future__ import annotations

from typing import Literal

TELEGRAM_SENDER_PREFIX = "tg-"


def telegram_sender_id(chat_id: int) -> str:
    """The sender id of a Telegram chat: tg-<chat id> (a group's chat id is negative: tg--100…)."""
    return f"{TELEGRAM_SENDER_PREFIX}{chat_id}"


def channel_of(sender_id: str) -> tuple[Literal["telegram", "web"], str]:
    """Where a conversation is reached: ("telegram", chat id) for the gateway's tg-<chat id>, else
    ("web", sender id) — also for a tg- id whose rest is no chat id, which no Telegram chat has."""
    chat = sender_id.removeprefix(TELEGRAM_SENDER_PREFIX)
    if sender_id.startswith(TELEGRAM_SENDER_PREFIX) and chat.removeprefix("-").isdigit():
        return "telegram", chat
    return "web", sender_id
