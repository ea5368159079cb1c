"""The self-check's result as the enterprise reads it: each market's risk level with the reasons of
its factors, then the steps of all matched factors, numbered and each given once (naming the markets
that need it), the knowledge sections they cite, numbered and listed as answers list their sources
(title › section — link, review date), and the not-legal-advice line. The same result comes back as
data (levels, scores, factor and step ids, citations) for the channel.

The sentences are the message catalog's (`selfcheck.result.*` in actions/messages/selfcheck.yml),
the source lines those of the answers (`actions.answers.reply.source_line`); `citation_index` maps
every knowledge section to what its citation shows. A citation the index no longer knows (rules
validated against an older set of documents) is shown as its bare `document-id#section-id`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from actions.answers.reply import source_line
from actions.knowledge import KnowledgeDocument, LangText
from actions.messages import t
from actions.risk.rules import RiskRules
from actions.risk.scoring import MarketRisk
from actions.vocab import join_names, market_name


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
