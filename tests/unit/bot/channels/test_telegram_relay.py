"""Replies relayed over Telegram: an expert on Telegram replies to the case message and the enterprise gets it in
its chat; the enterprise replies to that message and the expert gets the answer; neither goes to Rasa."""

from __future__ import annotations

import asyncio

import pytest
from telegram import Bot

from actions.cases.experts import load_experts
from actions.cases.service import assign, close_case, find_case
from actions.settings import PROJECT_ROOT, Settings
from actions.store import session_scope
from bot.notifier import Notifier
from tests.unit.bot.channels.conftest import CHAT, TOKEN

pytestmark = pytest.mark.e2e


def test_an_expert_and_the_enterprise_write_to_each_other_by_replying_to_the_case_messages(gateway, tmp_path):
    api, url, case_no, _ = gateway
    experts, _ = load_experts(PROJECT_ROOT / "knowledge" / "experts.yml")  # the gateway's own list
    expert = next(e for e in experts if e.telegram_chat_id is not None)
    expert_chat = expert.telegram_chat_id
    with session_scope(url) as s:
        assign(s, case_no, expert)
    settings = Settings(database_url=url, telegram_token=TOKEN, notifier_sink=tmp_path / "sink.jsonl")

    def deliver() -> None:  # a Bot per event loop: its HTTP client belongs to the loop that opened it
        asyncio.run(Notifier(settings, Bot(TOKEN, base_url=api.base_url)).deliver_due())

    deliver()
    assigned = next(m for m in api.bot_messages(expert_chat) if "assigned" in m["text"])

    api.push_message(
        expert_chat, "Please send me the warning letter.", user_id=expert_chat, reply_to=assigned["message_id"]
    )
    assert api.wait_for(lambda: any("Sent to the enterprise" in m["text"] for m in api.bot_messages(expert_chat)), 30)
    deliver()
    relayed = next(m for m in api.bot_messages(CHAT) if "Please send me the warning letter." in m["text"])
    assert relayed["text"].startswith(f"Case {case_no} · a message from {expert.name}:")
    assert "Reply to this message to answer the expert." in relayed["text"]

    api.push_message(CHAT, "Sent it just now.", user_id=CHAT, reply_to=relayed["message_id"])
    assert api.wait_for(lambda: any("Sent to the expert handling" in m["text"] for m in api.bot_messages(CHAT)), 30)
    deliver()
    answer = next(m for m in api.bot_messages(expert_chat) if "Sent it just now." in m["text"])
    assert case_no in answer["text"]

    # The expert answers that answer; after closing, nothing more is passed on.
    api.push_message(expert_chat, "Thanks, got it.", user_id=expert_chat, reply_to=answer["message_id"])
    assert api.wait_for(
        lambda: sum("Sent to the enterprise" in m["text"] for m in api.bot_messages(expert_chat)) == 2, 30
    )
    with session_scope(url) as s:
        close_case(s, case_no, "staff:test", "settled")
    api.push_message(CHAT, "One more question.", user_id=CHAT, reply_to=relayed["message_id"])
    assert api.wait_for(lambda: any("is closed" in m["text"] for m in api.bot_messages(CHAT)), 30)
    with session_scope(url) as s:
        replies = [(e.kind, e.text) for e in find_case(s, case_no).events if e.kind.endswith("_reply")]
    assert replies == [
        ("expert_reply", "Please send me the warning letter."),
        ("enterprise_reply", "Sent it just now."),
        ("expert_reply", "Thanks, got it."),
    ]
    assert not any("apolog" in m["text"].lower() or "cannot reply" in m["text"] for m in api.bot_messages(CHAT))
