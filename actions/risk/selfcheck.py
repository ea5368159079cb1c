"""The export / trade-fair risk self-check: the staff-edited scoring rules (knowledge/risk/selfcheck.yml),
their validation, the answers an enterprise gives, and the scoring that turns them into a risk level
per market with reasons and concrete steps, each citing a knowledge section.

No Rasa here: the dialogue lives in actions/dialogue/selfcheck.py. Nothing is read at import time.

How scoring works: every factor whose `when` conditions all hold for a market adds its weight to
that market's score; the score's level is the first level (high, medium, low) whose `min_score` it
reaches. The matched factors give the reasons (their `reason`) and the steps (their `steps`, each
citing `document-id#section-id`).
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from actions.answers.reply import source_line
from actions.dates import month_named, parse_deadline
from actions.knowledge import (
    KnowledgeDocument,
    LangText,
    Problem,
    line_of,
    read_yaml_file,
    relative_name,
    validation_problems,
)
from actions.messages import t
from actions.vocab import INDUSTRY_NAMES, MARKETS, covers_market, join_names, market_codes, market_name

PLANS = ("export", "trade_fair", "ecommerce", "licensing")
IP_KINDS = ("trademark", "patent", "design")
IP_STATUSES = ("registered", "pending", "none")
SIGNALS = ("warning_letter", "competitor_patents", "brand_squatted")
LEVELS = ("high", "medium", "low")
PLACEHOLDERS = frozenset({"markets"})  # {markets}: the markets a reason or step applies to
_ID = r"^[a-z0-9][a-z0-9-]*$"
_CITE = re.compile(r"^([a-z0-9][a-z0-9-]*)#([a-z0-9][a-z0-9-]*)$")


# ---- the rules file ---------------------------------------------------------------------------------
class Condition(BaseModel):
    """When a factor applies to a market: every condition given must hold."""

    model_config = ConfigDict(extra="forbid")
    always: bool | None = None
    plans: list[Literal[PLANS]] | None = Field(default=None, min_length=1)  # type: ignore[valid-type]
    markets: list[str] | None = Field(default=None, min_length=1)
    industries: list[str] | None = Field(default=None, min_length=1)
    trademark: list[Literal[IP_STATUSES]] | None = Field(default=None, min_length=1)  # type: ignore[valid-type]
    patent: list[Literal[IP_STATUSES]] | None = Field(default=None, min_length=1)  # type: ignore[valid-type]
    design: list[Literal[IP_STATUSES]] | None = Field(default=None, min_length=1)  # type: ignore[valid-type]
    signals: list[Literal[SIGNALS]] | None = Field(default=None, min_length=1)  # type: ignore[valid-type]
    fair_within_days: int | None = Field(default=None, ge=0)

    @field_validator("markets")
    @classmethod
    def _known_markets(cls, value: list[str] | None) -> list[str] | None:
        unknown = [c for c in value or [] if c not in MARKETS]
        if unknown:
            raise ValueError(f"{unknown} are not market codes the bot knows (see actions/vocab.py MARKETS)")
        return value

    @field_validator("industries")
    @classmethod
    def _known_industries(cls, value: list[str] | None) -> list[str] | None:
        unknown = [c for c in value or [] if c not in INDUSTRY_NAMES or c == "all"]
        if unknown:
            known = sorted(set(INDUSTRY_NAMES) - {"all"})
            raise ValueError(f"{unknown} are not industry codes; use {known}")
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> Condition:
        if not any(v is not None for v in self.model_dump().values()):
            raise ValueError("give at least one condition (or `always: true`)")
        if self.always is False:
            raise ValueError("`always: false` never applies: remove the factor instead")
        return self


class Level(BaseModel):
    """A risk level and the score it starts at."""

    model_config = ConfigDict(extra="forbid")
    level: Literal[LEVELS]  # type: ignore[valid-type]
    min_score: int = Field(ge=0)
    label: LangText


class Factor(BaseModel):
    """Something in the answers that raises a market's risk (or, with weight 0, only adds steps)."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=_ID)
    weight: int = Field(ge=0)
    when: Condition
    reason: LangText | None = None
    steps: list[str] = Field(default_factory=list)


class Step(BaseModel):
    """A concrete thing to do, citing the knowledge sections that explain it."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=_ID)
    text: LangText
    cites: list[str] = Field(min_length=1)

    @field_validator("cites")
    @classmethod
    def _cite_format(cls, value: list[str]) -> list[str]:
        bad = [c for c in value if not _CITE.match(c)]
        if bad:
            raise ValueError(f"{bad} must be 'document-id#section-id'")
        return value


class RiskRules(BaseModel):
    """The whole rules file."""

    model_config = ConfigDict(extra="forbid")
    offer_expert_at: Literal[LEVELS] = "high"  # type: ignore[valid-type]
    levels: list[Level] = Field(min_length=3, max_length=3)
    factors: list[Factor] = Field(min_length=1)
    steps: list[Step] = Field(min_length=1)

    def level(self, score: int) -> str:
        """The level a score reaches."""
        for lv in sorted(self.levels, key=lambda lv: -lv.min_score):
            if score >= lv.min_score:
                return lv.level
        return "low"

    def label(self, level: str, lang: str) -> str:
        """A level's name in the user's language."""
        lv = next(lv for lv in self.levels if lv.level == level)
        return lv.label.zh if lang == "zh" else lv.label.en

    def step(self, step_id: str) -> Step:
        """A step by id."""
        return next(s for s in self.steps if s.id == step_id)


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def load_rules(
    path: Path, documents: list[KnowledgeDocument] | None, root: Path | None = None
) -> tuple[RiskRules | None, list[Problem]]:
    """Reads and validates the rules file; None (and file:line problems) if anything is wrong.

    With `documents`, every citation must name an existing document and section.
    """
    rel = relative_name(path, root)
    data, lines, problems = read_yaml_file(path, rel)
    if problems:
        return None, problems
    if not isinstance(data, dict):
        return None, [Problem(rel, 1, "rules", "the file must be a YAML mapping (levels, factors, steps)")]
    try:
        rules = RiskRules.model_validate(data)
    except ValidationError as exc:
        return None, validation_problems(exc, rel, lines, "rules")
    problems = _cross_check(rules, rel, lines, documents)
    return (None if any(p.severity == "error" for p in problems) else rules), problems


def _cross_check(
    rules: RiskRules, rel: str, lines: dict[str, int], documents: list[KnowledgeDocument] | None
) -> list[Problem]:
    """What pydantic cannot see: levels, duplicates, step references, citations, placeholders."""
    problems: list[Problem] = []

    def err(loc: str, message: str, severity: Literal["error", "warning"] = "error") -> None:
        problems.append(Problem(rel, line_of(lines, loc, 1), loc, message, severity))

    names = [lv.level for lv in rules.levels]
    if sorted(names) != sorted(LEVELS):
        err("levels", f"give each of {list(LEVELS)} exactly once (found {names})")
    else:
        by_name = {lv.level: (i, lv.min_score) for i, lv in enumerate(rules.levels)}
        if by_name["low"][1] != 0:
            err(f"levels.{by_name['low'][0]}.min_score", "the low level must start at 0")
        if not by_name["high"][1] > by_name["medium"][1] > by_name["low"][1]:
            err("levels", "min_score must rise from low to medium to high")
    listed: tuple[tuple[str, Sequence[Factor | Step]], ...] = (("factors", rules.factors), ("steps", rules.steps))
    for kind, items in listed:
        seen: dict[str, int] = {}
        for i, item in enumerate(items):
            if item.id in seen:
                err(f"{kind}.{i}.id", f"duplicate id {item.id!r}, first in {kind}[{seen[item.id]}]")
            seen.setdefault(item.id, i)
    step_ids = {s.id for s in rules.steps}
    used: set[str] = set()
    for i, factor in enumerate(rules.factors):
        for j, step_id in enumerate(factor.steps):
            used.add(step_id)
            if step_id not in step_ids:
                err(f"factors.{i}.steps.{j}", f"no step with id {step_id!r}")
        if factor.weight > 0 and factor.reason is None:
            err(f"factors.{i}.reason", "a factor that raises the score needs a reason the user can read")
        if factor.reason is not None:
            for lang in ("zh", "en"):
                extra = _placeholders(getattr(factor.reason, lang)) - PLACEHOLDERS
                if extra:
                    err(f"factors.{i}.reason.{lang}", f"unknown placeholder(s) {sorted(extra)}: use {{markets}}")
    for i, step in enumerate(rules.steps):
        if step.id not in used:
            err(f"steps.{i}.id", f"step {step.id!r} is not used by any factor", "warning")
        for lang in ("zh", "en"):
            extra = _placeholders(getattr(step.text, lang)) - PLACEHOLDERS
            if extra:
                err(f"steps.{i}.text.{lang}", f"unknown placeholder(s) {sorted(extra)}: use {{markets}}")
        if documents is None:
            continue
        sections = {d.meta.id: {s.id for s in d.sections} for d in documents}
        for j, cite in enumerate(step.cites):
            doc_id, _, section = cite.partition("#")
            if doc_id not in sections:
                err(f"steps.{i}.cites.{j}", f"no knowledge document with id {doc_id!r}")
            elif section not in sections[doc_id]:
                err(f"steps.{i}.cites.{j}", f"document {doc_id!r} has no section {section!r}")
    return problems


# ---- answers and scoring --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Answers:
    """What the enterprise answered in the self-check."""

    markets: tuple[str, ...]
    industry: str | None = None
    plans: frozenset[str] = frozenset()
    fair_date: date | None = None
    ip: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # kind -> market -> status
    signals: Mapping[str, frozenset[str]] = field(default_factory=dict)  # market -> warning signs


@dataclass(frozen=True)
class MarketRisk:
    """The outcome for one market: score, level and the factors that made it."""

    market: str
    score: int
    level: str
    factors: tuple[Factor, ...]


def applies(when: Condition, answers: Answers, market: str, today: date) -> bool:
    """True when every condition of a factor holds for this market."""
    if when.plans is not None and not answers.plans & set(when.plans):
        return False
    if when.markets is not None and not covers_market(when.markets, market):
        return False
    if when.industries is not None and answers.industry not in when.industries:
        return False
    for kind in IP_KINDS:
        wanted = getattr(when, kind)
        if wanted is not None and answers.ip.get(kind, {}).get(market) not in wanted:
            return False
    if when.signals is not None and not answers.signals.get(market, frozenset()) & set(when.signals):
        return False
    if when.fair_within_days is not None:
        if "trade_fair" not in answers.plans or answers.fair_date is None:
            return False
        if not 0 <= (answers.fair_date - today).days <= when.fair_within_days:
            return False
    return True


def assess(rules: RiskRules, answers: Answers, today: date) -> list[MarketRisk]:
    """The risk of each market, riskiest first (then in the order the user named them)."""
    risks = []
    for market in answers.markets:
        matched = [f for f in rules.factors if applies(f.when, answers, market, today)]
        matched.sort(key=lambda f: -f.weight)
        score = sum(f.weight for f in matched)
        risks.append(MarketRisk(market, score, rules.level(score), tuple(matched)))
    order = {level: i for i, level in enumerate(LEVELS)}
    return sorted(risks, key=lambda r: (order[r.level], -r.score))


def needs_expert(rules: RiskRules, risks: list[MarketRisk]) -> bool:
    """True when a market reaches the level at which the bot offers an expert."""
    order = {level: i for i, level in enumerate(LEVELS)}
    return any(order[r.level] <= order[rules.offer_expert_at] for r in risks)


# ---- the result the user reads ------------------------------------------------------------------------
@dataclass(frozen=True)
class CitedSection:
    """What a citation shows: document and section titles, file, source and review date."""

    doc_id: str
    section_id: str
    title: LangText
    section: LangText
    path: str
    source: str
    last_reviewed: str


def citation_index(documents: list[KnowledgeDocument]) -> dict[str, CitedSection]:
    """Every section of the knowledge files, by 'document-id#section-id'."""
    index = {}
    for d in documents:
        for s in d.sections:
            index[f"{d.meta.id}#{s.id}"] = CitedSection(
                d.meta.id,
                s.id,
                d.meta.title,
                LangText(zh=s.title_zh, en=s.title_en),
                d.path,
                (s.sources or tuple(d.meta.cited_urls))[0],  # as an answer's citation links it
                d.meta.last_reviewed.isoformat(),
            )
    return index


LEVEL_ICON = {"high": "🔴", "medium": "🟠", "low": "🟢"}


def _fill(text: str, markets: list[str], lang: str) -> str:
    return text.format(markets=join_names([market_name(m, lang) for m in markets], lang))


def render(
    rules: RiskRules, risks: list[MarketRisk], cites: dict[str, CitedSection], lang: str
) -> tuple[str, dict[str, Any]]:
    """The result message (levels with reasons, numbered steps with citations) and the same as data."""
    lines = [t("selfcheck.result.head", lang)]
    for r in risks:
        name = market_name(r.market, lang)
        label = rules.label(r.level, lang)
        lines.append(t("selfcheck.result.level_line", lang, icon=LEVEL_ICON[r.level], market=name, label=label))
        reasons = [f for f in r.factors if f.reason is not None]
        for f in reasons:
            lines.append("  · " + _fill(getattr(f.reason, lang), [r.market], lang))
        if not reasons:
            lines.append(t("selfcheck.result.no_reason", lang))

    step_markets: dict[str, list[str]] = {}  # step id -> markets, in order of first need
    for r in risks:
        for f in r.factors:
            for step_id in f.steps:
                step_markets.setdefault(step_id, [])
                if r.market not in step_markets[step_id]:
                    step_markets[step_id].append(r.market)
    numbers: dict[str, int] = {}
    step_lines = []
    for n, (step_id, markets) in enumerate(step_markets.items(), start=1):
        step = rules.step(step_id)
        refs = []
        for cite in step.cites:
            numbers.setdefault(cite, len(numbers) + 1)
            refs.append(f"[{numbers[cite]}]")
        step_lines.append(f"{n}. {_fill(getattr(step.text, lang), markets, lang)} {''.join(refs)}")
    if step_lines:
        lines += ["", t("selfcheck.result.steps", lang), *step_lines]
    citations = []
    if numbers:
        lines += ["", t("selfcheck.result.sources", lang)]
        for cite, n in numbers.items():
            c = cites.get(cite)
            if c is None:  # the rules were validated against an older set of documents
                lines.append(f"[{n}] {cite}")
                continue
            title, section = getattr(c.title, lang), getattr(c.section, lang)
            citation = {
                "n": n,
                "doc_id": c.doc_id,
                "section_id": c.section_id,
                "title": title,
                "section": section,
                "path": c.path,
                "source": c.source,
                "url": c.source,
                "last_reviewed": c.last_reviewed,
            }
            lines.append(source_line(citation, lang))  # as answers cite: title › section — link (reviewed)
            citations.append(citation)
    lines += ["", t("selfcheck.result.disclaimer", lang)]
    data = {
        "selfcheck": [
            {
                "market": r.market,
                "level": r.level,
                "score": r.score,
                "factors": [f.id for f in r.factors],
            }
            for r in risks
        ],
        "steps": list(step_markets),
        "citations": citations,
        "language": lang,
    }
    return "\n".join(lines), data


# ---- reading the answers -------------------------------------------------------------------------------
# A word ending in "*" matches as a prefix (licens* → licence, licensing); others as whole words.
PLAN_WORDS: dict[str, tuple[str, ...]] = {
    "export": ("出口", "外贸", "卖到", "销往", "发货", "export*", "ship", "shipping", "sell to", "selling to"),
    "trade_fair": (
        "参展",
        "展会",
        "展览",
        "博览会",
        "交易会",
        "trade fair*",
        "fair",
        "fairs",
        "exhibit*",
        "trade show*",
        "expo",
        "expos",
    ),
    "ecommerce": (
        "电商",
        "亚马逊",
        "网店",
        "独立站",
        "速卖通",
        "网上卖",
        "e-commerce",
        "ecommerce",
        "amazon",
        "ebay",
        "online",
        "aliexpress",
        "temu",
        "shopee",
    ),
    "licensing": ("许可", "授权", "加盟", "特许经营", "licens*", "franchis*"),
}
_NEGATED_FILING = re.compile(
    r"(没有|没|未|尚未|还没|还未)(提交|提出)?(申请|注册)|not (yet )?(applied|filed)|haven'?t (applied|filed)|no application",
    re.I,
)
STATUS_WORDS: dict[str, tuple[str, ...]] = {
    "pending": (
        "申请中",
        "在申请",
        "已申请",
        "已经申请",
        "申请了",
        "已提交",
        "审查中",
        "pending",
        "applied",
        "filed",
        "application",
        "under examination",
    ),
    "none": ("没有", "没", "未", "无", "none", "no", "not", "haven't", "don't", "nothing", "unregistered"),
    "registered": (
        "已注册",
        "注册了",
        "有注册",
        "已授权",
        "授权了",
        "有",
        "registered",
        "granted",
        "yes",
        "have",
        "got",
    ),
}
SIGNAL_PATTERNS: dict[str, re.Pattern[str]] = {
    "warning_letter": re.compile(
        r"警告函|律师函|警告信|侵权通知|停止侵权函|warning letter|cease[- ]and[- ]desist|demand letter|legal letter",
        re.I,
    ),
    "competitor_patents": re.compile(
        r"(对手|同行|竞品|他人|别人|对方).{0,8}专利|专利.{0,8}(对手|同行)|competitor.{0,40}patent|patent.{0,40}competitor",
        re.I,
    ),
    "brand_squatted": re.compile(
        r"抢注|被(人|别人|他人|对方|当地人|经销商)?(抢先)?注册|squat|registered (our|my) (brand|mark|trademark)|"
        r"(someone|somebody|another company|a local company|distributor)( else)? (has )?(already )?registered",
        re.I,
    ),
}
_NONE_SIGNAL = re.compile(r"没有|都没|无|none|nothing|^no\b|not that i know|no signs", re.I)
_NEGATION = re.compile(r"(没有|没|未|无|不知道|不清楚|\bno\b|\bnot\b|\bnever\b|haven'?t|didn'?t|don'?t)", re.I)
_SEGMENT = re.compile(r"[，,；;。.\n]|但是|但|\bbut\b", re.I)


def _has_word(text: str, word: str, prefix: bool = False) -> bool:
    """True when the text contains the word (an English word whole, or as a prefix if asked)."""
    lowered = text.lower()
    if word.isascii():
        end = "" if prefix else "(?![a-z])"
        return re.search(rf"(?<![a-z]){re.escape(word.strip())}{end}", lowered) is not None
    return word in text


def parse_plans(text: str) -> list[str] | None:
    """The plans a text names (出口、参展 → export, trade_fair), codes accepted; None if none."""
    tokens = [t for t in re.split(r"[\s,+]+", text.strip().lower()) if t]
    if tokens and all(t in PLANS for t in tokens):
        return list(dict.fromkeys(tokens))
    found = [
        plan
        for plan, words in PLAN_WORDS.items()
        if any(_has_word(text, w.rstrip("*"), prefix=w.endswith("*")) for w in words)
    ]
    return found or None


def ip_status(text: str) -> str | None:
    """registered, pending or none from an answer such as "申请中" or "not registered"."""
    lowered = text.strip().lower()
    if lowered in IP_STATUSES:
        return lowered
    if _NEGATED_FILING.search(text):
        return "none"
    for status, words in STATUS_WORDS.items():
        if any(_has_word(text, w) for w in words):
            return status
    return None


def _segments(text: str) -> list[str]:
    return [s.strip() for s in _SEGMENT.split(text) if s and s.strip()]


def parse_statuses(text: str, markets: list[str]) -> dict[str, str] | None:
    """The status of one kind of IP in each market: "日本已注册，韩国没有" → JP registered, KR none.

    A part that names no market applies to every market not named elsewhere. None when a market is
    left without a status.
    """
    whole = ip_status(text) if text.strip().lower() in IP_STATUSES else None
    if whole:
        return dict.fromkeys(markets, whole)
    named: dict[str, str] = {}
    general: str | None = None
    for segment in _segments(text):
        status = ip_status(segment)
        if status is None:
            continue
        in_segment = [m for m in market_codes(segment) if m in markets]
        if in_segment:
            for m in in_segment:
                named[m] = status
        else:
            general = status
    result = {m: named.get(m, general) for m in markets}
    if any(v is None for v in result.values()):
        return None
    return {m: str(v) for m, v in result.items()}


def parse_signals(text: str, markets: list[str]) -> dict[str, frozenset[str]] | None:
    """The warning signs per market; a part that names no market applies to all. None if not understood."""
    codes = {c for c in re.split(r"[\s,+]+", text.strip().lower()) if c}
    if codes and codes <= {*SIGNALS, "none"}:
        return dict.fromkeys(markets, frozenset(codes - {"none"}))
    result: dict[str, set[str]] = {m: set() for m in markets}
    understood = False
    for segment in _segments(text):
        signs: set[str] = set()
        for name, pattern in SIGNAL_PATTERNS.items():
            hit = pattern.search(segment)
            if hit and not _NEGATION.search(segment[max(0, hit.start() - 14) : hit.start()]):
                signs.add(name)
            elif hit:
                understood = True  # "没有收到警告函": a sign explicitly denied
        if not signs:
            understood = understood or bool(_NONE_SIGNAL.search(segment))
            continue
        understood = True
        in_segment = [m for m in market_codes(segment) if m in markets] or markets
        for m in in_segment:
            result[m] |= signs
    return {m: frozenset(s) for m, s in result.items()} if understood else None


def parse_fair_date(text: str, today: date) -> date | Literal["unknown"] | None:
    """The fair's date ("3月10日", "2027-03-10", "下个月", "in March"), "unknown", or None if unreadable.

    A month without a day counts as the first of that month.
    """
    if text.strip().lower() == "unknown":
        return "unknown"
    parsed = parse_deadline(text, today)
    if parsed.status == "date" and parsed.date is not None:
        return parsed.date
    if parsed.status == "none":
        return "unknown"
    lowered = text.lower()
    first_next = (today.replace(day=1) + timedelta(days=32)).replace(day=1)
    if re.search(r"下个?月|next month", lowered):
        return first_next
    if month := month_named(text):
        year = today.year if month > today.month else today.year + 1
        if month == today.month:
            return today
        return date(year, month, 1)
    return None


# ---- slot values -------------------------------------------------------------------------------------
def encode_map(values: Mapping[str, str | frozenset[str]]) -> str:
    """A per-market answer as a slot value: "JP=none;KR=registered" or "JP=warning_letter+brand_squatted"."""
    parts = []
    for market, value in values.items():
        text = "+".join(sorted(value)) if isinstance(value, frozenset) else value
        parts.append(f"{market}={text}")
    return ";".join(parts)


def decode_map(value: str | None) -> dict[str, str]:
    """The inverse of encode_map for single values."""
    result = {}
    for part in (value or "").split(";"):
        market, _, text = part.partition("=")
        if market:
            result[market] = text
    return result


def answers_from_slots(slots: Mapping[str, Any]) -> Answers:
    """The self-check answers from the form's slot values."""
    markets = tuple(m for m in str(slots.get("selfcheck_markets") or "").split(",") if m)
    fair = slots.get("selfcheck_fair_date")
    return Answers(
        markets=markets,
        industry=slots.get("selfcheck_industry") or None,
        plans=frozenset(p for p in str(slots.get("selfcheck_plans") or "").split(",") if p),
        fair_date=date.fromisoformat(fair) if fair and fair != "unknown" else None,
        ip={kind: decode_map(slots.get(f"selfcheck_{kind}")) for kind in IP_KINDS},
        signals={
            m: frozenset(s for s in v.split("+") if s) for m, v in decode_map(slots.get("selfcheck_signals")).items()
        },
    )
