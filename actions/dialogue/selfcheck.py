"""Rasa actions of the export / trade-fair risk self-check: starting the form (keeping what the
request already said), checking each answer, asking each question, and the result — a risk level
per market with reasons and cited steps, relevant alerts, and an offer of an expert when it is high.

The scoring rules are staff-edited (knowledge/risk/selfcheck.yml, see actions/risk/rules.py); reading
the answers, scoring and the result text are in actions/risk/ (parsing.py, scoring.py, render.py).
"""

from __future__ import annotations

from abc import ABC
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import ActiveLoop, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.dialogue.common import (
    MARKET_BUTTONS,
    AskSlotAction,
    BaseAction,
    FormSlotsValidation,
    current_alerts,
    entity_values,
    language_of,
    mention_alerts,
    named_markets,
    offer_case,
    read_markets,
    user_text,
)
from actions.knowledge import knowledge_signature, load_knowledge
from actions.messages import group, message, t
from actions.privacy import get_logger
from actions.risk.parsing import (
    answers_from_slots,
    encode_map,
    parse_fair_date,
    parse_plans,
    parse_signals,
    parse_statuses,
)
from actions.risk.render import CitedSection, citation_index, render
from actions.risk.rules import IP_KINDS, IP_STATUSES, PLANS, SIGNALS, RiskRules, load_rules
from actions.risk.scoring import assess, needs_expert
from actions.settings import PROJECT_ROOT, get_settings
from actions.vocab import MARKETS, industry_choice, industry_code, industry_name, join_names, market_name

logger = get_logger(__name__)

SELFCHECK_SLOTS = (
    "selfcheck_markets",
    "selfcheck_industry",
    "selfcheck_plans",
    "selfcheck_fair_date",
    "selfcheck_trademark",
    "selfcheck_patent",
    "selfcheck_design",
    "selfcheck_signals",
)
INDUSTRY_BUTTONS = (
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
    "other",
)


# ---- the rules, as the action server sees them ----------------------------------------------------------
@lru_cache(maxsize=2)
def _rules(path: str, rules_mtime: int, knowledge: tuple) -> tuple[RiskRules | None, dict[str, CitedSection]]:
    documents, _ = load_knowledge(get_settings().knowledge_dir)  # cited as knowledge/…, like answers
    rules, problems = load_rules(Path(path), documents, PROJECT_ROOT)
    for p in problems:
        (logger.error if p.severity == "error" else logger.warning)("risk rules: %s", p)
    return rules, citation_index(documents)


def current_rules() -> tuple[RiskRules | None, dict[str, CitedSection]]:
    """The valid rules (None while the file has errors) and the citable sections, re-read on change."""
    settings = get_settings()
    path = settings.risk_rules_file
    mtime = path.stat().st_mtime_ns if path.exists() else 0
    return _rules(str(path), mtime, knowledge_signature(settings.knowledge_dir))


# ---- the form -------------------------------------------------------------------------------------------
def _markets(tracker: Tracker) -> list[str]:
    return [m for m in str(tracker.get_slot("selfcheck_markets") or "").split(",") if m]


def _market_names(tracker: Tracker, lang: str) -> str:
    names = [market_name(m, lang) for m in _markets(tracker)]
    return join_names(names, lang) if names else t("selfcheck.your_markets", lang)


def reset_selfcheck_slots() -> list[EventType]:
    """Forget the self-check answers."""
    return [SlotSet(s, None) for s in SELFCHECK_SLOTS]


class ActionStartSelfcheck(BaseAction):
    """Starts the self-check, keeping what the request already said (markets, plans, industry)."""

    def name(self) -> str:
        return "action_start_selfcheck"

    async def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        dispatcher.utter_message(text=t("selfcheck.start", language_of(tracker)))
        events = [*reset_selfcheck_slots(), SlotSet("case_offered", False)]
        text = user_text(tracker)
        if text.startswith("/"):
            return events
        if markets := named_markets(tracker):
            events.append(SlotSet("selfcheck_markets", ",".join(markets[:5])))
        if plans := parse_plans(text):
            events.append(SlotSet("selfcheck_plans", ",".join(plans)))
        if industry := industry_code(text):
            events.append(SlotSet("selfcheck_industry", industry))
        return events


def _choices(value: Any, tracker: Tracker) -> tuple[list[str], str]:
    """Button choices (the `choice` entities of a /payload) and the typed text."""
    text = str(value or "").strip()
    return (entity_values(tracker, "choice") if text.startswith("/") else []), text


class ValidateSelfcheckForm(FormSlotsValidation):
    """Checks each self-check answer; a bad one is asked again with an example."""

    form_slots = frozenset(SELFCHECK_SLOTS)

    def name(self) -> str:
        return "validate_selfcheck_form"

    async def required_slots(
        self, domain_slots: list[str], dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[str]:
        """The fair's date is asked only when a trade fair is planned."""
        plans = str(tracker.get_slot("selfcheck_plans") or "").split(",")
        return [s for s in domain_slots if s != "selfcheck_fair_date" or "trade_fair" in plans]

    async def validate_selfcheck_markets(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if isinstance(value, str) and value and all(c in MARKETS for c in value.split(",")):
            return {"selfcheck_markets": value}  # codes, filled from the request
        codes, message, buttons = read_markets(value, tracker, language_of(tracker))
        if codes is None:
            dispatcher.utter_message(text=message, buttons=buttons)
            return {"selfcheck_markets": None}
        return {"selfcheck_markets": ",".join(codes)}

    async def validate_selfcheck_industry(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        choices, text = _choices(value, tracker)
        code = next((c for v in choices or [text] if (c := industry_choice(v)) and c != "all"), None)
        if code:
            return {"selfcheck_industry": code}
        dispatcher.utter_message(text=t("selfcheck.bad_industry", language_of(tracker)))
        return {"selfcheck_industry": None}

    async def validate_selfcheck_plans(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        choices, text = _choices(value, tracker)
        plans = [c for c in choices if c in PLANS] or parse_plans(text)
        if plans:
            return {"selfcheck_plans": ",".join(plans)}
        dispatcher.utter_message(text=t("selfcheck.bad_plans", language_of(tracker)))
        return {"selfcheck_plans": None}

    async def validate_selfcheck_fair_date(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        lang = language_of(tracker)
        choices, text = _choices(value, tracker)
        parsed = "unknown" if "unknown" in choices else parse_fair_date(text, date.today())
        if parsed is None:
            dispatcher.utter_message(text=t("selfcheck.bad_date", lang))
            return {"selfcheck_fair_date": None}
        if parsed != "unknown" and parsed < date.today():
            dispatcher.utter_message(text=t("selfcheck.past_date", lang))
            return {"selfcheck_fair_date": None}
        return {"selfcheck_fair_date": parsed if parsed == "unknown" else parsed.isoformat()}

    async def _status(
        self, kind: str, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker
    ) -> dict[str, Any]:
        lang = language_of(tracker)
        markets = _markets(tracker)
        choices, text = _choices(value, tracker)
        choice = next((c for c in choices if c in IP_STATUSES), None)
        statuses = dict.fromkeys(markets, choice) if choice else parse_statuses(text, markets)
        if statuses:
            return {f"selfcheck_{kind}": encode_map(statuses)}
        if len(markets) > 1:
            a, b = market_name(markets[0], lang), market_name(markets[1], lang)
            dispatcher.utter_message(text=t("selfcheck.bad_status_markets", lang, a=a, b=b))
        else:
            dispatcher.utter_message(text=t("selfcheck.bad_status", lang))
        return {f"selfcheck_{kind}": None}

    async def validate_selfcheck_trademark(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return await self._status("trademark", value, dispatcher, tracker)

    async def validate_selfcheck_patent(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return await self._status("patent", value, dispatcher, tracker)

    async def validate_selfcheck_design(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return await self._status("design", value, dispatcher, tracker)

    async def validate_selfcheck_signals(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        markets = _markets(tracker)
        choices, text = _choices(value, tracker)
        picked = [c for c in choices if c in (*SIGNALS, "none")]
        signals = parse_signals("+".join(picked), markets) if picked else parse_signals(text, markets)
        if signals is not None:
            return {"selfcheck_signals": encode_map(signals)}
        dispatcher.utter_message(text=t("selfcheck.bad_signals", language_of(tracker)))
        return {"selfcheck_signals": None}


class ActionSubmitSelfcheck(BaseAction):
    """Scores the answers and shows the risk per market, the steps with citations, relevant alerts,
    and — when a market's risk is high — the offer to open a case with an expert."""

    def name(self) -> str:
        return "action_submit_selfcheck"

    async def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        lang = language_of(tracker)
        answers = answers_from_slots({s: tracker.get_slot(s) for s in SELFCHECK_SLOTS})
        rules, cites = current_rules()
        if rules is None or not answers.markets:
            dispatcher.utter_message(text=t("selfcheck.rules_broken", lang))
            return reset_selfcheck_slots()
        risks = assess(rules, answers, date.today())
        text, data = render(rules, risks, cites, lang)
        dispatcher.utter_message(text=text, json_message=data)
        if mention := mention_alerts(current_alerts(), list(answers.markets), answers.industry, lang):
            dispatcher.utter_message(text=mention)
        events = reset_selfcheck_slots()
        if needs_expert(rules, risks):
            worst = [r.market for r in risks if r.level == risks[0].level]
            dispatcher.utter_message(
                text=t("selfcheck.expert", lang, markets=join_names([market_name(m, lang) for m in worst], lang))
            )
            events += offer_case(dispatcher, tracker, lang)
            events.append(SlotSet("case_country", worst[0]))
        return events


class ActionCancelSelfcheck(BaseAction):
    """Stops the self-check; nothing is stored."""

    def name(self) -> str:
        return "action_cancel_selfcheck"

    async def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        dispatcher.utter_message(text=t("selfcheck.cancelled", language_of(tracker)))
        return [ActiveLoop(None), *reset_selfcheck_slots(), SlotSet("requested_slot", None)]


# ---- the questions ---------------------------------------------------------------------------------------
def _buttons(slot: str, lang: str) -> list[dict[str, str]]:
    if slot == "selfcheck_markets":
        return [{"title": market_name(c, lang), "payload": f'/inform{{"country":"{c}"}}'} for c in MARKET_BUTTONS]
    if slot == "selfcheck_industry":
        return [{"title": industry_name(c, lang), "payload": f'/inform{{"choice":"{c}"}}'} for c in INDUSTRY_BUTTONS]
    if slot == "selfcheck_fair_date":
        choices = {"unknown": message("selfcheck.fair_date_unknown")}
    else:
        choices = group("selfcheck." + {"selfcheck_plans": "plan", "selfcheck_signals": "signal"}.get(slot, "status"))
    return [{"title": m.text(lang), "payload": f'/inform{{"choice":"{code}"}}'} for code, m in choices.items()]


class _AskSelfcheckSlot(AskSlotAction, ABC):
    """Asks one self-check question with its buttons."""

    async def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        lang = language_of(tracker)
        text = t(f"selfcheck.ask.{self.slot}", lang, markets=_market_names(tracker, lang))
        markets = _markets(tracker)
        if self.slot.removeprefix("selfcheck_") in IP_KINDS and len(markets) > 1:
            text += t("selfcheck.per_market", lang, a=market_name(markets[0], lang), b=market_name(markets[1], lang))
        dispatcher.utter_message(text=text, buttons=_buttons(self.slot, lang))
        return []


class ActionAskSelfcheckMarkets(_AskSelfcheckSlot):
    """Asks step 1: the target markets."""

    def name(self) -> str:
        return "action_ask_selfcheck_markets"


class ActionAskSelfcheckIndustry(_AskSelfcheckSlot):
    """Asks step 2: the industry."""

    def name(self) -> str:
        return "action_ask_selfcheck_industry"


class ActionAskSelfcheckPlans(_AskSelfcheckSlot):
    """Asks step 3: what the enterprise plans (export, trade fair, e-commerce, licensing)."""

    def name(self) -> str:
        return "action_ask_selfcheck_plans"


class ActionAskSelfcheckFairDate(_AskSelfcheckSlot):
    """Asks when the trade fair is (asked only for a trade fair)."""

    def name(self) -> str:
        return "action_ask_selfcheck_fair_date"


class ActionAskSelfcheckTrademark(_AskSelfcheckSlot):
    """Asks the trademark's status in the markets."""

    def name(self) -> str:
        return "action_ask_selfcheck_trademark"


class ActionAskSelfcheckPatent(_AskSelfcheckSlot):
    """Asks the patents' status in the markets."""

    def name(self) -> str:
        return "action_ask_selfcheck_patent"


class ActionAskSelfcheckDesign(_AskSelfcheckSlot):
    """Asks the designs' status in the markets."""

    def name(self) -> str:
        return "action_ask_selfcheck_design"


class ActionAskSelfcheckSignals(_AskSelfcheckSlot):
    """Asks the warning signs already seen."""

    def name(self) -> str:
        return "action_ask_selfcheck_signals"
