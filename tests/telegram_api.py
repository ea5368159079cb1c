"""A loopback stand-in for Telegram's Bot API, for tests.

Telegram's servers are unreachable from CI (and unit tests may only open sockets to 127.0.0.1), so tests that
exercise the Telegram gateway point python-telegram-bot at this server instead::

    with FakeBotApi(token="123456:TEST") as api:
        bot = Bot(api.token, base_url=api.base_url)
        api.push_message(42, "你好")          # what a user does
        ...                                   # the code under test polls, answers, edits
        assert api.sent_messages(42)[0]["text"] == "..."

`FakeBotApi` runs an aiohttp server on 127.0.0.1 (a free port, in a background thread with its own event loop)
that answers ``/bot<token>/<method>`` the way Telegram does: the same JSON envelopes, the same HTTP status codes
and error descriptions, long polling with ``getUpdates``, offset confirmation, and Telegram's parsing of ``HTML``
text (a port of TDLib's parser, so markup Telegram rejects is rejected here too, with Telegram's error text). Tests
push user messages and button presses, inject errors (``fail_next``) and slowness (``delay``), and inspect every
call the bot made.

Only what the gateway needs is implemented: getMe, getUpdates, sendMessage, sendChatAction, answerCallbackQuery,
editMessageText, editMessageReplyMarkup, setWebhook/deleteWebhook/getWebhookInfo, setMyCommands/getMyCommands/
deleteMyCommands, close and logOut. Any other method gets Telegram's 404 error. Known simplifications: updates are
never delivered to a webhook (it is only recorded), automatic entities (urls, mentions, hashtags) are not detected
in the bot's own messages, leading and trailing whitespace is not trimmed, inline-mode messages are not supported,
and the ``Markdown`` and ``MarkdownV2`` parse modes are refused as unsupported (the gateway sends HTML only).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import ipaddress
import json
import logging
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, TypeVar
from urllib.parse import urlsplit

from aiohttp import web

__all__ = ["ApiCall", "FakeBotApi", "TelegramApiError", "parse_text"]

LOG = logging.getLogger(__name__)

JSONDict = dict[str, Any]
ChatId = int | str
T = TypeVar("T")

_TOKEN_RE = re.compile(r"\d+:[A-Za-z0-9_-]+")
_NUMERIC_RE = re.compile(r"-?\d+")

#: Descriptions Telegram gives for each error code when `fail_next` is not told one.
DEFAULT_DESCRIPTIONS: dict[int, str] = {
    400: "Bad Request: chat not found",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
    500: "Internal Server Error",
    502: "Bad Gateway",
}

MESSAGE_NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are exactly the same "
    "as a current content and reply markup of the message"
)
QUERY_TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"
WEBHOOK_ACTIVE = (
    "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first"
)

# Form-encoded requests carry every value as a string: python-telegram-bot sends strings as they are and
# JSON-encodes everything else. These parameters are always strings, so "123" or "true" stays a string.
_STRING_PARAMS = frozenset(
    [
        "action",
        "business_connection_id",
        "callback_query_id",
        "caption",
        "custom_title",
        "description",
        "emoji",
        "first_name",
        "inline_message_id",
        "ip_address",
        "language_code",
        "last_name",
        "message_effect_id",
        "name",
        "parse_mode",
        "phone_number",
        "query",
        "secret_token",
        "short_description",
        "text",
        "title",
        "url",
    ]
)
# Parameters that are JSON objects or arrays; some clients send them as JSON strings even in a JSON body.
_JSON_PARAMS = frozenset(
    [
        "allowed_updates",
        "caption_entities",
        "commands",
        "entities",
        "link_preview_options",
        "reply_markup",
        "reply_parameters",
        "scope",
    ]
)
_ID_PARAMS = frozenset({"chat_id", "from_chat_id", "user_id", "message_id"})

_CHAT_ACTIONS = frozenset(
    [
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    ]
)
# Without allowed_updates Telegram sends every update type except these.
_OPT_IN_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
_INLINE_BUTTON_KINDS = tuple(
    [
        "url",
        "callback_data",
        "web_app",
        "login_url",
        "switch_inline_query",
        "switch_inline_query_current_chat",
        "switch_inline_query_chosen_chat",
        "copy_text",
        "callback_game",
        "pay",
    ]
)
_MAX_TEXT_LENGTH = 4096


class TelegramApiError(Exception):
    """An error answer of the Bot API: ``{"ok": false, "error_code": ..., "description": ...}``."""

    def __init__(self, error_code: int, description: str, *, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.error_code = error_code
        self.description = description
        self.retry_after = retry_after

    def payload(self) -> JSONDict:
        """The JSON body Telegram sends for this error."""
        body: JSONDict = {"ok": False, "error_code": self.error_code, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


def _bad_request(detail: str) -> TelegramApiError:
    return TelegramApiError(400, f"Bad Request: {detail}")


@dataclass
class ApiCall:
    """One request the bot made: the method, its decoded parameters and how it was answered."""

    method: str
    params: JSONDict
    ok: bool
    error_code: int | None = None
    description: str | None = None
    result: Any = None
    at: float = field(default_factory=time.time)


# ---------------------------------------------------------------------------------------------------------------
# Telegram's text formatting: a port of TDLib's parse_html (td/telegram/MessageEntity.cpp). It works on UTF-8
# bytes, so byte offsets in errors match Telegram's, and counts entity offsets in UTF-16 code units like the
# Bot API. The Markdown modes are not ported: the gateway sends HTML only.
# ---------------------------------------------------------------------------------------------------------------

_SPACES = frozenset(b" \t\r\n\0\v\f")
# TDLib's sort order for entities starting at the same offset with the same length.
_ENTITY_PRIORITY = {
    "BlockQuote": 0,
    "ExpandableBlockQuote": 0,
    "PreCode": 10,
    "Pre": 11,
    "Code": 20,
    "TextUrl": 49,
    "MentionName": 49,
    "BotCommand": 50,
    "Bold": 90,
    "Italic": 91,
    "Underline": 92,
    "Strikethrough": 93,
    "Spoiler": 94,
    "CustomEmoji": 99,
}
_BOT_API_TYPES = {
    "Bold": "bold",
    "Italic": "italic",
    "Underline": "underline",
    "Strikethrough": "strikethrough",
    "Spoiler": "spoiler",
    "Code": "code",
    "Pre": "pre",
    "PreCode": "pre",
    "TextUrl": "text_link",
    "MentionName": "text_mention",
    "BlockQuote": "blockquote",
    "ExpandableBlockQuote": "expandable_blockquote",
    "CustomEmoji": "custom_emoji",
    "BotCommand": "bot_command",
}
_HTML_TAGS = frozenset(
    [
        "a",
        "b",
        "strong",
        "i",
        "em",
        "s",
        "strike",
        "del",
        "u",
        "ins",
        "tg-spoiler",
        "tg-emoji",
        "span",
        "pre",
        "code",
        "blockquote",
    ]
)
_HTML_SIMPLE_TAGS = {
    "b": "Bold",
    "strong": "Bold",
    "i": "Italic",
    "em": "Italic",
    "u": "Underline",
    "ins": "Underline",
    "s": "Strikethrough",
    "strike": "Strikethrough",
    "del": "Strikethrough",
    "tg-spoiler": "Spoiler",
    "span": "Spoiler",  # only <span class="tg-spoiler"> gets this far
}
_HEX_DIGITS = b"0123456789abcdefABCDEF"
_USER_LINK_RE = re.compile(r"tg:(?://)?user\?id=(\d+)", re.IGNORECASE)
_HOST_RE = re.compile(r"(?:[^\W_](?:[\w-]*[^\W_])?\.)+[^\W\d_]{2,}")
_SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")


class _ParseError(Exception):
    """Telegram could not parse the entities of a text."""


@dataclass
class _Entity:
    type: str
    offset: int
    length: int
    argument: str = ""


@dataclass
class _OpenEntity:
    type: str
    argument: str
    utf16_offset: int
    out_pos: int


def _byte_at(data: bytes, i: int) -> int:
    """The byte at `i`, or 0 past the end (TDLib reads the terminating NUL of a C string)."""
    return data[i] if i < len(data) else 0


def _utf16_width(first_byte: int) -> int:
    """UTF-16 code units taken by the character starting with this byte (0 for continuation bytes)."""
    if first_byte & 0xC0 == 0x80:
        return 0
    return 2 if first_byte >= 0xF0 else 1


def _is_alnum(c: int) -> bool:
    return 0x30 <= c <= 0x39 or 0x41 <= c <= 0x5A or 0x61 <= c <= 0x7A


def _checked_link(url: str) -> str:
    """A simplified LinkManager::get_checked_link: the normalised link, or "" when Telegram would drop it."""
    if not url or any(ch.isspace() for ch in url):
        return ""
    if not _SCHEME_RE.match(url):
        url = f"http://{url}"
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        return url  # tg:, ton: and the like are kept as they are
    host = (parts.hostname or "").rstrip(".")
    if not _HOST_RE.fullmatch(host):
        try:
            ipaddress.ip_address(host)
        except ValueError:
            return ""
    host_end = url.index("//") + 2 + len(parts.netloc)
    return url if url.startswith("/", host_end) else f"{url[:host_end]}/{url[host_end:]}"


def _link_entity(entity_type: str, offset: int, length: int, url: str) -> _Entity | None:
    user = _USER_LINK_RE.fullmatch(url)
    if user:
        return _Entity("MentionName", offset, length, user.group(1))
    checked = _checked_link(url)
    return _Entity(entity_type, offset, length, checked) if checked else None


def _decode_html_entity(data: bytes, pos: int) -> tuple[int, int]:
    """Decode ``&lt;``, ``&gt;``, ``&amp;``, ``&quot;`` or ``&#...;`` at `pos`: (code point or 0, next position)."""
    end = pos + 1
    code = 0
    if _byte_at(data, end) == ord("#"):
        end += 1
        if _byte_at(data, end) == ord("x"):
            end += 1
            while _byte_at(data, end) in _HEX_DIGITS:
                code = code * 16 + int(chr(data[end]), 16)
                end += 1
        else:
            while 0x30 <= _byte_at(data, end) <= 0x39:
                code = code * 10 + data[end] - 0x30
                end += 1
        if code == 0 or code >= 0x10FFFF or end - pos >= 10:
            return 0, pos
    else:
        while 0x41 <= _byte_at(data, end) <= 0x5A or 0x61 <= _byte_at(data, end) <= 0x7A:
            end += 1
        code = {b"lt": 0x3C, b"gt": 0x3E, b"amp": 0x26, b"quot": 0x22}.get(data[pos + 1 : end], 0)
        if code == 0:
            return 0, pos
    if _byte_at(data, end) == ord(";"):
        end += 1
    return code, end


def _parse_html(text: str) -> tuple[str, list[_Entity]]:
    src = text.encode("utf-8")
    size = len(src)

    def at(i: int) -> int:
        return _byte_at(src, i)

    out = bytearray()
    entities: list[_Entity] = []
    nested: list[_OpenEntity] = []
    utf16 = 0
    i = 0
    while i < size:
        c = src[i]
        if c == ord("&"):
            code, end = _decode_html_entity(src, i)
            if code:
                utf16 += 2 if code > 0xFFFF else 1
                out += chr(code).encode("utf-8", "surrogatepass")
                i = end
                continue
        if c != ord("<"):
            utf16 += _utf16_width(c)
            out.append(c)
            i += 1
            continue

        begin = i
        i += 1
        if at(i) != ord("/"):
            # A start tag.
            while at(i) not in _SPACES and at(i) != ord(">"):
                i += 1
            if at(i) == 0:
                raise _ParseError(f"Unclosed start tag at byte offset {begin}")
            tag = src[begin + 1 : i].lower().decode("utf-8", "replace")
            if tag not in _HTML_TAGS:
                raise _ParseError(f'Unsupported start tag "{tag}" at byte offset {begin}')
            argument = ""
            while at(i) != ord(">"):
                while at(i) != 0 and at(i) in _SPACES:
                    i += 1
                if at(i) == ord(">"):
                    break
                name_begin = i
                while at(i) not in _SPACES and at(i) not in b"=>/\"'":
                    i += 1
                attribute = src[name_begin:i]
                if not attribute:
                    raise _ParseError(f'Empty attribute name in the tag "{tag}" at byte offset {begin}')
                while at(i) != 0 and at(i) in _SPACES:
                    i += 1
                if at(i) != ord("="):
                    if at(i) == 0:
                        raise _ParseError(f'Unclosed start tag "{tag}" at byte offset {begin}')
                    if tag == "blockquote" and attribute == b"expandable":
                        argument = "1"
                    continue
                i += 1
                while at(i) != 0 and at(i) in _SPACES:
                    i += 1
                if at(i) == 0:
                    raise _ParseError(f'Unclosed start tag "{tag}" at byte offset {begin}')
                if at(i) not in b"'\"":
                    # A name token: letters, digits, periods or hyphens; not case sensitive.
                    token_begin = i
                    while _is_alnum(at(i)) or at(i) in b".-":
                        i += 1
                    value = src[token_begin:i].lower().decode("utf-8", "replace")
                    if at(i) not in _SPACES and at(i) != ord(">"):
                        raise _ParseError(f"Unexpected end of name token at byte offset {token_begin}")
                else:
                    quote = at(i)
                    i += 1
                    raw = bytearray()
                    while at(i) != quote and at(i) != 0:
                        if at(i) == ord("&"):
                            code, end = _decode_html_entity(src, i)
                            if code:
                                raw += chr(code).encode("utf-8", "surrogatepass")
                                i = end
                                continue
                        raw.append(at(i))
                        i += 1
                    if at(i) == quote:
                        i += 1
                    value = raw.decode("utf-8", "replace")
                if at(i) == 0:
                    raise _ParseError(f"Unclosed start tag at byte offset {begin}")
                if tag == "a" and attribute == b"href":
                    argument = value
                elif tag == "code" and attribute == b"class" and value.startswith("language-"):
                    argument = value[len("language-") :]
                elif tag == "span" and attribute == b"class" and value.startswith("tg-"):
                    argument = value[len("tg-") :]
                elif tag == "tg-emoji" and attribute == b"emoji-id":
                    argument = value
                elif tag == "blockquote" and attribute == b"expandable":
                    argument = "1"
            if tag == "span" and argument != "spoiler":
                raise _ParseError(f'Tag "span" must have class "tg-spoiler" at byte offset {begin}')
            nested.append(_OpenEntity(tag, argument, utf16, len(out)))
        else:
            # An end tag.
            if not nested:
                raise _ParseError(f"Unexpected end tag at byte offset {begin}")
            while at(i) not in _SPACES and at(i) != ord(">"):
                i += 1
            end_tag = src[begin + 2 : i].lower().decode("utf-8", "replace")
            while at(i) in _SPACES and at(i) != 0:
                i += 1
            if at(i) != ord(">"):
                raise _ParseError(f"Unclosed end tag at byte offset {begin}")
            top = nested[-1]
            tag = top.type
            if end_tag and end_tag != tag:
                raise _ParseError(
                    f'Unmatched end tag at byte offset {begin}, expected "</{tag}>", found "</{end_tag}>"'
                )
            if utf16 > top.utf16_offset:
                offset, length = top.utf16_offset, utf16 - top.utf16_offset
                if tag in _HTML_SIMPLE_TAGS:
                    entities.append(_Entity(_HTML_SIMPLE_TAGS[tag], offset, length))
                elif tag == "tg-emoji":
                    if not top.argument.isdigit() or int(top.argument) == 0:
                        raise _ParseError("Invalid custom emoji identifier specified")
                    entities.append(_Entity("CustomEmoji", offset, length, top.argument))
                elif tag == "a":
                    url = top.argument or out[top.out_pos :].decode("utf-8", "replace")
                    link = _link_entity("TextUrl", offset, length, url)
                    if link:
                        entities.append(link)
                elif tag == "pre":
                    last = entities[-1] if entities else None
                    if (
                        last
                        and last.type == "Code"
                        and (last.offset, last.length) == (offset, length)
                        and last.argument
                    ):
                        last.type = "PreCode"
                    else:
                        entities.append(_Entity("Pre", offset, length))
                elif tag == "code":
                    last = entities[-1] if entities else None
                    if last and last.type == "Pre" and (last.offset, last.length) == (offset, length) and top.argument:
                        last.type = "PreCode"
                        last.argument = top.argument
                    else:
                        entities.append(_Entity("Code", offset, length, top.argument))
                elif tag == "blockquote":
                    entities.append(_Entity("ExpandableBlockQuote" if top.argument else "BlockQuote", offset, length))
            nested.pop()
        i += 1
    if nested:
        raise _ParseError(f'Can\'t find end tag corresponding to start tag "{nested[-1].type}"')
    for entity in entities:
        if entity.type == "Code":
            entity.argument = ""
    return _decode_result(out), entities


def _decode_result(out: bytearray) -> str:
    try:
        return out.decode("utf-8")
    except UnicodeDecodeError:
        raise _ParseError(
            "Text contains invalid Unicode characters after decoding HTML entities, check for unmatched "
            "surrogate code units"
        ) from None


def _to_bot_api(entities: list[_Entity], users: dict[int, JSONDict] | None = None) -> list[JSONDict]:
    """Sort like TDLib and convert to Bot API MessageEntity objects."""
    result: list[JSONDict] = []
    for entity in sorted(entities, key=lambda e: (e.offset, -e.length, _ENTITY_PRIORITY.get(e.type, 50))):
        item: JSONDict = {"offset": entity.offset, "length": entity.length, "type": _BOT_API_TYPES[entity.type]}
        if entity.type == "TextUrl":
            item["url"] = entity.argument
        elif entity.type == "PreCode":
            item["language"] = entity.argument
        elif entity.type == "CustomEmoji":
            item["custom_emoji_id"] = entity.argument
        elif entity.type == "MentionName":
            user_id = int(entity.argument)
            item["user"] = (users or {}).get(user_id) or {"id": user_id, "is_bot": False, "first_name": ""}
        result.append(item)
    return result


def parse_text(text: str, parse_mode: str | None) -> tuple[str, list[JSONDict]]:
    """Parse `text` the way Telegram does for `parse_mode` (``HTML`` or none).

    Returns the plain text and its Bot API entities; raises `TelegramApiError` (400, "Bad Request: can't parse
    entities: ...") for markup Telegram rejects, and (400, "Bad Request: unsupported parse_mode") for any other
    mode, ``Markdown`` and ``MarkdownV2`` included: the gateway sends HTML only.
    """
    if not parse_mode:
        return text, []
    if parse_mode.lower() != "html":
        raise _bad_request("unsupported parse_mode")
    try:
        plain, entities = _parse_html(text)
    except _ParseError as exc:
        raise _bad_request(f"can't parse entities: {exc}") from None
    return plain, _to_bot_api(entities)


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _is_word_char(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def _bot_command_entities(text: str) -> list[JSONDict]:
    """``bot_command`` entities as Telegram finds them in what users write (TDLib's match_bot_commands)."""
    found: list[JSONDict] = []
    size = len(text)

    def word_end(start: int) -> int:
        end = start
        while end < size and text[end].isascii() and _is_word_char(text[end]):
            end += 1
        return end

    for start, ch in enumerate(text):
        if ch != "/":
            continue
        if start > 0 and (_is_word_char(text[start - 1]) or text[start - 1] in "/<>"):
            continue
        end = word_end(start + 1)
        if not 1 <= end - start - 1 <= 64:
            continue
        if end < size and text[end] == "@":
            mention_end = word_end(end + 1)
            if not 3 <= mention_end - end - 1 <= 32:
                continue
            end = mention_end
        if end < size and (_is_word_char(text[end]) or text[end] in "/<>"):
            continue
        found.append({"offset": _utf16_len(text[:start]), "length": _utf16_len(text[start:end]), "type": "bot_command"})
    return found


# ---------------------------------------------------------------------------------------------------------------
# Request decoding
# ---------------------------------------------------------------------------------------------------------------


def _decode_form_value(key: str, raw: str) -> Any:
    """A form field as Telegram reads it: strings as sent, everything else JSON-encoded."""
    if key in _STRING_PARAMS:
        return raw
    try:
        value = json.loads(raw)
    except ValueError:
        return raw
    return raw if value is None or isinstance(value, str) else value


def _normalise_params(params: JSONDict) -> JSONDict:
    for key in _JSON_PARAMS & params.keys():
        if isinstance(params[key], str):
            try:
                params[key] = json.loads(params[key])
            except ValueError:
                raise _bad_request(f"can't parse {key} JSON object") from None
    for key in _ID_PARAMS & params.keys():
        value = params[key]
        if isinstance(value, str) and _NUMERIC_RE.fullmatch(value.strip()):
            params[key] = int(value)
    return params


def _chat_key(chat_id: ChatId) -> ChatId:
    """Chat ids as the tests use them: ints when numeric, ``@username`` otherwise."""
    if isinstance(chat_id, str) and _NUMERIC_RE.fullmatch(chat_id.strip()):
        return int(chat_id)
    return chat_id


# ---------------------------------------------------------------------------------------------------------------
# The server
# ---------------------------------------------------------------------------------------------------------------


class FakeBotApi:
    """A Bot-API-compatible HTTP server on 127.0.0.1 for python-telegram-bot, driven and inspected by tests.

    Point PTB at it with ``Bot(api.token, base_url=api.base_url)`` or
    ``ApplicationBuilder().token(api.token).base_url(api.base_url)``. All public methods are thread-safe and may be
    called from the test's thread or from coroutines on any event loop (but inside a coroutine use
    `wait_for_async`, since `wait_for` blocks the calling thread).
    """

    def __init__(
        self,
        token: str = "123456:TEST",
        *,
        bot_username: str = "test_exporter_bot",
        bot_name: str = "Test Bot",
        host: str = "127.0.0.1",
    ) -> None:
        if not _TOKEN_RE.fullmatch(token):
            raise ValueError(f"not a bot token (digits:letters): {token!r}")
        self.token = token
        self.host = host
        self.bot_user: JSONDict = {
            "id": int(token.split(":", 1)[0]),
            "is_bot": True,
            "first_name": bot_name,
            "username": bot_username,
        }
        self._lock = threading.RLock()
        self._calls: list[ApiCall] = []
        self._updates: list[JSONDict] = []
        self._next_update_id = 1
        self._allowed_updates: list[str] | None = None
        self._poll_generation = 0
        self._chats: dict[ChatId, JSONDict] = {}
        self._users: dict[int, JSONDict] = {}
        self._messages: dict[tuple[ChatId, int], JSONDict] = {}
        self._last_message_id: dict[ChatId, int] = {}
        self._callback_queries: dict[str, bool] = {}  # id -> answered
        self._next_callback_id = 1
        self._failures: dict[str, deque[tuple[int, str, int | None]]] = {}
        self._delays: dict[str, tuple[float, int | None]] = {}
        self._webhook: JSONDict = {"url": ""}
        self._commands: dict[tuple[str, str], list[JSONDict]] = {}
        self._files: dict[str, bytes] = {}  # file_id -> content, for getFile and the file download route
        self._downloaded: list[str] = []
        self._methods: dict[str, tuple[str, Callable[[JSONDict], Any]]] = {
            name.lower(): (name, handler)
            for name, handler in {
                "getMe": self._get_me,
                "getFile": self._get_file,
                "getUpdates": self._get_updates,
                "sendMessage": self._send_message,
                "sendChatAction": self._send_chat_action,
                "answerCallbackQuery": self._answer_callback_query,
                "editMessageText": self._edit_message_text,
                "editMessageReplyMarkup": self._edit_message_reply_markup,
                "setWebhook": self._set_webhook,
                "deleteWebhook": self._delete_webhook,
                "getWebhookInfo": self._get_webhook_info,
                "setMyCommands": self._set_my_commands,
                "getMyCommands": self._get_my_commands,
                "deleteMyCommands": self._delete_my_commands,
                "close": self._ok,
                "logOut": self._ok,
            }.items()
        }
        # Server state, owned by the background thread.
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._update_event: asyncio.Event | None = None
        self._closing: asyncio.Event | None = None

    # -- lifecycle -------------------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The port the server listens on (after `start`)."""
        if self._port is None:
            raise RuntimeError("FakeBotApi is not started")
        return self._port

    @property
    def base_url(self) -> str:
        """The value for PTB's ``base_url``: PTB requests ``{base_url}{token}/{method}``."""
        return f"http://{self.host}:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        """The value for PTB's ``base_file_url`` (file downloads are not implemented)."""
        return f"http://{self.host}:{self.port}/file/bot"

    def start(self) -> FakeBotApi:
        """Start serving in a background thread; returns self once the port is listening."""
        if self._thread is not None:
            raise RuntimeError("FakeBotApi is already started")
        ready = threading.Event()
        errors: list[BaseException] = []
        self._thread = threading.Thread(target=self._serve, args=(ready, errors), name="FakeBotApi", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("FakeBotApi did not start within 10 s")
        if errors:
            self._thread.join(5)
            self._thread = None
            raise RuntimeError("FakeBotApi could not start") from errors[0]
        LOG.debug("FakeBotApi listening on %s", self.base_url)
        return self

    def stop(self) -> None:
        """Answer pending long polls, close the server and end its thread. Safe to call twice."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(timeout=10)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)
            self._thread = None
            self._loop = None

    def __enter__(self) -> FakeBotApi:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _serve(self, ready: threading.Event, errors: list[BaseException]) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        try:
            loop.run_until_complete(self._startup())
        except BaseException as exc:  # reported to start()
            errors.append(exc)
            ready.set()
            loop.close()
            return
        ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(self._shutdown())
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _startup(self) -> None:
        self._update_event = asyncio.Event()
        self._closing = asyncio.Event()
        app = web.Application(client_max_size=50 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_route("GET", "/file/bot{token}/{path:.*}", self._download)
        app.router.add_route("*", "/{tail:.*}", self._not_found)
        # handler_cancellation: a long poll whose client went away (PTB cancels its poll when it stops) ends
        # quietly instead of lingering until its timeout.
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0, handler_cancellation=True)
        await runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.bind((self.host, 0))
            await web.SockSite(runner, sock).start()
        except BaseException:
            sock.close()
            await runner.cleanup()
            raise
        self._port = sock.getsockname()[1]
        self._runner = runner

    async def _shutdown(self) -> None:
        runner, self._runner = self._runner, None
        if runner is None:
            return
        if self._closing is not None:
            self._closing.set()
        self._wake()
        await runner.cleanup()

    # -- what users do ---------------------------------------------------------------------------------------

    def push_message(
        self,
        chat_id: int,
        text: str,
        user_id: int | None = None,
        username: str | None = None,
        *,
        first_name: str | None = None,
        language_code: str | None = None,
        reply_to: int | None = None,
    ) -> int:
        """Queue a ``message`` update: a user writes `text` (in a private chat when `chat_id` > 0), as a reply
        to message `reply_to` of that chat when given.

        Commands (``/start``) get ``bot_command`` entities as on Telegram. Returns the update_id.
        """
        content: JSONDict = {"text": text}
        if reply_to is not None:
            with self._lock:
                replied = self._messages.get((_chat_key(chat_id), reply_to))
            if replied is None:
                raise KeyError(f"there is no message {reply_to} in chat {chat_id} to reply to")
            content["reply_to_message"] = {k: v for k, v in copy.deepcopy(replied).items() if k != "reply_to_message"}
        commands = _bot_command_entities(text)
        if commands:
            content["entities"] = commands
        user = dict(username=username, first_name=first_name, language_code=language_code)
        return self._push_media(chat_id, user_id, content, **user)

    def push_document(
        self,
        chat_id: int,
        content: bytes,
        file_name: str,
        mime_type: str = "application/pdf",
        user_id: int | None = None,
        *,
        declared_size: int | None = None,
    ) -> int:
        """Queue a ``message`` update with a ``document``: a user sends a file (`declared_size` overrides the
        size Telegram reports, e.g. to announce a file too large to download). Returns the update_id."""
        file_id = self._add_file(content)
        document = {
            "file_id": file_id,
            "file_unique_id": file_id[-12:],
            "file_name": file_name,
            "mime_type": mime_type,
            "file_size": len(content) if declared_size is None else declared_size,
        }
        return self._push_media(chat_id, user_id, {"document": document})

    def push_photo(self, chat_id: int, content: bytes, user_id: int | None = None) -> int:
        """Queue a ``message`` update with a ``photo`` (two sizes, as Telegram sends; both the same bytes here)."""
        file_id = self._add_file(content)
        sizes = [
            {"file_id": file_id, "file_unique_id": file_id[-12:], "width": w, "height": w, "file_size": len(content)}
            for w in (90, 800)
        ]
        return self._push_media(chat_id, user_id, {"photo": sizes})

    def _add_file(self, content: bytes) -> str:
        with self._lock:
            file_id = f"BQACAgIAAxkBAAI{len(self._files) + 1:06d}"
            self._files[file_id] = bytes(content)
            return file_id

    def _push_media(self, chat_id: int, user_id: int | None, media: JSONDict, **user_fields: Any) -> int:
        """Queues a user's message with this content (text and entities, a document, a photo)."""
        with self._lock:
            user = self._user(chat_id, user_id, **user_fields)
            chat = self._chat_for_update(chat_id, user)
            message: JSONDict = {
                "message_id": self._next_message_id(chat["id"]),
                "from": user,
                "chat": chat,
                "date": int(time.time()),
                **media,
            }
            self._messages[(chat["id"], message["message_id"])] = message
            return self._enqueue({"message": copy.deepcopy(message)})

    def downloads(self) -> list[str]:
        """The file ids the bot downloaded, in order."""
        with self._lock:
            return list(self._downloaded)

    def press_button(
        self, chat_id: int, message_id: int, data: str, user_id: int | None = None, *, check: bool = True
    ) -> int:
        """Queue a ``callback_query`` update: a user presses the inline button with `data` under a bot message.

        The update carries the message as it currently is, so ``query.message`` works in PTB. With `check` (the
        default) the message must exist and show a button with that callback_data. Returns the update_id.
        """
        with self._lock:
            key = (_chat_key(chat_id), message_id)
            message = self._messages.get(key)
            if message is None:
                raise KeyError(f"there is no message {message_id} in chat {chat_id}; bot messages: {self._summary()}")
            if check:
                offered = [
                    button.get("callback_data")
                    for row in message.get("reply_markup", {}).get("inline_keyboard", [])
                    for button in row
                ]
                if data not in offered:
                    raise ValueError(f"message {message_id} in chat {chat_id} has no button {data!r}; it has {offered}")
            user = self._user(chat_id, user_id)
            query_id = str(4_000_000_000_000_000_000 + self._next_callback_id)
            self._next_callback_id += 1
            self._callback_queries[query_id] = False
            query: JSONDict = {
                "id": query_id,
                "from": user,
                "message": copy.deepcopy(message),
                "chat_instance": str(-7_000_000_000_000_000_000 - abs(message["chat"]["id"])),
                "data": data,
            }
            return self._enqueue({"callback_query": query})

    def push_update(self, update: JSONDict) -> int:
        """Queue any update object (``update_id`` is assigned); returns the update_id."""
        with self._lock:
            return self._enqueue(copy.deepcopy(update))

    def pending_updates(self) -> list[JSONDict]:
        """Updates not yet confirmed by a getUpdates offset."""
        with self._lock:
            return copy.deepcopy(self._updates)

    # -- failures and slowness -------------------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        times: int = 1,
        error_code: int = 429,
        retry_after: int = 1,
        description: str | None = None,
    ) -> None:
        """Make the next `times` calls of `method` fail with Telegram's error JSON.

        429 answers carry ``"parameters": {"retry_after": retry_after}`` and the description
        ``"Too Many Requests: retry after N"``; other codes get Telegram's usual description unless one is given.
        Failed calls are recorded with ``ok=False`` and have no effect (nothing is sent).
        """
        if error_code == 429:
            description = description or f"Too Many Requests: retry after {retry_after}"
        elif description is None:
            description = DEFAULT_DESCRIPTIONS.get(error_code)
            if description is None:
                try:
                    description = HTTPStatus(error_code).phrase
                except ValueError:
                    description = f"Error {error_code}"
        failure = (error_code, description, retry_after if error_code == 429 else None)
        with self._lock:
            self._failures.setdefault(method.lower(), deque()).extend([failure] * times)

    def delay(self, method: str, seconds: float, times: int | None = None) -> None:
        """Hold the answers to `method` for `seconds` (for timeout tests); `seconds=0` removes the delay.

        The call still takes effect before the wait, like a request whose answer is lost on the way back.
        With `times`, only that many calls are delayed.
        """
        with self._lock:
            if seconds <= 0:
                self._delays.pop(method.lower(), None)
            else:
                self._delays[method.lower()] = (seconds, times)

    # -- inspection ------------------------------------------------------------------------------------------

    @property
    def calls(self) -> list[tuple[str, JSONDict]]:
        """Every call so far, failed ones included, as (method, params) in the order they were answered."""
        with self._lock:
            return [(call.method, copy.deepcopy(call.params)) for call in self._calls]

    @property
    def call_log(self) -> list[ApiCall]:
        """Every call with its outcome (ok, error_code, description, result)."""
        with self._lock:
            return copy.deepcopy(self._calls)

    @property
    def failed_calls(self) -> list[ApiCall]:
        """The calls that were answered with an error."""
        return [call for call in self.call_log if not call.ok]

    def calls_to(self, method: str) -> list[JSONDict]:
        """Params of the successful calls of `method` (any case, e.g. ``"answerCallbackQuery"``)."""
        with self._lock:
            return [copy.deepcopy(c.params) for c in self._calls if c.ok and c.method.lower() == method.lower()]

    def sent_messages(self, chat_id: ChatId | None = None) -> list[JSONDict]:
        """Params of the successful sendMessage calls (to `chat_id` if given); chat_id is an int when numeric."""
        wanted = None if chat_id is None else _chat_key(chat_id)
        return [p for p in self.calls_to("sendMessage") if wanted is None or p.get("chat_id") == wanted]

    def bot_messages(self, chat_id: ChatId | None = None) -> list[JSONDict]:
        """The bot's messages as Message objects in their current state (after edits), oldest first."""
        with self._lock:
            chat = None if chat_id is None else self._resolve_chat(chat_id)["id"]
            return [
                copy.deepcopy(message)
                for (key, _), message in self._messages.items()
                if message["from"]["id"] == self.bot_user["id"] and (chat is None or key == chat)
            ]

    def message(self, chat_id: ChatId, message_id: int) -> JSONDict:
        """One message (user's or bot's) as it currently is; KeyError if there is none."""
        with self._lock:
            return copy.deepcopy(self._messages[(self._resolve_chat(chat_id)["id"], message_id)])

    def callback_answers(self) -> list[JSONDict]:
        """Params of the successful answerCallbackQuery calls."""
        return self.calls_to("answerCallbackQuery")

    @property
    def webhook(self) -> JSONDict:
        """The webhook as last set (``{"url": ""}`` when none)."""
        with self._lock:
            return copy.deepcopy(self._webhook)

    def commands(self, scope: JSONDict | None = None, language_code: str = "") -> list[JSONDict]:
        """The commands set with setMyCommands for that scope and language."""
        with self._lock:
            return copy.deepcopy(self._commands.get(self._commands_key(scope, language_code), []))

    def wait_for(self, predicate: Callable[[], T], timeout: float = 10.0, interval: float = 0.02) -> T:
        """Poll `predicate` until it returns something truthy and return that; TimeoutError after `timeout` s.

        This blocks the calling thread: inside a coroutine that shares its loop with the bot, use `wait_for_async`.
        """
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() >= deadline:
                raise TimeoutError(self._timeout_message(timeout))
            time.sleep(interval)

    async def wait_for_async(self, predicate: Callable[[], T], timeout: float = 10.0, interval: float = 0.02) -> T:
        """`wait_for` for coroutines: sleeps with ``asyncio.sleep`` so the bot keeps running on the same loop."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() >= deadline:
                raise TimeoutError(self._timeout_message(timeout))
            await asyncio.sleep(interval)

    def _timeout_message(self, timeout: float) -> str:
        with self._lock:
            recent = [f"{c.method}{'' if c.ok else f' ({c.error_code})'}" for c in self._calls[-15:]]
            return f"condition not met within {timeout} s; last calls: {recent}; pending updates: {len(self._updates)}"

    def _summary(self) -> list[tuple[ChatId, int]]:
        return [key for key, m in self._messages.items() if m["from"]["id"] == self.bot_user["id"]]

    # -- HTTP ------------------------------------------------------------------------------------------------

    async def _not_found(self, request: web.Request) -> web.Response:
        return self._respond(TelegramApiError(404, "Not Found").payload(), 404)

    async def _handle(self, request: web.Request) -> web.Response:
        requested = request.match_info["method"]
        entry = self._methods.get(requested.lower())
        method = entry[0] if entry else requested
        params: JSONDict = {}
        result: Any = None
        error: TelegramApiError | None = None
        try:
            params = await self._read_params(request)
            if request.match_info["token"] != self.token:
                raise TelegramApiError(401, "Unauthorized")
            if entry is None:
                LOG.warning("FakeBotApi does not implement %s: answering 404 like Telegram does", requested)
                raise TelegramApiError(404, "Not Found")
            with self._lock:
                queued = self._failures.get(method.lower())
                if queued:
                    code, description, retry_after = queued.popleft()
                    raise TelegramApiError(code, description, retry_after=retry_after)
            outcome = entry[1](params)
            result = await outcome if asyncio.iscoroutine(outcome) else outcome
        except TelegramApiError as exc:
            error = exc
        except Exception as exc:  # a bug in the fake: tell the client rather than hang it
            LOG.exception("FakeBotApi failed on %s", method)
            error = TelegramApiError(500, f"Internal Server Error: FakeBotApi failed on {method}: {exc!r}")
        with self._lock:
            self._calls.append(
                ApiCall(
                    method=method,
                    params=copy.deepcopy(params),
                    ok=error is None,
                    error_code=error.error_code if error else None,
                    description=error.description if error else None,
                    result=copy.deepcopy(result),
                )
            )
            delay = self._take_delay(method)
        LOG.debug("%s %s -> %s", method, params, error.description if error else "ok")
        if delay:
            await self._sleep(delay)
        if error is not None:
            return self._respond(error.payload(), error.error_code)
        return self._respond({"ok": True, "result": result}, 200)

    @staticmethod
    def _respond(payload: JSONDict, status: int) -> web.Response:
        return web.json_response(payload, status=status, dumps=lambda obj: json.dumps(obj, ensure_ascii=False))

    async def _read_params(self, request: web.Request) -> JSONDict:
        params: JSONDict = {key: _decode_form_value(key, value) for key, value in request.query.items()}
        if request.can_read_body:
            content_type = request.content_type
            if content_type == "application/json":
                try:
                    body = await request.json()
                except ValueError:
                    raise _bad_request("can't parse JSON encoded request body") from None
                if not isinstance(body, dict):
                    raise _bad_request("JSON encoded request body must be an object")
                params.update(body)
            elif content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
                form = await request.post()
                for key, value in form.items():
                    if isinstance(value, web.FileField):
                        content = value.file.read()
                        params[key] = {
                            "filename": value.filename,
                            "content_type": value.content_type,
                            "size": len(content),
                        }
                    elif isinstance(value, (bytes, bytearray)):
                        params[key] = _decode_form_value(key, bytes(value).decode("utf-8", "replace"))
                    else:
                        params[key] = _decode_form_value(key, value)
        return _normalise_params(params)

    def _take_delay(self, method: str) -> float:
        entry = self._delays.get(method.lower())
        if entry is None:
            return 0.0
        seconds, times = entry
        if times is not None:
            if times <= 1:
                del self._delays[method.lower()]
            else:
                self._delays[method.lower()] = (seconds, times - 1)
        return seconds

    async def _sleep(self, seconds: float) -> None:
        """Sleep, but stop early when the server shuts down."""
        assert self._closing is not None
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._closing.wait(), seconds)

    # -- updates ---------------------------------------------------------------------------------------------

    def _enqueue(self, update: JSONDict) -> int:
        update_id = self._next_update_id
        self._next_update_id += 1
        self._updates.append({"update_id": update_id, **{k: v for k, v in update.items() if k != "update_id"}})
        self._notify()
        return update_id

    def _notify(self) -> None:
        """Wake long polls, from any thread."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._wake()
        else:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:
        """On the server loop: release every coroutine waiting on the current event."""
        event = self._update_event
        if event is not None:
            self._update_event = asyncio.Event()
            event.set()

    def _deliverable(self, limit: int) -> list[JSONDict]:
        allowed = self._allowed_updates
        kept: list[JSONDict] = []
        for update in self._updates:
            kind = next((key for key in update if key != "update_id"), "")
            if (kind in allowed) if allowed else (kind not in _OPT_IN_UPDATES):
                kept.append(update)
        self._updates = kept  # updates of unwanted types are never delivered
        return copy.deepcopy(kept[:limit])

    async def _get_updates(self, params: JSONDict) -> list[JSONDict]:
        offset = int(params.get("offset") or 0)
        limit = min(max(int(params.get("limit") or 100), 1), 100)
        timeout = max(float(params.get("timeout") or 0), 0.0)
        with self._lock:
            if self._webhook.get("url"):
                raise TelegramApiError(409, WEBHOOK_ACTIVE)
            if "allowed_updates" in params:
                self._allowed_updates = list(params["allowed_updates"] or []) or None
            if offset > 0:
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
            elif offset < 0:
                self._updates = self._updates[offset:]
            self._poll_generation += 1
            generation = self._poll_generation
        self._wake()  # an older long poll is now terminated by this one, as on Telegram
        assert self._closing is not None
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                if generation != self._poll_generation:
                    raise TelegramApiError(409, DEFAULT_DESCRIPTIONS[409])
                if self._webhook.get("url"):
                    raise TelegramApiError(409, WEBHOOK_ACTIVE)
                batch = self._deliverable(limit)
                event = self._update_event
            remaining = deadline - time.monotonic()
            if batch or remaining <= 0 or self._closing.is_set() or event is None:
                return batch
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(event.wait(), remaining)

    # -- chats, users, messages ------------------------------------------------------------------------------

    def _user(
        self,
        chat_id: ChatId,
        user_id: int | None,
        *,
        username: str | None = None,
        first_name: str | None = None,
        language_code: str | None = None,
    ) -> JSONDict:
        chat_key = _chat_key(chat_id)
        if user_id is None:
            if not isinstance(chat_key, int) or chat_key <= 0:
                raise ValueError(f"chat {chat_id} is not a private chat: say which user_id acts")
            user_id = chat_key
        elif isinstance(chat_key, int) and chat_key > 0 and chat_key != user_id:
            raise ValueError(f"in a private chat the chat id is the user's id ({chat_id} != {user_id})")
        user = self._users.get(user_id) or {"id": user_id, "is_bot": False, "first_name": f"User {user_id}"}
        user = dict(user)
        if first_name:
            user["first_name"] = first_name
        if username:
            user["username"] = username
        if language_code:
            user["language_code"] = language_code
        self._users[user_id] = user
        return copy.deepcopy(user)

    def _chat_for_update(self, chat_id: ChatId, user: JSONDict) -> JSONDict:
        chat = self._resolve_chat(chat_id)
        if chat["type"] == "private":
            chat = {"id": user["id"], "first_name": user["first_name"], "type": "private"}
            for key in ("last_name", "username"):
                if key in user:
                    chat[key] = user[key]
            self._chats[user["id"]] = chat
        return copy.deepcopy(chat)

    def _resolve_chat(self, chat_id: ChatId) -> JSONDict:
        """The Chat object for a chat id, made up if the chat has not been seen (private when the id is > 0)."""
        key = _chat_key(chat_id)
        chat = self._chats.get(key)
        if chat is not None:
            return chat
        if isinstance(key, int):
            if key > 0:
                chat = {"id": key, "first_name": f"User {key}", "type": "private"}
            elif str(key).startswith("-100"):
                chat = {"id": key, "title": f"Supergroup {key}", "type": "supergroup"}
            else:
                chat = {"id": key, "title": f"Group {key}", "type": "group"}
        else:
            name = str(key).lstrip("@")
            numeric = -1_000_000_000_000 - sum(ord(ch) * 31**n for n, ch in enumerate(name)) % 10**9
            chat = {"id": numeric, "title": name, "username": name, "type": "channel"}
            self._chats[numeric] = chat
        self._chats[key] = chat
        return chat

    def _next_message_id(self, chat_id: ChatId) -> int:
        message_id = self._last_message_id.get(chat_id, 0) + 1
        self._last_message_id[chat_id] = message_id
        return message_id

    @staticmethod
    def _require(params: JSONDict, key: str, detail: str) -> Any:
        value = params.get(key)
        if value is None or value == "":
            raise _bad_request(detail)
        return value

    def _formatted_text(self, params: JSONDict, too_long: str) -> tuple[str, list[JSONDict]]:
        raw = self._require(params, "text", "message text is empty")
        raw = raw if isinstance(raw, str) else json.dumps(raw)
        if params.get("parse_mode"):
            text, entities = parse_text(raw, str(params["parse_mode"]))
        else:
            text, entities = raw, list(params.get("entities") or [])
        if not text.strip():
            raise _bad_request("message text is empty")
        if len(text) > _MAX_TEXT_LENGTH:
            raise _bad_request(too_long)
        return text, entities

    @staticmethod
    def _inline_markup(markup: Any) -> JSONDict | None:
        """Validate reply_markup; returns it when it is an inline keyboard (the only kind messages show)."""
        if markup is None:
            return None
        if not isinstance(markup, dict):
            raise _bad_request("can't parse reply keyboard markup JSON object")
        rows = markup.get("inline_keyboard")
        if rows is None:
            return None
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            raise _bad_request('can\'t parse inline keyboard button: field "inline_keyboard" must be an Array')
        for row in rows:
            for button in row:
                if not isinstance(button, dict) or not isinstance(button.get("text"), str):
                    raise _bad_request('can\'t parse inline keyboard button: Field "text" must be of type String')
                if not any(kind in button for kind in _INLINE_BUTTON_KINDS):
                    raise _bad_request("text buttons are unallowed in the inline keyboard")
                data = button.get("callback_data")
                if data is not None and not (isinstance(data, str) and 1 <= len(data.encode("utf-8")) <= 64):
                    raise _bad_request("BUTTON_DATA_INVALID")
        return copy.deepcopy(markup)

    def _reply_target(self, chat_id: ChatId, params: JSONDict) -> JSONDict | None:
        reply = params.get("reply_parameters") or {}
        if not reply and params.get("reply_to_message_id"):
            reply = {"message_id": params["reply_to_message_id"]}
        if not reply:
            return None
        target_chat = self._resolve_chat(reply["chat_id"])["id"] if reply.get("chat_id") else chat_id
        target = self._messages.get((target_chat, int(reply.get("message_id") or 0)))
        if target is None:
            if reply.get("allow_sending_without_reply") or params.get("allow_sending_without_reply"):
                return None
            raise _bad_request("message to be replied not found")
        target = copy.deepcopy(target)
        target.pop("reply_to_message", None)
        return target

    def _editable_message(self, params: JSONDict) -> JSONDict:
        if params.get("inline_message_id"):
            raise _bad_request("MESSAGE_ID_INVALID")  # inline-mode messages are not supported by the fake
        chat = self._resolve_chat(self._require(params, "chat_id", "chat_id is empty"))
        message_id = self._require(params, "message_id", "message identifier is not specified")
        message = self._messages.get((chat["id"], int(message_id)))
        if message is None:
            raise _bad_request("message to edit not found")
        if message["from"]["id"] != self.bot_user["id"]:
            raise _bad_request("message can't be edited")
        return message

    # -- Bot API methods (run on the server loop) ------------------------------------------------------------

    def _ok(self, params: JSONDict) -> bool:
        return True

    def _get_file(self, params: JSONDict) -> JSONDict:
        file_id = str(self._require(params, "file_id", "file_id is empty"))
        with self._lock:
            content = self._files.get(file_id)
        if content is None:
            raise _bad_request("invalid file_id")
        return {
            "file_id": file_id,
            "file_unique_id": file_id[-12:],
            "file_size": len(content),
            "file_path": f"documents/{file_id}",
        }

    async def _download(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.Response(status=401)
        file_id = request.match_info["path"].rpartition("/")[2]
        with self._lock:
            content = self._files.get(file_id)
            if content is not None:
                self._downloaded.append(file_id)
        if content is None:
            return web.Response(status=404)
        return web.Response(body=content, content_type="application/octet-stream")

    def _get_me(self, params: JSONDict) -> JSONDict:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    def _send_message(self, params: JSONDict) -> JSONDict:
        chat_id = self._require(params, "chat_id", "chat_id is empty")
        text, entities = self._formatted_text(params, "message is too long")
        markup = self._inline_markup(params.get("reply_markup"))
        with self._lock:
            chat = copy.deepcopy(self._resolve_chat(chat_id))
            reply_to = self._reply_target(chat["id"], params)
            message: JSONDict = {
                "message_id": self._next_message_id(chat["id"]),
                "from": copy.deepcopy(self.bot_user),
                "chat": chat,
                "date": int(time.time()),
                "text": text,
            }
            if entities:
                message["entities"] = entities
            if reply_to:
                message["reply_to_message"] = reply_to
            if markup:
                message["reply_markup"] = markup
            self._messages[(chat["id"], message["message_id"])] = message
            return copy.deepcopy(message)

    def _send_chat_action(self, params: JSONDict) -> bool:
        chat_id = self._require(params, "chat_id", "chat_id is empty")
        if params.get("action") not in _CHAT_ACTIONS:
            raise _bad_request("wrong parameter action in request")
        with self._lock:
            self._resolve_chat(chat_id)
        return True

    def _answer_callback_query(self, params: JSONDict) -> bool:
        query_id = str(params.get("callback_query_id") or "")
        with self._lock:
            if self._callback_queries.get(query_id, True):
                raise _bad_request(QUERY_TOO_OLD[len("Bad Request: ") :])
            self._callback_queries[query_id] = True
        return True

    def _edit_message_text(self, params: JSONDict) -> JSONDict:
        with self._lock:
            message = self._editable_message(params)
            text, entities = self._formatted_text(params, "MESSAGE_TOO_LONG")
            # Telegram drops the inline keyboard unless the edit passes it again.
            markup = self._inline_markup(params.get("reply_markup"))
            if (text, entities, markup) == (message["text"], message.get("entities", []), message.get("reply_markup")):
                raise TelegramApiError(400, MESSAGE_NOT_MODIFIED)
            message["text"] = text
            message.pop("entities", None)
            if entities:
                message["entities"] = entities
            self._set_markup(message, markup)
            message["edit_date"] = int(time.time())
            return copy.deepcopy(message)

    def _edit_message_reply_markup(self, params: JSONDict) -> JSONDict:
        with self._lock:
            message = self._editable_message(params)
            markup = self._inline_markup(params.get("reply_markup"))
            if markup == message.get("reply_markup"):
                raise TelegramApiError(400, MESSAGE_NOT_MODIFIED)
            self._set_markup(message, markup)
            message["edit_date"] = int(time.time())
            return copy.deepcopy(message)

    @staticmethod
    def _set_markup(message: JSONDict, markup: JSONDict | None) -> None:
        if markup:
            message["reply_markup"] = markup
        else:
            message.pop("reply_markup", None)

    def _set_webhook(self, params: JSONDict) -> bool:
        with self._lock:
            if params.get("drop_pending_updates"):
                self._updates.clear()
            self._webhook = copy.deepcopy(params) if params.get("url") else {"url": ""}
            self._webhook.setdefault("url", "")
        self._notify()  # a long poll in progress ends with a conflict
        return True

    def _delete_webhook(self, params: JSONDict) -> bool:
        with self._lock:
            if params.get("drop_pending_updates"):
                self._updates.clear()
            self._webhook = {"url": ""}
        return True

    def _get_webhook_info(self, params: JSONDict) -> JSONDict:
        with self._lock:
            info: JSONDict = {
                "url": self._webhook.get("url", ""),
                "has_custom_certificate": bool(self._webhook.get("certificate")),
                "pending_update_count": len(self._updates),
            }
            for key in ("ip_address", "max_connections", "allowed_updates"):
                if key in self._webhook:
                    info[key] = self._webhook[key]
            return info

    @staticmethod
    def _commands_key(scope: Any, language_code: Any) -> tuple[str, str]:
        return json.dumps(scope or {"type": "default"}, sort_keys=True), str(language_code or "")

    def _set_my_commands(self, params: JSONDict) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise _bad_request("can't parse commands JSON object")
        for command in commands:
            name = command.get("command", "") if isinstance(command, dict) else ""
            if not re.fullmatch(r"[a-z0-9_]{1,32}", str(name)):
                raise _bad_request("BOT_COMMAND_INVALID")
        with self._lock:
            self._commands[self._commands_key(params.get("scope"), params.get("language_code"))] = commands
        return True

    def _get_my_commands(self, params: JSONDict) -> list[JSONDict]:
        with self._lock:
            return copy.deepcopy(
                self._commands.get(self._commands_key(params.get("scope"), params.get("language_code")), [])
            )

    def _delete_my_commands(self, params: JSONDict) -> bool:
        with self._lock:
            self._commands.pop(self._commands_key(params.get("scope"), params.get("language_code")), None)
        return True
