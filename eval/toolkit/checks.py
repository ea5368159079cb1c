"""The expectation checks: each key of a turn's `expect:` becomes one `Check` on the bot's reply,
which says what was expected and, when it fails, what the bot did instead."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from actions.language import detect_language
from eval.toolkit.bot import Reply
from eval.toolkit.spec import ANY_VALUE, CaseExpect, Expect

_PLACEHOLDER = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class Check:
    """The outcome of one expectation on one bot turn."""

    key: str
    ok: bool
    expected: str  # the expectation, as the evaluator wrote it
    detail: str = ""  # why it failed (or a note when it passed)
    line: int = 0  # where the expectation is written


def _short(text: str, limit: int = 80) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _cited(citation: dict[str, Any], wanted: str) -> bool:
    """A citation matches a doc id, a doc-id#section-id, a path, or a folder prefix ending in '/'."""
    doc, section, path = citation.get("doc_id", ""), citation.get("section_id", ""), citation.get("path", "")
    if wanted.endswith("/"):
        return path.startswith(wanted)
    return wanted in (doc, f"{doc}#{section}", path)


def _citation_names(reply: Reply) -> str:
    return ", ".join(f"{c.get('doc_id')}#{c.get('section_id')}" for c in reply.citations) or "nothing"


def _button_names(reply: Reply) -> str:
    return ", ".join(f"{b.get('title')} ({b.get('payload')})" for b in reply.buttons) or "none"


def _same(actual: Any, expected: Any) -> bool:
    if expected == ANY_VALUE:
        return actual not in (None, "", [])
    return actual == expected or (actual is not None and expected is not None and str(actual) == str(expected))


def fill_slots(text: str, slots: dict[str, Any]) -> str:
    """Replaces `{slot_name}` with the slot's value (e.g. "status of {case_id}"); unknown names stay."""
    return _PLACEHOLDER.sub(lambda m: str(slots[m.group(1)]) if slots.get(m.group(1)) is not None else m.group(0), text)


def check_contains(e: Expect, r: Reply) -> Check:
    """Every `contains` text appears in the reply's text (case-insensitive)."""
    text = r.text.casefold()
    wanted = [fill_slots(s, r.slots) for s in e.contains]
    missing = [s for s in wanted if s.casefold() not in text]
    return Check("contains", not missing, f"contains {wanted}", f"not in the reply: {missing}" if missing else "")


def check_contains_any(e: Expect, r: Reply) -> Check:
    """At least one `contains_any` text appears."""
    text = r.text.casefold()
    wanted = [fill_slots(s, r.slots) for s in e.contains_any]
    ok = any(s.casefold() in text for s in wanted)
    return Check("contains_any", ok, f"contains any of {wanted}", "" if ok else "none of them is in the reply")


def check_not_contains(e: Expect, r: Reply) -> Check:
    """No `not_contains` text appears."""
    text = r.text.casefold()
    unwanted = [fill_slots(s, r.slots) for s in e.not_contains]
    found = [s for s in unwanted if s.casefold() in text]
    return Check(
        "not_contains", not found, f"does not contain {unwanted}", f"the reply contains {found}" if found else ""
    )


def check_language(e: Expect, r: Reply) -> Check:
    """Every bot message with a language signal is in the expected language."""
    detected = [(n, detect_language(t), t) for n, t in enumerate(r.texts, start=1)]
    wrong = [f"message {n} is {lang}: {_short(t)!r}" for n, lang, t in detected if lang and lang != e.language]
    if not any(lang for _, lang, _ in detected):
        wrong = ["no message has a language signal"]
    return Check("language", not wrong, f"language {e.language}", "; ".join(wrong))


def check_cites(e: Expect, r: Reply) -> Check:
    """Every `cites` document, section, path or folder is cited."""
    missing = [w for w in e.cites if not any(_cited(c, w) for c in r.citations)]
    detail = f"not cited: {missing}; the reply cites {_citation_names(r)}" if missing else ""
    return Check("cites", not missing, f"cites {e.cites}", detail)


def check_cites_any(e: Expect, r: Reply) -> Check:
    """At least one `cites_any` entry is cited."""
    ok = any(_cited(c, w) for c in r.citations for w in e.cites_any)
    return Check("cites_any", ok, f"cites any of {e.cites_any}", "" if ok else f"the reply cites {_citation_names(r)}")


def check_not_cites(e: Expect, r: Reply) -> Check:
    """No `not_cites` document, section, path or folder is cited."""
    found = [w for w in e.not_cites if any(_cited(c, w) for c in r.citations)]
    detail = f"cited: {found}; the reply cites {_citation_names(r)}" if found else ""
    return Check("not_cites", not found, f"does not cite {e.not_cites}", detail)


def check_no_citations(e: Expect, r: Reply) -> Check:
    """Nothing is cited."""
    ok = not e.no_citations or not r.citations
    return Check(
        "no_citations", ok, f"no_citations {e.no_citations}", "" if ok else f"the reply cites {_citation_names(r)}"
    )


def check_answered(e: Expect, r: Reply) -> Check:
    """The answer action found (true) or did not find (false) a reliable answer."""
    flags = [c["answered"] for c in r.customs if "answered" in c]
    if not flags:
        return Check("answered", False, f"answered {e.answered}", "the answer action did not run in this turn")
    ok = any(flags) == e.answered
    detail = "" if ok else ("it answered from the knowledge files" if any(flags) else "it found no reliable answer")
    return Check("answered", ok, f"answered {e.answered}", detail)


def check_buttons(e: Expect, r: Reply) -> Check:
    """Every expected button (title or payload) is offered."""
    offered = {str(b.get("title")) for b in r.buttons} | {str(b.get("payload")) for b in r.buttons}
    missing = [b for b in e.buttons if b not in offered]
    detail = f"not offered: {missing}; buttons offered: {_button_names(r)}" if missing else ""
    return Check("buttons", not missing, f"buttons {e.buttons}", detail)


def check_no_buttons(e: Expect, r: Reply) -> Check:
    """No button is offered."""
    ok = not e.no_buttons or not r.buttons
    return Check("no_buttons", ok, f"no_buttons {e.no_buttons}", "" if ok else f"buttons offered: {_button_names(r)}")


def _needs_tracker(key: str, expected: str, r: Reply) -> Check | None:
    if r.tracker is None:
        return Check(key, False, expected, "no tracker: start Rasa with --enable-api (the runner's own stack does)")
    return None


def check_intent(e: Expect, r: Reply) -> Check:
    """NLU's intent for the user's message is one of the expected ones."""
    expected = f"intent {' or '.join(e.intent)}"
    if missing := _needs_tracker("intent", expected, r):
        return missing
    name, confidence = r.intent
    ok = name in e.intent
    return Check("intent", ok, expected, "" if ok else f"NLU said {name} ({confidence or 0:.2f})")


def check_actions(e: Expect, r: Reply) -> Check:
    """Every expected action ran in this turn."""
    expected = f"actions {e.actions}"
    if missing := _needs_tracker("actions", expected, r):
        return missing
    absent = [a for a in e.actions if a not in r.actions]
    return Check("actions", not absent, expected, f"did not run {absent}; ran {r.actions}" if absent else "")


def check_not_actions(e: Expect, r: Reply) -> Check:
    """None of these actions ran in this turn."""
    expected = f"not_actions {e.not_actions}"
    if missing := _needs_tracker("not_actions", expected, r):
        return missing
    ran = [a for a in e.not_actions if a in r.actions]
    return Check("not_actions", not ran, expected, f"ran {ran}" if ran else "")


def check_slots(e: Expect, r: Reply) -> Check:
    """Slots have the expected values after the turn."""
    expected = f"slots {e.slots}"
    if missing := _needs_tracker("slots", expected, r):
        return missing
    slots = r.slots
    wrong = [f"{k} is {slots.get(k)!r}, not {v!r}" for k, v in e.slots.items() if not _same(slots.get(k), v)]
    return Check("slots", not wrong, expected, "; ".join(wrong))


def check_case_created(e: Expect, r: Reply, before: Reply | None) -> Check:
    """A new case id in the `case_id` slot after this turn and, when the store is known, the stored
    case of this conversation with the expected fields; or (created: false) no new case."""
    want: CaseExpect = e.case_created or CaseExpect(created=False)
    fields = want.fields()
    expected = f"case_created {fields or want.created}"
    if missing := _needs_tracker("case_created", expected, r):
        return missing
    old = (before.slots if before else {}).get("case_id")
    new = r.slots.get("case_id")
    created = bool(new) and new != old
    stored_before = {c["case_no"] for c in (before.cases or [])} if before else set()
    opened = [c for c in r.cases or [] if c["case_no"] not in stored_before]
    if not want.created:
        ok = not created and not opened
        detail = "" if ok else f"a case was opened: {new or opened[0]['case_no']}"
        return Check("case_created", ok, expected, detail)
    if not created:
        return Check("case_created", False, expected, f"the case_id slot did not get a new case id (it is {new!r})")
    if r.cases is None:
        if fields:
            return Check(
                "case_created", False, expected, f"{new} was opened, but the case store is unknown (--database-url)"
            )
        return Check("case_created", True, expected, f"{new} (the store was not checked: no --database-url)")
    case = next((c for c in r.cases if c["case_no"] == new), None)
    if case is None:
        return Check(
            "case_created", False, expected, f"the slot says {new}, but this conversation has no such case in the store"
        )
    wrong = []
    for key, value in fields.items():
        if key == "min_offers":
            if case["offers"] < value:
                wrong.append(f"offered to {case['offers']} experts, fewer than {value}")
        elif not _same(case.get(key), value):
            wrong.append(f"{key} is {case.get(key)!r}, not {value!r}")
    return Check("case_created", not wrong, expected, "; ".join(wrong) or f"{new} stored")


def check_max_seconds(e: Expect, r: Reply) -> Check:
    """The reply came within the time limit."""
    ok = r.seconds <= (e.max_seconds or 0)
    return Check("max_seconds", ok, f"replies within {e.max_seconds} s", "" if ok else f"took {r.seconds:.2f} s")


def check_replied(e: Expect, r: Reply) -> Check:
    """The bot said something (unless the turn allows silence)."""
    ok = e.silent or bool(r.messages)
    return Check(
        "replied",
        ok,
        "the bot replies" if not e.silent else "the bot may stay silent",
        "" if ok else "the bot said nothing",
    )


SIMPLE: dict[str, Callable[[Expect, Reply], Check]] = {
    "contains": check_contains,
    "contains_any": check_contains_any,
    "not_contains": check_not_contains,
    "language": check_language,
    "cites": check_cites,
    "cites_any": check_cites_any,
    "not_cites": check_not_cites,
    "no_citations": check_no_citations,
    "answered": check_answered,
    "buttons": check_buttons,
    "no_buttons": check_no_buttons,
    "intent": check_intent,
    "actions": check_actions,
    "not_actions": check_not_actions,
    "slots": check_slots,
    "max_seconds": check_max_seconds,
}


def run_checks(expect: Expect, reply: Reply, before: Reply | None, default_line: int = 0) -> list[Check]:
    """Every expectation the evaluator wrote for a turn (plus "the bot replies"), checked on its reply."""
    replied = check_replied(expect, reply)
    checks = [Check(replied.key, replied.ok, replied.expected, replied.detail, default_line)]
    for key in expect.written_keys():
        if key == "silent":
            continue
        check = check_case_created(expect, reply, before) if key == "case_created" else SIMPLE[key](expect, reply)
        checks.append(Check(check.key, check.ok, check.expected, check.detail, expect.line(key, default_line)))
    return checks
