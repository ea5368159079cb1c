"""Answer quality: a labelled question set (eval/answers/*.yml) sent to the live bot and scored.

Each item names the behaviour a right reply shows (answer, handoff, clarify, refuse), optionally
the knowledge documents or sections a right answer cites, and the facts it must contain (phrases
from those sections, in the question's language; a list gives alternatives). The reply's behaviour
is classified from what the bot sent — the answer's citation payload and the bot's own reference
texts (domain responses, the "no reliable answer" text, the case offer and the form's first
question), read from the bot's sources, never copied here.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator

from actions.knowledge import line_of, load_knowledge, yaml_key_lines
from bot.language import detect_language
from eval.toolkit.bot import Bot, Reply, turn
from eval.toolkit.spec import DOMAIN_PATH, KNOWLEDGE_DIR, ROOT, SpecError, Vocabulary, _as_text

ANSWERS_DIR = ROOT / "eval" / "answers"
Behaviour = Literal["answer", "handoff", "clarify", "refuse"]
# What a reply can show, in the order that names its main behaviour.
KINDS = ("case_offer", "cited_answer", "no_answer", "rephrase", "out_of_scope", "unavailable", "other")
# Which observed kinds satisfy each expected behaviour. "No reliable answer" declines and asks to
# rephrase, so it counts as clarifying and as refusing; a case offer may come with a cited answer.
ACCEPTS: dict[str, frozenset[str]] = {
    "answer": frozenset({"cited_answer"}),
    "handoff": frozenset({"case_offer"}),
    "clarify": frozenset({"rephrase", "no_answer"}),
    "refuse": frozenset({"out_of_scope", "no_answer"}),
}


class AnswerItem(BaseModel):
    """One labelled question."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    lang: Literal["zh", "en"]
    topic: Literal["pph", "rcep", "dispute", "other"]
    question: str = Field(min_length=1)
    behaviour: Behaviour
    doc: list[str] = []  # a right answer cites one of these (doc id, doc-id#section-id or path)
    facts: list[list[str]] = []  # each fact: one phrase, or alternatives
    note: str = ""

    _file: str = PrivateAttr(default="")
    _line: int = PrivateAttr(default=0)

    @field_validator("question", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        return _as_text(value)

    @field_validator("doc", mode="before")
    @classmethod
    def _docs(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("facts", mode="before")
    @classmethod
    def _facts(cls, value: Any) -> Any:
        if not isinstance(value, list):
            return value
        return [[_as_text(v) for v in f] if isinstance(f, list) else [_as_text(f)] for f in value]

    @property
    def where(self) -> str:
        """`file:line` of the item."""
        return f"{self._file}:{self._line}"


def normalise(text: str) -> str:
    """Text compared for facts: NFKC (full-width → half-width), case-folded, one kind of dash and space."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = re.sub(r"[‐‑‒–—−]", "-", text)
    return re.sub(r"\s+", " ", text)


def _passages(knowledge_dir: Path) -> dict[tuple[str, str], str]:
    """(citation key, language) → text, for every document and section."""
    docs, _ = load_knowledge(knowledge_dir, root=knowledge_dir.parent)
    texts: dict[tuple[str, str], str] = {}
    for doc in docs:
        for lang in ("zh", "en"):
            parts = []
            for s in doc.sections:
                text = s.text_zh if lang == "zh" else s.text_en
                texts[(f"{doc.meta.id}#{s.id}", lang)] = text
                parts.append(text)
            texts[(doc.meta.id, lang)] = texts[(doc.path, lang)] = "\n".join(parts)
    return texts


def load_answer_set(
    paths: Iterable[Path] | None = None,
    vocab: Vocabulary | None = None,
    knowledge_dir: Path = KNOWLEDGE_DIR,
    root: Path = ROOT,
) -> tuple[list[AnswerItem], list[SpecError]]:
    """Reads the labelled items and checks them: known documents, and every fact found in the
    labelled documents' text in the item's language (so no fact is invented)."""
    from eval.toolkit.spec import load_vocabulary

    vocab = vocab or load_vocabulary(DOMAIN_PATH, knowledge_dir)
    texts = _passages(knowledge_dir)
    files = sorted(ANSWERS_DIR.glob("**/*.yml")) if paths is None else list(paths)
    items: list[AnswerItem] = []
    errors: list[SpecError] = []
    seen: dict[str, str] = {}
    for path in files:
        path = Path(path).resolve()
        rel = str(path.relative_to(root)) if path.is_relative_to(root) else str(path)
        text = path.read_text(encoding="utf-8")
        try:
            data = yaml.safe_load(text) or []
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark
            errors.append(SpecError(rel, mark.line + 1 if mark else 1, "", f"YAML syntax: {exc.problem}"))
            continue
        lines = yaml_key_lines(text)
        for i, raw in enumerate(data if isinstance(data, list) else []):
            start = line_of(lines, str(i), 1)
            try:
                item = AnswerItem.model_validate(raw)
            except ValidationError as exc:
                for e in exc.errors():
                    dotted = ".".join(str(p) for p in e["loc"])
                    where = f"{raw.get('id', i + 1) if isinstance(raw, dict) else i + 1}: {dotted}"
                    errors.append(SpecError(rel, line_of(lines, f"{i}.{dotted}", start), where, e["msg"]))
                continue
            item._file, item._line = rel, start
            errors.extend(
                _check_item(item, vocab, texts, lambda key, i=i, s=start, ls=lines: line_of(ls, f"{i}.{key}", s))
            )
            if item.id in seen:
                errors.append(SpecError(rel, start, item.id, f"duplicate id, also at {seen[item.id]}"))
                continue
            seen[item.id] = item.where
            items.append(item)
        if not isinstance(data, list):
            errors.append(SpecError(rel, 1, "", "an answer file is a YAML list of items (`- id: …`)"))
    return items, sorted(errors, key=lambda e: (e.file, e.line))


def _check_item(item: AnswerItem, vocab: Vocabulary, texts: dict[tuple[str, str], str], line: Any) -> list[SpecError]:
    errors = []
    for doc in item.doc:
        if not vocab.knows_citation(doc) or doc.endswith("/"):
            errors.append(
                SpecError(item._file, line("doc"), f"{item.id}: doc", f"{doc!r} is no knowledge document or section")
            )
    if item.facts and item.behaviour not in ("answer", "handoff"):
        errors.append(
            SpecError(
                item._file,
                line("facts"),
                f"{item.id}: facts",
                f"facts need behaviour answer or handoff, not {item.behaviour}",
            )
        )
    if item.behaviour == "answer" and item.topic == "other":
        errors.append(
            SpecError(item._file, line("topic"), f"{item.id}: topic", "an answer needs its topic: pph, rcep or dispute")
        )
    sources = [normalise(texts[(d, item.lang)]) for d in item.doc if (d, item.lang) in texts]
    for n, fact in enumerate(item.facts):
        if sources and not any(normalise(alt) in src for alt in fact for src in sources):
            errors.append(
                SpecError(
                    item._file,
                    line(f"facts.{n}"),
                    f"{item.id}: facts",
                    f"{fact} is not in the {item.lang} text of {item.doc}: write facts from the knowledge files",
                )
            )
    return errors


@dataclass(frozen=True)
class Signals:
    """The bot's own texts that mark a behaviour, per language."""

    rephrase: tuple[str, ...]
    out_of_scope: tuple[str, ...]
    unavailable: tuple[str, ...]
    no_answer: tuple[str, ...]
    case_offer: tuple[str, ...]
    sources_heading: tuple[str, ...]


def load_signals(domain: Path = DOMAIN_PATH) -> Signals:
    """Reads the reference texts from bot/domain.yml and the action modules."""
    from actions.answers import NO_ANSWER, SOURCES_HEADING
    from actions.case_actions import ASKS, T

    responses = (yaml.safe_load(domain.read_text(encoding="utf-8")) or {}).get("responses") or {}

    def texts(name: str) -> tuple[str, ...]:
        return tuple(v["text"].strip() for v in responses.get(name, []) if v.get("text"))

    first_question = next(iter(ASKS.values()))
    return Signals(
        rephrase=texts("utter_please_rephrase"),
        out_of_scope=texts("utter_out_of_scope"),
        unavailable=texts("utter_service_unavailable"),
        no_answer=tuple(NO_ANSWER.values()),
        case_offer=(*T["offer"].values(), first_question[0], first_question[1]),
        sources_heading=tuple(SOURCES_HEADING.values()),
    )


def observed_kinds(reply: Reply, signals: Signals) -> list[str]:
    """What the reply shows, main behaviour first (see KINDS)."""
    found = set()
    answers = [c for c in reply.customs if "answered" in c]
    if any(c.get("answered") and c.get("citations") for c in answers):
        found.add("cited_answer")
    if any(not c.get("answered") for c in answers):
        found.add("no_answer")
    for text in reply.texts:
        for kind in ("rephrase", "out_of_scope", "unavailable", "no_answer", "case_offer"):
            if any(ref and ref in text for ref in getattr(signals, kind)):
                found.add(kind)
    return [k for k in KINDS if k in found] or ["other"]


def answer_text(reply: Reply, signals: Signals) -> str:
    """The extract of the answer: text messages with the sources list and what follows cut off."""
    parts = []
    for text in reply.texts:
        cut = min((text.find(h) for h in signals.sources_heading if h in text), default=-1)
        if cut >= 0:
            parts.append(text[:cut])
            break
        parts.append(text)
    return "\n".join(parts)


def _cites(citations: list[dict[str, Any]], wanted: str) -> bool:
    return any(
        wanted in (c.get("doc_id"), f"{c.get('doc_id')}#{c.get('section_id')}", c.get("path")) for c in citations
    )


@dataclass
class AnswerScore:
    """How one reply did on one labelled question."""

    item: AnswerItem
    reply: Reply
    kinds: list[str]
    behaviour_ok: bool
    cited: bool
    right_doc: bool | None  # None: no document labelled
    language_ok: bool
    facts_found: list[bool]

    @property
    def coverage(self) -> float | None:
        """Share of the labelled facts found in the answer; None when none are labelled."""
        return sum(self.facts_found) / len(self.facts_found) if self.facts_found else None

    @property
    def primary(self) -> str:
        """The reply's main behaviour."""
        return self.kinds[0]


def score(item: AnswerItem, reply: Reply, signals: Signals) -> AnswerScore:
    """Scores one reply: behaviour, citation, right document, language, fact coverage."""
    kinds = observed_kinds(reply, signals)
    text = normalise(answer_text(reply, signals))
    langs = [detect_language(t) for t in reply.texts]
    return AnswerScore(
        item=item,
        reply=reply,
        kinds=kinds,
        behaviour_ok=bool(ACCEPTS[item.behaviour] & set(kinds)),
        cited=bool(reply.citations),
        right_doc=any(_cites(reply.citations, d) for d in item.doc) if item.doc else None,
        language_ok=bool(reply.texts) and all(lang in (None, item.lang) for lang in langs),
        facts_found=[any(normalise(alt) in text for alt in fact) for fact in item.facts],
    )


def ask_all(items: list[AnswerItem], bot: Bot, signals: Signals, progress: Any = None) -> list[AnswerScore]:
    """Sends each question as a new conversation and scores the reply."""
    import uuid

    scores = []
    for item in items:
        reply = turn(bot, f"eval-answer-{item.id}-{uuid.uuid4().hex[:6]}", item.question, with_cases=False)
        scores.append(score(item, reply, signals))
        if progress is not None:
            progress.update(1)
    return scores


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def summarise(scores: list[AnswerScore], key: Any) -> dict[str, dict[str, Any]]:
    """Rates per group (key(score) → group name): behaviour, citation (where an answer is expected),
    right document (where labelled), language, mean fact coverage and all-facts rate."""
    groups: dict[str, list[AnswerScore]] = defaultdict(list)
    for s in scores:
        groups[key(s)].append(s)
        groups["all"].append(s)
    out = {}
    for name, group in groups.items():
        expects_answer = [s for s in group if s.item.behaviour == "answer"]
        labelled = [s for s in group if s.right_doc is not None and s.item.behaviour in ("answer", "handoff")]
        with_facts = [s for s in group if s.coverage is not None]
        out[name] = {
            "n": len(group),
            "behaviour": _mean([float(s.behaviour_ok) for s in group]),
            "cited": _mean([float(s.cited) for s in expects_answer]),
            "right_doc": _mean([float(bool(s.right_doc)) for s in labelled]),
            "language": _mean([float(s.language_ok) for s in group]),
            "coverage": _mean([s.coverage for s in with_facts if s.coverage is not None]),
            "all_facts": _mean([float(s.coverage == 1.0) for s in with_facts]),
        }
    return out
