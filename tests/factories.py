"""Test data and helpers shared by the tests: a tracker, a case intake, a conversation over REST, adversarial text."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field, replace
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.cases.service import Intake
from actions.retrieval.passage import Passage


def tracker(
    text: str = "",
    language: str | None = "en",
    *,
    intent: str = "inform",
    sender: str = "t1",
    slots: dict[str, Any] | None = None,
    entities: list[dict[str, Any]] | None = None,
    loop: str | None = None,
    **parse: Any,
) -> Tracker:
    """A rasa-sdk tracker at the user's latest message: its text, intent, entities (and any other parse
    data, e.g. text_bounds), the conversation's language and slots, and the active form (`loop`)."""
    return Tracker(
        sender_id=sender,
        slots={"language": language, **(slots or {})},
        latest_message={
            "text": text,
            "intent": {"name": intent, "confidence": 0.9},
            "entities": entities or [],
            **parse,
        },
        events=[],
        paused=False,
        followup_action=None,
        active_loop={"name": loop} if loop else {},
        latest_action_name="action_listen",
    )


def run(action: Any, tracker: Tracker) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Runs a custom action on `tracker`: what it said (CollectingDispatcher's messages) and its events."""
    dispatcher = CollectingDispatcher()
    events = asyncio.run(action.run(dispatcher, tracker, {}))
    return dispatcher.messages, events


def validate(
    form: Any, method: str, value: Any, tracker: Tracker
) -> tuple[dict[str, Any], list[str | None], list[dict]]:
    """Runs one slot validation of a form: the slots it returns, the texts it said and the buttons it offered."""
    dispatcher = CollectingDispatcher()
    result = asyncio.run(getattr(form, method)(value, dispatcher, tracker, {}))
    return result, [m.get("text") for m in dispatcher.messages], [b for m in dispatcher.messages for b in m["buttons"]]


def texts(messages: list[dict[str, Any]]) -> str:
    """The texts of the messages an action sent, one per line."""
    return "\n".join(m.get("text") or "" for m in messages)


def intake(**changes) -> Intake:
    """A complete intake form (a Chinese machinery exporter, a trademark warning letter in Japan)."""
    values = {
        "sender_id": "u1",
        "channel": "rest",
        "language": "zh",
        "enterprise": "青岛示例机械有限公司",
        "contact": "a@example.com",
        "contact_kind": "email",
        "country": "JP",
        "ip_type": "trademark",
        "incident_type": "warning_letter",
        "deadline": None,
        "description": "收到日本公司的警告函",
        "consent": True,
        "industry": "machinery",
    }
    return Intake(**{**values, **changes})


@dataclass
class Conversation:
    """One enterprise talking to the bot over the REST channel (end-to-end tests)."""

    stack: Any
    sender: str = field(default_factory=lambda: f"web-{uuid.uuid4().hex[:8]}")
    transcript: list[str] = field(default_factory=list)

    def say(self, message: str) -> tuple[str, list[dict], list[dict]]:
        """The bot's texts (joined), buttons and custom payloads for one message."""
        reply = self.stack.say(message, sender=self.sender)
        texts = "\n".join(m["text"] for m in reply if "text" in m)
        buttons = [b for m in reply for b in m.get("buttons", [])]
        customs = [m["custom"] for m in reply if "custom" in m]
        self.transcript += [f"user: {message}", f"bot: {texts} {[b['title'] for b in buttons]}"]
        return texts, buttons, customs

    def expect(self, message: str, *fragments: str) -> tuple[str, list[dict], list[dict]]:
        """Says a message and checks that the reply contains every fragment (transcript on failure)."""
        texts, buttons, customs = self.say(message)
        for fragment in fragments:
            assert fragment in texts, "\n".join(self.transcript)
        return texts, buttons, customs


# Pieces of the inputs that made regular expressions backtrack or the deadline parser loop (issue 12):
# far durations, runs with no e-mail's "@", runs of spaces, digits or numerals that a pattern could
# rescan from every position, lone surrogates and control characters.
ADVERSARIAL_PIECES = [
    "2000000个工作日内",
    "99999999999天内",
    "within 5000 days",
    "a",
    "a.",
    "a@",
    "@a",
    "1",
    "1 ",
    "1(",
    "十",
    "一",
    "个",
    "12月",
    "下",
    "周",
    " ",
    "!",
    "in ",
    "_",
    "www.",
    "http://",
    "\x00",
    "\x1b[31m",
    "\r\n",
    "\u202e",
    "\ud800",
    "zhang@example.com",
]


def adversarial_text(min_size: int = 50, max_size: int = 400):
    """A hypothesis strategy: long strings made of the adversarial pieces and arbitrary characters."""
    from hypothesis import strategies as st

    piece = st.one_of(st.sampled_from(ADVERSARIAL_PIECES), st.text(max_size=3))
    return st.lists(piece, min_size=min_size, max_size=max_size).map("".join)


CONSOLE_PASSWORD = "sample password 123"


def seed_console(url: str, experts: list[Any], now: Any = None) -> dict[str, str]:
    """Sample cases and console accounts for the console's tests and screenshots (labelled samples with
    example.com contacts, never real people): accounts `staff1`, `expert5` (exp-005, Japan) and `expert2`
    (exp-002, United States), all with CONSOLE_PASSWORD; open, accepted, overdue, urgent and closed-and-rated
    cases over four months. Returns the case numbers by role: jp, us, de, old."""
    from datetime import date, timedelta

    from actions.accounts import create_account
    from actions.cases.service import accept, add_note, close_case, open_case, record_rating
    from actions.store import session_scope, utcnow

    now = now or utcnow()
    numbers: dict[str, str] = {}

    def opened(key: str, at: Any, **form: Any) -> str:
        values = {"description": "Sample case for the console's tests. 示例案件。", "contact": f"{key}@example.com"}
        case, _ = open_case(s, intake(**{**values, **form}), experts, now=at)
        assert case.case_no is not None
        numbers[key] = case.case_no
        return case.case_no

    with session_scope(url) as s:
        create_account(s, "staff1", "staff", CONSOLE_PASSWORD)
        create_account(s, "expert5", "expert", CONSOLE_PASSWORD, "exp-005")
        create_account(s, "expert2", "expert", CONSOLE_PASSWORD, "exp-002")
        for months_back, (market, ip, incident, rating) in enumerate(
            [
                ("US", "patent", "lawsuit", 5),
                ("DE", "trademark", "trade_fair_action", 4),
                ("JP", "design", "warning_letter", 3),
            ],
            start=1,
        ):
            at = now - timedelta(days=30 * months_back)
            number = opened(
                f"old{months_back}",
                at,
                sender_id=f"tg-900{months_back}",
                country=market,
                ip_type=ip,
                incident_type=incident,
                enterprise=f"示例贸易公司 {months_back} (sample)",
            )
            expert_id = {"US": "exp-001", "DE": "exp-003", "JP": "exp-005"}[market]
            accept(s, number, expert_id, now=at + timedelta(hours=6 * months_back))
            close_case(s, number, "staff:staff1", "settled", "sample outcome")
            record_rating(s, number, f"tg-900{months_back}", rating)
        opened("jp", now - timedelta(hours=2), enterprise="青岛示例机械有限公司 (sample)", country="JP")
        opened(
            "us",
            now - timedelta(days=4),
            enterprise="Sample Textiles Co., Ltd.",
            country="US",
            incident_type="customs_detention",
            language="en",
            industry="textiles",
        )
        opened(
            "de",
            now - timedelta(hours=1),
            enterprise="宁波示例电器 (sample)",
            country="DE",
            ip_type="patent",
            incident_type="trade_fair_action",
            deadline=date.fromordinal(now.date().toordinal() + 3),
        )
        accept(s, numbers["de"], "exp-003", now=now - timedelta(minutes=30))
        add_note(s, numbers["de"], "expert:exp-003", "Sample note: asked the enterprise for the fair's notice.")
    numbers["old"] = numbers["old1"]
    return numbers


def passage(
    ok=True, doc="pph-cn-jp", section="documents-to-file", zh="第一句。第二句。", en="First. Second.", **changes
):
    """A found knowledge section (the China–Japan PPH documents section unless told otherwise)."""
    p = Passage(
        doc_id=doc,
        section_id=section,
        title_zh="中日PPH",
        title_en="China–Japan PPH",
        section_zh="申请材料",
        section_en="Documents to file",
        text_zh=zh,
        text_en=en,
        sources=("https://example.org/pph",),
        last_reviewed="2026-11-24",
        path="knowledge/pph/cn-jp-pph.md",
        line=12,
        score=0.03,
        dense=0.6,
        lexical=0.7,
        answerable=ok,
    )
    return replace(p, **changes)


class Inbox:
    """An aiosmtpd handler keeping every message it was given (a real SMTP server on loopback for the tests)."""

    def __init__(self) -> None:
        self.messages: list[Any] = []  # email.message.EmailMessage, each with the envelope's X-Envelope-To

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 - aiosmtpd's hook name
        import email
        import email.policy

        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        parsed["X-Envelope-To"] = ", ".join(envelope.rcpt_tos)
        self.messages.append(parsed)
        return "250 OK"


# An expert reached by e-mail only, for Vietnamese patent cases (no sample expert covers Viet Nam).
EMAIL_EXPERT = {
    "id": "exp-901",
    "sample": True,
    "name": "Sample Mail Expert VN (示例邮件专家)",
    "organisation": "Example IP Law Firm (sample)",
    "countries": ["VN"],
    "ip_types": ["patent"],
    "industries": ["machinery"],
    "languages": ["zh", "en"],
    "contact": {"channel": "email", "address": "vn-expert@example.com"},
    "response_hours": 24,
    "available": True,
}
