"""The checks Rasa's input channels make before a message reaches the bot: bearer tokens, request
bodies, signed web session ids, page origins and typed payloads.

Standard library only and free of Rasa, so the tests run them directly; the channels that use them
(bot/channels/rest_channel.py, bot/channels/socketio_channel.py) run inside the Rasa server.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Iterable, Mapping
from typing import Any

MIN_SECRET_LENGTH = 16
MAX_SENDER_LENGTH = 128
WEB_SENDER_PREFIX = "web-"
# What the web page itself sends when the widget opens (web/static/chat.js `initPayload`): the welcome
# in the browser's language. Harmless whoever sends it, so always read as the payload it is.
ENTRY_PAYLOADS = frozenset({"/greet", '/greet{"language":"zh"}', '/greet{"language":"en"}'})


def bearer_matches(header: str | None, token: str) -> bool:
    """True when an Authorization header carries the bearer token (compared in constant time)."""
    scheme, _, value = (header or "").partition(" ")
    return bool(token) and scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), token.encode())


def rest_body_error(body: Any) -> str | None:
    """Why a REST channel body cannot be a user message (None when it can)."""
    if not isinstance(body, dict):
        return "the body must be a JSON object"
    sender = body.get("sender")
    if not isinstance(sender, str) or not sender.strip():
        return "`sender` must be a non-empty string"
    if len(sender) > MAX_SENDER_LENGTH or not sender.isprintable():
        return f"`sender` must be printable and at most {MAX_SENDER_LENGTH} characters"
    if not isinstance(body.get("message"), str):
        return "`message` must be a string"
    if body.get("metadata") is not None and not isinstance(body["metadata"], dict):
        return "`metadata` must be a JSON object"
    return None


class SessionIds:
    """Issues and checks the web widget's session ids: `<random>.<HMAC-SHA256>`; the sender is `web-<random>`."""

    def __init__(self, secret: str) -> None:
        if len(secret or "") < MIN_SECRET_LENGTH:
            raise ValueError(f"web session ids need a secret of at least {MIN_SECRET_LENGTH} characters")
        self._key = secret.encode("utf-8")

    def _signature(self, token: str) -> str:
        digest = hmac.new(self._key, token.encode("ascii"), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")

    def issue(self) -> str:
        """A new session id, signed by this server."""
        token = secrets.token_urlsafe(18)
        return f"{token}.{self._signature(token)}"

    def sender(self, session_id: object) -> str | None:
        """The conversation a session id belongs to (`web-<random>`); None unless this server signed it."""
        if not isinstance(session_id, str) or len(session_id) > 200 or session_id.count(".") != 1:
            return None
        token, signature = session_id.split(".")
        if not token or not token.isascii() or not signature.isascii():
            return None
        if not hmac.compare_digest(signature.encode("ascii"), self._signature(token).encode("ascii")):
            return None
        return WEB_SENDER_PREFIX + token


def parse_origins(value: str | Iterable[str] | None) -> frozenset[str]:
    """The allowed page origins from a comma-separated setting (or a list)."""
    items = value.split(",") if isinstance(value, str) else list(value or [])
    return frozenset(o.strip().rstrip("/") for o in items if o and o.strip())


def origin_allowed(environ: Mapping[str, Any], allowed: frozenset[str]) -> bool:
    """True for the project's own page, and for clients that send no Origin (not a browser)."""
    origin = environ.get("HTTP_ORIGIN")
    return origin is None or str(origin).rstrip("/") in allowed


def offered_payloads(events: Iterable[Mapping[str, Any]]) -> set[str]:
    """The button payloads the bot sent since the user's last message (events as dicts, oldest first)."""
    offered: set[str] = set()
    for event in reversed(list(events)):
        if event.get("event") == "user":
            break
        if event.get("event") == "bot":
            for button in (event.get("data") or {}).get("buttons") or []:
                if isinstance(button, Mapping) and isinstance(button.get("payload"), str):
                    offered.add(button["payload"].strip())
    return offered


def as_typed_text(text: str, offered: set[str]) -> str:
    """What Rasa reads: a `/payload` only when the bot offered it, else the text without its leading slashes."""
    if not text.lstrip().startswith("/") or text.strip() in offered or text.strip() in ENTRY_PAYLOADS:
        return text
    return text.lstrip().lstrip("/")
