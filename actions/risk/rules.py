"""The staff-edited rules of the export / trade-fair risk self-check (knowledge/risk/selfcheck.yml,
format in knowledge/README.md): the three risk levels and the score each starts at, the factors that
raise a market's risk (each with the reason the enterprise reads and the steps it calls for) and the
steps, each citing a knowledge section as `document-id#section-id`. There is no scoring in the code:
staff change the file.

`load_rules` reads and validates the file: pydantic checks its shape, `_cross_check` what pydantic
cannot see (levels, duplicate ids, step references, citations against the knowledge documents,
placeholders), and every mistake is a `Problem` at its file:line, so that a broken file is refused
rather than scored with. The self-check's vocabulary (plans, IP kinds and statuses, warning signs,
levels) is defined here because a factor's conditions name it; the answers use the same codes.

No Rasa here: the dialogue lives in actions/dialogue/selfcheck.py. Nothing is read at import time.
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from actions.knowledge import (
    KnowledgeDocument,
    LangText,
    Problem,
    line_of,
    read_yaml_file,
    relative_name,
    validation_problems,
)
from actions.vocab import INDUSTRY_NAMES, MARKETS

PLANS = ("export", "trade_fair", "ecommerce", "licensing")
IP_KINDS = ("trademark", "patent", "design")
IP_STATUSES = ("registered", "pending", "none")
SIGNALS = ("warning_letter", "competitor_patents", "brand_squatted")
LEVELS = ("high", "medium", "low")
PLACEHOLDERS = frozenset({"markets"})  # {markets}: the markets a reason or step applies to
_ID = r"^[a-z0-9][a-z0-9-]*$"
_CITE = re.compile(r"^([a-z0-9][a-z0-9-]*)#([a-z0-9][a-z0-9-]*)$")


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
