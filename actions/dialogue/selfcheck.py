"""Rasa actions of the export / trade-fair risk self-check: starting the form (keeping what the
request already said), checking each answer, asking each question, and the result — a risk level
per market with reasons and cited steps, relevant alerts, and an offer of an expert when it is high.

The scoring rules are staff-edited (knowledge/risk/selfcheck.yml, see actions/risk/selfcheck.py).
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

from actions.dialogue.alerts import (
    MARKET_BUTTONS,
    current_alerts,
    entity_values,
    mention_alerts,
    named_markets,
    read_markets,
)
from actions.dialogue.cases import offer_case
from actions.dialogue.common import (
    AskSlotAction,
    BaseAction,
    FormSlotsValidation,
    define_ask_actions,
    language_of,
    user_text,
)
from actions.knowledge import load_knowledge
from actions.privacy import get_logger
from actions.risk.selfcheck import (
    IP_KINDS,
    IP_STATUSES,
    PLANS,
    SIGNALS,
    CitedSection,
    RiskRules,
    answers_from_slots,
    assess,
    citation_index,
    encode_map,
    load_rules,
    needs_expert,
    parse_fair_date,
    parse_plans,
    parse_signals,
    parse_statuses,
    render,
)
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
PLAN_TITLES = {
    "export": ("出口", "Export"),
    "trade_fair": ("参展", "Trade fair"),
    "ecommerce": ("跨境电商", "E-commerce"),
    "licensing": ("许可/授权", "Licensing"),
}
STATUS_TITLES = {"registered": ("已注册", "Registered"), "pending": ("申请中", "Pending"), "none": ("没有", "None")}
SIGNAL_TITLES = {
    "warning_letter": ("收到过警告函/律师函", "Got a warning letter"),
    "competitor_patents": ("知道对手有相关专利", "Competitors hold patents"),
    "brand_squatted": ("品牌已被他人注册", "Brand registered by others"),
    "none": ("都没有", "None of these"),
}
KIND_NAMES = {"trademark": ("商标", "trademark"), "patent": ("专利", "patent"), "design": ("外观设计", "design")}

T = {
    "start": {
        "zh": "好的，我们来做一次出口/参展前的知识产权风险自查，大约1分钟（随时回复“取消”可退出）。",
        "en": 'Let\'s run a quick IP risk self-check before you export or exhibit — about a minute (say "cancel" to stop).',
    },
    "ask_selfcheck_markets": {
        "zh": "第1步：目标市场是哪里？可以写一个或多个，例如“日本、韩国”。",
        "en": 'Step 1: which market(s)? One or more, e.g. "Japan, Korea".',
    },
    "ask_selfcheck_industry": {
        "zh": "第2步：您的产品属于哪个行业？",
        "en": "Step 2: which industry is your product in?",
    },
    "ask_selfcheck_plans": {
        "zh": "第3步：您打算怎么进入{markets}？可以多选，直接写，例如“出口和参展”。",
        "en": 'Step 3: how will you go to {markets}? Several are fine, e.g. "export and a trade fair".',
    },
    "ask_selfcheck_fair_date": {
        "zh": "展会什么时候开幕？例如“3月10日”或“2027-03-10”；还没定请回复“不确定”。",
        "en": 'When does the fair open? e.g. "10 March" or "2027-03-10"; say "not sure" if it is not fixed.',
    },
    "ask_selfcheck_trademark": {
        "zh": "第4步：您的商标在{markets}是什么状态？",
        "en": "Step 4: what is the status of your trademark in {markets}?",
    },
    "ask_selfcheck_patent": {"zh": "第5步：专利在{markets}的状态呢？", "en": "Step 5: and your patents in {markets}?"},
    "ask_selfcheck_design": {
        "zh": "第6步：外观设计在{markets}的状态呢？",
        "en": "Step 6: and your design rights in {markets}?",
    },
    "ask_selfcheck_signals": {
        "zh": "最后一步：有没有下面这些情况？可以多选，直接写，例如“收到过律师函，品牌也被抢注了”。",
        "en": 'Last step: do any of these apply? Several are fine, e.g. "we got a warning letter and our brand was squatted".',
    },
    "per_market": {
        "zh": "（各市场不同时请分别写，例如“{a}已注册，{b}没有”。）",
        "en": '(If it differs by market, say so, e.g. "registered in {a}, none in {b}".)',
    },
    "bad_industry": {
        "zh": "请从按钮中选一个行业（没有合适的选“其他”）。",
        "en": 'Please pick an industry from the buttons ("Other" if none fits).',
    },
    "bad_plans": {
        "zh": "请选择或写出您的计划：出口、参展、跨境电商或许可（可多选）。",
        "en": "Please choose or name your plans: export, trade fair, e-commerce or licensing (several are fine).",
    },
    "bad_date": {
        "zh": "我没看懂这个日期。请写“3月10日”“2027-03-10”或“下个月”；还没定请回复“不确定”。",
        "en": 'I couldn\'t read that date. Try "10 March", "2027-03-10" or "next month"; say "not sure" if it is not fixed.',
    },
    "past_date": {
        "zh": "这个日期已经过去了。请写即将举行的展会日期，或回复“不确定”。",
        "en": 'That date has passed. Please give the date of the coming fair, or say "not sure".',
    },
    "bad_status": {
        "zh": "请选择：已注册、申请中或没有。",
        "en": "Please choose: registered, pending or none.",
    },
    "bad_status_markets": {
        "zh": "请为每个市场说明，例如“{a}已注册，{b}没有”。",
        "en": 'Please cover each market, e.g. "registered in {a}, none in {b}".',
    },
    "bad_signals": {
        "zh": "请从按钮中选择，或直接写“都没有”。",
        "en": 'Please pick from the buttons, or say "none".',
    },
    "cancelled": {"zh": "已取消自查，没有保存任何信息。", "en": "Self-check cancelled — nothing was stored."},
    "rules_broken": {
        "zh": "抱歉，自查规则文件暂时有错误，无法给出评估；工作人员会尽快修复。您可以先直接提问。",
        "en": "Sorry, the self-check rules have an error right now, so I cannot assess this; staff will fix it. "
        "Meanwhile, ask me a question directly.",
    },
    "expert": {
        "zh": "{markets}的风险较高，建议尽快请熟悉当地的专家看一看。",
        "en": "The risk in {markets} is high; an expert who knows the market should look at it soon.",
    },
}


def t(key: str, lang: str, **kwargs: Any) -> str:
    """A message in the user's language."""
    return T[key][lang].format(**kwargs)


# ---- the rules, as the action server sees them ----------------------------------------------------------
def _knowledge_signature(folder: Path) -> tuple:
    return tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in sorted(folder.glob("**/*.md")))


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
    return _rules(str(path), mtime, _knowledge_signature(settings.knowledge_dir))


# ---- the form -------------------------------------------------------------------------------------------
def _markets(tracker: Tracker) -> list[str]:
    return [m for m in str(tracker.get_slot("selfcheck_markets") or "").split(",") if m]


def _market_names(tracker: Tracker, lang: str) -> str:
    names = [market_name(m, lang) for m in _markets(tracker)]
    return join_names(names, lang) if names else ("目标市场" if lang == "zh" else "your markets")


def reset_selfcheck_slots() -> list[EventType]:
    """Forget the self-check answers."""
    return [SlotSet(s, None) for s in SELFCHECK_SLOTS]


class ActionStartSelfcheck(BaseAction):
    """Starts the self-check, keeping what the request already said (markets, plans, industry)."""

    def name(self) -> str:
        return "action_start_selfcheck"

    async def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        dispatcher.utter_message(text=t("start", language_of(tracker)))
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
        dispatcher.utter_message(text=t("bad_industry", language_of(tracker)))
        return {"selfcheck_industry": None}

    async def validate_selfcheck_plans(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        choices, text = _choices(value, tracker)
        plans = [c for c in choices if c in PLANS] or parse_plans(text)
        if plans:
            return {"selfcheck_plans": ",".join(plans)}
        dispatcher.utter_message(text=t("bad_plans", language_of(tracker)))
        return {"selfcheck_plans": None}

    async def validate_selfcheck_fair_date(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        lang = language_of(tracker)
        choices, text = _choices(value, tracker)
        parsed = "unknown" if "unknown" in choices else parse_fair_date(text, date.today())
        if parsed is None:
            dispatcher.utter_message(text=t("bad_date", lang))
            return {"selfcheck_fair_date": None}
        if parsed != "unknown" and parsed < date.today():
            dispatcher.utter_message(text=t("past_date", lang))
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
            dispatcher.utter_message(text=t("bad_status_markets", lang, a=a, b=b))
        else:
            dispatcher.utter_message(text=t("bad_status", lang))
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
        dispatcher.utter_message(text=t("bad_signals", language_of(tracker)))
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
            dispatcher.utter_message(text=t("rules_broken", lang))
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
                text=t("expert", lang, markets=join_names([market_name(m, lang) for m in worst], lang))
            )
            events += offer_case(dispatcher, tracker, lang)
            events.append(SlotSet("case_country", worst[0]))
        return events


class ActionCancelSelfcheck(BaseAction):
    """Stops the self-check; nothing is stored."""

    def name(self) -> str:
        return "action_cancel_selfcheck"

    async def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        dispatcher.utter_message(text=t("cancelled", language_of(tracker)))
        return [ActiveLoop(None), *reset_selfcheck_slots(), SlotSet("requested_slot", None)]


# ---- the questions ---------------------------------------------------------------------------------------
def _buttons(slot: str, lang: str) -> list[dict[str, str]]:
    i = 0 if lang == "zh" else 1
    if slot == "selfcheck_markets":
        return [{"title": market_name(c, lang), "payload": f'/inform{{"country":"{c}"}}'} for c in MARKET_BUTTONS]
    table: dict[str, tuple[str, str]]
    if slot == "selfcheck_industry":
        table = {c: (industry_name(c, "zh"), industry_name(c, "en")) for c in INDUSTRY_BUTTONS}
    elif slot == "selfcheck_plans":
        table = PLAN_TITLES
    elif slot == "selfcheck_fair_date":
        table = {"unknown": ("还没定", "Not fixed yet")}
    elif slot == "selfcheck_signals":
        table = SIGNAL_TITLES
    else:
        table = STATUS_TITLES
    return [{"title": titles[i], "payload": f'/inform{{"choice":"{code}"}}'} for code, titles in table.items()]


class _AskSelfcheckSlot(AskSlotAction, ABC):
    """Asks one self-check question with its buttons."""

    async def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        lang = language_of(tracker)
        text = t(f"ask_{self.slot}", lang, markets=_market_names(tracker, lang))
        markets = _markets(tracker)
        if self.slot.removeprefix("selfcheck_") in IP_KINDS and len(markets) > 1:
            text += t("per_market", lang, a=market_name(markets[0], lang), b=market_name(markets[1], lang))
        dispatcher.utter_message(text=text, buttons=_buttons(self.slot, lang))
        return []


define_ask_actions(_AskSelfcheckSlot, SELFCHECK_SLOTS, globals())
