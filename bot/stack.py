"""Starts and stops the bot's processes: the Rasa server, the action server, the notifier, the web
widget's page, the staff and expert console and (with a TELEGRAM_TOKEN) the Telegram gateway.

    python -m bot.stack run     # all of them, until Ctrl-C (what `make run` calls)
    python -m bot.stack shell   # the action server plus a terminal chat (`make shell`)
    python -m bot.stack status  # each process of the running stack: state, restarts, answering now?

Also used by the end-to-end tests and the evaluation runner to start a stack on free ports.

Only the channels face users. Rasa's HTTP API (`/conversations/…`, `/model`) is off unless
RASA_API_TOKEN is set, and then needs that token (`?token=`); the tests and the evaluation runner
turn it on with a token of their own. The REST channel needs RASA_REST_TOKEN, the action server
ACTION_SERVER_TOKEN (Rasa sends it), the web widget's sessions are signed with WEB_SESSION_SECRET, the
console's sessions and the case links the notifier e-mails with CONSOLE_SECRET: each comes from the
environment or .env, else a fresh random value for this run (then sessions and links do not outlive a restart). CORS and the socket's origin check admit WEB_ORIGINS (comma-separated),
by default only the page this stack serves.
Every setting is read through actions/settings.py (the environment, else .env). Every process gets its own process
group, so stopping it also stops its children; a process that ignores SIGTERM is killed after a timeout.
While it runs, the launcher supervises the processes (`Supervisor`): one that dies or stops answering is
restarted, and the state of each is in LOG_DIR/status.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from actions.settings import Settings, conversations_url, thread_environment

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "models" / "ipbot.tar.gz"
RASA = ROOT / ".venv-rasa" / "bin" / "rasa"
# Rasa's command line with the bot's one change to Rasa (bot/rasa_run.py): how the launcher starts Rasa.
RASA_RUN = (str(ROOT / ".venv-rasa" / "bin" / "python"), "-m", "bot.rasa_run")
PYTHON = ROOT / ".venv" / "bin" / "python"
# How long Rasa may take over one message, waiting for its conversation's lock included: Rasa's own default
# (rasa.core.constants.DEFAULT_RESPONSE_TIMEOUT, 1 h), which it applies only when its HTTP API is on. With
# the API off, as under `make run`, Sanic's 60 s applied instead: a message that waited for the lock a killed
# replica left in Redis (up to TICKET_LOCK_LIFETIME, 60 s) was cancelled, the user got an empty reply and
# Rasa logged the message's text at ERROR (the scale-out fault probe, eval/reports/faults-scale.md).
RASA_RESPONSE_TIMEOUT = 3600


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check: Callable[[], object], timeout: float, every: float = 0.2) -> float | None:
    """Calls `check` every `every` seconds until it returns something true: the seconds that took, or None
    when `timeout` passed first (the one polling loop of the launcher, the scale-out set and the probes)."""
    started = time.monotonic()
    while True:
        if check():
            return time.monotonic() - started
        if time.monotonic() - started >= timeout:
            return None
        time.sleep(every)


def http_get(url: str, timeout: float = 2.0) -> tuple[int, str]:
    """GET a URL; (status, body), or (0, error) when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")
    except (urllib.error.URLError, OSError) as exc:
        return 0, str(exc)


def post_json(url: str, payload: object, timeout: float = 120.0, token: str | None = None) -> object:
    """POST a JSON payload (with a bearer token when given) and decode the JSON reply."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=json.dumps(payload).encode("utf-8"), headers=headers)
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read().decode("utf-8"))


def configured(name: str) -> str:
    """A setting (actions/settings.py: the environment, else .env), as text; empty when it is not set."""
    value = getattr(Settings(_env_file=ROOT / ".env"), name.lower())
    return "" if value is None else str(value)


HOST = configured("HOST")


def port(name: str) -> int:
    """A port setting (RASA_PORT, ACTION_PORT, WEB_PORT): the environment, else .env, else its default."""
    return int(configured(name))


def log_folder() -> Path:
    """LOG_DIR (relative paths are inside the project): where the logs and the status file go."""
    folder = Path(configured("LOG_DIR"))
    return folder if folder.is_absolute() else ROOT / folder


def secret(name: str) -> str:
    """A secret setting, or a fresh random value when it is not configured."""
    return configured(name) or secrets.token_urlsafe(32)


@dataclass
class Service:
    """One server process of the stack."""

    name: str
    command: list[str]
    health_url: str | None  # None: healthy while it runs
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen | None = None

    def start(self) -> None:
        """Starts the process in its own process group, logging to its log file."""
        # Logs may hold sender ids: owner-only folder and files (0700 / 0600).
        self.log_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.chmod(self.log_path, 0o600)  # a file from before keeps its old mode otherwise
        with open(fd, "ab") as log:
            self.process = subprocess.Popen(
                self.command,
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def running(self) -> bool:
        """True while the process is alive."""
        return self.process is not None and self.process.poll() is None

    def healthy(self, timeout: float = 2.0) -> bool:
        """True when the server answers its health URL (or, without one, while it runs)."""
        if self.health_url is None:
            return self.running()
        return http_get(self.health_url, timeout)[0] == 200

    def group_alive(self) -> bool:
        """True while any process of its group is left (a worker can outlive the process it was started by)."""
        if self.process is None:
            return False
        self.process.poll()  # reaps the leader if it exited
        try:
            os.killpg(self.process.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM to the whole process group, SIGKILL to what is left after the timeout. Also when the
        process itself already died: its children (e.g. a Sanic worker holding the port) go with it."""
        if self.process is None:
            return
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + wait
            while self.group_alive() and time.monotonic() < deadline:
                time.sleep(0.1)
            if not self.group_alive():
                break
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(1)


SERVICES = ("actions", "rasa", "notifier", "web", "console", "gateway")


@dataclass
class Stack:
    """The Rasa server and the action server, on the given ports of 127.0.0.1."""

    rasa_port: int = 5005
    action_port: int = 5055
    web_port: int = 8080
    model: Path = MODEL
    log_dir: Path = field(default_factory=log_folder)
    extra_env: dict[str, str] = field(default_factory=dict)
    services: dict[str, Service] = field(default_factory=dict)
    api_token: str = field(default_factory=lambda: configured("RASA_API_TOKEN"))  # empty: Rasa's API is off
    rest_token: str = field(default_factory=lambda: secret("RASA_REST_TOKEN"))
    action_token: str = field(default_factory=lambda: secret("ACTION_SERVER_TOKEN"))
    session_secret: str = field(default_factory=lambda: secret("WEB_SESSION_SECRET"))
    # The console's port: CONSOLE_PORT under `make run` (main passes it); a free one for a stack made in code.
    console_port: int = field(default_factory=free_port)
    console_secret: str = field(default_factory=lambda: secret("CONSOLE_SECRET"))

    @property
    def rasa_url(self) -> str:
        return f"http://{HOST}:{self.rasa_port}"

    @property
    def action_url(self) -> str:
        return f"http://{HOST}:{self.action_port}"

    @property
    def web_url(self) -> str:
        return f"http://{HOST}:{self.web_port}"

    @property
    def console_url(self) -> str:
        return f"http://{HOST}:{self.console_port}"

    @property
    def web_origins(self) -> str:
        """The page origins CORS and the socket admit: WEB_ORIGINS, else this stack's own page."""
        explicit = configured("WEB_ORIGINS")
        if explicit:
            return explicit
        hosts = [HOST, "localhost"] if HOST == "127.0.0.1" else [HOST]
        return ",".join(f"http://{h}:{self.web_port}" for h in hosts)

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            PYTHONPATH=str(ROOT),
            SANIC_HOST=HOST,
            ACTION_ENDPOINT_URL=f"{self.action_url}/webhook",
            ACTION_SERVER_TOKEN=self.action_token,
            RASA_REST_TOKEN=self.rest_token,
            WEB_SESSION_SECRET=self.session_secret,
            WEB_ORIGINS=self.web_origins,
            # The console and the notifier, which signs the console links it e-mails, share the key and the address.
            CONSOLE_SECRET=self.console_secret,
            CONSOLE_HOST=HOST,
            CONSOLE_PORT=str(self.console_port),
            RASA_URL=self.rasa_url,
            RASA_TELEMETRY_ENABLED="false",
            # Rasa at INFO logs no message texts or slot values (DEBUG logs both): pinned, whatever the shell says.
            LOG_LEVEL="INFO",
            LOG_LEVEL_LIBRARIES="ERROR",
            TF_CPP_MIN_LOG_LEVEL="2",
            PYTHONWARNINGS="ignore",
        )
        # Every native library in every process capped at NATIVE_THREADS (a variable set in the shell wins).
        threads = int(configured("NATIVE_THREADS") or 0)
        env.update({k: v for k, v in thread_environment(threads).items() if k not in os.environ})
        env.update(self.extra_env)
        # Conversations in a file of their own beside an SQLite case database unless told otherwise
        # (actions/settings.conversations_url); locks in Rasa's memory unless a Redis URL is given
        # (bot/endpoints.yml needs both variables set, if empty).
        database = env.get("DATABASE_URL") or configured("DATABASE_URL")
        trackers = env.get("TRACKER_DATABASE_URL") or configured("TRACKER_DATABASE_URL")
        env["TRACKER_DATABASE_URL"] = conversations_url(database, trackers)
        env["LOCK_STORE_URL"] = env.get("LOCK_STORE_URL") or configured("LOCK_STORE_URL")
        return env

    def action_service(self) -> Service:
        return Service(
            "actions",
            [
                str(PYTHON),
                "-m",
                "bot.action_server",
                "--actions",
                "actions",
                "--port",
                str(self.action_port),
                "--endpoints",
                str(ROOT / "bot" / "endpoints.yml"),
            ],
            f"{self.action_url}/health",
            self._env(),
            self.log_dir / "actions.log",
        )

    def rasa_service(self) -> Service:
        # The token travels on the command line (Rasa 3.6 reads it nowhere else): readable by local
        # users through `ps`, so on a shared host keep the API off.
        api = ["--enable-api", "--auth-token", self.api_token] if self.api_token else []
        return Service(
            "rasa",
            [
                *RASA_RUN,
                "run",
                *api,
                "--cors",
                *self.web_origins.split(","),
                "--interface",
                HOST,
                "--port",
                str(self.rasa_port),
                "--model",
                str(self.model),
                "--credentials",
                str(ROOT / "bot" / "credentials.yml"),
                "--endpoints",
                str(ROOT / "bot" / "endpoints.yml"),
            ],
            f"{self.rasa_url}/status?token={self.api_token}" if self.api_token else f"{self.rasa_url}/webhooks/rest/",
            {**self._env(), "SANIC_RESPONSE_TIMEOUT": str(RASA_RESPONSE_TIMEOUT)},  # Sanic reads SANIC_* settings
            self.log_dir / "rasa.log",
        )

    def notifier_service(self) -> Service:
        return Service(
            "notifier", [str(PYTHON), "-m", "bot.notifier"], None, self._env(), self.log_dir / "notifier.log"
        )

    def web_service(self) -> Service:
        return Service(
            "web",
            [str(PYTHON), "-m", "bot.channels.web", "--host", HOST, "--port", str(self.web_port)],
            f"{self.web_url}/health",
            self._env(),
            self.log_dir / "web.log",
        )

    def console_service(self) -> Service:
        return Service(
            "console",
            [str(PYTHON), "-m", "bot.console", "--host", HOST, "--port", str(self.console_port)],
            f"{self.console_url}/health",
            self._env(),
            self.log_dir / "console.log",
        )

    def gateway_service(self) -> Service:
        return Service(
            "gateway",
            [str(PYTHON), "-m", "bot.channels.telegram.gateway"],
            None,
            self._env(),
            self.log_dir / "gateway.log",
        )

    def telegram_token(self) -> str:
        """The Bot API token the gateway would use (environment, else .env), empty when there is none."""
        return self.extra_env.get("TELEGRAM_TOKEN", configured("TELEGRAM_TOKEN"))

    def default_services(self) -> tuple[str, ...]:
        """Everything `make run` starts: the gateway only when there is a Telegram token."""
        names = ("actions", "rasa", "notifier", "web", "console")
        return (*names, "gateway") if self.telegram_token() else names

    def prepare_database(self) -> None:
        """Creates the case database if it is missing and brings its schema up to date, once, here: the
        action server and the notifier never create it (a database that vanishes while they run is an
        error they report, not an empty one they fill)."""
        from actions.store import migrate

        migrate(self.extra_env.get("DATABASE_URL") or configured("DATABASE_URL"), create=True)

    def start(self, names: tuple[str, ...] | None = None, timeout: float = 240.0) -> None:
        """Starts the named services (default: `default_services()`) and waits until each is healthy."""
        names = self.default_services() if names is None else names
        if {"actions", "notifier", "console"} & set(names):
            self.prepare_database()
        makers = {
            "actions": self.action_service,
            "rasa": self.rasa_service,
            "notifier": self.notifier_service,
            "web": self.web_service,
            "console": self.console_service,
            "gateway": self.gateway_service,
        }
        for name in names:
            service = makers[name]()
            self.services[name] = service
            service.start()
        deadline = time.monotonic() + timeout
        for name in names:
            service = self.services[name]
            while not service.healthy():
                if not service.running():
                    self.stop()
                    raise RuntimeError(f"{name} exited during start-up; see {service.log_path}")
                if time.monotonic() > deadline:
                    self.stop()
                    raise TimeoutError(f"{name} did not become healthy in {timeout:.0f} s; see {service.log_path}")
                time.sleep(0.5)

    def stop(self, names: tuple[str, ...] | None = None) -> None:
        """Stops the named services (all by default), Rasa first."""
        for name in ("gateway", "web", "console", "rasa", "notifier", "actions"):
            if name in self.services and (names is None or name in names):
                self.services[name].stop()

    def say(self, message: str, sender: str = "user", timeout: float = 120.0) -> list[dict]:
        """Sends a message over Rasa's REST channel and returns the bot's messages."""
        url = f"{self.rasa_url}/webhooks/rest/webhook"
        reply = post_json(url, {"sender": sender, "message": message}, timeout, token=self.rest_token)
        assert isinstance(reply, list)
        return reply

    def api_url(self, path: str) -> str:
        """A URL of Rasa's HTTP API with this stack's token (the API must have been turned on)."""
        assert self.api_token, "Rasa's HTTP API is off: give the stack an api_token"
        return f"{self.rasa_url}{path}{'&' if '?' in path else '?'}token={urllib.parse.quote(self.api_token)}"


@dataclass
class Watch:
    """What the supervisor knows of one service."""

    state: str = "starting"  # starting, healthy, unhealthy, restarting, stopped
    started_at: float = 0.0
    healthy_since: float | None = None
    last_check: float = 0.0
    failed_checks: int = 0  # in a row
    restarts: int = 0
    backoff_level: int = 0
    restart_at: float = 0.0
    last_reason: str = ""


class Supervisor:
    """Keeps the stack's processes up: one that exits, or fails HEALTH_FAILURES health checks in a row (about
    three minutes without an answer),
    has its whole process group stopped (no orphan keeps its port) and is started again after a
    backoff of 1, 2, 4 … 60 s, reset once it has been healthy for STABLE_SECONDS. Every restart is
    logged (stderr and launcher.log), and the state of each process is written to status.json in the
    log folder after every round (read by `python -m bot.stack status`).

    Written here rather than handed to systemd or supervisord: `make run` must work on a fresh
    machine without either, and the launcher already owns the processes' groups, environment and
    health URLs. On a server, systemd units may run the same processes instead (README)."""

    # A process that exits is restarted at once; one that is alive but does not answer only after about
    # three minutes of silence: under a burst of messages Rasa answers its health URL late (its event loop
    # is busy), and restarting a server for being busy turns a slow minute into an outage (measured by
    # the soak probe: 100 conversations made 10 s checks time out, and the restart cost 79 s).
    HEALTH_EVERY = 10.0  # seconds between health checks of a running process
    HEALTH_TIMEOUT = 30.0
    HEALTH_FAILURES = 6
    START_GRACE = 240.0  # a process that has not yet been healthy gets this long (Rasa loads its model)
    STABLE_SECONDS = 120.0
    FIRST_BACKOFF = 1.0
    MAX_BACKOFF = 60.0

    def __init__(self, stack: Stack, log: Callable[[str], None] | None = None) -> None:
        self.stack = stack
        now = time.monotonic()
        self.watches = {name: Watch(state="healthy", started_at=now, healthy_since=now) for name in stack.services}
        self.log = log or self._log_line
        self.started = time.time()

    def _log_line(self, line: str) -> None:
        stamped = f"{time.strftime('%Y-%m-%d %H:%M:%S')} supervisor {line}"
        print(stamped, file=sys.stderr, flush=True)
        self.stack.log_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.stack.log_dir / "launcher.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with open(fd, "a", encoding="utf-8") as out:
            out.write(stamped + "\n")

    def tick(self, now: float | None = None) -> None:
        """One round: restarts what is due, checks what runs, writes the status file."""
        now = time.monotonic() if now is None else now
        for name, service in self.stack.services.items():
            watch = self.watches.setdefault(name, Watch(started_at=now))
            if watch.state == "restarting":
                if now >= watch.restart_at:
                    service.start()
                    watch.state, watch.started_at, watch.healthy_since = "starting", now, None
                    watch.failed_checks, watch.last_check = 0, 0.0
                    self.log(f"{name} started again (pid {service.pid})")
                continue
            if not service.running():
                code = service.process.returncode if service.process is not None else None
                self._restart(name, f"exited (code {code})", now)
                continue
            if now - watch.last_check < self.HEALTH_EVERY:
                continue
            watch.last_check = now
            if service.healthy(self.HEALTH_TIMEOUT):
                if watch.state != "healthy":
                    if watch.state == "starting" and watch.restarts:
                        self.log(f"{name} is healthy again after {now - watch.started_at:.0f} s")
                    watch.state, watch.healthy_since = "healthy", now
                watch.failed_checks = 0
                if watch.healthy_since is not None and now - watch.healthy_since > self.STABLE_SECONDS:
                    watch.backoff_level = 0
                continue
            if watch.state == "starting" and now - watch.started_at < self.START_GRACE:
                continue
            watch.failed_checks += 1
            watch.state = "unhealthy"
            if watch.failed_checks >= self.HEALTH_FAILURES:
                self._restart(name, f"failed {watch.failed_checks} health checks in a row", now)
        self.write_status()

    def _restart(self, name: str, reason: str, now: float) -> None:
        service, watch = self.stack.services[name], self.watches[name]
        service.stop(timeout=5.0)  # the whole group: a worker left behind would keep the port
        delay = min(self.FIRST_BACKOFF * 2.0**watch.backoff_level, self.MAX_BACKOFF)
        watch.backoff_level += 1
        watch.restarts += 1
        watch.state, watch.restart_at, watch.last_reason = "restarting", now + delay, reason
        self.log(f"{name} {reason}; restarting in {delay:.0f} s (restart {watch.restarts})")

    def status(self) -> dict[str, Any]:
        """What `python -m bot.stack status` prints: the launcher, and each process's state."""
        return {
            "launcher_pid": os.getpid(),
            "started": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.started)),
            "written": time.strftime("%Y-%m-%d %H:%M:%S"),
            "processes": {
                name: {
                    "pid": service.pid,
                    "state": self.watches[name].state if name in self.watches else "starting",
                    "restarts": self.watches[name].restarts if name in self.watches else 0,
                    "last_reason": self.watches[name].last_reason if name in self.watches else "",
                    "health_url": service.health_url,
                    "log": str(service.log_path),
                }
                for name, service in self.stack.services.items()
            },
        }

    def write_status(self) -> None:
        """status.json in the log folder, replaced atomically (owner-only, like the logs)."""
        path = self.stack.log_dir / "status.json"
        self.stack.log_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        partial = path.with_suffix(".json.partial")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with open(fd, "w", encoding="utf-8") as out:
            json.dump(self.status(), out, indent=1)
        os.replace(partial, path)

    def stopped(self) -> None:
        """Records in the status file that the stack was stopped on purpose."""
        for watch in self.watches.values():
            watch.state = "stopped"
        self.write_status()

    def run_in_background(self, every: float = 1.0) -> Callable[[], None]:
        """Ticks in a thread until the returned function is called (the tests and probes use this)."""
        stop = threading.Event()

        def loop() -> None:
            while not stop.wait(every):
                self.tick()

        thread = threading.Thread(target=loop, name="supervisor", daemon=True)
        thread.start()

        def stopper() -> None:
            stop.set()
            thread.join(30)

        return stopper


def status_report(log_dir: Path, timeout: float = 3.0) -> tuple[int, str]:
    """The launcher's status file checked against what answers now: (0 when all is well, else 1; the text)."""
    path = log_dir / "status.json"
    if not path.exists():
        return 1, f"no stack has run with this log folder ({path} is missing)"
    status = json.loads(path.read_text(encoding="utf-8"))
    try:
        os.kill(int(status["launcher_pid"]), 0)
        launcher = f"running (pid {status['launcher_pid']}, since {status['started']})"
        alive = True
    except (ProcessLookupError, PermissionError, ValueError):
        launcher, alive = f"not running (last status written {status['written']})", False
    lines = [f"launcher: {launcher}", f"{'process':<10}{'pid':>8}  {'state':<11}{'now':<10}restarts  last restart"]
    ok = alive
    for name, p in status["processes"].items():
        if not alive:
            now = "-"
        elif p["health_url"]:
            now = "answers" if http_get(p["health_url"], timeout)[0] == 200 else "no answer"
        else:
            now = "runs" if _pid_alive(p["pid"]) else "gone"
        ok = ok and p["state"] == "healthy" and now in ("answers", "runs")
        lines.append(f"{name:<10}{p['pid'] or '-':>8}  {p['state']:<11}{now:<10}{p['restarts']:>8}  {p['last_reason']}")
    return (0 if ok else 1), "\n".join(lines)


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _banner(stack: Stack) -> str:
    telegram = (
        "gateway running (long polling; logs in gateway.log)"
        if "gateway" in stack.services
        else "gateway not started: TELEGRAM_TOKEN is not set (README: Going live on Telegram)"
    )
    rest = (
        "from your environment/.env" if configured("RASA_REST_TOKEN") else "not set; this run's is " + stack.rest_token
    )
    console_key = (
        ""
        if configured("CONSOLE_SECRET")
        else "\n              CONSOLE_SECRET is not set: sign-ins and e-mailed case links end with this run"
    )
    api = "on, with RASA_API_TOKEN" if stack.api_token else "off (set RASA_API_TOKEN to turn it on; never expose it)"
    return f"""
The bot is running.
  REST:       curl -s {stack.rasa_url}/webhooks/rest/webhook -H "Authorization: Bearer $RASA_REST_TOKEN" \\
                -d '{{"sender":"u1","message":"中日PPH需要提交哪些材料？"}}'   (RASA_REST_TOKEN: {rest})
  Rasa API:   {api}
  web chat:   {stack.web_url}/   (the rasa-webchat widget on Rasa's socket.io channel)
  console:    {stack.console_url}/   (staff and experts; accounts: .venv/bin/python -m actions.cli accounts add NAME --role staff){console_key}
  Telegram:   {telegram}
  actions:    {stack.action_url}/health
  logs:       {stack.log_dir}/rasa.log, actions.log, notifier.log, console.log, launcher.log (restarts)
  status:     .venv/bin/python -m bot.stack status   (a process that dies or stops answering is restarted)
  cases:      .venv/bin/python -m actions.cli cases list   (notifications without a Telegram token: .run/notifications.jsonl)
Press Ctrl-C to stop.
"""


def main(argv: list[str] | None = None) -> int:
    """`run` starts the stack (Rasa, the action server, the notifier, the web page, the console, the gateway
    with a Telegram token) until Ctrl-C; `shell` opens a terminal chat."""
    parser = argparse.ArgumentParser(prog="python -m bot.stack")
    parser.add_argument("command", choices=["run", "shell", "status"])
    parser.add_argument("--rasa-port", type=int, default=port("RASA_PORT"))
    parser.add_argument("--action-port", type=int, default=port("ACTION_PORT"))
    parser.add_argument("--web-port", type=int, default=port("WEB_PORT"))
    parser.add_argument("--console-port", type=int, default=port("CONSOLE_PORT"))
    parser.add_argument("--log-dir", type=Path, default=None, help="LOG_DIR by default")
    parser.add_argument(
        "--services",
        default=None,
        help="run only these, comma-separated (actions, rasa, notifier, web, console, gateway); default: all of this "
        "machine's",
    )
    args = parser.parse_args(argv)
    if args.command == "status":
        code, text = status_report(args.log_dir or log_folder())
        print(text)
        return code
    stack = Stack(
        args.rasa_port,
        args.action_port,
        args.web_port,
        log_dir=args.log_dir or log_folder(),
        console_port=args.console_port,
    )
    supervisor: Supervisor | None = None
    names = stack.default_services()
    if args.services:
        names = tuple(n.strip() for n in args.services.split(",") if n.strip())
        unknown = sorted(set(names) - set(SERVICES))
        if unknown:
            parser.error(f"unknown service {', '.join(unknown)}: choose from {', '.join(SERVICES)}")

    def interrupted(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    for sig in (signal.SIGTERM, signal.SIGHUP):  # a closed terminal stops the stack too
        signal.signal(sig, interrupted)
    try:
        if args.command == "shell":
            stack.start(("actions",))
            env = stack._env()
            return subprocess.call(
                [
                    *RASA_RUN,
                    "shell",
                    "--model",
                    str(stack.model),
                    "--endpoints",
                    str(ROOT / "bot" / "endpoints.yml"),
                    "--port",
                    str(free_port()),
                ],
                cwd=ROOT,
                env=env,
            )
        print(f"starting {', '.join(names)} (logs in {stack.log_dir}) …", flush=True)
        stack.start(names)
        print(_banner(stack), flush=True)
        supervisor = Supervisor(stack)
        while True:  # until Ctrl-C or SIGTERM
            supervisor.tick()
            time.sleep(1)
    except KeyboardInterrupt:
        print("\nstopping …", flush=True)
        return 0
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # finish stopping, whatever arrives
            signal.signal(sig, signal.SIG_IGN)
        stack.stop()
        if supervisor is not None:
            supervisor.stopped()


if __name__ == "__main__":
    sys.exit(main())
