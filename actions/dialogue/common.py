"""What the custom actions share: the reply marker, the user's language and text, the ask-action base,
and what several capabilities do alike — offer a case, mention active alerts, read the markets named."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.alerts.service import Alert, active_alerts_for, alerts_signature, has_errors, load_alerts
from actions.language import EN, detect_language
from actions.messages import buttons_of, t
from actions.privacy import get_logger
from actions.safe_text import bound_text, clean_text, max_message_chars
from actions.settings import PROJECT_ROOT, get_settings
from actions.vocab import (
    ALL_INDUSTRIES,
    INCIDENTS,
    MARKETS,
    incident_code,
    ip_type_code,
    join_names,
    market_code,
    market_codes,
    market_name,
    market_suggestions,
)
from actions.vocab import IP_TYPES as IP_TYPE_CODES
from actions.vocab import MARKETS as MARKET_CODES

logger = get_logger(__name__)

SLOT_LANGUAGE = "language"
# Set to "pending" by every user message (domain slot mapping) and to "received" by every custom
# action: a rule answers "temporarily unavailable" when a custom action left it pending.
SLOT_ACTION_REPLY = "action_server_reply"
REPLY_RECEIVED = "received"
# What the NLU's first component (bot/components/message_bounds.py) records when it cut a message.
TEXT_BOUNDS = "text_bounds"


@lru_cache(maxsize=1)
def message_limit() -> int:
    """How many characters of a message the bot reads (the MAX_MESSAGE_CHARS setting, read once)."""
    return max_message_chars()


def user_text(tracker: Tracker) -> str:
    """The user's latest message as the bot reads it: printable text of at most MAX_MESSAGE_CHARS characters."""
    return bound_text(tracker.latest_message.get("text"), message_limit()).text


def received_chars(tracker: Tracker) -> int:
    """How many characters the user's latest message had when it arrived (before the NLU cut it, if it did)."""
    bounds = tracker.latest_message.get(TEXT_BOUNDS)
    received = bounds.get("received_chars") if isinstance(bounds, dict) else None
    if isinstance(received, int):
        return received
    return len(clean_text(tracker.latest_message.get("text")))


def language_of(tracker: Tracker) -> str:
    """The language to reply in: the `language` slot, else detected from the last message."""
    slot = tracker.get_slot(SLOT_LANGUAGE)
    if slot in ("zh", "en"):
        return slot
    return detect_language(user_text(tracker)) or EN


class BaseAction(Action, ABC):
    """Base of every custom action: records that the action server answered this turn."""

    @abstractmethod
    def name(self) -> str: ...

    @abstractmethod
    async def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        """What the action does; its events are returned with the reply marker."""

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        events = await self.act(dispatcher, tracker, domain)
        return [*events, SlotSet(SLOT_ACTION_REPLY, REPLY_RECEIVED)]


class AskSlotAction(BaseAction, ABC):
    """Asks a form's question for one slot; the action's name is `action_ask_<slot>` (one subclass per slot)."""

    @property
    def slot(self) -> str:
        """The form slot this action asks for, read from the action's name."""
        return self.name().removeprefix("action_ask_")


class FormSlotsValidation(FormValidationAction, ABC):
    """A form's validation that returns only the form's own slots (abstract: one subclass per form).

    rasa-sdk echoes every slot set this turn (such as `language`), which would make Rasa believe the
    user answered the form when they asked a question instead, so the form would never hand over to
    the question's rule.
    """

    @property
    @abstractmethod
    def form_slots(self) -> frozenset[str]:
        """The slots the form fills."""

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        events = await super().run(dispatcher, tracker, domain)
        own = {*self.form_slots, "requested_slot"}
        return [e for e in events if e.get("event") != "slot" or e.get("name") in own]


# ---- what several capabilities' actions do: offer a case, mention alerts, read the markets named ----------
MAX_MARKETS = 5
MENTION_LIMIT = 3
MARKET_BUTTONS = ("JP", "KR", "US", "EU", "DE", "VN")
SLOT_OFFERED = "case_offered"
INCIDENT_CODES = frozenset(INCIDENTS)


@lru_cache(maxsize=4)
def _alerts(folder: str, signature: tuple, day: date) -> tuple[Alert, ...]:
    alerts, problems = load_alerts(Path(folder), PROJECT_ROOT, day)
    if has_errors(problems):
        for p in problems:
            logger.error("alert files: %s", p)
        logger.error("alert files have errors: no alert is used until they are fixed")
        return ()
    return tuple(alerts)


def current_alerts() -> list[Alert]:
    """The alert files, re-read when they change; none at all while any file is invalid."""
    folder = get_settings().alerts_dir
    return list(_alerts(str(folder), alerts_signature(folder), date.today()))


def alert_summary(alert: Alert, lang: str) -> str:
    """One line about an alert: its title and how long it is valid."""
    return (
        f"· {getattr(alert.title, lang)}（{t('alerts.valid_until', lang, date=alert.valid_until)}）"
        if lang == "zh"
        else (f"· {alert.title.en} ({t('alerts.valid_until', lang, date=alert.valid_until)})")
    )


def mention_alerts(alerts: list[Alert], markets: list[str], industry: str | None, lang: str) -> str | None:
    """The note an answer or a self-check adds about active alerts for the markets (or industry) named."""
    if markets:
        found = active_alerts_for(alerts, markets, [industry] if industry else [])
    elif industry:
        found = [a for a in active_alerts_for(alerts, MARKETS) if industry in a.industries]
    else:
        return None
    if not found:
        return None
    lines = [t("alerts.mention", lang), *(alert_summary(a, lang) for a in found[:MENTION_LIMIT])]
    market = next((m for m in markets if found[0].covers(m, ALL_INDUSTRIES)), found[0].markets[0])
    lines.append(t("alerts.mention_subscribe", lang, market=market_name(market, lang)))
    return "\n".join(lines)


def named_markets(tracker: Tracker) -> list[str]:
    """The markets the latest message names (entities and names in its text).

    A two-letter entity counts only if the user wrote it in capitals ("US", not the "us" of "for us").
    """
    text = user_text(tracker)
    codes = market_codes(text)
    for e in tracker.latest_message.get("entities", []):
        if e.get("entity") != "country":
            continue
        start, end = e.get("start"), e.get("end")
        written = text[start:end] if isinstance(start, int) and isinstance(end, int) else str(e.get("value") or "")
        if len(written.strip()) <= 2 and written.isascii() and written != written.upper():
            continue
        value = str(e.get("value") or "")
        code = value if value in MARKETS else market_code(value)
        if code and code not in codes:
            codes.append(code)
    return codes


def entity_values(tracker: Tracker, entity: str) -> list[str]:
    """The values of one entity in the latest message (button payloads carry them)."""
    return [str(e.get("value")) for e in tracker.latest_message.get("entities", []) if e.get("entity") == entity]


def read_markets(value: Any, tracker: Tracker, lang: str) -> tuple[list[str] | None, str, list[dict[str, str]]]:
    """The markets a form answer names; else (None, a message saying what is wrong, suggestion buttons)."""
    text = str(value or "").strip()
    if text.startswith("/"):  # a button: its country entities
        codes = [c for c in (v if v in MARKETS else market_code(v) for v in entity_values(tracker, "country")) if c]
        unknown: list[str] = []
    else:
        codes = market_codes(text)
        for v in entity_values(tracker, "country"):
            code = v if v in MARKETS else market_code(v)
            if code and code not in codes:
                codes.append(code)
        pieces = [p.strip(" .。!！?？") for p in re.split(r"[、,，;；/&和与及跟]|\band\b|\bor\b", text)]
        unknown = [p for p in pieces if p and " " not in p and not market_codes(p) and not market_code(p)]
        unknown = [piece for piece in unknown if market_suggestions(piece)] if codes else unknown
    if unknown or not codes:
        piece = unknown[0] if unknown else text
        suggestions = market_suggestions(piece) if piece else []
        message = t("alerts.bad_market", lang, text=piece) if piece and not piece.startswith("/") else ""
        if suggestions:
            names = join_names([market_name(c, lang) for c in suggestions], lang)
            message = f"{message} {t('alerts.suggest', lang, names=names)}".strip()
        else:
            message = f"{message} {t('alerts.no_market', lang)}".strip()
        buttons = [{"title": market_name(c, lang), "payload": f'/inform{{"country":"{c}"}}'} for c in suggestions]
        return None, message, buttons
    if len(codes) > MAX_MARKETS:
        return None, t("alerts.too_many", lang, n=MAX_MARKETS), []
    return codes, "", []


def offer_case(
    dispatcher: CollectingDispatcher, tracker: Tracker, lang: str, incident: str | None = None
) -> list[EventType]:
    """Offers to open a case, pre-filling what the message already told (country, IP, incident;
    `incident` when the caller recognised one the vocabulary does not name)."""
    dispatcher.utter_message(
        text=t("cases.offer", lang),
        buttons=buttons_of("cases.offer", lang),
    )
    events: list[EventType] = [SlotSet(SLOT_OFFERED, True)]
    text = user_text(tracker)
    found = {
        "case_country": _first_code(tracker, "country", market_code) or market_code(text),
        "case_ip_type": _first_code(tracker, "ip_type", ip_type_code),
        "case_incident": _first_code(tracker, "incident_type", incident_code) or incident_code(text) or incident,
    }
    events += [SlotSet(slot, value) for slot, value in found.items() if value]
    return events


def _first_code(tracker: Tracker, entity: str, to_code: Any) -> str | None:
    """The first value of an entity that names a known code (DIET may add partial duplicates)."""
    for e in tracker.latest_message.get("entities", []):
        if e.get("entity") == entity and (
            code := to_code(str(e.get("value") or "")) or _as_code(entity, e.get("value"))
        ):
            return code
    return None


def _as_code(entity: str, value: Any) -> str | None:
    codes = {"incident_type": INCIDENT_CODES, "ip_type": frozenset(IP_TYPE_CODES), "country": frozenset(MARKET_CODES)}
    return value if value in codes.get(entity, ()) else None


def should_offer(tracker: Tracker, incident: str | None = None) -> bool:
    """A reported incident, or a question that names one (警告函, customs, lawsuit …; `incident`
    when the caller recognised one in other words, e.g. through the glossary)."""
    intent = (tracker.latest_message.get("intent") or {}).get("name")
    if intent == "report_case":
        return True
    if tracker.get_slot(SLOT_OFFERED) or tracker.active_loop.get("name"):
        return False
    entities = [e for e in tracker.latest_message.get("entities", []) if e.get("entity") == "incident_type"]
    named = bool(entities) or incident is not None or incident_code(user_text(tracker)) is not None
    return named and intent in ("ask_question", "inform", "nlu_fallback")
