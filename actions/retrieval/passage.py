"""What retrieval hands the actions, and what its build and its search agree on: a `Passage` (a
knowledge section found for a question, in both languages, with its citation and scores), the
errors of the index, and the format of the index on disk (its version, its metric, the pointer file).

Actions see only `KnowledgeIndex.search(query, k) -> list[Passage]` (actions/retrieval/search.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from actions.knowledge import Problem

INDEX_FORMAT = 2  # 2: chunks of kind `ask` (the questions a section answers)
METRIC = "inner_product"
POINTER = "CURRENT"


@dataclass(frozen=True)
class Passage:
    """A knowledge section found for a question, with both language versions and its citation."""

    doc_id: str
    section_id: str
    title_zh: str
    title_en: str
    section_zh: str
    section_en: str
    text_zh: str
    text_en: str
    sources: tuple[str, ...]
    last_reviewed: str
    path: str
    line: int
    score: float  # fused reciprocal-rank score
    dense: float  # best cosine similarity of the question to a chunk of this section
    lexical: float  # IDF-weighted share of the question's terms found in this section
    answerable: bool  # passed the relevance gate
    ask: float = 0.0  # best cosine similarity of the question to a question this section answers (`asks`)
    pph: tuple[str, str] | None = None  # the PPH direction the section is about (oee, ole)

    @property
    def key(self) -> str:
        """`document-id#section-id`, as used by the evaluation set."""
        return f"{self.doc_id}#{self.section_id}"

    def title(self, lang: str) -> str:
        """Document title in the given language."""
        return self.title_zh if lang == "zh" else self.title_en

    def section(self, lang: str) -> str:
        """Section title in the given language."""
        return self.section_zh if lang == "zh" else self.section_en

    def text(self, lang: str) -> str:
        """Section text in the given language."""
        return self.text_zh if lang == "zh" else self.text_en


class KnowledgeInvalidError(ValueError):
    """The knowledge files have errors; the index was not rebuilt."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("knowledge has errors:\n" + "\n".join(str(p) for p in problems))


class IndexMismatchError(RuntimeError):
    """The index on disk was built with other embedding settings than the current ones."""


class IndexMissingError(FileNotFoundError):
    """No index has been built yet."""
