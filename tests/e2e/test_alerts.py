"""End-to-end market alerts: subscribing, listing and unsubscribing in both languages through the
real Rasa and action servers, and a newly published alert reaching a Telegram subscriber on the
loopback Bot API server exactly once (and a web subscriber at its next message, once)."""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from tests.factories import Conversation

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


def write_alert(e2e, market: str, title_en: str) -> str:
    """A new (non-sample) alert in the stack's copy of knowledge/alerts; returns its id."""
    alert_id = f"e2e-{market.lower()}-{uuid.uuid4().hex[:8]}"
    text = f"""id: {alert_id}
sample: false
title:
  zh: {title_en}（测试）
  en: {title_en}
body:
  zh: 端到端测试用的预警。
  en: An alert written by the end-to-end test.
markets: [{market}]
industries: [all]
ip_types: [trademark]
severity: warning
source: https://www.wipo.int/madrid/en/
published: 2026-01-01
last_reviewed: 2026-01-01
valid_until: 2099-12-31
"""
    (e2e.workdir / "knowledge" / "alerts" / f"{alert_id}.yml").write_text(text, encoding="utf-8")
    return alert_id


def cli_publish(e2e) -> subprocess.CompletedProcess:
    """`python -m actions.cli alerts publish` against the stack's knowledge copy and database."""
    env = {**os.environ, "KNOWLEDGE_DIR": str(e2e.workdir / "knowledge"), "DATABASE_URL": e2e.database_url}
    return subprocess.run(
        [str(ROOT / ".venv" / "bin" / "python"), "-m", "actions.cli", "alerts", "publish"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def messages_with(e2e, chat: int, fragment: str) -> list[dict]:
    return [m for m in e2e.telegram.sent_messages(chat) if fragment in m.get("text", "")]


def test_english_subscription_to_korea_then_a_new_korea_alert_arrives_exactly_once(e2e):
    chat = 7100 + int(uuid.uuid4().int % 800)
    talk = Conversation(e2e.stack, sender=f"tg-{chat}")  # as the Telegram gateway names a chat
    _, buttons, _ = talk.expect("subscribe me to Korea alerts", "Which industry?")
    assert buttons[0] == {"title": "All industries", "payload": '/inform{"choice":"all"}'}
    talk.expect('/inform{"choice":"all"}', "Subscribed: Korea (all industries).", "sent to you here")
    # The Korea alert already active (a shipped sample) comes at once.
    assert e2e.telegram.wait_for(lambda: messages_with(e2e, chat, "[Sample] China–Korea PPH"), timeout=20)

    title = f"Korea e2e alert {uuid.uuid4().hex[:6]}"
    alert_id = write_alert(e2e, "KR", title)
    # The notifier sees the new file and publishes it; the alert reaches the chat.
    assert e2e.telegram.wait_for(lambda: messages_with(e2e, chat, title), timeout=30), "the alert never arrived"
    # Publishing again, by hand, sends nothing new.
    done = cli_publish(e2e)
    assert done.returncode == 0, done.stderr
    assert f"{alert_id}: queued for 0 new subscriber(s)" in done.stdout
    time.sleep(2)  # ten notifier rounds
    assert len(messages_with(e2e, chat, title)) == 1
    assert len(messages_with(e2e, chat, "[Sample] China–Korea PPH")) == 1
    talk.expect("my subscriptions", "Korea (all industries)", title)


def test_chinese_subscription_with_a_mistyped_market_list_and_unsubscribe(e2e):
    talk = Conversation(e2e.stack)
    talk.expect("订阅预警", "想订阅哪个市场")
    _, buttons, _ = talk.expect("韩过", "您是指：韩国")
    assert buttons[0] == {"title": "韩国", "payload": '/inform{"country":"KR"}'}
    talk.expect('/inform{"country":"KR"}', "哪个行业")
    texts, _, customs = talk.expect('/inform{"choice":"electronics"}', "已订阅：韩国（电子产品）", "【示例】中韩PPH")
    assert {"alert_id": "sample-kr-pph"} in customs  # a web chat sees the active alert at once
    talk.expect("我的订阅", "韩国（电子产品）")
    talk.expect("退订预警", "已退订：韩国（电子产品）")
    talk.expect("退订预警", "您目前没有订阅任何预警")


def test_a_web_subscriber_sees_a_new_alert_at_its_next_message_once(e2e):
    talk = Conversation(e2e.stack)
    talk.expect("I want to get alerts for Japan", "Which industry?")
    talk.expect('/inform{"choice":"all"}', "Subscribed: Japan (all industries).", "next time you write")
    title = f"Japan e2e alert {uuid.uuid4().hex[:6]}"
    write_alert(e2e, "JP", title)
    done = cli_publish(e2e)
    assert done.returncode == 0, done.stderr
    texts, _, _ = talk.expect("hello", "📢 New market alert", title)
    texts, _, _ = talk.expect("thanks")
    assert title not in texts


def test_an_invalid_alert_file_publishes_nothing(e2e):
    broken = e2e.workdir / "knowledge" / "alerts" / "zz-broken.yml"
    broken.write_text("id: broken\nsample: maybe\n", encoding="utf-8")
    try:
        done = cli_publish(e2e)
        assert done.returncode == 1
        assert "knowledge/alerts/zz-broken.yml:2: sample:" in done.stderr and "nothing was published" in done.stderr
    finally:
        broken.unlink()
