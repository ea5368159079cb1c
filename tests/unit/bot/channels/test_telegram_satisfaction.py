"""Satisfaction over Telegram: when a case is closed the notifier asks the enterprise (buttons 1–5), the
gateway records the press and takes a reply to that question as the comment, not as a message for Rasa."""

from __future__ import annotations

import asyncio

import pytest
from telegram import Bot

from actions.cases.figures import figures
from actions.cases.service import add_event, find_case
from actions.settings import Settings
from actions.store import session_scope
from bot.notifier import Notifier
from tests.unit.bot.channels.conftest import CHAT, TOKEN

pytestmark = pytest.mark.e2e


def test_a_closed_case_is_rated_with_a_button_and_commented_by_a_reply(gateway, tmp_path):
    api, url, case_no, _ = gateway
    with session_scope(url) as s:
        add_event(s, case_no, "closed", "staff", "settled")
    settings = Settings(database_url=url, telegram_token=TOKEN, notifier_sink=tmp_path / "sink.jsonl")
    asyncio.run(Notifier(settings, Bot(TOKEN, base_url=api.base_url)).deliver_due())
    question = next(m for m in api.bot_messages(CHAT) if "How satisfied are you" in m["text"])
    buttons = [b["callback_data"] for b in question["reply_markup"]["inline_keyboard"][0]]
    assert buttons == [f"rate:{case_no}:{n}" for n in range(1, 6)]

    api.press_button(CHAT, question["message_id"], f"rate:{case_no}:4", user_id=CHAT)
    assert api.wait_for(lambda: "Thank you for your rating (4)" in api.message(CHAT, question["message_id"])["text"])
    assert not api.message(CHAT, question["message_id"]).get("reply_markup"), "the buttons are still there"

    before = len(api.sent_messages(CHAT))
    api.push_message(CHAT, "The expert was quick and clear.", user_id=CHAT, reply_to=question["message_id"])
    assert api.wait_for(lambda: len(api.sent_messages(CHAT)) > before, timeout=30)
    assert api.sent_messages(CHAT)[-1]["text"] == "Thank you — your comment is recorded."
    with session_scope(url) as s:
        events = {e.kind: e.text for e in find_case(s, case_no).events}
        assert events["rating"] == "4" and events["rating_comment"] == "The expert was quick and clear."
        assert figures(s).satisfaction() == (4.0, 1)


def test_a_rating_from_another_chat_is_not_recorded(gateway):
    api, url, case_no, _ = gateway
    with session_scope(url) as s:
        add_event(s, case_no, "closed", "staff", "")
    other = 777
    api.push_message(other, "hello", user_id=other)  # Rasa is not there: the gateway apologises in that chat
    assert api.wait_for(lambda: api.bot_messages(other), timeout=30)
    message_id = api.bot_messages(other)[0]["message_id"]
    api.press_button(other, message_id, f"rate:{case_no}:1", user_id=other, check=False)  # a forged press
    assert api.wait_for(lambda: api.callback_answers(), timeout=30)
    assert api.callback_answers()[-1].get("text") == "This rating can no longer be recorded."
    with session_scope(url) as s:
        assert "rating" not in {e.kind for e in find_case(s, case_no).events}
