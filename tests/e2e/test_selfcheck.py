"""End-to-end risk self-check through the real Rasa and action servers: the Chinese check for a
Japanese trade fair without a Japanese trademark (high, cited steps, an expert offered) and an
English check with a mistyped market and a PPH question in the middle."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from tests.factories import Conversation

pytestmark = pytest.mark.e2e


def test_chinese_self_check_for_a_japanese_fair_without_a_japanese_trademark_is_high_and_offers_an_expert(e2e):
    talk = Conversation(e2e.stack)
    fair = (date.today() + timedelta(days=50)).isoformat()
    # The request already names the market and the plan, so the check starts at the industry.
    _, buttons, _ = talk.expect("我们下个月要去日本参展，帮我做个风险自查", "风险自查", "第2步")
    assert {"title": "机械设备", "payload": '/inform{"choice":"machinery"}'} in buttons
    talk.expect('/inform{"choice":"machinery"}', "展会什么时候开幕")
    talk.expect(fair, "第4步", "您的商标在日本")
    talk.expect('/inform{"choice":"none"}', "第5步")
    talk.expect("申请中", "第6步")
    talk.expect("没有", "最后一步")
    texts, buttons, customs = talk.expect("都没有", "🔴 日本：高风险", "建议步骤：", "来源：", "开一个案件")
    result = next(c for c in customs if "selfcheck" in c)
    assert result["selfcheck"][0] == {**result["selfcheck"][0], "market": "JP", "level": "high"}
    assert {"file-trademark-before-fair", "bring-proof-to-fair", "pph-japan"} <= set(result["steps"])
    assert any(c["doc_id"] == "dispute-trade-fair" for c in result["citations"])
    assert [b["payload"] for b in buttons] == ["/affirm", "/deny"]
    # Yes to the expert opens the case form, with the market already known.
    talk.expect("/affirm", "第1步")
    talk.expect("取消", "没有保存")


def test_english_self_check_with_a_mistyped_market_and_a_question_in_the_middle(e2e):
    talk = Conversation(e2e.stack)
    talk.expect("can you run a risk self-check for us", "Step 1")
    _, buttons, _ = talk.expect("Koreaa", "Did you mean: Korea?")
    assert buttons[0] == {"title": "Korea", "payload": '/inform{"country":"KR"}'}  # then the question again
    talk.expect('/inform{"country":"KR"}', "Step 2")
    _, _, customs = talk.expect("What documents does a China-Korea PPH request need?", "Step 2")
    assert customs and customs[0].get("answered"), "\n".join(talk.transcript)
    talk.expect('/inform{"choice":"electronics"}', "Step 3", "Korea")
    talk.expect("export and e-commerce", "Step 4")  # no trade fair: no date asked
    talk.expect("registered", "Step 5")
    talk.expect("pending", "Step 6")
    talk.expect('/inform{"choice":"none"}', "Last step")
    texts, buttons, customs = talk.expect("none", "Korea: low risk", "What to do:", "China–Korea PPH")
    assert not buttons  # no expert offered for a low risk
    assert next(c for c in customs if "selfcheck" in c)["selfcheck"][0]["level"] == "low"


def test_cancelling_the_self_check(e2e):
    talk = Conversation(e2e.stack)
    talk.expect("帮我做个风险自查", "第1步")
    talk.expect("日本", "第2步")
    talk.expect("取消", "已取消自查")
