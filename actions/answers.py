"""Turns retrieved passages into the reply an enterprise reads: a short extract in its language,
numbered citations (title, section, file, source, last reviewed) and the not-legal-advice line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from actions.retrieval import Passage

DISCLAIMER = {
    "zh": "以上为一线参考信息，不构成法律意见；具体案件请咨询专业律师或专利代理师。",
    "en": "This is first-line information, not legal advice; for a specific case, consult a qualified lawyer or patent attorney.",
}
NO_ANSWER = {
    "zh": "抱歉，我的知识库里没有找到可靠的答案。您可以换个说法再问一次（例如写明国家和知识产权类型），"
    "或者告诉我您遇到的具体情况，我可以帮您联系海外维权专家。",
    "en": "Sorry, I have no reliable answer to that in my knowledge base. You could rephrase the question "
    "(for example, name the country and the kind of IP), or tell me about your situation and I can help "
    "you reach an overseas IP expert.",
}
SOURCES_HEADING = {"zh": "来源：", "en": "Sources:"}
REVIEWED = {"zh": "审核于", "en": "reviewed"}
_SENTENCE_END = re.compile(r"(?<=[。！？；!?;])|(?<=\.)\s")


@dataclass(frozen=True)
class Answer:
    """A reply ready to send: its text, and the citations as data for channels and tests."""

    text: str
    citations: list[dict[str, Any]]
    answered: bool


def extract(text: str, lang: str, budget: int) -> str:
    """The start of a passage, cut at a sentence end within the budget (characters for Chinese,
    words for English), with an ellipsis when something was left out."""
    paragraphs = [p.strip() for p in text.split("\n") if p.strip()]
    flat = " ".join(paragraphs) if lang == "en" else "".join(paragraphs)
    size = len(flat) if lang == "zh" else len(flat.split())
    if size <= budget:
        return flat
    sentences = [s for s in _SENTENCE_END.split(flat) if s and s.strip()]
    kept: list[str] = []
    used = 0
    for sentence in sentences:
        cost = len(sentence) if lang == "zh" else len(sentence.split())
        if kept and used + cost > budget:
            break
        kept.append(sentence.strip())
        used += cost
    joined = (" " if lang == "en" else "").join(kept)
    if lang == "zh" and len(joined) > budget * 1.5:
        joined = joined[:budget]
    elif lang == "en" and len(joined.split()) > budget * 1.5:
        joined = " ".join(joined.split()[:budget])
    return joined + ("……" if lang == "zh" else " …")


def citation(p: Passage, lang: str) -> dict[str, Any]:
    """The citation of a passage as data."""
    return {
        "doc_id": p.doc_id,
        "section_id": p.section_id,
        "title": p.title(lang),
        "section": p.section(lang),
        "path": p.path,
        "line": p.line,
        "source": p.sources[0],
        "last_reviewed": p.last_reviewed,
    }


def compose(passages: list[Passage], lang: str, chars_zh: int = 220, words_en: int = 90) -> Answer:
    """The reply for a question: up to two gated passages with numbered citations, or "no answer"."""
    chosen: list[Passage] = []
    for p in passages:
        if p.answerable and p.key not in {c.key for c in chosen}:
            chosen.append(p)
        if len(chosen) == 2:
            break
    if not chosen:
        return Answer(NO_ANSWER[lang], [], answered=False)
    budget = chars_zh if lang == "zh" else words_en
    parts = []
    for n, p in enumerate(chosen, start=1):
        share = budget if n == 1 else budget // 2
        parts.append(f"{extract(p.text(lang), lang, share)} [{n}]")
    cites = [citation(p, lang) for p in chosen]
    lines = [SOURCES_HEADING[lang]]
    for n, c in enumerate(cites, start=1):
        sep = "，" if lang == "zh" else ", "
        where = f"{c['title']} › {c['section']}"
        lines.append(f"[{n}] {where} — {c['path']}{sep}{c['source']}{sep}{REVIEWED[lang]} {c['last_reviewed']}")
    text = "\n\n".join(parts) + "\n\n" + "\n".join(lines) + "\n\nℹ️ " + DISCLAIMER[lang]
    return Answer(text, cites, answered=True)
