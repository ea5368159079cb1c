"""Runs conversation tests against the live bot and writes their transcripts.

Each conversation gets a fresh sender id; each turn is sent over REST (a `press:` sends the payload
of the button with that title or payload from the bot's previous reply), then every expectation of
the turn is checked. A transcript shows the whole conversation: user turns, bot messages, buttons,
citations, NLU's intent, the actions that ran, each expectation with ✓ or ✗ and why it failed.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

from eval.toolkit.bot import Bot, Reply, turn
from eval.toolkit.checks import Check, fill_slots, run_checks
from eval.toolkit.spec import Conversation, Turn

INDENT = "    "


@dataclass
class TurnResult:
    """One turn as it happened: what was sent, the reply, and the checks on it."""

    turn: Turn
    reply: Reply | None
    checks: list[Check] = field(default_factory=list)
    error: str = ""  # why the turn could not be sent

    @property
    def ok(self) -> bool:
        """True when the turn was sent and every check passed."""
        return not self.error and all(c.ok for c in self.checks)


@dataclass
class ConversationResult:
    """A conversation as it happened."""

    conversation: Conversation
    sender: str
    turns: list[TurnResult]
    seconds: float

    @property
    def ok(self) -> bool:
        """True when every turn passed."""
        return all(t.ok for t in self.turns) and len(self.turns) == len(self.conversation.turns)

    def failures(self) -> list[str]:
        """One line per failed expectation or turn that could not be sent, with file:line."""
        lines = []
        for n, t in enumerate(self.turns, start=1):
            if t.error:
                lines.append(f"{self.conversation.file}:{t.turn.line}: turn {n}: {t.error}")
            for c in t.checks:
                if not c.ok:
                    lines.append(f"{self.conversation.file}:{c.line}: turn {n}: {c.expected} — {c.detail}")
        return lines

    def latencies(self) -> list[float]:
        """Seconds per bot reply."""
        return [t.reply.seconds for t in self.turns if t.reply is not None]


def resolve_press(press: str, previous: Reply | None) -> tuple[str | None, str]:
    """The payload of the button with this title or payload in the previous reply, or why there is none."""
    buttons = previous.buttons if previous else []
    for b in buttons:
        if press in (b.get("title"), b.get("payload")):
            return str(b.get("payload")), ""
    for b in buttons:  # a title in another case ("open a case")
        if press.casefold() == str(b.get("title", "")).casefold():
            return str(b.get("payload")), ""
    offered = ", ".join(f"{b.get('title')} ({b.get('payload')})" for b in buttons) or "no buttons"
    return None, f"cannot press {press!r}: the bot's previous reply offered {offered}"


def new_sender(conversation: Conversation) -> str:
    """A sender id no earlier run used: eval-<name>-<random>."""
    return f"eval-{conversation.name}-{uuid.uuid4().hex[:6]}"


def run_conversation(conversation: Conversation, bot: Bot, sender: str | None = None) -> ConversationResult:
    """Plays the conversation against the bot and checks every turn; stops at a turn it cannot send."""
    sender = sender or new_sender(conversation)
    with_cases = any(t.expect.case_created is not None for t in conversation.turns)
    started = time.perf_counter()
    results: list[TurnResult] = []
    previous: Reply | None = None
    for spec in conversation.turns:
        message = fill_slots(spec.user, previous.slots) if spec.user is not None and previous else spec.user
        if spec.press is not None:
            message, error = resolve_press(spec.press, previous)
            if message is None:
                results.append(TurnResult(spec, None, error=error))
                break
        try:
            reply = turn(bot, sender, message or "", with_cases=with_cases)
        except Exception as exc:  # a server error is a failed turn, with its reason in the transcript
            results.append(TurnResult(spec, None, error=f"the bot did not answer: {exc!r}"))
            break
        results.append(TurnResult(spec, reply, run_checks(spec.expect, reply, previous, spec.line)))
        previous = reply
    return ConversationResult(conversation, sender, results, time.perf_counter() - started)


def _block(text: str, prefix: str) -> list[str]:
    lines = text.splitlines() or [""]
    return [prefix + lines[0]] + [" " * len(prefix) + line for line in lines[1:]]


def render_transcript(result: ConversationResult) -> str:
    """The whole conversation as plain text, with each expectation's outcome."""
    conv = result.conversation
    failures = result.failures()
    state = "PASSED" if result.ok else "FAILED"
    out = [
        f"{state}  {conv.name}  ({conv.where})",
        f"tags: {', '.join(conv.tags) or '-'} · sender: {result.sender} · "
        f"{len(result.turns)}/{len(conv.turns)} turns run · {len(failures)} failed · {result.seconds:.1f} s",
    ]
    if conv.description:
        out.append(conv.description.strip())
    if failures:
        out += ["", "Failed:"] + [f"  ✗ {line}" for line in failures]
    for n, t in enumerate(result.turns, start=1):
        out.append("")
        sent = f" → sends {t.reply.sent}" if t.turn.press is not None and t.reply else ""
        out.append(f"[{n}] {t.turn.shown()}{sent}    ({conv.file}:{t.turn.line})")
        if t.error:
            out.append(f"{INDENT}✗ {t.error}")
            continue
        reply = t.reply
        assert reply is not None
        intent, confidence = reply.intent
        nlu = f"NLU: {intent} {confidence:.2f} · " if intent and confidence is not None else ""
        out.append(f"{INDENT}{nlu}actions: {', '.join(reply.actions) or '-'} · {reply.seconds * 1000:.0f} ms")
        if not reply.messages:
            out.append(f"{INDENT}bot: (nothing)")
        for m in reply.messages:
            if m.get("text"):
                out += _block(m["text"], f"{INDENT}bot: ")
            if m.get("buttons"):
                labels = " ".join(f"[{b.get('title')} → {b.get('payload')}]" for b in m["buttons"])
                out.append(f"{INDENT}     buttons: {labels}")
        for k, c in enumerate(reply.citations, start=1):
            out.append(f"{INDENT}citation [{k}]: {c.get('doc_id')}#{c.get('section_id')} ({c.get('path')})")
        for check in t.checks:
            mark = "✓" if check.ok else "✗"
            why = f" — {check.detail}" if check.detail else ""
            where = f"    ({conv.file}:{check.line})" if not check.ok else ""
            out.append(f"{INDENT}{mark} {check.expected}{why}{where}")
    not_run = len(conv.turns) - len(result.turns)
    if not_run:
        out += ["", f"({not_run} later turn(s) not run)"]
    return "\n".join(out) + "\n"
