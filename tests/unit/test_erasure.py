"""Erasing a form entry the user was told is not kept, on event dictionaries as Rasa serialises them."""

from __future__ import annotations

import copy
import json

from actions.erasure import ERASED, FORGET_SLOT, erase_forgotten_entries

FORMS = {"case_form": ["case_enterprise", "case_contact", "case_consent"]}


def user(text: str, intent: str = "inform", entities: list | None = None) -> dict:
    parse = {"text": text, "intent": {"name": intent, "confidence": 0.9}, "entities": entities or []}
    return {"event": "user", "text": text, "parse_data": parse, "input_channel": "rest"}


def bot(text: str) -> dict:
    return {"event": "bot", "text": text, "data": {"buttons": [{"title": "ok", "payload": "/affirm"}]}}


def slot(name: str, value) -> dict:
    return {"event": "slot", "name": name, "value": value}


def loop(name: str | None) -> dict:
    return {"event": "active_loop", "name": name}


def refused_intake() -> list[dict]:
    return [
        user("hello", "greet"),
        bot("Hello!"),
        slot("language", "en"),
        user("I need an expert", "report_case"),
        loop("case_form"),
        bot("Step 1: your company?"),
        user("Example Foods Ltd."),
        slot("case_enterprise", "Example Foods Ltd."),
        user("ops@example.com", entities=[{"entity": "email", "value": "ops@example.com"}]),
        slot("case_contact", "email:ops@example.com"),
        slot("language", "en"),
        user("No", "deny"),
        slot("case_consent", False),
        loop(None),
        {"event": "action", "name": "action_submit_case"},
        bot("Without your consent to share, no case was opened and nothing was stored."),
        slot("case_enterprise", None),
        slot("case_contact", None),
        slot(FORGET_SLOT, "case_form"),
    ]


def test_a_refused_intake_leaves_no_trace_of_what_was_typed():
    events = refused_intake()
    assert erase_forgotten_entries(events, FORMS) > 0
    stored = json.dumps(events)
    assert "Example Foods" not in stored and "ops@example.com" not in stored
    assert [e["text"] for e in events if e["event"] == "user"][2:] == [ERASED, ERASED, ERASED]


def test_what_came_before_the_form_and_the_other_slots_are_kept():
    events = refused_intake()
    erase_forgotten_entries(events, FORMS)
    assert events[0]["text"] == "hello" and events[3]["text"] == "I need an expert"
    assert [e["value"] for e in events if e.get("name") == "language"] == ["en", "en"]
    # The intents stay, so the conversation replays to the same state.
    assert [e["parse_data"]["intent"]["name"] for e in events if e["event"] == "user"][2:] == [
        "inform",
        "inform",
        "deny",
    ]


def test_erasing_twice_changes_nothing_more():
    events = refused_intake()
    erase_forgotten_entries(events, FORMS)
    once = copy.deepcopy(events)
    assert erase_forgotten_entries(events, FORMS) == 0
    assert events == once


def test_a_completed_intake_is_kept():
    events = refused_intake()[:-1]
    assert erase_forgotten_entries(events, FORMS) == 0
    assert "ops@example.com" in json.dumps(events)


def test_only_the_last_run_of_the_form_is_erased():
    kept = [loop("case_form"), user("Kept Co."), slot("case_enterprise", "Kept Co."), loop(None)]
    events = kept + refused_intake()
    erase_forgotten_entries(events, FORMS)
    assert events[1]["text"] == "Kept Co." and events[2]["value"] == "Kept Co."
    assert "Example Foods" not in json.dumps(events)


def test_an_activation_logged_again_in_the_same_run_does_not_shorten_the_erasure():
    events = refused_intake()
    events.insert(10, loop("case_form"))  # after the contact, before the refusal
    erase_forgotten_entries(events, FORMS)
    assert "Example Foods" not in json.dumps(events)


def test_a_forget_without_a_form_run_erases_nothing():
    events = [user("hi", "greet"), slot(FORGET_SLOT, "case_form")]
    assert erase_forgotten_entries(events, FORMS) == 0
    assert events[0]["text"] == "hi"


def test_the_embedding_of_an_erased_entry_goes_too():
    from actions.question_vector import PARSE_KEY, encode

    events = refused_intake()
    contact = next(e for e in events if e.get("text") == "ops@example.com")
    contact["parse_data"][PARSE_KEY] = encode([0.6, 0.8])
    erase_forgotten_entries(events, FORMS)
    assert PARSE_KEY not in contact["parse_data"]
