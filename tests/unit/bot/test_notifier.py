"""The notifier against a loopback Telegram Bot API server and a real SQLite database."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import stat
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select
from telegram import Bot

from actions.cases.service import open_case
from actions.settings import Settings
from actions.store import Case, OutboxMessage, migrate, session_scope, utcnow
from bot.notifier import Notifier, backoff
from bot.stack import free_port
from tests.factories import intake
from tests.telegram_api import FakeBotApi

ROOT = Path(__file__).resolve().parents[3]
TOKEN = "123456:TEST"


def experts_file(folder: Path, n: int = 3) -> None:
    experts = [
        {
            "id": f"exp-{i:03d}",
            "sample": True,
            "name": f"Sample Expert {i}",
            "organisation": "Example IP Law Firm (sample)",
            "countries": ["DE"],
            "ip_types": ["design"],
            "industries": ["machinery"],
            "languages": ["zh", "en"],
            "contact": {"channel": "email", "address": f"expert-{i}@example.com"},
            "telegram_chat_id": 2000 + i,
            "response_hours": 24,
            "available": True,
        }
        for i in range(1, n + 1)
    ]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "experts.yml").write_text(yaml.safe_dump(experts), encoding="utf-8")


@pytest.fixture
def setup(tmp_path):
    knowledge = tmp_path / "knowledge"
    experts_file(knowledge)
    url = f"sqlite:///{tmp_path / 'cases.db'}"
    migrate(url)
    settings = Settings(
        knowledge_dir=knowledge,
        database_url=url,
        telegram_token=TOKEN,
        notifier_sink=tmp_path / "sink.jsonl",
        notifier_poll_seconds=0.1,
        watch_knowledge=False,
    )
    return settings


def open_cases(settings: Settings, n: int, sender: str = "web-1") -> list[str]:
    notifier = Notifier(settings)
    numbers = []
    with session_scope(settings.database_url) as s:
        for i in range(n):
            form = intake(
                sender_id=sender,
                enterprise=f"示例公司{i}",
                country="DE",
                ip_type="design",
                incident_type="customs_detention",
                description="机床被海关扣留",
            )
            numbers.append(open_case(s, form, notifier.experts())[0].case_no)
    return numbers


def rows(settings: Settings) -> list[OutboxMessage]:
    with session_scope(settings.database_url) as s:
        return list(s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def test_offers_reach_each_expert_with_accept_and_decline_buttons(setup):
    [case_no] = open_cases(setup, 1)
    with FakeBotApi(TOKEN) as api:
        notifier = Notifier(setup, Bot(TOKEN, base_url=api.base_url))
        assert asyncio.run(notifier.deliver_due()) == 3
        sent = api.sent_messages()
        assert sorted(m["chat_id"] for m in sent) == [2001, 2002, 2003]
        buttons = sent[0]["reply_markup"]["inline_keyboard"][0]
        assert [b["callback_data"] for b in buttons] == [f"case:{case_no}:accept", f"case:{case_no}:decline"]
    assert all(r.status == "delivered" and r.external_id for r in rows(setup))


def test_a_429_waits_the_retry_after_and_nothing_is_dropped(setup):
    open_cases(setup, 1)

    async def scenario(api: FakeBotApi) -> None:
        notifier = Notifier(setup, Bot(TOKEN, base_url=api.base_url))
        started = utcnow()
        assert await notifier.deliver_due() == 2
        [waiting] = [r for r in rows(setup) if r.status == "pending"]
        assert waiting.attempts == 1 and "RetryAfter" in waiting.last_error
        assert 6 <= (waiting.next_attempt_at - started).total_seconds() <= 9
        assert await notifier.deliver_due() == 0  # not due yet
        with session_scope(setup.database_url) as s:
            s.get(OutboxMessage, waiting.id).next_attempt_at = datetime(2000, 1, 1)
        assert await notifier.deliver_due() == 1

    with FakeBotApi(TOKEN) as api:
        api.fail_next("sendMessage", times=1, error_code=429, retry_after=7)
        asyncio.run(scenario(api))
    assert all(r.status == "delivered" for r in rows(setup))


def test_other_failures_back_off_exponentially():
    assert [backoff(n) for n in (1, 2, 3, 10, 20)] == [2, 4, 8, 600, 600]


def test_without_a_token_notifications_go_to_the_sink_file(setup):
    settings = setup.model_copy(update={"telegram_token": ""})
    open_cases(settings, 1)
    assert asyncio.run(Notifier(settings, bot=None).deliver_due()) == 3
    lines = [json.loads(line) for line in settings.notifier_sink.read_text(encoding="utf-8").splitlines()]
    assert [line["kind"] for line in lines] == ["expert_offer"] * 3
    assert all(r.status == "delivered" for r in rows(settings))


def notifier_process(settings: Settings, api: FakeBotApi, log: Path, module: str = "bot.notifier") -> subprocess.Popen:
    """The notifier (or, with module="bot.channels.telegram.gateway", the gateway that takes button presses) as a process."""
    env = dict(
        os.environ,
        PYTHONPATH=str(ROOT),
        KNOWLEDGE_DIR=str(settings.knowledge_dir),
        DATABASE_URL=settings.database_url,
        TELEGRAM_TOKEN=TOKEN,
        TELEGRAM_BASE_URL=api.base_url,
        NOTIFIER_POLL_SECONDS="0.1",
        RASA_URL=f"http://127.0.0.1:{free_port()}",  # not needed: experts only press buttons
    )
    out = open(log, "ab")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(
        [sys.executable, "-m", module], env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
    )


@pytest.mark.e2e
def test_first_accept_wins_and_the_others_are_told(setup, tmp_path):
    [case_no] = open_cases(setup, 1)
    with FakeBotApi(TOKEN) as api:
        process = notifier_process(setup, api, tmp_path / "notifier.log")
        gateway = notifier_process(setup, api, tmp_path / "gateway.log", module="bot.channels.telegram.gateway")
        try:
            assert api.wait_for(lambda: len(api.sent_messages()) == 3, timeout=30)
            first = api.bot_messages(2002)[0]
            api.press_button(2002, first["message_id"], f"case:{case_no}:accept", user_id=2002)
            assert api.wait_for(lambda: len(api.callback_answers()) == 1, timeout=15)
            later = api.bot_messages(2001)[0]
            api.press_button(2001, later["message_id"], f"case:{case_no}:accept", user_id=2001)
            assert api.wait_for(lambda: len(api.callback_answers()) == 2, timeout=15)
            answers = [a.get("text", "") for a in api.callback_answers()]
            assert answers[0].startswith(f"You accepted {case_no}")
            assert answers[1] == f"{case_no} was already taken by another expert."
            for chat in (2001, 2003):
                assert api.wait_for(
                    lambda chat=chat: any("taken by another expert" in m["text"] for m in api.sent_messages(chat)),
                    timeout=15,
                )
        finally:
            for p in (process, gateway):
                p.terminate()
                p.wait(10)


@pytest.mark.e2e
def test_killed_mid_run_and_restarted_every_row_is_delivered(setup, tmp_path):
    numbers = open_cases(setup, 12)  # 36 offers
    with FakeBotApi(TOKEN) as api:
        api.delay("sendMessage", 0.1)
        process = notifier_process(setup, api, tmp_path / "notifier.log")
        assert api.wait_for(lambda: len(api.sent_messages()) >= 10, timeout=30)
        os.killpg(process.pid, signal.SIGKILL)  # in the middle of the run
        process.wait(10)
        half = len(api.sent_messages())
        assert half < 36, "the run was not interrupted"
        api.delay("sendMessage", 0)
        process = notifier_process(setup, api, tmp_path / "notifier.log")
        try:
            assert api.wait_for(lambda: all(r.status == "delivered" for r in rows(setup)), timeout=60)
        finally:
            process.terminate()
            process.wait(10)
        sent = {(m["chat_id"], m["text"].split("\n")[1].split(" ")[0]) for m in api.sent_messages()}
        expected = {(chat, case_no) for case_no in numbers for chat in (2001, 2002, 2003)}
        assert expected <= sent, "an offer was lost"
        assert len(api.sent_messages()) - 36 <= 1, "at most the one in flight is sent twice"
        # A duplicate offer is harmless: accepting from both copies gives one acceptance.
        chat, case_no = 2001, numbers[0]
        copies = [m for m in api.bot_messages(chat) if case_no in m["text"]]
        notifier = Notifier(setup)
        assert notifier.answer_offer(chat, f"case:{case_no}:accept").startswith("You accepted")
        assert notifier.answer_offer(chat, f"case:{case_no}:accept") == f"You have already accepted {case_no}."
        assert copies


def test_the_sink_file_is_readable_only_by_its_owner(setup, tmp_path):
    settings = setup.model_copy(update={"telegram_token": "", "notifier_sink": tmp_path / "run" / "sink.jsonl"})
    open_cases(settings, 1)
    assert asyncio.run(Notifier(settings, bot=None).deliver_due()) == 3
    assert stat.S_IMODE(settings.notifier_sink.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "run").stat().st_mode) == 0o700


def test_a_failed_delivery_is_logged_by_row_id_without_address_or_text(setup, tmp_path, caplog):
    settings = setup.model_copy(update={"telegram_token": "", "notifier_sink": tmp_path / "not-a-file"})
    settings.notifier_sink.mkdir()  # writing to the sink fails
    open_cases(settings, 1)
    with caplog.at_level(logging.WARNING, logger="notifier"):
        assert asyncio.run(Notifier(settings, bot=None).deliver_due()) == 0
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "outbox 1 (expert_offer over telegram) failed: IsADirectoryError" in logged
    assert "2001" not in logged and "not-a-file" not in logged and "机床" not in logged
    assert all(r.status == "pending" and r.attempts == 1 for r in rows(settings))  # still retried, never dropped


def test_the_daily_purge_clears_closed_cases_past_the_retention(setup):
    [case_no] = open_cases(setup, 1)
    with session_scope(setup.database_url) as s:
        case = s.scalar(select(Case).where(Case.case_no == case_no))
        case.status, case.updated_at = "closed", datetime(2020, 1, 1)
    assert Notifier(setup).purge() == 1
    with session_scope(setup.database_url) as s:
        case = s.scalar(select(Case).where(Case.case_no == case_no))
        assert (case.contact, case.description) == ("", "")
    assert Notifier(setup).purge() == 0


# ---- several notifiers, and a database that fails --------------------------------------------------
def sink_settings(tmp_path: Path, database_url: str) -> Settings:
    """Settings on this database with three experts, delivering to a sink (no Telegram)."""
    knowledge = tmp_path / "knowledge"
    experts_file(knowledge)
    return Settings(
        knowledge_dir=knowledge,
        database_url=database_url,
        telegram_token="",
        notifier_sink=tmp_path / "sink.jsonl",
        notifier_poll_seconds=0.1,
        watch_knowledge=False,
    )


@pytest.fixture
def shared(tmp_path, database_url):
    """Sink settings on a fresh database, SQLite and PostgreSQL."""
    return sink_settings(tmp_path, database_url)


def sink_ids(settings: Settings) -> list[int]:
    if not settings.notifier_sink.exists():
        return []
    return [json.loads(line)["id"] for line in settings.notifier_sink.read_text(encoding="utf-8").splitlines()]


def test_two_notifiers_on_one_database_send_every_row_exactly_once(shared, monkeypatch):
    open_cases(shared, 10)  # 30 offers
    slow_sink = Notifier._to_sink

    def to_sink(self: Notifier, row: OutboxMessage) -> None:
        import time

        time.sleep(0.01)  # both are mid-batch at the same time
        slow_sink(self, row)

    monkeypatch.setattr(Notifier, "_to_sink", to_sink)
    first, second = Notifier(shared, name="notifier-a"), Notifier(shared, name="notifier-b")

    async def both() -> list[int]:
        counts = [0, 0]
        for _ in range(20):
            a, b = await asyncio.gather(first.deliver_due_batch(5), second.deliver_due_batch(5))
            counts[0] += a
            counts[1] += b
        return counts

    counts = asyncio.run(both())
    assert sorted(sink_ids(shared)) == [r.id for r in rows(shared)], "a row was sent twice or not at all"
    assert all(r.status == "delivered" and r.claimed_by is None for r in rows(shared))
    assert sum(counts) == 30 and min(counts) > 0, f"both notifiers delivered: {counts}"


def test_a_dead_notifiers_claim_runs_out_and_another_takes_the_rows(shared):
    open_cases(shared, 1)
    claimed = Notifier(shared, name="died-after-claiming")._claim()
    assert len(claimed) == 3
    other = Notifier(shared, name="survivor")
    assert asyncio.run(other.deliver_due()) == 0  # the claim still runs: not sent twice
    with session_scope(shared.database_url) as s:
        for row in s.scalars(select(OutboxMessage)):
            row.claimed_until = datetime(2000, 1, 1)
    assert asyncio.run(other.deliver_due()) == 3
    assert len(sink_ids(shared)) == 3


def test_a_row_sent_but_not_marked_is_marked_when_the_database_answers_and_never_sent_again(setup, monkeypatch):
    from sqlalchemy.exc import OperationalError

    settings = setup.model_copy(update={"telegram_token": ""})
    open_cases(settings, 1)
    notifier = Notifier(settings)
    mark = Notifier._mark
    down = {"on": True}

    def flaky_mark(self: Notifier, row_id: int, delivered: bool, *args: object) -> None:
        if delivered and down["on"]:
            raise OperationalError("UPDATE outbox", {}, Exception("database is locked"))
        mark(self, row_id, delivered, *args)

    monkeypatch.setattr(Notifier, "_mark", flaky_mark)
    with pytest.raises(OperationalError):
        asyncio.run(notifier.deliver_due())
    assert len(sink_ids(settings)) == 1 and list(notifier.unmarked) == [1]
    with pytest.raises(OperationalError):  # still down: nothing new is sent either
        asyncio.run(notifier.deliver_due())
    assert len(sink_ids(settings)) == 1
    down["on"] = False
    assert asyncio.run(notifier.deliver_due()) == 2  # row 1 is marked, rows 2 and 3 are sent
    assert sink_ids(settings) == [1, 2, 3], "row 1 was sent again"
    assert all(r.status == "delivered" for r in rows(settings)) and not notifier.unmarked


def test_the_notifier_waits_for_a_missing_database_and_then_delivers(tmp_path, caplog):
    from bot.notifier import run

    url = f"sqlite:///{tmp_path / 'later.db'}"
    settings = sink_settings(tmp_path, url)

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(run(settings, stop))
        await asyncio.sleep(1.5)
        assert not task.done(), "the notifier gave up on a missing database"
        assert not (tmp_path / "later.db").exists(), "the notifier created the database"
        await asyncio.to_thread(migrate, url)  # the staff restore it
        await asyncio.to_thread(open_cases, settings, 1)
        for _ in range(100):
            if len(sink_ids(settings)) == 3:
                break
            await asyncio.sleep(0.1)
        stop.set()
        await asyncio.wait_for(task, 10)

    with caplog.at_level(logging.INFO, logger="notifier"):
        asyncio.run(scenario())
    assert len(sink_ids(settings)) == 3
    logged = [r.getMessage() for r in caplog.records]
    assert any("the case database is unavailable (OperationalError)" in m for m in logged)
    assert any("the case database answers again" in m for m in logged)


def test_a_failure_that_repeats_every_round_is_logged_once_a_minute_not_every_round(caplog):
    from bot.notifier import RepeatedFailure

    now = [0.0]
    failing = RepeatedFailure("delivering the outbox", clock=lambda: now[0])
    with caplog.at_level(logging.INFO, logger="notifier"):
        for second in range(125):  # a round a second, the database gone for two minutes
            now[0] = float(second)
            failing.failed(OSError("gone"))
        failing.worked()
    logged = [r.getMessage() for r in caplog.records]
    assert logged == [
        "delivering the outbox failed (OSError), 1 round(s) in a row; trying again",
        "delivering the outbox failed (OSError), 61 round(s) in a row; trying again",
        "delivering the outbox failed (OSError), 121 round(s) in a row; trying again",
        "delivering the outbox works again after 125 failed round(s)",
    ]
    assert failing.streak == 0
