"""End-to-end: the conversation tests tagged `smoke` (eval/conversations/) against the session's
stack (tests/conftest.py `e2e`), so `make test` runs the evaluators' fast subset without starting
another stack. The whole set runs with `make eval`."""

from __future__ import annotations

import pytest

from eval.toolkit.bot import RestBot
from eval.toolkit.conversations import render_transcript, run_conversation
from eval.toolkit.spec import load_conversations, select

pytestmark = pytest.mark.e2e


def test_the_smoke_conversations_pass_on_the_live_bot(e2e):
    conversations, errors = load_conversations()
    assert not errors, "\n".join(str(e) for e in errors)
    smoke = select(conversations, tags=["smoke"])
    assert smoke, "no conversation is tagged smoke"
    bot = RestBot(e2e.stack.rasa_url, e2e.database_url, rest_token=e2e.stack.rest_token, api_token=e2e.stack.api_token)
    failed = [result for result in (run_conversation(c, bot) for c in smoke) if not result.ok]
    assert not failed, "\n\n".join(render_transcript(result) for result in failed)
