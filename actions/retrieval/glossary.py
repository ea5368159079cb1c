"""The bilingual glossary staff keep in knowledge/glossary.yml: groups of words users use for one
concept (警告函 = 律师函 = cease-and-desist letter …). A question is expanded with the other words
of every group it names, so the lexical search finds a section however the user phrased it.

Matching is plain substring search (English on word boundaries) through one precompiled
alternation per language: linear in the question's length, and no staff-written regex.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from actions.knowledge import Problem, read_yaml_file, relative_name, validation_problems

GLOSSARY_FILE = "glossary.yml"
MAX_TERM_CHARS = 40
MAX_QUERY_CHARS = 2000  # a longer message is only examined up to here


def normalise(text: str) -> str:
    """NFKC, case-folded, one kind of dash and space: how questions and terms are compared."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = re.sub(r"[‐‑‒–—−]", "-", text)
    return re.sub(r"\s+", " ", text)


class TermGroup(BaseModel):
    """One concept and the words for it in each language."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    playbook: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9-]*$")  # document id of an incident's playbook
    zh: list[str] = Field(min_length=1)
    en: list[str] = Field(min_length=1)

    @field_validator("zh", "en")
    @classmethod
    def _terms(cls, value: list[str]) -> list[str]:
        for term in value:
            if not isinstance(term, str) or not term.strip():
                raise ValueError("a term must be non-empty text")
            if len(term) > MAX_TERM_CHARS:
                raise ValueError(f"a term is at most {MAX_TERM_CHARS} characters: {term[:20]!r}…")
        return [t.strip() for t in value]


@dataclass(frozen=True)
class Glossary:
    """Expands questions with synonyms; empty when there is no glossary file."""

    groups: tuple[TermGroup, ...] = ()

    def __post_init__(self) -> None:
        owner: dict[str, str] = {}
        for group in self.groups:
            for term in (*group.zh, *group.en):
                owner.setdefault(normalise(term), group.id)
        object.__setattr__(self, "_owner", owner)
        alternatives = sorted(owner, key=len, reverse=True)
        pattern = "|".join(
            rf"(?<![a-z0-9]){re.escape(t)}(?![a-z0-9])" if t.isascii() else re.escape(t) for t in alternatives
        )
        object.__setattr__(self, "_pattern", re.compile(pattern) if pattern else None)
        object.__setattr__(self, "_by_id", {g.id: g for g in self.groups})

    def concepts(self, question: str) -> list[str]:
        """Ids of the groups the question names, in the order named."""
        if self._pattern is None:  # type: ignore[attr-defined]
            return []
        found: list[str] = []
        for m in self._pattern.finditer(normalise(question[:MAX_QUERY_CHARS])):  # type: ignore[attr-defined]
            gid = self._owner[m.group(0)]  # type: ignore[attr-defined]
            if gid not in found:
                found.append(gid)
        return found

    def playbooks(self, question: str) -> list[str]:
        """Document ids of the playbooks for the incidents a question names ("C&D" → the warning-letter playbook)."""
        books = [self._by_id[gid].playbook for gid in self.concepts(question)]  # type: ignore[attr-defined]
        return list(dict.fromkeys(b for b in books if b))

    def playbook_documents(self) -> frozenset[str]:
        """Document ids of every incident playbook."""
        return frozenset(g.playbook for g in self.groups if g.playbook)

    def expansion(self, question: str, lang: str) -> list[str]:
        """The other words, in the question's language, of every concept the question names."""
        text = normalise(question[:MAX_QUERY_CHARS])
        extra: list[str] = []
        for gid in self.concepts(question):
            group = self._by_id[gid]  # type: ignore[attr-defined]
            for term in group.zh if lang == "zh" else group.en:
                if normalise(term) not in text and term not in extra:
                    extra.append(term)
        return extra


def load_glossary(knowledge_dir: Path, root: Path | None = None) -> tuple[Glossary, list[Problem]]:
    """Reads knowledge/glossary.yml; an invalid file gives its problems and an empty glossary."""
    path = knowledge_dir / GLOSSARY_FILE
    if not path.is_file():
        return Glossary(), []
    rel = relative_name(path, root or knowledge_dir.parent)
    data, lines, problems = read_yaml_file(path, rel)
    if problems:
        return Glossary(), problems
    if not isinstance(data, list):
        return Glossary(), [Problem(rel, 1, "glossary", "must be a list of term groups (`- id: …`)")]
    groups: list[TermGroup] = []
    seen_terms: dict[str, str] = {}
    seen_ids: set[str] = set()
    for i, raw in enumerate(data):
        try:
            group = TermGroup.model_validate(raw)
        except ValidationError as exc:
            problems += validation_problems(exc, rel, lines, "glossary", item=i)
            continue
        line = lines.get(str(i), 1)
        if group.id in seen_ids:
            problems.append(Problem(rel, line, f"[{i}].id", f"duplicate id {group.id!r}"))
        seen_ids.add(group.id)
        for term in (*group.zh, *group.en):
            key = normalise(term)
            if key in seen_terms and seen_terms[key] != group.id:
                problems.append(Problem(rel, line, f"[{i}]", f"term {term!r} is also in group {seen_terms[key]!r}"))
            seen_terms.setdefault(key, group.id)
        groups.append(group)
    if any(p.severity == "error" for p in problems):
        return Glossary(), problems
    return Glossary(tuple(groups)), problems


def missing_playbooks(
    glossary: Glossary, document_ids: set[str], knowledge_dir: Path, root: Path | None = None
) -> list[Problem]:
    """A playbook that names no knowledge document, as a file:line problem."""
    path = knowledge_dir / GLOSSARY_FILE
    rel = relative_name(path, root or knowledge_dir.parent)
    lines = {}
    if path.is_file():
        from actions.knowledge import yaml_key_lines

        lines = yaml_key_lines(path.read_text(encoding="utf-8"))
    return [
        Problem(
            rel, lines.get(f"{i}.playbook", 1), f"[{i}].playbook", f"no knowledge document has the id {g.playbook!r}"
        )
        for i, g in enumerate(glossary.groups)
        if g.playbook and g.playbook not in document_ids
    ]
