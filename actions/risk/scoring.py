"""Scores the export / trade-fair risk self-check: from what the enterprise answered (`Answers`) and
the staff-edited rules (actions/risk/rules.py), the risk of each market (`MarketRisk`: score, level
and the factors that made it), riskiest first, and whether the bot offers an expert.

How scoring works: every factor whose `when` conditions all hold for a market adds its weight to
that market's score; the score's level is the first level (high, medium, low) whose `min_score` it
reaches. The matched factors give the reasons (their `reason`) and the steps (their `steps`, each
citing `document-id#section-id`).

Plain functions of the answers, the rules and today's date (for `fair_within_days`): no Rasa, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

from actions.risk.rules import IP_KINDS, LEVELS, Condition, Factor, RiskRules
from actions.vocab import covers_market


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
