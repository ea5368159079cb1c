"""Erases from a conversation's history what a user typed into a form the bot then said it did not keep.

When the case intake ends without a case (consent refused, cancelled, the database unavailable), the
bot tells the user that nothing was stored. Resetting the slots is not enough for that to be true:
Rasa's tracker still holds every message and every slot value of the intake (company, contact,
description). The action that says so also sets the ``FORGET_SLOT`` slot to the form's name; the
tracker store (bot/tracker_store.py) then runs ``erase_forgotten_entries`` over the events before it
saves them. Rasa-free (event dictionaries as Rasa serialises them), so it is unit-tested on Python 3.11.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from actions.question_vector import PARSE_KEY as EMBEDDING_KEY

FORGET_SLOT = "forget_form"
ERASED = "[erased]"

Event = dict[str, Any]


def erase_forgotten_entries(events: list[Event], form_slots: Mapping[str, Collection[str]]) -> int:
    """Erases, in place, each forgotten form entry: from the form's last activation before the
    ``FORGET_SLOT`` event to that event, user texts and entities, bot texts and data, and the values of
    the form's slots. Returns how many events were changed (0 when there is nothing left to erase).
    Replaying the events gives the same slots as before: the action that forgets also resets them."""
    changed = 0
    for end, event in enumerate(events):
        form = _forgotten_form(event)
        if form is None:
            continue
        start = _last_activation(events, form, end)
        if start is None:
            continue
        slots = set(form_slots.get(form, ()))
        changed += sum(_erase(e, slots) for e in events[start + 1 : end])
    return changed


def _forgotten_form(event: Event) -> str | None:
    if event.get("event") == "slot" and event.get("name") == FORGET_SLOT and isinstance(event.get("value"), str):
        return event["value"]
    return None


def _last_activation(events: list[Event], form: str, before: int) -> int | None:
    """Where the form's last run began: its last activation before ``before``, moved back over any
    activation the same run logged again (no other loop and no deactivation in between)."""
    start = None
    for index in range(before - 1, -1, -1):
        event = events[index]
        if event.get("event") != "active_loop":
            continue
        if event.get("name") == form:
            start = index
        elif start is not None:
            break
    return start


def _erase(event: Event, form_slots: set[str]) -> bool:
    """Erases one event's personal content; False when it held none (or was already erased)."""
    kind = event.get("event")
    if kind == "user":
        before: tuple[Any, Any] = (event.get("text"), _entities(event))
        event["text"] = ERASED
        parse_data = event.get("parse_data")
        if isinstance(parse_data, dict):
            parse_data["text"] = ERASED
            parse_data["entities"] = []
            for key in ("text_tokens", "text_bounds", EMBEDDING_KEY):
                parse_data.pop(key, None)
        return before != (ERASED, [])
    if kind == "bot":
        before = (event.get("text"), event.get("data"))
        event["text"] = ERASED
        event["data"] = {}
        return before != (ERASED, {})
    if kind == "slot" and event.get("name") in form_slots and event.get("value") is not None:
        event["value"] = None
        return True
    return False


def _entities(event: Event) -> list[Any]:
    parse_data = event.get("parse_data")
    return list(parse_data.get("entities") or []) if isinstance(parse_data, dict) else []
