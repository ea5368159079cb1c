"""Rasa actions for market alerts: subscribing (a short form: market, industry), listing and
unsubscribing in chat, showing a web conversation its new alerts at its next message, and the
mention of active alerts that other answers add.

Alerts for Telegram conversations (tg-<chat id>) are delivered by the notifier; those for web and
REST conversations are shown by `ActionShowNewAlerts`, which Rasa runs on every user message (as
its global slot-validation hook, `action_validate_slot_mappings`), before the bot's reply — and with
them the messages the expert who has the conversation's case wrote to it.
"""

from __future__ import annotations

import asyncio
import re
from abc import ABC
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy.exc import SQLAlchemyError

from actions.alerts.service import (
    Alert,
    active_alerts_for,
    claim_web_alerts,
    publish_alerts,
    subscribe,
    subscriptions_of,
    unsubscribe,
)
from actions.cases.service import claim_web_replies
from actions.channels import channel_of
from actions.dialogue.common import (
    MARKET_BUTTONS,
    MAX_MARKETS,
    AskSlotAction,
    BaseAction,
    FormSlotsValidation,
    alert_summary,
    current_alerts,
    entity_values,
    language_of,
    named_markets,
    read_markets,
    user_text,
)
from actions.messages import t
from actions.privacy import get_logger
from actions.settings import get_settings
from actions.store import migrated, session_scope
from actions.vocab import (
    ALL_INDUSTRIES,
    MARKETS,
    industry_choice,
    industry_code,
    industry_name,
    join_names,
    market_code,
    market_name,
    market_suggestions,
)

logger = get_logger(__name__)

ALERT_SLOTS = ("alert_markets", "alert_industry")
# Industries offered as buttons (codes of actions.vocab.INDUSTRY_NAMES), "all" first.
INDUSTRY_BUTTONS = (
    "all",
    "machinery",
    "electronics",
    "home_appliances",
    "lighting",
    "textiles",
    "furniture",
    "toys",
    "chemicals",
    "food",
    "auto_parts",
)
_ALL_WORDS = re.compile(r"全部|所有|都退|\ball\b|everything|every", re.I)


# ---- the alert files, as the action server sees them ----------------------------------------------------


# ---- reading a market answer ----------------------------------------------------------------------------


def what(markets: list[str], industry: str, lang: str) -> str:
    """'日本、韩国（全部行业）' / 'Japan, Korea (all industries)'."""
    names = join_names([market_name(m, lang) for m in markets], lang)
    label = industry_name(industry, lang)
    return f"{names}（{label}）" if lang == "zh" else f"{names} ({label.lower()})"


# ---- subscribing --------------------------------------------------------------------------------------
def _reset() -> list[EventType]:
    return [SlotSet(s, None) for s in ALERT_SLOTS]


class ActionStartAlertSubscription(BaseAction):
    """Starts the subscription form, keeping what the request already said (market, industry)."""

    def name(self) -> str:
        return "action_start_alert_subscription"

    async def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        events = _reset()
        markets = named_markets(tracker)
        if markets:
            events.append(SlotSet("alert_markets", ",".join(markets[:MAX_MARKETS])))
        else:
            lang = language_of(tracker)
            for value in entity_values(tracker, "country"):
                if suggestions := market_suggestions(value):  # "Koreaa": offer the closest names
                    names = join_names([market_name(c, lang) for c in suggestions], lang)
                    dispatcher.utter_message(
                        text=f"{t('alerts.bad_market', lang, text=value)} {t('alerts.suggest', lang, names=names)}",
                        buttons=[
                            {"title": market_name(c, lang), "payload": f'/inform{{"country":"{c}"}}'}
                            for c in suggestions
                        ],
                    )
                    break
        text = user_text(tracker)
        industry = industry_code(text) if not text.startswith("/") else None
        if industry:
            events.append(SlotSet("alert_industry", industry))
        return events


class ValidateAlertSubscriptionForm(FormSlotsValidation):
    """Checks the market and industry answers of the subscription form."""

    form_slots = frozenset(ALERT_SLOTS)

    def name(self) -> str:
        return "validate_alert_subscription_form"

    async def validate_alert_markets(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        lang = language_of(tracker)
        if isinstance(value, str) and value and all(c in MARKETS for c in value.split(",")):
            return {"alert_markets": value}  # already codes (filled from the request)
        codes, message, buttons = read_markets(value, tracker, lang)
        if codes is None:
            dispatcher.utter_message(text=message, buttons=buttons)
            return {"alert_markets": None}
        return {"alert_markets": ",".join(codes)}

    async def validate_alert_industry(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        text = str(value or "")
        choices = entity_values(tracker, "choice") if text.startswith("/") else [text]
        code = next((c for v in choices if (c := industry_choice(v)) and c != "other"), None)
        if code:
            return {"alert_industry": code}
        dispatcher.utter_message(text=t("alerts.bad_industry", language_of(tracker)))
        return {"alert_industry": None}


class ActionSubscribeAlerts(BaseAction):
    """Saves the subscription and at once queues the alerts already active for it."""

    def name(self) -> str:
        return "action_subscribe_alerts"

    async def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        lang = language_of(tracker)
        markets = [m for m in str(tracker.get_slot("alert_markets") or "").split(",") if m]
        industry = tracker.get_slot("alert_industry") or ALL_INDUSTRIES
        if not markets:
            return _reset()
        try:
            added, shown, queued = await asyncio.to_thread(self._subscribe, tracker.sender_id, markets, industry, lang)
        except (SQLAlchemyError, OSError):
            logger.exception("subscription could not be saved")
            dispatcher.utter_message(text=t("alerts.db_down", lang))
            return _reset()
        channel, _ = channel_of(tracker.sender_id)
        lines = []
        if added:
            lines.append(t("alerts.subscribed", lang, what=what(added, industry, lang)))
        if kept := [m for m in markets if m not in added]:
            lines.append(t("alerts.already", lang, what=what(kept, industry, lang)))
        lines.append(t("alerts.where_telegram" if channel == "telegram" else "alerts.where_web", lang))
        if channel == "telegram" and queued:
            lines.append(t("alerts.current_telegram", lang, n=queued))
        elif shown:
            lines.append(t("alerts.current_web", lang))
        else:
            lines.append(t("alerts.none_current", lang))
        lines.insert(len(lines) - (1 if shown else 0), t("alerts.manage", lang))
        dispatcher.utter_message(
            text="\n".join(lines),
            json_message={"subscribed": markets, "industry": industry, "channel": channel},
        )
        for payload in shown:  # a web conversation sees the alerts already active right away
            dispatcher.utter_message(text=payload["text"], json_message={"alert_id": payload["alert_id"]})
        return _reset()

    @staticmethod
    def _subscribe(sender_id: str, markets: list[str], industry: str, lang: str) -> tuple[list[str], list[dict], int]:
        url = get_settings().database_url
        migrated(url)
        with session_scope(url) as session:
            added = subscribe(session, sender_id, markets, industry, lang)
        queued = sum(publish_alerts(url, current_alerts(), sender_id=sender_id).values())
        shown: list[dict] = []
        if channel_of(sender_id)[0] == "web":
            with session_scope(url) as session:
                shown = claim_web_alerts(session, sender_id)
        return added, shown, queued


class ActionCancelAlertSubscription(BaseAction):
    """Stops the subscription form; nothing is saved."""

    def name(self) -> str:
        return "action_cancel_alert_subscription"

    async def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        dispatcher.utter_message(text=t("alerts.cancelled", language_of(tracker)))
        return [ActiveLoop(None), *_reset(), SlotSet("requested_slot", None)]


class ActionUnsubscribeAlerts(BaseAction):
    """Cancels subscriptions: for the markets (or industry) named, all of them, or asks which."""

    def name(self) -> str:
        return "action_unsubscribe_alerts"

    async def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        lang = language_of(tracker)
        text = user_text(tracker)
        markets = named_markets(tracker)
        industry = industry_code(text) if not text.startswith("/") else None
        everything = "all" in entity_values(tracker, "choice") or (
            bool(_ALL_WORDS.search(text)) and not markets and not industry
        )
        unknown = [v for v in entity_values(tracker, "country") if not (v in MARKETS or market_code(v))]
        try:
            reply = await asyncio.to_thread(
                self._unsubscribe, tracker.sender_id, markets, industry, everything, bool(unknown), lang
            )
        except (SQLAlchemyError, OSError):
            logger.exception("unsubscribe failed")
            dispatcher.utter_message(text=t("alerts.db_down", lang))
            return []
        message, buttons = reply
        if unknown and not markets:
            suggestions = market_suggestions(unknown[0])
            if suggestions:
                names = join_names([market_name(c, lang) for c in suggestions], lang)
                message = f"{t('alerts.bad_market', lang, text=unknown[0])} {t('alerts.suggest', lang, names=names)}\n{message}"
        dispatcher.utter_message(text=message, buttons=buttons)
        return []

    @staticmethod
    def _unsubscribe(
        sender_id: str, markets: list[str], industry: str | None, everything: bool, unknown: bool, lang: str
    ) -> tuple[str, list[dict[str, str]]]:
        url = get_settings().database_url
        migrated(url)
        with session_scope(url) as session:
            current = subscriptions_of(session, sender_id)
            if not current:
                return t("alerts.no_subscription", lang), []
            listing = "；".join if lang == "zh" else "; ".join
            now = listing([what([s.market], s.industry, lang) for s in current])
            if everything or (len(current) == 1 and not markets and not industry and not unknown):
                gone = unsubscribe(session, sender_id)
            elif markets or industry:
                gone = unsubscribe(session, sender_id, markets or None, industry)
                if not gone:
                    asked = join_names([market_name(m, lang) for m in markets], lang) if markets else ""
                    if industry:
                        asked = f"{asked} {industry_name(industry, lang)}".strip()
                    return t("alerts.not_subscribed", lang, what=asked, current=now), []
            else:
                buttons = [
                    {"title": market_name(m, lang), "payload": f'/unsubscribe_alerts{{"country":"{m}"}}'}
                    for m in dict.fromkeys(s.market for s in current)
                ]
                buttons.append({"title": t("alerts.all", lang), "payload": '/unsubscribe_alerts{"choice":"all"}'})
                return (
                    f"{t('alerts.which', lang)}（{now}）" if lang == "zh" else f"{t('alerts.which', lang)} ({now})",
                    buttons,
                )
            done = listing([what([s.market], s.industry, lang) for s in gone])
            return t("alerts.unsubscribed", lang, what=done), []


class ActionListAlerts(BaseAction):
    """Shows a conversation its subscriptions and the active alerts for them."""

    def name(self) -> str:
        return "action_list_alerts"

    async def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        lang = language_of(tracker)
        try:
            subs = await asyncio.to_thread(self._subscriptions, tracker.sender_id)
        except (SQLAlchemyError, OSError):
            logger.exception("listing subscriptions failed")
            dispatcher.utter_message(text=t("alerts.db_down", lang))
            return []
        if not subs:
            dispatcher.utter_message(text=t("alerts.no_subscription", lang), json_message={"subscriptions": []})
            return []
        lines = [t("alerts.list", lang), *(f"· {what([m], i, lang)}" for m, i in subs)]
        alerts = current_alerts()
        found: dict[str, Alert] = {}
        for market, industry in subs:
            for a in active_alerts_for(alerts, [market], [industry]):
                found.setdefault(a.id, a)
        lines.append("")
        if found:
            lines += [t("alerts.list_alerts", lang), *(alert_summary(a, lang) for a in found.values())]
        else:
            lines.append(t("alerts.none_current", lang))
        lines.append(t("alerts.manage", lang))
        dispatcher.utter_message(
            text="\n".join(lines),
            json_message={"subscriptions": [{"market": m, "industry": i} for m, i in subs], "alerts": list(found)},
        )
        return []

    @staticmethod
    def _subscriptions(sender_id: str) -> list[tuple[str, str]]:
        url = get_settings().database_url
        migrated(url)
        with session_scope(url) as session:
            return [(s.market, s.industry) for s in subscriptions_of(session, sender_id)]


class ActionShowNewAlerts(Action):
    """Shows a web or REST conversation what came for it since its last message, once each: the alerts
    published and the messages of the expert who has its case (actions/cases/service.py `expert_reply`).

    Registered under the name Rasa gives its global slot-validation hook, which Rasa runs on every
    user message (before predicting the reply) and whose messages it sends: that makes it the one
    action that sees every turn. It validates no slot (returns no event, so every extracted slot
    stays as it is) and deliberately does not set the action-server reply marker, which tells
    whether the action that answers the message ran.
    """

    def name(self) -> str:
        return "action_validate_slot_mappings"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        if channel_of(tracker.sender_id)[0] != "web":
            return []
        try:
            shown, replies = await asyncio.to_thread(self._claim, tracker.sender_id)
        except (SQLAlchemyError, OSError):
            logger.exception("could not read a conversation's alert inbox")  # no sender id: it names a Telegram chat
            return []
        for payload in shown:
            lang = payload.get("language", "en")
            dispatcher.utter_message(
                text=f"{t('alerts.new_alert', lang)}\n{payload['text']}", json_message={"alert_id": payload["alert_id"]}
            )
        for payload in replies:
            dispatcher.utter_message(text=payload["text"], json_message={"case_no": payload["case_no"]})
        return []

    @staticmethod
    def _claim(sender_id: str) -> tuple[list[dict], list[dict]]:
        url = get_settings().database_url
        migrated(url)
        with session_scope(url) as session:
            return claim_web_alerts(session, sender_id), claim_web_replies(session, sender_id)


# ---- the subscription form's questions -----------------------------------------------------------------
class _AskAlertSlot(AskSlotAction, ABC):
    """Asks one question of the subscription form."""

    async def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        lang = language_of(tracker)
        if self.slot == "alert_markets":
            buttons = [
                {"title": market_name(c, lang), "payload": f'/inform{{"country":"{c}"}}'} for c in MARKET_BUTTONS
            ]
            dispatcher.utter_message(text=t("alerts.ask_markets", lang), buttons=buttons)
        else:
            buttons = [
                {"title": industry_name(c, lang), "payload": f'/inform{{"choice":"{c}"}}'} for c in INDUSTRY_BUTTONS
            ]
            dispatcher.utter_message(text=t("alerts.ask_industry", lang), buttons=buttons)
        return []


class ActionAskAlertMarkets(_AskAlertSlot):
    """Asks which markets to subscribe to."""

    def name(self) -> str:
        return "action_ask_alert_markets"


class ActionAskAlertIndustry(_AskAlertSlot):
    """Asks which industry to subscribe to."""

    def name(self) -> str:
        return "action_ask_alert_industry"
