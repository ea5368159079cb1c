"""The probes' conclusions (eval/probes): percentiles, lost replies, case numbers confirmed against the
stored rows (missing, duplicated, half-written, without a human told), notifications sent twice, and
how the soak's script follows the form — on plain data and on a real SQLite database built by the
migrations and filled by open_case."""

from __future__ import annotations

import json
import math
import random
import sqlite3
from pathlib import Path

import pytest

from actions.cases.experts import Contact, Expert
from actions.cases.service import open_case
from actions.cases.staff import StaffMember
from actions.store import migrate, session_scope
from eval.probes.checks import (
    Latency,
    StoredCase,
    confirmed_case_numbers,
    is_lost,
    percentile,
    read_cases,
    reconcile,
    sent_twice,
    sink_records,
)
from eval.probes.script import STEPS, form_turns, loop_turns, says_db_down, says_unavailable, status_turn
from eval.probes.soak import next_turn
from tests.factories import intake

EXPERT_CASE = StoredCase(
    1,
    "IP-2026-000001",
    "u1",
    ("created", "offered", "offered"),
    2,
    (("expert_offer", "delivered"), ("expert_offer", "pending")),
)
STAFF_CASE = StoredCase(
    2,
    "IP-2026-000002",
    "u2",
    ("created", "staff_alerted"),
    0,
    (("staff_alert", "pending"), ("staff_alert", "pending")),
)


def test_percentiles_interpolate_between_ranks():
    values = [float(v) for v in range(1, 101)]  # 1 … 100
    assert percentile(values, 50) == pytest.approx(50.5)
    assert percentile(values, 95) == pytest.approx(95.05)
    assert percentile(values, 100) == 100
    assert percentile([3.0], 99) == 3.0
    assert math.isnan(percentile([], 50))
    latency = Latency.of([0.2, 0.1, 0.4, 0.3])
    assert (latency.count, latency.worst) == (4, 0.4)
    assert latency.p50 == pytest.approx(0.25)
    assert "p99" in latency.line() and Latency.of([]).line() == "latency: no replies"


@pytest.mark.parametrize(
    ("messages", "lost"),
    [
        (None, True),
        ([], True),
        ([{"recipient_id": "u1"}], True),
        ([{"recipient_id": "u1", "text": ""}], True),
        ([{"text": "Step 1"}], False),
        ([{"custom": {"case_no": "IP-2026-000001"}}], False),
        ([{"buttons": [{"title": "OK", "payload": "/affirm"}]}], False),
    ],
)
def test_a_reply_is_lost_when_it_failed_or_holds_nothing_readable(messages, lost):
    assert is_lost(messages) is lost


def test_only_a_confirmations_payload_confirms_a_case_number():
    confirmation = [{"text": "Your case is open: IP-2026-000007."}, {"custom": {"case_no": "IP-2026-000007"}}]
    status = [{"text": "IP-2026-000007: waiting for an expert"}]
    assert confirmed_case_numbers(confirmation) == ["IP-2026-000007"]
    assert confirmed_case_numbers(status) == []
    assert confirmed_case_numbers([{"custom": {"case_no": "not a number"}}]) == []


def test_complete_cases_are_not_half_written():
    assert EXPERT_CASE.half_written() == [] and STAFF_CASE.half_written() == []
    assert EXPERT_CASE.human_notified() and EXPERT_CASE.human_reached() and not EXPERT_CASE.staff_alerted()
    assert STAFF_CASE.human_notified() and not STAFF_CASE.human_reached() and STAFF_CASE.staff_alerted()


@pytest.mark.parametrize(
    ("case", "problem"),
    [
        (StoredCase(3, None, "u", ("created", "staff_alerted"), 0, (("staff_alert", "pending"),)), "no case number"),
        (
            StoredCase(3, "IP-2026-000003", "u", ("staff_alerted",), 0, (("staff_alert", "pending"),)),
            "no created event",
        ),
        (StoredCase(3, "IP-2026-000003", "u", ("created", "offered"), 1, ()), "1 offers but 0 expert notifications"),
        (
            StoredCase(3, "IP-2026-000003", "u", ("created",), 1, (("expert_offer", "pending"),)),
            "1 offers but 0 offered events",
        ),
        (StoredCase(3, "IP-2026-000003", "u", ("created",), 0, ()), "no expert offered and no staff notification"),
    ],
)
def test_a_case_without_its_rows_is_half_written(case, problem):
    assert problem in case.half_written()


def test_reconciling_finds_missing_unconfirmed_and_duplicate_cases():
    stored = [
        EXPERT_CASE,
        STAFF_CASE,
        StoredCase(3, "IP-2026-000003", "u2", ("created", "staff_alerted"), 0, (("staff_alert", "pending"),)),
        StoredCase(4, "IP-2026-000004", "u3", ("created",), 0, ()),
    ]
    confirmed = {"u1": ["IP-2026-000001"], "u2": ["IP-2026-000002"], "u9": ["IP-2026-000099"]}
    result = reconcile(confirmed, {"u1": 1, "u2": 1, "u3": 1, "u9": 1}, stored)
    assert (result.confirmed, result.stored) == (3, 4)
    assert result.confirmed_missing == ["IP-2026-000099"]
    assert result.unconfirmed == ["IP-2026-000003", "IP-2026-000004"]
    assert result.duplicates == {"u2": 1}
    assert list(result.half_written) == ["IP-2026-000004"]
    assert result.without_human == ["IP-2026-000004"]
    assert not result.consistent


def test_cases_confirmed_once_each_reconcile():
    result = reconcile(
        {"u1": ["IP-2026-000001"], "u2": ["IP-2026-000002"]}, {"u1": 1, "u2": 2}, [EXPERT_CASE, STAFF_CASE]
    )
    assert result.consistent and result.unconfirmed == [] and result.duplicates == {}


def test_the_database_reader_sees_what_open_case_wrote(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'cases.db'}"
    migrate(url, create=True)
    expert = Expert(
        id="exp-001",
        sample=True,
        name="Sample A",
        organisation="Example (sample)",
        countries=["JP"],
        ip_types=["trademark"],
        industries=["machinery"],
        languages=["zh"],
        contact=Contact(channel="email", address="a@example.com"),
        response_hours=24,
        available=True,
    )
    staff = StaffMember(
        id="stf-001",
        sample=True,
        name="Sample Staff",
        organisation="Example (sample)",
        contact=Contact(channel="email", address="duty@example.org"),
        response_hours=24,
        on_duty=True,
    )
    with session_scope(url) as s:
        open_case(s, intake(sender_id="jp"), [expert], staff=[staff])
        open_case(s, intake(sender_id="th", country="TH"), [expert], staff=[staff])
    jp, th = read_cases(tmp_path / "cases.db")
    assert (jp.sender_id, jp.offers, jp.half_written(), jp.staff_alerted()) == ("jp", 1, [], False)
    assert (th.sender_id, th.offers, th.half_written(), th.staff_alerted()) == ("th", 0, [], True)
    with sqlite3.connect(tmp_path / "cases.db") as connection:  # a case whose offer notification is gone
        connection.execute("DELETE FROM outbox WHERE kind = 'expert_offer'")
    assert read_cases(tmp_path / "cases.db")[0].half_written() == ["1 offers but 0 expert notifications"]


def test_rows_the_sink_received_twice_are_counted_and_a_torn_line_is_skipped(tmp_path: Path):
    sink = tmp_path / "notifications.jsonl"
    lines = [json.dumps({"id": i, "kind": "expert_offer"}) for i in (1, 2, 2, 3, 3, 3)]
    sink.write_text("\n".join(lines) + '\n{"id": 4, "ki', encoding="utf-8")
    records = sink_records(sink)
    assert len(records) == 6
    assert sent_twice(records) == {2: 2, 3: 3}
    assert sink_records(tmp_path / "absent.jsonl") == []


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_form_script_expects_each_step_in_order(lang):
    turns = form_turns(lang, 5, "Japan", random.Random(1))
    assert [t.expect for t in turns] == list(STEPS[lang])
    assert turns[-1].step == "consent" and turns[4].message.startswith('/inform{"ip_type":')
    countries = {loop_turns(lang, 0, loop, random.Random(loop))[4].message for loop in range(3)}
    assert len(countries) == 3  # Japan, Germany and Thailand in turn
    assert status_turn(lang, "IP-2026-000001").expect == "IP-2026-000001:"


def test_the_script_follows_the_form_and_skips_steps_the_bot_did_not_ask():
    turns = loop_turns("en", 1, 0, random.Random(1))  # question, expert, company, contact, country, ip_type …
    assert next_turn(turns, 0, "PPH answer [1]") == 1  # a question: any reply
    assert next_turn(turns, 4, "Step 4: which kind of IP?") == 5
    assert next_turn(turns, 4, "Step 6: is there a deadline?") == 7  # IP type and incident already known
    assert next_turn(turns, 4, "Which country?") is None  # no step ahead
    assert next_turn(turns, 4, None) is None  # lost
    assert next_turn(turns, len(turns) - 1, "Your case is open: IP-2026-000001.") == len(turns)
    assert next_turn(turns, len(turns) - 1, "Sorry, the case could not be saved") is None


def test_the_unavailable_and_nothing_stored_replies_are_recognised_in_both_languages():
    assert says_unavailable("抱歉，服务暂时不可用，请稍后再试。")
    assert says_unavailable("Sorry, the service is temporarily unavailable; please try again in a moment.")
    assert says_db_down("抱歉，案件暂时无法保存（数据库不可用），本次没有保存任何内容。")
    assert says_db_down(
        "Sorry, the case could not be saved right now (the database is unavailable), and nothing was stored."
    )
    assert not says_db_down("Cancelled; nothing was stored.")


def test_the_scale_soak_counts_each_replicas_messages_from_nginxs_access_log(tmp_path):
    from eval.probes.scale_soak import served

    log = tmp_path / "access.log"
    log.write_text(
        '2026-12-03T13:00:00+00:00 "POST /webhooks/rest/webhook HTTP/1.1" 200 upstream=127.0.0.1:5005 upstream_status=200 0.1 s\n'
        '2026-12-03T13:00:01+00:00 "POST /webhooks/rest/webhook HTTP/1.1" 200 upstream=127.0.0.1:5006 upstream_status=200 0.1 s\n'
        '2026-12-03T13:00:02+00:00 "POST /webhooks/rest/webhook HTTP/1.1" 200 upstream=127.0.0.1:5005, 127.0.0.1:5006 upstream_status=502, 200 0.2 s\n'
        '2026-12-03T13:00:03+00:00 "POST /webhooks/rest/webhook HTTP/1.1" 502 upstream=127.0.0.1:5005 upstream_status=502 0.1 s\n'
        '2026-12-03T13:00:04+00:00 "GET /nginx-health HTTP/1.1" 200 upstream=- upstream_status=- 0.0 s\n',
        encoding="utf-8",
    )
    names = {"127.0.0.1:5005": "rasa-a", "127.0.0.1:5006": "rasa-b"}
    assert served(log, names) == {"rasa-a": 1, "rasa-b": 2, "HTTP 502": 1}
