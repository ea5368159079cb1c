"""The Telegram gateway: enterprises chat with the bot in Telegram.

    python -m bot.channels.telegram.gateway      # started by `make run` when TELEGRAM_TOKEN is set

Each Telegram chat is one Rasa conversation (sender id `tg-<chat_id>`, the id the case and alert
notifications are addressed to). A message goes to Rasa's REST channel and the bot's reply comes
back as Telegram messages: the texts of one reply joined as they were written, escaped for
Telegram's HTML mode so that nothing in an answer can break the rendering, split at paragraph
boundaries when longer than Telegram's 4,096 characters, and Rasa's buttons as an inline keyboard.
"typing…" shows while Rasa works. Commands: /start, /help, /lang, /case, /subscribe. A PDF or photo
(a warning letter, a customs notice) is stored with the chat's open case (actions/cases/documents.py). A reply to
one of the bot's case messages is relayed instead of going to Rasa: the enterprise's to an expert's message reaches
that expert, an expert's to a case message reaches the case's enterprise (actions/cases/service.py).

This is the one process that receives the bot's updates (Telegram allows a single consumer), so it
also takes the experts' Accept / Decline presses on case offers and hands them to the notifier's
logic. Long polling by default; webhook mode when TELEGRAM_WEBHOOK_URL is set.

python-telegram-bot runs the process: `main()` builds the Application and calls its run_polling or
run_webhook, which stop on SIGINT / SIGTERM and shut down in order. The Application's post_init opens
the HTTP client for Rasa and sets the command menu (`Gateway.start`), its post_shutdown closes the
client (`Gateway.stop`), and one error handler (`Gateway.on_error`) takes every failure. Updates are
handled concurrently; what the gateway remembers about a chat (its language, rate limit, and a lock
that keeps its messages in order) is that chat's `context.chat_data`, a `ChatState`.

Bad input never crashes it: a file that is too large or not a PDF/JPEG/PNG, another non-text message or an expired button gets a polite reply, Rasa
being unreachable gets an apology in the chat's language (and the error in the log), and a chat
that floods the bot is told to slow down instead of being forwarded.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
import re
import sys
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

import httpx
from aiolimiter import AsyncLimiter
from langchain_text_splitters import RecursiveCharacterTextSplitter
from sqlalchemy.exc import SQLAlchemyError
from telegram import (
    BotCommand,
    CallbackQuery,
    Chat,
    Document,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    PhotoSize,
    Update,
)
from telegram.constants import ChatAction, ParseMode
from telegram.ext import (
    AIORateLimiter,
    Application,
    CallbackContext,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    ExtBot,
    MessageHandler,
    filters,
)

from actions.cases.documents import DocumentRefused, document_case, refuse_declared_size, store_document
from actions.cases.experts import load_experts
from actions.cases.service import (
    case_message_to_expert,
    enterprise_reply,
    expert_reply,
    record_rating,
    record_rating_comment,
    relayed_to_enterprise,
    satisfaction_question,
)
from actions.cases.staff import load_staff
from actions.channels import telegram_sender_id
from actions.language import EN, ZH, detect_language
from actions.messages import group, t
from actions.privacy import get_logger
from actions.safe_text import channel_text
from actions.settings import TELEGRAM_MAX_CHARS, Settings, get_settings
from actions.store import Case, session_scope

logger = get_logger("telegram_gateway")  # control characters escaped; chats are named by id

# Telegram allows 1–256 characters A-Z, a-z, 0-9, _ and - for the webhook secret; 32 at least here.
MIN_WEBHOOK_SECRET = 32
WEBHOOK_SECRET_CHARS = re.compile(r"[A-Za-z0-9_-]{1,256}")
CALLBACK_DATA_MAX_BYTES = 64  # Bot API limit for a button's callback data


def webhook_problem(settings: Settings) -> str | None:
    """Why webhook mode must not start (None when it may): without a long secret anyone could post updates."""
    if not settings.telegram_webhook_url:
        return None
    secret = settings.telegram_webhook_secret
    if len(secret) < MIN_WEBHOOK_SECRET or not WEBHOOK_SECRET_CHARS.fullmatch(secret):
        return (
            f"TELEGRAM_WEBHOOK_SECRET must be set to a random value of {MIN_WEBHOOK_SECRET}–256 characters "
            "(A–Z, a–z, 0–9, _ and -; e.g. `openssl rand -hex 32`) when TELEGRAM_WEBHOOK_URL is set: without it "
            "anyone who finds the webhook address could post forged updates"
        )
    return None


COMMANDS = {  # Telegram command → the Rasa intent it stands for
    "help": "help",
    "case": "ask_expert",
    "subscribe": "subscribe_alerts",
}

_SOURCES_LINE = re.compile(r"^(来源：|Sources:)", re.MULTILINE)
_CASE_ID = re.compile(r"\bIP-\d{4}-\d{6}\b")


def sender_id(chat_id: int) -> str:
    """The Rasa sender id of a Telegram chat (case and alert notifications are addressed to it)."""
    return telegram_sender_id(chat_id)


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def split_text(text: str, limit: int = TELEGRAM_MAX_CHARS) -> list[str]:
    """Splits a text into messages of at most `limit` characters, at paragraph, line or sentence ends."""
    if _utf16_len(text) <= limit:
        return [text]
    splitter = RecursiveCharacterTextSplitter(
        chunk_size=limit,
        chunk_overlap=0,
        length_function=_utf16_len,
        separators=["\n\n", "\n", "。", ". ", "；", "; ", "，", ", ", " ", ""],
        keep_separator="end",
    )
    return [chunk for chunk in splitter.split_text(text) if chunk.strip()]


def to_html(text: str) -> str:
    """Telegram HTML for a plain bot text: everything escaped, the sources heading and case ids in bold."""
    escaped = html.escape(text, quote=False)
    escaped = _SOURCES_LINE.sub(lambda m: f"<b>{m.group(1)}</b>", escaped)
    return _CASE_ID.sub(lambda m: f"<b>{m.group(0)}</b>", escaped)


class ButtonPayloads:
    """Maps Rasa button payloads to Telegram callback data (at most 64 bytes) and back.

    A short payload travels in the callback data itself; a longer one is kept here under a short
    key (the most recent 10,000), so an old long button may expire — the user is then asked to type.
    """

    def __init__(self, capacity: int = 10_000):
        self.capacity = capacity
        self._stored: OrderedDict[str, str] = OrderedDict()
        self._next = 0

    def encode(self, payload: str) -> str:
        """The callback data for a payload."""
        data = "r:" + payload
        if len(data.encode("utf-8")) <= CALLBACK_DATA_MAX_BYTES:
            return data
        self._next += 1
        key = f"k:{self._next:x}"
        self._stored[key] = payload
        while len(self._stored) > self.capacity:
            self._stored.popitem(last=False)
        return key

    def decode(self, data: str) -> str | None:
        """The payload behind callback data, or None when it has expired or is not ours."""
        if data.startswith("r:"):
            return data[2:]
        return self._stored.get(data)


def render(
    messages: list[dict[str, Any]], buttons_map: ButtonPayloads, limit: int
) -> list[tuple[str, InlineKeyboardMarkup | None]]:
    """Telegram messages (HTML text, inline keyboard or None) for one reply of Rasa's REST channel.

    Texts are joined until a message that carries buttons, whose keyboard goes with the last part.
    Custom payloads (citations as data) are not shown: their content is already in the text.
    """
    out: list[tuple[str, InlineKeyboardMarkup | None]] = []
    pending: list[str] = []

    def flush(buttons: list[dict[str, Any]] | None) -> None:
        text = "\n\n".join(part for part in pending if part.strip())
        pending.clear()
        if not text and not buttons:
            return
        keyboard = None
        if buttons:
            rows = [
                [InlineKeyboardButton(str(b.get("title", ""))[:64], callback_data=buttons_map.encode(b["payload"]))]
                for b in buttons
                if b.get("payload")
            ]
            keyboard = InlineKeyboardMarkup(rows) if rows else None
        parts = split_text(text or "…", limit)
        for i, part in enumerate(parts):
            out.append((to_html(part), keyboard if i == len(parts) - 1 else None))

    for message in messages:
        if message.get("text"):
            pending.append(str(message["text"]))
        if message.get("image"):
            pending.append(str(message["image"]))
        if message.get("buttons"):
            flush(message["buttons"])
    flush(None)
    return out


@dataclass
class ChatState:
    """What the gateway remembers about one chat while it runs (python-telegram-bot's `context.chat_data`)."""

    language: str | None = None  # the language the chat last wrote in or chose
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # one message of the chat at a time, in order
    limiter: AsyncLimiter | None = None  # the chat's rate limit, made at its first message
    warned: bool = False  # told to slow down, until it is under the limit again


Context = CallbackContext[ExtBot[Any], dict[Any, Any], ChatState, dict[Any, Any]]


def _chat(update: Update, context: Context) -> tuple[Chat, ChatState]:
    """The update's chat and its state; every handler here gets updates from a chat."""
    chat, state = update.effective_chat, context.chat_data
    if chat is None or state is None:
        raise LookupError("an update without a chat")  # reaches on_error, which logs it
    return chat, state


def _query(update: Update) -> CallbackQuery:
    """The update's button press; the callback-query handlers get nothing else."""
    if update.callback_query is None:
        raise LookupError("an update without a button press")
    return update.callback_query


def _text(update: Update) -> str:
    """The text of the update's message ("" when it has none)."""
    message = update.effective_message
    return (message.text or "") if message is not None else ""


class Gateway:
    """Forwards Telegram chats to Rasa and Rasa's replies back to Telegram."""

    def __init__(self, settings: Settings, notifier: Any = None):
        self.settings = settings
        self.notifier = notifier  # bot.notifier.Notifier for the experts' Accept / Decline, or None
        self.buttons = ButtonPayloads()
        self.http: httpx.AsyncClient | None = None

    # ---- plumbing ------------------------------------------------------------------------------
    async def start(self, app: Application) -> None:
        """Opens the HTTP client for Rasa and registers the command menu (the application's post_init)."""
        headers = {"Authorization": f"Bearer {self.settings.rasa_rest_token}"} if self.settings.rasa_rest_token else {}
        self.http = httpx.AsyncClient(timeout=self.settings.rasa_timeout, headers=headers)
        for lang in (ZH, EN):
            commands = [(name, m.text(lang)) for name, m in group("telegram.menu").items()]
            with contextlib.suppress(Exception):  # a menu is nice to have; never a reason not to start
                await app.bot.set_my_commands(
                    [BotCommand(name, description) for name, description in commands],
                    language_code="zh" if lang == ZH else None,
                )

    async def stop(self, app: Application) -> None:
        """Closes the HTTP client (the application's post_shutdown)."""
        if self.http is not None:
            await self.http.aclose()

    def register(self, app: Application) -> None:
        """Adds the handlers and the error handler to a python-telegram-bot application."""
        app.add_handler(CommandHandler("start", self.on_start))
        app.add_handler(CommandHandler("lang", self.on_lang))
        for command in COMMANDS:
            app.add_handler(CommandHandler(command, self.on_command))
        if self.notifier is not None:
            app.add_handler(CallbackQueryHandler(self.notifier.on_callback, pattern=r"^case:"))
        app.add_handler(CallbackQueryHandler(self.on_language_button, pattern=r"^lang:"))
        app.add_handler(CallbackQueryHandler(self.on_rating, pattern=r"^rate:"))
        app.add_handler(CallbackQueryHandler(self.on_button))
        app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, self.on_text))
        app.add_handler(MessageHandler(filters.Document.ALL | filters.PHOTO, self.on_document))
        app.add_handler(MessageHandler(filters.ALL & ~filters.COMMAND & ~filters.StatusUpdate.ALL, self.on_other))
        app.add_error_handler(self.on_error)

    @staticmethod
    def language(update: Update, state: ChatState | None) -> str:
        """The chat's language: the last one it wrote in or chose, else its Telegram interface language."""
        if state is not None and state.language:
            return state.language
        user = update.effective_user
        code = (user.language_code or "") if user else ""
        return ZH if code.lower().startswith("zh") else EN

    async def _allowed(self, update: Update, context: Context) -> bool:
        """The per-chat rate limit: False (and, once, a request to slow down) when the chat floods."""
        chat, state = _chat(update, context)
        if state.limiter is None:
            state.limiter = AsyncLimiter(self.settings.rate_limit_messages, self.settings.rate_limit_seconds)
        if state.limiter.has_capacity():
            await state.limiter.acquire()
            state.warned = False
            return True
        logger.info("chat %s is over the rate limit; message not forwarded", chat.id)
        if not state.warned:
            state.warned = True
            await chat.send_message(t("telegram.too_fast", self.language(update, state)))
        return False

    async def _keep_typing(self, chat: Chat) -> None:
        while True:
            with contextlib.suppress(Exception):
                await chat.send_action(ChatAction.TYPING)
            await asyncio.sleep(4.5)  # Telegram shows the action for about 5 seconds

    async def ask_rasa(self, chat_id: int, message: str, metadata: dict[str, Any]) -> list[dict[str, Any]]:
        """Rasa's reply (a list of messages) to one message of a chat; raises when Rasa cannot answer."""
        assert self.http is not None, "start() first"
        response = await self.http.post(
            f"{self.settings.rasa_url}/webhooks/rest/webhook",
            json={"sender": sender_id(chat_id), "message": message, "metadata": metadata},
        )
        response.raise_for_status()
        reply = response.json()
        if not isinstance(reply, list):
            raise ValueError(f"unexpected reply from Rasa: a {type(reply).__name__}, not a list")  # never its text
        return reply

    async def converse(self, update: Update, context: Context, message: str) -> None:
        """Sends a message to Rasa for the update's chat and delivers the reply, showing "typing" meanwhile."""
        chat, state = _chat(update, context)
        user = update.effective_user
        metadata = {
            "channel": "telegram",
            "telegram": {
                "chat_id": chat.id,
                "user_id": user.id if user else None,
                "language_code": self.language(update, state),
            },
        }
        async with state.lock:  # one message of a chat at a time, in order; chats in parallel
            typing = asyncio.create_task(self._keep_typing(chat))
            try:
                reply = await self.ask_rasa(chat.id, message, metadata)
            except (httpx.HTTPError, ValueError) as exc:
                logger.error("Rasa did not answer chat %s: %r", chat.id, exc)
                reply = None
            finally:
                typing.cancel()
            if reply is None:
                await chat.send_message(t("telegram.rasa_down", self.language(update, state)))
                return
            for text, keyboard in render(reply, self.buttons, self.settings.telegram_max_chars):
                await chat.send_message(text, parse_mode=ParseMode.HTML, reply_markup=keyboard)

    # ---- handlers ------------------------------------------------------------------------------
    async def on_text(self, update: Update, context: Context) -> None:
        """A text message: forwarded to Rasa (within the rate limit). A reply to one of the bot's case messages
        is not: to the satisfaction question it is the enterprise's comment on its rating, to an expert's relayed
        message the enterprise's answer to that expert, and from an expert to a case message their message to the
        case's enterprise."""
        chat, state = _chat(update, context)
        text = channel_text(_text(update)) or ""  # at most CHANNEL_MAX_CHARS go on to Rasa
        if lang := detect_language(text):
            state.language = lang
        if not await self._allowed(update, context):
            return
        message = update.effective_message
        replied = message.reply_to_message if message is not None else None
        if replied is not None and text.strip():
            case = await asyncio.to_thread(self._comment, str(chat.id), str(replied.message_id), text)
            if case is not None:
                await chat.send_message(t("cases.rate_comment_thanks", case.language))
                return
            lang = self.language(update, state)
            answer = await asyncio.to_thread(self._relay, chat.id, str(replied.message_id), text, lang)
            if answer is not None:
                await chat.send_message(answer)
                return
        await self.converse(update, context, text)

    def _relay(self, chat_id: int, message_id: str, text: str, lang: str) -> str | None:
        """Relays a reply to a case message (see on_text); the acknowledgement for the chat, or None when the
        replied message is no case message of this chat's."""
        with session_scope(self.settings.database_url) as session:
            if case_no := relayed_to_enterprise(session, str(chat_id), message_id):
                staff, _ = load_staff(self.settings.staff_file)
                relayed = enterprise_reply(session, case_no, telegram_sender_id(chat_id), text, staff=staff)
                language = relayed.case.language if relayed.case is not None else lang
                if relayed.result in ("sent", "closed"):
                    logger.info("chat %s: a reply on %s: %s", chat_id, case_no, relayed.result)
                    return t(f"cases.relay.{relayed.result}", language, case_no=case_no)
                return None
            if not (case_no := case_message_to_expert(session, str(chat_id), message_id)):
                return None
            experts, _ = load_experts(self.settings.experts_file)
            expert = next((e for e in experts if e.telegram_chat_id == chat_id), None)
            if expert is None:
                return None
            relayed = expert_reply(session, case_no, expert.id, text)
            logger.info("expert %s: a message on %s: %s", expert.id, case_no, relayed.result)
            key = {"sent": "expert_sent", "closed": "expert_closed"}.get(relayed.result, "expert_not_yours")
            return t(f"cases.relay.{key}", lang, case_no=case_no)

    def _has_open_case(self, sender_id: str) -> bool:
        with session_scope(self.settings.database_url) as session:
            return document_case(session, sender_id) is not None

    def _comment(self, chat_id: str, message_id: str, text: str) -> Case | None:
        with session_scope(self.settings.database_url) as session:
            case_no = satisfaction_question(session, chat_id, message_id)
            if case_no is None:
                return None
            return record_rating_comment(session, case_no, telegram_sender_id(int(chat_id)), text)

    async def on_rating(self, update: Update, context: Context) -> None:
        """A press of 1–5 under the satisfaction question: recorded, the buttons replaced by a thank-you
        that invites a comment (a reply to the same message)."""
        query = _query(update)
        chat, state = _chat(update, context)
        _, case_no, score = ((query.data or "") + "::").split(":")[:3]
        case = None
        if score.isdigit():
            case = await asyncio.to_thread(self._rate, case_no, telegram_sender_id(chat.id), int(score))
        if case is None:
            await query.answer(t("cases.rate_unknown", self.language(update, state)))
            return
        await query.answer()
        question = query.message.text if isinstance(query.message, Message) and query.message.text else ""
        with contextlib.suppress(Exception):  # recorded all the same
            await query.edit_message_text(f"{question}\n\n{t('cases.rate_thanks', case.language, score=score)}")

    def _rate(self, case_no: str, sender_id: str, score: int) -> Case | None:
        with session_scope(self.settings.database_url) as session:
            return record_rating(session, case_no, sender_id, score)

    async def on_command(self, update: Update, context: Context) -> None:
        """/help, /case, /subscribe: the matching intent, in the chat's language."""
        if not await self._allowed(update, context):
            return
        command = _text(update).split()[0].lstrip("/").split("@")[0].lower()
        lang = self.language(update, context.chat_data)
        await self.converse(update, context, f'/{COMMANDS[command]}{{"language":"{lang}"}}')

    async def on_start(self, update: Update, context: Context) -> None:
        """/start: the privacy note and the command list, then the bot's welcome (with its disclaimer)."""
        if not await self._allowed(update, context):
            return
        chat, state = _chat(update, context)
        lang = self.language(update, state)
        await chat.send_message(t("telegram.privacy", lang) + "\n\n" + t("telegram.commands", lang))
        await self.converse(update, context, f'/greet{{"language":"{lang}"}}')

    async def on_lang(self, update: Update, context: Context) -> None:
        """/lang [zh|en]: sets the chat's language, or offers the two as buttons."""
        chat, _ = _chat(update, context)
        args = [a.lower() for a in (context.args or [])]
        if args and args[0] in ("zh", "en", "中文", "english"):
            await self.set_language(update, context, ZH if args[0] in ("zh", "中文") else EN)
            return
        keyboard = InlineKeyboardMarkup(
            [
                [
                    InlineKeyboardButton("中文", callback_data="lang:zh"),
                    InlineKeyboardButton("English", callback_data="lang:en"),
                ]
            ]
        )
        await chat.send_message(
            t("telegram.lang_pick", ZH) + " / " + t("telegram.lang_pick", EN), reply_markup=keyboard
        )

    async def on_language_button(self, update: Update, context: Context) -> None:
        """The 中文 / English buttons of /lang."""
        query = _query(update)
        await query.answer()
        with contextlib.suppress(Exception):
            await query.edit_message_reply_markup(reply_markup=None)
        await self.set_language(update, context, ZH if query.data == "lang:zh" else EN)

    async def set_language(self, update: Update, context: Context, lang: str) -> None:
        """Remembers the chat's language and sets the conversation's `language` slot in Rasa.

        The slot comes with a greeting in the new language (`/greet{"language": …}`, as /start sends):
        the gateway talks to Rasa through its REST channel only, Rasa's HTTP API stays closed."""
        chat, state = _chat(update, context)
        state.language = lang
        await chat.send_message(t("telegram.lang_set", lang))
        await self.converse(update, context, f'/greet{{"language":"{lang}"}}')

    async def on_button(self, update: Update, context: Context) -> None:
        """A press on one of Rasa's buttons: its payload goes to Rasa as the chat's next message."""
        query = _query(update)
        chat, state = _chat(update, context)
        payload = self.buttons.decode(query.data or "")
        markup = query.message.reply_markup if isinstance(query.message, Message) else None
        title = next(
            (
                b.text
                for row in (markup.inline_keyboard if markup else ())
                for b in row
                if b.callback_data == query.data
            ),
            None,
        )
        if payload is None:
            await query.answer()
            await chat.send_message(t("telegram.expired", self.language(update, state)))
            return
        if not await self._allowed(update, context):  # the keyboard stays, so the choice can be made again later
            await query.answer()
            return
        await query.answer(title[:190] if title else None)
        with contextlib.suppress(Exception):  # one press per keyboard; the buttons stay if editing fails
            await query.edit_message_reply_markup(reply_markup=None)
        await self.converse(update, context, payload)

    async def on_document(self, update: Update, context: Context) -> None:
        """A PDF or photo: stored with the chat's open case (actions/cases/documents.py), or the reason
        it was not. A file over the size limit is refused from its declared size, before downloading."""
        chat, state = _chat(update, context)
        message = update.effective_message
        if message is None or not await self._allowed(update, context):
            return
        lang = self.language(update, state)
        settings = self.settings
        incoming: Document | PhotoSize
        if message.document is not None:
            incoming, filename = message.document, message.document.file_name
        else:
            incoming, filename = message.photo[-1], f"photo-{message.message_id}.jpg"  # the largest size
        try:
            if not await asyncio.to_thread(self._has_open_case, telegram_sender_id(chat.id)):
                raise DocumentRefused("no_case")  # said before anything is downloaded
            refuse_declared_size(incoming.file_size, settings.attachment_max_bytes)
            telegram_file = await incoming.get_file()
            refuse_declared_size(telegram_file.file_size, settings.attachment_max_bytes)
            data = bytes(await telegram_file.download_as_bytearray())
            attached = await asyncio.to_thread(
                store_document,
                settings.database_url,
                telegram_sender_id(chat.id),
                data,
                filename,
                settings.attachments_dir,
                settings.attachment_max_bytes,
            )
        except DocumentRefused as refused:
            max_mb = settings.attachment_max_bytes // (1024 * 1024)
            await chat.send_message(t(f"telegram.document_{refused.reason}", lang, max_mb=max_mb))
            return
        except (SQLAlchemyError, OSError):
            logger.exception("chat %s: a document could not be stored", chat.id)
            await chat.send_message(t("telegram.document_failed", lang))
            return
        key = "telegram.document_already" if attached.already else "telegram.document_received"
        await chat.send_message(t(key, lang, filename=attached.filename, case_no=attached.case_no))

    async def on_other(self, update: Update, context: Context) -> None:
        """Photos, stickers, files, voice: a polite request for text."""
        if update.effective_chat is not None:
            await update.effective_chat.send_message(t("telegram.not_text", self.language(update, context.chat_data)))

    async def on_error(self, update: object, context: Context) -> None:
        """Any other failure: logged; the chat gets an apology instead of silence."""
        if update is None:  # run_polling hands errors of fetching updates here too
            logger.error("error while fetching updates: %r", context.error, exc_info=context.error)
            return
        logger.error("error while handling an update: %r", context.error, exc_info=context.error)
        if isinstance(update, Update) and update.effective_chat is not None:
            with contextlib.suppress(Exception):
                await update.effective_chat.send_message(
                    t("telegram.rasa_down", self.language(update, context.chat_data))
                )


def build_application(settings: Settings, gateway: Gateway) -> Application:
    """The python-telegram-bot application: our handlers, chats handled in parallel, Telegram's flood limits kept."""
    app = (
        Application.builder()
        .token(settings.telegram_token)
        .base_url(settings.telegram_base_url)
        .base_file_url(settings.telegram_base_url.removesuffix("/bot") + "/file/bot")  # where documents are fetched
        .context_types(ContextTypes(chat_data=ChatState))
        .rate_limiter(AIORateLimiter(max_retries=3))
        .concurrent_updates(True)  # chats in parallel; each chat stays in order (ChatState.lock)
        .post_init(gateway.start)
        .post_shutdown(gateway.stop)
        .build()
    )
    gateway.register(app)
    return app


def main() -> int:
    """Runs the gateway until SIGINT or SIGTERM; without a token, says why it does not start."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    settings = get_settings()
    if not settings.telegram_token:
        print(
            "The Telegram gateway is not started: TELEGRAM_TOKEN is not set. Create a bot with @BotFather, "
            "then put TELEGRAM_TOKEN=<token> in .env (see README, 'Going live on Telegram').",
            file=sys.stderr,
        )
        return 2
    if problem := webhook_problem(settings):
        print(f"The Telegram gateway is not started: {problem}.", file=sys.stderr)
        return 2

    from bot.notifier import Notifier

    app = build_application(settings, Gateway(settings, Notifier(settings)))
    if settings.telegram_webhook_url:
        logger.info(
            "gateway: webhook %s, listening on %s:%s",
            settings.telegram_webhook_url,
            settings.telegram_webhook_listen,
            settings.telegram_webhook_port,
        )
        app.run_webhook(  # until SIGINT, SIGTERM or SIGABRT; then python-telegram-bot shuts down in order
            listen=settings.telegram_webhook_listen,
            port=settings.telegram_webhook_port,
            url_path=urlparse(settings.telegram_webhook_url).path.lstrip("/"),
            webhook_url=settings.telegram_webhook_url,
            secret_token=settings.telegram_webhook_secret,  # checked on every post by python-telegram-bot
            allowed_updates=Update.ALL_TYPES,
        )
    else:
        logger.info("gateway: long polling %s, forwarding to %s", settings.telegram_base_url, settings.rasa_url)
        app.run_polling(poll_interval=0.0, timeout=settings.poll_timeout, allowed_updates=Update.ALL_TYPES)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
