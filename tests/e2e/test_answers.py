"""End-to-end: the real Rasa server and action server on free ports, spoken to over REST.

Started once per session; needs the trained model and the knowledge index (`make test-e2e`
builds both first).
"""

from __future__ import annotations

import time
import uuid

import pytest

from actions import messages
from actions.language import detect_language
from bot.stack import Stack

pytestmark = pytest.mark.e2e


@pytest.fixture
def stack(e2e):
    return e2e.stack


def ask(stack: Stack, message: str) -> tuple[list[str], list[dict]]:
    """The bot's text messages and custom payloads for one message from a new user."""
    reply = stack.say(message, sender=f"e2e-{uuid.uuid4().hex[:8]}")
    return [m["text"] for m in reply if "text" in m], [m["custom"] for m in reply if "custom" in m]


def test_chinese_pph_question_gets_a_chinese_answer_citing_a_pph_file(stack):
    texts, customs = ask(stack, "中日PPH需要提交哪些材料？")
    assert customs and customs[0]["answered"] and customs[0]["language"] == "zh"
    assert customs[0]["citations"][0]["path"].startswith("knowledge/pph/")
    assert detect_language(texts[0]) == "zh" and texts[0].endswith("[1]")
    joined = "\n\n".join(texts)
    assert "来源：" in joined and "›" in joined and messages.t("answers.disclaimer", "zh") in joined
    assert "knowledge/" not in joined  # people see title › section and a link, not repository paths


def test_english_rcep_question_gets_an_english_answer_citing_an_rcep_file(stack):
    texts, customs = ask(stack, "What does RCEP say about bad-faith trademark applications?")
    assert customs and customs[0]["answered"] and customs[0]["language"] == "en"
    assert customs[0]["citations"][0]["path"].startswith("knowledge/rcep/")
    assert detect_language(texts[0]) == "en"
    joined = "\n\n".join(texts)
    assert "Sources:" in joined and "›" in joined and messages.t("answers.disclaimer", "en") in joined
    assert "knowledge/" not in joined


@pytest.mark.parametrize("message", ["asdkjh qwpoeiru zmxncb", "PPH for growing bananas on the moon?"])
def test_nonsense_gets_no_answer_and_no_citation(stack, message):
    texts, customs = ask(stack, message)
    assert texts, "the bot must never stay silent"
    assert not any(c.get("answered") for c in customs)
    assert all(not c.get("citations") for c in customs)
    assert any(
        t == messages.t("answers.no_answer", "en") or "rephrase" in t or "outside what I can help with" in t
        for t in texts
    ), texts


@pytest.mark.parametrize(("message", "expected"), [("你好", "您好"), ("hello", "Hello")])
def test_greeting_in_the_users_language(stack, message, expected):
    texts, _ = ask(stack, message)
    assert texts and texts[0].startswith(expected)


def wait_for(predicate, timeout: float = 60.0):
    """Polls until predicate() returns something truthy; returns it (or the last falsy value)."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(1)


def test_an_edited_knowledge_file_is_answered_without_restart_and_a_broken_one_is_not(stack, e2e):
    question = "What does RCEP say about bad-faith trademark applications?"
    doc = e2e.workdir / "knowledge" / "rcep" / "trademarks.md"
    original = doc.read_text(encoding="utf-8")
    # The extract keeps the sentences that answer the question, so the staff edit is one that does.
    marker = "Staff note 4711: RCEP requires bad-faith trademark applications to be refused, check the local bad-faith rules first."
    head, sep, tail = original.partition("### en\n")  # the first English passage
    assert sep
    doc.write_text(head + sep + marker + " " + tail, encoding="utf-8")
    edited = wait_for(lambda: any(marker in t for t in ask(stack, question)[0]))
    assert edited, "the edit did not reach the answer within 60 s"

    doc.write_text("no front matter any more\n" + original, encoding="utf-8")
    log = e2e.workdir / "logs" / "actions.log"
    logged = wait_for(lambda: "rcep/trademarks.md:1: front matter" in log.read_text(encoding="utf-8", errors="replace"))
    assert logged, "the broken file's error (file:line: field) was not logged"
    texts, customs = ask(stack, question)
    assert customs[0]["answered"] and any(marker in t for t in texts), "the last good index keeps serving"
    doc.write_text(original, encoding="utf-8")


def test_action_server_down_gives_a_polite_reply(stack):
    stack.stop(("actions",))
    try:
        texts, customs = ask(stack, "中日PPH需要提交哪些材料？")
        assert texts == ["抱歉，知识服务暂时不可用，请稍后再试。情况紧急时，请直接联系专业律师。"]
        texts, _ = ask(stack, "How do I request the China-Korea PPH?")
        assert texts and texts[0].startswith("Sorry, the knowledge service is temporarily unavailable")
    finally:
        stack.start(("actions",))
    _, customs = ask(stack, "What does RCEP say about bad-faith trademark applications?")
    assert customs and customs[0]["answered"], "answers again once the action server is back"
