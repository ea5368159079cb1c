"""The self-check actions with CollectingDispatcher and real trackers, on a real SQLite database and a
copy of knowledge/."""

from __future__ import annotations

import asyncio
from functools import partial

import pytest
from rasa_sdk.events import ActiveLoop, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.dialogue.common import named_markets
from actions.dialogue.selfcheck import (
    SELFCHECK_SLOTS,
    ActionCancelSelfcheck,
    ActionStartSelfcheck,
    ActionSubmitSelfcheck,
    ValidateSelfcheckForm,
)
from tests import factories

tracker = partial(factories.tracker, sender="web-1")


run = factories.run


validate = factories.validate
texts = factories.texts


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

    us = [{"entity": "country", "value": "US", "start": 34, "end": 36}]
    assert named_markets(tracker("can you run a risk self-check for us", entities=us)) == []
    caps = [{"entity": "country", "value": "US", "start": 17, "end": 19}]
    assert named_markets(tracker("exporting to the US and Japan", entities=caps)) == ["US", "JP"]
