"""Faults: processes killed and the database taken away while users talk, each scenario a PASS/FAIL line
with its numbers.

    python -m eval.probes.faults [--only actions,rasa,notifier,readonly,missing] [--action-kills 3]
        [--rasa-kills 20] [--notifier-kills 5] [--max-delay 0] [--seed 3] [--budget 2400]
        [--trackers shared|separate] [--report PATH]

One private supervised stack on free ports of 127.0.0.1 (eval/probes/rig.py) serves every scenario:
- actions: kill -9 of the action server's main process in the middle of the case form: the next message
  gets the polite "temporarily unavailable" reply, the supervisor restarts it (seconds to healthy), and
  the same answer sent again continues the form at the same step, to a stored case.
- rasa: kill -9 of Rasa's whole process group a random moment after the consent answer was posted
  (0 … --max-delay s; 0: 1.5 × a measured consent reply), then, once the supervisor has Rasa back, the
  consent sent again when its reply was lost: no half-written case, no second case for one conversation,
  and how many users were left without their case number.
- notifier: many cases opened at once (their notifications queued), the notifier killed with -9 while it
  delivers them to its sink: after its restarts every row is delivered; rows sent twice are counted
  (delivery is at-least-once: at most the row in flight at each kill).
- readonly / missing: the database file made read-only (chmod 0444 and, since root ignores modes,
  chattr +i) or deleted with its -wal/-shm files before the consent: the reply says nothing was stored,
  nothing is confirmed that is not stored, the action server logs an error, the notifier keeps running;
  after the file is restored a new case is stored and delivered.
Exit code 1 when a scenario fails. The rasa and database scenarios also run on the scale-out set
(eval/probes/scale_faults.py): they take any `FaultTarget` (eval/probes/rig.py).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from bot.stack import Service, Watch, wait_until
from eval.probes.checks import (
    confirmed_case_numbers,
    is_lost,
    outbox_status,
    read_cases,
    reply_text,
    sent_twice,
    sink_records,
)
from eval.probes.report import LoadSampler, say, write_markdown
from eval.probes.rig import FaultTarget, Rig, kill_group, kill_process, private_rig
from eval.probes.script import COUNTRIES, Turn, form_turns, says_db_down, says_unavailable

SCENARIOS = ("actions", "rasa", "notifier", "readonly", "missing")
SERVICE_KINDS = ("actions", "rasa", "notifier")
ERROR_MARKS = re.compile(r"ERROR|Traceback|could not be saved|lookup failed")


@dataclass
class Outcome:
    """One scenario's verdict and what it measured."""

    name: str
    passed: bool
    numbers: str
    details: list[str] = field(default_factory=list)


@dataclass
class Reply:
    """The bot's answer to one message (None when the request failed)."""

    messages: list[dict[str, Any]] | None
    seconds: float
    error: str = ""
    upstreams: list[str] = field(default_factory=list)  # the Rasa processes that were tried; the last answered

    @property
    def text(self) -> str:
        return reply_text(self.messages)

    @property
    def lost(self) -> bool:
        return is_lost(self.messages)

    @property
    def case_numbers(self) -> list[str]:
        return confirmed_case_numbers(self.messages)


def talk(rig: FaultTarget, sender: str, message: str, timeout: float = 120.0) -> Reply:
    """Posts one message to the REST channel; a failure is a Reply without messages."""
    started = time.perf_counter()
    request = urllib.request.Request(
        f"{rig.rest_url}/webhooks/rest/webhook",
        data=json.dumps({"sender": sender, "message": message}).encode("utf-8"),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {rig.rest_token}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            upstreams = rig.replicas_of(response.headers.get("X-Upstream", ""))
            body = json.loads(response.read().decode("utf-8"))
    except Exception as exc:  # whatever a dying server (or nginx's 502 for it) does to the request
        return Reply(None, time.perf_counter() - started, type(exc).__name__)
    return Reply(body if isinstance(body, list) else None, time.perf_counter() - started, upstreams=upstreams)


class Conversation:
    """One user of a scenario: the case form up to a chosen step."""

    def __init__(self, rig: FaultTarget, tag: str, n: int, country: int = 0, lang: str = "en", seed: int = 0) -> None:
        self.rig, self.lang = rig, lang
        self.last: Reply | None = None  # the reply to the last message sent
        self.sender = f"fault-{tag}-{n:03d}-{uuid.uuid4().hex[:6]}"
        # country: 0 Japan, 1 Germany, 2 Thailand (no expert: the staff on duty are told), in the language spoken
        self.turns = form_turns(lang, n, COUNTRIES[lang][country % 3], random.Random(seed))

    def turn(self, step: str) -> Turn:
        """The scripted turn of a step."""
        return next(t for t in self.turns if t.step == step)

    def fill_until(self, step: str) -> str:
        """Answers the form up to (not including) `step`; "" when every reply was as expected, else what went wrong."""
        for turn in self.turns:
            if turn.step == step:
                return ""
            reply = self.last = talk(self.rig, self.sender, turn.message)
            if turn.expect not in reply.text:
                return f"{turn.step}: expected {turn.expect!r}, got {reply.error or reply.text[:120]!r}"
        return ""

    def finish(self, after: str) -> tuple[str, list[str]]:
        """Answers the remaining steps after `after`; (what went wrong or "", the case numbers confirmed)."""
        remaining = self.turns[[t.step for t in self.turns].index(after) + 1 :]
        numbers: list[str] = []
        for turn in remaining:
            reply = self.last = talk(self.rig, self.sender, turn.message)
            numbers += reply.case_numbers
            if turn.expect not in reply.text:
                return f"{turn.step}: expected {turn.expect!r}, got {reply.error or reply.text[:120]!r}", numbers
        return "", numbers

    def stored(self) -> list[str]:
        """The case numbers stored for this conversation."""
        return [c.case_no or f"id {c.id}" for c in read_cases(self.rig.cases) if c.sender_id == self.sender]


class LogMark:
    """Where the logs of every process of a kind (rasa, actions, notifier) ended when the mark was set:
    what they wrote since."""

    def __init__(self, rig: FaultTarget, kind: str) -> None:
        self.rig = rig
        self.offsets = {name: len(rig.log(name)) for name in rig.names(kind)}

    def lines(self) -> list[str]:
        """The new lines, each prefixed with its process's name."""
        return [
            f"{name}: {line}"
            for name, offset in self.offsets.items()
            for line in self.rig.log(name)[offset:].splitlines()
        ]


def restarted_since(
    watch: Watch, restarts: int, service: Service | None = None, killed: int | None = None
) -> Callable[[], bool]:
    """A check for wait_until: the supervisor restarted the process since it had `restarts` (and, with a
    service, it runs again as another process than `killed`)."""
    return lambda: watch.restarts > restarts and (service is None or (service.running() and service.pid != killed))


# ---- scenarios -------------------------------------------------------------------------------------


def action_server_killed(rig: Rig, kills: int) -> Outcome:
    """kill -9 of the action server's main process at step 4 of the form, `kills` times."""
    details, heal_seconds, polite, resumed, completed = [], [], 0, 0, 0
    actions = rig.stack.services["actions"]
    for n in range(kills):
        talk_ = Conversation(rig, "actions", n, country=n)
        if problem := talk_.fill_until("country"):
            details.append(f"kill {n + 1}: the form went wrong before the kill: {problem}")
            continue
        killed = actions.pid
        restarts = rig.supervisor.watches["actions"].restarts
        started = time.monotonic()
        kill_process(killed)  # the main process only, as a crash would: its Sanic worker is left over
        # until the supervisor has stopped what was left of its group
        wait_until(restarted_since(rig.watch("actions"), restarts), 30, every=0.05)
        country = talk_.turn("country")
        reply = talk(rig, talk_.sender, country.message)
        if says_unavailable(reply.text) and not reply.lost:
            polite += 1
        else:
            details.append(
                f"kill {n + 1}: while down the reply was {reply.error or reply.text[:120]!r}, not 'unavailable'"
            )
        healed = rig.wait_healthy("actions", 180, not_pid=killed)
        if healed is None:
            details.append(f"kill {n + 1}: the action server was not back within 180 s")
            continue
        heal_seconds.append(time.monotonic() - started)
        again = talk(rig, talk_.sender, country.message)  # the answer that went unheard
        if country.expect in again.text:
            resumed += 1
        else:
            details.append(f"kill {n + 1}: after the restart expected {country.expect!r}, got {again.text[:120]!r}")
            continue
        problem, numbers = talk_.finish("country")
        if not problem and numbers and talk_.stored() == numbers:
            completed += 1
        else:
            details.append(f"kill {n + 1}: finishing the form: {problem or numbers} stored {talk_.stored()}")
    heal = ", ".join(f"{s:.1f}" for s in heal_seconds) or "-"
    summary = (
        f"{kills} kills: 'temporarily unavailable' replies {polite}/{kills}; back healthy after {heal} s "
        f"(kill → healthy); form resumed at the same step {resumed}/{kills}; cases stored {completed}/{kills}"
    )
    passed = polite == resumed == completed == kills
    return Outcome("action server killed mid-form", passed, summary, details)


def rasa_killed_at_submission(
    rig: FaultTarget, kills: int, max_delay: float, rng: random.Random, until: float
) -> Outcome:
    """kill -9 of the whole group of the Rasa serving the consent, a random moment after the consent answer
    was posted, `kills` times (fewer when the run's time budget, `until` on the monotonic clock, runs out:
    Rasa reloads for ~1 min). A user whose reply was lost sends the consent again (up to twice more): on one
    node once Rasa is back, on the scale-out set at once, through nginx to the other replica."""
    details: list[str] = []
    if max_delay <= 0:  # calibrate: how long a consent answer takes when nothing is killed
        probe = Conversation(rig, "rasa-calibration", 0)
        probe.fill_until("consent")
        max_delay = 1.5 * talk(rig, probe.sender, probe.turn("consent").message).seconds
    tally = {"confirmed at once": 0, "confirmed after resending": 0, "stored, never confirmed": 0, "not stored": 0}
    duplicates, half, heal_seconds, form_problems, missed = 0, 0, [], 0, 0
    resend_seconds: list[float] = []  # of the resends that were answered
    lost_resends: list[str] = []  # of those that were not: seconds and what came back
    answered_by: list[str] = []
    victims: list[str] = []
    backoffs = [(s, s.MAX_BACKOFF) for s in rig.supervisors()]
    for supervisor, _ in backoffs:
        supervisor.MAX_BACKOFF = 4.0  # back-to-back kills would otherwise wait up to a minute each
    try:
        for n in range(kills):
            if time.monotonic() > until:
                details.append(f"stopped after {n} of {kills} kills: the time budget (--budget) ran out")
                break
            talk_ = Conversation(rig, "rasa", n, country=n, lang=("en", "zh")[n % 2])
            if problem := talk_.fill_until("consent"):
                form_problems += 1
                details.append(f"kill {n + 1}: the form went wrong before the kill: {problem}")
                continue
            replicas = rig.names("rasa")  # each in turn, as far as the set lets the probe choose
            victim = rig.aim_at(replicas[n % len(replicas)], talk_.last.upstreams if talk_.last else [])
            victims.append(victim)
            service = rig.service(victim)
            consent = talk_.turn("consent")
            delay = rng.uniform(0, max_delay)
            answer: list[Reply] = []
            poster = threading.Thread(target=_post_into, args=(answer, rig, talk_.sender, consent.message))
            poster.start()
            time.sleep(delay)
            killed = service.pid
            kill_group(killed)
            started = time.monotonic()
            poster.join(90)
            if not rig.failover:  # one node: the user's resend waits until Rasa is back
                if rig.rasa_back(victim, killed, 300) is None:
                    details.append(f"kill {n + 1}: {victim} was not back within 300 s ({rig.supervisor_lines[-1:]})")
                    break
                heal_seconds.append(time.monotonic() - started)
            first = answer[0] if answer else Reply(None, 0, "no answer")
            if first.upstreams and first.upstreams[-1] != victim:
                missed += 1
                details.append(f"kill {n + 1}: the consent was served by {first.upstreams[-1]}, not {victim}")
            numbers = first.case_numbers
            outcome = "confirmed at once" if numbers else ""
            again = first
            for _ in range(2 if first.lost else 0):  # the user saw nothing: sends the consent again
                again = talk(rig, talk_.sender, consent.message, 150)
                if not again.lost:
                    break
                lost_resends.append(f"{again.seconds:.1f} s {again.error or 'empty'}")
            if first.lost:
                resend_seconds.append(again.seconds)
                answered_by += again.upstreams[-1:]
                numbers = again.case_numbers
                outcome = "confirmed after resending" if numbers else ""
                if not numbers:
                    details.append(f"kill {n + 1} at {delay:.2f} s: resent, reply {again.error or again.text[:100]!r}")
            if rig.failover:  # the next kill only once both replicas serve again
                if rig.rasa_back(victim, killed, 300) is None:
                    details.append(f"kill {n + 1}: {victim} was not back within 300 s ({rig.supervisor_lines[-1:]})")
                    break
                heal_seconds.append(time.monotonic() - started)
            stored = talk_.stored()
            if not outcome:
                outcome = "stored, never confirmed" if stored else "not stored"
            tally[outcome] += 1
            if len(stored) > 1:
                duplicates += len(stored) - 1
                details.append(f"kill {n + 1} at {delay:.2f} s: {len(stored)} cases for one conversation: {stored}")
            if any(no not in stored for no in numbers):
                details.append(f"kill {n + 1}: confirmed {numbers} but stored {stored}")
        cases = {c.case_no: c for c in read_cases(rig.cases)}
        broken = {
            no: c.half_written()
            for no, c in cases.items()
            if c.sender_id.startswith("fault-rasa-") and c.half_written()
        }
        half = len(broken)
        details += [f"half-written {no}: {why}" for no, why in broken.items()]
    finally:
        for supervisor, backoff in backoffs:
            supervisor.MAX_BACKOFF = backoff
    heal = f"{min(heal_seconds):.0f}–{max(heal_seconds):.0f} s" if heal_seconds else "-"
    done = sum(tally.values())
    left_without = tally["stored, never confirmed"] + tally["not stored"]
    numbers_line = (
        f"{done} of {kills} kills at 0–{max_delay:.2f} s after the consent: "
        + ", ".join(f"{k} {v}" for k, v in tally.items())
        + f"; users left without their case number {left_without}"
        + f"; half-written cases {half}; duplicate cases {duplicates}; the killed Rasa back after {heal}"
        + (f"; {form_problems} forms went wrong before the kill" if form_problems else "")
    )
    if rig.failover:
        resent = f"{min(resend_seconds):.1f}–{max(resend_seconds):.1f} s" if resend_seconds else "-"
        by = ", ".join(f"{name} {answered_by.count(name)}" for name in sorted(set(answered_by))) or "-"
        per_victim = ", ".join(f"{name} ×{victims.count(name)}" for name in sorted(set(victims))) or "-"
        numbers_line += (
            f"; killed {per_victim}; resent consents answered after {resent} (by {by}); "
            f"resends that got no answer {len(lost_resends)} ({', '.join(lost_resends) or '-'}); "
            f"kills that missed the consent's replica {missed}"
        )
    # Fewer kills for lack of time are judged on those made.
    passed = done == kills - form_problems or (done > 0 and time.monotonic() > until)
    passed = passed and half == 0 and duplicates == 0
    return Outcome("Rasa killed during case submission", passed, numbers_line, details)


def _post_into(into: list[Reply], rig: FaultTarget, sender: str, message: str) -> None:
    into.append(talk(rig, sender, message, 60))


def open_cases_directly(rig: Rig, count: int, tag: str) -> None:
    """Opens `count` cases in one transaction, as the case form's last step does (service.open_case), so
    their notifications are queued together."""
    from actions.cases.experts import load_experts
    from actions.cases.service import Intake, open_case
    from actions.cases.staff import load_staff
    from actions.store import session_scope

    experts, _ = load_experts(rig.workdir / "knowledge" / "experts.yml")
    staff, _ = load_staff(rig.workdir / "knowledge" / "staff.yml")
    with session_scope(rig.database_url) as session:
        for n in range(count):
            intake = Intake(
                sender_id=f"fault-notifier-{tag}-{n:04d}",
                channel="rest",
                language="en",
                enterprise=f"Probe Machinery {tag}-{n} Co., Ltd.",
                contact=f"probe{n}@example.com",
                contact_kind="email",
                country=("JP", "DE", "TH", "US")[n % 4],
                ip_type=("patent", "trademark", "design")[n % 3],
                incident_type="warning_letter",
                deadline=None if n % 2 else date(2099, 1, 1),
                description="A probe's case: a foreign company says our products infringe its rights.",
                consent=True,
            )
            open_case(session, intake, experts, staff=staff)


def notifier_killed(rig: Rig, kills: int, batch: int, rng: random.Random) -> Outcome:
    """Opens `batch` cases and kills the notifier with -9 while it delivers them, `kills` times."""
    details: list[str] = []
    service, watch = rig.stack.services["notifier"], rig.supervisor.watches["notifier"]
    mid_delivery, heal_seconds = 0, []
    for n in range(kills):
        before = len(sink_records(rig.sink))
        open_cases_directly(rig, batch, str(n))
        wait_until(lambda: len(sink_records(rig.sink)) > before, 30, every=0.01)  # noqa: B023 (called at once)
        time.sleep(rng.uniform(0, 0.3))
        pending = outbox_status(rig.database)["pending"]
        killed, restarts = service.pid, watch.restarts
        kill_group(killed)
        mid_delivery += pending > 0
        details.append(f"kill {n + 1}: {pending} rows still pending at the kill")
        killed_at = time.monotonic()
        if wait_until(restarted_since(watch, restarts, service, killed), 60, every=0.1) is None:
            details.append(f"kill {n + 1}: the notifier was not restarted within 60 s")
        heal_seconds.append(time.monotonic() - killed_at)
    wait_until(lambda: not outbox_status(rig.database)["pending"], 180, every=1.0)
    status = outbox_status(rig.database)
    records = sink_records(rig.sink)
    twice = sent_twice(records)
    connection = sqlite3.connect(f"file:{rig.database}?mode=ro", uri=True)
    try:
        ids = [
            i
            for (i,) in connection.execute(
                "SELECT id FROM outbox WHERE channel != 'web' AND case_id IN "
                "(SELECT id FROM cases WHERE sender_id LIKE 'fault-notifier-%')"
            )
        ]
    finally:
        connection.close()
    seen = {int(r["id"]) for r in records if isinstance(r.get("id"), int)}
    missing = [i for i in ids if i not in seen]
    extra = sum(count - 1 for count in twice.values())
    numbers = (
        f"{kills} kills ({mid_delivery} with rows still pending), {kills * batch} cases, {len(ids)} outbox rows; "
        f"outbox now {dict(status)}; never reached the sink {len(missing)}; sent twice {len(twice)} rows "
        f"({extra} extra sends; at most one row in flight per kill: ≤ {kills}); restarted after "
        + (", ".join(f"{s:.1f}" for s in heal_seconds) or "-")
        + " s"
    )
    if twice:
        details.append(f"rows sent twice: {list(twice)[:10]}")
    passed = not missing and not status["pending"] and extra <= kills
    return Outcome("notifier killed while delivering", passed, numbers, details)


def _chattr(flag: str, paths: list[Path]) -> bool:
    """chattr +i / -i on the files that exist; False when it is not available."""
    existing = [str(p) for p in paths if p.exists()]
    if not existing or shutil.which("chattr") is None:
        return False
    return subprocess.run(["chattr", flag, *existing], capture_output=True).returncode == 0


def database_files(rig: Rig) -> list[Path]:
    """The SQLite file and its write-ahead log and shared-memory files."""
    return [
        rig.database,
        rig.database.with_name(rig.database.name + "-wal"),
        rig.database.with_name(rig.database.name + "-shm"),
    ]


@dataclass
class DatabaseFault:
    """A way to take the case database away and give it back: `break_it` says what it did, `state` what
    the database looks like while broken (for the report), `restore` undoes it."""

    kind: str  # read-only, missing, unavailable
    break_it: Callable[[], str]
    restore: Callable[[], None]
    state: Callable[[], str] = lambda: ""


def database_fault(rig: FaultTarget, fault: DatabaseFault) -> Outcome:
    """The consent answered while the database is broken, then a new case once it is restored."""
    kind = fault.kind
    details: list[str] = []
    before = Conversation(rig, kind, 0, country=1)
    if problem := before.fill_until("consent"):
        return Outcome(f"database {kind}", False, f"the form went wrong before the fault: {problem}")
    notifier_pids = {name: rig.service(name).pid for name in rig.names("notifier")}
    actions_log, notifier_log, rasa_log = LogMark(rig, "actions"), LogMark(rig, "notifier"), LogMark(rig, "rasa")
    how = fault.break_it()
    reply = talk(rig, before.sender, before.turn("consent").message)
    told_nothing_stored = says_db_down(reply.text)
    confirmed = reply.case_numbers
    time.sleep(6)  # a few notifier rounds against the broken database
    action_errors = [line for line in actions_log.lines() if ERROR_MARKS.search(line)]
    notifier_errors = [line for line in notifier_log.lines() if "ERROR" in line]
    rasa_errors = [line for line in rasa_log.lines() if "ERROR" in line or "Traceback" in line]
    notifier_kept = all(
        rig.service(name).pid == pid and rig.service(name).running() for name, pid in notifier_pids.items()
    )
    while_broken = fault.state()
    fault.restore()
    stored_before = before.stored()
    ghost = [no for no in confirmed if no not in stored_before]
    after = Conversation(rig, kind, 1, country=2)
    problem = after.fill_until("consent")
    numbers_after: list[str] = []
    if not problem:
        problem, numbers_after = after.finish("description")

    def reached() -> bool:
        case = next((c for c in read_cases(rig.cases) if c.case_no == numbers_after[0]), None)
        return case is not None and case.human_reached()

    delivered = bool(numbers_after) and wait_until(reached, 30, every=0.5) is not None
    works_again = bool(numbers_after) and after.stored() == numbers_after and delivered
    details += [
        f"fault: {how}" + (f"; while broken: {while_broken}" if while_broken else ""),
        f"reply to the consent: {reply.error or reply.text[:160]!r}",
        *[f"{line[:200]}" for line in action_errors[:3]],
        *[f"{line[:200]}" for line in notifier_errors[:3]],
        *[f"{line[:200]}" for line in rasa_errors[:3]],
    ]
    if problem:
        details.append(f"after restoring: {problem}")
    notifiers = "notifier" if len(notifier_pids) == 1 else f"{len(notifier_pids)} notifiers"
    numbers = (
        f"'nothing was stored' reply {'yes' if told_nothing_stored else 'NO'}; confirmed but not stored {len(ghost)}; "
        f"action server errors logged {len(action_errors)}; {notifiers} kept running {'yes' if notifier_kept else 'NO'} "
        f"(errors logged {len(notifier_errors)}); Rasa errors logged {len(rasa_errors)}; after restoring: a new case "
        f"stored {'yes' if numbers_after and after.stored() == numbers_after else 'NO'}, delivered {'yes' if delivered else 'NO'}"
    )
    passed = told_nothing_stored and not ghost and bool(action_errors) and notifier_kept and works_again
    return Outcome(f"database {kind}", passed, numbers, details)


def files_present(files: list[Path]) -> str:
    """Which of the database's files exist (while it is broken)."""
    return "files " + str({p.name: p.exists() for p in files})


def database_read_only(rig: Rig) -> Outcome:
    """The database file (and -wal, -shm) made read-only before the consent, then writable again."""
    files = database_files(rig)

    def break_it() -> str:
        for path in files:
            if path.exists():
                path.chmod(0o444)
        # Not the -shm file: SQLite maps it into every process's memory, and an immutable mapping kills them
        # with SIGBUS (a first run: the notifier died with signal 7, the action server's worker stopped answering).
        immutable = _chattr("+i", files[:2])
        return "chmod 0444 of the file, -wal and -shm" + (
            ", chattr +i of the file and -wal (root ignores file modes)" if immutable else " (chattr not available)"
        )

    def restore() -> None:
        _chattr("-i", files[:2])
        for path in files:
            if path.exists():
                path.chmod(0o600)

    return database_fault(rig, DatabaseFault("read-only", break_it, restore, lambda: files_present(files)))


def database_missing(rig: Rig) -> Outcome:
    """The database file (and -wal, -shm) deleted before the consent, then put back from a copy made just before."""
    files = database_files(rig)
    backup = rig.workdir / "cases.backup.db"

    def break_it() -> str:
        source, copy = sqlite3.connect(rig.database), sqlite3.connect(backup)
        with contextlib.closing(source), contextlib.closing(copy):
            source.backup(copy)
        for path in files:
            path.unlink(missing_ok=True)
        return "deleted the database file and its -wal/-shm (a copy kept)"

    def restore() -> None:
        recreated = rig.database.exists()
        for path in files:
            path.unlink(missing_ok=True)
        shutil.copy2(backup, rig.database)
        rig.database.chmod(0o600)
        if recreated:
            print("  note: something re-created the database file while it was missing", flush=True)

    return database_fault(rig, DatabaseFault("missing", break_it, restore, lambda: files_present(files)))


def _interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """The options the fault probe shares with its scale-out run (eval/probes/scale_faults.py)."""
    parser.add_argument("--rasa-kills", type=int, default=20)
    parser.add_argument("--max-delay", type=float, default=0.0, help="Rasa kill: latest moment after the consent, s")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--budget", type=float, default=2400.0, help="seconds after which no further Rasa kill starts")
    parser.add_argument("--keep-logs", type=Path)
    parser.add_argument("--report", type=Path, help="also write the results as markdown here")


def chosen_scenarios(parser: argparse.ArgumentParser, only: str, known: tuple[str, ...]) -> list[str]:
    """The scenarios --only names, in its order (an unknown one is a usage error)."""
    chosen = [s.strip() for s in only.split(",") if s.strip()]
    if unknown := set(chosen) - set(known):
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    return chosen


def run_scenarios(lines: list[str], runs: dict[str, Callable[[], Outcome]], chosen: list[str]) -> list[Outcome]:
    """Runs the chosen scenarios one after the other, printing each one's PASS/FAIL line and numbers."""
    outcomes = []
    for name in chosen:
        print(f"… {name}", flush=True)
        started = time.monotonic()
        outcome = runs[name]()
        outcomes.append(outcome)
        say(lines)
        say(lines, f"{'PASS' if outcome.passed else 'FAIL'}  {outcome.name} ({time.monotonic() - started:.0f} s)")
        say(lines, f"      {outcome.numbers}")
        for detail in outcome.details:
            say(lines, f"      - {detail}")
    return outcomes


def report_supervision(lines: list[str], rig: FaultTarget) -> None:
    """Every process's restarts and the supervisors' lines."""
    restarts = {name: rig.watch(name).restarts for kind in SERVICE_KINDS for name in rig.names(kind)}
    say(lines)
    say(lines, f"supervisor restarts: {restarts}")
    for line in rig.supervisor_lines:
        say(lines, f"  {line}")


def verdict(lines: list[str], outcomes: list[Outcome]) -> int:
    """The closing line; the exit code (1 when a scenario failed)."""
    failed = [o.name for o in outcomes if not o.passed]
    say(lines)
    say(
        lines,
        f"{len(outcomes) - len(failed)} of {len(outcomes)} scenarios passed"
        + (f"; failed: {', '.join(failed)}" if failed else ""),
    )
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--only", default=",".join(SCENARIOS), help=f"comma-separated: {','.join(SCENARIOS)}")
    parser.add_argument("--action-kills", type=int, default=3)
    parser.add_argument("--notifier-kills", type=int, default=5)
    parser.add_argument("--notifier-batch", type=int, default=60, help="cases opened before each notifier kill")
    parser.add_argument(
        "--trackers",
        choices=("shared", "separate"),
        default="separate",
        help="Rasa's conversations in a file of their own (separate, as make run does) or in the case database",
    )
    add_common_arguments(parser)
    args = parser.parse_args(argv)
    chosen = chosen_scenarios(parser, args.only, SCENARIOS)
    signal.signal(signal.SIGTERM, _interrupted)
    began, lines = time.time(), list[str]()
    rng = random.Random(args.seed)
    until = time.monotonic() + args.budget
    load = LoadSampler().start()
    with private_rig(args.keep_logs, separate_trackers=args.trackers == "separate") as rig:
        say(
            lines,
            f"private stack on 127.0.0.1 (Rasa :{rig.stack.rasa_port}, actions :{rig.stack.action_port}, "
            f"notifier → sink), healthy after {rig.started_in:.0f} s; supervised as under make run",
        )
        shared = args.trackers == "shared"
        say(
            lines, "Rasa's conversations: " + ("in the case database" if shared else "a file of their own, as make run")
        )
        runs: dict[str, Callable[[], Outcome]] = {
            "actions": lambda: action_server_killed(rig, args.action_kills),
            "rasa": lambda: rasa_killed_at_submission(rig, args.rasa_kills, args.max_delay, rng, until),
            "notifier": lambda: notifier_killed(rig, args.notifier_kills, args.notifier_batch, rng),
            "readonly": lambda: database_read_only(rig),
            "missing": lambda: database_missing(rig),
        }
        outcomes = run_scenarios(lines, runs, chosen)
        report_supervision(lines, rig)
    code = verdict(lines, outcomes)
    if args.report:
        write_markdown(args.report, "Faults", lines, load.stop(), began)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
