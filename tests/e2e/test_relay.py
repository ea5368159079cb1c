"""End-to-end: a Chinese enterprise's case from its Telegram chat to its rating, through an e-mail expert.

Everything runs in the session stack (tests/conftest.py `e2e`): the enterprise writes to the Telegram gateway on the
loopback Bot API server, which talks to the real Rasa and action servers; the case form opens the case, a PDF
warning letter is attached in the chat; the only matching expert is reached by e-mail only, so the notifier sends
the offer through the loopback SMTP server (aiosmtpd); the test takes the signed link from that e-mail and opens it
in headless Chromium, accepts, sees the PDF, replies; the reply reaches the enterprise's chat, whose answer (a reply
to that message) reaches the expert by e-mail; staff sign in and close the case with an outcome; the enterprise
rates it with the buttons under the satisfaction question; the figures page and its CSV count the case and rating.
"""

from __future__ import annotations

import csv
import io
import re
import time

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from actions import messages
from actions.accounts import create_account
from actions.cases.figures import figures
from actions.cases.service import find_case
from actions.store import OutboxMessage, session_scope
from tests.e2e.test_console import flash, submit
from tests.e2e.test_widget import Browser, browser, wait_for  # noqa: F401 - `browser` is a fixture
from tests.factories import CONSOLE_PASSWORD, EMAIL_EXPERT

pytestmark = pytest.mark.e2e

CHAT = 7_300_001  # a chat id no other test uses
PDF = b"%PDF-1.4\n% a sample warning letter (test data)\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"
DESCRIPTION = "越南一家公司发来警告函，称我们出口的数控机床侵犯其越南发明专利，要求30天内停止销售。"
STEPS = {  # the form's questions (by their step marker) and what the enterprise answers: text, or a button's title
    "第1步": "青岛示例数控机床有限公司",
    "第2步": "li.qd@example.com",
    "第3步": "越南",
    "第4步": ("button", "专利"),
    "第5步": ("button", "警告函/律师函"),
    "第6步": "没有",
    "第7步": DESCRIPTION,
    "最后一步": ("button", "同意"),
}
CREATED = "案件已创建"
ANSWER_TIMEOUT = 90
# The gateway lets a chat send RATE_LIMIT_MESSAGES (6) in RATE_LIMIT_SECONDS (20 s), a leaky bucket: one message
# every 3.5 s never fills it, as a person typing would not.
TYPING_SECONDS = 3.5
_last_sent = [0.0]


def typed() -> None:
    """Waits until the enterprise could have typed its next message."""
    time.sleep(max(0.0, _last_sent[0] + TYPING_SECONDS - time.monotonic()))
    _last_sent[0] = time.monotonic()


def bot_messages_since(api, index: int) -> list[dict]:
    return api.bot_messages(CHAT)[index:]


def wait_for_bot(api, index: int, fragments: tuple[str, ...]) -> dict:
    """The first bot message in the chat after `index` holding one of the fragments (waits for it)."""

    def found() -> dict | None:
        return next((m for m in bot_messages_since(api, index) if any(f in m["text"] for f in fragments)), None)

    try:
        return api.wait_for(found, timeout=ANSWER_TIMEOUT)
    except TimeoutError:
        pytest.fail(f"no bot message with any of {fragments}; the chat: {[m['text'] for m in api.bot_messages(CHAT)]}")


def press(api, message: dict, title: str) -> None:
    buttons = [b for row in message.get("reply_markup", {}).get("inline_keyboard", []) for b in row]
    button = next((b for b in buttons if b["text"] == title), None)
    assert button is not None, f"no button {title!r} under {message['text']!r}: {[b['text'] for b in buttons]}"
    typed()
    api.press_button(CHAT, message["message_id"], button["callback_data"])


def fill_in_the_case_form(api) -> str:
    """Talks the Telegram chat through the offer and the case form; returns the case number the bot gave."""
    before = len(api.bot_messages(CHAT))
    typed()
    api.push_message(CHAT, "我们收到了越南一家公司的专利侵权警告函，怎么办？", language_code="zh-hans")
    offer = wait_for_bot(api, before, (messages.t("cases.offer", "zh"),))
    assert "来源：" in "\n".join(m["text"] for m in bot_messages_since(api, before)), "no cited playbook"
    markers = (*STEPS, CREATED)
    before = len(api.bot_messages(CHAT))
    press(api, offer, "开案件")
    asked: list[str] = []
    for _ in range(12):
        question = wait_for_bot(api, before, markers)
        if CREATED in question["text"]:
            break
        step = next(marker for marker in STEPS if marker in question["text"])
        asked.append(step)
        answer = STEPS[step]
        before = len(api.bot_messages(CHAT))
        if isinstance(answer, tuple):
            press(api, question, answer[1])
        else:
            typed()
            api.push_message(CHAT, answer, language_code="zh-hans")
    else:
        pytest.fail(f"the form did not end; it asked {asked}")
    assert asked[0] == "第1步" and asked[-1] == "最后一步", asked
    numbers = re.findall(r"IP-\d{4}-\d{6}", question["text"])
    assert numbers, question["text"]
    return numbers[0]


def wait_for_mail(e2e, subject: str, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := next((m for m in e2e.mail.messages if m["Subject"] == subject), None):
            return found
        time.sleep(0.2)
    pytest.fail(f"no e-mail {subject!r}; the inbox: {[m['Subject'] for m in e2e.mail.messages]}")


def test_a_chinese_enterprises_case_from_its_telegram_chat_through_an_email_expert_to_its_rating(
    e2e,
    browser: Browser,  # noqa: F811
):
    api = e2e.telegram
    case_no = fill_in_the_case_form(api)

    # The warning letter, sent in the chat, is stored with the case.
    before = len(api.bot_messages(CHAT))
    typed()
    api.push_document(CHAT, PDF, "warning-letter.pdf")
    wait_for_bot(api, before, (f"已附在案件 {case_no} 中",))

    # The only matching expert is reached by e-mail: the offer arrives at the SMTP server with a signed link.
    offer = wait_for_mail(e2e, f"New case {case_no} for you")
    assert offer["X-Envelope-To"] == EMAIL_EXPERT["contact"]["address"]
    body = offer.get_content()
    assert DESCRIPTION in body
    link = re.search(rf"{re.escape(e2e.stack.console_url)}/cases/{case_no}\?token=\S+", body)
    assert link, body

    # The expert opens the link in the browser, accepts, sees the PDF and writes to the enterprise.
    driver = browser(width=1360, height=1400)
    driver.get(link.group(0))
    wait_for(driver, lambda d: d.find_elements(By.ID, "accept"))
    assert "token=" not in driver.current_url  # the token leaves the address bar
    submit(driver, "accept")
    assert "You accepted the case" in flash(driver)
    assert "warning-letter.pdf" in driver.find_element(By.ID, "documents").text
    reply = "您好，我是负责此案的专家。请先不要回复对方，并告诉我警告函的落款日期。"
    driver.find_element(By.ID, "reply-text").send_keys(reply)
    submit(driver, "send-reply")
    assert "on its way to the enterprise" in flash(driver)

    # The reply arrives in the enterprise's Telegram chat; its answer, a reply to that message, reaches the expert.
    relayed = wait_for_bot(api, 0, (reply,))
    assert relayed["text"].startswith(f"案件 {case_no} · {EMAIL_EXPERT['name']} 给您留言：")
    answer = "好的，落款日期是11月28日，我们还没有回复。"
    before = len(api.bot_messages(CHAT))
    typed()
    api.push_message(CHAT, answer, language_code="zh-hans", reply_to=relayed["message_id"])
    wait_for_bot(api, before, (messages.t("cases.relay.sent", "zh", case_no=case_no),))
    answered = wait_for_mail(e2e, f"Case {case_no}: the enterprise replied")
    assert answered["X-Envelope-To"] == EMAIL_EXPERT["contact"]["address"] and answer in answered.get_content()
    driver.refresh()
    timeline = wait_for(driver, lambda d: d.find_elements(By.ID, "timeline"))[0].text
    assert reply in timeline and answer in timeline

    # Staff sign in and close the case with an outcome.
    with session_scope(e2e.database_url) as s:
        create_account(s, "relay.staff", "staff", CONSOLE_PASSWORD)
    driver.get(f"{e2e.stack.console_url}/login")
    driver.find_element(By.NAME, "username").send_keys("relay.staff")
    driver.find_element(By.NAME, "password").send_keys(CONSOLE_PASSWORD)
    driver.find_element(By.ID, "sign-in").click()
    wait_for(driver, lambda d: d.find_elements(By.ID, "queue"))
    driver.get(f"{e2e.stack.console_url}/cases/{case_no}")
    Select(driver.find_element(By.ID, "close-outcome")).select_by_value("settled")
    driver.find_element(By.ID, "close-note").send_keys("示例：对方撤回了警告。")
    submit(driver, "close")
    assert "The case is closed" in flash(driver)

    # The enterprise is asked for its rating in the chat and gives 5.
    question = wait_for_bot(api, 0, (messages.t("cases.rate_ask", "zh", case_no=case_no),))
    api.press_button(CHAT, question["message_id"], f"rate:{case_no}:5")
    thanks = messages.t("cases.rate_thanks", "zh", score=5)
    assert api.wait_for(lambda: thanks in api.message(CHAT, question["message_id"])["text"], timeout=30)

    # The figures page and its CSV count the case and its rating.
    with session_scope(e2e.database_url) as s:
        expected = figures(s).lines()
    driver.get(f"{e2e.stack.console_url}/figures")
    shown = driver.find_element(By.ID, "figure-lines").text
    assert [line for line in expected if line.startswith(("cases:", "satisfaction:"))] == [
        line for line in shown.splitlines() if line.startswith(("cases:", "satisfaction:"))
    ]
    cookies = {c["name"]: c["value"] for c in driver.get_cookies()}
    exported = httpx.get(f"{e2e.stack.console_url}/figures.csv", cookies=cookies, timeout=30)
    assert exported.status_code == 200
    rows = {row["case_no"]: row for row in csv.DictReader(io.StringIO(exported.text))}
    ours = rows[case_no]
    assert (ours["country"], ours["ip_type"], ours["incident"], ours["status"], ours["rating"]) == (
        "VN",
        "patent",
        "warning_letter",
        "closed",
        "5",
    )
    assert "青岛示例" not in exported.text and "example.com" not in exported.text  # no names or contacts

    # Everything is in the case's timeline, and every notification of the case was delivered.
    with session_scope(e2e.database_url) as s:
        case = find_case(s, case_no)
        kinds = [e.kind for e in case.events]
        for kind in ("created", "offered", "document", "accepted", "expert_reply", "enterprise_reply", "closed"):
            assert kind in kinds, kinds
        assert kinds[-1] == "rating" and case.outcome == "settled" and case.expert_id == EMAIL_EXPERT["id"]
        rows_of_case = list(s.query(OutboxMessage).filter(OutboxMessage.case_id == case.id))
        pending = [(r.kind, r.channel) for r in rows_of_case if r.status != "delivered"]
    assert not pending, pending


def test_a_web_conversation_gets_the_experts_message_with_the_reply_to_its_next_message(e2e):
    """The web path through the real Rasa and action servers: the message waits in the outbox and comes with the
    bot's reply to the conversation's next message, once. (The case is opened through the case service here: the
    web form itself is covered by tests/e2e/test_cases.py.)"""
    from actions.cases.experts import load_experts
    from actions.cases.service import accept, expert_reply, open_case
    from tests.factories import Conversation, intake

    talk = Conversation(e2e.stack)
    experts, _ = load_experts(e2e.workdir / "knowledge" / "experts.yml")
    with session_scope(e2e.database_url) as s:
        case, chosen = open_case(
            s, intake(sender_id=talk.sender, language="en", country="VN", ip_type="patent"), experts
        )
        case_no = str(case.case_no)
        assert [m.expert.id for m in chosen] == [EMAIL_EXPERT["id"]]
        accept(s, case_no, EMAIL_EXPERT["id"])
        expert_reply(s, case_no, EMAIL_EXPERT["id"], "Please keep the envelope of the letter.")
    texts, _, customs = talk.say("What does RCEP say about bad-faith trademarks?")
    # Rasa's channels send a text's paragraphs as messages of their own: the heading, then the expert's words.
    assert f"Case {case_no} · a message from {EMAIL_EXPERT['name']}:\nPlease keep the envelope of the letter." in texts
    assert {"case_no": case_no} in customs
    texts, _, _ = talk.say("thanks")
    assert "Please keep the envelope" not in texts  # shown once
