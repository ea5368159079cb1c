"""The loopback Bot API (tests/telegram_api.py) driven by the real python-telegram-bot client.

These tests pin down that PTB works against `FakeBotApi` the way it works against Telegram, so that gateway tests
built on it mean something. Raw HTTP is used only to check the error JSON itself.
"""

from __future__ import annotations

import asyncio
import datetime as dtm
import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest, Conflict, Forbidden, RetryAfter, TimedOut
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from tests.telegram_api import FakeBotApi

TOKEN = "123456:TEST"
USER = 42


@pytest.fixture
def api() -> Iterator[FakeBotApi]:
    with FakeBotApi(token=TOKEN) as server:
        yield server


def make_bot(api: FakeBotApi) -> Bot:
    return Bot(api.token, base_url=api.base_url)


def raw_post(url: str, data: bytes = b"") -> tuple[int, dict]:
    """POST without any client library or proxy, returning (HTTP status, decoded JSON)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/x-www-form-urlencoded"})
    try:
        with opener.open(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def seconds(value: int | dtm.timedelta) -> float:
    """PTB 22 gives retry_after as int or timedelta depending on PTB_TIMEDELTA."""
    return value.total_seconds() if isinstance(value, dtm.timedelta) else float(value)


def test_get_me_returns_the_bot(api: FakeBotApi) -> None:
    async def scenario() -> None:
        async with make_bot(api) as bot:  # initialize() calls getMe
            me = await bot.get_me()
        assert (me.id, me.is_bot, me.username) == (123456, True, api.bot_user["username"])
        assert bot.username == api.bot_user["username"]

    asyncio.run(scenario())
    assert [method for method, _ in api.calls] == ["getMe", "getMe"]


def test_send_message_with_an_inline_keyboard_is_recorded(api: FakeBotApi) -> None:
    keyboard = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton("是 / Yes", callback_data="case:yes"),
                InlineKeyboardButton("否", callback_data="no"),
            ],
            [InlineKeyboardButton("PPH 指南", url="https://example.com/pph")],
        ]
    )

    async def scenario() -> None:
        async with make_bot(api) as bot:
            first = await bot.send_message(
                USER, "<b>专利</b>侵权 &amp; PPH", parse_mode=ParseMode.HTML, reply_markup=keyboard
            )
            second = await bot.send_message(USER, "第二条")
            await bot.send_chat_action(USER, "typing")
        # Telegram's answer, parsed by PTB: markup stripped, entities in UTF-16 units, the keyboard echoed back.
        assert first.text == "专利侵权 & PPH"
        assert [(e.type, e.offset, e.length) for e in first.entities] == [("bold", 0, 2)]
        assert first.from_user.id == 123456 and first.chat.id == USER and first.date.year >= 2024
        assert first.reply_markup == keyboard
        assert second.message_id == first.message_id + 1
        assert second.reply_markup is None

    asyncio.run(scenario())
    sent = api.sent_messages(USER)
    assert [m["text"] for m in sent] == ["<b>专利</b>侵权 &amp; PPH", "第二条"]
    assert sent[0]["chat_id"] == USER and sent[0]["parse_mode"] == "HTML"
    buttons = sent[0]["reply_markup"]["inline_keyboard"]
    assert [[b["text"] for b in row] for row in buttons] == [["是 / Yes", "否"], ["PPH 指南"]]
    assert [b.get("callback_data") for b in buttons[0]] == ["case:yes", "no"]
    assert api.sent_messages(7) == []
    assert api.calls_to("sendChatAction") == [{"chat_id": USER, "action": "typing"}]


def test_an_application_gets_messages_and_button_presses(api: FakeBotApi) -> None:
    seen_texts: list[str] = []
    presses: list[tuple[str, int, str]] = []

    async def on_start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await update.message.reply_text("欢迎 / Welcome")

    async def on_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        seen_texts.append(update.message.text)
        await update.message.reply_text(
            "需要专家吗？",
            reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton("要", callback_data="expert:yes")]]),
        )

    async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        await query.answer("好的")
        presses.append((query.data, query.message.message_id, query.message.text))
        await query.edit_message_text("已转交专家")  # no reply_markup: Telegram drops the keyboard

    async def scenario() -> None:
        app: Application = ApplicationBuilder().token(api.token).base_url(api.base_url).build()
        app.add_handler(CommandHandler("start", on_start))
        app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, on_text))
        app.add_handler(CallbackQueryHandler(on_button))
        await app.initialize()
        await app.start()
        await app.updater.start_polling(poll_interval=0.05, timeout=1)
        try:
            api.push_message(USER, "/start", username="exporter", language_code="zh-hans")
            await api.wait_for_async(lambda: api.sent_messages(USER))
            assert api.sent_messages(USER)[0]["text"] == "欢迎 / Welcome"

            api.push_message(USER, "我的专利在德国被投诉了")
            question = (await api.wait_for_async(lambda: api.bot_messages(USER)[1:]))[0]
            assert question["text"] == "需要专家吗？"

            api.press_button(USER, question["message_id"], "expert:yes")
            await api.wait_for_async(lambda: api.calls_to("editMessageText"))
        finally:
            await app.updater.stop()
            await app.stop()
            await app.shutdown()

    asyncio.run(scenario())
    assert seen_texts == ["我的专利在德国被投诉了"]  # "/start" went to the CommandHandler only
    question = api.bot_messages(USER)[1]
    assert presses == [("expert:yes", question["message_id"], "需要专家吗？")]
    assert [a["text"] for a in api.callback_answers()] == ["好的"]
    assert question["text"] == "已转交专家" and "reply_markup" not in question and "edit_date" in question
    assert api.pending_updates() == []  # everything was confirmed by the next getUpdates offset
    assert api.failed_calls == []


def test_a_429_surfaces_as_retry_after(api: FakeBotApi) -> None:
    api.fail_next("sendMessage", error_code=429, retry_after=3)

    async def scenario() -> None:
        async with make_bot(api) as bot:
            with pytest.raises(RetryAfter) as caught:
                await bot.send_message(USER, "第一次")
            assert seconds(caught.value.retry_after) == 3
            await bot.send_message(USER, "第二次")  # only the next call fails

    asyncio.run(scenario())
    assert [m["text"] for m in api.sent_messages()] == ["第二次"]
    [failed] = api.failed_calls
    assert (failed.method, failed.error_code, failed.params["text"]) == ("sendMessage", 429, "第一次")


def test_other_injected_errors_map_to_ptb_exceptions(api: FakeBotApi) -> None:
    api.fail_next("sendMessage", error_code=403)
    api.fail_next("sendMessage", error_code=400, description="Bad Request: chat not found")

    async def scenario() -> None:
        async with make_bot(api) as bot:
            with pytest.raises(Forbidden, match="bot was blocked by the user"):
                await bot.send_message(USER, "a")
            with pytest.raises(BadRequest, match="Chat not found"):
                await bot.send_message(USER, "b")

    asyncio.run(scenario())
    assert api.sent_messages() == [] and [c.error_code for c in api.failed_calls] == [403, 400]


def test_the_error_json_is_telegrams(api: FakeBotApi) -> None:
    api.fail_next("sendMessage", error_code=429, retry_after=7)
    assert raw_post(f"{api.base_url}{api.token}/sendMessage", b"chat_id=1&text=hi") == (
        429,
        {
            "ok": False,
            "error_code": 429,
            "description": "Too Many Requests: retry after 7",
            "parameters": {"retry_after": 7},
        },
    )
    assert raw_post(f"{api.base_url}999:WRONG/getMe") == (
        401,
        {"ok": False, "error_code": 401, "description": "Unauthorized"},
    )
    assert raw_post(f"{api.base_url}{api.token}/sendPigeon") == (
        404,
        {"ok": False, "error_code": 404, "description": "Not Found"},
    )
    # Method names are case-insensitive on Telegram.
    status, body = raw_post(f"{api.base_url}{api.token}/GETME")
    assert status == 200 and body["result"]["id"] == 123456


def test_offset_confirms_updates(api: FakeBotApi) -> None:
    async def scenario() -> None:
        async with make_bot(api) as bot:
            first = api.push_message(USER, "一")
            again = await bot.get_updates(timeout=0)
            assert [u.update_id for u in await bot.get_updates(timeout=0)] == [first] == [u.update_id for u in again]

            second = api.push_message(USER, "二")
            updates = await bot.get_updates(offset=first + 1, timeout=0)  # confirms the first
            assert [(u.update_id, u.message.text) for u in updates] == [(second, "二")]
            assert await bot.get_updates(offset=second + 1, timeout=0) == ()
            assert await bot.get_updates(timeout=0) == ()  # confirmed updates are gone for good

    asyncio.run(scenario())
    assert api.pending_updates() == []


def test_a_long_poll_returns_as_soon_as_an_update_arrives(api: FakeBotApi) -> None:
    async def scenario() -> None:
        async with make_bot(api) as bot:
            started = time.monotonic()
            poll = asyncio.create_task(bot.get_updates(timeout=5))
            await asyncio.sleep(0.2)
            assert not poll.done()
            update_id = api.push_message(USER, "在吗？")
            updates = await asyncio.wait_for(poll, 2)
            assert [u.update_id for u in updates] == [update_id]
            assert time.monotonic() - started < 2

            started = time.monotonic()
            assert await bot.get_updates(offset=update_id + 1, timeout=1) == ()  # an empty poll waits its timeout
            assert 0.9 < time.monotonic() - started < 3

    asyncio.run(scenario())


def test_a_button_press_carries_the_bots_message(api: FakeBotApi) -> None:
    async def scenario() -> None:
        async with make_bot(api) as bot:
            keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("查看", callback_data="show")]])
            sent = await bot.send_message(USER, "案件 #1", reply_markup=keyboard)
            api.press_button(USER, sent.message_id, "show")
            [update] = await bot.get_updates(timeout=0)
            query = update.callback_query
            assert query.message.message_id == sent.message_id and query.message.text == "案件 #1"
            assert query.from_user.id == USER and query.data == "show"
            assert await query.answer() is True
            with pytest.raises(BadRequest, match="Query is too old"):
                await query.answer()  # a query is answered once
            edited = await query.edit_message_reply_markup(None)
            assert edited.reply_markup is None
            with pytest.raises(BadRequest, match="Message is not modified"):
                await query.edit_message_reply_markup(None)

    asyncio.run(scenario())
    with pytest.raises(ValueError, match="no button"):
        api.press_button(USER, 1, "show")  # the keyboard is gone


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("<div>专利</div>", 'Unsupported start tag "div" at byte offset 0'),
        ("<b>未闭合", 'Can\'t find end tag corresponding to start tag "b"'),
        ("a <b>c</i>", 'Unmatched end tag at byte offset 6, expected "</b>", found "</i>"'),
    ],
)
def test_markup_telegram_rejects_is_rejected(api: FakeBotApi, text: str, error: str) -> None:
    async def scenario() -> None:
        async with make_bot(api) as bot:
            with pytest.raises(BadRequest, match="(?i)can't parse entities"):
                await bot.send_message(USER, text, parse_mode=ParseMode.HTML)

    asyncio.run(scenario())
    assert api.sent_messages() == []
    # Telegram's exact text (PTB strips "Bad Request: " and changes the case).
    assert [c.description for c in api.failed_calls] == [f"Bad Request: can't parse entities: {error}"]


@pytest.mark.parametrize("parse_mode", [ParseMode.MARKDOWN, ParseMode.MARKDOWN_V2, "BBCode"])
def test_parse_modes_other_than_html_are_refused(api: FakeBotApi, parse_mode: str) -> None:
    async def scenario() -> None:
        async with make_bot(api) as bot:
            with pytest.raises(BadRequest, match="(?i)unsupported parse_mode"):
                await bot.send_message(USER, "*粗体*", parse_mode=parse_mode)

    asyncio.run(scenario())
    assert api.sent_messages() == []
    assert [(c.error_code, c.description) for c in api.failed_calls] == [(400, "Bad Request: unsupported parse_mode")]


def test_telegram_limits_are_enforced(api: FakeBotApi) -> None:
    async def scenario() -> None:
        async with make_bot(api) as bot:
            too_long = InlineKeyboardMarkup([[InlineKeyboardButton("选", callback_data="案件" * 11)]])  # 66 bytes
            with pytest.raises(BadRequest, match="Button_data_invalid"):
                await bot.send_message(USER, "x", reply_markup=too_long)
            with pytest.raises(BadRequest, match="Message is too long"):
                await bot.send_message(USER, "长" * 4097)
            with pytest.raises(BadRequest, match="Message text is empty"):
                await bot.send_message(USER, "<b> </b>", parse_mode=ParseMode.HTML)

    asyncio.run(scenario())
    assert api.sent_messages() == []


def test_a_slow_method_times_out_but_still_takes_effect(api: FakeBotApi) -> None:
    api.delay("sendMessage", 1.0, times=1)

    async def scenario() -> None:
        async with make_bot(api) as bot:
            with pytest.raises(TimedOut):
                await bot.send_message(USER, "慢", read_timeout=0.2)
            fast = await bot.send_message(USER, "快", read_timeout=2)
            assert fast.text == "快"

    asyncio.run(scenario())
    assert [m["text"] for m in api.sent_messages(USER)] == [
        "慢",
        "快",
    ]  # like Telegram: the answer was lost, not the message


def test_webhooks_commands_and_polling_conflicts(api: FakeBotApi) -> None:
    async def scenario() -> None:
        async with make_bot(api) as bot:
            await bot.set_my_commands([("start", "开始"), ("expert", "联系专家")])
            assert [(c.command, c.description) for c in await bot.get_my_commands()] == [
                ("start", "开始"),
                ("expert", "联系专家"),
            ]
            with pytest.raises(BadRequest, match="Bot_command_invalid"):
                await bot.set_my_commands([("Start", "uppercase is not allowed")])

            assert await bot.set_webhook("https://bot.example.com/telegram", secret_token="s3cret")
            info = await bot.get_webhook_info()
            assert info.url == "https://bot.example.com/telegram"
            with pytest.raises(Conflict, match="webhook is active"):
                await bot.get_updates(timeout=0)
            assert await bot.delete_webhook()
            assert (await bot.get_webhook_info()).url == ""

            # A second instance of the bot polling terminates the first one's long poll, as on Telegram.
            poll = asyncio.create_task(bot.get_updates(timeout=5))
            await asyncio.sleep(0.1)
            async with make_bot(api) as second_instance:
                assert await second_instance.get_updates(timeout=0) == ()
            with pytest.raises(Conflict, match="terminated by other getUpdates request"):
                await poll

    asyncio.run(scenario())
    assert api.webhook == {"url": ""}
    assert api.commands() == [
        {"command": "start", "description": "开始"},
        {"command": "expert", "description": "联系专家"},
    ]


def test_wait_for_reports_what_happened() -> None:
    with FakeBotApi(token=TOKEN) as api:
        api.push_message(USER, "hello")
        assert api.wait_for(lambda: api.pending_updates(), timeout=1)[0]["message"]["text"] == "hello"
        with pytest.raises(TimeoutError, match="pending updates: 1"):
            api.wait_for(lambda: api.sent_messages(), timeout=0.1)
    api.stop()  # stopping twice is harmless
