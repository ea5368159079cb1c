"""Talking to the live bot: one REST turn and what it produced (messages, buttons, citations, the
tracker after it, the cases the conversation opened), and a private stack on free ports when no
running bot is given.

The private stack runs the Rasa server and the action server only (never the notifier, so an
evaluation can never message a real expert), on copies of knowledge/, the index and an empty
case database in a temporary folder.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import shutil
import tempfile
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from bot.stack import MODEL, ROOT, Stack, configured, free_port, http_get, post_json


@dataclass
class Reply:
    """The bot's reply to one user turn, and the conversation's state right after it."""

    sent: str  # what went over the REST channel (a text or a button payload)
    messages: list[dict[str, Any]]
    seconds: float
    tracker: dict[str, Any] | None = None  # GET /conversations/{sender}/tracker after the turn
    cases: list[dict[str, Any]] | None = None  # the conversation's cases in the store; None: no store

    @property
    def texts(self) -> list[str]:
        """The text of each text message."""
        return [m["text"] for m in self.messages if m.get("text")]

    @property
    def text(self) -> str:
        """All text messages, one after the other."""
        return "\n".join(self.texts)

    @property
    def buttons(self) -> list[dict[str, Any]]:
        """Every button offered in this reply (title, payload)."""
        return [b for m in self.messages for b in m.get("buttons") or []]

    @property
    def customs(self) -> list[dict[str, Any]]:
        """The custom (JSON) payloads: answers carry `citations`, `answered`, `language`."""
        return [m["custom"] for m in self.messages if isinstance(m.get("custom"), dict)]

    @property
    def citations(self) -> list[dict[str, Any]]:
        """Every citation the reply carries (doc_id, section_id, path, …)."""
        return [c for custom in self.customs for c in custom.get("citations") or []]

    @property
    def intent(self) -> tuple[str | None, float | None]:
        """NLU's intent for the user's message and its confidence: the parse data of the tracker's
        last `user` event. (Not `latest_message`: the HTTP API replays the tracker, and Rasa's replay
        drops the messages a form took, so `latest_message` still shows the one that opened the form.)"""
        events = (self.tracker or {}).get("events") or []
        user = next((e for e in reversed(events) if e.get("event") == "user"), None)
        latest = (user or {}).get("parse_data") or (self.tracker or {}).get("latest_message") or {}
        intent = latest.get("intent") or {}
        return intent.get("name"), intent.get("confidence")

    @property
    def actions(self) -> list[str]:
        """The actions Rasa ran after the user's message, in order (action_listen left out)."""
        events = (self.tracker or {}).get("events") or []
        last_user = max((i for i, e in enumerate(events) if e.get("event") == "user"), default=-1)
        return [
            e.get("name")
            for e in events[last_user + 1 :]
            if e.get("event") == "action" and e.get("name") not in (None, "action_listen")
        ]

    @property
    def slots(self) -> dict[str, Any]:
        """Slot values after the turn."""
        return dict((self.tracker or {}).get("slots") or {})


class Bot(Protocol):
    """What the runners need from a bot: send a message, read the tracker, list the sender's cases."""

    def send(self, sender: str, message: str) -> list[dict[str, Any]]:
        """The bot's messages for one user message."""
        ...

    def tracker(self, sender: str) -> dict[str, Any] | None:
        """The conversation's tracker, or None when it cannot be read."""
        ...

    def cases(self, sender: str) -> list[dict[str, Any]] | None:
        """The cases this conversation opened, or None when the store is unknown."""
        ...


def case_record(case: Any) -> dict[str, Any]:
    """The fields of a stored case that expectations may name."""
    return {
        "case_no": case.case_no,
        "sender_id": case.sender_id,
        "language": case.language,
        "enterprise": case.enterprise,
        "contact_kind": case.contact_kind,
        "country": case.country,
        "ip_type": case.ip_type,
        "incident_type": case.incident_type,
        "deadline": case.deadline.isoformat() if case.deadline else "none",
        "urgent": case.urgent,
        "status": case.status,
        "offers": len(case.offers),
    }


@dataclass
class RestBot:
    """A running bot reached over Rasa's REST channel and HTTP API; the case store when its URL is known."""

    rasa_url: str
    database_url: str | None = None
    timeout: float = 120.0
    rest_token: str = field(default_factory=lambda: configured("RASA_REST_TOKEN"))  # the REST channel's
    api_token: str = field(default_factory=lambda: configured("RASA_API_TOKEN"))  # empty: no tracker reads

    def send(self, sender: str, message: str) -> list[dict[str, Any]]:
        """The bot's messages for one user message."""
        reply = post_json(
            f"{self.rasa_url}/webhooks/rest/webhook",
            {"sender": sender, "message": message},
            self.timeout,
            token=self.rest_token,
        )
        if not isinstance(reply, list):
            raise RuntimeError(f"the REST channel answered {reply!r}, not a list of messages")
        return reply

    def tracker(self, sender: str) -> dict[str, Any] | None:
        """The conversation's tracker (needs Rasa's API and its token); None when the API is off."""
        if not self.api_token:
            return None
        path = f"/conversations/{urllib.parse.quote(sender)}/tracker?token={urllib.parse.quote(self.api_token)}"
        status, body = http_get(self.rasa_url + path, timeout=30)
        return json.loads(body) if status == 200 else None

    def cases(self, sender: str) -> list[dict[str, Any]] | None:
        """The cases this conversation opened, newest first; None without a database URL."""
        if not self.database_url:
            return None
        from actions.cases.service import cases_of
        from actions.store import session_scope

        with session_scope(self.database_url) as session:
            return [case_record(c) for c in cases_of(session, sender)]

    def reachable(self) -> bool:
        """True when the Rasa server's REST channel answers."""
        return http_get(f"{self.rasa_url}/webhooks/rest/")[0] == 200


def turn(bot: Bot, sender: str, message: str, with_cases: bool = True) -> Reply:
    """Sends one message and collects the reply, the tracker and (optionally) the stored cases."""
    started = time.perf_counter()
    messages = bot.send(sender, message)
    seconds = time.perf_counter() - started
    return Reply(message, messages, seconds, bot.tracker(sender), bot.cases(sender) if with_cases else None)


@dataclass
class PrivateStack:
    """A stack this run started: its bot, where its logs are, and how to stop it."""

    bot: RestBot
    stack: Stack
    workdir: Path
    started_in: float = 0.0
    services: tuple[str, ...] = field(default=("actions", "rasa"))


@contextlib.contextmanager
def private_stack(logs_to: Path | None = None, timeout: float = 300.0, api: bool = True) -> Iterator[PrivateStack]:
    """Starts the Rasa and action servers on free ports with their own copies of knowledge/, the
    index and an empty case database; always stops them (and keeps their logs in `logs_to`).
    `api`: Rasa's HTTP API on with a token of this stack's own (the checks read trackers), or off as
    in production (the hostile-input probe, eval/fuzz.py)."""
    from actions.retrieval.build import fresh_index_copy
    from actions.store import migrate

    if not MODEL.exists():
        raise RuntimeError(f"{MODEL} is missing: run `make train`")
    workdir = Path(tempfile.mkdtemp(prefix="ipbot-eval-"))
    stack: Stack | None = None
    try:
        shutil.copytree(ROOT / "knowledge", workdir / "knowledge")
        # Labels are checked against the knowledge files, so the answers must come from them too.
        fresh_index_copy(ROOT / ".index", workdir / "knowledge", workdir / "index")
        database_url = f"sqlite:///{workdir / 'cases.db'}"
        migrate(database_url)
        env = {
            "KNOWLEDGE_DIR": str(workdir / "knowledge"),
            "INDEX_DIR": str(workdir / "index"),
            "WATCH_KNOWLEDGE": "false",
            "DATABASE_URL": database_url,
            "TELEGRAM_TOKEN": "",  # never a real Telegram bot from .env
            "NOTIFIER_SINK": str(workdir / "notifications.jsonl"),
        }
        api_token = secrets.token_urlsafe(32) if api else ""
        stack = Stack(free_port(), free_port(), log_dir=workdir / "logs", extra_env=env, api_token=api_token)
        started = time.perf_counter()
        stack.start(("actions", "rasa"), timeout=timeout)
        bot = RestBot(stack.rasa_url, database_url, rest_token=stack.rest_token, api_token=stack.api_token)
        yield PrivateStack(bot, stack, workdir, time.perf_counter() - started)
    finally:
        if stack is not None:
            stack.stop()
        if logs_to is not None and (workdir / "logs").is_dir():
            shutil.rmtree(logs_to, ignore_errors=True)
            shutil.copytree(workdir / "logs", logs_to)
        shutil.rmtree(workdir, ignore_errors=True)
