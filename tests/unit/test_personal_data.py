"""A person's copy and erasure of what the bot holds (PIPL), and the retention purge, on SQLite and
PostgreSQL (the `database_url` fixture)."""

from __future__ import annotations

import json
import os
import stat
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import Column, Float, Integer, MetaData, String, Table, Text, func, insert, select

from actions.alerts.service import subscribe, unsubscribe
from actions.cases.experts import load_experts
from actions.cases.service import add_event, enterprise_reply, open_case, staff_reply
from actions.personal_data import Subject, collect, erase, holdings, purge, strike_from_sink
from actions.settings import PROJECT_ROOT
from actions.store import (
    AlertDelivery,
    AlertSubscription,
    Case,
    CaseEvent,
    Offer,
    OutboxMessage,
    get_engine,
    session_scope,
)
from tests.factories import intake

NOW = datetime(2026, 12, 1, 12, 0)
EXPERTS, _ = load_experts(PROJECT_ROOT / "knowledge" / "experts.yml")


def rasa_events_table(url: str) -> Table:
    """The table Rasa's SQLTrackerStore keeps conversations in."""
    table = Table(
        "events",
        MetaData(),
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("sender_id", String(255), nullable=False, index=True),
        Column("type_name", String(255), nullable=False),
        Column("timestamp", Float),
        Column("intent_name", String(255)),
        Column("action_name", String(255)),
        Column("data", Text),
    )
    table.create(get_engine(url))
    return table


def add_tracker_events(url: str, table: Table, sender: str, texts: list[str], at: datetime) -> None:
    stamp = at.replace(tzinfo=timezone.utc).timestamp()
    with session_scope(url) as s:
        for text in texts:
            s.execute(
                insert(table).values(
                    sender_id=sender,
                    type_name="user",
                    timestamp=stamp,
                    data=json.dumps({"event": "user", "text": text}),
                )
            )


def sent_alert(url: str, sender: str, recipient: str, channel: str, at: datetime, status: str = "delivered") -> int:
    """An alert queued for a conversation (outbox row + delivery record), as publishing writes it."""
    with session_scope(url) as s:
        row = OutboxMessage(
            dedupe_key=f"alert:kr-1:{sender}",
            kind="alert",
            channel=channel,
            recipient=recipient,
            payload={"alert_id": "kr-1", "text": "韩国商标提醒"},
            status=status,
            created_at=at,
        )
        s.add(row)
        s.flush()
        s.add(AlertDelivery(alert_id="kr-1", subscriber=sender, channel=channel, outbox_id=row.id, created_at=at))
        return row.id


@pytest.fixture
def held(database_url):
    """Two conversations: tg-7001 (a case for 青岛示例机械, a subscription, an alert) and web-2 (another
    company's case and subscription), plus a case for 青岛示例机械 opened from web-9."""
    with session_scope(database_url) as s:
        mine = open_case(s, intake(sender_id="tg-7001", contact="zhang@example.com"), EXPERTS, now=NOW)[0].case_no
        staff_reply(s, mine, "staff:li", "Mr Zhang, please send the letter.", now=NOW)
        enterprise_reply(s, mine, "tg-7001", "Sent it by post today.", now=NOW)
        add_event(s, mine, "note", "staff", "Called Mr Zhang on +86 138 0000 0000", now=NOW)
        open_case(s, intake(sender_id="web-2", enterprise="Other Co.", contact="li@example.com"), EXPERTS, now=NOW)
        open_case(s, intake(sender_id="web-9", enterprise=" 青岛示例机械有限公司 "), EXPERTS, now=NOW)
        subscribe(s, "tg-7001", ["KR"], "all", "zh")
        subscribe(s, "web-2", ["KR"], "all", "zh")
    sent_alert(database_url, "tg-7001", "7001", "telegram", NOW)
    sent_alert(database_url, "web-2", "web-2", "web", NOW)
    return database_url


def count(url: str, model, *where) -> int:
    with session_scope(url) as s:
        return s.scalar(select(func.count()).select_from(model).where(*where))


def test_a_subject_is_one_conversation_or_one_company():
    with pytest.raises(ValueError):
        Subject()
    with pytest.raises(ValueError):
        Subject(sender_id="tg-1", company="Example Co.")


def test_the_copy_of_a_conversation_holds_its_cases_subscriptions_and_alerts_but_no_experts_address(held):
    with session_scope(held) as s:
        data = collect(s, Subject(sender_id="tg-7001"))
    [case] = data["cases"]
    assert case["sender_id"] == "tg-7001" and case["contact"] == "zhang@example.com"
    assert [e["kind"] for e in case["events"]][-1] == "note" and case["offers"]
    assert [(x["market"], x["recipient"]) for x in data["subscriptions"]] == [("KR", "7001")]
    assert [d["alert_id"] for d in data["alerts_sent"]] == ["kr-1"]
    kinds = {n["kind"] for n in data["notifications"]}
    assert {"expert_offer", "alert"} <= kinds
    offer = next(n for n in data["notifications"] if n["kind"] == "expert_offer")
    assert "recipient" not in offer and "zhang@example.com" not in json.dumps(data["notifications"])
    alert = next(n for n in data["notifications"] if n["kind"] == "alert")
    assert alert["recipient"] == "7001"
    assert data["conversation"] is None and "no tracker table" in data["notes"][0]
    json.dumps(data, ensure_ascii=False)  # JSON-ready


def test_the_copy_of_a_company_matches_its_name_however_it_was_typed(held):
    with session_scope(held) as s:
        data = collect(s, Subject(company="青岛示例机械有限公司"))
    assert sorted(c["sender_id"] for c in data["cases"]) == ["tg-7001", "web-9"]
    assert data["subscriptions"] == []  # subscriptions belong to conversations, not companies


def test_erasing_a_conversation_deletes_everything_about_it_and_nothing_else(held):
    with session_scope(held) as s:
        before = holdings(s, Subject(sender_id="tg-7001"))
    assert (before.cases, before.subscriptions, before.alert_deliveries) == (1, 1, 1)
    with session_scope(held) as s:
        _, removed = erase(s, Subject(sender_id="tg-7001"))
    assert {kind for _, kind, _ in removed} >= {"expert_offer", "alert"}
    assert count(held, Case, Case.sender_id == "tg-7001") == 0
    assert count(held, AlertSubscription, AlertSubscription.sender_id == "tg-7001") == 0
    assert count(held, AlertDelivery, AlertDelivery.subscriber == "tg-7001") == 0
    assert count(held, OutboxMessage, OutboxMessage.recipient == "7001") == 0
    assert count(held, Case) == 2 and count(held, AlertSubscription) == 1 and count(held, AlertDelivery) == 1
    with session_scope(held) as s:  # the other cases keep their history, offers and notifications
        others = [c.id for c in s.scalars(select(Case))]
        assert count(held, CaseEvent) == count(held, CaseEvent, CaseEvent.case_id.in_(others)) > 0
        assert count(held, Offer) == count(held, Offer, Offer.case_id.in_(others)) > 0
    with session_scope(held) as s:
        after = holdings(s, Subject(sender_id="tg-7001"))
    assert (after.cases, after.notifications, after.subscriptions) == (0, 0, 0)


def test_erasing_a_company_deletes_its_cases_and_names_the_conversations_that_opened_them(held):
    with session_scope(held) as s:
        found, _ = erase(s, Subject(company="青岛示例机械有限公司"))
    assert found.cases == 2 and found.other_conversations == ["tg-7001", "web-9"]
    assert count(held, Case) == 1
    assert count(held, OutboxMessage, OutboxMessage.case_id.is_not(None)) == count(
        held, OutboxMessage, OutboxMessage.case_id == select(Case.id).scalar_subquery()
    )
    assert count(held, AlertSubscription, AlertSubscription.sender_id == "tg-7001") == 1  # a conversation's own


def test_a_sql_tracker_store_is_copied_and_erased_per_conversation(held):
    table = rasa_events_table(held)
    add_tracker_events(held, table, "tg-7001", ["我们收到了警告函", "zhang@example.com"], NOW)
    add_tracker_events(held, table, "web-2", ["hello"], NOW)
    with session_scope(held) as s:
        data = collect(s, Subject(sender_id="tg-7001"))
        assert [e["data"]["text"] for e in data["conversation"]] == ["我们收到了警告函", "zhang@example.com"]
        assert holdings(s, Subject(sender_id="tg-7001")).tracker_events == 2
    with session_scope(held) as s:
        erase(s, Subject(sender_id="tg-7001"))
    with session_scope(held) as s:
        assert s.scalars(select(table.c.sender_id)).all() == ["web-2"]


def close(url: str, sender: str, at: datetime) -> str:
    with session_scope(url) as s:
        case = s.scalar(select(Case).where(Case.sender_id == sender))
        add_event(s, case.case_no, "closed", "staff", "settled with Mr Li", now=at)
        s.flush()
        case.updated_at = at
        return case.case_no


def test_the_purge_clears_closed_cases_past_the_retention_and_keeps_everything_else(held):
    old = NOW - timedelta(days=400)
    stale = close(held, "tg-7001", old)
    recent = close(held, "web-2", NOW - timedelta(days=10))
    with session_scope(held) as s:  # web-9's case is still open, however old
        s.scalar(select(Case).where(Case.sender_id == "web-9")).updated_at = old
    with session_scope(held) as s:
        dry = purge(s, 365, now=NOW, dry_run=True)
    assert dry.cases == [stale] and count(held, Case, Case.contact == "") == 0  # a dry run changes nothing
    with session_scope(held) as s:
        report = purge(s, 365, now=NOW)
    assert report.cases == [stale] and report.conversations is None
    with session_scope(held) as s:
        cleared = s.scalar(select(Case).where(Case.case_no == stale))
        assert (cleared.contact, cleared.description) == ("", "")
        assert cleared.enterprise and cleared.country == "JP" and cleared.status == "closed"  # kept for statistics
        free_text = ("note", "closed", "expert_reply", "enterprise_reply")
        assert {e.kind: e.text for e in cleared.events if e.kind in free_text} == dict.fromkeys(free_text, "")
        rows = list(s.scalars(select(OutboxMessage).where(OutboxMessage.case_id == cleared.id)))
        assert rows and all(r.payload == {} and r.status != "pending" for r in rows)
        kept = s.scalar(select(Case).where(Case.case_no == recent))
        assert kept.contact == "li@example.com"
        assert s.scalar(select(Case).where(Case.sender_id == "web-9")).contact == "a@example.com"
    with session_scope(held) as s:
        assert purge(s, 365, now=NOW).cases == []  # nothing more the second time


def test_the_purge_removes_old_alert_notifications_and_former_subscribers_records(held):
    old = NOW - timedelta(days=400)
    old_row = sent_alert(held, "web-5", "web-5", "web", old)  # web-5 has unsubscribed
    with session_scope(held) as s:
        subscribe(s, "web-6", ["KR"], "all", "zh")
        subscribe(s, "web-7", ["KR"], "all", "zh")
    still_subscribed = sent_alert(held, "web-6", "web-6", "web", old)
    waiting = sent_alert(held, "web-7", "web-7", "web", old, status="pending")  # not yet shown: kept
    with session_scope(held) as s:
        unsubscribe(s, "web-5")
        report = purge(s, 365, now=NOW)
    assert report.notifications == 2 and report.alert_records == 1
    with session_scope(held) as s:
        assert s.get(OutboxMessage, old_row) is None and s.get(OutboxMessage, still_subscribed) is None
        assert s.get(OutboxMessage, waiting) is not None
        assert sorted(s.scalars(select(AlertDelivery.subscriber).where(AlertDelivery.created_at < NOW))) == [
            "web-6",
            "web-7",
        ]
        web6 = s.scalar(select(AlertDelivery).where(AlertDelivery.subscriber == "web-6"))
        assert web6.outbox_id is None  # still marks the alert as sent, so it is not sent again


def test_the_purge_deletes_conversations_idle_longer_than_the_retention(held):
    table = rasa_events_table(held)
    add_tracker_events(held, table, "web-old", ["zhang@example.com"], NOW - timedelta(days=400))
    add_tracker_events(held, table, "web-active", ["first"], NOW - timedelta(days=400))
    add_tracker_events(held, table, "web-active", ["again"], NOW - timedelta(days=1))
    with session_scope(held) as s:
        assert purge(s, 365, now=NOW).conversations == 1
    with session_scope(held) as s:
        assert sorted(set(s.scalars(select(table.c.sender_id)))) == ["web-active"]


def test_erased_notifications_are_struck_from_the_sink_file(tmp_path):
    sink = tmp_path / "notifications.jsonl"
    lines = [
        {"id": 1, "kind": "expert_offer", "recipient": "2001", "text": "IP-2026-000001 …"},
        {"id": 2, "kind": "alert", "recipient": "7001", "text": "韩国商标提醒"},
        {"id": 1, "kind": "expert_offer", "recipient": "2002", "text": "another database's row 1"},
    ]
    sink.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines) + "not json\n", encoding="utf-8")
    assert strike_from_sink(sink, [(1, "expert_offer", "2001"), (2, "alert", "7001")]) == 2
    left = sink.read_text(encoding="utf-8").splitlines()
    assert [json.loads(x)["recipient"] for x in left[:-1]] == ["2002"] and left[-1] == "not json"
    assert stat.S_IMODE(os.stat(sink).st_mode) == 0o600
    assert strike_from_sink(tmp_path / "missing.jsonl", [(1, "alert", "1")]) == 0


PDF = b"%PDF-1.7\n%%EOF\n"


def test_documents_are_in_the_copy_and_go_with_an_erasure_or_the_purge(held, tmp_path):
    from actions.cases.documents import store_document
    from actions.personal_data import remove_documents
    from actions.store import CaseDocument

    folder = tmp_path / "attachments"
    mine = store_document(held, "tg-7001", PDF, "warning letter.pdf", folder, 10_000)
    store_document(held, "web-2", PDF + b"other", "notice.pdf", folder, 10_000)
    with session_scope(held) as s:
        copy = collect(s, Subject(sender_id="tg-7001"))
        [document] = copy["cases"][0]["documents"]
        assert document["filename"] == "warning_letter.pdf" and document["case_id"]
        erased, _ = erase(s, Subject(sender_id="tg-7001"))
    assert erased.documents == 1 and "documents attached to them: 1" in erased.lines()
    assert remove_documents(folder, erased.document_files) == 1
    assert not (folder / erased.document_files[0]).exists()
    assert mine.case_no not in {p.name for p in folder.iterdir() if any(p.iterdir())}
    assert count(held, CaseDocument) == 1  # web-2's document stays
    other = close(held, "web-2", NOW - timedelta(days=400))
    with session_scope(held) as s:
        report = purge(s, 365, now=NOW)
    assert report.cases == [other] and len(report.document_files) == 1
    assert remove_documents(folder, report.document_files) == 1 and count(held, CaseDocument) == 0
    assert remove_documents(folder, ["../../etc/passwd"]) == 0  # nothing outside the folder is touched
