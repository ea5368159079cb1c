"""The anchor comparison: this bot against the bare Rasa bot of `rasa init`, on the same machine, the
same workloads, interleaved.

    python -m eval.bench_anchor [--reps 4] [--sequential 20] [--senders 20] [--per-sender 10]
                                [--greetings 10] [--action-calls 30] [--quick] [--bare-dir DIR]
                                [--query-cache] [--report eval/reports/bench-anchor.md] [--profile N]
                                [--rates 2,4,8,12] [--rate-seconds 15]

The bare bot: `rasa init --no-prompt` (offline; the same .venv-rasa, Rasa 3.6) in a temporary folder,
with one custom action, `action_hello` (utters a fixed text), which a rule — and the starter stories,
in place of `utter_greet` — runs on the `greet` intent; retrained with `rasa train`, its stock REST
channel and in-memory tracker store. Its action server is ours: `bot.action_server` from .venv (rasa-sdk
3.21 under Sanic, the bearer-token check included) serving that one action, so the two action servers
differ only in their actions. Both bots start on free ports of 127.0.0.1 with the same thread settings
(NATIVE_THREADS, as the launcher sets them) and with Rasa's HTTP API on (a token of this run) only to
read each bot's domain and a real tracker for the action-server workload.

Workloads, each run on both bots, in alternating order (ours first, then bare first, …), `--reps` times
after one pass that is not counted:
  sequential   the same fixed zh/en mix of knowledge questions, one after the other (a new sender
               every cycle of the mix); the bare bot answers them with one of its intents;
  concurrent   `--senders` senders at once, each sending `--per-sender` messages of the mix in turn;
  greeting     "hello" / "hi", each from a new sender (a conversation's first message);
  action       the action server alone: POST /webhook as Rasa sends it (the real tracker of a
               conversation and the bot's domain, with the bearer token) — ours runs
               action_answer_question on a question, the bare one action_hello.
Printed per workload: p50/p95 of each bot over all repetitions, the ratio ours ÷ bare of p50 and of
p95 as the median and range over the repetitions, the CPU time per message of each process group
(utime + stime from /proc, before and after each workload) and, at the end, each group's memory (RSS).
--rates R1,R2,… then runs an open-loop sweep on both bots: the question mix sent at each fixed rate for
--rate-seconds (default 15) over 50 conversations, rates rising until a bot's p95 (counted from the moment
each message was due) passes 2 s; the report gives the highest rate within 2 s for each bot.
--profile N then sends N more questions to our bot with py-spy (requirements.txt) sampling both of its
process groups from outside, and reports the frames that hold the most busy samples.
Our action server runs with the question-embedding cache off (QUERY_CACHE_SIZE=0; --query-cache
leaves it on): the mix repeats a few questions, and with the cache every repetition after the first
would skip the embedding, which new questions from users do not.
A benchmark, not a test: it prints numbers and asserts nothing about speed. On a shared machine
run it more than once; the interleaving lets other load hit both bots alike.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from actions.settings import THREAD_VARIABLES
from bot.stack import HOST, PYTHON, RASA, ROOT, Service, Stack, configured, free_port, post_json

QUESTIONS = [
    "中日PPH需要提交哪些材料？",
    "What does RCEP say about bad-faith trademark applications?",
    "收到美国公司的警告函怎么办",
    "How do I request the China-Korea PPH?",
    "RCEP有哪些成员国",
    "our goods were detained by customs in Hamburg, what now?",
    "PCT-PPH是什么",
    "what is the IP5 PPH?",
]
GREETINGS = ["hello", "hi"]
WORKLOADS = ("sequential", "concurrent", "greeting", "action")
SIDES = ("ours", "bare")
PROCESSES = ("rasa", "actions")

# Before issue 17's changes (the issue's own measurement), for the report's before/after table.
BEFORE = {
    "sequential": ((106, 121), (48, 52)),
    "concurrent": ((1863, 2072), (918, 984)),
    "greeting": ((51, 60), (30, 35)),
    "action": ((31, 37), (1, 1)),
}
TARGET_P95_RATIO = {"sequential": 1.5, "concurrent": 1.5, "greeting": 1.2}

BARE_ACTION = '''"""The bare bot's one custom action."""

from rasa_sdk import Action


class ActionHello(Action):
    def name(self):
        return "action_hello"

    def run(self, dispatcher, tracker, domain):
        dispatcher.utter_message(text="Hello from the action server!")
        return []
'''
BARE_RULE = """
- rule: Greet with the custom action
  steps:
  - intent: greet
  - action: action_hello
"""
BARE_ENDPOINTS = """action_endpoint:
  url: ${ACTION_ENDPOINT_URL}
  headers:
    Authorization: Bearer ${ACTION_SERVER_TOKEN}
"""
BARE_CREDENTIALS = "rest:\n"


# ---- pure helpers (tests/unit/eval/test_bench_anchor.py) ------------------------------------------
def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0–100) by linear interpolation."""
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def spread(values: list[float]) -> tuple[float, float, float]:
    """(median, lowest, highest) of a few numbers, e.g. one ratio per repetition."""
    return statistics.median(values), min(values), max(values)


def stat_fields(text: str) -> tuple[int, int]:
    """(process group, utime + stime in clock ticks) from the text of /proc/<pid>/stat."""
    fields = text.rsplit(")", 1)[1].split()  # the command name may hold spaces and brackets
    return int(fields[2]), int(fields[11]) + int(fields[12])


def interleaved_order(rep: int, workload: int) -> tuple[str, str]:
    """Which bot goes first: alternating with the repetition and the workload (ABBA …), so drifts in the
    machine's other load fall on both bots alike."""
    return SIDES if (rep + workload) % 2 == 0 else (SIDES[1], SIDES[0])


def prepare_bare_project(folder: Path) -> None:
    """Adds the custom action to a `rasa init` project: the action module, the domain's `actions:`,
    a rule (and the starter stories) running it on `greet`, endpoints and a REST-only credentials file."""
    (folder / "bare_actions.py").write_text(BARE_ACTION, encoding="utf-8")
    domain = folder / "domain.yml"
    domain.write_text(
        domain.read_text(encoding="utf-8").rstrip() + "\n\nactions:\n  - action_hello\n", encoding="utf-8"
    )
    rules = folder / "data" / "rules.yml"
    rules.write_text(rules.read_text(encoding="utf-8").rstrip() + "\n" + BARE_RULE, encoding="utf-8")
    stories = folder / "data" / "stories.yml"
    stories.write_text(
        stories.read_text(encoding="utf-8").replace("action: utter_greet", "action: action_hello"), encoding="utf-8"
    )
    (folder / "endpoints.yml").write_text(BARE_ENDPOINTS, encoding="utf-8")
    (folder / "credentials.yml").write_text(BARE_CREDENTIALS, encoding="utf-8")


# Innermost frames of a thread that waits (a lock, a queue, the event loop's poll, a sleep): py-spy's own
# idle detection lets some through on a loaded machine, so they are dropped here.
WAITING = frozenset(
    {
        "wait (threading.py)",
        "Condition.wait (threading.py)",
        "Event.wait (threading.py)",
        "_worker (concurrent/futures/thread.py)",
        "select (selectors.py)",
        "EpollSelector.select (selectors.py)",
        "IndexProvider._watch (actions/retrieval/provider.py)",
        "serve (sanic/server/runners.py)",
        "_run_server_forever (sanic/server/runners.py)",
        "Connection._recv (multiprocessing/connection.py)",
        "socket.accept (socket.py)",
        "_PollLikeSelector.select (selectors.py)",
        "_run_once (asyncio/base_events.py)",
        "BaseEventLoop._run_once (asyncio/base_events.py)",
    }
)
PROCESS_FRAME = re.compile(r'^process \d+:"[^"]*";')


def flame_summary(
    collapsed: list[str], top: int = 12, trunk: float = 0.9
) -> tuple[int, list[tuple[str, float]], list[tuple[str, float]]]:
    """From py-spy's raw (collapsed) output — one `frame;frame;… count` line per distinct stack, the
    outermost frame first, a `process N:"…"` frame before them with --subprocesses — the busy samples
    (stacks whose innermost frame is not a wait), the `top` frames by cumulative share of them (a frame
    counted once per stack; frames in more than `trunk` of the stacks — the server loop, the thread
    bootstrap — left out) and the `top` frames by own share (innermost: where the time is spent)."""
    cumulative: dict[str, int] = {}
    own: dict[str, int] = {}
    total = 0
    for line in collapsed:
        stack, _, count_text = PROCESS_FRAME.sub("", line.rstrip()).rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        frames = stack.split(";")
        if frames[-1] in WAITING:
            continue
        count = int(count_text)
        total += count
        for frame in set(frames):
            cumulative[frame] = cumulative.get(frame, 0) + count
        own[frames[-1]] = own.get(frames[-1], 0) + count
    if not total:
        return 0, [], []
    branches = [(f, n / total) for f, n in cumulative.items() if n / total <= trunk]
    by_cumulative = sorted(branches, key=lambda item: (-item[1], item[0]))[:top]
    by_own = sorted(((f, n / total) for f, n in own.items()), key=lambda item: (-item[1], item[0]))[:top]
    return total, by_cumulative, by_own


# ---- processes ------------------------------------------------------------------------------------
def group_cpu_seconds(pgid: int) -> float:
    """CPU time (user + system) of the live processes of a process group, in seconds."""
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            group, used = stat_fields(stat.read_text())
        except (OSError, IndexError, ValueError):
            continue
        if group == pgid:
            ticks += used
    return ticks / os.sysconf("SC_CLK_TCK")


def group_rss_mb(pgid: int) -> float:
    """Resident memory of the live processes of a process group, in MB."""
    from eval.bench_retrieval import process_group_rss_mb

    return process_group_rss_mb(pgid)


def build_bare_bot(folder: Path, env: dict[str, str]) -> Path:
    """`rasa init --no-prompt` in folder, the custom action added, retrained; returns the model. A folder
    that already holds the model (--bare-dir from an earlier run) is used as it is."""
    model = folder / "models" / "bare.tar.gz"
    if model.exists():
        return model
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "build.log"
    with log.open("ab") as out:
        started = time.perf_counter()
        subprocess.run(
            [str(RASA), "init", "--no-prompt", "--init-dir", "."],
            cwd=folder,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            check=True,
        )
        for old in (folder / "models").glob("*.tar.gz"):
            old.unlink()
        prepare_bare_project(folder)
        subprocess.run(
            [str(RASA), "train", "--out", "models", "--fixed-model-name", "bare"],
            cwd=folder,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            check=True,
        )
    print(f"bare bot: rasa init + custom action + rasa train in {time.perf_counter() - started:.0f} s", flush=True)
    return model


@dataclass
class Bot:
    """One side of the comparison: its Rasa server and action server, how to reach them."""

    name: str
    rasa_url: str
    action_url: str
    rest_token: str | None  # None: the stock REST channel, no token
    action_token: str
    api_token: str
    answer_action: str  # what the action workload runs
    pgids: dict[str, int] = field(default_factory=dict)  # "rasa" / "actions" → process group

    def say(self, sender: str, text: str) -> tuple[float, bool]:
        """Sends one message over REST; (seconds to the reply, whether the reply was non-empty)."""
        started = time.perf_counter()
        reply = post_json(
            f"{self.rasa_url}/webhooks/rest/webhook", {"sender": sender, "message": text}, token=self.rest_token
        )
        return time.perf_counter() - started, bool(reply)

    def api(self, path: str) -> object:
        """GET from Rasa's HTTP API (JSON)."""
        request = urllib.request.Request(
            f"{self.rasa_url}{path}{'&' if '?' in path else '?'}token={self.api_token}",
            headers={"Accept": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read().decode("utf-8"))


def action_payload(bot: Bot, sender: str) -> dict[str, object]:
    """The request Rasa sends the action server, built from the bot's real tracker of `sender` and its domain."""
    return {
        "next_action": bot.answer_action,
        "sender_id": sender,
        "tracker": bot.api(f"/conversations/{sender}/tracker"),
        "domain": bot.api("/domain"),
        "version": "3.6.21",
    }


# ---- workloads ------------------------------------------------------------------------------------
@dataclass
class Run:
    """One workload on one bot: seconds per message, empty replies, wall time."""

    seconds: list[float]
    empty: int
    wall: float


def sequential(bot: Bot, n: int) -> Run:
    timings, empty, started = [], 0, time.perf_counter()
    sender = ""
    for i in range(n):
        if i % len(QUESTIONS) == 0:
            sender = uuid.uuid4().hex[:12]
        seconds, ok = bot.say(sender, QUESTIONS[i % len(QUESTIONS)])
        timings.append(seconds)
        empty += not ok
    return Run(timings, empty, time.perf_counter() - started)


def concurrent(bot: Bot, senders: int, per_sender: int) -> Run:
    timings: list[float] = []
    empty = [0]
    lock = threading.Lock()

    def conversation(number: int) -> None:
        sender = uuid.uuid4().hex[:12]
        for i in range(per_sender):
            seconds, ok = bot.say(sender, QUESTIONS[(number + i) % len(QUESTIONS)])
            with lock:
                timings.append(seconds)
                empty[0] += not ok

    threads = [threading.Thread(target=conversation, args=(n,)) for n in range(senders)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return Run(timings, empty[0], time.perf_counter() - started)


def greeting(bot: Bot, n: int) -> Run:
    timings, empty, started = [], 0, time.perf_counter()
    for i in range(n):
        seconds, ok = bot.say(uuid.uuid4().hex[:12], GREETINGS[i % len(GREETINGS)])
        timings.append(seconds)
        empty += not ok
    return Run(timings, empty, time.perf_counter() - started)


def action_alone(bot: Bot, payload: dict[str, object], n: int) -> Run:
    timings, empty, started = [], 0, time.perf_counter()
    for _ in range(n):
        t0 = time.perf_counter()
        reply = post_json(f"{bot.action_url}/webhook", payload, token=bot.action_token)
        timings.append(time.perf_counter() - t0)
        empty += not (isinstance(reply, dict) and reply.get("responses"))
    return Run(timings, empty, time.perf_counter() - started)


def at_rate(bot: Bot, rate: float, seconds: float, conversations: int = 50) -> Run:
    """Open loop: questions of the mix sent at `rate` per second for `seconds`, each at its scheduled moment
    whatever the earlier ones are doing (as independent users do), spread over `conversations` senders;
    a reply's time counts from its scheduled moment, so waiting to be sent counts too."""
    n = max(1, round(rate * seconds))
    senders = [uuid.uuid4().hex[:12] for _ in range(conversations)]
    timings: list[float] = [0.0] * n
    empty = [0]
    lock = threading.Lock()
    started = time.perf_counter()

    def one(i: int) -> None:
        due = started + i / rate
        time.sleep(max(0.0, due - time.perf_counter()))
        _, ok = bot.say(senders[i % conversations], QUESTIONS[i % len(QUESTIONS)])
        timings[i] = time.perf_counter() - due
        with lock:
            empty[0] += not ok

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return Run(timings, empty[0], time.perf_counter() - started)


def throughput(bots: dict[str, Bot], rates: list[float], seconds: float, limit_ms: float = 2000.0) -> list[str]:
    """Each bot at each rate (ascending) until its p95 passes `limit_ms`: the table rows and, per bot, the
    highest rate whose p95 stayed within it. The bots take turns at each rate."""
    rows, best, done = [], dict.fromkeys(bots, 0.0), set()
    for rate in rates:
        cells = []
        for name, bot in bots.items():
            if name in done:
                cells.append("–")
                continue
            run = at_rate(bot, rate, seconds)
            ms = sorted(t * 1000 for t in run.seconds)
            p95 = percentile(ms, 95)
            cells.append(f"{percentile(ms, 50):,.0f} / {p95:,.0f}")
            if p95 <= limit_ms:
                best[name] = rate
            else:
                done.add(name)
            print(f"rate {rate:g}/s {name}: p50/p95 {percentile(ms, 50):.0f}/{p95:.0f} ms", flush=True)
        rows.append(f"| {rate:g} | " + " | ".join(cells) + " |")
        if len(done) == len(bots):
            break
    rows.append("| **highest rate with p95 ≤ 2 s** | " + " | ".join(f"**{best[n]:g}/s**" for n in bots) + " |")
    return rows


# ---- the comparison -------------------------------------------------------------------------------
@dataclass
class Tally:
    """Everything measured for one workload on one bot, over the repetitions."""

    seconds: list[float] = field(default_factory=list)
    per_rep: list[tuple[float, float]] = field(default_factory=list)  # (p50, p95) ms of each repetition
    cpu: dict[str, float] = field(default_factory=lambda: dict.fromkeys(PROCESSES, 0.0))
    messages: int = 0
    empty: int = 0
    wall: float = 0.0


def measured(bot: Bot, work: Callable[[], Run], tally: Tally) -> None:
    """Runs one workload, with each process group's CPU time read before and after."""
    before = {p: group_cpu_seconds(pgid) for p, pgid in bot.pgids.items()}
    run = work()
    for p, pgid in bot.pgids.items():
        tally.cpu[p] += group_cpu_seconds(pgid) - before[p]
    ms = sorted(s * 1000 for s in run.seconds)
    tally.seconds.extend(run.seconds)
    tally.per_rep.append((percentile(ms, 50), percentile(ms, 95)))
    tally.messages += len(run.seconds)
    tally.empty += run.empty
    tally.wall += run.wall


def compare(bots: dict[str, Bot], args: argparse.Namespace) -> tuple[dict[str, dict[str, Tally]], dict[str, Any]]:
    """Warms both bots up, then runs the workloads interleaved; the tallies and the action payloads."""
    payloads: dict[str, dict[str, object]] = {}
    for name, bot in bots.items():
        warm = uuid.uuid4().hex[:12]
        for text in [*QUESTIONS, *GREETINGS]:  # the first answers load models and the index
            bot.say(warm, text)
        bot.say(warm, QUESTIONS[0] if name == "ours" else GREETINGS[0])  # the tracker's last message
        payloads[name] = action_payload(bot, warm)
        action_alone(bot, payloads[name], 3)
    jobs: dict[str, Callable[[Bot], Run]] = {
        "sequential": lambda b: sequential(b, args.sequential),
        "concurrent": lambda b: concurrent(b, args.senders, args.per_sender),
        "greeting": lambda b: greeting(b, args.greetings),
        "action": lambda b: action_alone(b, payloads[b.name], args.action_calls),
    }
    for workload in WORKLOADS:  # one pass of every workload on each bot, not counted: shapes and caches seen once
        for bot in bots.values():
            jobs[workload](bot)
    tallies = {w: {s: Tally() for s in SIDES} for w in WORKLOADS}
    for rep in range(args.reps):
        for w, workload in enumerate(WORKLOADS):
            for side in interleaved_order(rep, w):
                bot = bots[side]
                measured(bot, partial(jobs[workload], bot), tallies[workload][side])
            ours, bare = tallies[workload]["ours"].per_rep[-1], tallies[workload]["bare"].per_rep[-1]
            print(
                f"rep {rep + 1}/{args.reps} {workload:<10} ours p50/p95 {ours[0]:6.0f}/{ours[1]:6.0f} ms, "
                f"bare {bare[0]:6.0f}/{bare[1]:6.0f} ms, p95 ratio {ours[1] / bare[1]:5.2f}",
                flush=True,
            )
    sizes = {name: len(json.dumps(p)) for name, p in payloads.items()}
    return tallies, {"payload_bytes": sizes}


def profile_sequential(
    bot: Bot, n: int, folder: Path
) -> dict[str, tuple[int, list[tuple[str, float]], list[tuple[str, float]]]]:
    """One more sequential run of n questions with py-spy sampling each of the bot's process groups
    (their Sanic workers too); the samples summarised per process (empty when py-spy is missing)."""
    spy = Path(sys.executable).parent / "py-spy"
    if not spy.exists():
        print("py-spy is not installed in this venv: no profile", flush=True)
        return {}
    recorders = {}
    for name, pgid in bot.pgids.items():
        out = folder / f"profile-{name}.txt"
        command = [str(spy), "record", "--pid", str(pgid), "--subprocesses", "--nolineno", "--format", "raw"]
        recorders[name] = (
            subprocess.Popen([*command, "--output", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
            out,
        )
    time.sleep(2.0)  # attached before the first question
    sequential(bot, n)
    summaries = {}
    for name, (recorder, out) in recorders.items():
        recorder.send_signal(signal.SIGINT)  # py-spy writes its file when interrupted
        try:
            recorder.wait(60)
        except subprocess.TimeoutExpired:
            recorder.kill()
        if out.exists():
            summaries[name] = flame_summary(out.read_text(encoding="utf-8").splitlines())
    return summaries


def profile_tables(summaries: dict[str, tuple[int, list[tuple[str, float]], list[tuple[str, float]]]], n: int) -> str:
    """The py-spy summaries as Markdown: per process, its top frames by cumulative and by own share."""
    out = []
    for name, (total, by_cumulative, by_own) in summaries.items():
        rows = max(len(by_cumulative), len(by_own))

        def cell(column: list[tuple[str, float]], i: int) -> tuple[str, str]:
            return (f"`{column[i][0]}`", f"{column[i][1]:.0%}") if i < len(column) else ("", "")

        cells = [(*cell(by_cumulative, i), *cell(by_own, i)) for i in range(rows)]
        out += [
            f"Our {'Rasa server' if name == 'rasa' else 'action server'} (all its processes and threads): "
            f"{total:,} busy samples at 100 per second over {n} sequential questions.",
            "",
            "| frame, by cumulative share (trunk left out) | cum. | frame, by own share | own |",
            "|---|---|---|---|",
            *("| " + " | ".join(c.replace("|", "/") for c in row) + " |" for row in cells),
            "",
        ]
    return "\n".join(out)


def tables(tallies: dict[str, dict[str, Tally]], rss: dict[str, dict[str, float]], args: argparse.Namespace) -> str:
    """The results as Markdown tables (also what is printed)."""
    described = {
        "sequential": f"sequential, {args.sequential} questions",
        "concurrent": f"{args.senders} concurrent senders × {args.per_sender}",
        "greeting": f"greeting, {args.greetings} new senders",
        "action": f"action server alone, {args.action_calls} calls",
    }
    out = [
        "| workload | ours p50 / p95 ms | bare p50 / p95 ms | ratio p50 (median, range) | ratio p95 (median, range) "
        "| p95 ratio target |",
        "|---|---|---|---|---|---|",
    ]
    for w in WORKLOADS:
        ours, bare = tallies[w]["ours"], tallies[w]["bare"]
        o = sorted(s * 1000 for s in ours.seconds)
        b = sorted(s * 1000 for s in bare.seconds)
        r50 = spread([x[0] / y[0] for x, y in zip(ours.per_rep, bare.per_rep, strict=True)])
        r95 = spread([x[1] / y[1] for x, y in zip(ours.per_rep, bare.per_rep, strict=True)])
        target = TARGET_P95_RATIO.get(w)
        out.append(
            f"| {described[w]} | {percentile(o, 50):,.0f} / {percentile(o, 95):,.0f} | "
            f"{percentile(b, 50):,.1f} / {percentile(b, 95):,.1f} | {r50[0]:.2f}× ({r50[1]:.2f}–{r50[2]:.2f}) | "
            f"{r95[0]:.2f}× ({r95[1]:.2f}–{r95[2]:.2f}) | {f'≤ {target}×' if target else '—'} |"
        )
    out += [
        "",
        "CPU time per message, ms (utime + stime of each process group during the workload, ÷ messages), "
        "and empty replies:",
        "",
        "| workload | ours Rasa | ours actions | bare Rasa | bare actions | empty replies ours / bare |",
        "|---|---|---|---|---|---|",
    ]
    for w in WORKLOADS:
        cells = [
            f"{tallies[w][s].cpu[p] / max(1, tallies[w][s].messages) * 1000:.1f}" for s in SIDES for p in PROCESSES
        ]
        out.append(f"| {w} | {' | '.join(cells)} | {tallies[w]['ours'].empty} / {tallies[w]['bare'].empty} |")
    out += [
        "",
        "Memory (RSS of each process group, MB) after the last workload:",
        "",
        "| | Rasa | action server |",
        "|---|---|---|",
        *(f"| {s} | {rss[s]['rasa']:.0f} | {rss[s]['actions']:.0f} |" for s in SIDES),
    ]
    return "\n".join(out)


def before_after(tallies: dict[str, dict[str, Tally]]) -> str:
    """The issue's measurement before its changes beside this run's (the ratio now: the median over the
    repetitions, which one repetition's spike of other load moves less than the pooled percentiles)."""
    out = [
        "| workload | before: ours p50/p95, bare p50/p95 ms (p95 ratio) | now: ours, bare p50/p95 ms "
        "(p95 ratio, median of the repetitions) | p95 ratio target |",
        "|---|---|---|---|",
    ]
    for w in WORKLOADS:
        (op50, op95), (bp50, bp95) = BEFORE[w]
        ours, bare = tallies[w]["ours"], tallies[w]["bare"]
        o = sorted(s * 1000 for s in ours.seconds)
        b = sorted(s * 1000 for s in bare.seconds)
        ratio = spread([x[1] / y[1] for x, y in zip(ours.per_rep, bare.per_rep, strict=True)])[0]
        before = f"{op50:,}/{op95:,}, {bp50:,}/{bp95:,} ({op95 / bp95:.1f}×)" if w != "action" else "31/37, ≈1"
        target = TARGET_P95_RATIO.get(w)
        out.append(
            f"| {w} | {before} | {percentile(o, 50):,.0f}/{percentile(o, 95):,.0f}, "
            f"{percentile(b, 50):,.1f}/{percentile(b, 95):,.1f} ({ratio:.1f}×) | {f'≤ {target}×' if target else '—'} |"
        )
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=4, help="repetitions of every workload on each bot")
    parser.add_argument("--sequential", type=int, default=20, help="questions per sequential run")
    parser.add_argument("--senders", type=int, default=20, help="concurrent senders")
    parser.add_argument("--per-sender", type=int, default=10, help="messages per concurrent sender")
    parser.add_argument("--greetings", type=int, default=10, help="greetings per run")
    parser.add_argument("--action-calls", type=int, default=30, help="action-server calls per run")
    parser.add_argument(
        "--quick", action="store_true", help="2 repetitions of small runs (~3 min with a built bare bot)"
    )
    parser.add_argument("--query-cache", action="store_true", help="leave our question-embedding cache on")
    parser.add_argument("--bare-dir", type=Path, default=None, help="keep (or reuse) the bare bot here")
    parser.add_argument("--report", type=Path, default=None, help="write a Markdown report here")
    parser.add_argument(
        "--profile", type=int, default=0, metavar="N", help="then profile our bot (py-spy) over N sequential questions"
    )
    parser.add_argument(
        "--rates",
        default="",
        help="then an open-loop sweep at these message rates per second (comma-separated, ascending), e.g. 2,4,8,12",
    )
    parser.add_argument("--rate-seconds", type=float, default=15.0, help="seconds at each rate of --rates")
    args = parser.parse_args()
    if args.quick:
        args.reps, args.sequential, args.senders, args.per_sender = 2, 8, 20, 2
        args.greetings, args.action_calls = 4, 10
    work = Path(tempfile.mkdtemp(prefix="bench-anchor-"))
    bare_dir = args.bare_dir.resolve() if args.bare_dir else work / "bare"
    api_token = secrets.token_urlsafe(24)
    extra = {"DATABASE_URL": f"sqlite:///{work / 'cases.db'}"}
    if not args.query_cache:
        extra["QUERY_CACHE_SIZE"] = "0"
    stack = Stack(free_port(), free_port(), free_port(), log_dir=work / "logs", extra_env=extra, api_token=api_token)
    env = stack._env()  # the launcher's environment: thread caps, log levels, telemetry off
    threads: dict[str, str] = {"NATIVE_THREADS": configured("NATIVE_THREADS")}
    threads.update({k: env[k] for k in THREAD_VARIABLES if k in env})
    load_before = os.getloadavg()
    started_at = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    bare_services: list[Service] = []
    try:
        model = build_bare_bot(bare_dir, env)
        bare_rasa_port, bare_action_port = free_port(), free_port()
        bare_env = dict(
            env,
            PYTHONPATH=f"{ROOT}{os.pathsep}{bare_dir}",  # ours first: the init project has an `actions/` too
            ACTION_ENDPOINT_URL=f"http://{HOST}:{bare_action_port}/webhook",
        )
        bare_services = [
            Service(
                "bare-actions",
                [
                    str(PYTHON),
                    "-m",
                    "bot.action_server",
                    "--actions",
                    "bare_actions",
                    "--port",
                    str(bare_action_port),
                    "--endpoints",
                    str(bare_dir / "endpoints.yml"),
                ],
                f"http://{HOST}:{bare_action_port}/health",
                bare_env,
                work / "logs" / "bare-actions.log",
            ),
            Service(
                "bare-rasa",
                [
                    str(RASA),
                    "run",
                    "--enable-api",
                    "--auth-token",
                    api_token,
                    "--interface",
                    HOST,
                    "--port",
                    str(bare_rasa_port),
                    "--model",
                    str(model),
                    "--credentials",
                    str(bare_dir / "credentials.yml"),
                    "--endpoints",
                    str(bare_dir / "endpoints.yml"),
                ],
                f"http://{HOST}:{bare_rasa_port}/",
                bare_env,
                work / "logs" / "bare-rasa.log",
            ),
        ]
        started = time.perf_counter()
        for service in bare_services:
            service.start()
        stack.start(("actions", "rasa"))
        deadline = time.monotonic() + 240
        for service in bare_services:
            while not service.healthy():
                if not service.running() or time.monotonic() > deadline:
                    raise RuntimeError(f"{service.name} did not start; see {service.log_path}")
                time.sleep(0.5)
        print(f"both bots healthy after {time.perf_counter() - started:.0f} s; threads {threads}", flush=True)
        pid = {name: s.pid for name, s in stack.services.items()}
        bots = {
            "ours": Bot(
                "ours",
                stack.rasa_url,
                stack.action_url,
                stack.rest_token,
                stack.action_token,
                api_token,
                "action_answer_question",
                {"rasa": pid["rasa"] or 0, "actions": pid["actions"] or 0},
            ),
            "bare": Bot(
                "bare",
                f"http://{HOST}:{bare_rasa_port}",
                f"http://{HOST}:{bare_action_port}",
                None,
                stack.action_token,
                api_token,
                "action_hello",
                {"rasa": bare_services[1].pid or 0, "actions": bare_services[0].pid or 0},
            ),
        }
        run_started = time.perf_counter()
        tallies, extras = compare(bots, args)
        rss = {s: {p: group_rss_mb(pgid) for p, pgid in bots[s].pgids.items()} for s in SIDES}
        minutes = (time.perf_counter() - run_started) / 60
        rates = [float(r) for r in args.rates.split(",") if r.strip()]
        extras["throughput"] = throughput(bots, rates, args.rate_seconds) if rates else []
        profile = ""
        if args.profile:
            summaries = profile_sequential(bots["ours"], args.profile, work)
            profile = profile_tables(summaries, args.profile)
            print(profile)
    finally:
        stack.stop()
        for service in reversed(bare_services):
            service.stop()
        shutil.rmtree(work, ignore_errors=True)  # a --bare-dir lives elsewhere and stays
    load_after = os.getloadavg()
    result = tables(tallies, rss, args)
    print()
    print(result)
    if args.report:
        write_report(
            args, result, before_after(tallies), threads, load_before, load_after, started_at, minutes, extras, profile
        )
        print(f"\nreport: {args.report}")
    return 0


def throughput_section(rows: list[str], args: argparse.Namespace) -> str:
    """The open-loop sweep: p50 / p95 per rate and bot, and the highest rate within 2 s."""
    return (
        f"\n## Throughput (open loop, {args.rate_seconds:g} s at each rate, the question mix over 50 conversations)\n\n"
        "Messages sent at a fixed rate whatever the replies are doing; a reply's time counts from the moment its\n"
        "message was due. Rates rise until a bot's p95 passes 2 s.\n\n"
        "| messages per second | ours p50 / p95 ms | bare p50 / p95 ms |\n|---|---|---|\n" + "\n".join(rows) + "\n"
    )


def write_report(
    args: argparse.Namespace,
    result: str,
    comparison: str,
    threads: dict[str, str],
    load_before: tuple[float, float, float],
    load_after: tuple[float, float, float],
    started_at: str,
    minutes: float,
    extras: dict[str, Any],
    profile: str = "",
) -> None:
    """The Markdown report: the command, the machine, the tables."""
    command = "python -m eval.bench_anchor " + " ".join(a for a in sys.argv[1:])
    load = " → ".join("/".join(f"{x:.1f}" for x in la) for la in (load_before, load_after))
    text = (
        f"""# Anchor benchmark: this bot against the bare `rasa init` bot

`{command}` — {started_at}, {minutes:.1f} min of workloads, {os.cpu_count()} cores. Load average
(1/5/15 min) {load} before → after (the two bots themselves add about 1; more means other work on the
machine). The workloads ran interleaved (the bot that goes first alternates)
so that load hit both bots alike; the ratio's range over the {args.reps} repetitions shows how much it moved.
Thread settings of all four processes: {", ".join(f"{k}={v}" for k, v in threads.items()) or "library defaults"}.
Our question-embedding cache: {"on" if args.query_cache else "off (QUERY_CACHE_SIZE=0: no repeated question served from the cache)"}.
Action-server request sizes (tracker + domain, bytes): {extras["payload_bytes"]}.

{result}

Before issue 17's changes, and now:

{comparison}
"""
        + (throughput_section(extras["throughput"], args) if extras.get("throughput") else "")
        + (f"\n## Profile of the sequential workload (py-spy)\n\n{profile}" if profile else "")
    )
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    raise SystemExit(main())
