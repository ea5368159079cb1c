"""Reads what the enterprise answers in the self-check, in Chinese or English, into the codes the
rules use: its plans ("出口、参展" → export, trade_fair), the status of its trademark, patent or
design in each market ("日本已注册，韩国没有" → JP registered, KR none), the warning signs it has
seen (a warning letter, competitors' patents, its brand registered by someone else) and the fair's
date ("3月10日", "下个月", "in March"). Codes, as the buttons send them, are taken as they are. The
form keeps the answers as slot values (`encode_map` / `decode_map`), and `answers_from_slots` turns
them into the `Answers` that are scored.

The word lists stay in code, not in the message catalog: they are read, never said. Chinese words
match as substrings, English ones as whole words (a word ending in `*` as a prefix). An answer about
several markets is read part by part (split at commas, semicolons, full stops and "but"): a part
that names markets applies to them, one that names none to the markets not named elsewhere (a
status) or to every market (a warning sign); a sign just after a negation ("没有收到警告函") counts
as denied.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any, Literal

from actions.dates import month_named, parse_deadline
from actions.risk.rules import IP_KINDS, IP_STATUSES, PLANS, SIGNALS
from actions.risk.scoring import Answers
from actions.vocab import market_codes

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
