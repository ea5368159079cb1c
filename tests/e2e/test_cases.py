"""End-to-end case handoff: intake forms over REST through the real Rasa and action servers, the
notifier delivering offers to a loopback Telegram Bot API server, an expert pressing Accept, and
the enterprise seeing the result."""

from __future__ import annotations

import re
import stat

import httpx
import pytest
from sqlalchemy import text

from actions.cases.documents import case_documents
from actions.cases.service import find_case
from actions.question_vector import PARSE_KEY
from actions.settings import conversations_url
from actions.store import session_scope, sqlite_path
from bot.stack import http_get
from tests.factories import Conversation

pytestmark = pytest.mark.e2e


def case_number(customs: list[dict]) -> str:
    return next(c["case_no"] for c in customs if "case_no" in c)


def offers_for(telegram, case_no: str) -> list[dict]:
    """The offer messages the notifier sent to experts for a case (with their Accept buttons)."""
    return [m for m in telegram.sent_messages() if case_no in m.get("text", "") and m.get("reply_markup")]


def press_accept(e2e, case_no: str) -> dict:
    """The first offered expert presses Accept on the loopback Telegram server."""
    telegram = e2e.telegram
    assert telegram.wait_for(lambda: offers_for(telegram, case_no), timeout=20), "no offer reached Telegram"
    offer = offers_for(telegram, case_no)[0]
    chat = int(offer["chat_id"])
    sent = next(m for m in telegram.bot_messages(chat) if case_no in m.get("text", ""))
    telegram.press_button(chat, sent["message_id"], f"case:{case_no}:accept", user_id=chat)
    assert telegram.wait_for(lambda: telegram.callback_answers(), timeout=20), "the notifier did not answer the button"
    return offer


def test_chinese_case_end_to_end_with_a_bad_contact_and_an_expert_accepting(e2e):
    talk = Conversation(e2e.stack, sender="tg-9001")  # as the Telegram gateway names a chat
    texts, buttons, _ = talk.expect("我们的货在汉堡被海关扣了，怎么办", "[1]")
    assert [b["payload"] for b in buttons] == ["/affirm", "/deny"]
    talk.expect("/affirm", "第1步")
    talk.expect("青岛示例机械有限公司", "第2步")
    talk.expect("打电话给我", "zhang@example.com")  # asked again, with an example
    talk.expect("zhang@example.com", "第4步")  # the country came with the first message (Hamburg: Germany)
    talk.expect('/inform{"ip_type":"design"}', "第6步")  # the incident came with the first message
    talk.expect("10天内", "第7步")
    talk.expect("我们出口的机床在汉堡港被德国海关扣留，通知说涉嫌侵犯外观设计。", "最后一步")
    texts, _, customs = talk.expect("/affirm", "案件已创建", "紧急", "小时内")
    case_no = case_number(customs)
    assert re.fullmatch(r"IP-\d{4}-\d{6}", case_no)
    assert "/upload/" not in texts  # a Telegram chat sends its files in the chat

    offer = press_accept(e2e, case_no)
    texts, _, _ = talk.expect("我的案件进展如何", f"{case_no}: 专家已接手")
    assert "Sample Expert" in texts, "\n".join(talk.transcript)
    # The enterprise's Telegram chat heard of it too (the gateway's chat id 9001).
    assert e2e.telegram.wait_for(
        lambda: any(case_no in m["text"] for m in e2e.telegram.sent_messages(9001)), timeout=20
    )
    # The other experts were told the case is taken.
    others = [m["chat_id"] for m in offers_for(e2e.telegram, case_no) if m["chat_id"] != offer["chat_id"]]
    for chat in others:
        assert e2e.telegram.wait_for(
            lambda chat=chat: any("taken by another expert" in m["text"] for m in e2e.telegram.sent_messages(chat)),
            timeout=20,
        )


def test_english_case_with_a_question_mid_form_a_correction_and_a_bad_deadline(e2e):
    talk = Conversation(e2e.stack)
    texts, buttons, _ = talk.expect("we just got a cease and desist letter from a competitor", "[1]")
    assert any(b["payload"] == "/affirm" for b in buttons)
    talk.expect("/affirm", "Step 1")
    talk.expect("Example Textiles Co., Ltd.", "Step 2")
    talk.expect("ops@example.com", "Step 3")
    texts, _, customs = talk.expect("What does RCEP say about bad-faith trademark applications?", "Step 3")
    assert customs and customs[0]["answered"], "\n".join(talk.transcript)
    talk.expect("the USA", "Step 4")
    talk.expect("change the contact", "Step 2")
    talk.expect("+1 202 555 0100", "Step 4")
    talk.expect('/inform{"ip_type":"trademark"}', "Step 6")
    talk.expect("whenever", "within 10 days")  # not a deadline: asked again with examples
    talk.expect("by 3 December 2099", "Step 7")
    talk.expect("A US company says our towels infringe its trademark and wants us to stop selling.", "Last step")
    texts, _, customs = talk.expect("yes, share it", "Your case is open", "use this link within 72 hours")
    case_no = case_number(customs)
    assert "sample entry" in texts
    upload = re.search(r"(http://\S+/upload/\S+)", texts)
    assert upload and upload.group(1).startswith(e2e.stack.console_url), texts

    offer = press_accept(e2e, case_no)
    talk.expect(f"status of {case_no}", f"{case_no}: accepted by an expert (Sample Expert")
    # The enterprise follows the link to the console's upload page and sends the warning letter.
    page = httpx.get(upload.group(1), timeout=30)
    assert page.status_code == 200 and f"Case: {case_no}" in page.text
    pdf = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
    sent = httpx.post(upload.group(1), files={"file": ("warning letter.pdf", pdf, "application/pdf")}, timeout=30)
    assert sent.status_code == 200 and f"Received “warning_letter.pdf” and added it to case {case_no}" in sent.text
    with session_scope(e2e.database_url) as s:
        [doc] = case_documents(s, find_case(s, case_no))
        assert (doc.filename, doc.source) == ("warning_letter.pdf", "web")
        stored_as = doc.stored_as
    assert (e2e.workdir / "attachments" / stored_as).read_bytes() == pdf
    assert e2e.telegram.wait_for(  # the expert who accepted heard of it from the notifier
        lambda: any(
            f"added a document to {case_no}" in m["text"] for m in e2e.telegram.sent_messages(offer["chat_id"])
        ),
        timeout=20,
    )
    # Another conversation may not see it.
    Conversation(e2e.stack).expect(f"status of {case_no}", f"There is no case {case_no} in this conversation.")


def stored_conversation(e2e, sender: str) -> str:
    """Everything Rasa holds about a conversation, as its HTTP API returns it (all events)."""
    status, body = http_get(e2e.stack.api_url(f"/conversations/{sender}/tracker?include_events=ALL"))
    assert status == 200
    return body


def test_cancel_in_the_middle_stores_nothing(e2e):
    talk = Conversation(e2e.stack)
    talk.expect("I need an expert for a trademark problem in Japan", "Step 1")
    talk.expect("Example Foods Ltd.", "Step 2")
    talk.expect("cancel", "nothing was stored")
    assert "Example Foods" not in stored_conversation(e2e, talk.sender)
    talk.expect("what is the status of my case?", "has not opened a case")


def test_a_refused_consent_erases_the_entered_details_from_the_conversation(e2e):
    talk = Conversation(e2e.stack)
    talk.expect("we just got a cease and desist letter from a competitor", "[1]")
    talk.expect("/affirm", "Step 1")
    talk.expect("Erasable Textiles Co., Ltd.", "Step 2")
    talk.expect("erase.me@example.com", "Step 3")
    talk.expect("the USA", "Step 4")
    talk.expect('/inform{"ip_type":"trademark"}', "Step 6")
    talk.expect("none", "Step 7")
    talk.expect("Rival Towels Inc. says our towels infringe its trademark.", "Last step")
    assert "erase.me@example.com" in stored_conversation(e2e, talk.sender)  # held while the form runs
    talk.expect("/deny", "nothing was stored")
    stored = stored_conversation(e2e, talk.sender)
    for detail in ("Erasable Textiles", "erase.me@example.com", "Rival Towels"):
        assert detail not in stored, detail
    assert "cease and desist" in stored  # the question before the form is kept
    # Not only what Rasa serves: the rows of its SQL tracker store (its own file beside the case database) hold none of it.
    with session_scope(conversations_url(e2e.database_url)) as s:
        rows = "\n".join(s.scalars(text("SELECT data FROM events WHERE sender_id = :s"), {"s": talk.sender}))
    assert "cease and desist" in rows and not any(d in rows for d in ("Erasable Textiles", "erase.me@example.com"))
    assert PARSE_KEY not in rows and PARSE_KEY not in stored  # the NLU's message vectors served their turn only
    conversations = sqlite_path(conversations_url(e2e.database_url))
    assert conversations is not None and stat.S_IMODE(conversations.stat().st_mode) == 0o600  # what users typed
    # The conversation goes on normally after the erasure.
    texts, _, customs = talk.expect("中日PPH需要提交哪些材料？", "[1]")
    assert customs and customs[0]["answered"]


def test_declining_the_offer_keeps_the_conversation_going(e2e):
    talk = Conversation(e2e.stack)
    talk.expect("我们收到了律师函，对方说我们侵犯了他们的专利", "[1]")
    talk.expect("/deny", "不开案件")
    texts, _, customs = talk.expect("中日PPH需要提交哪些材料？", "[1]")
    assert customs and customs[0]["answered"]


def test_a_rasa_restart_in_the_middle_of_the_case_form_loses_nothing(e2e):
    """Conversations live in the SQL tracker store: the form goes on where it was after Rasa restarts."""
    talk = Conversation(e2e.stack)
    talk.expect("I need an expert", "Step 1")
    talk.expect("Restart Robotics Co., Ltd.", "Step 2")
    talk.expect("restart@example.com", "Step 3")
    e2e.stack.stop(("rasa",))
    e2e.stack.start(("rasa",))
    talk.expect("Japan", "Step 4")  # not "no reliable answer": the form and its answers survived
    talk.expect('/inform{"ip_type":"patent"}', "Step 5")
    talk.expect("cancel", "nothing was stored")


def test_an_action_server_killed_in_the_middle_of_the_case_form_is_healed_and_the_form_goes_on(e2e):
    """kill -9 of the action server's process: the user is told at once (not left without a reply), the
    launcher's supervisor stops what is left of its group and starts it again, and the form continues."""
    import os
    import signal
    import time

    from bot.stack import Supervisor

    stack = e2e.stack
    actions = stack.services["actions"]
    supervisor = Supervisor(stack, log=lambda line: None)
    stop_supervising = supervisor.run_in_background(every=0.5)
    try:
        talk = Conversation(stack)
        talk.expect("I need an expert", "Step 1")
        talk.expect("Healing Robotics Co., Ltd.", "Step 2")
        talk.expect("healing@example.com", "Step 3")
        killed = actions.pid
        supervisor.FIRST_BACKOFF = 5.0  # time enough to talk to the bot while the action server is down
        os.kill(killed, signal.SIGKILL)  # the main process only: its Sanic worker is left holding the port
        started = time.monotonic()
        while supervisor.watches["actions"].state != "restarting":
            assert time.monotonic() - started < 10, "the supervisor did not notice the dead action server"
            time.sleep(0.1)
        assert not actions.group_alive() and not actions.healthy(), "the orphaned worker still serves"
        texts, _, _ = talk.say("Japan")
        assert "temporarily unavailable" in texts, "\n".join(talk.transcript)
        while not (actions.pid != killed and actions.healthy()):
            assert time.monotonic() - started < 120, "the action server was not restarted"
            time.sleep(0.5)
        assert supervisor.watches["actions"].restarts == 1
        talk.expect("Japan", "Step 4")  # the answer that went unheard is taken now
        talk.expect("cancel", "nothing was stored")
    finally:
        stop_supervising()
    assert actions.healthy()
