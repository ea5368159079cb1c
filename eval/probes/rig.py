"""The stack a probe runs against: a private one on free ports of 127.0.0.1 (Rasa, the action server and
the notifier delivering to a JSONL sink, never Telegram), with temporary copies of knowledge/ and the
index, a fresh SQLite case database, and the launcher's `Supervisor` restarting what dies, as under
`make run`. Also how a probe talks to it (the REST channel, asynchronously) and measures its memory."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bot.stack import MODEL, ROOT, Stack, Supervisor, free_port

SERVICES = ("actions", "rasa", "notifier")


@dataclass
class Rig:
    """A running private stack, its supervisor, and where its database, sink and logs are."""

    stack: Stack
    supervisor: Supervisor
    workdir: Path
    database: Path
    sink: Path
    started_in: float
    supervisor_lines: list[str] = field(default_factory=list)

    @property
    def database_url(self) -> str:
        return f"sqlite:///{self.database}"

    def pgid(self, name: str) -> int | None:
        """The process group of a service (its process's pid: each service leads its own group)."""
        return self.stack.services[name].pid

    def wait_healthy(self, name: str, timeout: float, not_pid: int | None = None) -> float | None:
        """Seconds until a service answers its health check (as another process than `not_pid`, when
        given), or None when it does not within `timeout`."""
        service, started = self.stack.services[name], time.monotonic()
        while time.monotonic() - started < timeout:
            if (not_pid is None or service.pid != not_pid) and service.running() and service.healthy(5.0):
                return time.monotonic() - started
            time.sleep(0.25)
        return None

    def log(self, name: str) -> str:
        """A service's log so far (rasa, actions, notifier, launcher)."""
        path = self.stack.log_dir / f"{name}.log"
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""


@contextlib.contextmanager
def private_rig(
    keep_logs: Path | None = None, timeout: float = 300.0, poll_seconds: float = 0.5, separate_trackers: bool = True
) -> Iterator[Rig]:
    """Starts the private stack and its supervisor; always stops both (and copies the logs to
    `keep_logs`). Every port is a free one on 127.0.0.1; nothing reaches Telegram or a real expert.
    Rasa keeps its conversations in a database file of their own, as under `make run`
    (actions/settings.conversations_url), unless `separate_trackers` is False: then in the case database
    (TRACKER_DATABASE_URL = DATABASE_URL, as before 2026-12-03, to show why the default changed)."""
    from actions.retrieval.build import fresh_index_copy
    from actions.store import migrate

    if not MODEL.exists():
        raise RuntimeError(f"{MODEL} is missing: run `make train`")
    workdir = Path(tempfile.mkdtemp(prefix="ipbot-probe-"))
    stack: Stack | None = None
    stop_supervising = None
    try:
        shutil.copytree(ROOT / "knowledge", workdir / "knowledge")
        fresh_index_copy(ROOT / ".index", workdir / "knowledge", workdir / "index")
        database = workdir / "cases.db"
        migrate(f"sqlite:///{database}", create=True)
        sink = workdir / "notifications.jsonl"
        env = {
            "KNOWLEDGE_DIR": str(workdir / "knowledge"),
            "INDEX_DIR": str(workdir / "index"),
            "WATCH_KNOWLEDGE": "false",
            "DATABASE_URL": f"sqlite:///{database}",
            "TELEGRAM_TOKEN": "",  # never a real Telegram bot from .env: every notification goes to the sink
            "NOTIFIER_SINK": str(sink),
            "NOTIFIER_POLL_SECONDS": str(poll_seconds),
            "NOTIFIER_NAME": "probe",
        }
        if not separate_trackers:
            env["TRACKER_DATABASE_URL"] = env["DATABASE_URL"]
        stack = Stack(free_port(), free_port(), free_port(), log_dir=workdir / "logs", extra_env=env)
        started = time.perf_counter()
        stack.start(SERVICES, timeout=timeout)
        lines: list[str] = []

        def note(line: str) -> None:  # the supervisor's restarts, printed as they happen and kept for the report
            lines.append(f"{time.strftime('%H:%M:%S')} supervisor: {line}")
            print(f"  {lines[-1]}", flush=True)

        supervisor = Supervisor(stack, log=note)
        rig = Rig(stack, supervisor, workdir, database, sink, time.perf_counter() - started, lines)
        stop_supervising = supervisor.run_in_background(every=0.5)
        yield rig
    finally:
        if stop_supervising is not None:
            stop_supervising()
        if stack is not None:
            stack.stop()
        if keep_logs is not None and (workdir / "logs").is_dir():
            shutil.rmtree(keep_logs, ignore_errors=True)
            shutil.copytree(workdir / "logs", keep_logs)
        shutil.rmtree(workdir, ignore_errors=True)


def group_rss_mb(pgid: int | None) -> float:
    """Resident memory of every process in a process group, in MB: a service's process and its children
    (Rasa's and Sanic's workers); 0 without a group. The reading itself is the retrieval bench's."""
    from eval.bench_retrieval import process_group_rss_mb

    return 0.0 if pgid is None else process_group_rss_mb(pgid)


def kill_group(pgid: int | None) -> None:
    """kill -9 of a whole process group."""
    if pgid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)


def kill_process(pid: int | None) -> None:
    """kill -9 of one process (its children are left)."""
    if pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@dataclass
class RestClient:
    """Posts user messages to one or more Rasa servers' REST channels (the hook for replicas: each
    message goes to the next URL in turn, so conversations move between them)."""

    urls: list[str]
    token: str
    timeout: float = 180.0
    session: aiohttp.ClientSession | None = None
    _next: int = 0

    async def __aenter__(self) -> RestClient:
        connector = aiohttp.TCPConnector(limit=0)
        self.session = aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=self.timeout))
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.session is not None:
            await self.session.close()

    async def say(self, sender: str, message: str) -> tuple[list[dict[str, Any]] | None, float, str]:
        """(the bot's messages or None when the request failed, seconds, the error's name or "")."""
        assert self.session is not None, "use RestClient in `async with`"
        url = self.urls[self._next % len(self.urls)]
        self._next += 1
        headers = {"Authorization": f"Bearer {self.token}"}
        started = time.perf_counter()
        try:
            async with self.session.post(
                f"{url}/webhooks/rest/webhook", json={"sender": sender, "message": message}, headers=headers
            ) as response:
                if response.status != 200:
                    return None, time.perf_counter() - started, f"HTTP {response.status}"
                body = await response.json(content_type=None)
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
            return None, time.perf_counter() - started, type(exc).__name__
        if not isinstance(body, list):
            return None, time.perf_counter() - started, "not a list"
        return body, time.perf_counter() - started, ""
