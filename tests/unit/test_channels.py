"""Which channel a conversation is on, from its sender id (actions/channels.py)."""

from __future__ import annotations

import pytest

from actions.channels import channel_of, telegram_sender_id
from bot.channels.telegram.gateway import sender_id


@pytest.mark.parametrize(
    ("sender", "where"),
    [
        ("tg-7001", ("telegram", "7001")),
        ("tg--100123", ("telegram", "-100123")),  # a group chat
        ("web-1a2b", ("web", "web-1a2b")),
        ("3f2c9a", ("web", "3f2c9a")),  # a REST client's own id
        ("tg-abc", ("web", "tg-abc")),  # no Telegram chat has this id
        ("tg-", ("web", "tg-")),
        ("tg---5", ("web", "tg---5")),
        ("xtg-5", ("web", "xtg-5")),
    ],
)
def test_channel_of_a_conversation(sender, where):
    assert channel_of(sender) == where


@pytest.mark.parametrize("chat_id", [7001, -100123])
def test_the_gateway_names_a_chat_so_that_it_is_reached_over_telegram_at_that_chat(chat_id):
    assert sender_id(chat_id) == telegram_sender_id(chat_id) == f"tg-{chat_id}"
    assert channel_of(sender_id(chat_id)) == ("telegram", str(chat_id))
