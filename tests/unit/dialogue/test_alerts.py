"""The alert and self-check actions with CollectingDispatcher and real trackers, on a real SQLite
database and a copy of knowledge/ (so a test can add an alert file)."""

from __future__ import annotations

import asyncio
import shutil

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import ActiveLoop, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.alerts.service import load_alerts, publish
from actions.dialogue.alerts import (
    ActionListAlerts,
    ActionShowNewAlerts,
    ActionStartAlertSubscription,
    ActionSubscribeAlerts,
    ActionUnsubscribeAlerts,
    ValidateAlertSubscriptionForm,
)
from actions.dialogue.common import mention_alerts
from actions.dialogue.selfcheck import (
    SELFCHECK_SLOTS,
    ActionCancelSelfcheck,
    ActionStartSelfcheck,
    ActionSubmitSelfcheck,
    ValidateSelfcheckForm,
)
from actions.settings import PROJECT_ROOT, get_settings

KOREA_ALERT = """id: kr-new-test
sample: false
title:
  zh: 韩国测试预警
  en: Korea test alert
body:
  zh: 测试正文。
  en: Test body.
markets: [KR]
industries: [all]
ip_types: [trademark]
severity: urgent
source: https://www.kipo.go.kr/en/
published: 2026-11-01
last_reviewed: 2026-11-20
valid_until: 2099-06-30
"""


@pytest.fixture
def env(tmp_path, monkeypatch):
    """A copy of knowledge/ and an empty database, as the action server would see them."""
    knowledge = tmp_path / "knowledge"
    shutil.copytree(PROJECT_ROOT / "knowledge", knowledge)
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    monkeypatch.setenv("KNOWLEDGE_DIR", str(knowledge))
    monkeypatch.setenv("DATABASE_URL", url)
    get_settings.cache_clear()
    yield knowledge, url
    get_settings.cache_clear()


def tracker(text="", language="en", slots=None, sender="web-1", entities=None, intent="inform", loop=None):
    return Tracker(
        sender_id=sender,
        slots={"language": language, **(slots or {})},
        latest_message={"text": text, "intent": {"name": intent}, "entities": entities or []},
        events=[],
        paused=False,
        followup_action=None,
        active_loop={"name": loop} if loop else {},
        latest_action_name="action_listen",
    )


def run(action, t):
    dispatcher = CollectingDispatcher()
    events = asyncio.run(action.run(dispatcher, t, {}))
    return dispatcher.messages, events


def validate(form, method, value, t):
    dispatcher = CollectingDispatcher()
    result = asyncio.run(getattr(form, method)(value, dispatcher, t, {}))
    return result, [m.get("text") for m in dispatcher.messages], [b for m in dispatcher.messages for b in m["buttons"]]


def texts(messages):
    return "\n".join(m.get("text") or "" for m in messages)


# ---- subscribing ------------------------------------------------------------------------------------------
def test_a_request_that_names_the_market_prefills_it():
    t = tracker(
        "subscribe me to Korea alerts", entities=[{"entity": "country", "value": "KR"}], intent="subscribe_alerts"
    )
    _, events = run(ActionStartAlertSubscription(), t)
    assert SlotSet("alert_markets", "KR") in events
    assert events[-1] == SlotSet("action_server_reply", "received")


def test_an_unknown_market_gets_the_closest_suggestions_as_buttons():
    form = ValidateAlertSubscriptionForm()
    result, messages, buttons = validate(form, "validate_alert_markets", "Koreaa", tracker("Koreaa"))
    assert result == {"alert_markets": None}
    assert 'I don\'t recognise "Koreaa"' in messages[0] and "Did you mean: Korea?" in messages[0]
    assert buttons == [{"title": "Korea", "payload": '/inform{"country":"KR"}'}]
    result, messages, _ = validate(form, "validate_alert_markets", "日本、韩过", tracker("日本、韩过", "zh"))
    assert result == {"alert_markets": None} and "韩国" in messages[0]
    result, _, _ = validate(form, "validate_alert_markets", "日本和韩国", tracker("日本和韩国", "zh"))
    assert result == {"alert_markets": "JP,KR"}
    t = tracker('/inform{"country":"KR"}', entities=[{"entity": "country", "value": "KR"}])
    assert validate(form, "validate_alert_markets", '/inform{"country":"KR"}', t)[0] == {"alert_markets": "KR"}


def test_every_button_payload_fits_telegram_callback_data():
    from actions.dialogue.alerts import ActionAskAlertIndustry, ActionAskAlertMarkets
    from actions.dialogue.selfcheck import _buttons

    payloads = [b["payload"] for slot in SELFCHECK_SLOTS for lang in ("zh", "en") for b in _buttons(slot, lang)]
    for action in (ActionAskAlertIndustry(), ActionAskAlertMarkets()):
        messages, _ = run(action, tracker())
        payloads += [b["payload"] for b in messages[0]["buttons"]]
    payloads += ['/unsubscribe_alerts{"country":"KR"}', '/unsubscribe_alerts{"choice":"all"}']
    assert payloads and max(len(p.encode("utf-8")) for p in payloads) <= 64


def test_web_subscriber_sees_the_active_alerts_at_once_and_new_ones_at_the_next_message_only_once(env):
    knowledge, url = env
    t = tracker(slots={"alert_markets": "KR", "alert_industry": "all"}, sender="web-kr")
    messages, events = run(ActionSubscribeAlerts(), t)
    assert "Subscribed: Korea (all industries)." in messages[0]["text"]
    assert messages[0]["custom"] == {"subscribed": ["KR"], "industry": "all", "channel": "web"}
    assert [m["custom"]["alert_id"] for m in messages[1:]] == ["sample-kr-pph"]  # the shipped sample
    assert SlotSet("alert_markets", None) in events

    again, _ = run(ActionSubscribeAlerts(), t)
    assert "You were already subscribed: Korea (all industries)." in again[0]["text"]
    assert len(again) == 1  # nothing shown twice

    (knowledge / "alerts" / "kr-new-test.yml").write_text(KOREA_ALERT, encoding="utf-8")
    report = publish(knowledge / "alerts", url, knowledge.parent)
    assert report.ok and report.queued["kr-new-test"] == 1
    shown, events = run(ActionShowNewAlerts(), tracker("hello", sender="web-kr"))
    assert len(shown) == 1 and "📢 New market alert\n🚨 Korea test alert" in shown[0]["text"]
    assert events == []  # never touches the action-server reply marker
    assert run(ActionShowNewAlerts(), tracker("hello again", sender="web-kr"))[0] == []
    assert run(ActionShowNewAlerts(), tracker("hi", sender="tg-5"))[0] == []


def test_telegram_subscriber_is_told_the_alerts_arrive_in_the_chat(env):
    t = tracker(language="zh", slots={"alert_markets": "JP,KR", "alert_industry": "electronics"}, sender="tg-7001")
    messages, _ = run(ActionSubscribeAlerts(), t)
    text = messages[0]["text"]
    assert "已订阅：日本、韩国（电子产品）。" in text and "新的预警会在这里推送给您。" in text
    assert "目前有2条相关的有效预警，马上推送给您。" in text
    assert len(messages) == 1


def test_unsubscribing_with_no_subscription_says_so(env):
    messages, _ = run(ActionUnsubscribeAlerts(), tracker("退订预警", "zh", intent="unsubscribe_alerts", sender="web-x"))
    assert messages[0]["text"] == "您目前没有订阅任何预警。需要的话可以说“订阅日本预警”。"


def test_unsubscribing_asks_which_then_removes_the_one_named(env):
    run(ActionSubscribeAlerts(), tracker(slots={"alert_markets": "JP,KR", "alert_industry": "all"}, sender="web-u"))
    asked, _ = run(
        ActionUnsubscribeAlerts(), tracker("unsubscribe alerts", intent="unsubscribe_alerts", sender="web-u")
    )
    assert [b["payload"] for b in asked[0]["buttons"]] == [
        '/unsubscribe_alerts{"country":"JP"}',
        '/unsubscribe_alerts{"country":"KR"}',
        '/unsubscribe_alerts{"choice":"all"}',
    ]
    payload = '/unsubscribe_alerts{"country":"KR"}'
    done, _ = run(
        ActionUnsubscribeAlerts(), tracker(payload, entities=[{"entity": "country", "value": "KR"}], sender="web-u")
    )
    assert done[0]["text"] == "Unsubscribed: Korea (all industries). You will not get these alerts any more."
    not_there, _ = run(ActionUnsubscribeAlerts(), tracker("stop the Germany alerts", sender="web-u"))
    assert not_there[0]["text"] == "You have no subscription for Germany. Your subscriptions: Japan (all industries)."
    listed, _ = run(ActionListAlerts(), tracker("my subscriptions", sender="web-u"))
    assert "· Japan (all industries)" in listed[0]["text"] and listed[0]["custom"]["alerts"] == ["sample-jp-pph-pilot"]
    all_gone, _ = run(ActionUnsubscribeAlerts(), tracker("unsubscribe from all alerts", sender="web-u"))
    assert all_gone[0]["text"].startswith("Unsubscribed: Japan (all industries).")
    assert run(ActionListAlerts(), tracker("my subscriptions", sender="web-u"))[0][0]["custom"] == {"subscriptions": []}


def test_answers_mention_active_alerts_for_the_market_named():
    alerts, _ = load_alerts(PROJECT_ROOT / "knowledge" / "alerts", PROJECT_ROOT)
    note = mention_alerts(alerts, ["DE"], None, "zh")
    assert note.startswith("📢 相关的有效预警：\n· 【示例】赴德参展提醒") and "订阅德国预警" in note
    assert mention_alerts(alerts, ["US"], None, "en") is None  # only an expired one
    assert mention_alerts(alerts, [], None, "en") is None


def test_the_answer_action_adds_the_alert_note(fixture_index):
    from actions.dialogue.answer import ActionAnswerQuestion
    from tests.unit.dialogue.test_answer import ReadyProvider

    t = tracker("What should we prepare for a trade fair in Germany?", intent="ask_question")
    messages, _ = run(ActionAnswerQuestion(ReadyProvider(fixture_index)), t)
    assert "custom" in messages[0]  # the answer first, then the note (then any case offer)
    assert messages[1]["text"].startswith("📢 Active alerts that may concern you:\n· [Sample] Exhibiting in Germany")


# ---- the self-check ---------------------------------------------------------------------------------------
def test_the_request_prefills_markets_and_plans():
    t = tracker("我们下个月要去日本参展，帮我做个风险自查", "zh", intent="risk_check")
    messages, events = run(ActionStartSelfcheck(), t)
    assert "风险自查" in messages[0]["text"]
    assert SlotSet("selfcheck_markets", "JP") in events and SlotSet("selfcheck_plans", "trade_fair") in events
    assert SlotSet("case_offered", False) in events


@pytest.mark.parametrize(
    ("method", "value", "slots", "expected", "says"),
    [
        ("validate_selfcheck_plans", "出口和参展", {}, "export,trade_fair", None),
        ("validate_selfcheck_plans", "no idea", {}, None, "export, trade fair, e-commerce or licensing"),
        ("validate_selfcheck_fair_date", "2020-01-01", {}, None, "That date has passed"),
        ("validate_selfcheck_fair_date", "not sure", {}, "unknown", None),
        (
            "validate_selfcheck_trademark",
            "registered in Japan, none in Korea",
            {"selfcheck_markets": "JP,KR"},
            "JP=registered;KR=none",
            None,
        ),
        (
            "validate_selfcheck_trademark",
            "registered in Japan",
            {"selfcheck_markets": "JP,KR"},
            None,
            "Please cover each market",
        ),
        ("validate_selfcheck_signals", "none", {"selfcheck_markets": "JP"}, "JP=", None),
        ("validate_selfcheck_signals", "hmm", {"selfcheck_markets": "JP"}, None, 'say "none"'),
        ("validate_selfcheck_industry", "we make LED lamps", {}, "lighting", None),
        ("validate_selfcheck_markets", "Japn", {}, None, "Did you mean: Japan?"),
    ],
)
def test_selfcheck_answers_are_read_or_asked_again(method, value, slots, expected, says):
    slot = method.removeprefix("validate_")
    result, messages, _ = validate(ValidateSelfcheckForm(), method, value, tracker(value, slots=slots))
    assert result == {slot: expected}
    if says:
        assert says in messages[0]
    else:
        assert messages == []


def test_button_choices_are_read_from_the_payload():
    payload = '/inform{"choice":"none"}'
    t = tracker(payload, slots={"selfcheck_markets": "JP,KR"}, entities=[{"entity": "choice", "value": "none"}])
    result, _, _ = validate(ValidateSelfcheckForm(), "validate_selfcheck_design", payload, t)
    assert result == {"selfcheck_design": "JP=none;KR=none"}


def test_the_fair_date_is_asked_only_for_a_trade_fair():
    form = ValidateSelfcheckForm()
    slots = list(SELFCHECK_SLOTS)

    def required(plans):
        return asyncio.run(
            form.required_slots(slots, CollectingDispatcher(), tracker(slots={"selfcheck_plans": plans}), {})
        )

    assert "selfcheck_fair_date" in required("export,trade_fair")
    assert "selfcheck_fair_date" not in required("export")


DONE_WHEN = {
    "selfcheck_markets": "JP",
    "selfcheck_industry": "machinery",
    "selfcheck_plans": "trade_fair",
    "selfcheck_fair_date": "2099-01-15",
    "selfcheck_trademark": "JP=none",
    "selfcheck_patent": "JP=pending",
    "selfcheck_design": "JP=none",
    "selfcheck_signals": "JP=",
}


def test_chinese_self_check_for_a_japanese_fair_without_a_trademark_is_high_with_steps_and_an_expert(env):
    messages, events = run(ActionSubmitSelfcheck(), tracker("都没有", "zh", slots=DONE_WHEN))
    result = messages[0]
    assert result["text"].splitlines()[1] == "🔴 日本：高风险"
    assert result["custom"]["selfcheck"][0]["level"] == "high"
    assert {"file-trademark-before-fair", "bring-proof-to-fair", "pph-japan"} <= set(result["custom"]["steps"])
    assert result["custom"]["citations"] and "来源：" in result["text"]
    assert "📢 相关的有效预警" in messages[1]["text"]  # the Japan sample alert
    assert [b["payload"] for b in messages[-1]["buttons"]] == ["/affirm", "/deny"]
    assert SlotSet("case_offered", True) in events and SlotSet("case_country", "JP") in events
    assert SlotSet("selfcheck_markets", None) in events


def test_a_low_risk_self_check_offers_no_expert(env):
    slots = {
        **DONE_WHEN,
        "selfcheck_trademark": "JP=registered",
        "selfcheck_design": "JP=registered",
        "selfcheck_patent": "JP=registered",
    }
    slots["selfcheck_plans"] = "export"
    messages, events = run(ActionSubmitSelfcheck(), tracker("none", slots=slots))
    assert messages[0]["text"].splitlines()[1] == "🟢 Japan: low risk"
    assert all(not m.get("buttons") for m in messages)
    assert SlotSet("case_offered", True) not in events


def test_broken_rules_are_reported_to_the_user_not_crashed_on(env):
    knowledge, _ = env
    (knowledge / "risk" / "selfcheck.yml").write_text("levels: [\n", encoding="utf-8")
    messages, _ = run(ActionSubmitSelfcheck(), tracker("none", slots=DONE_WHEN))
    assert "self-check rules have an error" in messages[0]["text"]


def test_cancel_closes_the_form():
    messages, events = run(ActionCancelSelfcheck(), tracker("取消", "zh", loop="selfcheck_form"))
    assert events[0] == ActiveLoop(None) and "没有保存" in messages[0]["text"]


def test_a_lowercase_us_is_not_the_united_states():
    from actions.dialogue.common import named_markets

    us = [{"entity": "country", "value": "US", "start": 34, "end": 36}]
    assert named_markets(tracker("can you run a risk self-check for us", entities=us)) == []
    caps = [{"entity": "country", "value": "US", "start": 17, "end": 19}]
    assert named_markets(tracker("exporting to the US and Japan", entities=caps)) == ["US", "JP"]
