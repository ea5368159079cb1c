"""Answer quality: a labelled question set (eval/answers/{dev,test}/*.yml) sent to the live bot and scored.

Each item names the behaviour a right reply shows (answer, handoff, drafting, clarify, refuse,
improper, out_of_scope), optionally the earlier user turns of the same conversation (`context`),
the knowledge documents or sections a right answer cites, and the facts it must contain (phrases
from those sections, in the question's language; a list gives alternatives). The folder names the
part: `dev` (tuned on) or `test` (held out). The reply's behaviour is classified from what the bot
sent — the answer's payload (`kind`, `answered`, `citations`) and the bot's own reference texts
(domain responses, the "no reliable answer" text, the case offer with its buttons and the form's
first question), read from the bot's sources, never copied here. Every failing item gets one
failure cause (see `failure_cause`).
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator

from actions.knowledge import line_of, load_knowledge, yaml_key_lines
from actions.language import detect_language
from eval.toolkit.bot import Bot, Reply, turn
from eval.toolkit.spec import DOMAIN_PATH, KNOWLEDGE_DIR, ROOT, SpecError, Vocabulary, _as_text

ANSWERS_DIR = ROOT / "eval" / "answers"
ANSWER_ACTION = "action_answer_question"
SPLITS = ("dev", "test")  # dev: the team tunes on it; test: held out, never tuned on
Behaviour = Literal["answer", "handoff", "drafting", "clarify", "refuse", "improper", "out_of_scope"]
BEHAVIOURS: tuple[str, ...] = get_args(Behaviour)
# Behaviours whose right reply declines (the "refusals" measure).
REFUSALS = ("refuse", "improper", "out_of_scope")
# Behaviours whose items may name documents and facts.
CITING = ("answer", "handoff", "drafting")
# What a reply can show, in the order that names its main behaviour.
KINDS = (
    "refusal",
    "case_offer",
    "drafting",
    "cited_answer",
    "no_answer",
    "out_of_scope",
    "rephrase",
    "anything_else",
    "unavailable",
    "other",
)
# The answer payload's `kind` → the observed kind (an "answer" counts only with citations).
PAYLOAD_KINDS = {
    "answer": "cited_answer",
    "no_answer": "no_answer",
    "refusal": "refusal",
    "drafting": "drafting",
    "out_of_scope": "out_of_scope",
    "anything_else": "anything_else",
}
# Replies that show the message took another path than the knowledge base (even when the answer
# action sent them): for an item that needed an answer, they are a misroute.
MISROUTED = frozenset({"rephrase", "out_of_scope", "anything_else", "refusal"})
# One failure cause per failing item, in the order they are tried (see failure_cause).
CAUSES = (
    "misroute",
    "gate false negative",
    "refusal missing",
    "offer missing",
    "wrong language",
    "wrong section",
    "fact missing",
    "other",
)


@dataclass(frozen=True)
class Accepts:
    """The observed kinds that meet an expected behaviour: one of `any_of`, every one of `all_of`,
    none of `none_of`."""

    any_of: frozenset[str]
    all_of: frozenset[str] = frozenset()
    none_of: frozenset[str] = frozenset()

    def met_by(self, kinds: Iterable[str]) -> bool:
        """True when the reply's kinds meet the behaviour."""
        found = set(kinds)
        return bool(self.any_of & found) and self.all_of <= found and not self.none_of & found


# "No reliable answer" declines and asks to rephrase, so it counts as clarifying and as refusing;
# a case offer may come with a cited answer; a refusal or out-of-scope reply must not come with an
# answer or a case offer; drafting needs the cited playbook (or a drafting reply) and the offer.
ACCEPTS: dict[str, Accepts] = {
    "answer": Accepts(frozenset({"cited_answer"})),
    "handoff": Accepts(frozenset({"case_offer"})),
    "drafting": Accepts(frozenset({"drafting", "cited_answer"}), all_of=frozenset({"case_offer"})),
    "clarify": Accepts(frozenset({"rephrase", "no_answer"})),
    "refuse": Accepts(frozenset({"out_of_scope", "no_answer"}), none_of=frozenset({"cited_answer", "case_offer"})),
    "improper": Accepts(frozenset({"refusal"}), none_of=frozenset({"cited_answer", "case_offer", "drafting"})),
    "out_of_scope": Accepts(frozenset({"out_of_scope"}), none_of=frozenset({"cited_answer", "case_offer", "drafting"})),
}


def split_of(path: Path, answers_dir: Path = ANSWERS_DIR) -> str | None:
    """The part a file belongs to, from its folder: eval/answers/dev/… → dev, eval/answers/test/… →
    test (outside eval/answers: the name of the file's own folder); None for any other folder."""
    if path.is_relative_to(answers_dir):
        parts = path.relative_to(answers_dir).parts
        return parts[0] if len(parts) > 1 and parts[0] in SPLITS else None
    return path.parent.name if path.parent.name in SPLITS else None


class AnswerItem(BaseModel):
    """One labelled question."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    lang: Literal["zh", "en"]
    topic: Literal["pph", "rcep", "dispute", "other"]
    question: str = Field(min_length=1)
    behaviour: Behaviour
    context: list[str] = []  # earlier user turns of the same conversation, sent before the question
    doc: list[str] = []  # a right answer cites one of these (doc id, doc-id#section-id or path)
    facts: list[list[str]] = []  # each fact: one phrase, or alternatives
    note: str = ""

    _file: str = PrivateAttr(default="")
    _line: int = PrivateAttr(default=0)
    _split: str = PrivateAttr(default="dev")

    @field_validator("question", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        return _as_text(value)

    @field_validator("context", mode="before")
    @classmethod
    def _context(cls, value: Any) -> Any:
        value = [value] if isinstance(value, str) else value
        return [_as_text(v) for v in value] if isinstance(value, list) else value

    @field_validator("context")
    @classmethod
    def _no_empty_turns(cls, value: list[str]) -> list[str]:
        if any(not v.strip() for v in value):
            raise ValueError("an earlier turn cannot be empty")
        return value

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

    @property
    def split(self) -> str:
        """The part it belongs to: dev (tuned on) or test (held out), from its folder."""
        return self._split

    @property
    def expects_citation(self) -> bool:
        """A right reply cites a passage: answers, drafting, and handoffs with a labelled playbook."""
        return self.behaviour in ("answer", "drafting") or (self.behaviour == "handoff" and bool(self.doc))


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
    """Reads the labelled items and checks them: a file in dev/ or test/, known documents, and every
    fact found in the labelled documents' text in the item's language (so no fact is invented)."""
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
        split = split_of(path)
        if split is None:
            errors.append(
                SpecError(
                    rel,
                    1,
                    "",
                    "an answer file belongs in eval/answers/dev/ (tuned on) or eval/answers/test/ (held out)",
                )
            )
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
            item._file, item._line, item._split = rel, start, split or "dev"
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
    for key in ("doc", "facts"):
        if getattr(item, key) and item.behaviour not in CITING:
            errors.append(
                SpecError(
                    item._file,
                    line(key),
                    f"{item.id}: {key}",
                    f"a {item.behaviour} item has no {key}: only answer, handoff and drafting items cite",
                )
            )
    if item.behaviour in ("answer", "drafting") and item.topic == "other":
        errors.append(
            SpecError(
                item._file,
                line("topic"),
                f"{item.id}: topic",
                f"{item.behaviour} needs its topic: pph, rcep or dispute",
            )
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
    """The bot's own texts that mark a behaviour, per language, and the case offer's button titles."""

    rephrase: tuple[str, ...]
    out_of_scope: tuple[str, ...]
    unavailable: tuple[str, ...]
    no_answer: tuple[str, ...]
    case_offer: tuple[str, ...]
    sources_heading: tuple[str, ...]
    anything_else: tuple[str, ...] = ()
    offer_buttons: tuple[str, ...] = ()


def _offer_buttons() -> tuple[str, ...]:
    """The titles of the case offer's "open a case" button, from actions/case_actions.offer_case."""
    from rasa_sdk import Tracker
    from rasa_sdk.executor import CollectingDispatcher

    from actions.dialogue.common import offer_case

    titles = []
    for lang in ("zh", "en"):
        dispatcher = CollectingDispatcher()
        tracker = Tracker(
            sender_id="eval-signals",
            slots={"language": lang},
            latest_message={"text": "", "intent": {}, "entities": []},
            events=[],
            paused=False,
            followup_action=None,
            active_loop={},
            latest_action_name="action_listen",
        )
        offer_case(dispatcher, tracker, lang)
        titles += [
            b["title"] for m in dispatcher.messages for b in m.get("buttons") or [] if b.get("payload") == "/affirm"
        ]
    return tuple(titles)


def load_signals(domain: Path = DOMAIN_PATH) -> Signals:
    """Reads the reference texts from bot/domain.yml and the bot's message catalog (actions/messages/)."""
    from actions.messages import every_language

    responses = (yaml.safe_load(domain.read_text(encoding="utf-8")) or {}).get("responses") or {}

    def texts(name: str) -> tuple[str, ...]:
        return tuple(v["text"].strip() for v in responses.get(name, []) if v.get("text"))

    return Signals(
        rephrase=texts("utter_please_rephrase"),
        out_of_scope=texts("utter_out_of_scope"),
        unavailable=texts("utter_service_unavailable"),
        no_answer=every_language("answers.no_answer"),
        case_offer=(*every_language("cases.offer"), *every_language("cases.ask.case_enterprise")),
        sources_heading=every_language("answers.sources_heading"),
        anything_else=texts("utter_anything_else"),
        offer_buttons=_offer_buttons(),
    )


def answer_payloads(reply: Reply) -> list[dict[str, Any]]:
    """The answer action's payloads in the reply (they carry `answered`, or `kind`)."""
    return [c for c in reply.customs if "answered" in c or "kind" in c]


def observed_kinds(reply: Reply, signals: Signals) -> list[str]:
    """What the reply shows, main behaviour first (see KINDS): the payload's `kind` where it has one
    (older payloads: `answered` and `citations`), the bot's reference texts, the case offer's button."""
    found = set()
    for c in answer_payloads(reply):
        kind = c.get("kind")
        if kind is None:
            kind = ("answer" if c.get("citations") else "other") if c.get("answered") else "no_answer"
        if kind == "answer" and not c.get("citations"):
            kind = "other"  # "answered" with nothing to cite is no cited answer
        found.add(PAYLOAD_KINDS.get(kind, "other"))
    for text in reply.texts:
        for kind in ("rephrase", "out_of_scope", "unavailable", "no_answer", "case_offer", "anything_else"):
            if any(ref and ref in text for ref in getattr(signals, kind)):
                found.add(kind)
    if any(b.get("title") in signals.offer_buttons for b in reply.buttons):
        found.add("case_offer")
    if len(found) > 1:
        found.discard("other")
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


def answer_action_ran(reply: Reply) -> bool:
    """Whether the answer action ran for the question: the tracker's actions when Rasa's HTTP API is
    on, otherwise whether the reply carries an answer payload."""
    if reply.tracker is not None:
        return ANSWER_ACTION in reply.actions
    return bool(answer_payloads(reply))


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
    answer_ran: bool = True  # the answer action ran for the question
    context_replies: list[Reply] = field(default_factory=list)  # replies to the earlier turns

    @property
    def coverage(self) -> float | None:
        """Share of the labelled facts found in the answer; None when none are labelled."""
        return sum(self.facts_found) / len(self.facts_found) if self.facts_found else None

    @property
    def primary(self) -> str:
        """The reply's main behaviour."""
        return self.kinds[0]

    @property
    def ok(self) -> bool:
        """Right behaviour, language, document (when labelled) and every fact."""
        return self.behaviour_ok and self.language_ok and self.right_doc is not False and self.coverage in (None, 1.0)

    @property
    def cause(self) -> str | None:
        """Why the item failed (one of CAUSES), None when it passed."""
        return None if self.ok else failure_cause(self)

    @property
    def missing_facts(self) -> list[str]:
        """The labelled facts (first alternative) the answer lacks."""
        return [f[0] for f, ok in zip(self.item.facts, self.facts_found, strict=True) if not ok]


def _no_citation_cause(s: AnswerScore) -> str | None:
    """Why a reply that needed a citation has none: the answer action did not run, or it had no answer."""
    if not s.answer_ran:
        return "misroute"
    if "no_answer" in s.kinds:
        return "gate false negative"
    return None


def failure_cause(s: AnswerScore) -> str:
    """The one failure cause of a failing item, from the observed reply (rules in eval/README.md):

    1. the behaviour was not met —
       answer / handoff / drafting: "no reliable answer" → gate false negative; the answer action
       did not run (a form or chit-chat instead), or the reply was a rephrase request, the
       out-of-scope reply, "anything else?" or a refusal (MISROUTED) → misroute; a cited answer
       without the case offer (handoff, drafting) → offer missing; otherwise other;
       refuse / improper / out_of_scope → refusal missing; clarify → other;
    2. a message in the other language → wrong language;
    3. no labelled document cited → wrong section (misroute or gate false negative when nothing
       is cited because the answer action did not run or had no answer);
    4. a labelled fact not in the extract → fact missing.
    """
    item, kinds = s.item, set(s.kinds)
    if not s.behaviour_ok:
        if item.behaviour in REFUSALS:
            return "refusal missing"
        if item.behaviour == "clarify":
            return "other"
        if "no_answer" in kinds:
            return "gate false negative"
        if not s.answer_ran or kinds & MISROUTED:
            return "misroute"
        if item.behaviour != "answer" and "case_offer" not in kinds and kinds & {"cited_answer", "drafting"}:
            return "offer missing"
        return "other"
    if not s.language_ok:
        return "wrong language"
    if s.right_doc is False:
        return (None if s.cited else _no_citation_cause(s)) or "wrong section"
    if s.coverage is not None and s.coverage < 1:
        return "fact missing"
    return "other"


def score(item: AnswerItem, reply: Reply, signals: Signals, context_replies: list[Reply] | None = None) -> AnswerScore:
    """Scores one reply: behaviour, citation, right document, language, fact coverage."""
    kinds = observed_kinds(reply, signals)
    text = normalise(answer_text(reply, signals))
    langs = [detect_language(t) for t in reply.texts]
    return AnswerScore(
        item=item,
        reply=reply,
        kinds=kinds,
        behaviour_ok=ACCEPTS[item.behaviour].met_by(kinds),
        cited=bool(reply.citations),
        right_doc=any(_cites(reply.citations, d) for d in item.doc) if item.doc else None,
        language_ok=bool(reply.texts) and all(lang in (None, item.lang) for lang in langs),
        facts_found=[any(normalise(alt) in text for alt in fact) for fact in item.facts],
        answer_ran=answer_action_ran(reply),
        context_replies=list(context_replies or []),
    )


def ask_all(items: list[AnswerItem], bot: Bot, signals: Signals, progress: Any = None) -> list[AnswerScore]:
    """Sends each item as a new conversation — its earlier turns (`context`), then the question —
    and scores the reply to the question."""
    import uuid

    scores = []
    for item in items:
        sender = f"eval-answer-{item.id}-{uuid.uuid4().hex[:6]}"
        earlier = [turn(bot, sender, text, with_cases=False) for text in item.context]
        reply = turn(bot, sender, item.question, with_cases=False)
        scores.append(score(item, reply, signals, earlier))
        if progress is not None:
            progress.update(1)
    return scores


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def summarise(scores: list[AnswerScore], key: Any) -> dict[str, dict[str, Any]]:
    """Rates per group (key(score) → group name): behaviour, citation (where a citation is expected),
    right document (where labelled), language, mean fact coverage, all-facts rate, and refusals
    (right behaviour where a refusal is expected: refuse, improper, out_of_scope)."""
    groups: dict[str, list[AnswerScore]] = defaultdict(list)
    for s in scores:
        groups[key(s)].append(s)
        groups["all"].append(s)
    out = {}
    for name, group in groups.items():
        expects_citation = [s for s in group if s.item.expects_citation]
        labelled = [s for s in group if s.right_doc is not None and s.item.behaviour in CITING]
        with_facts = [s for s in group if s.coverage is not None]
        refusals = [s for s in group if s.item.behaviour in REFUSALS]
        out[name] = {
            "n": len(group),
            "behaviour": _mean([float(s.behaviour_ok) for s in group]),
            "cited": _mean([float(s.cited) for s in expects_citation]),
            "right_doc": _mean([float(bool(s.right_doc)) for s in labelled]),
            "language": _mean([float(s.language_ok) for s in group]),
            "coverage": _mean([s.coverage for s in with_facts if s.coverage is not None]),
            "all_facts": _mean([float(s.coverage == 1.0) for s in with_facts]),
            "refusals": _mean([float(s.behaviour_ok) for s in refusals]),
            "failed": sum(not s.ok for s in group),
        }
    return out


def cause_counts(scores: list[AnswerScore], key: Any) -> dict[str, dict[str, int]]:
    """Failure causes per group (key(score) → group name): cause → number of failing items."""
    table: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(CAUSES, 0))
    for s in scores:
        table[key(s)]  # every group gets a row, failing or not
        table["all"]
        if (cause := s.cause) is not None:
            table[key(s)][cause] += 1
            table["all"][cause] += 1
    return dict(table)
