"""Rasa's REST channel for the project's own processes only (the Telegram gateway, the evaluation
runner, the tests): every post must carry `Authorization: Bearer <RASA_REST_TOKEN>`, and a body
that is not a JSON object with a non-empty string `sender` and a string `message` gets 400, not a
server error.

The REST channel shares Rasa's port with the web widget's socket.io channel, so it faces whatever
that port faces; the token is what keeps a stranger from posting as any conversation (`tg-<chat>`).
bot/credentials.yml names it `bot.channels.rest_channel.RestInput` with `token: ${RASA_REST_TOKEN}`;
bot/stack.py sets the variable. It runs inside the Rasa server (.venv-rasa), so it imports Rasa.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from rasa.core.channels.rest import RestInput as RasaRestInput
from sanic import Blueprint, Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels.guards import bearer_matches, rest_body_error
from bot.channels.silence import silent_turn_reply

MIN_TOKEN_LENGTH = 16


class RestInput(RasaRestInput):
    """Rasa's REST channel behind a bearer token, with its request body checked before Rasa reads it."""

    def __init__(self, token: str) -> None:
        if len(token or "") < MIN_TOKEN_LENGTH:
            raise ValueError(f"the REST channel needs a token of at least {MIN_TOKEN_LENGTH} characters")
        self.token = token
        self.app: Sanic | None = None

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        """The channel from bot/credentials.yml (`token`)."""
        return cls(str((credentials or {}).get("token") or ""))

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[None]]) -> Blueprint:
        """Rasa's REST blueprint with the token and body checks in front of its webhook, and a reply
        for a message the bot left without one (bot/channels/silence.py)."""

        async def answered(message: UserMessage) -> None:
            collector = message.output_channel
            before = len(collector.messages) if isinstance(collector, CollectingOutputChannel) else None
            await on_new_message(message)
            if before is not None and len(collector.messages) == before:
                text = await silent_turn_reply(self.app, message.sender_id, self.name())
                await collector.send_text_message(message.sender_id, text)

        blueprint = super().blueprint(answered)

        @blueprint.listener("before_server_start")
        async def keep_app(app: Sanic, _loop: Any) -> None:
            self.app = app  # its agent renders the reply for a silent turn

        @blueprint.middleware("request")
        async def check(request: Request) -> HTTPResponse | None:
            if request.method != "POST":
                return None
            if not bearer_matches(request.headers.get("authorization"), self.token):
                return response.json({"error": "unauthorised"}, status=401)
            try:
                body = json.loads(request.body or b"")
            except (ValueError, UnicodeDecodeError):
                return response.json({"error": "the body must be JSON (UTF-8)"}, status=400)
            error = rest_body_error(body)
            return response.json({"error": error}, status=400) if error else None

        return blueprint
