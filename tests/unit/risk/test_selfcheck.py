"""The risk self-check: scoring (table-driven, on the shipped rules and on a small fixture), reading
the answers, the result text, and validation of the rules file (one broken fixture per error class)."""

from datetime import date
from pathlib import Path

import pytest

from actions.knowledge import load_knowledge
from actions.risk.parsing import (
    answers_from_slots,
    decode_map,
    encode_map,
    parse_fair_date,
    parse_plans,
    parse_signals,
    parse_statuses,
)
from actions.risk.render import citation_index, render
from actions.risk.rules import load_rules
from actions.risk.scoring import Answers, assess, needs_expert
from actions.settings import PROJECT_ROOT

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
TODAY = date(2026, 11, 24)


@pytest.fixture(scope="module")
def shipped():
    """The rules file the bot ships, validated against the real knowledge files."""
    documents, _ = load_knowledge(PROJECT_ROOT / "knowledge", PROJECT_ROOT)
    rules, problems = load_rules(PROJECT_ROOT / "knowledge" / "risk" / "selfcheck.yml", documents, PROJECT_ROOT)
    assert rules is not None, [str(p) for p in problems]
    assert problems == []
    return rules, citation_index(documents)


@pytest.fixture(scope="module")
def small():
    documents, _ = load_knowledge(FIXTURES / "knowledge", FIXTURES)
    rules, problems = load_rules(FIXTURES / "risk" / "small.yml", documents, FIXTURES)
    assert rules is not None and problems == [], [str(p) for p in problems]
    return rules, citation_index(documents)


def answers(
    markets="JP", plans="export", tm="none", patent="none", design="none", signals="", fair=None, industry=None
):
    """Answers for every market alike; per-market values as 'JP=none;KR=registered'."""
    ms = tuple(markets.split(","))

    def per_market(value: str) -> dict[str, str]:
        return decode_map(value) if "=" in value else dict.fromkeys(ms, value)

    sig = decode_map(signals) if "=" in signals else dict.fromkeys(ms, signals)
    return Answers(
        markets=ms,
        industry=industry,
        plans=frozenset(plans.split(",")),
        fair_date=fair,
        ip={"trademark": per_market(tm), "patent": per_market(patent), "design": per_market(design)},
        signals={m: frozenset(s for s in v.split("+") if s) for m, v in sig.items()},
    )


# ---- the shipped rules ------------------------------------------------------------------------------
SHIPPED_CASES = [
    # (what, answers, expected level per market, factors that must be among the reasons, steps that must appear)
    (
        "Japanese trade fair, no Japanese trademark (the 'done when' scenario)",
        answers("JP", "trade_fair", tm="none", patent="pending", design="none", fair=date(2027, 1, 15)),
        {"JP": "high"},
        {"no-trademark-in-market", "trade-fair-without-trademark", "fair-soon"},
        {"file-trademark-before-fair", "bring-proof-to-fair", "pph-japan", "file-before-exhibiting"},
    ),
    (
        "fair in Japan with every right registered and no warning sign",
        answers("JP", "trade_fair", tm="registered", patent="registered", design="registered"),
        {"JP": "low"},
        set(),
        {"bring-proof-to-fair", "customs-recordal", "keep-evidence"},
    ),
    (
        "export to the US with a pending trademark and no design",
        answers("US", "export", tm="pending", patent="registered", design="none"),
        {"US": "low"},
        {"trademark-pending", "design-unprotected"},
        {"watch-opposition"},
    ),
    (
        "e-commerce in Germany with no trademark",
        answers("DE", "ecommerce", tm="none", patent="registered", design="registered"),
        {"DE": "medium"},
        {"no-trademark-in-market"},
        {"file-trademark"},
    ),
    (
        "a warning letter alone makes it high",
        answers("KR", "export", tm="registered", patent="registered", design="registered", signals="warning_letter"),
        {"KR": "high"},
        {"warning-letter-received"},
        {"answer-warning-letter", "ask-public-support"},
    ),
    (
        "brand squatted in Viet Nam only: per-market signals",
        answers(
            "VN,TH",
            "export",
            tm="registered",
            patent="registered",
            design="registered",
            signals="VN=brand_squatted;TH=",
        ),
        {"VN": "high", "TH": "low"},
        {"brand-squatted"},
        {"act-on-squatting"},
    ),
    (
        "competitor patents known in Germany, fair there: medium, FTO and protective letter",
        answers(
            "DE", "trade_fair", tm="registered", patent="registered", design="registered", signals="competitor_patents"
        ),
        {"DE": "medium"},
        {"competitor-patents-known"},
        {"freedom-to-operate", "prior-art", "protective-letter"},
    ),
    (
        "per-market statuses: trademark in Japan, none in Korea, both at a fair",
        answers("JP,KR", "trade_fair", tm="JP=registered;KR=none", patent="none", design="registered"),
        {"JP": "low", "KR": "high"},
        {"trade-fair-without-trademark"},
        {"file-trademark-before-fair"},
    ),
    (
        "licensing in Korea without a local trademark",
        answers("KR", "licensing", tm="none", patent="registered", design="registered"),
        {"KR": "medium"},
        {"licensing-without-local-rights", "no-trademark-in-market"},
        {"licence-terms", "file-trademark"},
    ),
]


@pytest.mark.parametrize(
    ("what", "given", "levels", "factors", "steps"), SHIPPED_CASES, ids=[c[0] for c in SHIPPED_CASES]
)
def test_shipped_rules_score_as_expected(shipped, what, given, levels, factors, steps):
    rules, cites = shipped
    risks = assess(rules, given, TODAY)
    assert {r.market: r.level for r in risks} == levels, what
    matched = {f.id for r in risks for f in r.factors}
    assert factors <= matched, matched
    _, data = render(rules, risks, cites, "en")
    assert steps <= set(data["steps"]), data["steps"]


def test_the_done_when_scenario_in_chinese_has_reasons_cited_steps_and_an_expert(shipped):
    rules, cites = shipped
    given = answers("JP", "trade_fair", tm="none", patent="none", design="none", fair=date(2027, 1, 15))
    risks = assess(rules, given, TODAY)
    text, data = render(rules, risks, cites, "zh")
    assert text.splitlines()[1] == "🔴 日本：高风险"
    assert "在日本没有注册或申请商标" in text
    assert (
        "2. 展会开幕前就在日本提交商标申请，不要等展会结束：多数国家实行先申请原则，通常谁先申请谁取得注册 [1][3]"
        in text
    )
    assert "来源：" in text and "展会" in text and "knowledge/" not in text  # title › section — link, no paths
    assert any(c["path"] == "knowledge/disputes/trade-fair.md" for c in data["citations"])
    cited = {(c["doc_id"], c["section_id"]) for c in data["citations"]}
    assert ("dispute-trade-fair", "what-to-prepare-and-bring-before-the-fair") in cited
    assert [c["n"] for c in data["citations"]] == list(range(1, len(data["citations"]) + 1))
    assert needs_expert(rules, risks)


def test_every_step_of_the_shipped_rules_renders_in_both_languages(shipped):
    rules, cites = shipped
    for step in rules.steps:
        for lang in ("zh", "en"):
            assert "{" not in getattr(step.text, lang).format(markets="X")
        for cite in step.cites:
            assert cite in cites


# ---- the engine on a small fixture --------------------------------------------------------------------
ENGINE_CASES = [
    ("fair, no trademark: 3 → medium", answers("JP", "trade_fair"), {"JP": (3, "medium")}),
    ("export, no trademark: nothing applies", answers("JP", "export"), {"JP": (0, "low")}),
    (
        "a letter: 5 → high (threshold reached exactly)",
        answers("JP", "export", signals="warning_letter"),
        {"JP": (5, "high")},
    ),
    ("EU rule covers a member state", answers("FR", "export"), {"FR": (2, "medium")}),
    ("EU rule does not cover a non-member", answers("GB", "export"), {"GB": (0, "low")}),
    (
        "fair within 30 days adds 2",
        answers("JP", "trade_fair", fair=date(2026, 12, 20)),
        {"JP": (5, "high")},
    ),
    ("fair in 31+ days adds nothing", answers("JP", "trade_fair", fair=date(2026, 12, 25)), {"JP": (3, "medium")}),
    (
        "a fair date without a fair plan adds nothing",
        answers("JP", "export", fair=date(2026, 12, 1)),
        {"JP": (0, "low")},
    ),
    ("industry and plan both needed", answers("JP", "ecommerce", industry="toys", tm="registered"), {"JP": (1, "low")}),
    ("industry alone is not enough", answers("JP", "export", industry="toys", tm="registered"), {"JP": (0, "low")}),
    (
        "riskiest market first",
        answers("JP,KR", "trade_fair", signals="KR=warning_letter;JP="),
        {"KR": (8, "high"), "JP": (3, "medium")},
    ),
]


@pytest.mark.parametrize(("what", "given", "expected"), ENGINE_CASES, ids=[c[0] for c in ENGINE_CASES])
def test_engine_adds_weights_of_factors_whose_conditions_all_hold(small, what, given, expected):
    rules, _ = small
    risks = assess(rules, given, TODAY)
    assert {r.market: (r.score, r.level) for r in risks} == expected, what
    assert [r.market for r in risks] == list(expected)


def test_steps_shared_by_markets_are_listed_once_with_all_their_markets(small):
    rules, cites = small
    risks = assess(rules, answers("JP,KR", "trade_fair"), TODAY)
    text, data = render(rules, risks, cites, "en")
    assert "1. file in Japan, Korea [1]" in text
    assert "2. consider the PPH [2][3]" in text
    assert data["steps"] == ["file", "pph"]
    assert text.count("[1] PPH basics (test fixture) › Documents to file — https://") == 1


# ---- reading the answers --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("出口和参展", ["export", "trade_fair"]),
        ("我们要去东京参展，同时在亚马逊上卖", ["trade_fair", "ecommerce"]),
        ("export, trade fair", ["export", "trade_fair"]),
        ("export and e-commerce", ["export", "ecommerce"]),  # "export" is not the "expo" of a fair
        ("we exhibit at the Canton expo and license our design", ["trade_fair", "licensing"]),
        ("trade_fair", ["trade_fair"]),
        ("licensing our brand to a distributor", ["licensing"]),
        ("不知道", None),
    ],
)
def test_parse_plans(text, expected):
    assert parse_plans(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("没有", {"JP": "none", "KR": "none"}),
        ("申请中", {"JP": "pending", "KR": "pending"}),
        ("日本已注册，韩国没有", {"JP": "registered", "KR": "none"}),
        ("JP registered, Korea pending", {"JP": "registered", "KR": "pending"}),
        ("not registered yet, but we applied", {"JP": "pending", "KR": "pending"}),
        ("还没注册，但已经申请了", {"JP": "pending", "KR": "pending"}),
        ("没有申请", {"JP": "none", "KR": "none"}),
        ("unregistered", {"JP": "none", "KR": "none"}),
        ("日本已注册", None),  # Korea left open
        ("asdf", None),
    ],
)
def test_parse_statuses_per_market(text, expected):
    assert parse_statuses(text, ["JP", "KR"]) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("都没有", {"JP": set(), "KR": set()}),
        ("none", {"JP": set(), "KR": set()}),
        ("收到过律师函", {"JP": {"warning_letter"}, "KR": {"warning_letter"}}),
        ("没有收到警告函，但品牌被抢注了", {"JP": {"brand_squatted"}, "KR": {"brand_squatted"}}),
        ("日本的竞争对手有相关专利", {"JP": {"competitor_patents"}, "KR": set()}),
        ("we got a cease and desist letter in Korea", {"JP": set(), "KR": {"warning_letter"}}),
        (
            "warning_letter+brand_squatted",
            {"JP": {"warning_letter", "brand_squatted"}, "KR": {"warning_letter", "brand_squatted"}},
        ),
        ("不知道对手有没有专利", {"JP": set(), "KR": set()}),
        ("asdf", None),
    ],
)
def test_parse_signals(text, expected):
    parsed = parse_signals(text, ["JP", "KR"])
    assert (None if parsed is None else {m: set(s) for m, s in parsed.items()}) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3月10日", date(2027, 3, 10)),
        ("2027-01-15", date(2027, 1, 15)),
        ("下个月", date(2026, 12, 1)),
        ("in March", date(2027, 3, 1)),
        ("三月", date(2027, 3, 1)),
        ("十二月份", date(2026, 12, 1)),
        ("Sept", date(2027, 9, 1)),
        ("not sure", "unknown"),
        ("还不确定", "unknown"),
        ("whenever", None),
    ],
)
def test_parse_fair_date(text, expected):
    assert parse_fair_date(text, TODAY) == expected


def test_slot_values_round_trip_into_answers():
    slots = {
        "selfcheck_markets": "JP,KR",
        "selfcheck_industry": "toys",
        "selfcheck_plans": "trade_fair,export",
        "selfcheck_fair_date": "2027-01-15",
        "selfcheck_trademark": encode_map({"JP": "none", "KR": "registered"}),
        "selfcheck_patent": "JP=pending;KR=none",
        "selfcheck_design": "JP=none;KR=none",
        "selfcheck_signals": encode_map({"JP": frozenset({"warning_letter", "brand_squatted"}), "KR": frozenset()}),
    }
    a = answers_from_slots(slots)
    assert a.markets == ("JP", "KR") and a.plans == {"trade_fair", "export"} and a.fair_date == date(2027, 1, 15)
    assert a.ip["trademark"] == {"JP": "none", "KR": "registered"}
    assert a.signals == {"JP": {"warning_letter", "brand_squatted"}, "KR": frozenset()}
    assert answers_from_slots({**slots, "selfcheck_fair_date": "unknown"}).fair_date is None


# ---- validation: one broken fixture per error class, with file:line ---------------------------------------
@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("bad-yaml.yml", ["broken/risk/bad-yaml.yml:4: yaml: invalid YAML"]),
        ("unknown-plan.yml", ["broken/risk/unknown-plan.yml:9: factors.0.when.plans.0: Input should be 'export'"]),
        (
            "unknown-step.yml",
            ["broken/risk/unknown-step.yml:12: factors.0.steps.1: no step with id 'bring-certificates'"],
        ),
        (
            "bad-cite.yml",
            [
                "broken/risk/bad-cite.yml:16: steps.0.cites.1: document 'fx-pph-basics' has no section 'how-much-it-costs'",
                "broken/risk/bad-cite.yml:17: steps.0.cites.2: no knowledge document with id 'no-such-document'",
            ],
        ),
        (
            "bad-levels.yml",
            [
                "broken/risk/bad-levels.yml:4: levels.2.min_score: the low level must start at 0",
                "broken/risk/bad-levels.yml:1: levels: min_score must rise from low to medium to high",
            ],
        ),
        (
            "no-reason.yml",
            ["broken/risk/no-reason.yml:6: factors.0.reason: a factor that raises the score needs a reason"],
        ),
        (
            "bad-placeholder.yml",
            ["broken/risk/bad-placeholder.yml:15: steps.0.text.en: unknown placeholder(s) ['market']"],
        ),
        ("duplicate-id.yml", ["broken/risk/duplicate-id.yml:11: factors.1.id: duplicate id 'fair'"]),
        ("empty-condition.yml", ["broken/risk/empty-condition.yml:8: factors.0.when: give at least one condition"]),
    ],
)
def test_broken_rules_are_reported_with_file_and_line(name, expected):
    documents, _ = load_knowledge(FIXTURES / "knowledge", FIXTURES)
    rules, problems = load_rules(FIXTURES / "broken" / "risk" / name, documents, FIXTURES)
    assert rules is None
    found = [str(p) for p in problems]
    assert len(found) == len(expected), found
    for got, want in zip(found, expected, strict=True):
        assert got.startswith(want), found
