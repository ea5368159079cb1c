"""Scale-out on one machine: two Rasa replicas behind nginx, two action servers, two notifiers, all on one
PostgreSQL (cases and conversations) and one Redis (Rasa's conversation locks), every process on 127.0.0.1.

    python -m bot.scale demo     # what `make scale-demo` calls: starts the set, shows it, stops it

The demo shows that a conversation's turns alternate between the Rasa replicas (nginx round robin; the
`X-Upstream` header nginx adds names the replica of each turn) and keep their state (the case form goes on
step by step), that killing one replica mid-conversation loses nothing (nginx passes the next turn to the
other one), that a knowledge index build published to each action server's own INDEX_DIR is answered from
without a restart, and that two notifiers deliver every outbox row exactly once. PostgreSQL is a throwaway
cluster in a temporary folder, not the system's; Redis and nginx run with configurations of their own there
too (Debian's packages: `apt-get install postgresql redis-server nginx`, which `make scale-demo` does).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from bot.stack import HOST, MODEL, ROOT, Service, Stack, free_port, wait_until

START_TIMEOUT = 600.0  # two Rasa replicas loading their model at once on two cores, maybe beside a test run

# The case form walked across the replicas: (message, what the reply must contain).
FORM_WALK: list[tuple[str, str]] = [
    ("I need an expert", "Step 1"),
    ("Scale Robotics Co., Ltd.", "Step 2"),
    ("scale@example.com", "Step 3"),
    ("Japan", "Step 4"),
    ('/inform{"ip_type":"patent"}', "Step 5"),
    ('/inform{"incident_type":"warning_letter"}', "Step 6"),
    ("none", "Step 7"),
    ("A Japanese company says our robot arms infringe its patent.", "Last step"),
    ("yes, share it", "Your case is open"),
]
LOAD_MESSAGE = "What is the PPH?"


def pg_bin(name: str) -> str:
    """The path of a PostgreSQL server program (Debian keeps them out of PATH)."""
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    path = found[-1] if found else shutil.which(name)
    if not path:
        raise FileNotFoundError(f"{name} not found: apt-get install postgresql (make scale-demo does)")
    return path


def require(program: str, package: str) -> str:
    """The path of a program, or an error naming the Debian package that has it."""
    path = shutil.which(program) or (f"/usr/sbin/{program}" if Path(f"/usr/sbin/{program}").exists() else None)
    if not path:
        raise FileNotFoundError(f"{program} not found: apt-get install {package} (make scale-demo does)")
    return path


def run_checked(command: list[str]) -> None:
    """Runs a command; RuntimeError with its output when it fails."""
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout}{done.stderr}")


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    """Waits until `check()` is true; TimeoutError naming `what` otherwise."""
    if wait_until(check, timeout) is None:
        raise TimeoutError(f"{what} not ready after {timeout:.0f} s")


@dataclass
class Postgres:
    """A throwaway PostgreSQL cluster in a temporary folder of its own (as root: owned by the postgres user),
    on a free port of 127.0.0.1, trust authentication, fsync off."""

    data: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="ipbot-scale-pg-")))
    port: int = field(default_factory=free_port)
    user: str = "ipbot"

    def _as_postgres(self) -> list[str]:
        return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []  # initdb refuses root

    def start(self) -> None:
        """Creates the cluster and starts the server; returns when it accepts connections."""
        if os.geteuid() == 0:
            shutil.chown(self.data, "postgres")
        run = self._as_postgres()
        run_checked([*run, pg_bin("initdb"), "-D", str(self.data), "-A", "trust", "-U", self.user])
        options = f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        run_checked(
            [*run, pg_bin("pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.data / "log"), "-w", "start"]
        )

    def stop(self, keep_log: Path | None = None) -> None:
        """Stops the server (fast shutdown) and removes the cluster, keeping its log at `keep_log` if given."""
        subprocess.run(
            [*self._as_postgres(), pg_bin("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"],
            capture_output=True,
        )
        if keep_log is not None and (self.data / "log").exists():
            keep_log.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(self.data / "log", keep_log)
        shutil.rmtree(self.data, ignore_errors=True)

    def url(self, database: str) -> str:
        """The SQLAlchemy URL of a database of this cluster (psycopg 3, as the action server uses)."""
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """Creates a database and returns its URL."""
        import psycopg

        admin = f"postgresql://{self.user}@127.0.0.1:{self.port}/postgres"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


def redis_ping(port: int) -> bool:
    """True when a Redis server answers PING on 127.0.0.1:port."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def redis_lock_commands(port: int) -> int:
    """How many commands the Redis server on 127.0.0.1:port has run (`INFO commandstats`), not counting the
    INFO calls themselves: it grows with every message, as each Rasa replica takes and frees the lock of its
    conversation there."""
    with socket.create_connection(("127.0.0.1", port), timeout=2.0) as s:
        s.sendall(b"INFO commandstats\r\n")
        data = b""
        while b"\r\n" not in data:
            data += s.recv(65536)
        header, _, data = data.partition(b"\r\n")  # a bulk string: $<length>\r\n<text>\r\n
        length = int(header.lstrip(b"$"))
        while len(data) < length:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    total = 0
    for line in data.decode("utf-8", "replace").splitlines():
        if line.startswith("cmdstat_") and not line.startswith("cmdstat_info:"):
            total += int(line.split("calls=")[1].split(",")[0])
    return total


def redis_service(port: int, log_dir: Path) -> Service:
    """Redis on 127.0.0.1:port, in memory only (no dump, no append-only file)."""
    command = [require("redis-server", "redis-server"), "--port", str(port), "--bind", "127.0.0.1"]
    command += ["--save", "", "--appendonly", "no", "--daemonize", "no", "--protected-mode", "yes"]
    return Service("redis", command, None, dict(os.environ), log_dir / "redis.log")


NGINX_CONF = """\
worker_processes 1;  # one round-robin state: turns alternate strictly between the replicas
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 256; }}
http {{
    log_format upstream '$time_iso8601 "$request" $status upstream=$upstream_addr upstream_status=$upstream_status $request_time s';
    access_log {dir}/access.log upstream;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    # Requests and replies stay in memory (the worker need not write the temporary folders).
    client_max_body_size 1m;
    client_body_buffer_size 1m;
    proxy_max_temp_file_size 0;
    upstream rasa {{
{servers}
    }}
    server {{
        listen 127.0.0.1:{port};
        location = /nginx-health {{ return 200 "ok\\n"; }}
        location / {{
            proxy_pass http://rasa;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            # A replica that refuses the connection or times out: the request goes to the other one. A POST
            # already sent to a replica is not sent again (it may have been handled): nginx's default.
            proxy_next_upstream error timeout http_502;
            proxy_connect_timeout 2s;
            proxy_read_timeout 120s;
            add_header X-Upstream $upstream_addr always;
        }}
    }}
}}
"""


def nginx_service(port: int, upstream_ports: list[int], folder: Path) -> Service:
    """nginx on 127.0.0.1:port, round robin over the Rasa replicas' ports, with its files in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    servers = "\n".join(f"        server {HOST}:{p} max_fails=1 fail_timeout=10s;" for p in upstream_ports)
    (folder / "nginx.conf").write_text(NGINX_CONF.format(dir=folder, servers=servers, port=port), encoding="utf-8")
    command = [require("nginx", "nginx"), "-p", str(folder), "-c", str(folder / "nginx.conf"), "-g", "daemon off;"]
    return Service("nginx", command, f"http://127.0.0.1:{port}/nginx-health", dict(os.environ), folder / "nginx.log")


@dataclass
class Reply:
    """One turn through nginx: which replica(s) nginx tried (the last one answered) and the bot's messages."""

    upstreams: list[str]
    messages: list[dict]
    seconds: float

    @property
    def text(self) -> str:
        """The bot's texts, joined."""
        return "\n".join(m["text"] for m in self.messages if "text" in m)

    @property
    def answered(self) -> bool:
        """True when the bot answered from the knowledge base (its answer's custom payload says so)."""
        return any((m.get("custom") or {}).get("answered") for m in self.messages)


@dataclass
class Turn:
    """One step of a conversation walked through nginx."""

    message: str
    expected: str
    replicas: list[str]  # the replicas nginx tried, by name; the last one answered
    text: str

    @property
    def ok(self) -> bool:
        """True when the reply contains what this step expects."""
        return self.expected in self.text


@dataclass
class ScaleSet:
    """The scaled-out bot on 127.0.0.1: PostgreSQL, Redis, two action servers, two Rasa replicas (each
    with its own action server), nginx in front of the replicas, and two notifiers."""

    workdir: Path
    replicas: int = 2
    notifiers: int = 2
    rasa: list[Stack] = field(default_factory=list)  # one Stack per replica: its action server and Rasa
    notifier: list[Stack] = field(default_factory=list)  # one Stack per notifier
    infrastructure: list[Service] = field(default_factory=list)  # Redis, nginx
    postgres: Postgres | None = None
    nginx_port: int = 0
    redis_port: int = 0
    cases_url: str = ""
    trackers_url: str = ""
    rest_token: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    action_token: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    session_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))

    @property
    def url(self) -> str:
        """The front door: nginx."""
        return f"http://127.0.0.1:{self.nginx_port}"

    def replica_names(self) -> dict[str, str]:
        """Rasa's upstream address (as nginx reports it) → the replica's name."""
        return {f"{HOST}:{s.rasa_port}": f"rasa-{chr(ord('a') + i)}" for i, s in enumerate(self.rasa)}

    @property
    def knowledge_dir(self) -> Path:
        """The set's copy of knowledge/ (the same files for every process, as on every machine)."""
        return self.workdir / "knowledge"

    @property
    def builder_index(self) -> Path:
        """Where index builds are made (`make index` on one machine) before they are published."""
        return self.workdir / "index-builder"

    def index_dirs(self) -> list[Path]:
        """Each action server's own INDEX_DIR, as if each ran on its own machine."""
        return [self.workdir / f"replica-{chr(ord('a') + i)}" / "index" for i in range(self.replicas)]

    def sink(self, n: int) -> Path:
        """The notifications file of notifier n."""
        return self.workdir / f"notifier-{chr(ord('a') + n)}" / "notifications.jsonl"

    def shared_env(self) -> dict[str, str]:
        """The settings every process of the set gets (the same on every machine of a real deployment)."""
        return {
            "DATABASE_URL": self.cases_url,
            "TRACKER_DATABASE_URL": self.trackers_url,
            "LOCK_STORE_URL": f"redis://127.0.0.1:{self.redis_port}/1",
            "KNOWLEDGE_DIR": str(self.knowledge_dir),
            "WATCH_KNOWLEDGE": "false",  # builds are made once and published, not made by each action server
            "TELEGRAM_TOKEN": "",  # deliveries go to each notifier's sink file
            "NOTIFIER_POLL_SECONDS": "0.2",
        }

    def _stack(self, log_dir: Path, env: dict[str, str]) -> Stack:
        return Stack(
            free_port(),
            free_port(),
            free_port(),
            log_dir=log_dir,
            extra_env=env,
            api_token="",
            rest_token=self.rest_token,
            action_token=self.action_token,
            session_secret=self.session_secret,
        )

    def start(self, log: Callable[[str], None] = print) -> None:
        """Starts everything and waits until every part answers; on failure stops what was started."""
        from actions.retrieval.build import fresh_index_copy
        from actions.store import migrate

        if not MODEL.exists():
            raise FileNotFoundError(f"{MODEL} is missing: run `make train`")
        try:
            self.postgres = Postgres()
            log(f"PostgreSQL: a throwaway cluster in {self.postgres.data}, port {self.postgres.port}")
            self.postgres.start()
            self.cases_url = self.postgres.create_database("cases")
            self.trackers_url = self.postgres.create_database("trackers")
            migrate(self.cases_url, create=True)
            self.redis_port = free_port()
            redis = redis_service(self.redis_port, self.workdir / "logs")
            self.infrastructure.append(redis)
            redis.start()
            wait_for(lambda: redis_ping(self.redis_port), 30, "Redis")
            log(f"Redis: 127.0.0.1:{self.redis_port}; knowledge index: a fresh copy of .index, published")
            shutil.copytree(ROOT / "knowledge", self.knowledge_dir)
            fresh_index_copy(ROOT / ".index", self.knowledge_dir, self.builder_index)
            publish_build(self.builder_index, self.index_dirs())
            self._create_tracker_tables()
            env = self.shared_env()
            self.rasa = [
                self._stack(self.workdir / f"replica-{chr(ord('a') + i)}", {**env, "INDEX_DIR": str(index)})
                for i, index in enumerate(self.index_dirs())
            ]
            self.notifier = [
                self._stack(
                    self.workdir / f"notifier-{chr(ord('a') + n)}",
                    {**env, "NOTIFIER_NAME": f"notifier-{chr(ord('a') + n)}", "NOTIFIER_SINK": str(self.sink(n))},
                )
                for n in range(self.notifiers)
            ]
            # One after the other where Stack.start migrates the case database (Alembic is not thread-safe),
            # then the Rasa replicas together: loading the model is what takes long.
            log(f"starting {self.notifiers} notifiers and {self.replicas} action servers …")
            for stack in self.notifier:
                stack.start(("notifier",), START_TIMEOUT)
            for stack in self.rasa:
                stack.start(("actions",), START_TIMEOUT)
            log(f"starting {self.replicas} Rasa replicas (a minute or more to load the model) …")
            pool = ThreadPoolExecutor(len(self.rasa))
            jobs = [pool.submit(s.start, ("rasa",), START_TIMEOUT) for s in self.rasa]
            try:
                for job in as_completed(jobs):
                    if (error := job.exception()) is not None:
                        raise error
            except BaseException:  # a failed start-up, or Ctrl-C: the others see their services gone and give up
                for stack in self.rasa:
                    stack.stop()
                raise
            finally:
                pool.shutdown(wait=False)
            self.nginx_port = free_port()
            nginx = nginx_service(self.nginx_port, [s.rasa_port for s in self.rasa], self.workdir / "nginx")
            self.infrastructure.append(nginx)
            nginx.start()
            wait_for(nginx.healthy, 30, "nginx")
            log(f"nginx: {self.url} → " + ", ".join(f"{n} ({a})" for a, n in self.replica_names().items()))
        except BaseException:
            self.stop()
            raise

    def _create_tracker_tables(self) -> None:
        """Creates Rasa's tracker tables once, before the replicas start: two Rasa processes creating them
        at the same moment can collide on PostgreSQL."""
        code = "import sys; from bot.tracker_store import ErasingSQLTrackerStore as S; S(None, host=sys.argv[1])"
        env = {**os.environ, "PYTHONPATH": str(ROOT), "RASA_TELEMETRY_ENABLED": "false", "PYTHONWARNINGS": "ignore"}
        python = ROOT / ".venv-rasa" / "bin" / "python"
        done = subprocess.run(
            [str(python), "-c", code, self.trackers_url], cwd=ROOT, env=env, capture_output=True, text=True
        )
        if done.returncode != 0:
            raise RuntimeError(f"creating Rasa's tracker tables failed:\n{done.stderr[-2000:]}")

    def stop(self) -> None:
        """Stops nginx, the replicas, the notifiers, Redis and PostgreSQL."""
        for service in reversed(self.infrastructure[1:]):
            service.stop()
        for stack in (*self.rasa, *self.notifier):
            stack.stop()
        if self.infrastructure:
            self.infrastructure[0].stop()
        if self.postgres is not None:
            self.postgres.stop(keep_log=self.workdir / "logs" / "postgres.log")

    def say(self, message: str, sender: str, timeout: float = 120.0) -> Reply:
        """Sends a message to the REST channel through nginx; the reply and the replicas nginx tried."""
        request = urllib.request.Request(
            f"{self.url}/webhooks/rest/webhook",
            data=json.dumps({"sender": sender, "message": message}).encode("utf-8"),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {self.rest_token}"},
        )
        started = time.monotonic()
        with urllib.request.urlopen(request, timeout=timeout) as response:
            upstream = response.headers.get("X-Upstream", "")
            messages = json.loads(response.read().decode("utf-8"))
        return Reply(self.replicas_of(upstream), messages, time.monotonic() - started)

    def replicas_of(self, upstream_header: str) -> list[str]:
        """The replicas nginx tried for a request, by name, from its `X-Upstream` header ($upstream_addr)."""
        names = self.replica_names()
        return [names.get(a.strip(), a.strip()) for a in upstream_header.split(",") if a.strip()]

    def kill_replica(self, name: str) -> None:
        """kill -9 of a Rasa replica's process group, as a crash would end it."""
        stack = self.rasa[list(self.replica_names().values()).index(name)]
        process = stack.services["rasa"].process
        assert process is not None
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)


def walk(
    scale: ScaleSet,
    steps: list[tuple[str, str]],
    sender: str,
    kill_after: int | None = None,
    log: Callable[[str], None] = print,
) -> list[Turn]:
    """Walks a conversation through nginx; after turn `kill_after` the replica that would answer the next
    turn (round robin) is killed with SIGKILL."""
    turns: list[Turn] = []
    for number, (message, expected) in enumerate(steps, start=1):
        reply = scale.say(message, sender)
        turn = Turn(message, expected, reply.upstreams, reply.text)
        turns.append(turn)
        log(f"  turn {number}: {' → '.join(turn.replicas):<16} {message[:44]!r:<48} {'ok' if turn.ok else 'WRONG'}")
        if not turn.ok:
            log(f"    reply: {reply.text[:300]!r}")
            break
        if kill_after == number:
            others = [n for n in scale.replica_names().values() if n != turn.replicas[-1]]
            victim = others[0]
            scale.kill_replica(victim)
            log(f"  kill -9 {victim} (the next in nginx's round robin)")
    return turns


def publish_build(builder_index: Path, index_dirs: list[Path]) -> str:
    """Publishes the builder's current index build to each action server's INDEX_DIR: the build's folder
    first, then the CURRENT pointer, replaced atomically, which the action server looks at before each
    question (actions/retrieval/provider.py). Returns the build's name."""
    from actions.retrieval.build import current_build
    from actions.retrieval.passage import POINTER

    build = current_build(builder_index)
    for index in index_dirs:
        target = index / "builds" / build.name
        if not target.exists():
            partial = index / "builds" / f".{build.name}.partial"  # never a half-copied folder under its name
            shutil.rmtree(partial, ignore_errors=True)
            shutil.copytree(build, partial)
            partial.rename(target)
        (index / f"{POINTER}.tmp").write_text(build.name + "\n", encoding="utf-8")
        os.replace(index / f"{POINTER}.tmp", index / POINTER)
    return build.name


def cited_review_dates(reply: Reply) -> set[str]:
    """The review dates of the sources an answer cites (its custom payload's citations)."""
    return {
        str(c.get("last_reviewed"))
        for m in reply.messages
        for c in (m.get("custom") or {}).get("citations") or []
        if c.get("last_reviewed")
    }


@dataclass
class Publication:
    """A new index build published to every action server: its name, the review date its sources now
    carry, and per replica the seconds until an answer through it cited that date (None: never)."""

    build: str
    reviewed: str
    picked_up: dict[str, float | None]
    cited_before: set[str]  # the review dates answers cited just before the publication


def publish_new_build(scale: ScaleSet, timeout: float = 90.0) -> Publication:
    """Marks every knowledge document reviewed on a date no document had, builds the index again (no
    passage changes, so nothing is embedded again), publishes the build to each action server's
    INDEX_DIR and asks through nginx until every replica's answers cite the new date."""
    import re
    from datetime import date, timedelta

    from actions.retrieval.build import build_index
    from actions.settings import Settings

    documents = [p for p in scale.knowledge_dir.rglob("*.md") if p.name != "README.md"]
    pattern = re.compile(r"^last_reviewed: *(\S+)", re.M)
    used = {m for p in documents for m in pattern.findall(p.read_text(encoding="utf-8"))}
    day = date.today()
    while day.isoformat() in used:
        day -= timedelta(days=1)
    reviewed = day.isoformat()
    for p in documents:
        p.write_text(pattern.sub(f"last_reviewed: {reviewed}", p.read_text(encoding="utf-8")), encoding="utf-8")
    sender = f"publish-{uuid.uuid4().hex[:6]}"
    before = set().union(*(cited_review_dates(scale.say(LOAD_MESSAGE, sender)) for _ in scale.rasa))
    build_index(
        Settings(knowledge_dir=scale.knowledge_dir, index_dir=scale.builder_index), progress=False, log=lambda _: None
    )
    started = time.monotonic()
    name = publish_build(scale.builder_index, scale.index_dirs())
    picked: dict[str, float | None] = dict.fromkeys(scale.replica_names().values())
    while any(v is None for v in picked.values()) and time.monotonic() - started < timeout:
        reply = scale.say(LOAD_MESSAGE, sender)
        replica = reply.upstreams[-1] if reply.upstreams else ""
        if picked.get(replica, 0.0) is None and reviewed in cited_review_dates(reply):
            picked[replica] = time.monotonic() - started
        time.sleep(0.3)
    return Publication(name, reviewed, picked, before)


def stored_events(scale: ScaleSet, sender: str) -> int:
    """How many events of a conversation Rasa's tracker store holds in PostgreSQL."""
    from sqlalchemy import text

    from actions.store import session_scope

    with session_scope(scale.trackers_url) as s:
        return int(s.scalar(text("SELECT count(*) FROM events WHERE sender_id = :s"), {"s": sender}) or 0)


def sample_intake(n: int):
    """A complete intake of a case opened directly in the case store (no chat), the n-th of a batch."""
    from actions.cases.service import Intake

    return Intake(
        sender_id=f"scale-{n}",
        channel="rest",
        language="en",
        enterprise=f"Scale Sample {n} Co., Ltd.",
        contact=f"scale{n}@example.com",
        contact_kind="email",
        country="JP",
        ip_type="trademark",
        incident_type="warning_letter",
        deadline=None,
        description=f"Sample case {n}: a warning letter about our brand in Japan.",
        consent=True,
        industry="machinery",
    )


@dataclass
class Deliveries:
    """What the notifiers did with the outbox: row ids per notifier's sink, and the rows' statuses."""

    per_notifier: dict[str, list[int]]
    statuses: dict[int, str]  # every outbox row the notifiers deliver (not the web channel's)

    def counts(self) -> Counter[int]:
        """How often each row id was delivered, over all sinks."""
        return Counter(i for ids in self.per_notifier.values() for i in ids)

    @property
    def exactly_once(self) -> bool:
        """True when every row was delivered once, by one notifier, and is marked delivered."""
        counts = self.counts()
        return (
            bool(self.statuses)
            and set(counts) == set(self.statuses)
            and all(c == 1 for c in counts.values())
            and all(s == "delivered" for s in self.statuses.values())
        )


def read_deliveries(scale: ScaleSet) -> Deliveries:
    """The row ids in each notifier's sink and the statuses of the outbox rows they are to deliver."""
    from sqlalchemy import select

    from actions.store import OutboxMessage, session_scope

    per: dict[str, list[int]] = {}
    for n in range(len(scale.notifier)):
        path = scale.sink(n)
        lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
        per[f"notifier-{chr(ord('a') + n)}"] = [json.loads(line)["id"] for line in lines if line.strip()]
    with session_scope(scale.cases_url) as s:
        rows = s.execute(select(OutboxMessage.id, OutboxMessage.status).where(OutboxMessage.channel != "web")).all()
    return Deliveries(per, {i: status for i, status in rows})


def open_cases(scale: ScaleSet, count: int, spacing: float = 0.15) -> list[str]:
    """Opens `count` cases directly in the case store, a little apart so both notifiers get to claim some."""
    from actions.cases.experts import load_experts
    from actions.cases.service import open_case
    from actions.cases.staff import load_staff
    from actions.settings import Settings
    from actions.store import session_scope

    settings = Settings(knowledge_dir=ROOT / "knowledge", database_url=scale.cases_url)
    experts, _ = load_experts(settings.experts_file)
    staff, _ = load_staff(settings.staff_file)
    numbers = []
    for n in range(count):
        with session_scope(scale.cases_url) as s:
            case, _ = open_case(s, sample_intake(n), experts, staff=staff)
            numbers.append(str(case.case_no))
        time.sleep(spacing)
    return numbers


def await_deliveries(scale: ScaleSet, timeout: float = 60.0) -> Deliveries:
    """Waits until no outbox row is pending (or the timeout) and returns what was delivered."""

    def settled() -> bool:
        found = read_deliveries(scale)
        done = bool(found.statuses) and all(s != "pending" for s in found.statuses.values())
        return done and sum(found.counts().values()) >= len(found.statuses)

    wait_until(settled, timeout, every=0.5)
    return read_deliveries(scale)


@dataclass
class Load:
    """A bounded load through nginx: questions answered per replica in the elapsed time."""

    per_replica: Counter[str]
    seconds: float
    failures: int  # no reply, or a reply without an answer

    def rate(self, replica: str) -> float:
        """Messages per second this replica answered over the run."""
        return self.per_replica[replica] / self.seconds if self.seconds else 0.0


def bounded_load(scale: ScaleSet, messages: int = 40, workers: int = 4, time_limit: float = 180.0) -> Load:
    """Sends `messages` knowledge questions through nginx from `workers` conversations at once, stopping
    early at `time_limit` seconds."""
    per: Counter[str] = Counter()
    failures = 0
    lock = threading.Lock()
    remaining = [messages]
    deadline = time.monotonic() + time_limit

    def worker(n: int) -> None:
        nonlocal failures
        sender = f"load-{n}-{uuid.uuid4().hex[:6]}"
        while time.monotonic() < deadline:
            with lock:
                if remaining[0] <= 0:
                    return
                remaining[0] -= 1
            try:
                reply = scale.say(LOAD_MESSAGE, sender, timeout=max(1.0, deadline - time.monotonic()))
                ok = reply.answered and bool(reply.upstreams)
            except OSError:
                ok = False
            with lock:
                if ok:
                    per[reply.upstreams[-1]] += 1
                else:
                    failures += 1

    started = time.monotonic()
    threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(time_limit + 5)
    return Load(per, time.monotonic() - started, failures)


def demo(cases: int = 10, load_messages: int = 100, keep: bool = False) -> int:
    """Starts the set, shows round robin with state, failover and exactly-once delivery, prints a report."""
    workdir = Path(tempfile.mkdtemp(prefix="ipbot-scale-"))
    scale = ScaleSet(workdir)
    report: list[str] = []
    ok = True
    try:
        scale.start()
        names = list(scale.replica_names().values())
        load = Load(Counter(), 0.0, 0)
        if load_messages:
            print(f"\n(1) bounded load: {load_messages} × {LOAD_MESSAGE!r}, 4 conversations at once, at most 180 s")
            load = bounded_load(scale, load_messages)
            for name in names:
                print(f"  {name}: {load.per_replica[name]} messages, {load.rate(name):.2f} messages/s")
            total = sum(load.per_replica.values())
            rate = total / load.seconds if load.seconds else 0.0
            print(f"  together: {total} in {load.seconds:.1f} s = {rate:.2f} messages/s, failures {load.failures}")
            ok &= load.failures == 0 and all(load.per_replica[n] for n in names)

        print("\n(2) a new knowledge index build published to both action servers' INDEX_DIR (builds/…, then CURRENT)")
        publication = publish_new_build(scale)
        for name, seconds in publication.picked_up.items():
            when = f"after {seconds:.1f} s" if seconds is not None else "NOT within 90 s"
            print(f"  {name}: answers cite the sources as reviewed {publication.reviewed} {when}")
        print(f"  before: answers cited {', '.join(sorted(publication.cited_before)) or 'nothing'}")
        ok &= all(v is not None for v in publication.picked_up.values()) and bool(publication.cited_before)
        ok &= publication.reviewed not in publication.cited_before

        print("\n(3) the case form through nginx, a replica killed after turn 4")
        locks_before = redis_lock_commands(scale.redis_port)
        sender = f"scale-{uuid.uuid4().hex[:8]}"
        turns = walk(scale, FORM_WALK, sender, kill_after=4)
        locks = redis_lock_commands(scale.redis_port) - locks_before
        events = stored_events(scale, sender)
        alternated = all(a.replicas[-1] != b.replicas[-1] for a, b in zip(turns[:4], turns[1:4], strict=False))
        failed_over = len(turns) > 4 and len(turns[4].replicas) == 2
        walked = len(turns) == len(FORM_WALK) and all(t.ok for t in turns)
        print(f"  turns 1-4 alternate between the replicas: {alternated}")
        print(
            f"  turn 5 tried the killed replica, then the live one: {failed_over} ({' → '.join(turns[4].replicas) if len(turns) > 4 else '-'})"
        )
        print(f"  every step answered with the next one, case opened: {walked}")
        print(f"  Redis (the lock store) ran {locks} commands for these {len(turns)} turns")
        print(f"  PostgreSQL (the tracker store) holds {events} events of this conversation")
        ok &= alternated and failed_over and walked and locks >= len(turns) and events > 0

        print(f"\n(4) {cases} cases opened directly in the case store; two notifiers deliver the outbox")
        open_cases(scale, cases)
        found = await_deliveries(scale)
        for notifier, ids in found.per_notifier.items():
            print(f"  {notifier}: {len(ids)} rows delivered")
        counts = found.counts()
        twice = sorted(i for i, c in counts.items() if c > 1)
        missing = sorted(set(found.statuses) - set(counts))
        undelivered = sorted(i for i, s in found.statuses.items() if s != "delivered")
        print(f"  outbox rows: {len(found.statuses)}; delivered twice: {twice or 'none'}; never: {missing or 'none'}")
        print(f"  rows not marked delivered: {undelivered or 'none'}; exactly once: {found.exactly_once}")
        ok &= found.exactly_once
        report = [
            "turn → replica: " + ", ".join(f"{n}:{'→'.join(t.replicas)}" for n, t in enumerate(turns, start=1)),
            "deliveries: " + ", ".join(f"{k} {len(v)}" for k, v in found.per_notifier.items()),
            "load: " + ", ".join(f"{n} {load.rate(n):.2f}/s" for n in names),
            f"new index build {publication.build} picked up: "
            + ", ".join(f"{n} {'-' if v is None else f'{v:.1f} s'}" for n, v in publication.picked_up.items()),
        ]
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # finish stopping, whatever arrives
            signal.signal(sig, signal.SIG_IGN)
        scale.stop()
        if keep:
            print(f"\nlogs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print("\nreport\n  " + "\n  ".join(report) + f"\n  {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    """`demo`: the scale-out demonstration `make scale-demo` runs."""
    parser = argparse.ArgumentParser(prog="python -m bot.scale")
    parser.add_argument("command", choices=["demo"])
    parser.add_argument("--cases", type=int, default=10, help="cases opened for the notifiers (default 10)")
    parser.add_argument(
        "--load", type=int, default=100, help="questions of the bounded load (default 100, at most 180 s; 0: none)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder with every log")
    args = parser.parse_args(argv)

    def interrupted(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    for sig in (signal.SIGTERM, signal.SIGHUP):  # stopped from outside: everything started is stopped too
        signal.signal(sig, interrupted)
    try:
        return demo(args.cases, args.load, args.keep)
    except KeyboardInterrupt:
        print("\ninterrupted; everything the demo started is stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
