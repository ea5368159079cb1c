"""The expectation checks and the conversation runner, against a scripted fake bot (no network):
each expectation passes on a matching reply and fails with a reason on a wrong one, and a wrong
expectation produces a readable transcript."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from eval.toolkit.bot import Reply
from eval.toolkit.checks import fill_slots, run_checks
from eval.toolkit.conversations import render_transcript, resolve_press, run_conversation
from eval.toolkit.spec import Expect, Vocabulary, load_conversations

ANSWER = {
    "text": "JPO要求列明全部应提交的文件…… [1]\n\n来源：\n[1] … — knowledge/pph/request-at-jpo-kipo.md",
    "custom": {
        "answered": True,
        "language": "zh",
        "citations": [
            {
                "doc_id": "pph-jpo-kipo-request",
                "section_id": "documents-for-the-jpo",
                "path": "knowledge/pph/request-at-jpo-kipo.md",
            }
        ],
    },
}
OFFER = {
    "text": "这种情况建议尽快请专家介入。要我为您开一个案件，转给匹配的海外维权专家吗？",
    "buttons": [{"title": "开案件", "payload": "/affirm"}, {"title": "不用", "payload": "/deny"}],
}


def tracker(intent: str, actions: list[str], slots: dict[str, Any] | None = None, confidence: float = 0.97) -> dict:
    parse = {"intent": {"name": intent, "confidence": confidence}}
    events = [{"event": "action", "name": "action_listen"}, {"event": "user", "text": "…", "parse_data": parse}]
    events += [{"event": "action", "name": a} for a in actions] + [{"event": "action", "name": "action_listen"}]
    return {
        "latest_message": {"intent": {"name": "stale_form_opener", "confidence": 1.0}},  # see Reply.intent
        "events": events,
        "slots": {"language": "zh", "case_id": None, **(slots or {})},
    }


def reply(*messages: dict, **kw: Any) -> Reply:
    return Reply(
        "中日PPH需要提交哪些材料？",
        list(messages),
        kw.pop("seconds", 0.1),
        kw.pop("tracker", None),
        kw.pop("cases", None),
    )


ZH_ANSWER = reply(ANSWER, OFFER, tracker=tracker("ask_question", ["action_answer_question"]))


def outcome(expect: dict, r: Reply = ZH_ANSWER, before: Reply | None = None) -> dict[str, tuple[bool, str]]:
    checks = run_checks(Expect.model_validate(expect), r, before)
    return {c.key: (c.ok, c.detail) for c in checks}


@pytest.mark.parametrize(
    ("expect", "key"),
    [
        ({"contains": ["JPO", "来源"]}, "contains"),
        ({"contains": "jpo"}, "contains"),  # case-insensitive
        ({"contains_any": ["nope", "专家介入"]}, "contains_any"),
        ({"not_contains": "Sorry"}, "not_contains"),
        ({"language": "zh"}, "language"),
        ({"cites": ["pph-jpo-kipo-request", "knowledge/pph/", "pph-jpo-kipo-request#documents-for-the-jpo"]}, "cites"),
        ({"cites": "knowledge/pph/request-at-jpo-kipo.md"}, "cites"),
        ({"cites_any": ["rcep-overview", "pph-jpo-kipo-request"]}, "cites_any"),
        ({"not_cites": ["pph-cn-kr#using-a-chinese-result-in-korea", "knowledge/rcep/"]}, "not_cites"),
        ({"answered": True}, "answered"),
        ({"buttons": ["开案件", "/deny"]}, "buttons"),
        ({"intent": ["check_case", "ask_question"]}, "intent"),
        ({"actions": "action_answer_question"}, "actions"),
        ({"not_actions": "utter_service_unavailable"}, "not_actions"),
        ({"slots": {"language": "zh", "case_id": None}}, "slots"),
        ({"max_seconds": 1}, "max_seconds"),
    ],
)
def test_an_expectation_that_matches_the_reply_passes(expect, key):
    results = outcome(expect)
    assert results[key] == (True, ""), results[key]
    assert results["replied"][0]


@pytest.mark.parametrize(
    ("expect", "key", "why"),
    [
        ({"contains": ["JPO", "第9步"]}, "contains", "not in the reply: ['第9步']"),
        ({"contains_any": ["nope", "never"]}, "contains_any", "none of them is in the reply"),
        ({"not_contains": "来源"}, "not_contains", "the reply contains ['来源']"),
        ({"language": "en"}, "language", "message 1 is zh"),
        ({"cites": "rcep-overview"}, "cites", "the reply cites pph-jpo-kipo-request#documents-for-the-jpo"),
        ({"cites": "knowledge/rcep/"}, "cites", "not cited: ['knowledge/rcep/']"),
        ({"cites_any": ["rcep-overview", "pph-cn-jp"]}, "cites_any", "the reply cites pph-jpo-kipo-request"),
        ({"no_citations": True}, "no_citations", "the reply cites pph-jpo-kipo-request"),
        (
            {"not_cites": ["rcep-overview", "pph-jpo-kipo-request#documents-for-the-jpo"]},
            "not_cites",
            "cited: ['pph-jpo-kipo-request#documents-for-the-jpo']",
        ),
        ({"not_cites": "knowledge/pph/"}, "not_cites", "cited: ['knowledge/pph/']"),
        ({"answered": False}, "answered", "it answered from the knowledge files"),
        ({"buttons": "Open a case"}, "buttons", "buttons offered: 开案件 (/affirm), 不用 (/deny)"),
        ({"no_buttons": True}, "no_buttons", "buttons offered: 开案件"),
        ({"intent": "check_case"}, "intent", "NLU said ask_question (0.97)"),
        ({"actions": "utter_greet"}, "actions", "did not run ['utter_greet']; ran ['action_answer_question']"),
        ({"not_actions": "action_answer_question"}, "not_actions", "ran ['action_answer_question']"),
        ({"slots": {"language": "en"}}, "slots", "language is 'zh', not 'en'"),
        ({"slots": {"case_id": "*"}}, "slots", "case_id is None, not '*'"),
        ({"max_seconds": 0.01}, "max_seconds", "took 0.10 s"),
        ({"case_created": True}, "case_created", "the case_id slot did not get a new case id"),
    ],
)
def test_an_expectation_that_does_not_match_fails_and_says_why(expect, key, why):
    ok, detail = outcome(expect)[key]
    assert not ok
    assert why in detail, detail


def test_silence_fails_unless_allowed():
    empty = reply(tracker=tracker("greet", []))
    assert outcome({}, empty)["replied"] == (False, "the bot said nothing")
    assert outcome({"silent": True}, empty)["replied"][0]


def test_answered_fails_when_the_answer_action_did_not_run():
    greeting = reply({"text": "您好！"}, tracker=tracker("greet", ["utter_greet"]))
    assert outcome({"answered": True}, greeting)["answered"] == (False, "the answer action did not run in this turn")


def test_tracker_expectations_fail_clearly_without_the_http_api():
    ok, detail = outcome({"intent": "ask_question"}, reply(ANSWER))["intent"]
    assert not ok and "--enable-api" in detail


CASE = {
    "case_no": "IP-2026-000007",
    "sender_id": "s",
    "language": "zh",
    "enterprise": "青岛示例机械有限公司",
    "contact_kind": "email",
    "country": "DE",
    "ip_type": "design",
    "incident_type": "customs_detention",
    "deadline": "2026-12-01",
    "urgent": True,
    "status": "open",
    "offers": 3,
}


def test_case_created_checks_the_slot_and_the_stored_case():
    before = reply(tracker=tracker("affirm", []), cases=[])
    after = reply(
        {"text": "案件已创建"},
        tracker=tracker("affirm", ["action_submit_case"], {"case_id": CASE["case_no"]}),
        cases=[CASE],
    )
    assert outcome({"case_created": True}, after, before)["case_created"][0]
    good = {"case_created": {"country": "DE", "ip_type": "design", "urgent": True, "min_offers": 3}}
    assert outcome(good, after, before)["case_created"][0]
    ok, detail = outcome({"case_created": {"country": "FR", "min_offers": 4}}, after, before)["case_created"]
    assert not ok and "country is 'DE', not 'FR'" in detail and "offered to 3 experts, fewer than 4" in detail
    ok, detail = outcome({"case_created": False}, after, before)["case_created"]
    assert not ok and "IP-2026-000007" in detail
    assert outcome({"case_created": False}, before, None)["case_created"][0]
    missing = reply(tracker=tracker("affirm", [], {"case_id": "IP-2026-000008"}), cases=[CASE])
    ok, detail = outcome({"case_created": True}, missing, before)["case_created"]
    assert not ok and "no such case in the store" in detail


def test_slot_placeholders_are_filled():
    assert fill_slots("status of {case_id}", {"case_id": "IP-2026-000001"}) == "status of IP-2026-000001"
    assert fill_slots("{unknown} stays", {"case_id": "x"}) == "{unknown} stays"


def test_press_finds_a_button_by_title_or_payload():
    assert resolve_press("开案件", ZH_ANSWER) == ("/affirm", "")
    assert resolve_press("/deny", ZH_ANSWER) == ("/deny", "")
    payload, error = resolve_press("Open a case", ZH_ANSWER)
    assert payload is None and "offered 开案件 (/affirm), 不用 (/deny)" in error


class FakeBot:
    """Replies from a script: message → (messages, intent, actions, slots)."""

    def __init__(self, script: dict[str, tuple[list[dict], str, list[str], dict]]) -> None:
        self.script = script
        self.sent: list[tuple[str, str]] = []
        self.last: dict[str, dict] = {}

    def send(self, sender: str, message: str) -> list[dict]:
        self.sent.append((sender, message))
        messages, intent, actions, slots = self.script[message]
        self.last[sender] = tracker(intent, actions, slots)
        return messages

    def tracker(self, sender: str) -> dict | None:
        return self.last.get(sender)

    def cases(self, sender: str) -> list[dict] | None:
        return None


SCRIPT = {
    "我们的货在汉堡被海关扣了": ([ANSWER, OFFER], "report_case", ["action_answer_question"], {"case_offered": True}),
    "/affirm": ([{"text": "第1步：贵企业的全称是？"}], "affirm", ["case_form"], {"requested_slot": "case_enterprise"}),
}
VOCAB = Vocabulary(
    intents=frozenset({"report_case", "affirm"}),
    slots=frozenset({"case_offered"}),
    actions=frozenset({"case_form"}),
    documents=frozenset({"dispute-customs-detention"}),
    paths=frozenset(),
)


def conversation(tmp_path: Path, second_expect: str):
    path = tmp_path / "cases.yml"
    path.write_text(
        "- name: zh-customs\n"
        "  tags: [zh]\n"
        "  turns:\n"
        "    - user: 我们的货在汉堡被海关扣了\n"
        "      expect: {intent: report_case, buttons: [开案件]}\n"
        "    - press: 开案件\n"
        f"      expect: {second_expect}\n",
        encoding="utf-8",
    )
    convs, errors = load_conversations([path], VOCAB, root=tmp_path)
    assert not errors, errors
    return convs[0]


def test_a_right_conversation_passes_and_presses_send_the_payload(tmp_path):
    bot = FakeBot(SCRIPT)
    result = run_conversation(conversation(tmp_path, "{contains: 第1步, actions: case_form}"), bot)
    assert result.ok, render_transcript(result)
    assert [m for _, m in bot.sent] == ["我们的货在汉堡被海关扣了", "/affirm"]
    assert len({s for s, _ in bot.sent}) == 1 and bot.sent[0][0].startswith("eval-zh-customs-")


def test_a_wrong_expectation_fails_with_a_readable_transcript(tmp_path):
    result = run_conversation(
        conversation(tmp_path, "{contains: Step 1, cites: dispute-customs-detention}"), FakeBot(SCRIPT)
    )
    assert not result.ok
    assert result.failures() == [
        "cases.yml:7: turn 2: contains ['Step 1'] — not in the reply: ['Step 1']",
        "cases.yml:7: turn 2: cites ['dispute-customs-detention'] — not cited: ['dispute-customs-detention']; "
        "the reply cites nothing",
    ]
    text = render_transcript(result)
    for shown in (
        "FAILED  zh-customs  (cases.yml:1)",  # what failed and where
        "[1] user: 我们的货在汉堡被海关扣了",  # the user's turns
        "[2] user presses: 开案件 → sends /affirm",
        "bot: 这种情况建议尽快请专家介入",  # the bot's messages
        "buttons: [开案件 → /affirm] [不用 → /deny]",  # its buttons
        "citation [1]: pph-jpo-kipo-request#documents-for-the-jpo",  # its citations
        "NLU: report_case 0.97 · actions: action_answer_question",
        "✓ buttons ['开案件']",
        "✗ contains ['Step 1'] — not in the reply: ['Step 1']    (cases.yml:7)",  # the failed expectation and why
    ):
        assert shown in text, f"{shown!r} missing from:\n{text}"


def test_a_press_with_no_such_button_stops_the_conversation(tmp_path):
    path = tmp_path / "c.yml"
    path.write_text(
        "- name: c\n  turns:\n    - user: /affirm\n    - press: 不用\n    - user: /affirm\n", encoding="utf-8"
    )
    convs, _ = load_conversations([path], VOCAB, root=tmp_path)
    result = run_conversation(convs[0], FakeBot(SCRIPT))
    assert not result.ok and len(result.turns) == 2
    text = render_transcript(result)
    assert "cannot press '不用': the bot's previous reply offered no buttons" in text
    assert "(1 later turn(s) not run)" in text
