"""The intake form's validation and the case actions, with CollectingDispatcher and real trackers."""

import asyncio
from datetime import date, timedelta
from functools import partial

import pytest
from hypothesis import given, settings
from rasa_sdk import Tracker
from rasa_sdk.events import ActiveLoop, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.dialogue import cases as case_actions
from actions.dialogue.cases import (
    ActionCancelCase,
    ActionCheckCase,
    ActionCorrectCaseField,
    ActionSubmitCase,
    ValidateCaseForm,
    parse_contact,
)
from actions.erasure import FORGET_SLOT
from actions.settings import get_settings
from actions.store import migrate
from tests import factories
from tests.factories import adversarial_text

tracker = partial(factories.tracker, language="zh", sender="s1", loop="case_form")


def validate(method, value, lang="zh"):
    dispatcher = CollectingDispatcher()
    result = asyncio.run(getattr(ValidateCaseForm(), method)(value, dispatcher, tracker(language=lang), {}))
    return result, [m.get("text") for m in dispatcher.messages]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("我的邮箱是 zhang@example.com", ("email", "zhang@example.com")),
        ("phone +86 138 0000 0000", ("phone", "+8613800000000")),
        ("telegram: @zhang_ip", ("telegram", "@zhang_ip")),
        ("0532-8888 7777", ("phone", "053288887777")),
        ("call me", None),
        ("123", None),
    ],
)
def test_parse_contact(text, expected):
    assert parse_contact(text) == expected


def test_invalid_contact_is_asked_again_with_an_example():
    result, messages = validate("validate_case_contact", "打电话给我")
    assert result == {"case_contact": None}
    assert "zhang@example.com" in messages[0]


def test_country_names_become_codes_and_unknown_ones_get_suggestions():
    assert validate("validate_case_country", "德国")[0] == {"case_country": "DE"}
    assert validate("validate_case_country", "JP")[0] == {"case_country": "JP"}
    result, messages = validate("validate_case_country", "Germny", lang="en")
    assert result == {"case_country": None} and "Did you mean: Germany?" in messages[0]


def test_deadlines_are_parsed_or_asked_again():
    future = (date.today() + timedelta(days=10)).isoformat()
    assert validate("validate_case_deadline", "10天内")[0] == {"case_deadline": future}
    assert validate("validate_case_deadline", "没有")[0] == {"case_deadline": "none"}
    result, messages = validate("validate_case_deadline", "asdf", lang="en")
    assert result == {"case_deadline": None} and "within 10 days" in messages[0]
    result, messages = validate("validate_case_deadline", "2020-01-01", lang="en")
    assert result == {"case_deadline": None} and "passed" in messages[0]


def test_an_overlong_description_is_cut_with_a_notice():
    limit = get_settings().description_max_chars
    result, messages = validate("validate_case_description", "字" * (limit + 50))
    assert len(result["case_description"]) == limit and str(limit) in messages[0]


run = factories.run


def test_cancel_stores_nothing_and_closes_the_form():
    messages, events = run(ActionCancelCase(), tracker("取消"))
    assert events[0] == ActiveLoop(None) and SlotSet("case_enterprise", None) in events
    assert "没有保存" in messages[0]["text"]
    assert SlotSet(FORGET_SLOT, "case_form") in events  # the tracker store erases what was typed


def test_correction_clears_the_named_field():
    entities = [{"entity": "form_field", "value": "contact"}]
    _, events = run(ActionCorrectCaseField(), tracker("联系方式填错了", entities=entities))
    assert SlotSet("case_contact", None) in events


FILLED = {
    "case_enterprise": "青岛示例机械有限公司",
    "case_contact": "email:zhang@example.com",
    "case_country": "DE",
    "case_ip_type": "design",
    "case_incident": "customs_detention",
    "case_deadline": "none",
    "case_description": "我们的机床在汉堡被海关扣了",
    "case_consent": True,
}


@pytest.fixture
def database(tmp_path, monkeypatch):
    """An empty case database, created as the launcher does before the action server starts."""
    url = f"sqlite:///{tmp_path / 'cases.db'}"
    migrate(url)
    monkeypatch.setenv("DATABASE_URL", url)
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


def test_submit_opens_a_case_and_only_its_conversation_sees_the_status(database):
    messages, events = run(ActionSubmitCase(), tracker(slots=FILLED, sender="owner"))
    case_no = messages[0]["custom"]["case_no"]
    assert case_no.startswith("IP-") and case_no in messages[0]["text"]
    assert "示例条目" in messages[0]["text"]  # sample experts are labelled as samples
    assert SlotSet("case_enterprise", None) in events

    mine, _ = run(ActionCheckCase(), tracker(f"status of {case_no}", sender="owner"))
    assert mine[0]["text"].startswith(f"{case_no}: 等待专家接手")
    theirs, _ = run(ActionCheckCase(), tracker(f"status of {case_no}", sender="someone-else"))
    assert theirs[0]["text"] == f"在这个对话里没有找到案件 {case_no}。"
    latest, _ = run(ActionCheckCase(), tracker("我的案件进展如何", sender="owner"))
    assert latest[0]["text"].startswith(case_no)


def test_without_consent_nothing_is_stored(database):
    messages, _ = run(ActionSubmitCase(), tracker(slots={**FILLED, "case_consent": False}, sender="owner2"))
    assert "没有保存" in messages[0]["text"]
    nothing, _ = run(ActionCheckCase(), tracker("我的案件进展如何", sender="owner2"))
    assert nothing[0]["text"] == "这个对话还没有开过案件。"


def test_a_refused_consent_clears_every_detail_the_form_collected(database):
    _, events = run(ActionSubmitCase(), tracker(slots={**FILLED, "case_consent": False}, sender="owner4"))
    cleared = {e["name"] for e in events if e["event"] == "slot" and e["value"] is None}
    assert {"case_enterprise", "case_contact", "case_description", "case_deadline"} <= cleared
    assert set(case_actions.CASE_SLOTS) <= cleared
    assert not any(e["event"] == "slot" and e["value"] in FILLED.values() for e in events)
    assert SlotSet(FORGET_SLOT, "case_form") in events


def test_an_opened_case_is_not_erased_from_the_conversation(database):
    _, events = run(ActionSubmitCase(), tracker(slots=FILLED, sender="owner5"))
    assert not any(e["event"] == "slot" and e["name"] == FORGET_SLOT for e in events)


def test_database_down_means_the_user_is_told_nothing_was_saved(monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://bot:secret@127.0.0.1:9/cases")  # nothing listens
    get_settings.cache_clear()
    try:
        messages, events = run(ActionSubmitCase(), tracker(slots=FILLED, sender="owner3"))
    finally:
        get_settings.cache_clear()
    assert "nothing was stored" in messages[0]["text"] or "没有保存任何内容" in messages[0]["text"]
    assert SlotSet(FORGET_SLOT, "case_form") in events


def test_validation_returns_only_the_forms_own_slots():
    """Otherwise Rasa takes `language` for an answer and a question mid-form is never answered."""
    t = Tracker(
        sender_id="s1",
        slots={"language": "en", "requested_slot": "case_country", "action_server_reply": "pending"},
        latest_message={"text": "What does RCEP say?", "intent": {"name": "ask_question"}, "entities": []},
        events=[
            {"event": "user", "text": "What does RCEP say?"},
            {"event": "slot", "name": "language", "value": "en"},
            {"event": "slot", "name": "action_server_reply", "value": "pending"},
        ],
        paused=False,
        followup_action=None,
        active_loop={"name": "case_form"},
        latest_action_name="action_listen",
    )
    domain = {"forms": {"case_form": {"required_slots": list(case_actions.CASE_SLOTS)}}, "slots": {}}
    events = asyncio.run(ValidateCaseForm().run(CollectingDispatcher(), t, domain))
    assert all(e["name"] in {*case_actions.CASE_SLOTS, "requested_slot"} for e in events if e["event"] == "slot")


def test_an_unrecognised_entity_from_a_later_answer_keeps_the_earlier_value_silently():
    # "A Korean company says our lamp copies its registered design." given as the description: its
    # country entity must not wipe the country the user already gave.
    events = [
        {"event": "user", "text": "Korea"},
        {"event": "slot", "name": "case_country", "value": "KR"},
        {"event": "slot", "name": "requested_slot", "value": "case_description"},
        {"event": "user", "text": "A Korean company says our lamp copies its registered design."},
        {"event": "slot", "name": "case_country", "value": "Korean company"},
    ]
    t = Tracker(
        sender_id="s1",
        slots={"language": "en", "requested_slot": "case_description", "case_country": "Korean company"},
        latest_message={"text": events[3]["text"], "intent": {"name": "inform"}, "entities": []},
        events=events,
        paused=False,
        followup_action=None,
        active_loop={"name": "case_form"},
        latest_action_name="action_listen",
    )
    dispatcher = CollectingDispatcher()
    result = asyncio.run(ValidateCaseForm().validate_case_country("Korean company", dispatcher, t, {}))
    assert result == {"case_country": "KR"} and dispatcher.messages == []


def test_an_unrecognised_answer_to_the_question_asked_is_still_rejected_with_a_hint():
    result, messages = validate("validate_case_country", "Narnia", lang="en")
    assert result == {"case_country": None} and messages


def test_a_deadline_more_than_ten_years_away_is_asked_again_politely():
    result, messages = validate("validate_case_deadline", "2000000个工作日内", lang="en")
    assert result == {"case_deadline": None} and "more than ten years" in messages[0]
    result, messages = validate("validate_case_deadline", "2000000个工作日内" * 20)
    assert result == {"case_deadline": None} and "十年以后" in messages[0]


def test_an_address_after_a_long_run_of_text_is_still_found():
    assert parse_contact("a" * 5000 + " 邮箱 zhang@example.com") == ("email", "zhang@example.com")
    assert parse_contact("x" * 5000 + "@example") is None


@settings(max_examples=40, deadline=None)
@given(adversarial_text())
def test_a_contact_found_in_any_long_text_is_taken_from_it(text):
    found = parse_contact(text)
    assert found is None or found[0] in ("email", "telegram", "phone")
    if found and found[0] != "phone":
        assert found[1] in text


def test_a_consent_sent_again_after_rasa_lost_the_turn_opens_no_second_case(database):
    """Rasa died after the action server opened the case: the conversation comes back at the consent step
    and the user sends it again. The form's start (an event stored turns before) identifies it."""
    from sqlalchemy import func, select

    from actions.store import Case, OutboxMessage, session_scope

    form = tracker(slots=FILLED, sender="owner9")
    form.events = [{"event": "active_loop", "name": "case_form", "timestamp": 1764755000.25}]
    first, _ = run(ActionSubmitCase(), form)
    again, events = run(ActionSubmitCase(), form)
    case_no = first[0]["custom"]["case_no"]
    assert again[0]["custom"]["case_no"] == case_no
    assert "no second case was opened" in again[0]["text"] or "没有重复创建" in again[0]["text"]
    assert SlotSet("case_id", case_no) in events
    with session_scope(database) as s:
        assert s.scalar(select(func.count()).select_from(Case)) == 1
        offers = s.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.kind == "expert_offer"))
    other = tracker(slots=FILLED, sender="owner9")
    other.events = [{"event": "active_loop", "name": "case_form", "timestamp": 1764755999.0}]  # a new form later
    assert run(ActionSubmitCase(), other)[0][0]["custom"]["case_no"] != case_no
    with session_scope(database) as s:
        assert s.scalar(select(func.count()).select_from(Case)) == 2
        assert offers and offers > 0


UPLOAD_SECRET = "upload-link-secret-" + "x" * 24


def submitted_on(channel: str, sender: str) -> str:
    """The confirmation of a case opened by a conversation whose latest message came in on `channel`."""
    form = tracker(slots=FILLED, sender=sender)
    form.events = [{"event": "user", "text": "同意", "input_channel": channel}]
    messages, _ = run(ActionSubmitCase(), form)
    return messages[0]["text"]


@pytest.fixture
def console_key(database, monkeypatch):
    """A console key and address for the action server, as the launcher gives every process."""
    monkeypatch.setenv("CONSOLE_SECRET", UPLOAD_SECRET)
    monkeypatch.setenv("CONSOLE_URL", "https://console.example.org")
    get_settings.cache_clear()
    yield database
    get_settings.cache_clear()


@pytest.mark.parametrize(("channel", "sender"), [("socketio", "web-1a2b3c"), ("rest", "api-client-7")])
def test_a_case_opened_on_the_web_or_over_rest_gets_the_upload_link_of_that_case(console_key, channel, sender):
    import re

    from fastapi.testclient import TestClient

    from bot.console.app import create_app

    text = submitted_on(channel, sender)
    case_no = re.search(r"IP-\d{4}-\d{6}", text).group(0)
    assert "10 MB" in text and "72 小时内" in text  # the limit and the link's lifetime, in the user's language
    link = re.search(r"https://console\.example\.org(/upload/\S+)", text)
    assert link, text
    page = TestClient(create_app(get_settings())).get(link.group(1))
    assert page.status_code == 200 and f"案件编号：{case_no}" in page.text and 'id="upload-form"' in page.text


def test_a_case_opened_on_telegram_gets_no_upload_link(console_key):
    """The gateway reaches Rasa over REST as tg-<chat id>: its users send files in the chat."""
    text = submitted_on("rest", "tg-424242")
    assert "IP-" in text and "/upload/" not in text and "上传" not in text


def test_without_a_console_key_there_is_no_link_and_no_error(database, monkeypatch):
    monkeypatch.setenv("CONSOLE_SECRET", "")
    get_settings.cache_clear()
    text = submitted_on("socketio", "web-nokey")
    assert "案件已创建" in text and "/upload/" not in text
