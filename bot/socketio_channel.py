"""Rasa's socket.io channel (what the web chat widget talks to), with two fixes for Rasa 3.6.

1. Session persistence: Rasa 3.6 calls `AsyncServer.enter_room()` without `await`. Since
   python-socketio 5.10 that is a coroutine, so the browser never joins its session's room and
   receives no bot message at all. Here it is awaited.
2. Custom messages (`json_message`, e.g. an answer's citations): Rasa 3.6 calls
   `AsyncServer.emit(event, **json_message)`, which raises TypeError for any key but data/room/…;
   the rest of the turn (the case-offer buttons) is lost and the turn is not saved. Here a custom
   message goes out as one `bot_uttered` event `{"custom": {...}}`, the shape the REST channel uses.

bot/credentials.yml names it `bot.socketio_channel.SocketIOInput`. It runs inside the Rasa server
(.venv-rasa), so it imports Rasa; nothing in the other venv imports it.
"""

from __future__ import annotations

import inspect
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import UserMessage
from rasa.core.channels.socketio import SocketIOInput as RasaSocketIOInput
from rasa.core.channels.socketio import SocketIOOutput as RasaSocketIOOutput
from sanic import Blueprint

from bot.safe_text import channel_text

logger = logging.getLogger(__name__)


class SocketIOOutput(RasaSocketIOOutput):
    """Sends the bot's messages to the browser; custom JSON as one `{"custom": ...}` message."""

    async def send_custom_json(self, recipient_id: str, json_message: dict[str, Any], **kwargs: Any) -> None:
        """Sends a custom payload as the message itself instead of as emit() keyword arguments."""
        await self._send_message(recipient_id, {"custom": json_message})


class SocketIOInput(RasaSocketIOInput):
    """Rasa's socket.io input channel with an awaited enter_room and the fixed output channel."""

    def get_output_channel(self) -> RasaSocketIOOutput | None:
        """The output channel for messages the server sends on its own (reminders, external events)."""
        return SocketIOOutput(self.sio, self.bot_message_evt) if super().get_output_channel() else None

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        """Rasa's blueprint with its session_request and user-message handlers replaced."""
        blueprint = super().blueprint(on_new_message)
        sio = self.sio
        assert sio is not None

        @sio.on("session_request", namespace=self.namespace)
        async def session_request(sid: str, data: dict | None) -> None:
            data = data or {}
            if not data.get("session_id"):
                data["session_id"] = uuid.uuid4().hex
            if self.session_persistence:
                entered = sio.enter_room(sid, data["session_id"], namespace=self.namespace)
                if inspect.isawaitable(entered):  # a coroutine since python-socketio 5.10
                    await entered
            await sio.emit("session_confirm", data["session_id"], room=sid, namespace=self.namespace)
            logger.debug(f"User {sid} connected to socketIO endpoint.")

        @sio.on(self.user_message_evt, namespace=self.namespace)
        async def handle_message(sid: str, data: dict) -> None:
            if self.session_persistence:
                if not data.get("session_id"):
                    logger.warning("A socket.io message without a session_id was ignored (send session_request first).")
                    return
                sender_id = data["session_id"]
            else:
                sender_id = sid
            metadata = data.get(self.metadata_key, {})
            if isinstance(metadata, str):
                metadata = json.loads(metadata)
            output_channel = SocketIOOutput(sio, self.bot_message_evt)
            message = UserMessage(
                channel_text(data.get("message", "")) or "",  # a cheap guard: at most CHANNEL_MAX_CHARS go on
                output_channel,
                sender_id,
                input_channel=self.name(),
                metadata=metadata,
            )
            await on_new_message(message)

        return blueprint
