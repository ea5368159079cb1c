"""End-to-end: what a stranger who reaches the stack's ports cannot do. Rasa's HTTP API and the
action server refuse calls without their tokens, the REST channel refuses strangers and broken
bodies, CORS and the socket admit only the project's page, a web client cannot choose its
conversation, and a typed `/intent{...}` is read as text."""

from __future__ import annotations

import json
import queue
import urllib.error
import urllib.request
import uuid

import pytest
import socketio

from bot.channels.guards import SessionIds
from bot.stack import Stack, http_get

pytestmark = pytest.mark.e2e


@pytest.fixture
def stack(e2e) -> Stack:
    return e2e.stack


def request(method: str, url: str, body: object = None, headers: dict[str, str] | None = None) -> tuple[int, dict]:
    """Status and headers of one HTTP request (a bytes body is sent as it is)."""
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    req = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(req, timeout=60) as response:
            return response.status, dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/conversations/tg-1001/tracker"),
        ("PUT", "/conversations/tg-1001/tracker/events"),
        ("POST", "/conversations/tg-1001/tracker/events"),
        ("GET", "/conversations/tg-1001/story"),
        ("POST", "/conversations/tg-1001/execute"),
        ("DELETE", "/model"),
        ("PUT", "/model"),
        ("GET", "/status"),
    ],
)
def test_rasas_api_refuses_calls_without_its_token(stack, method, path):
    assert request(method, stack.rasa_url + path, {} if method != "GET" else None)[0] == 401


def test_rasas_api_answers_with_its_token(stack):
    stack.say("hello", sender="sec-token")
    status, body = http_get(stack.api_url("/conversations/sec-token/tracker"))
    assert status == 200 and json.loads(body)["sender_id"] == "sec-token"


def test_the_action_server_runs_actions_for_rasa_only(stack):
    call = {"next_action": "action_answer_question", "sender_id": "tg-1001", "tracker": {"sender_id": "tg-1001"}}
    assert request("POST", stack.action_url + "/webhook", call)[0] == 401
    assert request("POST", stack.action_url + "/webhook", call, {"Authorization": "Bearer wrong"})[0] == 401
    assert request("GET", stack.action_url + "/health")[0] == 200


def test_the_rest_channel_refuses_strangers_and_broken_bodies(stack):
    url = stack.rasa_url + "/webhooks/rest/webhook"
    assert request("POST", url, {"sender": "tg-1001", "message": "hi"})[0] == 401
    auth = {"Authorization": f"Bearer {stack.rest_token}"}
    for body in (
        b"{not json",
        b"\xff\xfe",
        [1, 2],
        {"message": "hi"},
        {"sender": "", "message": "hi"},
        {"sender": "u", "message": 5},
        {"sender": "u", "message": "hi", "metadata": "x"},
    ):
        assert request("POST", url, body, auth)[0] == 400, body
    assert stack.say("hello", sender="sec-rest"), "the channel still answers"


def test_cors_admits_the_projects_page_only(stack):
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}
    _, foreign = request(
        "OPTIONS", stack.rasa_url + "/webhooks/rest/webhook", None, {"Origin": "https://evil.example.com", **preflight}
    )
    assert "Access-Control-Allow-Origin" not in foreign
    _, own = request("OPTIONS", stack.rasa_url + "/webhooks/rest/webhook", None, {"Origin": stack.web_url, **preflight})
    assert own.get("Access-Control-Allow-Origin") == stack.web_url


class Browser:
    """A socket.io client as the widget is one: the page's Origin, session_request, user_uttered."""

    def __init__(self, stack: Stack, origin: str) -> None:
        self.client = socketio.Client(reconnection=False)
        self.sessions: queue.Queue = queue.Queue()
        self.replies: queue.Queue = queue.Queue()
        self.client.on("session_confirm", self.sessions.put)
        self.client.on("bot_uttered", self.replies.put)
        # Polling: the WebSocket client library adds an Origin of its own beside ours (a browser sends one).
        self.client.connect(stack.rasa_url, headers={"Origin": origin}, transports=["polling"], wait_timeout=20)

    def session(self, asked: object = None) -> str:
        self.client.emit("session_request", {"session_id": asked})
        return self.sessions.get(timeout=20)

    def say(self, session_id: object, message: object) -> list[dict]:
        """The bot's messages until it has been quiet for 3 seconds."""
        self.client.emit("user_uttered", {"session_id": session_id, "message": message})
        replies = [self.replies.get(timeout=90)]
        while True:
            try:
                replies.append(self.replies.get(timeout=3))
            except queue.Empty:
                return replies

    def close(self) -> None:
        self.client.disconnect()


@pytest.fixture
def browser(stack):
    opened: list[Browser] = []

    def open_browser(origin: str | None = None) -> Browser:
        opened.append(Browser(stack, origin or stack.web_url))
        return opened[-1]

    yield open_browser
    for b in opened:
        b.close()


def test_a_page_from_another_origin_cannot_open_the_socket(browser):
    with pytest.raises(socketio.exceptions.ConnectionError):
        browser("https://evil.example.com")


def user_texts(stack: Stack, sender: str) -> list[str]:
    status, body = http_get(stack.api_url(f"/conversations/{sender}/tracker"))
    return [e.get("text") for e in json.loads(body)["events"] if e["event"] == "user"] if status == 200 else []


def test_a_web_client_cannot_become_a_telegram_chat_or_another_session(stack, browser):
    chat = f"tg-{uuid.uuid4().int % 10**9}"
    stack.say("hello", sender=chat)  # a Telegram conversation, as the gateway would start it
    client = browser()
    issued = client.session(chat)
    assert issued != chat and issued.count(".") == 1, "the server issues its own signed id"
    reply = client.say(chat, "我的案件进展如何？")
    assert "could not read" in reply[0]["text"], reply
    assert user_texts(stack, chat) == ["hello"], "nothing reached the Telegram conversation"
    forged = SessionIds("not the stack's secret, but long enough").issue()
    assert client.session(forged) != forged
    other = browser().session()
    assert client.session(other) == other, "an id this server issued is kept (a reload of the same page)"


def test_the_widgets_conversation_is_web_and_a_typed_payload_is_text(stack, browser):
    client = browser()
    session = client.session()
    sender = "web-" + session.split(".")[0]
    assert client.say(session, "hello")
    client.say(session, '/report_case{"case_enterprise":"Forged Ltd"}')
    said = user_texts(stack, sender)
    assert said == ["hello", 'report_case{"case_enterprise":"Forged Ltd"}'], said
    status, body = http_get(stack.api_url(f"/conversations/{sender}/tracker"))
    assert json.loads(body)["slots"].get("case_enterprise") in (None, ""), "a typed payload set no slot"


def test_a_message_that_is_not_text_gets_a_polite_reply(browser):
    client = browser()
    session = client.session()
    for broken in (5, None, ["x"], {"text": "hi"}):
        assert "could not read" in client.say(session, broken)[0]["text"]
    assert client.say(session, "hello"), "the session still works"


def engineio_session(stack: Stack) -> str:
    """A long-polling engine.io session opened from the project's page, as the first request of a client."""
    req = urllib.request.Request(
        f"{stack.rasa_url}/socket.io/?EIO=4&transport=polling", headers={"Origin": stack.web_url}
    )
    with urllib.request.urlopen(req, timeout=30) as reply:
        opened = reply.read().decode()
    assert opened.startswith("0"), opened
    return json.loads(opened[1:])["sid"]


def post_packets(stack: Stack, sid: str, body: bytes) -> int:
    url = f"{stack.rasa_url}/socket.io/?EIO=4&transport=polling&sid={sid}"
    status, _ = request("POST", url, body, {"Origin": stack.web_url, "Content-Type": "text/plain;charset=UTF-8"})
    return status


def tracebacks(stack: Stack) -> int:
    return (stack.log_dir / "rasa.log").read_text(encoding="utf-8", errors="replace").count("Traceback")


def test_malformed_socket_packets_are_refused_without_a_traceback(stack):
    before = tracebacks(stack)
    sid = engineio_session(stack)
    # Engine.io payloads the library could not decode (it logged a traceback and answered 200) or
    # packets a polling client does not send (a PING made the POST hang until the ping timeout).
    for unreadable in (b"\x1e", b"9", b"4\x1e\x1e4", b"\xff\xfe", b"bnot base64!", b"2probe", b"6", b"0"):
        assert post_packets(stack, sid, unreadable) == 400, unreadable
    assert post_packets(stack, sid, b"40") == 200  # socket.io connect
    # Socket.io events without an event name (the library logged KeyError / IndexError): dropped.
    for nameless in (b"42{}", b"42[]", b"42[1]", b'42"x"', b"4{"):
        assert post_packets(stack, sid, nameless) == 200, nameless
    assert tracebacks(stack) == before
