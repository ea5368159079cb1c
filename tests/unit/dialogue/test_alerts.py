"""The alert actions with CollectingDispatcher and real trackers, on a real SQLite database and a copy
of knowledge/ (so a test can add an alert file)."""

from __future__ import annotations

from functools import partial

from rasa_sdk.events import SlotSet

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
)
from actions.settings import PROJECT_ROOT
from tests import factories

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


tracker = partial(factories.tracker, sender="web-1")


run = factories.run


validate = factories.validate
texts = factories.texts


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


def test_a_web_conversation_sees_the_experts_message_at_its_next_message_once(env):
    from actions.cases.experts import load_experts
    from actions.cases.service import accept, expert_reply, open_case
    from actions.store import session_scope

    knowledge, url = env
    experts, _ = load_experts(knowledge / "experts.yml")
    with session_scope(url) as s:
        case, chosen = open_case(s, factories.intake(sender_id="web-case", language="en"), experts)
        accept(s, case.case_no, chosen[0].expert.id)
        expert_reply(s, case.case_no, chosen[0].expert.id, "Please send the warning letter.")
        case_no = case.case_no
    shown, events = run(ActionShowNewAlerts(), tracker("hello", sender="web-case"))
    assert [m["text"].endswith("Please send the warning letter.") for m in shown] == [True]
    assert shown[0]["custom"] == {"case_no": case_no} and events == []
    assert run(ActionShowNewAlerts(), tracker("hello again", sender="web-case"))[0] == []
    assert run(ActionShowNewAlerts(), tracker("hi", sender="web-other"))[0] == []
