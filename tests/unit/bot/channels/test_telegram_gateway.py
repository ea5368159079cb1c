"""The Telegram gateway's rendering: escaping, splitting at Telegram's limit, buttons and their callback data.

The rendered HTML is parsed with the loopback Bot API server's parser (the Bot API's own rules), so
"cannot break rendering" is checked against what Telegram would accept, not against our own idea.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys

import httpx
import pytest

from actions import messages
from actions.settings import Settings
from bot.channels.telegram.gateway import (
    CALLBACK_DATA_MAX_BYTES,
    TELEGRAM_MAX_CHARS,
    ButtonPayloads,
    Gateway,
    render,
    sender_id,
    split_text,
    to_html,
)
from bot.stack import ROOT
from tests.telegram_api import parse_text

NASTY = [
    "<b>not bold</b> & <script>alert(1)</script>",
    "*stars* _underscores_ [a link](http://x) `code` ~tilde~ ||spoiler||",
    "a < b > c && d; 5 > 3 and 2 < 4; &amp; stays literal",
    "来源：\n[1] 中日PPH › 所需材料 — knowledge/pph/cn-jp-pph.md，https://www.cnipa.gov.cn/，审核日期 2026-11-01",
    "Case IP-2026-000123 is open.",
]


@pytest.mark.parametrize("text", NASTY)
def test_any_text_renders_as_itself(text):
    shown, _ = parse_text(to_html(text), "HTML")
    assert shown == text


def test_sources_heading_and_case_ids_are_bold():
    _, entities = parse_text(to_html("Sources:\n[1] x\n\nYour case IP-2026-000123"), "HTML")
    assert [e["type"] for e in entities] == ["bold", "bold"]


def utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


@pytest.mark.parametrize(
    "text",
    [
        "第一段。" * 1500,  # Chinese with sentence ends only
        "\n\n".join(f"Paragraph {i}: " + "word " * 300 for i in range(8)),
        "x" * 9000,  # no break anywhere: hard cut
        "😀" * 3000,  # astral characters count twice in UTF-16
    ],
)
def test_long_texts_are_split_under_the_limit_without_losing_words(text):
    parts = split_text(text, TELEGRAM_MAX_CHARS)
    assert len(parts) > 1
    assert all(utf16(p) <= TELEGRAM_MAX_CHARS for p in parts)
    assert "".join(p.replace("\n", "").replace(" ", "") for p in parts) == text.replace("\n", "").replace(" ", "")


def test_a_short_text_is_one_message():
    assert split_text("你好", TELEGRAM_MAX_CHARS) == ["你好"]


def test_rasa_messages_of_one_reply_are_joined_and_buttons_go_with_the_last_part():
    reply = [
        {"recipient_id": "tg-1", "text": "First paragraph."},
        {"recipient_id": "tg-1", "text": "Second paragraph."},
        {"recipient_id": "tg-1", "custom": {"citations": [{"path": "knowledge/pph/a.md"}]}},
        {
            "recipient_id": "tg-1",
            "text": "Open a case?",
            "buttons": [{"title": "Yes", "payload": "/affirm"}, {"title": "No", "payload": "/deny"}],
        },
        {"recipient_id": "tg-1", "text": "Anything else?"},
    ]
    out = render(reply, ButtonPayloads(), TELEGRAM_MAX_CHARS)
    assert [text for text, _ in out] == ["First paragraph.\n\nSecond paragraph.\n\nOpen a case?", "Anything else?"]
    keyboard = out[0][1]
    assert [[b.text for b in row] for row in keyboard.inline_keyboard] == [["Yes"], ["No"]]
    assert out[1][1] is None
    assert "citations" not in out[0][0]


def test_a_long_reply_with_buttons_keeps_the_buttons_on_the_last_message():
    reply = [{"text": "长答案。" * 1200, "buttons": [{"title": "好", "payload": "/affirm"}]}]
    out = render(reply, ButtonPayloads(), TELEGRAM_MAX_CHARS)
    assert len(out) == 2 and out[0][1] is None and out[1][1] is not None


def test_button_payloads_fit_telegrams_callback_data_and_come_back():
    buttons = ButtonPayloads(capacity=2)
    short = '/inform{"country":"JP"}'
    long = '/inform{"case_description":"' + "很长的描述" * 10 + '"}'
    data = [buttons.encode(p) for p in (short, long)]
    assert all(len(d.encode()) <= CALLBACK_DATA_MAX_BYTES for d in data)
    assert [buttons.decode(d) for d in data] == [short, long]
    buttons.encode(long + "a")
    buttons.encode(long + "b")  # the oldest stored payload is forgotten
    assert buttons.decode(data[1]) is None
    assert buttons.decode("case:IP-2026-000001:accept") is None  # not ours


def test_each_chat_is_one_conversation():
    assert sender_id(12345) == "tg-12345"
    assert sender_id(-100987) == "tg--100987"


def test_without_a_token_the_gateway_says_why_and_does_not_start(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "TELEGRAM_TOKEN": ""}
    result = subprocess.run(
        [sys.executable, "-m", "bot.channels.telegram.gateway"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "TELEGRAM_TOKEN is not set" in result.stderr and "BotFather" in result.stderr


def test_an_unexpected_reply_from_rasa_is_reported_without_its_text():
    gateway = Gateway(Settings(telegram_token="", rasa_url="http://127.0.0.1:9"))
    reply = {"error": "user zhang@example.com wrote: 我们的机床被扣了"}
    gateway.http = httpx.AsyncClient(transport=httpx.MockTransport(lambda request: httpx.Response(200, json=reply)))
    with pytest.raises(ValueError) as failure:
        asyncio.run(gateway.ask_rasa(42, "hello", {}))
    assert str(failure.value) == "unexpected reply from Rasa: a dict, not a list"


def test_the_privacy_note_says_what_is_kept_for_how_long_and_the_right_to_a_copy_or_deletion():
    zh, en = messages.every_language("telegram.privacy")
    assert "结案一年后" in zh and "个人信息保护法" in zh and "副本或删除" in zh
    assert "one year after the case is closed" in en and "Personal Information Protection Law" in en
    assert "copy or for deletion" in en
