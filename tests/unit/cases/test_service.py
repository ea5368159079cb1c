"""Matching (table-driven) and the case life cycle on a real SQLite database built by the migrations."""

from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import select

from actions.cases.experts import Contact, Expert, industry_of, match_experts
from actions.cases.service import (
    QueueFilter,
    accept,
    add_event,
    add_note,
    assign,
    can_see,
    case_queue,
    cases_of,
    close_case,
    decline,
    escalate_overdue,
    find_case,
    markets_in_use,
    open_case,
    status_lines,
)
from actions.cases.staff import StaffMember
from actions.store import OutboxMessage, session_scope
from tests.factories import intake as make_intake

NOW = datetime(2026, 11, 24, 9, 0)


def expert(eid, countries, ip_types, languages=("zh",), industries=("machinery",), hours=24, available=True, chat=None):
    return Expert(
        id=eid,
        sample=True,
        name=f"Sample {eid}",
        organisation="Example (sample)",
        countries=list(countries),
        ip_types=list(ip_types),
        industries=list(industries),
        languages=list(languages),
        contact=Contact(channel="email", address=f"{eid}@example.com"),
        telegram_chat_id=chat,
        response_hours=hours,
        available=available,
    )


POOL = [
    expert("exp-001", ["JP"], ["patent"], ["zh", "ja"], hours=48, chat=101),
    expert("exp-002", ["JP"], ["trademark"], ["ja"], hours=12, chat=102),
    expert("exp-003", ["EU"], ["trademark", "design"], ["en", "zh"], ["textiles"], hours=24, chat=103),
    expert("exp-004", ["DE"], ["patent"], ["de"], hours=8),
    expert("exp-005", ["JP"], ["trademark"], ["zh"], ["food"], hours=36, available=False),
    expert("exp-006", ["JP"], ["trademark"], ["zh", "en"], ["machinery"], hours=72, chat=106),
]


@pytest.mark.parametrize(
    ("country", "ip_type", "lang", "industry", "expected", "first_reasons"),
    [
        (
            "JP",
            "trademark",
            "zh",
            "machinery",
            ["exp-006", "exp-002", "exp-001"],
            ("country", "ip_type", "language", "industry"),
        ),
        ("JP", "patent", "zh", None, ["exp-001", "exp-006", "exp-002"], ("country", "ip_type", "language")),
        ("DE", "trademark", "en", "textiles", ["exp-003", "exp-004"], ("eu", "ip_type", "language", "industry")),
        ("DE", "patent", "de", None, ["exp-004", "exp-003"], ("country", "ip_type", "language")),
        ("FR", "design", "zh", None, ["exp-003"], ("eu", "ip_type", "language")),
        ("US", "patent", "zh", None, [], None),
    ],
)
def test_matching_ranks_by_country_ip_type_language_industry(country, ip_type, lang, industry, expected, first_reasons):
    matches = match_experts(POOL, country, ip_type, lang, industry)
    assert [m.expert.id for m in matches] == expected
    if first_reasons:
        assert matches[0].reasons == first_reasons


def test_unavailable_and_excluded_experts_are_never_matched():
    ids = [m.expert.id for m in match_experts(POOL, "JP", "trademark", "zh", exclude=frozenset({"exp-006"}))]
    assert "exp-005" not in ids and "exp-006" not in ids


@pytest.mark.parametrize(
    ("text", "industry"),
    [
        ("我们出口的机床在德国被扣", "machinery"),
        ("Our LED chargers were removed", "electronics"),  # the longest industry word: chargers
        ("我们出口的LED灯具在德国被投诉", "lighting"),  # as alerts and the self-check read it
        ("茶叶商标被抢注", "food"),
        ("no clue", None),
    ],
)
def test_industry_from_description(text, industry):
    assert industry_of(text) == industry


@pytest.fixture
def db(database_url):
    return database_url


def intake(sender="u1", deadline=None, country="JP", ip_type="trademark"):
    return make_intake(sender_id=sender, deadline=deadline, country=country, ip_type=ip_type)


def test_opening_a_case_writes_case_offers_and_outbox_in_one_transaction(db):
    with session_scope(db) as s:
        case, matches = open_case(s, intake(deadline=date(2026, 12, 30)), POOL, now=NOW)
        case_no = case.case_no
    assert case_no == "IP-2026-000001"
    with session_scope(db) as s:
        case = find_case(s, case_no)
        assert [o.expert_id for o in case.offers] == ["exp-006", "exp-002", "exp-001"]
        assert not case.urgent and case.promised_hours == 72
        rows = s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
        assert [(r.kind, r.channel, r.recipient) for r in rows] == [
            ("expert_offer", "telegram", "106"),
            ("expert_offer", "telegram", "102"),
            ("expert_offer", "telegram", "101"),
        ]


def test_nothing_is_written_when_the_transaction_fails(db):
    with pytest.raises(RuntimeError), session_scope(db) as s:
        open_case(s, intake(), POOL, now=NOW)
        raise RuntimeError("database went away mid-way")
    with session_scope(db) as s:
        assert cases_of(s, "u1") == [] and s.scalars(select(OutboxMessage)).all() == []


def test_a_near_deadline_makes_the_case_urgent_and_fastest_experts_first(db):
    with session_scope(db) as s:
        case, matches = open_case(s, intake(deadline=NOW.date() + timedelta(days=7)), POOL, now=NOW)
        assert case.urgent and case.promised_hours == 24
        assert matches[0].expert.id == "exp-002"  # 12 h


def test_first_accept_wins_and_others_are_told_it_is_taken(db):
    with session_scope(db) as s:
        case_no = open_case(s, intake(sender="tg-555"), POOL, now=NOW)[0].case_no
    with session_scope(db) as s:
        assert accept(s, case_no, "exp-001", now=NOW) == "accepted"
    with session_scope(db) as s:
        assert accept(s, case_no, "exp-001") == "already_yours"  # idempotent
        assert accept(s, case_no, "exp-006") == "taken"
        assert accept(s, "IP-2026-999999", "exp-001") == "unknown"
        kinds = [
            (r.kind, r.recipient) for r in s.scalars(select(OutboxMessage).where(OutboxMessage.kind != "expert_offer"))
        ]
        assert ("expert_taken", "106") in kinds and ("expert_taken", "102") in kinds
        assert ("enterprise_update", "555") in kinds  # the Telegram enterprise hears of it
        case = find_case(s, case_no)
        assert case.status == "accepted" and case.expert_name == "Sample exp-001"
        lines = status_lines(case, "en")
        assert lines[0] == f"{case_no}: accepted by an expert (Sample exp-001)"


@pytest.mark.parametrize("sender", ["web-1a2b", "tg-abc"])
def test_an_enterprise_not_on_telegram_without_an_email_reads_progress_with_a_status_question(db, sender):
    with session_scope(db) as s:
        form = make_intake(sender_id=sender, contact="+86 555 0100 1234", contact_kind="phone")
        case_no = open_case(s, form, POOL, now=NOW)[0].case_no
    with session_scope(db) as s:
        accept(s, case_no, "exp-001", now=NOW)
        kinds = {r.kind for r in s.scalars(select(OutboxMessage))}
        assert "expert_taken" in kinds and "enterprise_update" not in kinds


def test_an_enterprise_that_gave_an_email_is_told_of_progress_by_email_in_its_language(db):
    with session_scope(db) as s:
        case_no = open_case(s, make_intake(sender_id="web-1a2b", contact="li@example.com"), POOL, now=NOW)[0].case_no
    with session_scope(db) as s:
        accept(s, case_no, "exp-001", now=NOW)
        [update] = s.scalars(select(OutboxMessage).where(OutboxMessage.kind == "enterprise_update"))
        assert (update.channel, update.recipient) == ("email", "li@example.com")
        assert update.payload["case_no"] == case_no and update.payload["language"] == "zh"
        assert update.payload["text"].startswith(f"{case_no}: ")


def test_notes_and_closing_reach_the_history(db):
    with session_scope(db) as s:
        case_no = open_case(s, intake(), POOL, now=NOW)[0].case_no
        accept(s, case_no, "exp-006", now=NOW)
        add_event(s, case_no, "note", "expert:exp-006", "请把警告函原件发我", now=NOW)
        add_event(s, case_no, "closed", "staff", "", now=NOW)
    with session_scope(db) as s:
        case = find_case(s, case_no)
        assert case.status == "closed"
        assert any("请把警告函原件发我" in line for line in status_lines(case, "zh"))
        assert accept(s, case_no, "exp-001") == "closed"


def test_overdue_cases_go_to_the_next_experts(db):
    with session_scope(db) as s:
        case_no = open_case(s, intake(), POOL, now=NOW, per_round=1)[0].case_no
        assert decline(s, case_no, "exp-006", now=NOW)
    later = NOW + timedelta(hours=100)
    with session_scope(db) as s:
        assert escalate_overdue(s, POOL, now=later, per_round=1) == [case_no]
        case = find_case(s, case_no)
        assert [(o.expert_id, o.round, o.state) for o in case.offers] == [
            ("exp-006", 1, "declined"),
            ("exp-002", 2, "offered"),
        ]
        assert escalate_overdue(s, POOL, now=later) == []  # not overdue again until the new promise passes


# ---- no case without a human ----------------------------------------------------------------------------
def member(sid, contact, hours=24, on_duty=True, chat=None):
    channel = "phone" if contact.startswith("+") else "email"
    return StaffMember(
        id=sid,
        sample=True,
        name=f"Sample Staff {sid[-1]}",
        organisation="Example Centre (sample)",
        contact=Contact(channel=channel, address=contact),
        telegram_chat_id=chat,
        response_hours=hours,
        on_duty=on_duty,
    )


STAFF = [
    member("stf-001", "duty-a@example.org", hours=24, chat=901),
    member("stf-002", "+1-202-555-0142", hours=12),
    member("stf-003", "off@example.org", hours=1, on_duty=False),
]


def staff_rows(s, case_no):
    rows = s.scalars(select(OutboxMessage).where(OutboxMessage.kind == "staff_alert").order_by(OutboxMessage.id))
    return [(r.channel, r.recipient, r.payload["reason"]) for r in rows if r.payload["text"].find(case_no) >= 0]


def test_a_case_no_expert_matches_goes_to_the_staff_on_duty_at_once(db):
    with session_scope(db) as s:
        case, chosen = open_case(s, intake(country="TH"), POOL, now=NOW, staff=STAFF)
        assert chosen == [] and case.promised_hours == 24  # the slowest on-duty staff member's usual time
        assert staff_rows(s, case.case_no) == [
            ("telegram", "901", "no_match"),
            ("sink", "phone:+1-202-555-0142", "no_match"),
        ]  # the member off duty is not told
        assert [e.kind for e in case.events] == ["created", "staff_alerted"]
        assert "Sample Staff 1, Sample Staff 2" in case.events[-1].text


def test_when_every_offered_expert_declines_the_staff_are_told_once_and_so_is_the_enterprise(db):
    with session_scope(db) as s:
        case_no = open_case(s, intake(sender="tg-5"), POOL, now=NOW, per_round=2, staff=STAFF)[0].case_no
        assert decline(s, case_no, "exp-006", now=NOW, staff=STAFF)
        assert staff_rows(s, case_no) == []  # exp-002 may still accept
        assert decline(s, case_no, "exp-002", now=NOW, staff=STAFF)
        assert [r[2] for r in staff_rows(s, case_no)] == ["all_declined", "all_declined"]
        updates = s.scalars(select(OutboxMessage).where(OutboxMessage.kind == "enterprise_update"))
        assert any("已转交值班工作人员跟进" in u.payload["text"] for u in updates)  # the intake is in Chinese
        assert not decline(s, case_no, "exp-002", now=NOW, staff=STAFF)  # already declined: nothing new
        assert len(staff_rows(s, case_no)) == 2


def test_an_overdue_case_with_no_further_expert_goes_to_the_staff_once(db):
    only = [expert("exp-001", ["JP"], ["trademark"])]
    with session_scope(db) as s:
        case_no = open_case(s, intake(), only, now=NOW, staff=STAFF)[0].case_no
    for hours in (100, 300):  # two escalation runs after the promise passed
        with session_scope(db) as s:
            escalate_overdue(s, only, now=NOW + timedelta(hours=hours), staff=STAFF)
    with session_scope(db) as s:
        assert [r[2] for r in staff_rows(s, case_no)] == ["overdue", "overdue"]


def test_with_nobody_on_duty_the_case_still_reaches_the_sink_never_silence(db):
    with session_scope(db) as s:
        case = open_case(s, intake(country="TH"), POOL, now=NOW, staff=[m for m in STAFF if not m.on_duty])[0]
        assert staff_rows(s, case.case_no) == [("sink", "staff", "no_match")]
        assert case.promised_hours == 72


# ---- satisfaction ------------------------------------------------------------------------------------
def test_closing_a_telegram_case_asks_for_a_rating_once_and_a_web_case_is_not_asked(db):
    from actions.cases.service import ask_satisfaction

    with session_scope(db) as s:
        on_telegram = open_case(s, make_intake(sender_id="tg-555"), POOL, now=NOW)[0].case_no
        on_web = open_case(s, make_intake(sender_id="web-77"), POOL, now=NOW)[0].case_no
    with session_scope(db) as s:
        add_event(s, on_telegram, "closed", "staff", "", now=NOW)
        add_event(s, on_web, "closed", "staff", "", now=NOW)
        assert not ask_satisfaction(s, find_case(s, on_telegram))  # already asked
    with session_scope(db) as s:
        [ask] = s.scalars(select(OutboxMessage).where(OutboxMessage.kind == "satisfaction_ask"))
        assert (ask.channel, ask.recipient, ask.payload["case_no"]) == ("telegram", "555", on_telegram)
        assert ask.payload["text"].startswith(f"案件 {on_telegram} 已结案")


def test_a_rating_counts_only_from_the_conversation_of_a_closed_case(db):
    from actions.cases.service import RATING_MAX_COMMENT, record_rating, record_rating_comment

    with session_scope(db) as s:
        case_no = open_case(s, make_intake(sender_id="tg-555"), POOL, now=NOW)[0].case_no
    with session_scope(db) as s:
        assert record_rating(s, case_no, "tg-555", 5) is None  # not closed yet
        add_event(s, case_no, "closed", "staff", "", now=NOW)
    with session_scope(db) as s:
        assert record_rating(s, case_no, "tg-666", 1) is None  # another chat
        assert record_rating(s, case_no, "tg-555", 9) is None  # not 1–5
        assert record_rating(s, case_no, "tg-555", 4) is not None
        assert record_rating_comment(s, case_no, "tg-555", "  很有帮助" + "。" * 2000) is not None
    with session_scope(db) as s:
        events = {e.kind: e.text for e in find_case(s, case_no).events}
        assert events["rating"] == "4"
        assert events["rating_comment"].startswith("很有帮助") and len(events["rating_comment"]) == RATING_MAX_COMMENT


def test_the_satisfaction_question_is_found_by_the_telegram_message_it_became(db):
    from actions.cases.service import satisfaction_question

    with session_scope(db) as s:
        case_no = open_case(s, make_intake(sender_id="tg-555"), POOL, now=NOW)[0].case_no
        add_event(s, case_no, "closed", "staff", "", now=NOW)
    with session_scope(db) as s:
        ask = s.scalar(select(OutboxMessage).where(OutboxMessage.kind == "satisfaction_ask"))
        ask.status, ask.external_id = "delivered", "31"
    with session_scope(db) as s:
        assert satisfaction_question(s, "555", "31") == case_no
        assert satisfaction_question(s, "555", "32") is None and satisfaction_question(s, "556", "31") is None


def test_reassigning_sends_the_case_to_the_new_expert_and_tells_the_previous_one(db):
    with session_scope(db) as s:
        case_no = open_case(s, intake(), POOL, now=NOW)[0].case_no
        accept(s, case_no, "exp-002", now=NOW)
    with session_scope(db) as s:
        case = assign(s, case_no, POOL[5], now=NOW + timedelta(hours=1))
        assert case is not None and (case.status, case.expert_id) == ("accepted", "exp-006")
        assert assign(s, case_no, POOL[5]) is case  # the same expert again: nothing new
    with session_scope(db) as s:
        case = find_case(s, case_no)
        assert [e.kind for e in case.events][-1] == "reassigned"
        assert case.events[-1].text == "Sample exp-002 → Sample exp-006"
        notes = s.scalars(select(OutboxMessage).where(OutboxMessage.kind == "expert_note")).all()
        assert {(r.channel, r.recipient) for r in notes} == {("telegram", "102"), ("telegram", "106")}
        assert any("assigned" in r.payload["text"] and "Enterprise:" in r.payload["text"] for r in notes)


def test_a_closed_case_is_not_assigned_noted_or_closed_again(db):
    with session_scope(db) as s:
        case_no = open_case(s, intake(), POOL, now=NOW)[0].case_no
        closed = close_case(s, case_no, "staff", "settled", "  the parties agreed ")
        assert closed is not None and (closed.status, closed.outcome) == ("closed", "settled")
        assert closed.events[-1].text == "settled: the parties agreed"
        assert close_case(s, case_no, "staff", "withdrawn") is None
        assert assign(s, case_no, POOL[0]) is None
        assert add_note(s, case_no, "staff", "too late") is None
        with pytest.raises(ValueError):
            close_case(s, "IP-2026-000001", "staff", "won the lottery")


def test_a_note_is_kept_and_an_empty_one_refused(db):
    with session_scope(db) as s:
        case_no = open_case(s, intake(), POOL, now=NOW)[0].case_no
        assert add_note(s, case_no, "staff", "   ") is None
        assert add_note(s, case_no, "expert:exp-002", "Called them") is not None
    with session_scope(db) as s:
        assert [(e.kind, e.actor, e.text) for e in find_case(s, case_no).events][-1] == (
            "note",
            "expert:exp-002",
            "Called them",
        )


def test_the_queue_filters_and_shows_an_expert_only_their_cases(db):
    with session_scope(db) as s:
        jp = open_case(s, intake(deadline=NOW.date() + timedelta(days=3)), POOL, now=NOW)[0].case_no
        de = open_case(s, intake(country="DE", ip_type="patent"), POOL, now=NOW)[0].case_no
        late = NOW + timedelta(days=5)
        accept(s, de, "exp-004", now=NOW)
    with session_scope(db) as s:
        numbers = lambda f, **kw: [c.case_no for c in case_queue(s, f, now=late, **kw)]  # noqa: E731
        assert numbers(QueueFilter()) == [jp, de]  # urgent first
        assert numbers(QueueFilter(status="accepted")) == [de]
        assert numbers(QueueFilter(market="jp")) == [jp]
        assert numbers(QueueFilter(ip_type="patent", incident="warning_letter")) == [de]
        assert numbers(QueueFilter(urgent=True)) == [jp]
        assert numbers(QueueFilter(overdue=True)) == [jp]
        assert numbers(QueueFilter(), expert_id="exp-004") == [de]
        assert numbers(QueueFilter(), expert_id="exp-002") == [jp]  # offered, not accepted
        assert numbers(QueueFilter(), expert_id="exp-005") == []  # unavailable: never offered
        assert can_see(find_case(s, de), "exp-004") and not can_see(find_case(s, de), "exp-002")
        assert markets_in_use(s) == ["DE", "JP"]


# ---- replies relayed between the expert and the enterprise ---------------------------------------------
def outbox(s, kind):
    return list(s.scalars(select(OutboxMessage).where(OutboxMessage.kind == kind).order_by(OutboxMessage.id)))


def test_the_accepted_experts_reply_reaches_the_telegram_enterprise_in_its_language(db):
    from actions.cases.service import REPLY_MAX_CHARS, expert_reply

    with session_scope(db) as s:
        case_no = open_case(s, make_intake(sender_id="tg-555"), POOL, now=NOW)[0].case_no
    with session_scope(db) as s:
        assert expert_reply(s, case_no, "exp-001", "请先别回复对方。").result == "not_yours"  # not accepted yet
        accept(s, case_no, "exp-001", now=NOW)
    with session_scope(db) as s:
        assert expert_reply(s, case_no, "exp-006", "I have it now").result == "not_yours"  # another expert
        assert expert_reply(s, case_no, "exp-001", "   ").result == "empty"
        assert expert_reply(s, "IP-2026-999999", "exp-001", "hello").result == "unknown"
        sent = expert_reply(s, case_no, "exp-001", "  请先别回复对方，把警告函原件发给我。" + "。" * 5000)
        assert sent.result == "sent"
    with session_scope(db) as s:
        [row] = outbox(s, "expert_reply")
        assert (row.channel, row.recipient, row.status) == ("telegram", "555", "pending")
        text = row.payload["text"]
        assert text.startswith(f"案件 {case_no} · Sample exp-001 给您留言：\n\n请先别回复对方")
        assert text.endswith("回复这条消息即可答复专家。") and len(text) < 4096
        [event] = [e for e in find_case(s, case_no).events if e.kind == "expert_reply"]
        assert event.actor == "expert:exp-001" and len(event.text) == REPLY_MAX_CHARS
        assert status_lines(find_case(s, case_no), "zh")[-1].endswith("专家留言 — " + event.text)


def test_a_reply_to_a_web_conversation_waits_for_its_next_message_and_is_claimed_once(db):
    from actions.cases.service import claim_web_replies, expert_reply

    with session_scope(db) as s:
        case_no = open_case(s, make_intake(sender_id="web-77", language="en"), POOL, now=NOW)[0].case_no
        accept(s, case_no, "exp-006", now=NOW)
        assert expert_reply(s, case_no, "exp-006", "Please send the letter.").result == "sent"
    with session_scope(db) as s:
        [row] = outbox(s, "expert_reply")
        assert (row.channel, row.recipient) == ("web", "web-77")
        assert "Reply to this message" not in row.payload["text"]  # a widget has no reply to a message
        assert claim_web_replies(s, "web-66") == []
        [shown] = claim_web_replies(s, "web-77")
        assert shown["text"] == f"Case {case_no} · a message from Sample exp-006:\n\nPlease send the letter."
    with session_scope(db) as s:
        assert claim_web_replies(s, "web-77") == []
        assert outbox(s, "expert_reply")[0].status == "delivered"


def test_the_enterprises_answer_reaches_the_expert_through_their_offers_channel(db):
    from actions.cases.service import enterprise_reply, expert_reply

    with session_scope(db) as s:
        case_no = open_case(s, make_intake(sender_id="tg-555"), POOL, now=NOW)[0].case_no
        accept(s, case_no, "exp-001", now=NOW)
        expert_reply(s, case_no, "exp-001", "请把警告函原件发给我。")
    with session_scope(db) as s:
        assert enterprise_reply(s, case_no, "tg-666", "not mine").result == "unknown"  # another conversation
        assert enterprise_reply(s, case_no, "tg-555", "好的，已经发了。").result == "sent"
    with session_scope(db) as s:
        [row] = outbox(s, "enterprise_reply")
        assert (row.channel, row.recipient) == ("telegram", "101")  # where exp-001's offer went
        assert row.payload["text"].endswith("好的，已经发了。") and case_no in row.payload["text"]
        kinds = [(e.kind, e.actor) for e in find_case(s, case_no).events if e.kind.endswith("_reply")]
        assert kinds == [("expert_reply", "expert:exp-001"), ("enterprise_reply", "enterprise")]
        add_event(s, case_no, "closed", "staff", "", now=NOW)
    with session_scope(db) as s:
        assert enterprise_reply(s, case_no, "tg-555", "还有问题").result == "closed"
        assert expert_reply(s, case_no, "exp-001", "one more thing").result == "closed"
        assert len(outbox(s, "enterprise_reply")) == 1 and len(outbox(s, "expert_reply")) == 1


def test_an_assigned_expert_is_reached_where_the_assignment_went_and_staff_may_write_too(db):
    from actions.cases.service import enterprise_reply, staff_reply

    mail_expert = expert("exp-009", ["TH"], ["trademark"])  # e-mail only, offered nothing
    with session_scope(db) as s:
        case_no = open_case(s, make_intake(sender_id="tg-555", country="TH"), POOL, now=NOW, staff=STAFF)[0].case_no
    with session_scope(db) as s:
        assert staff_reply(s, case_no, "staff:li", "我们正在找专家。").result == "sent"
        assert enterprise_reply(s, case_no, "tg-555", "谢谢", staff=STAFF).result == "sent"  # nobody has it: staff
        to_staff = {(r.channel, r.recipient) for r in outbox(s, "enterprise_reply")}
        assert to_staff == {("telegram", "901"), ("sink", "phone:+1-202-555-0142")}  # the two on duty
        assign(s, case_no, mail_expert, now=NOW)
    with session_scope(db) as s:
        enterprise_reply(s, case_no, "tg-555", "专家好")
        last = outbox(s, "enterprise_reply")[-1]
        assert (last.channel, last.recipient) == ("email", "exp-009@example.com")
        [staff_msg] = [r for r in outbox(s, "expert_reply")]
        assert "指导中心工作人员" in staff_msg.payload["text"]


def test_replies_are_found_by_the_telegram_messages_they_became(db):
    from actions.cases.service import case_message_to_expert, enterprise_reply, expert_reply, relayed_to_enterprise

    with session_scope(db) as s:
        case_no = open_case(s, make_intake(sender_id="tg-555"), POOL, now=NOW)[0].case_no
        accept(s, case_no, "exp-001", now=NOW)
        expert_reply(s, case_no, "exp-001", "hello")
        enterprise_reply(s, case_no, "tg-555", "hi")
    with session_scope(db) as s:
        for n, row in enumerate(s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)), start=40):
            row.status, row.external_id = "delivered", str(n)
    with session_scope(db) as s:
        rows = {r.kind: r for r in s.scalars(select(OutboxMessage)) if r.recipient in ("555", "101")}
        reply, answer, offer = rows["expert_reply"], rows["enterprise_reply"], rows["expert_offer"]
        assert relayed_to_enterprise(s, "555", reply.external_id) == case_no
        assert relayed_to_enterprise(s, "555", rows["enterprise_update"].external_id) is None  # a status update
        assert case_message_to_expert(s, "101", answer.external_id) == case_no
        assert case_message_to_expert(s, "101", offer.external_id) == case_no
        assert case_message_to_expert(s, "102", offer.external_id) is None
