"""E-mail through a real SMTP server on loopback (aiosmtpd): experts reached by e-mail get their offers,
enterprises that gave an address get their status changes, and a server that is down is retried."""

from __future__ import annotations

import asyncio
from datetime import datetime

import pytest
import yaml
from aiosmtpd.controller import Controller
from sqlalchemy import select

from actions.cases.experts import load_experts
from actions.cases.service import accept, open_case
from actions.settings import Settings
from actions.store import OutboxMessage, migrate, session_scope
from bot.notifier import Notifier
from bot.stack import free_port
from tests.factories import Inbox, intake


@pytest.fixture
def smtp():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller, inbox
    controller.stop()


def email_expert(folder) -> None:
    """One sample expert reachable by e-mail only, for German design cases."""
    folder.mkdir(parents=True, exist_ok=True)
    expert = {
        "id": "exp-101",
        "sample": True,
        "name": "Sample Mail Expert",
        "organisation": "Example IP Law Firm (sample)",
        "countries": ["DE"],
        "ip_types": ["design"],
        "industries": ["machinery"],
        "languages": ["zh", "en"],
        "contact": {"channel": "email", "address": "mail-expert@example.com"},
        "response_hours": 24,
        "available": True,
    }
    (folder / "experts.yml").write_text(yaml.safe_dump([expert]), encoding="utf-8")


@pytest.fixture
def settings(tmp_path, smtp):
    controller, _ = smtp
    email_expert(tmp_path / "knowledge")
    url = f"sqlite:///{tmp_path / 'cases.db'}"
    migrate(url)
    return Settings(
        knowledge_dir=tmp_path / "knowledge",
        database_url=url,
        telegram_token="",
        notifier_sink=tmp_path / "sink.jsonl",
        smtp_host="127.0.0.1",
        smtp_port=controller.port,
        smtp_security="none",
        smtp_from="IP early-warning bot <bot@example.com>",
        smtp_reply_to="staff-desk@example.com",
        smtp_timeout=5,
        watch_knowledge=False,
    )


def open_german_case(settings: Settings, contact: str = "li@example.com") -> str:
    experts, problems = load_experts(settings.experts_file)
    assert not problems
    form = intake(
        sender_id="web-9f8e",
        contact=contact,
        country="DE",
        ip_type="design",
        incident_type="customs_detention",
        description="机床在汉堡被海关扣留",
    )
    with session_scope(settings.database_url) as s:
        case_no = open_case(s, form, experts)[0].case_no
    assert case_no is not None
    return case_no


def rows(settings: Settings) -> list[OutboxMessage]:
    with session_scope(settings.database_url) as s:
        return list(s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def test_an_expert_reached_by_email_gets_the_offer_as_a_real_email(settings, smtp):
    _, inbox = smtp
    case_no = open_german_case(settings)
    assert asyncio.run(Notifier(settings).deliver_due()) == 1
    [mail] = inbox.messages
    assert mail["X-Envelope-To"] == "mail-expert@example.com" and mail["To"] == "mail-expert@example.com"
    assert mail["From"] == "IP early-warning bot <bot@example.com>"
    assert mail["Subject"] == f"New case {case_no} for you"
    assert mail["Reply-To"] == "staff-desk@example.com"
    body = mail.get_content()
    assert case_no in body and "汉堡" in body and "reply to this e-mail" in body
    [row] = rows(settings)
    assert (row.channel, row.status, row.external_id) == ("email", "delivered", mail["Message-ID"])
    assert not settings.notifier_sink.exists(), "an e-mail row also went to the sink"


def test_an_enterprise_that_gave_an_email_gets_its_status_change_in_its_language(settings, smtp):
    _, inbox = smtp
    case_no = open_german_case(settings, contact="li@example.com")
    with session_scope(settings.database_url) as s:
        assert accept(s, case_no, "exp-101") == "accepted"
    assert asyncio.run(Notifier(settings).deliver_due()) == 2  # the offer, then the enterprise's update
    update = next(m for m in inbox.messages if m["To"] == "li@example.com")
    assert update["Subject"] == f"案件 {case_no} 有新进展"
    body = update.get_content()
    assert body.startswith(f"{case_no}: ") and "Sample Mail Expert" in body and "不构成法律意见" in body


def test_an_smtp_server_that_is_down_is_retried_and_the_email_sent_once_it_is_back(settings):
    down = settings.model_copy(update={"smtp_port": free_port()})  # nothing listens there yet
    open_german_case(down)
    notifier = Notifier(down)
    assert asyncio.run(notifier.deliver_due()) == 0
    [row] = rows(down)
    assert row.status == "pending" and row.attempts == 1 and "SMTPConnectError" in (row.last_error or "")
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=down.smtp_port)
    controller.start()
    try:
        with session_scope(down.database_url) as s:
            s.get(OutboxMessage, row.id).next_attempt_at = datetime(2000, 1, 1)  # the backoff is over
        assert asyncio.run(notifier.deliver_due()) == 1
    finally:
        controller.stop()
    assert len(inbox.messages) == 1 and rows(down)[0].status == "delivered"


def test_without_an_smtp_host_email_rows_go_to_the_sink(settings, smtp):
    _, inbox = smtp
    plain = settings.model_copy(update={"smtp_host": ""})
    open_german_case(plain)
    assert asyncio.run(Notifier(plain).deliver_due()) == 1
    assert not inbox.messages
    assert "mail-expert@example.com" in plain.notifier_sink.read_text(encoding="utf-8")


def test_an_emailed_offer_carries_a_signed_expiring_link_to_the_case_in_the_console(settings, smtp):
    import re

    from bot.console.links import read_case_token

    _, inbox = smtp
    linked = settings.model_copy(
        update={"console_secret": "s" * 40, "console_url": "https://console.example.org", "console_link_hours": 48}
    )
    case_no = open_german_case(linked)
    assert asyncio.run(Notifier(linked).deliver_due()) == 1
    body = inbox.messages[0].get_content()
    found = re.search(rf"https://console\.example\.org/cases/{case_no}\?token=(\S+)", body)
    assert found and "expires in 48 hours" in body
    assert read_case_token("s" * 40, found.group(1), 48 * 3600) == (case_no, "exp-101")
    assert read_case_token("another key", found.group(1), 48 * 3600) is None


def test_without_a_console_secret_the_offer_has_no_link(settings, smtp):
    _, inbox = smtp
    open_german_case(settings)
    asyncio.run(Notifier(settings.model_copy(update={"console_secret": ""})).deliver_due())
    assert "token=" not in inbox.messages[0].get_content()


def test_the_enterprises_answer_reaches_an_email_expert_with_a_link_to_answer_in_the_console(settings, smtp):
    import re

    from actions.cases.service import enterprise_reply, expert_reply
    from bot.console.links import read_case_token

    _, inbox = smtp
    linked = settings.model_copy(update={"console_secret": "s" * 40, "console_url": "https://console.example.org"})
    case_no = open_german_case(linked)
    with session_scope(linked.database_url) as s:
        accept(s, case_no, "exp-101")
        expert_reply(s, case_no, "exp-101", "请把扣留通知发给我。")  # to a web conversation: waits there, no e-mail
        assert enterprise_reply(s, case_no, "web-9f8e", "通知已经上传了。").result == "sent"
    asyncio.run(Notifier(linked).deliver_due())
    answer = next(m for m in inbox.messages if m["Subject"] == f"Case {case_no}: the enterprise replied")
    assert answer["To"] == "mail-expert@example.com"
    body = answer.get_content()
    assert "通知已经上传了。" in body and "Answer the enterprise in the console" in body
    found = re.search(rf"https://console\.example\.org/cases/{case_no}\?token=(\S+)", body)
    assert found and read_case_token("s" * 40, found.group(1), 72 * 3600) == (case_no, "exp-101")
    assert not any("请把扣留通知发给我" in m.get_content() for m in inbox.messages)
