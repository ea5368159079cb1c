"""Rasa's socket.io channel (what the web chat widget talks to), with two fixes for Rasa 3.6.

1. Session persistence: Rasa 3.6 calls `AsyncServer.enter_room()` without `await`. Since
   python-socketio 5.10 that is a coroutine, so the browser never joins its session's room and
   receives no bot message at all. Here it is awaited.
2. Custom messages (`json_message`, e.g. an answer's citations): Rasa 3.6 calls
   `AsyncServer.emit(event, **json_message)`, which raises TypeError for any key but data/room/…;
   the rest of the turn (the case-offer buttons) is lost and the turn is not saved. Here a custom
   message goes out as one `bot_uttered` event `{"custom": {...}}`, the shape the REST channel uses.


And three guards, because this is the one channel a stranger's browser talks to:

3. Conversations are bound to who started them. The server issues every session id
   (`<random>.<HMAC-SHA256 signature>`, keyed by `session_secret` = ${WEB_SESSION_SECRET}); a
   session_request with an id this server did not sign gets a fresh one, and a message with an
   unsigned id is refused. The conversation's sender is `web-<random>`: a browser cannot become a
   Telegram chat (`tg-…`) or another browser's session. The id is issued here, on the socket's
   session_request, rather than by the page server, because that is where rasa-webchat asks for
   it and keeps it (localStorage); the page server would need the same secret for nothing more.
4. Only the project's own page connects: a connection whose `Origin` is not in `allowed_origins`
   (${WEB_ORIGINS}, comma-separated) is refused (browsers do not apply CORS to WebSockets).
5. A typed `/intent{...}` is text: a message starting with "/" goes to Rasa as a payload only if
   the bot offered exactly that payload as a button since the user's last message; otherwise its
   leading slashes are dropped and the NLU reads it like anything else typed. A message that is not
   a JSON object with a string `message` gets a polite reply instead of a traceback.
6. Malformed packets are refused before python-socketio/python-engineio read them: a long-polling
   POST whose engine.io payload does not decode, or holds a packet type a polling client does not
   send, gets 400 (the library logged an IndexError or ValueError traceback and answered 200, or
   hung until the ping timeout on a PING); a post to a session that
   closed meanwhile gets 400 (the library raised KeyError: HTTP 500); a socket.io event whose data is
   not a list starting with the event's name is dropped (the library logged a KeyError/IndexError).
   So the server builds its own `AsyncServer` (`PacketCheckingServer`) instead of Rasa's. A message
   that waited longer than Rasa's lock lifetime behind the same conversation's earlier ones (a flood)
   gets a polite "send it again" instead of a LockError traceback and silence.

bot/credentials.yml names it `bot.channels.socketio_channel.SocketIOInput`. It runs inside the Rasa server
(.venv-rasa), so it imports Rasa; nothing in the other venv imports it.
"""

from __future__ import annotations

import inspect
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import engineio
import engineio.packet
import socketio
import socketio.packet
from engineio.packet import Packet
from engineio.payload import Payload
from rasa.core.channels.channel import InputChannel, UserMessage
from rasa.core.channels.socketio import SocketBlueprint
from rasa.core.channels.socketio import SocketIOInput as RasaSocketIOInput
from rasa.core.channels.socketio import SocketIOOutput as RasaSocketIOOutput
from rasa.core.lock_store import LockError
from sanic import Blueprint, Request, Sanic, response
from sanic.response import HTTPResponse

from actions.safe_text import channel_text
from bot.channels.guards import SessionIds, as_typed_text, offered_payloads, origin_allowed, parse_origins
from bot.channels.silence import silent_turn_reply

logger = logging.getLogger(__name__)

BUSY = (
    "抱歉，我还在处理您之前的消息，这条没有读到，请稍后再发一次。 / Sorry, I was still busy with your earlier "
    "messages and did not read this one; please send it again in a moment."
)
UNREADABLE = "抱歉，无法读取这条消息，请重新输入。 / Sorry, I could not read that message; please type it again."


# What a long-polling client posts (engine.io v4). python-engineio answers any other type (OPEN, PING,
# NOOP, or an unknown number) by closing the session and waiting for the client to drain its queue:
# such a POST hung until the ping timeout, or raised IndexError for an unknown number.
POLLING_CLIENT_PACKETS = frozenset(
    {engineio.packet.CLOSE, engineio.packet.PONG, engineio.packet.MESSAGE, engineio.packet.UPGRADE}
)


def payload_problem(body: bytes) -> str | None:
    """Why a long-polling POST's engine.io payload cannot be read (None when it can), decoded by
    python-engineio itself so that nothing it would choke on passes."""
    try:
        packets = Payload(encoded_payload=body.decode("utf-8")).packets
    except (ValueError, IndexError, KeyError) as exc:  # UnicodeDecodeError and binascii.Error are ValueErrors
        return type(exc).__name__
    if any(not isinstance(p, Packet) or p.packet_type not in POLLING_CLIENT_PACKETS for p in packets):
        return "a packet type a polling client does not send"
    return None


class PacketCheckingEngineIO(engineio.AsyncServer):
    """python-engineio's server behind the sanic route, refusing what it would answer with a traceback."""

    async def handle_request(self, *args: Any, **kwargs: Any) -> Any:
        """Engine.io's handling, except 400 for an unreadable POST payload or a session closed meanwhile."""
        request = args[0] if args else None
        if (
            isinstance(request, Request)
            and request.method == "POST"
            and len(body := request.body or b"") <= self.max_http_buffer_size  # a longer one is refused below
        ):
            problem = payload_problem(body)
            if problem is not None:
                logger.warning("a socket.io post with an unreadable payload was refused (%s)", problem)
                return response.text("Bad request", status=400)
        try:
            return await super().handle_request(*args, **kwargs)
        except KeyError as exc:
            if exc.args != ("Session is disconnected",):
                raise
            return response.text("Session is disconnected", status=400)


class PacketCheckingServer(socketio.AsyncServer):
    """python-socketio's server with PacketCheckingEngineIO beneath it, dropping malformed events."""

    def _engineio_server_class(self) -> type[engineio.AsyncServer]:
        return PacketCheckingEngineIO

    async def _handle_eio_message(self, eio_sid: str, data: Any) -> None:
        if eio_sid not in self._binary_packet and not self._readable(eio_sid, data):  # else: an attachment
            logger.warning("an unreadable socket.io packet was dropped")
            return
        await super()._handle_eio_message(eio_sid, data)

    def _readable(self, eio_sid: str, data: Any) -> bool:
        """Whether python-socketio can dispatch this packet (it raised ValueError or worse otherwise)."""
        try:
            pkt = self.packet_class(encoded_packet=data)
        except (ValueError, TypeError, IndexError, KeyError):
            return False
        if pkt.packet_type in (socketio.packet.BINARY_EVENT, socketio.packet.BINARY_ACK):
            return bool(self.manager.sid_from_eio_sid(eio_sid, pkt.namespace or "/"))
        return pkt.packet_type in (
            socketio.packet.CONNECT,
            socketio.packet.DISCONNECT,
            socketio.packet.EVENT,
            socketio.packet.ACK,
        )

    async def _handle_event(self, eio_sid: str, namespace: str | None, id: int | None, data: Any) -> None:
        if not (isinstance(data, list) and data and isinstance(data[0], str)):
            logger.warning("a socket.io event packet without an event name was dropped")
            return
        await super()._handle_event(eio_sid, namespace, id, data)


class SocketIOOutput(RasaSocketIOOutput):
    """Sends the bot's messages to the browser; custom JSON as one `{"custom": ...}` message. Counts
    what it sent, so a turn that sent nothing gets a reply all the same (bot/channels/silence.py)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sent = 0

    async def _send_message(self, socket_id: str, response: Any) -> None:
        self.sent += 1
        await super()._send_message(socket_id, response)

    async def send_custom_json(self, recipient_id: str, json_message: dict[str, Any], **kwargs: Any) -> None:
        """Sends a custom payload as the message itself instead of as emit() keyword arguments."""
        await self._send_message(recipient_id, {"custom": json_message})


class SocketIOInput(RasaSocketIOInput):
    """Rasa's socket.io input channel with an awaited enter_room, the fixed output channel and the guards."""

    def __init__(self, *args: Any, session_secret: str = "", allowed_origins: str | list[str] = "", **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.session_ids = SessionIds(session_secret)
        self.allowed_origins = parse_origins(allowed_origins)
        self.app: Sanic | None = None

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        """The channel from bot/credentials.yml: Rasa's keys plus `session_secret` and `allowed_origins`."""
        c = credentials or {}
        return cls(
            c.get("user_message_evt", "user_uttered"),
            c.get("bot_message_evt", "bot_uttered"),
            c.get("namespace"),
            c.get("session_persistence", False),
            c.get("socketio_path", "/socket.io"),
            c.get("jwt_key"),
            c.get("jwt_method", "HS256"),
            c.get("metadata_key", "metadata"),
            session_secret=str(c.get("session_secret") or ""),
            allowed_origins=c.get("allowed_origins") or "",
        )

    async def typed_text(self, sender_id: str, text: str) -> str:
        """The message as Rasa should read it, given the buttons this conversation was offered."""
        if not text.lstrip().startswith("/"):
            return text
        offered: set[str] = set()
        agent = getattr(getattr(self.app, "ctx", None), "agent", None)
        if agent is not None and agent.tracker_store is not None:
            tracker = await agent.tracker_store.retrieve(sender_id)
            if tracker is not None:
                offered = offered_payloads(e.as_dict() for e in tracker.events)
        return as_typed_text(text, offered)

    def get_output_channel(self) -> RasaSocketIOOutput | None:
        """The output channel for messages the server sends on its own (reminders, external events)."""
        return SocketIOOutput(self.sio, self.bot_message_evt) if super().get_output_channel() else None

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        """Rasa's socket.io blueprint, on a PacketCheckingServer and with the handlers above."""
        # No CORS list: the Origin of every connection is checked in `connect`.
        sio = PacketCheckingServer(async_mode="sanic", cors_allowed_origins=[])
        blueprint = SocketBlueprint(sio, self.socketio_path, "socketio_webhook", __name__)
        self.sio = sio

        @blueprint.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @blueprint.listener("before_server_start")
        async def keep_app(app: Sanic, _loop: Any) -> None:
            self.app = app  # its agent's tracker store tells which buttons a conversation was offered

        @sio.on("connect", namespace=self.namespace)
        async def connect(sid: str, environ: dict, auth: dict | None = None) -> bool:
            if not origin_allowed(environ, self.allowed_origins):
                logger.info("socket.io connection from a foreign origin refused")
                return False
            return True

        @sio.on("session_request", namespace=self.namespace)
        async def session_request(sid: str, data: Any = None, *_extra: Any) -> None:  # any packet shape
            asked = data.get("session_id") if isinstance(data, dict) else None
            session_id = asked if self.session_ids.sender(asked) else self.session_ids.issue()
            # The bot's replies go to the room named after the conversation (`web-<random>`).
            entered = sio.enter_room(sid, self.session_ids.sender(session_id), namespace=self.namespace)
            if inspect.isawaitable(entered):  # a coroutine since python-socketio 5.10
                await entered
            await sio.emit("session_confirm", session_id, room=sid, namespace=self.namespace)

        @sio.on(self.user_message_evt, namespace=self.namespace)
        async def handle_message(sid: str, data: Any = None, *_extra: Any) -> None:  # any packet shape
            output_channel = SocketIOOutput(sio, self.bot_message_evt)
            session_id = data.get("session_id") if isinstance(data, dict) else None
            sender_id = self.session_ids.sender(session_id)
            if sender_id is None:
                logger.warning("a socket.io message without a session id this server issued was refused")
                await sio.emit(self.bot_message_evt, {"text": UNREADABLE}, room=sid, namespace=self.namespace)
                return
            text = data.get("message")
            metadata = data.get(self.metadata_key) or {}
            if isinstance(metadata, str):
                try:
                    metadata = json.loads(metadata)
                except ValueError:
                    metadata = {}
            if not isinstance(text, str) or not isinstance(metadata, dict):
                await output_channel.send_text_message(sender_id, UNREADABLE)
                return
            text = channel_text(text) or ""  # a cheap guard: at most CHANNEL_MAX_CHARS go on to the NLU
            text = await self.typed_text(sender_id, text)
            message = UserMessage(text, output_channel, sender_id, input_channel=self.name(), metadata=metadata)
            try:
                await on_new_message(message)
            except LockError:  # the conversation's earlier messages kept it busy past Rasa's lock lifetime
                logger.warning("a socket.io message waited too long for its conversation and was not read")
                await output_channel.send_text_message(sender_id, BUSY)
                return
            if not output_channel.sent:
                await output_channel.send_text_message(
                    sender_id, await silent_turn_reply(self.app, sender_id, self.name())
                )

        return blueprint
