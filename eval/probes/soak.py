"""Soak: many concurrent multi-turn conversations for a while, then whether every case a user was told
about is stored once, complete, and has a human told of it.

    python -m eval.probes.soak [--conversations 100] [--seconds 300] [--think 1.0] [--seed 7] [--report PATH]
        [--no-health-restarts]
    python -m eval.probes.soak --target http://127.0.0.1:5005 [--target …] --database .data/ipbot.db

Without --target it starts its own supervised stack on free ports of 127.0.0.1 (Rasa, the action
server, the notifier writing to a sink file; eval/probes/rig.py). Each conversation, in Chinese or
English, loops: a knowledge question, the case form to the consent (Japan, Germany or Thailand — no
expert there, so the staff on duty are told), a status question. It prints the messages sent, the
replies lost (an error or an empty reply), p50/p95/p99 latency, messages per second, the cases confirmed
to users against the rows of the cases table (none confirmed but missing, no duplicates, none
half-written), whether each case has an expert or staff notification (and whether it was delivered),
each process group's memory before and after, and how long Rasa's health check (what the supervisor
polls) took under the load; --no-health-restarts has the supervisor restart only what exits, to tell an
overloaded Rasa from a dead one. A user who gets no reply waits 5 s before writing again. With --target
(one or more running Rasa servers: the replicas' hook; messages rotate over them) it uses that stack's
RASA_REST_TOKEN and --database, and skips what needs its own processes (memory, restarts).
Exit code 1 when a reply was lost or the cases do not reconcile. It asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import random
import signal
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from bot.stack import Supervisor, configured, http_get
from eval.probes.checks import (
    Latency,
    confirmed_case_numbers,
    is_lost,
    outbox_status,
    read_cases,
    reconcile,
    reply_text,
    sent_twice,
    sink_records,
)
from eval.probes.report import LoadSampler, say, write_markdown
from eval.probes.rig import SERVICES, RestClient, Rig, group_rss_mb, private_rig
from eval.probes.script import Turn, loop_turns, says_unavailable, status_turn

CANCEL = {"zh": "取消", "en": "cancel"}
RETRY_WAIT = 5.0  # seconds a user waits after getting no reply before writing again


@dataclass
class Tally:
    """What the conversations saw."""

    sent: int = 0
    lost: int = 0
    lost_by_error: Counter[str] = field(default_factory=Counter)
    unavailable: int = 0
    seconds: list[float] = field(default_factory=list)
    off_script: Counter[str] = field(default_factory=Counter)  # step → replies matching no step ahead
    off_script_samples: list[str] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)  # step → times the bot did not ask it (already filled)
    rounds: int = 0
    statuses_ok: int = 0
    statuses_wrong: int = 0
    confirmed: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    attempts: Counter[str] = field(default_factory=Counter)  # sender → consent answers (cases asked for)

    def record(self, message: str, messages: list[dict] | None, seconds: float, error: str) -> str | None:
        """Counts one exchange; the reply's text, or None when it was lost."""
        self.sent += 1
        if is_lost(messages):
            self.lost += 1
            self.lost_by_error[error or "empty reply"] += 1
            return None
        self.seconds.append(seconds)
        text = reply_text(messages)
        if says_unavailable(text):
            self.unavailable += 1
        return text

    def off_script_reply(self, turn: Turn, reply: str) -> None:
        """Counts a reply that asks for no step of the script (a sample of them is kept: synthetic data only)."""
        self.off_script[turn.step] += 1
        if len(self.off_script_samples) < 8:
            self.off_script_samples.append(
                f"{turn.step}: sent {turn.message[:60]!r}, expected {turn.expect!r}, got {reply[:160]!r}"
            )


async def conversation(
    client: RestClient,
    n: int,
    lang: str,
    deadline: float,
    think: float,
    tally: Tally,
    rng: random.Random,
    retry_wait: float = RETRY_WAIT,
) -> None:
    """One user looping the script until the deadline (a round under way when it passes is left unfinished)."""
    sender = f"probe-{lang}-{n:03d}-{uuid.uuid4().hex[:6]}"
    loop = 0
    await asyncio.sleep(rng.uniform(0, 2 * think))  # not all at once
    while time.monotonic() < deadline:
        case_no = ""
        turns = loop_turns(lang, n, loop, rng)
        i = 0
        while i < len(turns):
            turn = turns[i]
            if time.monotonic() >= deadline:
                return
            messages, seconds, error = await client.say(sender, turn.message)
            reply = tally.record(turn.message, messages, seconds, error)
            if turn.step == "consent":
                tally.attempts[sender] += 1
                numbers = confirmed_case_numbers(messages)
                tally.confirmed[sender] += numbers
                case_no = numbers[0] if numbers else ""
            nxt = next_turn(turns, i, reply)
            if reply is None or nxt is None:  # lost, or a reply the script has no step for
                if reply is not None:
                    tally.off_script_reply(turn, reply)
                else:  # as a user would: waits a while before writing again
                    await asyncio.sleep(retry_wait)
                cancelled = tally.record(CANCEL[lang], *await client.say(sender, CANCEL[lang]))  # start afresh
                if cancelled is None:
                    await asyncio.sleep(retry_wait)
                break
            for skipped in turns[i + 1 : nxt]:
                tally.skipped[skipped.step] += 1
            i = nxt
            await asyncio.sleep(rng.uniform(0, 2 * think))
        if case_no and time.monotonic() < deadline:
            turn = status_turn(lang, case_no)
            messages, seconds, error = await client.say(sender, turn.message)
            reply = tally.record(turn.message, messages, seconds, error)
            if reply is not None and turn.expect in reply:
                tally.statuses_ok += 1
            else:
                tally.statuses_wrong += 1
        tally.rounds += 1
        loop += 1


def next_turn(turns: list[Turn], i: int, reply: str | None) -> int | None:
    """The index of the turn to send after turn `i` got `reply`: the next one when the reply holds what
    turn `i` expects, the one after a later step's prompt when the bot skipped steps (their slots were
    filled from an earlier message), len(turns) when the script is done; None when the reply was lost or
    matches no step ahead."""
    if reply is None:
        return None
    if not turns[i].expect or turns[i].expect in reply:
        return i + 1
    return next((j + 1 for j in range(i + 1, len(turns)) if turns[j].expect and turns[j].expect in reply), None)


async def drive(urls: list[str], token: str, conversations: int, seconds: float, think: float, seed: int) -> Tally:
    """Runs the conversations concurrently (half Chinese, half English) for `seconds`."""
    tally = Tally()
    rng = random.Random(seed)
    deadline = time.monotonic() + seconds
    async with RestClient(urls, token) as client:
        tasks = [
            conversation(client, n, "zh" if n % 2 else "en", deadline, think, tally, random.Random(rng.random()))
            for n in range(conversations)
        ]
        await asyncio.gather(*tasks)
    return tally


@dataclass
class HealthSampler:
    """Times Rasa's health URL (what the supervisor checks, GET /webhooks/rest/) every few seconds under load."""

    url: str
    every: float = 5.0
    seconds: list[float] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> HealthSampler:
        def loop() -> None:
            while not self._stop.wait(self.every):
                started = time.perf_counter()
                status, _ = http_get(f"{self.url}/webhooks/rest/", timeout=60)
                self.seconds.append(time.perf_counter() - started if status == 200 else math.inf)

        self._thread = threading.Thread(target=loop, name="health-sampler", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(65)

    def line(self) -> str:
        """How long the health check took: percentiles and how often it exceeded the supervisor's timeout."""
        answered = [s for s in self.seconds if s != math.inf]
        slow = sum(s > Supervisor.HEALTH_TIMEOUT for s in self.seconds)
        latency = Latency.of(answered)
        return (
            f"Rasa's health check (GET /webhooks/rest/, every {self.every:.0f} s) under load: {len(self.seconds)} checks, "
            f"p50 {latency.p50:.1f} s, p95 {latency.p95:.1f} s, max {latency.worst:.1f} s; over the supervisor's "
            f"{Supervisor.HEALTH_TIMEOUT:.0f} s timeout or failed: {slow}"
        )


def wait_for_outbox(database: Path | str, timeout: float) -> Counter[str]:
    """Waits until the notifier has nothing pending (or the timeout); the outbox rows by status."""
    deadline = time.monotonic() + timeout
    while True:
        status = outbox_status(database)
        if not status["pending"] or time.monotonic() > deadline:
            return status
        time.sleep(1)


def memory(rig: Rig | None) -> dict[str, float]:
    """Each service's process group's resident memory, in MB."""
    return {name: group_rss_mb(rig.pgid(name)) for name in SERVICES} if rig else {}


def _interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def target(args: argparse.Namespace) -> Iterator[tuple[list[str], str, Path, Rig | None]]:
    """The Rasa URLs, REST token and case database to soak: the given ones, or a private rig's."""
    if args.target:
        yield args.target, configured("RASA_REST_TOKEN"), args.database, None
        return
    with private_rig(args.keep_logs) as rig:
        yield [rig.stack.rasa_url], rig.stack.rest_token, rig.database, rig


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--conversations", type=int, default=100, help="concurrent conversations (default 100)")
    parser.add_argument("--seconds", type=float, default=300.0, help="how long they talk (default 300)")
    parser.add_argument("--think", type=float, default=1.0, help="mean pause between a reply and the next message, s")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--target", action="append", help="a running Rasa server's URL (repeat for replicas)")
    parser.add_argument(
        "--database", help="with --target: that stack's case database (an SQLite file, or an SQLAlchemy URL)"
    )
    parser.add_argument("--keep-logs", type=Path, help="copy the private stack's logs here at the end")
    parser.add_argument("--report", type=Path, help="also write the results as markdown here")
    parser.add_argument(
        "--no-health-restarts",
        action="store_true",
        help="the supervisor restarts only processes that exit, not ones slow to answer their health check",
    )
    args = parser.parse_args(argv)
    if args.target and not args.database:
        parser.error("--target needs --database (the stack's case database: an SQLite file or a URL)")
    if args.database and "://" not in args.database:
        args.database = Path(args.database)
    signal.signal(signal.SIGTERM, _interrupted)
    began, lines = time.time(), list[str]()
    load = LoadSampler().start()
    with target(args) as (urls, token, database, rig):
        if rig:
            say(
                lines,
                f"private stack on 127.0.0.1 (Rasa :{rig.stack.rasa_port}, actions :{rig.stack.action_port}, "
                f"notifier → sink), healthy after {rig.started_in:.0f} s; supervised as under make run",
            )
        say(
            lines,
            f"{args.conversations} conversations × {args.seconds:.0f} s, think time 0–{2 * args.think:.1f} s, seed {args.seed}",
        )
        if rig and args.no_health_restarts:
            rig.supervisor.HEALTH_FAILURES = 10**9  # a diagnosis: is a slow health check what takes Rasa down?
            say(lines, "supervisor: restarts only what exits (--no-health-restarts)")
        before = memory(rig)
        health = HealthSampler(urls[0]).start()
        started = time.monotonic()
        tally = asyncio.run(drive(urls, token, args.conversations, args.seconds, args.think, args.seed))
        elapsed = time.monotonic() - started
        health.stop()
        after = memory(rig)
        outbox = wait_for_outbox(database, 120)
        stored = read_cases(database)
        result = reconcile(tally.confirmed, tally.attempts, stored)
        restarts = {n: w.restarts for n, w in rig.supervisor.watches.items()} if rig else {}
        sink = sink_records(rig.sink) if rig else []

    say(lines)
    say(
        lines,
        f"messages sent: {tally.sent} in {elapsed:.0f} s = {tally.sent / elapsed:.2f} messages/s; rounds {tally.rounds}",
    )
    lost = ", ".join(f"{k} {v}" for k, v in tally.lost_by_error.most_common()) or "none"
    say(lines, f"replies lost: {tally.lost} ({lost}); 'temporarily unavailable' replies: {tally.unavailable}")
    say(lines, Latency.of(tally.seconds).line())
    off = ", ".join(f"{k} {v}" for k, v in tally.off_script.most_common()) or "none"
    say(
        lines,
        f"replies off the script (matching no step ahead; the round was cancelled): {sum(tally.off_script.values())} ({off})",
    )
    skipped = ", ".join(f"{k} {v}" for k, v in tally.skipped.most_common()) or "none"
    say(
        lines,
        f"form steps the bot did not ask (filled from an earlier message, or the form resumed where a lost turn left it): {skipped}",
    )
    for sample in tally.off_script_samples:
        say(lines, f"  {sample}")
    say(lines, health.line())
    say(lines, f"status questions answered with the case number: {tally.statuses_ok}, not: {tally.statuses_wrong}")
    say(lines)
    say(
        lines,
        f"cases confirmed to users: {result.confirmed}; rows in the cases table: {result.stored}; "
        f"consent answers sent: {sum(tally.attempts.values())}",
    )
    say(lines, f"  confirmed but missing: {len(result.confirmed_missing)} {result.confirmed_missing[:5]}")
    say(lines, f"  stored but never confirmed (a lost reply): {len(result.unconfirmed)} {result.unconfirmed[:5]}")
    say(lines, f"  duplicates (rows beyond the cases a conversation asked for): {sum(result.duplicates.values())}")
    say(lines, f"  half-written cases: {len(result.half_written)} {list(result.half_written.items())[:3]}")
    staff = sum(c.staff_alerted() for c in stored)
    reached = sum(c.human_reached() for c in stored)
    say(
        lines,
        f"  a human notified: {result.stored - len(result.without_human)} of {result.stored} "
        f"({staff} via the staff on duty, no expert matching); delivered to them: {reached} of {result.stored}",
    )
    say(
        lines,
        f"  outbox after the run: {dict(outbox)}"
        + (f"; sink records {len(sink)}, rows received twice {len(sent_twice(sink))}" if rig else ""),
    )
    if rig:
        say(lines)
        say(lines, "memory (RSS of each process group), before → after the traffic:")
        for name in SERVICES:
            say(
                lines,
                f"  {name:<9} {before[name]:7.0f} MB → {after[name]:7.0f} MB ({after[name] - before[name]:+.0f} MB)",
            )
        say(lines, f"supervisor restarts: {restarts}")
        for line in rig.supervisor_lines:
            say(lines, f"  {line}")
    failed = bool(tally.lost or not result.consistent)
    say(lines)
    say(
        lines,
        f"{'FAIL' if failed else 'PASS'}: {tally.lost} replies lost; cases {'do not ' if not result.consistent else ''}reconcile",
    )
    if args.report:
        write_markdown(args.report, "Soak", lines, load.stop(), began)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
