"""The stack a probe runs against: a private one on free ports of 127.0.0.1 (Rasa, the action server and
the notifier delivering to a JSONL sink, never Telegram), with temporary copies of knowledge/ and the
index, a fresh SQLite case database, and the launcher's `Supervisor` restarting what dies, as under
`make run` (`Rig`); or the scale-out set of bot/scale.py with a supervisor per machine's worth of
processes (`ScaleRig`). Both offer what the fault scenarios that run on either need (`FaultTarget`).
Also how a probe talks to a stack (the REST channel, asynchronously) and measures its memory."""

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
from typing import Any, Protocol

import aiohttp

from bot.stack import MODEL, ROOT, Service, Stack, Supervisor, Watch, free_port, wait_until

SERVICES = ("actions", "rasa", "notifier")


class FaultTarget(Protocol):
    """What a fault scenario needs of the stack it breaks: where users talk to it, where its cases are,
    its processes by name ("rasa", or "rasa-a" and "rasa-b" on the scale-out set) with their supervisors
    and logs, and which Rasa serves a conversation's next message."""

    supervisor_lines: list[str]

    @property
    def rest_url(self) -> str: ...

    @property
    def rest_token(self) -> str: ...

    @property
    def cases(self) -> Path | str:
        """The case database: an SQLite file or an SQLAlchemy URL (what checks.read_cases reads)."""
        ...

    @property
    def failover(self) -> bool:
        """True when another Rasa answers at once while one is down (a resend need not wait)."""
        ...

    def names(self, kind: str) -> list[str]:
        """The processes of a kind (rasa, actions, notifier), by name."""
        ...

    def service(self, name: str) -> Service: ...

    def watch(self, name: str) -> Watch:
        """What the process's supervisor knows of it (restarts)."""
        ...

    def supervisors(self) -> list[Supervisor]: ...

    def log(self, name: str) -> str: ...

    def replicas_of(self, upstream_header: str) -> list[str]:
        """The Rasa processes the load balancer tried for a request (from its X-Upstream header)."""
        ...

    def aim_at(self, wanted: str, last_upstreams: list[str]) -> str:
        """Makes the `wanted` Rasa serve the next message if the set can (given who served the last one);
        the Rasa that will serve it."""
        ...

    def rasa_back(self, name: str, killed: int | None, timeout: float) -> float | None:
        """Seconds until a killed Rasa serves messages again (None: not within `timeout`)."""
        ...


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

    @property
    def rest_url(self) -> str:
        return self.stack.rasa_url

    @property
    def rest_token(self) -> str:
        return self.stack.rest_token

    @property
    def cases(self) -> Path:
        return self.database

    @property
    def failover(self) -> bool:
        return False

    def names(self, kind: str) -> list[str]:
        return [kind]

    def service(self, name: str) -> Service:
        return self.stack.services[name]

    def watch(self, name: str) -> Watch:
        return self.supervisor.watches[name]

    def supervisors(self) -> list[Supervisor]:
        return [self.supervisor]

    def replicas_of(self, upstream_header: str) -> list[str]:
        return ["rasa"]

    def aim_at(self, wanted: str, last_upstreams: list[str]) -> str:
        return "rasa"

    def rasa_back(self, name: str, killed: int | None, timeout: float) -> float | None:
        return self.wait_healthy(name, timeout, not_pid=killed)

    def pgid(self, name: str) -> int | None:
        """The process group of a service (its process's pid: each service leads its own group)."""
        return self.stack.services[name].pid

    def wait_healthy(self, name: str, timeout: float, not_pid: int | None = None) -> float | None:
        """Seconds until a service answers its health check (as another process than `not_pid`, when
        given), or None when it does not within `timeout`."""
        return healthy_again(self.stack.services[name], timeout, not_pid)

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


@dataclass
class ScaleRig:
    """The running scale-out set (bot/scale.py: nginx, two Rasa replicas with their action servers, two
    notifiers, PostgreSQL, Redis) with one supervisor per replica and per notifier, as each machine of a
    deployment runs its own launcher. Processes are named rasa-a, actions-a, notifier-a, … ."""

    scale: Any  # bot.scale.ScaleSet (imported where the set is started)
    watched: dict[str, Supervisor]  # stack name (replica-a, notifier-a, …) → its supervisor
    started_in: float
    supervisor_lines: list[str] = field(default_factory=list)

    @property
    def rest_url(self) -> str:
        return str(self.scale.url)

    @property
    def rest_token(self) -> str:
        return str(self.scale.rest_token)

    @property
    def cases(self) -> str:
        return str(self.scale.cases_url)

    @property
    def failover(self) -> bool:
        return True

    def _stacks(self) -> dict[str, Stack]:
        stacks = {f"replica-{chr(ord('a') + i)}": s for i, s in enumerate(self.scale.rasa)}
        return stacks | {f"notifier-{chr(ord('a') + i)}": s for i, s in enumerate(self.scale.notifier)}

    def _where(self, name: str) -> tuple[str, str]:
        """(stack name, service name) of a process name such as rasa-b."""
        kind, _, letter = name.rpartition("-")
        return ("notifier" if kind == "notifier" else "replica") + f"-{letter}", kind

    def names(self, kind: str) -> list[str]:
        return sorted(
            f"{service}-{stack.rpartition('-')[2]}"
            for stack, s in self._stacks().items()
            for service in s.services
            if service == kind
        )

    def service(self, name: str) -> Service:
        stack, kind = self._where(name)
        return self._stacks()[stack].services[kind]

    def watch(self, name: str) -> Watch:
        stack, kind = self._where(name)
        return self.watched[stack].watches[kind]

    def supervisors(self) -> list[Supervisor]:
        return list(self.watched.values())

    def log(self, name: str) -> str:
        stack, kind = self._where(name)
        path = self._stacks()[stack].log_dir / f"{kind}.log"
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""

    def replicas_of(self, upstream_header: str) -> list[str]:
        return list(self.scale.replicas_of(upstream_header))

    def next_rasa(self, last_upstreams: list[str]) -> str:
        """nginx's round robin (one worker) alternates: the replica that did not serve the last message."""
        replicas = self.names("rasa")
        last = last_upstreams[-1] if last_upstreams else replicas[-1]
        return next((r for r in replicas if r != last), replicas[0])

    def aim_at(self, wanted: str, last_upstreams: list[str]) -> str:
        """One GET through nginx moves its round robin on by one when the other replica would come next."""
        if self.next_rasa(last_upstreams) == wanted:
            return wanted
        served = self.upstream_of_health_check()
        return self.next_rasa([served] if served else last_upstreams)

    def rasa_back(self, name: str, killed: int | None, timeout: float) -> float | None:
        """Until the replica answers its health check and nginx sends it requests again (two health GETs
        in a row through nginx reach both replicas: it is back in the round robin)."""
        started = time.monotonic()
        if healthy_again(self.service(name), timeout, killed) is None:
            return None

        def in_rotation() -> bool:
            served = [self.upstream_of_health_check() for _ in range(2)]
            return set(served) == set(self.names("rasa"))

        left = max(1.0, timeout - (time.monotonic() - started))
        return None if wait_until(in_rotation, left, every=1.0) is None else time.monotonic() - started

    def upstream_of_health_check(self) -> str:
        """The replica nginx passes a GET of the REST channel's health URL to (its X-Upstream header)."""
        import urllib.request

        try:
            with urllib.request.urlopen(f"{self.rest_url}/webhooks/rest/", timeout=5) as response:
                names = self.replicas_of(response.headers.get("X-Upstream", ""))
        except OSError:
            return ""
        return names[-1] if names else ""


@contextlib.contextmanager
def scale_rig(keep_logs: Path | None = None, poll_seconds: float = 0.5) -> Iterator[ScaleRig]:
    """Starts the scale-out set (bot/scale.ScaleSet) and a supervisor for each replica's and each
    notifier's processes; always stops both (and copies every log to `keep_logs`). Everything is on
    127.0.0.1; notifications go to each notifier's sink file."""
    from bot.scale import ScaleSet

    workdir = Path(tempfile.mkdtemp(prefix="ipbot-scale-probe-"))
    scale = ScaleSet(workdir)
    stoppers: list[Any] = []
    try:
        started = time.perf_counter()
        scale.start(log=lambda line: print(f"  {line}", flush=True))
        lines: list[str] = []
        rig = ScaleRig(scale, {}, time.perf_counter() - started, lines)
        for name, stack in rig._stacks().items():

            def note(line: str, name: str = name) -> None:  # printed as it happens, kept for the report
                lines.append(f"{time.strftime('%H:%M:%S')} {name} supervisor: {line}")
                print(f"  {lines[-1]}", flush=True)

            rig.watched[name] = Supervisor(stack, log=note)
            stoppers.append(rig.watched[name].run_in_background(every=poll_seconds))
        yield rig
    finally:
        for stop in stoppers:
            stop()
        scale.stop()
        if keep_logs is not None:
            shutil.rmtree(keep_logs, ignore_errors=True)
            for log in workdir.rglob("*.log"):
                target = keep_logs / log.relative_to(workdir)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(log, target)
        shutil.rmtree(workdir, ignore_errors=True)


def healthy_again(service: Service, timeout: float, not_pid: int | None = None) -> float | None:
    """Seconds until a service answers its health check (as another process than `not_pid`, when given),
    or None when it does not within `timeout`."""

    def answers() -> bool:
        return (not_pid is None or service.pid != not_pid) and service.running() and service.healthy(5.0)

    return wait_until(answers, timeout, every=0.25)


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
