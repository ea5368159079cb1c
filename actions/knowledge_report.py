"""Which knowledge documents staff should review first, and why.

Per document: its official and secondary sources, the passages (section × language) marked unverified,
when its review falls due (the checker's age limit after `last_reviewed`) and how many sections list the
questions they answer (`asks:`). Riskiest first: no official source, then the most unverified passages,
then the soonest review.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from actions.knowledge import UNVERIFIED_MARK, KnowledgeDocument


@dataclass(frozen=True)
class DocumentStatus:
    """One document's line in the report."""

    doc_id: str
    path: str
    official: int
    secondary: int
    unmarked: int  # sources whose kind is not said
    unverified: int  # passages (section × language) marked unverified
    passages: int
    last_reviewed: date
    due: date
    due_in_days: int  # negative: overdue
    sections_with_asks: int
    sections: int


def document_status(doc: KnowledgeDocument, today: date, max_age_days: int = 365) -> DocumentStatus:
    """What the report says about one document."""
    meta = doc.meta
    due = meta.last_reviewed + timedelta(days=max_age_days)
    unverified = sum(bool(UNVERIFIED_MARK.search(text)) for s in doc.sections for text in (s.text_zh, s.text_en))
    return DocumentStatus(
        doc_id=meta.id,
        path=doc.path,
        official=meta.count_sources("official"),
        secondary=meta.count_sources("secondary"),
        unmarked=meta.count_sources(None),
        unverified=unverified,
        passages=2 * len(doc.sections),
        last_reviewed=meta.last_reviewed,
        due=due,
        due_in_days=(due - today).days,
        sections_with_asks=sum(bool(s.asks_zh or s.asks_en) for s in doc.sections),
        sections=len(doc.sections),
    )


def knowledge_status(documents: list[KnowledgeDocument], today: date, max_age_days: int = 365) -> list[DocumentStatus]:
    """Every document's status, riskiest first: no official source, most unverified passages, soonest due."""
    rows = [document_status(doc, today, max_age_days) for doc in documents]
    return sorted(rows, key=lambda r: (r.official > 0, -r.unverified, r.due_in_days, r.doc_id))


COLUMNS = ("document", "official", "secondary", "unmarked", "unverified", "last reviewed", "due in", "asks")


def _cells(row: DocumentStatus) -> tuple[str, ...]:
    due = f"{row.due_in_days} d" if row.due_in_days >= 0 else f"overdue {-row.due_in_days} d"
    return (
        row.doc_id,
        str(row.official),
        str(row.secondary),
        str(row.unmarked),
        f"{row.unverified}/{row.passages}",
        row.last_reviewed.isoformat(),
        due,
        f"{row.sections_with_asks}/{row.sections}",
    )


def terminal_table(rows: list[DocumentStatus]) -> str:
    """The report as a plain-text table, one document a line."""
    lines = [COLUMNS, *(_cells(r) for r in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(COLUMNS))]

    def aligned(line: tuple[str, ...]) -> str:
        name, *counts = line
        return "  ".join([name.ljust(widths[0]), *(c.rjust(w) for c, w in zip(counts, widths[1:], strict=True))])

    return "\n".join(aligned(line) for line in lines)


def markdown_report(rows: list[DocumentStatus], today: date, max_age_days: int, left_out: list[str]) -> str:
    """The report as a Markdown page: what the columns mean, the table, and the files it could not read."""
    out = [
        f"# Knowledge report, {today.isoformat()}",
        "",
        "Riskiest first: documents without an official source, then those with the most passages marked "
        f"unverified, then those whose review is due soonest ({max_age_days} days after `last_reviewed`). "
        "*Unmarked*: sources not yet said to be official or secondary. *Unverified*: passages (section × "
        "language) marked unverified, of all passages. *Asks*: sections that list the questions they answer, "
        "of all sections. Format and rules: `knowledge/README.md`.",
        "",
        "| document | file | official | secondary | unmarked | unverified | last reviewed | due in (days) | asks |",
        "|---|---|--:|--:|--:|--:|---|--:|--:|",
    ]
    for r in rows:
        official = f"**{r.official}**" if r.official == 0 else str(r.official)
        due = str(r.due_in_days) if r.due_in_days >= 0 else f"**{r.due_in_days}** (overdue)"
        out.append(
            f"| {r.doc_id} | `{r.path}` | {official} | {r.secondary} | {r.unmarked} | {r.unverified}/{r.passages} "
            f"| {r.last_reviewed.isoformat()} | {due} | {r.sections_with_asks}/{r.sections} |"
        )
    if left_out:
        out += ["", "Left out because they have errors (run `make check-knowledge`):", ""]
        out += [f"- `{path}`" for path in left_out]
    return "\n".join(out) + "\n"
