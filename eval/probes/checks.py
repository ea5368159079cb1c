"""What the probes conclude from what they saw: latency percentiles, lost replies, the case numbers users
were given against the rows the case database holds, half-written cases, whether a human was told of
each case, and notifications the sink received twice. Pure functions over plain data, plus one reader
of the case database (read-only SQLite)."""

from __future__ import annotations

import json
import math
import re
import sqlite3
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CASE_NO = re.compile(r"\bIP-\d{4}-\d{6}\b")
HUMAN_KINDS = ("expert_offer", "staff_alert")  # outbox rows that reach a person who can take the case


def percentile(values: Iterable[float], q: float) -> float:
    """The q-th percentile (0–100) by linear interpolation between the closest ranks; NaN without values."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True)
class Latency:
    """Reply times of a run, in seconds."""

    count: int
    p50: float
    p95: float
    p99: float
    worst: float

    @classmethod
    def of(cls, seconds: list[float]) -> Latency:
        """The percentiles of these reply times."""
        return cls(
            len(seconds),
            percentile(seconds, 50),
            percentile(seconds, 95),
            percentile(seconds, 99),
            max(seconds, default=math.nan),
        )

    def line(self) -> str:
        """One printable line, in milliseconds."""
        if not self.count:
            return "latency: no replies"
        ms = [v * 1000 for v in (self.p50, self.p95, self.p99, self.worst)]
        return f"latency over {self.count} replies: p50 {ms[0]:.0f} ms, p95 {ms[1]:.0f} ms, p99 {ms[2]:.0f} ms, max {ms[3]:.0f} ms"


def is_lost(messages: list[dict[str, Any]] | None) -> bool:
    """True when a request got nothing a user could read: it failed (None) or the reply holds no text,
    buttons or custom payload."""
    if not messages:
        return True
    return not any(m.get("text") or m.get("buttons") or m.get("custom") for m in messages)


def reply_text(messages: list[dict[str, Any]] | None) -> str:
    """The reply's text messages, joined by newlines."""
    return "\n".join(str(m["text"]) for m in messages or [] if m.get("text"))


def confirmed_case_numbers(messages: list[dict[str, Any]] | None) -> list[str]:
    """The case numbers a reply confirmed to the user: the `case_no` of its custom payloads (the
    confirmation of a new case carries one; a status answer does not)."""
    found = []
    for m in messages or []:
        custom = m.get("custom")
        if isinstance(custom, dict) and isinstance(custom.get("case_no"), str) and CASE_NO.fullmatch(custom["case_no"]):
            found.append(custom["case_no"])
    return found


@dataclass(frozen=True)
class StoredCase:
    """One row of the cases table with what belongs to it."""

    id: int
    case_no: str | None
    sender_id: str
    event_kinds: tuple[str, ...] = ()
    offers: int = 0
    outbox: tuple[tuple[str, str], ...] = ()  # (kind, status) of each outbox row of the case

    def half_written(self) -> list[str]:
        """Why this case is incomplete (empty when all its rows are there): it must have a number, a
        `created` event, and either an offer with its `offered` event and outbox row per expert, or a
        staff alert (event and outbox row) when no expert was offered it."""
        problems = []
        kinds = Counter(self.event_kinds)
        outbox = Counter(kind for kind, _ in self.outbox)
        if not self.case_no:
            problems.append("no case number")
        if not kinds["created"]:
            problems.append("no created event")
        if self.offers:
            if kinds["offered"] < self.offers:
                problems.append(f"{self.offers} offers but {kinds['offered']} offered events")
            if outbox["expert_offer"] < self.offers:
                problems.append(f"{self.offers} offers but {outbox['expert_offer']} expert notifications")
        else:
            if not kinds["staff_alerted"]:
                problems.append("no expert offered and no staff_alerted event")
            if not outbox["staff_alert"]:
                problems.append("no expert offered and no staff notification")
        return problems

    def human_notified(self) -> bool:
        """True when a notification to an expert or to the staff on duty was queued for the case."""
        return any(kind in HUMAN_KINDS for kind, _ in self.outbox)

    def human_reached(self) -> bool:
        """True when such a notification was delivered (the channel or the sink took it)."""
        return any(kind in HUMAN_KINDS and status == "delivered" for kind, status in self.outbox)

    def staff_alerted(self) -> bool:
        """True when the staff on duty were told (no expert matched)."""
        return any(kind == "staff_alert" for kind, _ in self.outbox)


def _rows(database: Path | str, query: str) -> list[tuple[Any, ...]]:
    """The rows of a query on the case database: an SQLite file, through a read-only connection (the
    probe never writes the bot's database), or any SQLAlchemy URL (the scale-out set's PostgreSQL)."""
    if isinstance(database, Path):
        sqlite = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30)
        try:
            return sqlite.execute(query).fetchall()
        finally:
            sqlite.close()
    from sqlalchemy import create_engine, text

    engine = create_engine(database)
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(text(query))]
    finally:
        engine.dispose()


def read_cases(database: Path | str) -> list[StoredCase]:
    """Every case in the case database with its event kinds, offer count and outbox rows."""
    cases = _rows(database, "SELECT id, case_no, sender_id FROM cases ORDER BY id")
    events: dict[int, list[str]] = {}
    for case_id, kind in _rows(database, "SELECT case_id, kind FROM case_events ORDER BY id"):
        events.setdefault(case_id, []).append(kind)
    offers = dict(_rows(database, "SELECT case_id, COUNT(*) FROM offers GROUP BY case_id"))
    outbox: dict[int, list[tuple[str, str]]] = {}
    for case_id, kind, status in _rows(database, "SELECT case_id, kind, status FROM outbox ORDER BY id"):
        outbox.setdefault(case_id, []).append((kind, status))
    return [
        StoredCase(i, no, sender, tuple(events.get(i, ())), int(offers.get(i, 0)), tuple(outbox.get(i, ())))
        for i, no, sender in cases
    ]


def outbox_status(database: Path | str) -> Counter[str]:
    """How many outbox rows are in each status, "web" rows (shown in the chat, never sent) left out."""
    return Counter(dict(_rows(database, "SELECT status, COUNT(*) FROM outbox WHERE channel != 'web' GROUP BY status")))


@dataclass
class Reconciliation:
    """The case numbers users were given against the stored rows."""

    confirmed: int
    stored: int
    confirmed_missing: list[str] = field(default_factory=list)  # told the user, not in the database
    unconfirmed: list[str] = field(default_factory=list)  # stored, never shown to its user (a lost reply)
    duplicates: dict[str, int] = field(default_factory=dict)  # sender → rows beyond the cases it asked for
    half_written: dict[str, list[str]] = field(default_factory=dict)  # case number (or id) → what is missing
    without_human: list[str] = field(default_factory=list)  # no expert or staff notification queued

    @property
    def consistent(self) -> bool:
        """True when nothing confirmed is missing, nothing is duplicated or half-written, and every case
        has a human told of it."""
        return not (self.confirmed_missing or self.duplicates or self.half_written or self.without_human)


def reconcile(
    confirmed: Mapping[str, Iterable[str]], attempts: Mapping[str, int], stored: list[StoredCase]
) -> Reconciliation:
    """Checks the stored cases against the conversations: `confirmed` is each sender's case numbers seen
    in replies, `attempts` how many distinct cases each sender tried to open (a consent answer sent again
    after a lost reply is the same attempt). A sender with more rows than attempts has duplicates."""
    shown = {no for numbers in confirmed.values() for no in numbers}
    numbers = {c.case_no for c in stored if c.case_no}
    per_sender = Counter(c.sender_id for c in stored)
    result = Reconciliation(confirmed=len(shown), stored=len(stored))
    result.confirmed_missing = sorted(shown - numbers)
    result.unconfirmed = sorted(no for no in numbers - shown)
    result.duplicates = {
        sender: rows - attempts.get(sender, 0)
        for sender, rows in sorted(per_sender.items())
        if rows > attempts.get(sender, 0)
    }
    for case in stored:
        if problems := case.half_written():
            result.half_written[case.case_no or f"id {case.id}"] = problems
    result.without_human = [c.case_no or f"id {c.id}" for c in stored if not c.human_notified()]
    return result


def sink_records(path: Path) -> list[dict[str, Any]]:
    """The notifications the notifier wrote to its JSONL sink (a torn last line is skipped)."""
    if not path.exists():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def sent_twice(records: Iterable[Mapping[str, Any]]) -> dict[int, int]:
    """Outbox row id → how many times the sink received it, for the rows received more than once."""
    counts = Counter(int(r["id"]) for r in records if isinstance(r.get("id"), int))
    return {row: n for row, n in sorted(counts.items()) if n > 1}
