"""End-to-end: the Telegram gateway between a loopback Bot API server and the real Rasa + action servers.

The session stack's gateway long-polls `e2e.telegram`; a user is simulated by pushing updates to
that server and reading what the bot sent back. Tests that need other gateway settings (a small
message limit, a tight rate limit, Rasa unreachable, webhook mode) start their own gateway process
with its own loopback Bot API server, talking to the same real Rasa.
"""

from __future__ import annotations

import itertools
import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from actions import messages
from bot.stack import ROOT, Stack, free_port, http_get
from tests.telegram_api import FakeBotApi

pytestmark = pytest.mark.e2e

_chats = itertools.count(7_000_001)


def new_chat() -> int:
    """A chat id no other test uses."""
    return next(_chats)


def texts(api: FakeBotApi, chat: int) -> list[str]:
    return [m["text"] for m in api.bot_messages(chat)]


def accepts_connections(port: int) -> bool:
    """Whether something listens on 127.0.0.1:`port`."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def wait_for_text(api: FakeBotApi, chat: int, fragment: str, timeout: float = 60) -> dict:
    """The first bot message in the chat that contains `fragment` (waits for it)."""

    def found() -> dict | None:
        return next((m for m in api.bot_messages(chat) if fragment in m["text"]), None)

    try:
        return api.wait_for(found, timeout=timeout)
    except TimeoutError:
        pytest.fail(f"no bot message with {fragment!r} in chat {chat}; the bot sent: {texts(api, chat)}")


def tracker(stack: Stack, chat: int) -> dict:
    status, body = http_get(stack.api_url(f"/conversations/tg-{chat}/tracker"))
    assert status == 200, body
    return json.loads(body)


def user_texts(stack: Stack, chat: int) -> list[str]:
    """What Rasa received from the chat, in order."""
    return [e.get("text") for e in tracker(stack, chat)["events"] if e["event"] == "user"]


# ---- the session stack's gateway -----------------------------------------------------------------


def test_a_chinese_question_gets_a_cited_answer_with_typing_shown(e2e):
    api, chat = e2e.telegram, new_chat()
    api.push_message(chat, "中日PPH需要提交哪些材料？", language_code="zh-hans")
    answer = wait_for_text(api, chat, "来源：")
    assert "来源：" in answer["text"] and messages.t("answers.disclaimer", "zh") in answer["text"]
    heading = len(answer["text"][: answer["text"].index("来源：")].encode("utf-16-le")) // 2
    assert any(e["type"] == "bold" and e["offset"] == heading for e in answer.get("entities", []))
    assert any(c.get("chat_id") == chat and c.get("action") == "typing" for c in api.calls_to("sendChatAction"))
    sent = [m for m in api.sent_messages(chat) if "来源：" in m["text"]]
    assert sent[0]["parse_mode"] == "HTML"
    assert user_texts(e2e.stack, chat) == ["中日PPH需要提交哪些材料？"]


def test_a_button_press_reaches_rasa_and_the_keyboard_goes_away(e2e):
    api, chat = e2e.telegram, new_chat()
    api.push_message(chat, "我收到了一封美国公司的专利侵权警告函，怎么办？", language_code="zh")
    offer = api.wait_for(lambda: next((m for m in api.bot_messages(chat) if m.get("reply_markup")), None), timeout=60)
    buttons = [b for row in offer["reply_markup"]["inline_keyboard"] for b in row]
    no = next(b for b in buttons if "/deny" in b["callback_data"] or "不" in b["text"])
    before = len(api.bot_messages(chat))
    api.press_button(chat, offer["message_id"], no["callback_data"])
    api.wait_for(lambda: len(api.bot_messages(chat)) > before, timeout=60)
    payload = no["callback_data"][2:]
    assert user_texts(e2e.stack, chat)[-1] == payload, "the button's payload did not reach Rasa"
    assert api.wait_for(lambda: "reply_markup" not in api.message(chat, offer["message_id"]), timeout=10)
    assert any(a.get("text") == no["text"] for a in api.callback_answers())


def test_start_gives_the_privacy_note_the_commands_and_a_welcome_with_the_disclaimer(e2e):
    api, chat = e2e.telegram, new_chat()
    api.push_message(chat, "/start", language_code="zh-hans")
    wait_for_text(api, chat, "隐私说明")
    welcome = wait_for_text(api, chat, "您好")
    assert "不构成法律意见" in welcome["text"]
    assert "/subscribe" in texts(api, chat)[0]
    assert [c["command"] for c in api.commands(language_code="zh")] == ["start", "help", "lang", "case", "subscribe"]
    assert [c["command"] for c in api.commands()] == ["start", "help", "lang", "case", "subscribe"]


def test_lang_sets_the_conversations_language_and_help_answers_in_it(e2e):
    api, chat = e2e.telegram, new_chat()
    api.push_message(chat, "/lang", language_code="zh")
    picker = api.wait_for(lambda: next((m for m in api.bot_messages(chat) if m.get("reply_markup")), None), timeout=30)
    api.press_button(chat, picker["message_id"], "lang:en")
    wait_for_text(api, chat, "Switched to English")
    wait_for_text(api, chat, "Hello")  # the welcome in the new language, which also sets the slot
    assert tracker(e2e.stack, chat)["slots"]["language"] == "en"
    api.push_message(chat, "/help", language_code="zh")
    wait_for_text(api, chat, "I can:")


def test_case_command_opens_the_case_form(e2e):
    api, chat = e2e.telegram, new_chat()
    api.push_message(chat, "/case", language_code="en")
    api.wait_for(lambda: texts(api, chat), timeout=60)
    assert tracker(e2e.stack, chat)["active_loop"].get("name") == "case_form", texts(api, chat)


def test_subscribe_command_starts_the_alert_subscription(e2e):
    api, chat = e2e.telegram, new_chat()
    api.push_message(chat, "/subscribe", language_code="zh")
    api.wait_for(lambda: texts(api, chat), timeout=60)
    assert tracker(e2e.stack, chat)["active_loop"].get("name") == "alert_subscription_form", texts(api, chat)


def test_a_photo_from_a_chat_without_a_case_is_told_files_belong_to_a_case(e2e):
    api, chat = e2e.telegram, new_chat()
    api.push_update(
        {
            "message": {
                "message_id": 1,
                "date": int(time.time()),
                "chat": {"id": chat, "type": "private", "first_name": "U"},
                "from": {"id": chat, "is_bot": False, "first_name": "U", "language_code": "en"},
                "photo": [{"file_id": f"photo-{chat}", "file_unique_id": f"photo-{chat}", "width": 10, "height": 10}],
            }
        }
    )
    wait_for_text(api, chat, "Files can only be added to a case")
    # this photo's id: the fake Bot API is shared by the session, whose other tests download their files
    assert f"photo-{chat}" not in api.downloads(), "a file was downloaded for a chat with no case"


# ---- gateways with their own settings ------------------------------------------------------------


class Gateway:
    """A gateway process with its own loopback Bot API server."""

    def __init__(self, api: FakeBotApi, process: subprocess.Popen, log: Path):
        self.api, self.process, self.log = api, process, log

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


@pytest.fixture
def start_gateway(e2e, tmp_path) -> Iterator:
    """Starts a gateway with extra environment settings; stops it after the test."""
    started: list[Gateway] = []

    def start(expect_exit: bool = False, **settings: str) -> Gateway:
        api = FakeBotApi(token="654321:OTHER").start()
        env = dict(os.environ, PYTHONPATH=str(ROOT), **e2e.stack.extra_env)
        env.update(
            TELEGRAM_TOKEN=api.token,
            TELEGRAM_BASE_URL=api.base_url,
            RASA_URL=e2e.stack.rasa_url,
            RASA_REST_TOKEN=e2e.stack.rest_token,
        )
        env.update(settings)
        log = tmp_path / f"gateway-{len(started)}.log"
        with open(log, "wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "bot.channels.telegram.gateway"],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        gateway = Gateway(api, process, log)
        started.append(gateway)
        api.wait_for(lambda: api.calls_to("setMyCommands") or process.poll() is not None, timeout=30)
        assert expect_exit or process.poll() is None, gateway.log_text()
        return gateway

    yield start
    for gateway in started:
        gateway.process.terminate()
        try:
            gateway.process.wait(10)
        except subprocess.TimeoutExpired:
            gateway.process.kill()
        gateway.api.stop()


def test_a_long_answer_arrives_split_under_the_message_limit(start_gateway):
    # A real answer (~600 characters with its sources) against a 250-character limit; the
    # 4,096-character limit itself is covered by the unit tests with texts that long.
    gateway = start_gateway(TELEGRAM_MAX_CHARS="250")
    api, chat = gateway.api, new_chat()
    api.push_message(chat, "What does RCEP say about bad-faith trademark applications?", language_code="en")
    api.wait_for(lambda: any(messages.t("answers.disclaimer", "en") in t for t in texts(api, chat)), timeout=60)
    parts = texts(api, chat)
    assert len(parts) >= 2 and all(len(p) <= 250 for p in parts), parts
    joined = "\n".join(parts)
    assert "Sources:" in joined and "›" in joined and "knowledge/" not in joined


def test_rasa_unreachable_gives_a_polite_reply_and_logs_the_error(start_gateway):
    gateway = start_gateway(RASA_URL=f"http://127.0.0.1:{free_port()}")
    api, chat = gateway.api, new_chat()
    api.push_message(chat, "中日PPH需要提交哪些材料？", language_code="zh")
    wait_for_text(api, chat, "助手暂时无法回复", timeout=30)
    api.push_message(chat, "How long does a PPH request take?", language_code="en")
    wait_for_text(api, chat, "cannot reply right now", timeout=30)
    assert "Rasa did not answer chat" in gateway.log_text()
    assert gateway.process.poll() is None, "the gateway must keep running"


def test_a_flood_of_messages_is_rate_limited(start_gateway, e2e):
    gateway = start_gateway(RATE_LIMIT_MESSAGES="3", RATE_LIMIT_SECONDS="60")
    api, chat = gateway.api, new_chat()
    for n in range(12):
        api.push_message(chat, f"hello {n}", language_code="en")
    wait_for_text(api, chat, "sending messages too quickly", timeout=30)
    api.wait_for(lambda: len(user_texts(e2e.stack, chat)) >= 3, timeout=60)
    time.sleep(2)  # give any wrongly forwarded message time to arrive before counting
    assert user_texts(e2e.stack, chat) == ["hello 0", "hello 1", "hello 2"]
    assert sum("too quickly" in t for t in texts(api, chat)) == 1, "told once, not once per message"
    other = new_chat()  # the limit is per chat
    api.push_message(other, "hello", language_code="en")
    wait_for_text(api, other, "Hello")


@pytest.mark.parametrize("secret", ["", "short-secret"])
def test_webhook_mode_does_not_start_without_a_long_secret(start_gateway, secret):
    port = free_port()
    gateway = start_gateway(
        expect_exit=True,
        TELEGRAM_WEBHOOK_URL=f"http://127.0.0.1:{port}/telegram/hook",
        TELEGRAM_WEBHOOK_PORT=str(port),
        TELEGRAM_WEBHOOK_SECRET=secret,
    )
    assert gateway.process.wait(30) == 2
    assert "TELEGRAM_WEBHOOK_SECRET must be set" in gateway.log_text()
    assert not gateway.api.webhook.get("url"), "no webhook was registered"


def test_webhook_mode_registers_the_webhook_and_answers_posted_updates(start_gateway):
    secret = secrets.token_hex(32)
    port = free_port()
    url = f"http://127.0.0.1:{port}/telegram/hook"
    gateway = start_gateway(
        TELEGRAM_WEBHOOK_URL=url,
        TELEGRAM_WEBHOOK_LISTEN="127.0.0.1",
        TELEGRAM_WEBHOOK_PORT=str(port),
        TELEGRAM_WEBHOOK_SECRET=secret,
    )
    api, chat = gateway.api, new_chat()
    assert api.wait_for(lambda: api.webhook.get("url") == url, timeout=30)
    # python-telegram-bot registers the webhook first and starts listening just after (Telegram retries
    # a delivery that finds no server); on a busy machine that gap is seconds, so wait for the port.
    assert api.wait_for(lambda: accepts_connections(port), timeout=30), "the webhook server never listened"
    update = {
        "update_id": 1,
        "message": {
            "message_id": 1,
            "date": int(time.time()),
            "chat": {"id": chat, "type": "private", "first_name": "U"},
            "from": {"id": chat, "is_bot": False, "first_name": "U", "language_code": "en"},
            "text": "hello",
        },
    }

    def post(secret: str) -> int:
        request = urllib.request.Request(
            url,
            data=json.dumps(update).encode(),
            headers={"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": secret},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code

    assert post("wrong") == 403
    assert post(secret) == 200
    wait_for_text(api, chat, "Hello")
    assert len([t for t in texts(api, chat) if "Hello" in t]) == 1, "the update with the wrong secret was handled"
